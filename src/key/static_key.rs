//! One key for every token.

use std::future::{Ready, ready};
use std::sync::Arc;

use jsonwebtoken::Algorithm;

use super::{KeyError, KeyResolver, VerificationKey};
use crate::error::ConfigError;
use crate::header::TokenHeader;

/// A resolver with one key, bound to one algorithm. The token's `kid` is not consulted.
///
/// Resolving is an `Arc` clone in a ready future: no allocation, no boxing.
///
/// ```
/// use tower_jwt_auth::{Algorithm, StaticKey};
/// let key = StaticKey::hmac(Algorithm::HS256, b"a secret of at least thirty-two bytes")?;
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct StaticKey {
    key: Arc<VerificationKey>,
}

impl StaticKey {
    /// Wraps a key.
    pub fn new(key: VerificationKey) -> Self {
        StaticKey { key: Arc::new(key) }
    }

    /// An HMAC secret; see [`VerificationKey::hmac`].
    pub fn hmac(algorithm: Algorithm, secret: &[u8]) -> Result<Self, ConfigError> {
        VerificationKey::hmac(algorithm, secret).map(Self::new)
    }

    /// A PEM public key; see [`VerificationKey::from_pem`].
    pub fn from_pem(algorithm: Algorithm, pem: &[u8]) -> Result<Self, ConfigError> {
        VerificationKey::from_pem(algorithm, pem).map(Self::new)
    }

    /// The key.
    pub fn key(&self) -> &VerificationKey {
        &self.key
    }
}

impl KeyResolver for StaticKey {
    type Future = Ready<Result<Arc<VerificationKey>, KeyError>>;

    fn resolve(&self, _header: &TokenHeader<'_>) -> Self::Future {
        ready(Ok(Arc::clone(&self.key)))
    }

    fn is_current(&self, _header: &TokenHeader<'_>, key: &Arc<VerificationKey>) -> bool {
        Arc::ptr_eq(&self.key, key)
    }
}
