//! An instance's local view of the revocations in Redis: what a request checks, with no
//! round trip, and how recently it was known complete.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::revocation::table::Table;

/// Revoked ids as Redis holds them, plus the moment up to which this copy is known to have
/// every revocation made (the load after a (re)connect, then each heartbeat of ours heard
/// back over the subscription).
///
/// That moment is kept twice. On the wall clock, which every request reads anyway (for the
/// revocations' expiry), so a request past the bound fails at once. On the monotonic
/// clock, which the subscription task checks at every heartbeat to close the view: a wall
/// clock stepped back cannot keep a silent view open longer than one heartbeat past the
/// bound.
#[derive(Debug)]
pub(super) struct View {
    revoked: RwLock<Table<()>>,
    /// Unix milliseconds; 0 until the first load.
    complete_at_ms: AtomicU64,
    /// Milliseconds since `epoch`.
    complete_at_mono: AtomicU64,
    /// Whether the task found the view within the bound at its last look.
    open: AtomicBool,
    epoch: Instant,
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
            f.write_str("the local view of Redis revocations is not loaded")
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
            complete_at_mono: AtomicU64::new(0),
            open: AtomicBool::new(false),
            epoch: Instant::now(),
            max_staleness_ms: u64::try_from(max_staleness.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Milliseconds on the monotonic clock: what heartbeats carry.
    pub(super) fn mono_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether any of `ids` is revoked, if the view is recent enough to say.
    pub(super) fn any_revoked(&self, ids: &[&str], now_ms: u64) -> Result<bool, Stale> {
        let complete_at = self.complete_at_ms.load(Ordering::Acquire);
        if complete_at == 0 || !self.open.load(Ordering::Acquire) {
            let for_ms = if complete_at == 0 {
                u64::MAX
            } else {
                now_ms.saturating_sub(complete_at)
            };
            return Err(Stale { for_ms });
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

    /// The view holds every revocation made before the monotonic moment `at_mono`. A moment
    /// in the future (a heartbeat forged by anyone who can publish on the channel) counts
    /// as now, so it cannot keep the view open once Redis goes silent.
    pub(super) fn complete_at(&self, at_mono: u64) {
        let now_mono = self.mono_ms();
        let at_mono = at_mono.min(now_mono);
        let age = now_mono - at_mono;
        self.complete_at_mono.fetch_max(at_mono, Ordering::AcqRel);
        self.complete_at_ms
            .fetch_max(now_ms().saturating_sub(age).max(1), Ordering::AcqRel);
        self.recheck();
    }

    /// Opens or closes the view by the monotonic clock; the task calls it every heartbeat.
    pub(super) fn recheck(&self) {
        let complete = self.complete_at_mono.load(Ordering::Acquire);
        let loaded = self.complete_at_ms.load(Ordering::Acquire) != 0;
        let within = self.mono_ms().saturating_sub(complete) <= self.max_staleness_ms;
        self.open.store(loaded && within, Ordering::Release);
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
    fn a_view_never_loaded_cannot_answer_and_a_loaded_one_can() {
        let view = View::new(Duration::from_secs(10));
        let error = view.any_revoked(&["sid:a"], now_ms()).unwrap_err();
        assert!(error.to_string().contains("not loaded"), "{error}");
        view.complete_at(view.mono_ms());
        view.insert("sid:a", now_ms() / 1000 + 100, now_ms() / 1000);
        assert!(view.any_revoked(&["sid:a"], now_ms()).unwrap());
        assert!(!view.any_revoked(&["sid:b"], now_ms()).unwrap());
    }

    #[test]
    fn past_the_bound_on_the_wall_clock_it_fails_at_once() {
        let view = View::new(Duration::from_secs(10));
        view.complete_at(view.mono_ms());
        let later = now_ms() + 10_500;
        let stale = view.any_revoked(&["sid:b"], later).unwrap_err();
        assert!(stale.for_ms > 10_000, "{stale}");
    }

    #[test]
    fn past_the_bound_on_the_monotonic_clock_the_task_closes_it() {
        let view = View::new(Duration::from_millis(30));
        view.complete_at(view.mono_ms());
        assert!(view.any_revoked(&["sid:b"], now_ms()).is_ok());
        std::thread::sleep(Duration::from_millis(60));
        view.recheck();
        // Even with a wall clock that says no time has passed (stepped back).
        let complete_wall = view.complete_at_ms.load(Ordering::Acquire);
        assert!(view.any_revoked(&["sid:b"], complete_wall).is_err());
    }

    #[test]
    fn a_heartbeat_from_the_future_counts_as_now() {
        let view = View::new(Duration::from_millis(30));
        view.complete_at(u64::MAX);
        assert!(view.any_revoked(&["sid:a"], now_ms()).is_ok());
        std::thread::sleep(Duration::from_millis(60));
        view.recheck();
        assert!(view.any_revoked(&["sid:a"], now_ms()).is_err());
    }

    #[test]
    fn revocations_lapse_with_their_second() {
        let view = View::new(Duration::from_secs(10));
        view.complete_at(view.mono_ms());
        let now = now_ms() / 1000;
        view.insert("jti:x", now + 2, now);
        view.insert("jti:past", now, now);
        assert_eq!(view.len(), 1);
        assert!(view.any_revoked(&["jti:x"], (now + 1) * 1000).unwrap());
        assert!(!view.any_revoked(&["jti:x"], (now + 2) * 1000).unwrap());
    }
}
