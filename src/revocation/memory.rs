//! An in-process revocation store, bounded in entries, that never forgets a live revocation.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use futures_util::future::{BoxFuture, FutureExt, ready};

use super::{RevocationStore, StoreError};
use crate::clock::now;

/// Revocations in memory: for one instance, or tests. An entry is forgotten once the
/// moment it was recorded for (`expires_at`) has passed, never before.
///
/// Bounded, and failing closed: when `max_entries` live revocations are held, a new
/// [`revoke`](RevocationStore::revoke) fails with a [`StoreError`] (the refresh or logout
/// that asked answers 503) instead of dropping a revocation that is still needed, which
/// would bring a stolen token or a revoked session back to life. Size it above the number
/// of tokens and sessions revoked within one refresh lifetime plus leeway: each rotation
/// of a refresh token and each logout holds one entry for that long (about 100 bytes plus
/// the id).
///
/// Checks take a shared read lock, so concurrent requests do not wait on each other;
/// expired entries are dropped a few at a time by the writes, from an index ordered by
/// expiry, never by a scan of the whole store.
///
/// ```
/// use tower_jwt_auth::revocation::{MemoryRevocationStore, RevocationStore};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = MemoryRevocationStore::new(1);
/// let far = jsonwebtoken::get_current_timestamp() + 3600;
/// assert!(store.revoke("jti:abc", far).await.unwrap()); // newly revoked
/// assert!(store.any_revoked(&["jti:abc"]).await.unwrap());
/// assert!(!store.any_revoked(&["jti:xyz"]).await.unwrap());
/// // Full of live revocations: the next one is refused, the first one stays.
/// assert!(store.revoke("jti:xyz", far).await.is_err());
/// assert!(store.any_revoked(&["jti:abc"]).await.unwrap());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MemoryRevocationStore {
    inner: Arc<RwLock<Entries>>,
}

#[derive(Debug)]
struct Entries {
    /// Each revoked id and the Unix second until which it stays revoked.
    until: HashMap<Arc<str>, u64>,
    /// The same entries ordered by expiry, so expired ones are found without a scan.
    by_expiry: BTreeSet<(u64, Arc<str>)>,
    max_entries: usize,
}

impl Entries {
    /// Drops every entry whose time has passed: each costs one step, and only the
    /// expired ones are visited.
    fn drop_expired(&mut self, now: u64) {
        while let Some((until, _)) = self.by_expiry.first()
            && *until <= now
        {
            if let Some((_, id)) = self.by_expiry.pop_first() {
                self.until.remove(&id);
            }
        }
    }
}

impl MemoryRevocationStore {
    /// An empty store holding at most `max_entries` live revocations.
    pub fn new(max_entries: usize) -> Self {
        let entries = Entries {
            until: HashMap::new(),
            by_expiry: BTreeSet::new(),
            max_entries: max_entries.max(1),
        };
        MemoryRevocationStore {
            inner: Arc::new(RwLock::new(entries)),
        }
    }

    /// How many revocations are held (expired ones included until a write drops them).
    pub fn len(&self) -> usize {
        self.read().until.len()
    }

    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> RwLockReadGuard<'_, Entries> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Entries> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn revoke_now(&self, id: &str, expires_at: u64, now: u64) -> Result<bool, StoreError> {
        if expires_at <= now {
            // Nothing to remember: the token is refused as expired already.
            return Ok(true);
        }
        let mut entries = self.write();
        entries.drop_expired(now);
        if let Some((key, until)) = entries.until.get_key_value(id) {
            let (key, until) = (Arc::clone(key), *until);
            if expires_at > until {
                entries.by_expiry.remove(&(until, Arc::clone(&key)));
                entries.by_expiry.insert((expires_at, Arc::clone(&key)));
                entries.until.insert(key, expires_at);
            }
            return Ok(false);
        }
        if entries.until.len() >= entries.max_entries {
            let full = StoreFull {
                max_entries: entries.max_entries,
            };
            #[cfg(feature = "tracing")]
            tracing::warn!(
                max_entries = full.max_entries,
                "revocation store full of live revocations: refusing a new one (fail closed)"
            );
            return Err(StoreError::new(full));
        }
        let key: Arc<str> = id.into();
        entries.by_expiry.insert((expires_at, Arc::clone(&key)));
        entries.until.insert(key, expires_at);
        Ok(true)
    }
}

impl Default for MemoryRevocationStore {
    /// A store of at most 100 000 live revocations.
    fn default() -> Self {
        Self::new(100_000)
    }
}

/// A new revocation did not fit beside the live ones.
#[derive(Debug)]
struct StoreFull {
    max_entries: usize,
}

impl fmt::Display for StoreFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memory store holds {} live revocations, its limit",
            self.max_entries
        )
    }
}

impl std::error::Error for StoreFull {}

impl RevocationStore for MemoryRevocationStore {
    fn revoke(&self, id: &str, expires_at: u64) -> BoxFuture<'static, Result<bool, StoreError>> {
        ready(self.revoke_now(id, expires_at, now())).boxed()
    }

    fn any_revoked(&self, ids: &[&str]) -> BoxFuture<'static, Result<bool, StoreError>> {
        let now = now();
        let entries = self.read();
        let revoked = ids
            .iter()
            .any(|id| entries.until.get(*id).is_some_and(|until| *until > now));
        ready(Ok(revoked)).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<T>(f: BoxFuture<'static, T>) -> T {
        f.now_or_never().expect("the memory store answers at once")
    }

    #[test]
    fn expired_entries_do_not_count_and_make_room() {
        let store = MemoryRevocationStore::new(2);
        let t = now();
        store.revoke_now("old", t - 9, t - 10).unwrap();
        store.revoke_now("a", t + 100, t - 10).unwrap();
        // Now "old" has expired: the next write drops it and "b" fits.
        assert!(store.revoke_now("b", t + 100, t).unwrap());
        assert_eq!(store.len(), 2);
        assert!(block(store.any_revoked(&["x", "a"])).unwrap());
        assert!(!block(store.any_revoked(&["old"])).unwrap());
    }

    #[test]
    fn full_store_refuses_new_revocations_and_keeps_the_live_ones() {
        let store = MemoryRevocationStore::new(2);
        let far = now() + 1000;
        assert!(block(store.revoke("soon", now() + 10)).unwrap());
        assert!(block(store.revoke("late", far)).unwrap());
        let error = block(store.revoke("new", far)).unwrap_err();
        assert!(error.to_string().contains("2 live revocations"), "{error}");
        assert_eq!(store.len(), 2);
        assert!(block(store.any_revoked(&["soon"])).unwrap());
        assert!(block(store.any_revoked(&["late"])).unwrap());
        assert!(!block(store.any_revoked(&["new"])).unwrap());
        // An id already held is no new entry: re-revoking it still answers.
        assert!(!block(store.revoke("late", far)).unwrap());
    }

    #[test]
    fn revoking_twice_keeps_the_later_expiry_and_says_so() {
        let store = MemoryRevocationStore::new(4);
        assert!(store.revoke_now("a", 300, 100).unwrap());
        assert!(!store.revoke_now("a", 200, 100).unwrap());
        assert!(!store.revoke_now("a", 500, 100).unwrap());
        // Extended to 500: still held at 400, when 300 would have let it go.
        store.revoke_now("b", 401, 400).unwrap();
        assert_eq!(store.len(), 2);
        let entries = store.read();
        assert_eq!(entries.until.get("a"), Some(&500));
        assert_eq!(entries.by_expiry.len(), 2, "one index entry per id");
    }

    #[test]
    fn already_expired_revocations_take_no_room() {
        let store = MemoryRevocationStore::new(1);
        assert!(store.revoke_now("past", 100, 100).unwrap());
        assert!(store.is_empty());
    }

    #[test]
    fn dropping_expired_entries_visits_only_those() {
        let store = MemoryRevocationStore::new(1000);
        for i in 0..1000u64 {
            store.revoke_now(&format!("id{i}"), 200 + i, 100).unwrap();
        }
        // At 700, the 500 entries with until <= 700 go; the rest stay in expiry order.
        store.revoke_now("id0", 2000, 700).unwrap();
        let entries = store.read();
        assert_eq!(entries.until.len(), 500);
        assert_eq!(entries.by_expiry.len(), 500);
        assert_eq!(entries.by_expiry.first().map(|(t, _)| *t), Some(701));
    }
}
