//! Why a request was refused ([`AuthError`]) and why a configuration was ([`ConfigError`]).

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use jsonwebtoken::Algorithm;

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
}

/// Why a request was refused. Cheap to clone; put into the rejected response's extensions.
///
/// Its [`Display`](fmt::Display) is the short, token-free `error_description`.
#[derive(Clone)]
pub struct AuthError {
    kind: ErrorKind,
    description: &'static str,
    scope: Option<Arc<str>>,
    retry_after: Option<Duration>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

impl AuthError {
    pub(crate) const fn new(kind: ErrorKind, description: &'static str) -> Self {
        AuthError {
            kind,
            description,
            scope: None,
            retry_after: None,
            source: None,
        }
    }

    pub(crate) fn missing() -> Self {
        Self::new(ErrorKind::MissingToken, "no token")
    }

    pub(crate) fn invalid_request(description: &'static str) -> Self {
        Self::new(ErrorKind::InvalidRequest, description)
    }

    pub(crate) fn with_scope(mut self, scope: Arc<str>) -> Self {
        self.scope = Some(scope);
        self
    }

    pub(crate) fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    pub(crate) fn with_source(mut self, source: Option<Arc<dyn StdError + Send + Sync>>) -> Self {
        self.source = source;
        self
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

    /// For [`ErrorKind::KeyUnavailable`]: when the client may try again, if known.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The HTTP status RFC 6750 gives this error: 401, 400, 403 or 503.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorKind::InsufficientScope | ErrorKind::ClaimCheckFailed => StatusCode::FORBIDDEN,
            ErrorKind::KeyUnavailable | ErrorKind::RevocationUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The RFC 6750 `error` code: `invalid_request`, `invalid_token`, `insufficient_scope`,
    /// or `None` when no credentials were sent or the key source is down.
    pub fn error_code(&self) -> Option<&'static str> {
        match self.kind {
            ErrorKind::MissingToken
            | ErrorKind::KeyUnavailable
            | ErrorKind::RevocationUnavailable => None,
            ErrorKind::InvalidRequest => Some("invalid_request"),
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

/// Emits the debug event for a rejection (feature `tracing`): kind, alg, kid, never the token.
pub(crate) fn trace(error: AuthError, _alg: Option<Algorithm>, _kid: Option<&str>) -> AuthError {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        kind = ?error.kind(),
        alg = ?_alg,
        kid = ?_kid,
        reason = error.description(),
        "request refused"
    );
    error
}

/// A configuration the builder or a key constructor refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// No allowed algorithm was configured; they are never taken from the token.
    NoAlgorithms,
    /// An HMAC secret shorter than the hash output (RFC 7518 §3.2).
    WeakHmacSecret {
        /// The algorithm the secret was meant for.
        algorithm: Algorithm,
        /// The secret's length in bytes.
        len: usize,
        /// The least length the algorithm allows.
        min: usize,
    },
    /// An RSA key whose modulus is shorter than 2048 bits (RFC 7518 §3.3).
    WeakRsaKey {
        /// The modulus length in bits.
        bits: usize,
    },
    /// The key cannot be used with the algorithm it was bound to.
    KeyAlgorithmMismatch {
        /// The algorithm asked for.
        algorithm: Algorithm,
        /// What was wrong.
        reason: &'static str,
    },
    /// jsonwebtoken refused the key material.
    InvalidKey(jsonwebtoken::errors::Error),
    /// A JWK or JWKS document could not be used.
    InvalidJwk(String),
    /// A required claim this crate does not know.
    UnknownClaim(String),
    /// A `realm` that cannot be written in a `WWW-Authenticate` challenge: it must be
    /// printable ASCII without `"` or `\`.
    InvalidRealm(String),
    /// A required scope that is not an RFC 6749 §3.3 scope token (printable ASCII other
    /// than space, `"` and `\`, not empty).
    InvalidScope(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoAlgorithms => f.write_str("no allowed algorithm configured"),
            ConfigError::WeakHmacSecret {
                algorithm,
                len,
                min,
            } => write!(
                f,
                "{algorithm:?} secret is {len} bytes; RFC 7518 requires at least {min}"
            ),
            ConfigError::WeakRsaKey { bits } => write!(
                f,
                "RSA modulus is {bits} bits; RFC 7518 requires at least 2048"
            ),
            ConfigError::KeyAlgorithmMismatch { algorithm, reason } => {
                write!(f, "key cannot be used with {algorithm:?}: {reason}")
            }
            ConfigError::InvalidKey(_) => f.write_str("invalid key material"),
            ConfigError::InvalidJwk(why) => write!(f, "unusable JWK: {why}"),
            ConfigError::UnknownClaim(name) => write!(f, "unknown registered claim `{name}`"),
            ConfigError::InvalidRealm(realm) => {
                write!(
                    f,
                    "realm {realm:?} must be printable ASCII without '\"' or '\\'"
                )
            }
            ConfigError::InvalidScope(scope) => {
                write!(f, "scope {scope:?} is not an RFC 6749 scope token")
            }
        }
    }
}

impl StdError for ConfigError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            ConfigError::InvalidKey(e) => Some(e),
            _ => None,
        }
    }
}
