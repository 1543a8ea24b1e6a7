//! Why a request was refused ([`AuthError`]) and why a configuration was ([`ConfigError`]).

mod config;
pub(crate) mod reason;

pub use config::ConfigError;

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use jsonwebtoken::Algorithm;

use crate::challenge::Challenge;

/// What went wrong with a request, coarse enough to match on and free to grow.
///
/// [`AuthError::status`] and [`AuthError::error_code`] give the RFC 6750 mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No token in any configured place (401, no `error` parameter).
    MissingToken,
    /// The request itself is malformed: empty or ill-formed token, two `Authorization`
    /// headers, a non-ASCII header, a token in two places (400 `invalid_request`).
    InvalidRequest,
    /// The token is larger than the configured maximum (401 `invalid_token`).
    TooLarge,
    /// The token is not a compact JWS: wrong shape, bad base64, bad header JSON.
    Malformed,
    /// The header's `alg` is not allowed, is `none`, or is not one the key is bound to.
    AlgorithmNotAllowed,
    /// The header names a critical extension (`crit`) this crate does not understand.
    UnsupportedCritical,
    /// The header's `typ` is not the expected one.
    InvalidType,
    /// No key matches the token's `kid` (or, without `kid`, no single key fits its `alg`).
    UnknownKey,
    /// The signature does not verify.
    InvalidSignature,
    /// The claims are not a JSON object of the expected shape, or a registered claim has
    /// the wrong type.
    InvalidClaims,
    /// A required claim is absent.
    MissingClaim,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` is still ahead (beyond the leeway).
    NotYetValid,
    /// `iss` is not an accepted issuer.
    InvalidIssuer,
    /// `aud` names none of the accepted audiences.
    InvalidAudience,
    /// The token is valid but lacks a required scope (403 `insufficient_scope`).
    InsufficientScope,
    /// The token is valid but a custom claim check refused it (403 `insufficient_scope`).
    ClaimCheckFailed,
    /// The key source could not be reached and no key is cached (503).
    KeyUnavailable,
    /// The token (its `jti`) or its session (`sid`) has been revoked (401).
    Revoked,
    /// The revocation store could not be asked; the request is refused, not waved through
    /// (503).
    RevocationUnavailable,
    /// The `DPoP` proof is missing, malformed, or fails a check of RFC 9449 §4.3: `typ`,
    /// `alg`, a public `jwk`, the signature, `jti`, `htm`, `htu`, `iat`, `ath`, or it was
    /// used before (401 `invalid_dpop_proof`, with a `DPoP` challenge).
    InvalidDpopProof,
    /// The token's DPoP binding does not fit how it came: a bound token (`cnf.jkt`) sent
    /// as Bearer or with a proof by another key, an unbound token sent with the `DPoP`
    /// scheme, or an unbound token where DPoP is required (401 `invalid_token`).
    InvalidDpopBinding,
    /// Server nonces are on and the proof's `nonce` is missing, not ours or stale
    /// (RFC 9449 §9): 401 `use_dpop_nonce` with a fresh one in the `DPoP-Nonce` header.
    UseDpopNonce,
    /// The DPoP replay store could not be asked; the request is refused (503).
    ReplayCheckUnavailable,
    /// Your [`on_validated`](crate::JwtAuthBuilder::on_validated) hook refused the
    /// token, a disabled user say (401 `invalid_token`). A hook refuses with 403 by
    /// returning [`ErrorKind::ClaimCheckFailed`] instead.
    RefusedByHook,
    /// Your hook could not decide (its user store is down): 503, never a pass.
    HookUnavailable,
    /// The authorization server says the opaque token is not active (RFC 7662 §2.2: 401
    /// `invalid_token`).
    Inactive,
    /// The introspection endpoint could not be asked, or answered with an error or
    /// something that is not an introspection response (503).
    IntrospectionUnavailable,
}

impl ErrorKind {
    /// Every kind, in declaration order (`kind as usize` indexes it).
    #[cfg(any(test, feature = "metrics"))]
    pub(crate) const ALL: [ErrorKind; 28] = [
        ErrorKind::MissingToken,
        ErrorKind::InvalidRequest,
        ErrorKind::TooLarge,
        ErrorKind::Malformed,
        ErrorKind::AlgorithmNotAllowed,
        ErrorKind::UnsupportedCritical,
        ErrorKind::InvalidType,
        ErrorKind::UnknownKey,
        ErrorKind::InvalidSignature,
        ErrorKind::InvalidClaims,
        ErrorKind::MissingClaim,
        ErrorKind::Expired,
        ErrorKind::NotYetValid,
        ErrorKind::InvalidIssuer,
        ErrorKind::InvalidAudience,
        ErrorKind::InsufficientScope,
        ErrorKind::ClaimCheckFailed,
        ErrorKind::KeyUnavailable,
        ErrorKind::Revoked,
        ErrorKind::RevocationUnavailable,
        ErrorKind::InvalidDpopProof,
        ErrorKind::InvalidDpopBinding,
        ErrorKind::UseDpopNonce,
        ErrorKind::ReplayCheckUnavailable,
        ErrorKind::RefusedByHook,
        ErrorKind::HookUnavailable,
        ErrorKind::Inactive,
        ErrorKind::IntrospectionUnavailable,
    ];

    /// The kind in snake_case (`expired`, `invalid_signature`, …): the `reason` label of
    /// the `metrics` feature's counters, stable across releases.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::MissingToken => "missing_token",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Malformed => "malformed",
            ErrorKind::AlgorithmNotAllowed => "algorithm_not_allowed",
            ErrorKind::UnsupportedCritical => "unsupported_critical",
            ErrorKind::InvalidType => "invalid_type",
            ErrorKind::UnknownKey => "unknown_key",
            ErrorKind::InvalidSignature => "invalid_signature",
            ErrorKind::InvalidClaims => "invalid_claims",
            ErrorKind::MissingClaim => "missing_claim",
            ErrorKind::Expired => "expired",
            ErrorKind::NotYetValid => "not_yet_valid",
            ErrorKind::InvalidIssuer => "invalid_issuer",
            ErrorKind::InvalidAudience => "invalid_audience",
            ErrorKind::InsufficientScope => "insufficient_scope",
            ErrorKind::ClaimCheckFailed => "claim_check_failed",
            ErrorKind::KeyUnavailable => "key_unavailable",
            ErrorKind::Revoked => "revoked",
            ErrorKind::RevocationUnavailable => "revocation_unavailable",
            ErrorKind::InvalidDpopProof => "invalid_dpop_proof",
            ErrorKind::InvalidDpopBinding => "invalid_dpop_binding",
            ErrorKind::UseDpopNonce => "use_dpop_nonce",
            ErrorKind::ReplayCheckUnavailable => "replay_check_unavailable",
            ErrorKind::RefusedByHook => "refused_by_hook",
            ErrorKind::HookUnavailable => "hook_unavailable",
            ErrorKind::Inactive => "inactive",
            ErrorKind::IntrospectionUnavailable => "introspection_unavailable",
        }
    }
}

/// Why a request was refused. Cheap to clone; put into the rejected response's extensions.
///
/// Its [`Display`](fmt::Display) is the short, token-free `error_description`. Construct one
/// yourself to unit-test an [`ErrorResponder`](crate::ErrorResponder):
///
/// ```
/// use std::time::Duration;
/// use tower_jwt_auth::{AuthError, ErrorKind};
///
/// let expired = AuthError::new(ErrorKind::Expired);
/// assert_eq!((expired.status().as_u16(), expired.error_code()), (401, Some("invalid_token")));
/// assert_eq!(expired.to_string(), "token has expired");
///
/// let scope = AuthError::new(ErrorKind::InsufficientScope).with_scope("admin");
/// assert_eq!((scope.status().as_u16(), scope.required_scope()), (403, Some("admin")));
///
/// let down = AuthError::new(ErrorKind::KeyUnavailable).with_retry_after(Duration::from_secs(5));
/// assert_eq!((down.status().as_u16(), down.grpc_code()), (503, 14));
/// ```
#[derive(Clone)]
pub struct AuthError {
    kind: ErrorKind,
    description: &'static str,
    scope: Option<Arc<str>>,
    retry_after: Option<Duration>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
    alg: Option<Algorithm>,
    kid: Option<Box<str>>,
    /// How the layer that refused answers: Bearer and/or DPoP, metadata URL.
    challenge: Option<Arc<Challenge>>,
    /// The request used the `DPoP` scheme.
    dpop_scheme: bool,
    /// For [`ErrorKind::UseDpopNonce`]: the nonce to retry with.
    nonce: Option<Arc<str>>,
}

/// A `kid` longer than this is cut in [`AuthError::kid`]: the token chooses it.
const KID_CONTEXT_MAX: usize = 64;

impl AuthError {
    /// An error of this kind with its standard description.
    pub fn new(kind: ErrorKind) -> Self {
        Self::fixed(kind, reason::standard(kind))
    }

    /// An error whose description is checked when the constant is compiled: it goes into
    /// a quoted `error_description` (RFC 6750 §3), which allows no `"` or `\`.
    pub(crate) const fn fixed(kind: ErrorKind, description: &'static str) -> Self {
        assert!(
            is_quotable(description),
            "not an RFC 6750 error_description"
        );
        AuthError {
            kind,
            description,
            scope: None,
            retry_after: None,
            source: None,
            alg: None,
            kid: None,
            challenge: None,
            dpop_scheme: false,
            nonce: None,
        }
    }

    /// Replaces the description. It must be an RFC 6750 `error_description`: printable
    /// ASCII without `"` or `\`, and never token contents; anything else keeps the
    /// standard description of the kind.
    pub fn with_description(mut self, description: &'static str) -> Self {
        if is_quotable(description) {
            self.description = description;
        }
        self
    }

    /// Sets the scopes an [`ErrorKind::InsufficientScope`] answer names (`scope="…"`).
    pub fn with_scope(mut self, scope: impl Into<Arc<str>>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// A hook's refusal: 401 `invalid_token` with `description` (an RFC 6750
    /// `error_description`: printable ASCII without `"` or `\`).
    pub fn refused(description: &'static str) -> Self {
        Self::new(ErrorKind::RefusedByHook).with_description(description)
    }

    /// A hook's 403 `insufficient_scope`, with `description`.
    pub fn forbidden(description: &'static str) -> Self {
        Self::new(ErrorKind::ClaimCheckFailed).with_description(description)
    }

    /// A hook that cannot decide now: 503 (gRPC 14), never a pass.
    pub fn unavailable() -> Self {
        Self::new(ErrorKind::HookUnavailable)
    }

    /// Sets when the client may try again (`Retry-After` on a 503).
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// Attaches the underlying cause (for logs and [`std::error::Error::source`]).
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    pub(crate) fn with_shared_source(
        mut self,
        source: Option<Arc<dyn StdError + Send + Sync>>,
    ) -> Self {
        self.source = source;
        self
    }

    /// Records the token's `alg` and `kid` (cut to 64 bytes), for tracing and metrics.
    pub(crate) fn with_token(
        mut self,
        alg: impl Into<Option<Algorithm>>,
        kid: Option<&str>,
    ) -> Self {
        self.alg = alg.into();
        self.kid = kid.map(|kid| {
            let mut end = kid.len().min(KID_CONTEXT_MAX);
            while !kid.is_char_boundary(end) {
                end -= 1;
            }
            Box::from(&kid[..end])
        });
        self
    }

    /// Sets the nonce a client must put in its next proof (`DPoP-Nonce`, RFC 9449 §9).
    pub fn with_dpop_nonce(mut self, nonce: impl Into<Arc<str>>) -> Self {
        self.nonce = Some(nonce.into());
        self
    }

    /// For [`ErrorKind::UseDpopNonce`]: the nonce to send in the `DPoP-Nonce` header.
    pub fn dpop_nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    /// Records how the refusing layer answers, and whether the request used DPoP.
    pub(crate) fn with_challenge(mut self, challenge: &Arc<Challenge>, dpop_scheme: bool) -> Self {
        self.challenge = Some(Arc::clone(challenge));
        self.dpop_scheme = dpop_scheme;
        self
    }

    /// Whether the answer's challenge is `DPoP` rather than `Bearer`: the proof was the
    /// problem, or DPoP is on and the request used its scheme or the layer accepts DPoP
    /// tokens only.
    pub fn dpop_challenge(&self) -> bool {
        let dpop_on = self.dpop_algorithms().is_some();
        matches!(
            self.kind,
            ErrorKind::InvalidDpopProof | ErrorKind::UseDpopNonce
        ) || (dpop_on && (self.dpop_scheme || !self.bearer_accepted()))
    }

    /// The proof algorithms the refusing layer accepts, space-separated (the `algs`
    /// parameter of RFC 9449 §7.1); `None` when DPoP is disabled or no layer refused.
    pub fn dpop_algorithms(&self) -> Option<&str> {
        self.challenge.as_ref()?.dpop_algs.as_deref()
    }

    /// Whether the refusing layer accepts bearer tokens (`true` when no layer refused).
    pub fn bearer_accepted(&self) -> bool {
        self.challenge.as_ref().is_none_or(|c| c.bearer)
    }

    /// The URL of the resource's RFC 9728 metadata, for the `resource_metadata` parameter,
    /// when the layer has a [`resource`](crate::JwtAuthBuilder::resource).
    pub fn resource_metadata(&self) -> Option<&str> {
        self.challenge.as_ref()?.resource_metadata.as_deref()
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// A short description that never contains token contents.
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// For [`ErrorKind::InsufficientScope`]: the space-separated scopes the resource needs.
    pub fn required_scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// For the 503 kinds: when the client may try again, if known.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The token's `alg`, when the refusal came after its header was read.
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    /// The token's `kid` (at most its first 64 bytes), when the refusal came after its
    /// header was read. An opaque name chosen by the client: log it, never trust it.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
    /// The HTTP status RFC 6750 gives this error: 401, 400, 403 or 503.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorKind::InsufficientScope | ErrorKind::ClaimCheckFailed => StatusCode::FORBIDDEN,
            ErrorKind::KeyUnavailable
            | ErrorKind::RevocationUnavailable
            | ErrorKind::ReplayCheckUnavailable
            | ErrorKind::HookUnavailable
            | ErrorKind::IntrospectionUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The RFC 6750 `error` code: `invalid_request`, `invalid_token`, `insufficient_scope`,
    /// or `None` when no credentials were sent or the key source is down.
    pub fn error_code(&self) -> Option<&'static str> {
        match self.kind {
            ErrorKind::MissingToken
            | ErrorKind::KeyUnavailable
            | ErrorKind::RevocationUnavailable
            | ErrorKind::ReplayCheckUnavailable
            | ErrorKind::HookUnavailable
            | ErrorKind::IntrospectionUnavailable => None,
            ErrorKind::InvalidRequest => Some("invalid_request"),
            ErrorKind::InvalidDpopProof => Some("invalid_dpop_proof"),
            ErrorKind::UseDpopNonce => Some("use_dpop_nonce"),
            ErrorKind::InsufficientScope | ErrorKind::ClaimCheckFailed => {
                Some("insufficient_scope")
            }
            _ => Some("invalid_token"),
        }
    }

    /// The gRPC status code: 16 UNAUTHENTICATED, 7 PERMISSION_DENIED or 14 UNAVAILABLE.
    pub fn grpc_code(&self) -> u8 {
        match self.status() {
            StatusCode::FORBIDDEN => 7,
            StatusCode::SERVICE_UNAVAILABLE => 14,
            _ => 16,
        }
    }
}

impl fmt::Debug for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthError")
            .field("kind", &self.kind)
            .field("description", &self.description)
            .field("scope", &self.scope)
            .field("retry_after", &self.retry_after)
            .field("source", &self.source)
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("dpop_scheme", &self.dpop_scheme)
            .finish()
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description)
    }
}

impl StdError for AuthError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// RFC 6750 §3: `error_description` values are `%x20-21 / %x23-5B / %x5D-7E`.
const fn is_quotable(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !matches!(bytes[i], 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e) {
            return false;
        }
        i += 1;
    }
    true
}

/// The one place a rejection is traced (feature `tracing`): a debug event with kind, alg
/// and kid, never the token. Called where a refusal is settled: the validator's verdict and
/// the layer's own request checks.
pub(crate) fn trace(error: AuthError) -> AuthError {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        kind = ?error.kind(),
        alg = ?error.alg(),
        kid = ?error.kid(),
        reason = error.description(),
        "request refused"
    );
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_that_cannot_be_quoted_is_not_taken() {
        let e = AuthError::new(ErrorKind::Expired).with_description("say \"hi\"");
        assert_eq!(e.description(), "token has expired");
        let e = AuthError::new(ErrorKind::Expired).with_description("too old for us");
        assert_eq!(e.description(), "too old for us");
    }

    #[test]
    fn a_long_kid_is_cut_on_a_char_boundary() {
        let kid = "é".repeat(100);
        let e = AuthError::new(ErrorKind::UnknownKey).with_token(Algorithm::RS256, Some(&kid));
        assert_eq!(e.kid().map(str::len), Some(64));
        assert_eq!(e.alg(), Some(Algorithm::RS256));
    }
}
