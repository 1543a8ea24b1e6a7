//! [`JwtAuthBuilder`]: every option of the validator and the layer, each with its default.
//! The DPoP and RFC 9728 options are in `discovery`.

mod discovery;
mod extras;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde::de::DeserializeOwned;

use crate::cache::{CacheLimits, TokenCache};
use crate::claims::Claims;
use crate::error::ConfigError;
use crate::key::{AlgorithmSet, KeyResolver};
use crate::layer::JwtAuthLayer;
use crate::response::DefaultResponder;
use crate::revocation::RevocationStore;
use crate::rules::{Required, Rules};
use crate::shared::{LayerOptions, LayerParts};
use crate::source::TokenSource;
use crate::validator::{ClaimCheck, Validator};
use discovery::{Discovered, Discovery};
use extras::{Built, Extras};

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
    extras: Extras<T>,
    responder: E,
    /// The first invalid option, reported by `build`.
    invalid: Option<ConfigError>,
    _claims: PhantomData<fn() -> T>,
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
            extras: Extras::default(),
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
            extras: self.extras,
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

    fn into_parts(self) -> Result<Parts<T, R, E>, ConfigError> {
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
        let bearer_header = self.options.sources.contains(&TokenSource::bearer());
        let Discovered {
            dpop,
            challenge,
            metadata,
        } = self.discovery.build(&issuers, bearer_header)?;
        let Built {
            roles_claim,
            hook,
            introspectors,
        } = self.extras.build()?;
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
            roles_claim,
        };
        let validator = Validator::new(
            self.resolver,
            rules,
            self.checks,
            self.revocation,
            self.cache.map(TokenCache::new),
            dpop,
            introspectors,
        );
        let parts = LayerParts {
            options: self.options,
            responder: self.responder,
            challenge,
            metadata,
            hook,
        };
        Ok((validator, parts))
    }
}

/// What a builder makes: the validator, and what the layer keeps beside it.
type Parts<T, R, E> = (Validator<T, R>, LayerParts<T, E>);

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
            .field("discovery", &self.discovery)
            .field("extras", &self.extras)
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
