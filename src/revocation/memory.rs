//! An in-process revocation store, bounded in entries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::future::{BoxFuture, FutureExt, ready};

use super::{RevocationStore, StoreError};

/// Revocations in memory: for one instance, or tests. Entries are forgotten once the token
/// they revoke has expired.
///
/// Bounded: at `max_entries`, expired entries are dropped first; if it is still full, the
/// entry that would expire soonest goes. Size it above the number of tokens revoked within
/// one refresh lifetime.
///
/// ```
/// use tower_jwt_auth::revocation::{MemoryRevocationStore, RevocationStore};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = MemoryRevocationStore::new(10_000);
/// let far = jsonwebtoken::get_current_timestamp() + 3600;
/// assert!(store.revoke("jti:abc", far).await.unwrap()); // newly revoked
/// assert!(store.any_revoked(&["jti:abc"]).await.unwrap());
/// assert!(!store.any_revoked(&["jti:xyz"]).await.unwrap());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MemoryRevocationStore {
    inner: Arc<Mutex<Entries>>,
}

#[derive(Debug)]
struct Entries {
    until: HashMap<String, u64>,
    max_entries: usize,
}

impl MemoryRevocationStore {
    /// An empty store holding at most `max_entries` revocations.
    pub fn new(max_entries: usize) -> Self {
        let entries = Entries {
            until: HashMap::new(),
            max_entries: max_entries.max(1),
        };
        MemoryRevocationStore {
            inner: Arc::new(Mutex::new(entries)),
        }
    }

    /// How many revocations are held (expired ones included until they are dropped).
    pub fn len(&self) -> usize {
        self.lock().until.len()
    }

    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for MemoryRevocationStore {
    /// A store of at most 100 000 revocations.
    fn default() -> Self {
        Self::new(100_000)
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl RevocationStore for MemoryRevocationStore {
    fn revoke(&self, id: &str, expires_at: u64) -> BoxFuture<'static, Result<bool, StoreError>> {
        let now = now();
        let mut entries = self.lock();
        if entries.until.len() >= entries.max_entries && !entries.until.contains_key(id) {
            entries.until.retain(|_, until| *until > now);
        }
        if entries.until.len() >= entries.max_entries && !entries.until.contains_key(id) {
            let soonest = entries.until.iter().min_by_key(|(_, until)| **until);
            if let Some(soonest) = soonest.map(|(id, _)| id.clone()) {
                entries.until.remove(&soonest);
            }
        }
        let until = entries.until.entry(id.to_owned()).or_insert(0);
        let newly = *until <= now;
        *until = (*until).max(expires_at);
        ready(Ok(newly)).boxed()
    }

    fn any_revoked(&self, ids: &[&str]) -> BoxFuture<'static, Result<bool, StoreError>> {
        let now = now();
        let entries = self.lock();
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
        block(store.revoke("old", 1)).unwrap();
        block(store.revoke("a", now() + 100)).unwrap();
        assert!(!block(store.any_revoked(&["old"])).unwrap());
        block(store.revoke("b", now() + 100)).unwrap();
        assert_eq!(store.len(), 2);
        assert!(block(store.any_revoked(&["x", "a"])).unwrap());
        assert!(block(store.any_revoked(&["b"])).unwrap());
    }

    #[test]
    fn full_store_evicts_the_soonest_to_expire() {
        let store = MemoryRevocationStore::new(2);
        block(store.revoke("soon", now() + 10)).unwrap();
        block(store.revoke("late", now() + 1000)).unwrap();
        block(store.revoke("new", now() + 500)).unwrap();
        assert_eq!(store.len(), 2);
        assert!(!block(store.any_revoked(&["soon"])).unwrap());
        assert!(block(store.any_revoked(&["late", "new"])).unwrap());
    }

    #[test]
    fn revoking_twice_keeps_the_later_expiry_and_says_so() {
        let store = MemoryRevocationStore::new(4);
        assert!(block(store.revoke("a", now() + 1000)).unwrap());
        assert!(!block(store.revoke("a", now() - 1)).unwrap());
        assert!(block(store.any_revoked(&["a"])).unwrap());
    }
}
