//! Revoked tokens and sessions: the [`RevocationStore`] trait and [`MemoryRevocationStore`].
//!
//! A `issue::TokenIssuer` writes to the store (logout, refresh-token
//! rotation, reuse detection); a layer given the same store through
//! [`JwtAuthBuilder::revocation_store`](crate::JwtAuthBuilder::revocation_store) refuses a
//! token whose `jti` or `sid` is in it, before the token expires.

mod memory;

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;

pub use memory::MemoryRevocationStore;

/// Where revocations are kept, shared by the issuer and every validating layer.
///
/// Ids are opaque strings (this crate stores `jti:<jti>` and `sid:<sid>`). With several
/// instances behind a load balancer, implement it over a shared database or cache.
///
/// # Contract
///
/// - `expires_at` (Unix seconds) is the last moment any validator could still accept the
///   token: its `exp` plus the largest leeway in play, which is what
///   `issue::TokenIssuer` passes. A revocation is in force while
///   `now < expires_at`, and must be kept at least that long.
/// - A live revocation is never dropped to make room: a store that cannot hold another
///   one fails the `revoke` (fail closed; the caller answers 503).
/// - A store that cannot answer returns an error, never "not revoked": the layer then
///   answers 503.
pub trait RevocationStore: Send + Sync + 'static {
    /// Records `id` as revoked until `expires_at`, atomically: `true` when this call
    /// revoked it, `false` when it already was (a refresh token presented twice). Revoking
    /// an id again keeps the later of the two expiries.
    fn revoke(&self, id: &str, expires_at: u64) -> BoxFuture<'static, Result<bool, StoreError>>;

    /// Whether any of `ids` is revoked now.
    fn any_revoked(&self, ids: &[&str]) -> BoxFuture<'static, Result<bool, StoreError>>;
}

impl<S: RevocationStore + ?Sized> RevocationStore for Arc<S> {
    fn revoke(&self, id: &str, expires_at: u64) -> BoxFuture<'static, Result<bool, StoreError>> {
        (**self).revoke(id, expires_at)
    }

    fn any_revoked(&self, ids: &[&str]) -> BoxFuture<'static, Result<bool, StoreError>> {
        (**self).any_revoked(ids)
    }
}

/// The store could not be reached or refused the operation.
#[derive(Debug, Clone)]
pub struct StoreError {
    source: Arc<dyn StdError + Send + Sync>,
}

impl StoreError {
    /// Wraps the underlying error.
    pub fn new(source: impl StdError + Send + Sync + 'static) -> Self {
        StoreError {
            source: Arc::new(source),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "revocation store failed: {}", self.source)
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// The store ids of a token: its `jti` and its session's `sid`.
pub(crate) fn ids(jti: Option<&str>, sid: Option<&str>) -> (Option<String>, Option<String>) {
    (
        jti.map(|j| format!("jti:{j}")),
        sid.map(|s| format!("sid:{s}")),
    )
}
