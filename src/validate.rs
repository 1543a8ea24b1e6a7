//! [`Validator`]: the whole check of one token, usable without tower (websockets, queues).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::builder::JwtAuthBuilder;
use crate::cache::{Entry, TokenCache};
use crate::claims::{Claims, RegisteredClaims};
use crate::crypto::provider;
use crate::error::{AuthError, ErrorKind, trace};
use crate::header::{TokenHeader, typ_matches};
use crate::json::{JsonError, from_object};
use crate::key::{AlgorithmSet, KeyError, KeyResolver, StaticKey, VerificationKey};
use crate::revocation::{self, RevocationStore};
use futures_util::future::BoxFuture;

/// Decoded parts up to this size stay on the stack; larger ones go to the heap.
const STACK_BUF: usize = 1024;

/// Validates tokens: size, shape, header, key, signature, registered claims, scopes and
/// your claim checks, in that order. Cheap to clone (an `Arc`).
///
/// Built with [`Validator::builder`]; [`JwtAuthLayer`](crate::JwtAuthLayer) uses one inside.
///
/// ```
/// use tower_jwt_auth::{Algorithm, ErrorKind, StaticKey, Validator};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// #[derive(Debug, serde::Deserialize)]
/// struct MyClaims { sub: String }
///
/// let secret = b"a secret of at least thirty-two bytes";
/// let validator = Validator::<MyClaims>::builder(StaticKey::hmac(Algorithm::HS256, secret)?)
///     .algorithms([Algorithm::HS256])
///     .build_validator()?;
///
/// let exp = jsonwebtoken::get_current_timestamp() + 300;
/// let token = jsonwebtoken::encode(
///     &jsonwebtoken::Header::new(Algorithm::HS256),
///     &serde_json::json!({ "sub": "ada", "exp": exp }),
///     &jsonwebtoken::EncodingKey::from_secret(secret)?,
/// )?;
/// let claims = validator.validate(&token).await?;
/// assert_eq!(claims.sub, "ada");
/// assert_eq!(validator.validate("not.a.jwt").await.unwrap_err().kind(), ErrorKind::Malformed);
/// # Ok(()) }
/// ```
pub struct Validator<T, R = StaticKey> {
    inner: Arc<Inner<T, R>>,
}

/// A claim check: `true` lets the request through, `false` answers 403.
pub(crate) type ClaimCheck<T> = Box<dyn Fn(&Claims<T>) -> bool + Send + Sync>;

pub(crate) struct Inner<T, R> {
    pub(crate) resolver: R,
    pub(crate) rules: Rules,
    pub(crate) checks: Vec<ClaimCheck<T>>,
    pub(crate) revocation: Option<Arc<dyn RevocationStore>>,
    pub(crate) cache: Option<TokenCache<T>>,
    pub(crate) _claims: PhantomData<fn() -> T>,
}

/// The validation options, fixed at build time.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) algorithms: AlgorithmSet,
    pub(crate) issuers: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) leeway: u64,
    pub(crate) required: Required,
    pub(crate) typ: Option<String>,
    pub(crate) max_token_size: usize,
    /// The `token_type` claim a token must have when it has one.
    pub(crate) token_type: Option<String>,
    /// Required scopes and, for the 403 answer, the same joined by spaces.
    pub(crate) scopes: Option<(Vec<String>, Arc<str>)>,
}

/// Registered claims that must be present, as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Required(u8);

impl Required {
    pub(crate) const NAMES: [&'static str; 8] =
        ["exp", "nbf", "iat", "iss", "aud", "sub", "jti", "sid"];

    pub(crate) fn with(self, name: &str) -> Option<Self> {
        let index = Self::NAMES.iter().position(|n| *n == name)?;
        Some(Required(self.0 | 1 << index))
    }

    fn missing(self, c: &RegisteredClaims) -> Option<&'static str> {
        let present = [
            c.exp.is_some(),
            c.nbf.is_some(),
            c.iat.is_some(),
            c.iss.is_some(),
            !c.aud.is_empty(),
            c.sub.is_some(),
            c.jti.is_some(),
            c.sid.is_some(),
        ];
        (0..Self::NAMES.len())
            .find(|i| self.0 & 1 << i != 0 && !present[*i])
            .map(|i| MISSING[i])
    }
}

const MISSING: [&str; 8] = [
    "token has no exp claim",
    "token has no nbf claim",
    "token has no iat claim",
    "token has no iss claim",
    "token has no aud claim",
    "token has no sub claim",
    "token has no jti claim",
    "token has no sid claim",
];

/// The resolver's future and what `start` learned for `finish`.
pub(crate) struct Started<F> {
    pub(crate) key: F,
    pub(crate) meta: TokenMeta,
}

/// What the header (and, for issuer routing, the payload's `iss`) said before verification.
pub(crate) struct TokenMeta {
    alg: Algorithm,
    kid: Option<Box<str>>,
    /// The `iss` the key was chosen by; the verified `iss` must be the same.
    routed_issuer: Option<Box<str>>,
}

impl<T> Validator<T> {
    /// Starts configuring a validator (or a layer) for claims of type `T`.
    pub fn builder<R: KeyResolver>(resolver: R) -> JwtAuthBuilder<T, R> {
        JwtAuthBuilder::new(resolver)
    }
}

impl<T, R> Validator<T, R>
where
    T: DeserializeOwned + Send + Sync + 'static,
    R: KeyResolver,
{
    pub(crate) fn from_inner(inner: Inner<T, R>) -> Self {
        Validator {
            inner: Arc::new(inner),
        }
    }

    /// Validates a token (the bare JWS, no `Bearer ` prefix) and returns its claims.
    pub async fn validate(&self, token: &str) -> Result<Claims<T>, AuthError> {
        let claims = match self.cached(token) {
            Some(claims) => claims,
            None => {
                let started = self.start(token)?;
                let key = started.key.await;
                self.finish(token, started.meta, key)?
            }
        };
        if let Some(check) = self.revocation_check(&claims) {
            check.await?;
        }
        Ok(claims)
    }

    /// With a revocation store: the check that the token's `jti` and `sid` are not revoked.
    pub(crate) fn revocation_check(
        &self,
        claims: &Claims<T>,
    ) -> Option<BoxFuture<'static, Result<(), AuthError>>> {
        let store = self.inner.revocation.as_ref()?;
        let registered = claims.registered();
        let (jti, sid) = revocation::ids(registered.jti.as_deref(), registered.sid.as_deref());
        let ids: Vec<&str> = jti.iter().chain(sid.iter()).map(String::as_str).collect();
        if ids.is_empty() {
            return None;
        }
        let (alg, kid) = (claims.alg(), claims.kid().map(Box::<str>::from));
        let lookup = store.any_revoked(&ids);
        Some(Box::pin(async move {
            let error = match lookup.await {
                Ok(false) => return Ok(()),
                Ok(true) => AuthError::new(ErrorKind::Revoked, "token has been revoked"),
                Err(e) => AuthError::new(
                    ErrorKind::RevocationUnavailable,
                    "revocation store unavailable",
                )
                .with_retry_after(Some(std::time::Duration::from_secs(5)))
                .with_source(Some(Arc::new(e))),
            };
            Err(trace(error, Some(alg), kid.as_deref()))
        }))
    }

    /// The resolver.
    pub fn resolver(&self) -> &R {
        &self.inner.resolver
    }

    /// Everything that needs no key: size, shape, header, `alg`, `typ`; then asks the resolver.
    pub(crate) fn start(&self, token: &str) -> Result<Started<R::Future>, AuthError> {
        let rules = &self.inner.rules;
        if token.len() > rules.max_token_size {
            return Err(trace(
                AuthError::new(ErrorKind::TooLarge, "token is too large"),
                None,
                None,
            ));
        }
        let parts = Parts::split(token).map_err(|e| trace(e, None, None))?;
        with_decoded(parts.header, |json| {
            let header = TokenHeader::parse(json).map_err(|e| trace(e, None, None))?;
            let reject = |e| trace(e, Some(header.alg()), header.kid());
            if !rules.algorithms.contains(header.alg()) {
                return Err(reject(not_allowed()));
            }
            if let Some(expected) = &rules.typ
                && !header.typ().is_some_and(|typ| typ_matches(typ, expected))
            {
                return Err(reject(AuthError::new(
                    ErrorKind::InvalidType,
                    "token type is not accepted",
                )));
            }
            let resolver = &self.inner.resolver;
            let (key, routed_issuer) = if resolver.wants_issuer() {
                with_decoded(parts.payload, |payload| {
                    let iss = from_object::<Issuer<'_>>(payload).ok().and_then(|p| p.iss);
                    let key = resolver.resolve(&header.with_unverified_issuer(iss.as_deref()));
                    Ok((key, iss.map(Box::from)))
                })??
            } else {
                (resolver.resolve(&header), None)
            };
            let meta = TokenMeta {
                alg: header.alg(),
                kid: header.kid_owned(),
                routed_issuer,
            };
            Ok(Started { key, meta })
        })
        .map_err(|e| trace(e, None, None))?
    }

    /// Everything that needs the key: signature, claims, scopes, claim checks.
    pub(crate) fn finish(
        &self,
        token: &str,
        meta: TokenMeta,
        key: Result<Arc<VerificationKey>, KeyError>,
    ) -> Result<Claims<T>, AuthError> {
        let TokenMeta {
            alg,
            kid,
            routed_issuer,
        } = meta;
        match self.verify(token, alg, routed_issuer.as_deref(), key) {
            Ok((custom, registered, key)) => {
                let claims = Claims::new(custom, registered, alg, kid);
                match self.check_claims(&claims) {
                    Ok(()) => {
                        if let Some(cache) = &self.inner.cache {
                            cache.insert(
                                token,
                                Entry {
                                    claims: claims.clone(),
                                    key,
                                },
                            );
                        }
                        Ok(claims)
                    }
                    Err(e) => Err(trace(e, Some(alg), claims.kid())),
                }
            }
            Err(e) => Err(trace(e, Some(alg), kid.as_deref())),
        }
    }

    /// The claims of a token this validator accepted before, if it is in the cache and
    /// still good: inside `exp`/`nbf` (with leeway), verified by a key the resolver still
    /// returns, and passing the claim checks again. Anything else is a miss, and the full
    /// check then gives the precise answer.
    pub(crate) fn cached(&self, token: &str) -> Option<Claims<T>> {
        let cache = self.inner.cache.as_ref()?;
        let Entry { claims, key } = cache.get(token)?;
        let registered = claims.registered();
        let rules = &self.inner.rules;
        let now = now();
        let in_time = registered
            .exp
            .is_none_or(|exp| now < exp.saturating_add(rules.leeway))
            && registered
                .nbf
                .is_none_or(|nbf| nbf <= now.saturating_add(rules.leeway));
        let header = TokenHeader::new(claims.alg(), claims.kid());
        let resolver = &self.inner.resolver;
        let key_current = in_time
            && if resolver.wants_issuer() {
                let routed = header.with_unverified_issuer(registered.iss.as_deref());
                resolver.is_current(&routed, &key)
            } else {
                resolver.is_current(&header, &key)
            };
        // Claim checks may read changing state (a disabled-user list): they run on every
        // hit. A failing one makes a miss, whose full check gives the precise 403.
        if key_current && self.check_claims(&claims).is_ok() {
            Some(claims)
        } else {
            cache.remove(token);
            None
        }
    }

    fn verify(
        &self,
        token: &str,
        alg: Algorithm,
        routed_issuer: Option<&str>,
        key: Result<Arc<VerificationKey>, KeyError>,
    ) -> Result<(T, RegisteredClaims, Arc<VerificationKey>), AuthError> {
        let key = key.map_err(KeyError::into_auth_error)?;
        if !key.algorithms().contains(alg) {
            return Err(not_allowed());
        }
        let parts = Parts::split(token)?;
        let signature = URL_SAFE_NO_PAD
            .decode(parts.signature)
            .map_err(|_| bad_signature())?;
        let verifier =
            (provider().verifier_factory)(&alg, key.decoding_key()).map_err(|_| bad_signature())?;
        verifier
            .verify(parts.signing_input.as_bytes(), &signature)
            .map_err(|_| bad_signature())?;

        with_decoded(parts.payload, |json| {
            let registered: RegisteredClaims = from_object(json).map_err(|e| match e {
                JsonError::NotAnObject => {
                    AuthError::new(ErrorKind::InvalidClaims, "claims are not a JSON object")
                }
                JsonError::Shape => AuthError::new(
                    ErrorKind::InvalidClaims,
                    "a registered claim has the wrong type",
                ),
            })?;
            self.inner.rules.check_registered(&registered, now())?;
            if routed_issuer.is_some() && registered.iss.as_deref() != routed_issuer {
                return Err(AuthError::new(
                    ErrorKind::InvalidIssuer,
                    "token issuer is not the one its key belongs to",
                ));
            }
            let custom: T = serde_json::from_slice(json).map_err(|_| {
                AuthError::new(
                    ErrorKind::InvalidClaims,
                    "claims do not have the expected shape",
                )
            })?;
            self.inner.rules.check_scopes(json)?;
            Ok((custom, registered, key))
        })?
    }

    fn check_claims(&self, claims: &Claims<T>) -> Result<(), AuthError> {
        if self.inner.checks.iter().all(|check| check(claims)) {
            Ok(())
        } else {
            Err(AuthError::new(
                ErrorKind::ClaimCheckFailed,
                "token does not grant this access",
            ))
        }
    }
}

impl Rules {
    fn check_registered(&self, c: &RegisteredClaims, now: u64) -> Result<(), AuthError> {
        if let Some(description) = self.required.missing(c) {
            return Err(AuthError::new(ErrorKind::MissingClaim, description));
        }
        if c.exp
            .is_some_and(|exp| now >= exp.saturating_add(self.leeway))
        {
            return Err(AuthError::new(ErrorKind::Expired, "token has expired"));
        }
        if c.nbf
            .is_some_and(|nbf| nbf > now.saturating_add(self.leeway))
        {
            return Err(AuthError::new(
                ErrorKind::NotYetValid,
                "token is not valid yet",
            ));
        }
        if let (Some(expected), Some(actual)) = (&self.token_type, &c.token_type)
            && expected != actual
        {
            return Err(AuthError::new(
                ErrorKind::InvalidType,
                "token type is not accepted",
            ));
        }
        if !self.issuers.is_empty()
            && !c
                .iss
                .as_ref()
                .is_some_and(|iss| self.issuers.iter().any(|i| i == iss))
        {
            return Err(AuthError::new(
                ErrorKind::InvalidIssuer,
                "token issuer is not accepted",
            ));
        }
        // RFC 7519 §4.1.3: a token naming audiences is refused by a service that is none of them.
        let audience_ok = if self.audiences.is_empty() {
            c.aud.iter().next().is_none()
        } else {
            c.aud
                .iter()
                .any(|a| self.audiences.iter().any(|mine| mine == a))
        };
        if !audience_ok {
            return Err(AuthError::new(
                ErrorKind::InvalidAudience,
                "token audience is not accepted",
            ));
        }
        Ok(())
    }

    /// Scopes from `scope` (space-separated) or `scp` (array or space-separated string).
    fn check_scopes(&self, json: &[u8]) -> Result<(), AuthError> {
        let Some((needed, joined)) = &self.scopes else {
            return Ok(());
        };
        let granted: ScopeClaims<'_> = serde_json::from_slice(json).unwrap_or_default();
        let has = |s: &str| {
            let spaced = |v: &Option<Cow<'_, str>>| {
                v.as_deref().is_some_and(|v| v.split(' ').any(|g| g == s))
            };
            spaced(&granted.scope)
                || match &granted.scp {
                    Some(Scp::Many(all)) => all.iter().any(|g| g == s),
                    Some(Scp::One(one)) => one.split(' ').any(|g| g == s),
                    None => false,
                }
        };
        if needed.iter().all(|s| has(s)) {
            Ok(())
        } else {
            Err(
                AuthError::new(ErrorKind::InsufficientScope, "token lacks a required scope")
                    .with_scope(Arc::clone(joined)),
            )
        }
    }
}

/// The payload's `iss` alone, borrowed, for issuer routing.
#[derive(Deserialize)]
struct Issuer<'a> {
    #[serde(borrow, default)]
    iss: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct ScopeClaims<'a> {
    #[serde(borrow, default)]
    scope: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    scp: Option<Scp<'a>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scp<'a> {
    #[serde(borrow)]
    One(Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
}

/// The three parts of a compact JWS, borrowed from the token.
struct Parts<'t> {
    header: &'t str,
    payload: &'t str,
    signature: &'t str,
    signing_input: &'t str,
}

impl<'t> Parts<'t> {
    fn split(token: &'t str) -> Result<Self, AuthError> {
        let malformed = || AuthError::new(ErrorKind::Malformed, "token is not a compact JWS");
        let (signing_input, signature) = token.rsplit_once('.').ok_or_else(malformed)?;
        let (header, payload) = signing_input.split_once('.').ok_or_else(malformed)?;
        // An empty signature is a shape error only after the header: `alg: none` tokens
        // end in a bare dot and should be reported as the algorithm they are.
        if payload.contains('.') || header.is_empty() {
            return Err(malformed());
        }
        Ok(Parts {
            header,
            payload,
            signature,
            signing_input,
        })
    }
}

/// Runs `f` on the base64url-decoded input, on the stack when it is small.
fn with_decoded<O>(
    input: &str,
    f: impl FnOnce(&[u8]) -> Result<O, AuthError>,
) -> Result<Result<O, AuthError>, AuthError> {
    let bad_base64 = |_| AuthError::new(ErrorKind::Malformed, "token is not valid base64url");
    if input.len() / 4 * 3 + 3 <= STACK_BUF {
        let mut buf = [0u8; STACK_BUF];
        let len = URL_SAFE_NO_PAD
            .decode_slice(input, &mut buf)
            .map_err(bad_base64)?;
        Ok(f(&buf[..len]))
    } else {
        let buf = URL_SAFE_NO_PAD
            .decode(input)
            .map_err(|e| bad_base64(e.into()))?;
        Ok(f(&buf))
    }
}

fn not_allowed() -> AuthError {
    AuthError::new(
        ErrorKind::AlgorithmNotAllowed,
        "token algorithm is not allowed",
    )
}

fn bad_signature() -> AuthError {
    AuthError::new(ErrorKind::InvalidSignature, "token signature is invalid")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl<T, R> Clone for Validator<T, R> {
    fn clone(&self) -> Self {
        Validator {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T, R: fmt::Debug> fmt::Debug for Validator<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("resolver", &self.inner.resolver)
            .field("rules", &self.inner.rules)
            .field("claim_checks", &self.inner.checks.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            algorithms: AlgorithmSet::one(Algorithm::HS256),
            issuers: vec![],
            audiences: vec![],
            leeway: 60,
            required: Required::default().with("exp").unwrap(),
            typ: None,
            max_token_size: 8192,
            token_type: Some("access".into()),
            scopes: None,
        }
    }

    fn registered(json: &str) -> RegisteredClaims {
        serde_json::from_str(json).unwrap()
    }

    fn kind(r: Result<(), AuthError>) -> Option<ErrorKind> {
        r.err().map(|e| e.kind())
    }

    #[test]
    fn exp_edges_with_leeway() {
        let r = rules();
        let c = registered(r#"{"exp":1000}"#);
        assert_eq!(kind(r.check_registered(&c, 1059)), None);
        assert_eq!(kind(r.check_registered(&c, 1060)), Some(ErrorKind::Expired));
        let strict = Rules {
            leeway: 0,
            ..rules()
        };
        assert_eq!(kind(strict.check_registered(&c, 999)), None);
        assert_eq!(
            kind(strict.check_registered(&c, 1000)),
            Some(ErrorKind::Expired)
        );
    }

    #[test]
    fn nbf_edges_with_leeway() {
        let r = rules();
        let c = registered(r#"{"exp":5000,"nbf":1000}"#);
        assert_eq!(kind(r.check_registered(&c, 940)), None);
        assert_eq!(
            kind(r.check_registered(&c, 939)),
            Some(ErrorKind::NotYetValid)
        );
    }

    #[test]
    fn required_claims() {
        let r = Rules {
            required: Required::default()
                .with("exp")
                .unwrap()
                .with("jti")
                .unwrap(),
            ..rules()
        };
        let e = r
            .check_registered(&registered(r#"{"exp":5000}"#), 0)
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.description()),
            (ErrorKind::MissingClaim, "token has no jti claim")
        );
        assert_eq!(
            kind(r.check_registered(&registered(r#"{"jti":"x"}"#), 0)),
            Some(ErrorKind::MissingClaim)
        );
        assert!(Required::default().with("bogus").is_none());
    }

    #[test]
    fn audience_rules() {
        let none = rules();
        assert_eq!(
            kind(none.check_registered(&registered(r#"{"exp":9,"aud":"x"}"#), 0)),
            Some(ErrorKind::InvalidAudience)
        );
        assert_eq!(
            kind(none.check_registered(&registered(r#"{"exp":9,"aud":[]}"#), 0)),
            None
        );
        let required = Rules {
            required: Required::default().with("aud").unwrap(),
            ..rules()
        };
        assert_eq!(
            kind(required.check_registered(&registered(r#"{"exp":9,"aud":[]}"#), 0)),
            Some(ErrorKind::MissingClaim),
            "an empty array names no audience"
        );
        let api = Rules {
            audiences: vec!["api".into()],
            ..rules()
        };
        assert_eq!(
            kind(api.check_registered(&registered(r#"{"exp":9,"aud":"api"}"#), 0)),
            None
        );
        assert_eq!(
            kind(api.check_registered(&registered(r#"{"exp":9,"aud":["x","api"]}"#), 0)),
            None
        );
        assert_eq!(
            kind(api.check_registered(&registered(r#"{"exp":9,"aud":["x"]}"#), 0)),
            Some(ErrorKind::InvalidAudience)
        );
        assert_eq!(
            kind(api.check_registered(&registered(r#"{"exp":9}"#), 0)),
            Some(ErrorKind::InvalidAudience)
        );
    }

    #[test]
    fn token_type_rule_applies_only_when_the_claim_is_present() {
        let r = rules();
        assert_eq!(
            kind(r.check_registered(&registered(r#"{"exp":9,"token_type":"access"}"#), 0)),
            None
        );
        assert_eq!(
            kind(r.check_registered(&registered(r#"{"exp":9}"#), 0)),
            None
        );
        assert_eq!(
            kind(r.check_registered(&registered(r#"{"exp":9,"token_type":"refresh"}"#), 0)),
            Some(ErrorKind::InvalidType)
        );
        let any = Rules {
            token_type: None,
            ..rules()
        };
        assert_eq!(
            kind(any.check_registered(&registered(r#"{"exp":9,"token_type":"refresh"}"#), 0)),
            None
        );
    }

    #[test]
    fn issuer_rules() {
        let r = Rules {
            issuers: vec!["a".into(), "b".into()],
            ..rules()
        };
        assert_eq!(
            kind(r.check_registered(&registered(r#"{"exp":9,"iss":"b"}"#), 0)),
            None
        );
        assert_eq!(
            kind(r.check_registered(&registered(r#"{"exp":9,"iss":"c"}"#), 0)),
            Some(ErrorKind::InvalidIssuer)
        );
        assert_eq!(
            kind(r.check_registered(&registered(r#"{"exp":9}"#), 0)),
            Some(ErrorKind::InvalidIssuer)
        );
    }

    #[test]
    fn scopes_from_scope_or_scp() {
        let r = Rules {
            scopes: Some((vec!["read".into(), "admin".into()], "read admin".into())),
            ..rules()
        };
        assert!(r.check_scopes(br#"{"scope":"read admin"}"#).is_ok());
        assert!(r.check_scopes(br#"{"scp":["admin","read"]}"#).is_ok());
        assert!(r.check_scopes(br#"{"scp":"read admin"}"#).is_ok());
        let e = r
            .check_scopes(br#"{"scope":"read administrator"}"#)
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.required_scope()),
            (ErrorKind::InsufficientScope, Some("read admin"))
        );
        assert!(r.check_scopes(br#"{"scope":7}"#).is_err());
    }

    #[test]
    fn split_needs_three_parts() {
        assert!(Parts::split("a.b.c").is_ok());
        for bad in ["a.b", "a.b.c.d", ".b.c", "abc", "a..c.d"] {
            assert!(Parts::split(bad).is_err(), "{bad}");
        }
        // An empty payload is a JSON error later; an empty signature fails verification.
        assert!(Parts::split("a..c").is_ok() && Parts::split("a.b.").is_ok());
    }
}
