//! An instance's local view of the revocations in Redis: what a request checks, with no
//! round trip, and how recently it was known complete.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::revocation::table::Table;

/// Revoked ids as Redis holds them, plus the moment up to which this copy is known to have
/// every revocation made (the load after a (re)connect, then each heartbeat that came back
/// over the subscription).
#[derive(Debug)]
pub(super) struct View {
    revoked: RwLock<Table<()>>,
    /// Unix milliseconds; 0 until the first load.
    complete_at_ms: AtomicU64,
    max_staleness_ms: u64,
}

/// The view has not been confirmed for longer than the staleness bound allows.
#[derive(Debug)]
pub(super) struct Stale {
    pub(super) for_ms: u64,
}

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.for_ms == u64::MAX {
            f.write_str("the local view of Redis revocations was never loaded")
        } else {
            write!(
                f,
                "the local view of Redis revocations is {} ms behind, past its bound",
                self.for_ms
            )
        }
    }
}

impl std::error::Error for Stale {}

/// Now in Unix milliseconds.
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl View {
    pub(super) fn new(max_staleness: Duration) -> Self {
        View {
            revoked: RwLock::new(Table::default()),
            complete_at_ms: AtomicU64::new(0),
            max_staleness_ms: u64::try_from(max_staleness.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Whether any of `ids` is revoked, if the view is recent enough to say.
    pub(super) fn any_revoked(&self, ids: &[&str], now_ms: u64) -> Result<bool, Stale> {
        let complete_at = self.complete_at_ms.load(Ordering::Acquire);
        if complete_at == 0 {
            return Err(Stale { for_ms: u64::MAX });
        }
        let behind = now_ms.saturating_sub(complete_at);
        if behind > self.max_staleness_ms {
            return Err(Stale { for_ms: behind });
        }
        let revoked = self.revoked.read().unwrap_or_else(PoisonError::into_inner);
        Ok(revoked.any_alive(ids, now_ms / 1000))
    }

    /// Adds a revocation (the later expiry wins if it is there already).
    pub(super) fn insert(&self, id: &str, until: u64, now: u64) {
        if until <= now {
            return;
        }
        let mut revoked = self.revoked.write().unwrap_or_else(PoisonError::into_inner);
        revoked.drop_expired(now);
        revoked.extend(id, until, (), now);
    }

    /// The view holds every revocation made before `at_ms`. A moment after `now_ms` is
    /// taken as `now_ms`: a heartbeat forged with a future time (by anyone who can publish
    /// on the channel) must not keep the view open once Redis goes silent.
    pub(super) fn complete_at(&self, at_ms: u64, now_ms: u64) {
        self.complete_at_ms
            .fetch_max(at_ms.min(now_ms), Ordering::AcqRel);
    }

    /// How many revocations the view holds.
    pub(super) fn len(&self) -> usize {
        self.revoked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_never_loaded_or_past_its_bound_cannot_answer() {
        let view = View::new(Duration::from_secs(10));
        assert!(view.any_revoked(&["sid:a"], 50_000).is_err());
        view.complete_at(40_000, 40_000);
        view.insert("sid:a", 100, 40);
        assert!(view.any_revoked(&["sid:a"], 50_000).unwrap());
        assert!(!view.any_revoked(&["sid:b"], 50_000).unwrap());
        let stale = view.any_revoked(&["sid:b"], 50_001).unwrap_err();
        assert_eq!(stale.for_ms, 10_001);
        // Confirmation only moves forward.
        view.complete_at(30_000, 50_001);
        assert!(view.any_revoked(&["sid:b"], 50_001).is_err());
        view.complete_at(45_000, 50_001);
        assert!(view.any_revoked(&["sid:b"], 50_001).is_ok());
    }

    #[test]
    fn a_heartbeat_from_the_future_counts_as_now() {
        let view = View::new(Duration::from_secs(10));
        view.complete_at(u64::MAX, 1_000_000);
        assert!(view.any_revoked(&["sid:a"], 1_010_000).is_ok());
        assert!(view.any_revoked(&["sid:a"], 1_010_001).is_err());
    }

    #[test]
    fn revocations_lapse_with_their_second() {
        let view = View::new(Duration::from_secs(10));
        view.complete_at(99_000, 99_000);
        view.insert("jti:x", 100, 90);
        view.insert("jti:past", 90, 95);
        assert_eq!(view.len(), 1);
        assert!(view.any_revoked(&["jti:x"], 99_999).unwrap());
        assert!(!view.any_revoked(&["jti:x"], 100_000).unwrap());
    }
}
