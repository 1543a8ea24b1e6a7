//! Proofs are used once (RFC 9449 §11.1): the [`ReplayStore`] trait and its bounded
//! in-memory implementation, [`MemoryReplayStore`].

use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::{BoxFuture, ready};

use crate::clock::now;
use crate::revocation::StoreError;
use crate::revocation::table::Table;

/// Where the proofs already seen are remembered, until they could no longer be accepted.
///
/// An id is opaque text of 43 base64url characters: a digest of the proof key's thumbprint
/// and the proof's `jti`, so that a client's own choice of `jti` cannot collide with another
/// client's, nor make an entry large.
///
/// # Contract
/// - [`first_use`](Self::first_use) is atomic: of two requests with the same proof, one
///   gets `true` and the other `false`, on every instance sharing the store.
/// - An id is kept at least until `until` (Unix seconds).
/// - A store that cannot hold or answer fails: the request is refused with 503, never
///   waved through.
pub trait ReplayStore: Send + Sync + 'static {
    /// Records `id` until `until`: `true` when it was not seen before, `false` for a replay.
    fn first_use(&self, id: &str, until: u64) -> BoxFuture<'static, Result<bool, StoreError>>;

    /// The answer of [`first_use`](Self::first_use) without a future, for a store in
    /// memory; `None` (the default) makes the layer await `first_use`.
    fn first_use_now(&self, id: &str, until: u64) -> Option<Result<bool, StoreError>> {
        let _ = (id, until);
        None
    }
}

impl<S: ReplayStore + ?Sized> ReplayStore for Arc<S> {
    fn first_use(&self, id: &str, until: u64) -> BoxFuture<'static, Result<bool, StoreError>> {
        (**self).first_use(id, until)
    }

    fn first_use_now(&self, id: &str, until: u64) -> Option<Result<bool, StoreError>> {
        (**self).first_use_now(id, until)
    }
}

/// Seen proofs in this process, in shards each behind its own lock, bounded: when a shard
/// is full of live entries the proof is refused (503) rather than an entry dropped, which
/// would let its proof be replayed. Entries leave when their time is up.
///
/// Enough for one instance; several instances behind a load balancer need a shared store
/// (`RedisRevocationStore` implements [`ReplayStore`] with `SET NX`), or a client's proof
/// could be replayed once per instance.
///
/// ```
/// use tower_jwt_auth::dpop::{MemoryReplayStore, ReplayStore};
/// let store = MemoryReplayStore::new(1_000);
/// let until = jsonwebtoken::get_current_timestamp() + 60;
/// assert_eq!(store.first_use_now("proof-1", until).unwrap().unwrap(), true);
/// assert_eq!(store.first_use_now("proof-1", until).unwrap().unwrap(), false);
/// ```
#[derive(Debug)]
pub struct MemoryReplayStore {
    shards: Box<[Mutex<Table<()>>]>,
    per_shard: usize,
}

const SHARDS: usize = 16;

impl MemoryReplayStore {
    /// A store holding at most about `max_entries` live proofs.
    pub fn new(max_entries: usize) -> Self {
        MemoryReplayStore {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: max_entries.div_ceil(SHARDS).max(1),
        }
    }

    /// How many proofs are remembered now (expired ones included until a write drops them).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether no proof is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn record(&self, id: &str, until: u64) -> Result<bool, StoreError> {
        let shard = id
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
        let mut table = lock(&self.shards[shard % SHARDS]);
        let now = now();
        table.drop_expired(now);
        if table.get(id, now).is_some() {
            return Ok(false);
        }
        if table.len() >= self.per_shard {
            return Err(StoreError::new(Full));
        }
        table.set(id, until, (), now);
        Ok(true)
    }
}

/// 100 000 proofs: at one proof per request and the default five-minute window either side,
/// about 160 requests per second per instance.
impl Default for MemoryReplayStore {
    fn default() -> Self {
        MemoryReplayStore::new(100_000)
    }
}

impl ReplayStore for MemoryReplayStore {
    fn first_use(&self, id: &str, until: u64) -> BoxFuture<'static, Result<bool, StoreError>> {
        Box::pin(ready(self.record(id, until)))
    }

    fn first_use_now(&self, id: &str, until: u64) -> Option<Result<bool, StoreError>> {
        Some(self.record(id, until))
    }
}

/// Each proof is one `SET NX EXAT` on the store's Redis, shared by every instance.
#[cfg(feature = "redis")]
impl ReplayStore for crate::revocation::RedisRevocationStore {
    fn first_use(&self, id: &str, until: u64) -> BoxFuture<'static, Result<bool, StoreError>> {
        self.set_once(id, until)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere cannot leave the table half-written: each write is one insert.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The replay store is full of live proofs.
#[derive(Debug)]
struct Full;

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DPoP replay store is full")
    }
}

impl std::error::Error for Full {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_is_accepted_once_then_forgotten_when_its_time_is_up() {
        let store = MemoryReplayStore::new(100);
        let now = now();
        assert!(store.record("a", now + 60).unwrap());
        assert!(!store.record("a", now + 60).unwrap());
        assert!(store.record("b", now + 60).unwrap());
        // An entry whose time has passed is dropped at the next write to its shard.
        assert!(store.record("old", now).unwrap());
        assert!(
            store.record("old", now + 60).unwrap(),
            "expired, so new again"
        );
    }

    #[test]
    fn a_full_store_refuses_instead_of_forgetting() {
        let store = MemoryReplayStore::new(SHARDS);
        let until = now() + 60;
        let accepted: Vec<String> = (0..200)
            .map(|i| format!("id{i}"))
            .filter(|id| store.record(id, until).is_ok())
            .collect();
        assert!(
            !accepted.is_empty() && accepted.len() <= SHARDS,
            "{}",
            accepted.len()
        );
        assert_eq!(store.len(), accepted.len());
        // Nothing recorded was forgotten to make room: each is still a replay.
        for id in &accepted {
            assert!(!store.record(id, until).unwrap(), "{id}");
        }
    }
}
