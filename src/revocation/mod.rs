//! Revoked tokens and sessions: the [`RevocationStore`] trait, [`MemoryRevocationStore`]
//! and (feature `redis`) `RedisRevocationStore`.
//!
//! A `issue::TokenIssuer` writes to the store (logout, blacklist, refresh-token rotation,
//! reuse detection); a layer given the same store through
//! [`JwtAuthBuilder::revocation_store`](crate::JwtAuthBuilder::revocation_store) refuses a
//! token whose `jti` or `sid` is in it, before the token expires.
//!
//! Sessions are families: each login (`sid`) has one entry holding its current refresh
//! token, advanced by compare-and-set at every refresh. Storage grows with live sessions
//! and explicit revocations, never with the number of refreshes.

mod memory;
#[cfg(feature = "redis")]
pub mod redis;
pub(crate) mod table;

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;

pub use memory::MemoryRevocationStore;
#[cfg(feature = "redis")]
pub use redis::RedisRevocationStore;

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
/// - [`rotate`](Self::rotate) is one atomic compare-and-set per session: of two refreshes
///   racing with the same token, one rotates and the other is reuse.
pub trait RevocationStore: Send + Sync + 'static {
    /// Records `id` as revoked until `expires_at`, atomically: `true` when this call
    /// revoked it, `false` when it already was (a refresh token presented twice). Revoking
    /// an id again keeps the later of the two expiries.
    fn revoke(&self, id: &str, expires_at: u64) -> BoxFuture<'static, Result<bool, StoreError>>;

    /// Whether any of `ids` is revoked now. This is the per-request check: implement it
    /// as a local lookup where you can.
    fn any_revoked(&self, ids: &[&str]) -> BoxFuture<'static, Result<bool, StoreError>>;

    /// The answer of [`any_revoked`](Self::any_revoked) without a future, for a store that
    /// answers from memory: the layer asks it first on every request and, on `None` (the
    /// default), awaits `any_revoked`. Both stores of this crate answer here.
    fn revoked_now(&self, ids: &[&str]) -> Option<Result<bool, StoreError>> {
        let _ = ids;
        None
    }

    /// Advances session `sid` from refresh token `presented` (its `jti`) to `next`, kept
    /// until `expires_at` (the new token's `exp` plus leeway: every older token of the
    /// session expires before it). A session with no entry has never been refreshed, so
    /// whatever it presents is its login's token and rotates. A `presented` that is not
    /// the current one is [`Rotation::Reused`]: the entry is marked so that the current
    /// token is refused too, and the caller revokes the session.
    fn rotate(
        &self,
        sid: &str,
        presented: &str,
        next: &str,
        expires_at: u64,
    ) -> BoxFuture<'static, Result<Rotation, StoreError>>;

    /// Closes session `sid` to refreshes until `expires_at` (logout, a blacklisted refresh
    /// token): every later [`rotate`](Self::rotate) of it is [`Rotation::Reused`]. Atomic
    /// with respect to `rotate`, so that a refresh racing with the revocation on another
    /// instance, before that instance has heard of it, cannot rotate past it.
    fn close_session(
        &self,
        sid: &str,
        expires_at: u64,
    ) -> BoxFuture<'static, Result<(), StoreError>>;
}

/// What [`RevocationStore::rotate`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rotation {
    /// The presented refresh token was the session's current one; the next one is now.
    Rotated,
    /// The presented refresh token was rotated before: someone holds a copy. The whole
    /// session is to be revoked.
    Reused,
}

/// The value a session entry holds once reuse was seen: no `jti` (base64url) equals it.
pub(crate) const REUSED: &str = "!reused";

impl<S: RevocationStore + ?Sized> RevocationStore for Arc<S> {
    fn revoke(&self, id: &str, expires_at: u64) -> BoxFuture<'static, Result<bool, StoreError>> {
        (**self).revoke(id, expires_at)
    }

    fn any_revoked(&self, ids: &[&str]) -> BoxFuture<'static, Result<bool, StoreError>> {
        (**self).any_revoked(ids)
    }

    fn revoked_now(&self, ids: &[&str]) -> Option<Result<bool, StoreError>> {
        (**self).revoked_now(ids)
    }

    fn rotate(
        &self,
        sid: &str,
        presented: &str,
        next: &str,
        expires_at: u64,
    ) -> BoxFuture<'static, Result<Rotation, StoreError>> {
        (**self).rotate(sid, presented, next, expires_at)
    }

    fn close_session(
        &self,
        sid: &str,
        expires_at: u64,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        (**self).close_session(sid, expires_at)
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

/// Calls `f` with the store ids of a token (`jti:<jti>`, `sid:<sid>`, those it has), built
/// on the stack when they are short, as the issuer's are: the per-request check allocates
/// nothing for them.
pub(crate) fn with_ids<R>(jti: Option<&str>, sid: Option<&str>, f: impl FnOnce(&[&str]) -> R) -> R {
    let (mut jti_buf, mut sid_buf) = ([0u8; 64], [0u8; 64]);
    let jti = jti.map(|jti| prefixed("jti:", jti, &mut jti_buf));
    let sid = sid.map(|sid| prefixed("sid:", sid, &mut sid_buf));
    match (&jti, &sid) {
        (Some(jti), Some(sid)) => f(&[jti, sid]),
        (Some(one), None) | (None, Some(one)) => f(&[one]),
        (None, None) => f(&[]),
    }
}

/// `prefix` then `id`, in `buf` when it fits.
fn prefixed<'b>(prefix: &str, id: &str, buf: &'b mut [u8; 64]) -> Cow<'b, str> {
    let len = prefix.len() + id.len();
    if len <= buf.len() {
        buf[..prefix.len()].copy_from_slice(prefix.as_bytes());
        buf[prefix.len()..len].copy_from_slice(id.as_bytes());
        // Two UTF-8 strings end to end are UTF-8: the error arm is never taken.
        if let Ok(joined) = std::str::from_utf8(&buf[..len]) {
            return Cow::Borrowed(joined);
        }
    }
    Cow::Owned(format!("{prefix}{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_short_or_long() {
        with_ids(Some("j1"), Some("s1"), |ids| {
            assert_eq!(ids, ["jti:j1", "sid:s1"])
        });
        with_ids(None, Some("s1"), |ids| assert_eq!(ids, ["sid:s1"]));
        with_ids(Some("j1"), None, |ids| assert_eq!(ids, ["jti:j1"]));
        with_ids(None, None, |ids| assert!(ids.is_empty()));
        let long = "é".repeat(40);
        with_ids(Some(&long), None, |ids| {
            assert_eq!(ids, [format!("jti:{long}")])
        });
        let fits = "x".repeat(60);
        with_ids(None, Some(&fits), |ids| {
            assert_eq!(ids, [format!("sid:{fits}")])
        });
    }
}
