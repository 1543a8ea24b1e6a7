//! An in-process revocation store, bounded in entries, that never forgets a live revocation.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use futures_util::future::{BoxFuture, FutureExt, ready};

use super::table::Table;
use super::{REUSED, RevocationStore, Rotation, StoreError};
use crate::clock::now;

/// Revocations and session families in memory: for one instance, or tests. An entry is
/// forgotten once the moment it was recorded for (`expires_at`) has passed, never before.
///
/// Bounded, and failing closed: when `max_entries` live entries are held (revoked tokens
/// and sessions, plus one per session that has refreshed), a new one fails with a
/// [`StoreError`] (the refresh or logout that asked answers 503) instead of dropping one
/// that is still needed, which would bring a stolen token or a revoked session back to
/// life. Size it above the number of sessions refreshed within one refresh lifetime plus
/// the tokens and sessions revoked in that time (about 100 bytes plus the id each); a
/// session's refreshes reuse its one entry.
///
/// Checks take a shared read lock, so concurrent requests do not wait on each other;
/// expired entries are dropped a few at a time by the writes, from an index ordered by
/// expiry, never by a scan of the whole store.
///
/// ```
/// use tower_jwt_auth::revocation::{MemoryRevocationStore, RevocationStore, Rotation};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = MemoryRevocationStore::new(2);
/// let far = jsonwebtoken::get_current_timestamp() + 3600;
/// assert!(store.revoke("jti:abc", far).await.unwrap()); // newly revoked
/// assert!(store.any_revoked(&["jti:abc"]).await.unwrap());
/// assert!(!store.any_revoked(&["jti:xyz"]).await.unwrap());
/// // Session s1 refreshes r0 → r1, then someone presents r0 again: reuse.
/// assert_eq!(store.rotate("s1", "r0", "r1", far).await.unwrap(), Rotation::Rotated);
/// assert_eq!(store.rotate("s1", "r0", "r2", far).await.unwrap(), Rotation::Reused);
/// // Full of live entries: the next one is refused, the others stay.
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
    /// Revoked ids (`jti:…`, `sid:…`).
    revoked: Table<()>,
    /// Each session's current refresh `jti` (or [`REUSED`]).
    families: Table<Box<str>>,
    max_entries: usize,
}

impl Entries {
    fn drop_expired(&mut self, now: u64) {
        self.revoked.drop_expired(now);
        self.families.drop_expired(now);
    }

    /// Fails closed when a new entry would not fit beside the live ones.
    fn make_room(&self) -> Result<(), StoreError> {
        if self.revoked.len() + self.families.len() < self.max_entries {
            return Ok(());
        }
        let full = StoreFull {
            max_entries: self.max_entries,
        };
        #[cfg(feature = "tracing")]
        tracing::warn!(
            max_entries = full.max_entries,
            "revocation store full of live entries: refusing a new one (fail closed)"
        );
        Err(StoreError::new(full))
    }
}

impl MemoryRevocationStore {
    /// An empty store holding at most `max_entries` live entries.
    pub fn new(max_entries: usize) -> Self {
        let entries = Entries {
            revoked: Table::default(),
            families: Table::default(),
            max_entries: max_entries.max(1),
        };
        MemoryRevocationStore {
            inner: Arc::new(RwLock::new(entries)),
        }
    }

    /// How many entries are held, revocations and sessions (expired ones included until a
    /// write drops them).
    pub fn len(&self) -> usize {
        let entries = self.read();
        entries.revoked.len() + entries.families.len()
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

    fn is_revoked(&self, ids: &[&str]) -> bool {
        self.read().revoked.any_alive(ids, now())
    }

    fn revoke_now(&self, id: &str, expires_at: u64, now: u64) -> Result<bool, StoreError> {
        if expires_at <= now {
            // Nothing to remember: the token is refused as expired already.
            return Ok(true);
        }
        let mut entries = self.write();
        entries.drop_expired(now);
        if entries.revoked.get(id, now).is_none() {
            entries.make_room()?;
        }
        Ok(!entries.revoked.extend(id, expires_at, (), now))
    }

    fn rotate_now(
        &self,
        sid: &str,
        presented: &str,
        next: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<Rotation, StoreError> {
        let mut entries = self.write();
        entries.drop_expired(now);
        match entries.families.get(sid, now) {
            Some(current) if **current == *presented => {}
            Some(_) => {
                let until = expires_at.max(now + 1);
                entries.families.extend(sid, until, REUSED.into(), now);
                return Ok(Rotation::Reused);
            }
            None => entries.make_room()?,
        }
        entries.families.extend(sid, expires_at, next.into(), now);
        Ok(Rotation::Rotated)
    }

    fn close_now(&self, sid: &str, expires_at: u64, now: u64) -> Result<(), StoreError> {
        if expires_at <= now {
            return Ok(());
        }
        let mut entries = self.write();
        entries.drop_expired(now);
        if entries.families.get(sid, now).is_none() {
            entries.make_room()?;
        }
        entries.families.extend(sid, expires_at, REUSED.into(), now);
        Ok(())
    }
}

impl Default for MemoryRevocationStore {
    /// A store of at most 100 000 live entries.
    fn default() -> Self {
        Self::new(100_000)
    }
}

/// A new entry did not fit beside the live ones.
#[derive(Debug)]
struct StoreFull {
    max_entries: usize,
}

impl fmt::Display for StoreFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memory store holds {} live entries, its limit",
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
        ready(Ok(self.is_revoked(ids))).boxed()
    }

    fn revoked_now(&self, ids: &[&str]) -> Option<Result<bool, StoreError>> {
        Some(Ok(self.is_revoked(ids)))
    }

    fn rotate(
        &self,
        sid: &str,
        presented: &str,
        next: &str,
        expires_at: u64,
    ) -> BoxFuture<'static, Result<Rotation, StoreError>> {
        ready(self.rotate_now(sid, presented, next, expires_at, now())).boxed()
    }

    fn close_session(
        &self,
        sid: &str,
        expires_at: u64,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        ready(self.close_now(sid, expires_at, now())).boxed()
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
    fn full_store_refuses_new_entries_and_keeps_the_live_ones() {
        let store = MemoryRevocationStore::new(3);
        let far = now() + 1000;
        assert!(block(store.revoke("soon", now() + 10)).unwrap());
        assert!(block(store.revoke("late", far)).unwrap());
        assert_eq!(
            block(store.rotate("s", "r0", "r1", far)).unwrap(),
            Rotation::Rotated
        );
        let error = block(store.revoke("new", far)).unwrap_err();
        assert!(error.to_string().contains("3 live entries"), "{error}");
        // A new session does not fit either; the one held still rotates.
        assert!(block(store.rotate("t", "r0", "r1", far)).is_err());
        assert_eq!(
            block(store.rotate("s", "r1", "r2", far)).unwrap(),
            Rotation::Rotated
        );
        assert_eq!(store.len(), 3);
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
        store.revoke_now("b", 401, 400).unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(store.read().revoked.until("a"), Some(500));
    }

    #[test]
    fn already_expired_revocations_take_no_room() {
        let store = MemoryRevocationStore::new(1);
        assert!(store.revoke_now("past", 100, 100).unwrap());
        assert!(store.is_empty());
    }

    #[test]
    fn a_session_keeps_one_entry_however_often_it_refreshes() {
        let store = MemoryRevocationStore::new(10);
        let mut current = "r0".to_owned();
        for i in 1..=300u64 {
            let next = format!("r{i}");
            let rotated = store.rotate_now("s", &current, &next, 1000 + i, 100 + i);
            assert_eq!(rotated.unwrap(), Rotation::Rotated);
            current = next;
        }
        assert_eq!(store.len(), 1);
        assert_eq!(store.read().families.until("s"), Some(1300));
    }

    #[test]
    fn an_older_token_is_reuse_and_poisons_the_current_one() {
        let store = MemoryRevocationStore::new(10);
        assert_eq!(
            store.rotate_now("s", "r0", "r1", 900, 100).unwrap(),
            Rotation::Rotated
        );
        assert_eq!(
            store.rotate_now("s", "r1", "r2", 950, 110).unwrap(),
            Rotation::Rotated
        );
        // r0 again: reuse, and from now on the current r2 is refused as well.
        assert_eq!(
            store.rotate_now("s", "r0", "x", 990, 120).unwrap(),
            Rotation::Reused
        );
        assert_eq!(
            store.rotate_now("s", "r2", "r3", 999, 130).unwrap(),
            Rotation::Reused
        );
        // The mark lasts at least as long as the newest token could.
        assert_eq!(store.read().families.until("s"), Some(999));
        // Another session is untouched.
        assert_eq!(
            store.rotate_now("t", "q0", "q1", 900, 130).unwrap(),
            Rotation::Rotated
        );
    }

    #[test]
    fn a_closed_session_cannot_rotate() {
        let store = MemoryRevocationStore::new(10);
        store.close_now("s", 900, 100).unwrap();
        assert_eq!(
            store.rotate_now("s", "r0", "r1", 800, 110).unwrap(),
            Rotation::Reused
        );
        // A rotation never shortens the entry, nor does closing it.
        store.rotate_now("t", "q0", "q1", 900, 100).unwrap();
        store.close_now("t", 500, 120).unwrap();
        assert_eq!(store.read().families.until("t"), Some(900));
        assert_eq!(
            store.rotate_now("t", "q1", "q2", 950, 130).unwrap(),
            Rotation::Reused
        );
    }

    #[test]
    fn a_session_entry_lapses_with_its_newest_token() {
        let store = MemoryRevocationStore::new(10);
        store.rotate_now("s", "r0", "r1", 200, 100).unwrap();
        // At 200 every token of the session has expired: the entry goes with them.
        store.revoke_now("other", 900, 200).unwrap();
        assert_eq!(store.len(), 1);
    }
}
