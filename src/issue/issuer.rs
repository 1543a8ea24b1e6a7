//! [`TokenIssuer`]: mints, refreshes and revokes access/refresh token pairs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Header;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{IssueError, SigningKey, TokenPair};
use crate::builder::JwtAuthBuilder;
use crate::claims::Claims;
use crate::clock::now;
use crate::error::{AuthError, ConfigError, reason};
use crate::key::StaticKey;
use crate::revocation::{self, MemoryRevocationStore, RevocationStore, Rotation};
use crate::validator::Validator;

/// Claims the issuer sets itself; a caller's claims may not use these names.
const RESERVED: [&str; 9] = [
    "iss",
    "aud",
    "sub",
    "iat",
    "exp",
    "nbf",
    "jti",
    "sid",
    "token_type",
];

/// Mints access/refresh pairs and refreshes, rotates and revokes them.
///
/// Every token gets `iat`, `exp`, a random 128-bit `jti`, `sub`, `sid` (the login session
/// it descends from) and `token_type` (`access` or `refresh`), plus `iss`/`aud` when
/// configured; access and refresh tokens carry the caller's claims. A layer built with
/// [`layer_builder`](Self::layer_builder) refuses refresh tokens and revoked tokens.
///
/// Refresh with rotation (the default) returns a new refresh token that replaces the
/// presented one as its session's current token (one store entry per session, advanced by
/// compare-and-set). Presenting a refresh token that was already rotated revokes its whole
/// session: every token of that login stops working (reuse detection).
#[derive(Clone)]
pub struct TokenIssuer {
    inner: Arc<Inner>,
}

struct Inner {
    key: SigningKey,
    header: Header,
    issuer: Option<String>,
    audience: Option<String>,
    access_lifetime: Duration,
    refresh_lifetime: Duration,
    rotate: bool,
    store: Arc<dyn RevocationStore>,
    /// The largest leeway of the layers that accept these tokens.
    validator_leeway: Duration,
    /// Checks signature, `exp` (with the layers' leeway), `iss`, `aud` of any token type,
    /// for verify and revoke: what a layer still accepts can be revoked.
    validator: Validator<Map<String, Value>, StaticKey>,
    /// The same with no leeway on `exp`, for refresh tokens.
    refresh_validator: Validator<Map<String, Value>, StaticKey>,
}

/// Options of a [`TokenIssuer`], each with its default.
pub struct TokenIssuerBuilder {
    key: SigningKey,
    issuer: Option<String>,
    audience: Option<String>,
    access_lifetime: Duration,
    refresh_lifetime: Duration,
    rotate: bool,
    store: Arc<dyn RevocationStore>,
    validator_leeway: Duration,
}

impl TokenIssuerBuilder {
    /// The `iss` of every token. Defaults to none.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The `aud` of every token. Defaults to none.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// How long access tokens live. Defaults to 5 minutes.
    pub fn access_lifetime(mut self, lifetime: Duration) -> Self {
        self.access_lifetime = lifetime;
        self
    }

    /// How long refresh tokens live. Defaults to 24 hours.
    pub fn refresh_lifetime(mut self, lifetime: Duration) -> Self {
        self.refresh_lifetime = lifetime;
        self
    }

    /// Whether a refresh returns a new refresh token and revokes the old one. Defaults to on.
    pub fn rotate_refresh_tokens(mut self, rotate: bool) -> Self {
        self.rotate = rotate;
        self
    }

    /// The largest leeway of any layer that accepts these tokens, which
    /// [`layer_builder`](TokenIssuer::layer_builder) sets on its layers. Revocations are
    /// kept until `exp` plus this leeway, the last moment a layer could still accept the
    /// token; a layer given a larger leeway would accept a revoked token after its
    /// revocation lapsed. Refresh tokens get no leeway: the issuer refuses them at `exp`.
    /// Defaults to 60 seconds, the layers' default.
    pub fn validator_leeway(mut self, leeway: Duration) -> Self {
        self.validator_leeway = leeway;
        self
    }

    /// Where revocations go; share it with the validating layers. Defaults to a
    /// [`MemoryRevocationStore`] of 100 000 entries.
    pub fn revocation_store(mut self, store: impl RevocationStore) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// Builds the issuer.
    pub fn build(self) -> Result<TokenIssuer, ConfigError> {
        crate::install_crypto_provider();
        let algorithm = self.key.algorithm();
        let mut header = Header::new(algorithm);
        header.kid = self.key.kid().map(str::to_owned);
        let validator = |leeway: Duration| {
            let mut validator = Validator::<Map<String, Value>>::builder(StaticKey::new(
                self.key.verification_key().clone(),
            ))
            .algorithms([algorithm])
            .required_claims(["exp", "jti", "sub", "sid"])
            .any_token_type()
            .leeway(leeway);
            if let Some(iss) = &self.issuer {
                validator = validator.issuer(iss);
            }
            if let Some(aud) = &self.audience {
                validator = validator.audience(aud);
            }
            validator.build_validator()
        };
        let inner = Inner {
            validator: validator(self.validator_leeway)?,
            refresh_validator: validator(Duration::ZERO)?,
            validator_leeway: self.validator_leeway,
            key: self.key,
            header,
            issuer: self.issuer,
            audience: self.audience,
            access_lifetime: self.access_lifetime,
            refresh_lifetime: self.refresh_lifetime,
            rotate: self.rotate,
            store: self.store,
        };
        Ok(TokenIssuer {
            inner: Arc::new(inner),
        })
    }
}

impl TokenIssuer {
    /// Options for an issuer signing with `key`.
    pub fn builder(key: SigningKey) -> TokenIssuerBuilder {
        TokenIssuerBuilder {
            key,
            issuer: None,
            audience: None,
            access_lifetime: Duration::from_secs(300),
            refresh_lifetime: Duration::from_secs(24 * 3600),
            rotate: true,
            store: Arc::new(MemoryRevocationStore::default()),
            validator_leeway: Duration::from_secs(60),
        }
    }

    /// A new login: an access/refresh pair for `subject`, with `claims` (any `Serialize`
    /// that is a JSON object, or `()` for none) in both tokens.
    pub fn issue(&self, subject: &str, claims: &impl Serialize) -> Result<TokenPair, IssueError> {
        let custom = match serde_json::to_value(claims) {
            Ok(Value::Object(map)) => map,
            Ok(Value::Null) => Map::new(),
            Ok(_) => return Err(IssueError::InvalidClaims("not a JSON object".into())),
            Err(e) => return Err(IssueError::InvalidClaims(e.to_string())),
        };
        if let Some(name) = RESERVED.iter().find(|name| custom.contains_key(**name)) {
            return Err(IssueError::InvalidClaims(format!(
                "`{name}` is set by the issuer"
            )));
        }
        self.mint(subject, &custom, &random_id()?, Some(&random_id()?), now())
    }

    /// Exchanges a refresh token for a new access token and, with rotation, a new refresh
    /// token that replaces the presented one as its session's current token. Presenting a
    /// refresh token that was already rotated revokes its whole session and is refused; so
    /// is a revoked token or session. Refresh tokens are refused from their `exp` on, with
    /// no leeway.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, IssueError> {
        let claims = self.inner.refresh_validator.validate(refresh_token).await?;
        let registered = claims.registered();
        if registered.token_type.as_deref() != Some("refresh") {
            return Err(refused(reason::NOT_A_REFRESH_TOKEN));
        }
        let (Some(sub), Some(sid), Some(jti), Some(exp)) = (
            &registered.sub,
            &registered.sid,
            &registered.jti,
            registered.exp,
        ) else {
            return Err(refused(reason::REFRESH_LACKS_IDS));
        };
        let store = &self.inner.store;
        let sid_id = format!("sid:{sid}");
        if store.any_revoked(&[&sid_id]).await? {
            return Err(refused(reason::SESSION_REVOKED));
        }
        if store.any_revoked(&[&format!("jti:{jti}")]).await? {
            return Err(refused(reason::REVOKED));
        }
        let custom: Map<String, Value> = claims
            .custom()
            .iter()
            .filter(|(name, _)| !RESERVED.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let now = now();
        if !self.inner.rotate {
            let mut pair = self.mint(sub, &custom, sid, None, now)?;
            pair.refresh = refresh_token.to_owned();
            pair.refresh_expires_in = exp.saturating_sub(now);
            return Ok(pair);
        }
        // Minted first: once the session has rotated, nothing may fail before the new pair
        // is handed out (the presented token is spent).
        let next = random_id()?;
        let pair = self.mint(sub, &custom, sid, Some(&next), now)?;
        let next_exp = now.saturating_add(self.inner.refresh_lifetime.as_secs());
        match store
            .rotate(sid, jti, &next, self.revoked_until(next_exp))
            .await?
        {
            Rotation::Rotated => Ok(pair),
            _ => {
                store.revoke(&sid_id, self.session_revoked_until()).await?;
                Err(refused(reason::REFRESH_REUSED))
            }
        }
    }

    /// Checks any token of this issuer (access or refresh): signature, `exp`, `iss`,
    /// `aud`, and that neither it nor its session is revoked. simplejwt's verify endpoint.
    pub async fn verify(&self, token: &str) -> Result<Claims<Map<String, Value>>, IssueError> {
        let claims = self.inner.validator.validate(token).await?;
        let registered = claims.registered();
        let (jti, sid) = (registered.jti.as_deref(), registered.sid.as_deref());
        let lookup = revocation::with_ids(jti, sid, |ids| self.inner.store.any_revoked(ids));
        if lookup.await? {
            return Err(refused(reason::REVOKED));
        }
        Ok(claims)
    }

    /// Revokes one token (access or refresh) by its `jti` until it expires: logout, or
    /// simplejwt's blacklist endpoint. The token must be valid.
    pub async fn revoke(&self, token: &str) -> Result<(), IssueError> {
        let claims = self.verify(token).await?;
        let registered = claims.registered();
        let (Some(jti), Some(exp)) = (&registered.jti, registered.exp) else {
            return Err(refused(reason::LACKS_JTI_OR_EXP));
        };
        let store = &self.inner.store;
        let until = self.revoked_until(exp);
        if let (Some("refresh"), Some(sid)) = (registered.token_type.as_deref(), &registered.sid) {
            // Closed first, atomically with rotations: a refresh with this token racing on
            // another instance that has not heard of the revocation yet cannot rotate.
            store.close_session(sid, until).await?;
        }
        store.revoke(&format!("jti:{jti}"), until).await?;
        Ok(())
    }

    /// Revokes the whole session (`sid`) a valid token belongs to: every access and refresh
    /// token of that login.
    pub async fn revoke_session(&self, token: &str) -> Result<(), IssueError> {
        let claims = self.inner.validator.validate(token).await?;
        self.end_session(&claims).await
    }

    /// Revokes the session of `claims` that a layer of this issuer verified: logout with
    /// the access token the request came with. Every access and refresh token of that
    /// login is refused from now on, by every layer sharing the store.
    pub async fn end_session<T>(&self, claims: &Claims<T>) -> Result<(), IssueError> {
        let Some(sid) = &claims.registered().sid else {
            return Err(refused(reason::LACKS_SID));
        };
        let store = &self.inner.store;
        let until = self.session_revoked_until();
        // As in `revoke`: no refresh racing on another instance rotates past the logout.
        store.close_session(sid, until).await?;
        store.revoke(&format!("sid:{sid}"), until).await?;
        Ok(())
    }

    /// The public keys as a JWKS document (`{"keys":[…]}`), for another service's
    /// `JwksResolver`. Empty for an HMAC key, whose secret is never published.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .inner
            .key
            .public_jwk()
            .and_then(|jwk| serde_json::to_value(jwk).ok())
            .into_iter()
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// A layer builder that accepts this issuer's access tokens: its key and algorithm, its
    /// `iss` and `aud`, its revocation store; refresh tokens are refused.
    pub fn layer_builder<T>(&self) -> JwtAuthBuilder<T, StaticKey> {
        let key = StaticKey::new(self.inner.key.verification_key().clone());
        let mut builder = crate::JwtAuthLayer::<T>::builder(key)
            .algorithms([self.inner.key.algorithm()])
            .leeway(self.inner.validator_leeway)
            .revocation_store(Arc::clone(&self.inner.store))
            .required_claims(["exp", "jti", "sub"]);
        if let Some(iss) = &self.inner.issuer {
            builder = builder.issuer(iss);
        }
        if let Some(aud) = &self.inner.audience {
            builder = builder.audience(aud);
        }
        builder
    }

    /// Until when a token expiring at `exp` must stay revoked: as long as a layer could
    /// still accept it.
    fn revoked_until(&self, exp: u64) -> u64 {
        exp.saturating_add(self.inner.validator_leeway.as_secs())
    }

    /// Until when a session revoked now must stay revoked: past the last moment any of its
    /// tokens, all minted before now, could be accepted.
    fn session_revoked_until(&self) -> u64 {
        let inner = &self.inner;
        let longest = inner.access_lifetime.max(inner.refresh_lifetime).as_secs();
        self.revoked_until(now().saturating_add(longest))
    }

    /// The revocation store.
    pub fn revocation_store(&self) -> Arc<dyn RevocationStore> {
        Arc::clone(&self.inner.store)
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.inner.key
    }

    /// The access token of session `sid` and, with `refresh_jti`, its refresh token.
    fn mint(
        &self,
        subject: &str,
        custom: &Map<String, Value>,
        sid: &str,
        refresh_jti: Option<&str>,
        now: u64,
    ) -> Result<TokenPair, IssueError> {
        let inner = &self.inner;
        let access_jti = random_id()?;
        let token = |jti, token_type, lifetime| Minted {
            subject,
            sid,
            jti,
            token_type,
            now,
            lifetime,
        };
        let access = self.sign(custom, &token(&access_jti, "access", inner.access_lifetime))?;
        let refresh = match refresh_jti {
            Some(jti) => self.sign(custom, &token(jti, "refresh", inner.refresh_lifetime))?,
            None => String::new(),
        };
        Ok(TokenPair {
            access,
            refresh,
            token_type: "Bearer".to_owned(),
            expires_in: inner.access_lifetime.as_secs(),
            refresh_expires_in: inner.refresh_lifetime.as_secs(),
        })
    }

    fn sign(&self, custom: &Map<String, Value>, token: &Minted<'_>) -> Result<String, IssueError> {
        let inner = &self.inner;
        let mut claims = custom.clone();
        claims.insert("sub".into(), token.subject.into());
        claims.insert("iat".into(), token.now.into());
        let exp = token.now.saturating_add(token.lifetime.as_secs());
        claims.insert("exp".into(), exp.into());
        claims.insert("jti".into(), token.jti.into());
        claims.insert("sid".into(), token.sid.into());
        claims.insert("token_type".into(), token.token_type.into());
        if let Some(iss) = &inner.issuer {
            claims.insert("iss".into(), iss.as_str().into());
        }
        if let Some(aud) = &inner.audience {
            claims.insert("aud".into(), aud.as_str().into());
        }
        jsonwebtoken::encode(&inner.header, &claims, inner.key.encoding_key())
            .map_err(|e| IssueError::Internal(e.to_string()))
    }
}

/// The registered claims of one token being minted.
struct Minted<'a> {
    subject: &'a str,
    sid: &'a str,
    jti: &'a str,
    token_type: &'a str,
    now: u64,
    lifetime: Duration,
}

fn refused(error: AuthError) -> IssueError {
    IssueError::Refused(error)
}

/// 128 random bits, base64url.
fn random_id() -> Result<String, IssueError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| IssueError::Internal(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("TokenIssuer")
            .field("key", &inner.key)
            .field("issuer", &inner.issuer)
            .field("audience", &inner.audience)
            .field("access_lifetime", &inner.access_lifetime)
            .field("refresh_lifetime", &inner.refresh_lifetime)
            .field("rotate", &inner.rotate)
            .field("validator_leeway", &inner.validator_leeway)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for TokenIssuerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuerBuilder")
            .field("key", &self.key)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}
