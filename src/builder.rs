//! [`JwtAuthBuilder`]: every option of the validator and the layer, each with its default.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde::de::DeserializeOwned;

use crate::cache::{CacheLimits, TokenCache};
use crate::challenge::Challenge;
use crate::claims::Claims;
use crate::dpop::{self, DpopMode, DpopPolicy, MemoryReplayStore, Origin, ReplayStore};
use crate::error::ConfigError;
use crate::key::{AlgorithmSet, KeyResolver};
use crate::layer::JwtAuthLayer;
use crate::metadata::{Document, ResourceMetadata};
use crate::response::DefaultResponder;
use crate::revocation::RevocationStore;
use crate::rules::{Required, Rules};
use crate::shared::{LayerOptions, LayerParts};
use crate::source::TokenSource;
use crate::validator::{ClaimCheck, Validator};

/// Configures a [`JwtAuthLayer`] ([`build`](Self::build)) or a bare [`Validator`]
/// ([`build_validator`](Self::build_validator)).
///
/// Start from [`JwtAuthLayer::builder`] or [`Validator::builder`]. Only
/// [`algorithms`](Self::algorithms) is required; every other option has a safe default.
///
/// ```
/// use std::time::Duration;
/// use tower_jwt_auth::{Algorithm, JwtAuthLayer, StaticKey, TokenSource};
///
/// #[derive(serde::Deserialize)]
/// struct MyClaims { sub: String }
///
/// let layer = JwtAuthLayer::<MyClaims>::builder(StaticKey::hmac(Algorithm::HS256, &[42; 32])?)
///     .algorithms([Algorithm::HS256])
///     .issuer("https://auth.example.com")
///     .audience("orders-api")
///     .leeway(Duration::from_secs(30))
///     .token_sources([TokenSource::bearer(), TokenSource::cookie("access_token")])
///     .build()?;
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
pub struct JwtAuthBuilder<T, R, E = DefaultResponder> {
    resolver: R,
    algorithms: AlgorithmSet,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: Duration,
    required: Vec<String>,
    typ: Option<String>,
    max_token_size: usize,
    token_type: Option<String>,
    revocation: Option<Arc<dyn RevocationStore>>,
    cache: Option<CacheLimits>,
    scopes: Vec<String>,
    checks: Vec<ClaimCheck<T>>,
    options: LayerOptions,
    discovery: Discovery,
    responder: E,
    /// The first invalid option, reported by `build`.
    invalid: Option<ConfigError>,
    _claims: PhantomData<fn() -> T>,
}

/// DPoP and RFC 9728 options: how clients prove and discover.
struct Discovery {
    mode: DpopMode,
    algorithms: AlgorithmSet,
    window: Duration,
    replay: Option<Arc<dyn ReplayStore>>,
    nonces: Option<(Vec<u8>, Duration)>,
    resource: Option<String>,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
}

impl Default for Discovery {
    fn default() -> Self {
        Discovery {
            mode: DpopMode::default(),
            algorithms: dpop::DEFAULT_ALGORITHMS.into_iter().collect(),
            window: Duration::from_secs(300),
            replay: None,
            nonces: None,
            resource: None,
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
        }
    }
}

impl<T> JwtAuthLayer<T> {
    /// Starts configuring a layer for claims of type `T` with keys from `resolver`.
    pub fn builder<R: KeyResolver>(resolver: R) -> JwtAuthBuilder<T, R> {
        JwtAuthBuilder::new(resolver)
    }
}

impl<T> Validator<T> {
    /// Starts configuring a validator (or a layer) for claims of type `T`.
    pub fn builder<R: KeyResolver>(resolver: R) -> JwtAuthBuilder<T, R> {
        JwtAuthBuilder::new(resolver)
    }
}

impl<T, R: KeyResolver> JwtAuthBuilder<T, R> {
    fn new(resolver: R) -> Self {
        JwtAuthBuilder {
            resolver,
            algorithms: AlgorithmSet::empty(),
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: Duration::from_secs(60),
            required: vec!["exp".to_owned()],
            typ: None,
            max_token_size: 8 * 1024,
            token_type: Some("access".to_owned()),
            revocation: None,
            cache: Some(CacheLimits::default()),
            scopes: Vec::new(),
            checks: Vec::new(),
            options: LayerOptions::default(),
            discovery: Discovery::default(),
            responder: DefaultResponder::default(),
            invalid: None,
            _claims: PhantomData,
        }
    }
}

impl<T, R> JwtAuthBuilder<T, R, DefaultResponder> {
    /// The `realm` of the default responder's `WWW-Authenticate` challenges: printable
    /// ASCII without `"` or `\`, else [`build`](Self::build) fails with
    /// [`ConfigError::InvalidRealm`]. Defaults to `"api"`.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        match DefaultResponder::with_realm(realm) {
            Ok(responder) => self.responder = responder,
            Err(error) => self.invalid = self.invalid.or(Some(error)),
        }
        self
    }
}

impl<T, R, E> JwtAuthBuilder<T, R, E> {
    /// The algorithms a token may use. Required: they are never taken from the token, and
    /// `none` is never allowed. A key further narrows this to the algorithms it is bound to.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Accepts tokens whose `iss` is this issuer; call again to accept several.
    /// Defaults to the resolver's [`expected_issuer`](KeyResolver::expected_issuer) (a
    /// `JwksResolver` from OIDC discovery names its issuer), else none: `iss` is then not
    /// checked. Issuers set here replace the resolver's.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Accepts tokens whose `aud` (a string or an array) names this audience; call again
    /// to accept several. Defaults to none configured, and then a token that carries `aud`
    /// is refused (RFC 7519 §4.1.3): configure the audience your service is.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Clock skew tolerated on `exp` and `nbf`. Defaults to 60 seconds.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Registered claims that must be present, among `exp`, `nbf`, `iat`, `iss`, `aud`,
    /// `sub`, `jti`, `sid`. Replaces the default, which is `["exp"]`.
    pub fn required_claims<S: Into<String>>(mut self, claims: impl IntoIterator<Item = S>) -> Self {
        self.required = claims.into_iter().map(Into::into).collect();
        self
    }

    /// The header `typ` tokens must carry, compared as a media type (case-insensitive,
    /// `application/` optional): e.g. `"at+jwt"` (RFC 9068). Defaults to not checked.
    pub fn expected_typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// The largest token accepted, in bytes, checked before any decoding. Defaults to 8 KiB.
    pub fn max_token_size(mut self, bytes: usize) -> Self {
        self.max_token_size = bytes;
        self
    }

    /// The `token_type` claim a token must carry *when it has one*: refresh tokens (from
    /// `issue::TokenIssuer` or simplejwt) are then refused by an API that wants access
    /// tokens. Defaults to `"access"`; [`any_token_type`](Self::any_token_type) turns the
    /// check off.
    pub fn expected_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.token_type = Some(token_type.into());
        self
    }

    /// Accepts any `token_type` claim: for a service that checks refresh tokens too (a
    /// token endpoint). Defaults to off: see [`expected_token_type`](Self::expected_token_type).
    pub fn any_token_type(mut self) -> Self {
        self.token_type = None;
        self
    }

    /// Refuses tokens whose `jti` or `sid` the store lists as revoked (401), checked after
    /// the signature; if the store cannot answer, the request gets 503. Give it the store of
    /// your `issue::TokenIssuer`. A token with neither `jti` nor
    /// `sid` cannot have been revoked and is not looked up. Defaults to none.
    pub fn revocation_store(mut self, store: impl RevocationStore) -> Self {
        self.revocation = Some(Arc::new(store));
        self
    }

    /// The verified-token cache: a token accepted before is accepted again without
    /// verifying its signature, as long as it is inside `exp`/`nbf`, its key is still the
    /// resolver's, your claim checks pass and (with a store) it is not revoked. A token is
    /// stored the second time it is accepted, so tokens used once cost no insert; rejected
    /// tokens are never stored. Defaults to on.
    pub fn cache(mut self, on: bool) -> Self {
        self.cache = on.then(|| self.cache.unwrap_or_default());
        self
    }

    /// The cache's bounds: entries, and bytes (about twice the token's length per entry).
    /// Defaults to 50 000 entries and 32 MiB. Turns the cache on.
    pub fn cache_limits(mut self, max_entries: usize, max_bytes: u64) -> Self {
        self.cache = Some(CacheLimits {
            max_entries,
            max_bytes,
        });
        self
    }

    /// Scopes the token must grant, read from `scope` (space-separated) or `scp` (an array
    /// or a space-separated string). A token without them gets 403 `insufficient_scope`.
    /// Each must be an RFC 6749 §3.3 scope token (printable ASCII other than space, `"`
    /// and `\`), else [`build`](Self::build) fails with [`ConfigError::InvalidScope`]:
    /// they are written into the `scope="…"` of the challenge. Defaults to none.
    pub fn required_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// A check of your own on verified claims; `false` answers 403 `insufficient_scope`.
    /// Runs after every other check, on every request: on verified-token cache hits too,
    /// so it may read state that changes (a list of disabled users). Keep it cheap and
    /// non-blocking. Defaults to none.
    pub fn check_claims(
        mut self,
        check: impl Fn(&Claims<T>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.checks.push(Box::new(check));
        self
    }

    /// Where the layer looks for the token. Defaults to `[TokenSource::bearer()]`.
    pub fn token_sources(mut self, sources: impl IntoIterator<Item = TokenSource>) -> Self {
        self.options.sources = sources.into_iter().collect();
        self
    }

    /// Optional mode: a request without a token passes without claims (handlers take
    /// `Option<Claims<T>>`); a request with a bad token is still refused. Defaults to off.
    pub fn optional(mut self, optional: bool) -> Self {
        self.options.optional = optional;
        self
    }

    /// Lets bodiless CORS preflights through unauthenticated. Defaults to off.
    ///
    /// Prefer tower-http's `CorsLayer` placed *outside* this layer
    /// (`ServiceBuilder::new().layer(cors).layer(auth)`): it answers preflights itself, so
    /// they never reach this layer or your handlers.
    ///
    /// When on, exactly these requests pass without a token, with no claims: method
    /// `OPTIONS`, an `Origin` header, an `Access-Control-Request-Method` header, no
    /// `Content-Type`, no `Transfer-Encoding`, and no `Content-Length` other than `0`. A
    /// gRPC request never passes (it has a `Content-Type`), nor does anything with a body.
    /// The inner service still sees the request: only turn this on when every route
    /// answers `OPTIONS` without doing work (axum `any()` routes, `route_service` and
    /// fallbacks run their handler for `OPTIONS` too).
    pub fn allow_cors_preflight(mut self, allow: bool) -> Self {
        self.options.cors_preflight = allow;
        self
    }

    /// DPoP (RFC 9449): [`DpopMode::Disabled`], [`DpopMode::Allowed`] (bearer tokens work,
    /// a token bound to a key needs the `DPoP` scheme and a proof) or
    /// [`DpopMode::Required`]. See [`crate::dpop`]. Defaults to `Allowed`.
    pub fn dpop(mut self, mode: DpopMode) -> Self {
        self.discovery.mode = mode;
        self
    }

    /// The algorithms a DPoP proof may be signed with; HMAC ones fail the build
    /// ([`ConfigError::SymmetricDpopAlgorithm`]). Defaults to ES256, ES384, EdDSA, RS256,
    /// RS384, RS512, PS256, PS384 and PS512.
    pub fn dpop_algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.discovery.algorithms = algorithms.into_iter().collect();
        self
    }

    /// How far a proof's `iat` may be from now, before or after (whole seconds). A proof is
    /// remembered by the replay store until `iat` plus this. Defaults to 5 minutes.
    pub fn dpop_proof_window(mut self, window: Duration) -> Self {
        self.discovery.window = window;
        self
    }

    /// Where used proofs are remembered, so that each is accepted once. Defaults to a
    /// [`MemoryReplayStore`] of 100 000 proofs; with several instances, give them a shared
    /// store (`RedisRevocationStore` is one).
    pub fn dpop_replay_store(mut self, store: impl ReplayStore) -> Self {
        self.discovery.replay = Some(Arc::new(store));
        self
    }

    /// Server-provided nonces (RFC 9449 §9): every proof must carry a `nonce` this layer
    /// issued, else the answer is 401 `use_dpop_nonce` with a fresh one in `DPoP-Nonce`.
    /// Nonces are a MAC of the time window under `secret` (at least 32 bytes, else
    /// [`ConfigError::WeakHmacSecret`]): instances with the same secret share them with
    /// nothing stored. Each lasts from one to two `lifetime`s. Defaults to off.
    pub fn dpop_nonces(mut self, secret: impl AsRef<[u8]>, lifetime: Duration) -> Self {
        self.discovery.nonces = Some((secret.as_ref().to_vec(), lifetime));
        self
    }

    /// The resource's identifier (RFC 9728 `resource`): the absolute `https` (or `http`)
    /// URL clients reach it at, as seen from outside any proxy. DPoP proofs' `htu` is
    /// checked against it and the request's path; the layer's
    /// [`resource_metadata`](JwtAuthLayer::resource_metadata) describes it, and 401
    /// challenges point at that document. A URL with query, fragment or userinfo fails the
    /// build ([`ConfigError::InvalidResource`]). Defaults to none: `htu` is then checked
    /// against the request's own `Host`, which a client chooses, and challenges carry no
    /// `resource_metadata`.
    pub fn resource(mut self, url: impl Into<String>) -> Self {
        self.discovery.resource = Some(url.into());
        self
    }

    /// The authorization servers the metadata names (RFC 9728 `authorization_servers`),
    /// absolute `http(s)` URLs. Defaults to the accepted issuers.
    pub fn authorization_servers<S: Into<String>>(
        mut self,
        servers: impl IntoIterator<Item = S>,
    ) -> Self {
        self.discovery
            .authorization_servers
            .extend(servers.into_iter().map(Into::into));
        self
    }

    /// The scopes the metadata lists (RFC 9728 `scopes_supported`). Defaults to none listed.
    pub fn scopes_supported<S: Into<String>>(
        mut self,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        self.discovery
            .scopes_supported
            .extend(scopes.into_iter().map(Into::into));
        self
    }

    /// How rejections are answered. Defaults to [`DefaultResponder`]: RFC 6750 for HTTP,
    /// trailers-only status for gRPC.
    pub fn error_responder<E2>(self, responder: E2) -> JwtAuthBuilder<T, R, E2> {
        JwtAuthBuilder {
            resolver: self.resolver,
            algorithms: self.algorithms,
            issuers: self.issuers,
            audiences: self.audiences,
            leeway: self.leeway,
            required: self.required,
            typ: self.typ,
            max_token_size: self.max_token_size,
            token_type: self.token_type,
            revocation: self.revocation,
            cache: self.cache,
            scopes: self.scopes,
            checks: self.checks,
            options: self.options,
            discovery: self.discovery,
            responder,
            invalid: self.invalid,
            _claims: PhantomData,
        }
    }
}

impl<T, R, E> JwtAuthBuilder<T, R, E>
where
    T: DeserializeOwned + Send + Sync + 'static,
    R: KeyResolver,
    E: Send + Sync + 'static,
{
    /// Builds the layer.
    pub fn build(self) -> Result<JwtAuthLayer<T, R, E>, ConfigError> {
        crate::install_crypto_provider();
        let (validator, parts) = self.into_parts()?;
        Ok(JwtAuthLayer::new(validator, parts))
    }

    /// Builds a validator alone; the layer's options (sources, optional mode, CORS,
    /// responder) do not apply to it.
    pub fn build_validator(self) -> Result<Validator<T, R>, ConfigError> {
        crate::install_crypto_provider();
        self.into_parts().map(|(validator, _)| validator)
    }

    fn into_parts(self) -> Result<(Validator<T, R>, LayerParts<E>), ConfigError> {
        if let Some(invalid) = self.invalid {
            return Err(invalid);
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        if let Some(scope) = self.scopes.iter().find(|s| !is_scope_token(s)) {
            return Err(ConfigError::InvalidScope(scope.clone()));
        }
        let required = self
            .required
            .iter()
            .try_fold(Required::default(), |acc, name| {
                acc.with(name)
                    .ok_or_else(|| ConfigError::UnknownClaim(name.clone()))
            })?;
        let scopes = (!self.scopes.is_empty()).then(|| {
            let joined: Arc<str> = self.scopes.join(" ").into();
            (self.scopes, joined)
        });
        // No issuer configured: the one the resolver's keys are for, if it names one.
        let mut issuers = self.issuers;
        if issuers.is_empty()
            && let Some(expected) = self.resolver.expected_issuer()
        {
            issuers.push(expected.to_owned());
        }
        let discovery = self.discovery;
        let origin = discovery
            .resource
            .as_deref()
            .map(Origin::configured)
            .transpose()?;
        let dpop_on = discovery.mode != DpopMode::Disabled;
        if let Some(hmac) = discovery
            .algorithms
            .iter()
            .find(|alg| alg.family() == jsonwebtoken::AlgorithmFamily::Hmac)
        {
            return Err(ConfigError::SymmetricDpopAlgorithm(hmac));
        }
        if dpop_on && discovery.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        let dpop_algs: Vec<String> = if dpop_on {
            discovery
                .algorithms
                .iter()
                .map(|a| format!("{a:?}"))
                .collect()
        } else {
            Vec::new()
        };
        let challenge = Challenge {
            bearer: discovery.mode != DpopMode::Required,
            dpop_algs: dpop_on.then(|| dpop_algs.join(" ").into()),
            resource_metadata: origin.as_ref().map(|o| o.metadata_url().into()),
        };
        let metadata = match &origin {
            Some(origin) => {
                let servers = if discovery.authorization_servers.is_empty() {
                    &issuers
                } else {
                    &discovery.authorization_servers
                };
                if let Some(bad) = servers.iter().find(|s| Origin::configured(s).is_err()) {
                    return Err(ConfigError::InvalidMetadata(bad.clone()));
                }
                if let Some(bad) = discovery
                    .scopes_supported
                    .iter()
                    .find(|s| !is_scope_token(s))
                {
                    return Err(ConfigError::InvalidScope(bad.clone()));
                }
                let header = self.options.sources.contains(&TokenSource::bearer());
                let resource = origin.url();
                Some(ResourceMetadata::new(
                    &Document {
                        resource: &resource,
                        authorization_servers: servers,
                        scopes_supported: &discovery.scopes_supported,
                        bearer_methods_supported: if header { &["header"] } else { &[] },
                        dpop_signing_alg_values_supported: &dpop_algs,
                        dpop_bound_access_tokens_required: discovery.mode == DpopMode::Required,
                    },
                    origin.metadata_path(),
                    origin.metadata_url(),
                ))
            }
            None => None,
        };
        let nonces = match &discovery.nonces {
            Some((secret, _)) if secret.len() < 32 => {
                return Err(ConfigError::WeakHmacSecret {
                    algorithm: Algorithm::HS256,
                    len: secret.len(),
                    min: 32,
                });
            }
            Some((secret, lifetime)) => Some(dpop::Nonces::new(secret, lifetime.as_secs())),
            None => None,
        };
        let dpop = DpopPolicy::new(
            discovery.mode,
            discovery.algorithms,
            discovery.window.as_secs(),
            origin,
            nonces,
            discovery
                .replay
                .unwrap_or_else(|| Arc::new(MemoryReplayStore::default())),
        );
        let rules = Rules {
            algorithms: self.algorithms,
            issuers,
            audiences: self.audiences,
            leeway: self.leeway.as_secs(),
            required,
            typ: self.typ,
            max_token_size: self.max_token_size,
            token_type: self.token_type,
            scopes,
        };
        let validator = Validator::new(
            self.resolver,
            rules,
            self.checks,
            self.revocation,
            self.cache.map(TokenCache::new),
            dpop,
        );
        let parts = LayerParts {
            options: self.options,
            responder: self.responder,
            challenge,
            metadata,
        };
        Ok((validator, parts))
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

impl<T, R: fmt::Debug, E: fmt::Debug> fmt::Debug for JwtAuthBuilder<T, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthBuilder")
            .field("resolver", &self.resolver)
            .field("algorithms", &self.algorithms)
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .field("required", &self.required)
            .field("typ", &self.typ)
            .field("max_token_size", &self.max_token_size)
            .field("token_type", &self.token_type)
            .field("revocation", &self.revocation.is_some())
            .field("cache", &self.cache)
            .field("scopes", &self.scopes)
            .field("claim_checks", &self.checks.len())
            .field("options", &self.options)
            .field("dpop", &self.discovery.mode)
            .field("resource", &self.discovery.resource)
            .field("responder", &self.responder)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::StaticKey;

    fn builder() -> JwtAuthBuilder<serde_json::Value, StaticKey> {
        JwtAuthLayer::<serde_json::Value>::builder(
            StaticKey::hmac(Algorithm::HS256, &[1; 32]).unwrap(),
        )
        .algorithms([Algorithm::HS256])
    }

    #[test]
    fn required_scopes_must_be_rfc_6749_scope_tokens() {
        for bad in ["", "read write", "a\"b", "a\\b", "caf\u{e9}", "tab\there"] {
            let built = builder().required_scopes([bad]).build();
            assert!(
                matches!(&built, Err(ConfigError::InvalidScope(s)) if s == bad),
                "{bad:?}: {built:?}"
            );
        }
        assert!(
            builder()
                .required_scopes(["read:orders", "admin!"])
                .build()
                .is_ok()
        );
    }

    #[test]
    fn an_unquotable_realm_fails_the_build_instead_of_panicking() {
        let built = builder().realm("say \"hi\"").build();
        assert!(matches!(built, Err(ConfigError::InvalidRealm(_))));
        assert!(builder().realm("orders").build().is_ok());
    }
}
