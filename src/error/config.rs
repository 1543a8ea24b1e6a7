//! [`ConfigError`]: a configuration the builder or a key constructor refused.

use std::error::Error as StdError;
use std::fmt;

use jsonwebtoken::Algorithm;

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
    /// A resource URL (RFC 9728 `resource`, the base DPoP's `htu` is checked against) that
    /// is not an absolute `http` or `https` URL without query, fragment or userinfo.
    InvalidResource(String),
    /// A DPoP proof algorithm that is not asymmetric: proofs are signed with the client's
    /// private key, never a shared secret (RFC 9449 §4.2).
    SymmetricDpopAlgorithm(Algorithm),
    /// A URL in the resource metadata (an authorization server) that is not absolute
    /// `http` or `https`, or a metadata value that is not printable ASCII.
    InvalidMetadata(String),
    /// A roles claim path with an empty segment (`realm_access..roles`, `""`).
    InvalidClaimPath(String),
    /// An introspection endpoint (RFC 7662) that is not an absolute `https` URL without
    /// credentials or fragment, a client credential that cannot be sent, or an HTTP
    /// client that could not be made. Never shows a secret.
    InvalidIntrospection(String),
    /// A trusted proxy that is neither an IP address nor a network (`10.0.0.0/8`).
    InvalidProxy(String),
    /// [`TrustedProxies`](crate::TrustedProxies) given no proxy at all.
    NoTrustedProxies,
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
            ConfigError::NoTrustedProxies => {
                f.write_str("trusted proxies: at least one address or network is needed")
            }
            ConfigError::InvalidProxy(entry) => write!(
                f,
                "trusted proxy {entry:?} is neither an IP address nor a network such as 10.0.0.0/8"
            ),
            ConfigError::InvalidResource(url) => write!(
                f,
                "resource {url:?} must be an absolute http(s) URL without query or fragment"
            ),
            ConfigError::SymmetricDpopAlgorithm(alg) => {
                write!(f, "{alg:?} cannot sign DPoP proofs: it is not asymmetric")
            }
            ConfigError::InvalidMetadata(value) => {
                write!(f, "resource metadata value {value:?} is not usable")
            }
            ConfigError::InvalidClaimPath(path) => {
                write!(f, "claim path {path:?} has an empty segment")
            }
            ConfigError::InvalidIntrospection(why) => {
                write!(f, "unusable introspection configuration: {why}")
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
