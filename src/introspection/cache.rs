//! Where answers come from without asking twice: the answers kept for a while, and the
//! exchanges under way that concurrent lookups of one token share.
//!
//! Keyed by the token's SHA-256: the token itself is never kept, so a heap dump of the
//! cache holds no usable credential. Expiry is checked on read against the Unix clock;
//! an expired entry is a miss and is removed. Errors are shared by the waiters of their
//! exchange, never kept.

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::future::{BoxFuture, Either, FutureExt, Shared, WeakShared};
use quick_cache::sync::Cache;
use sha2::{Digest, Sha256};

use super::Answer;
use super::client::{self, Client, Exp, IntrospectError};

/// The SHA-256 of a token.
pub(super) type Key = [u8; 32];

/// The cache key of `token`.
pub(super) fn key(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

pub(super) type Outcome = Result<Answer, IntrospectError>;
type Exchange = BoxFuture<'static, Outcome>;
/// A lookup: answered at once, or waiting for an exchange it shares.
pub(super) type Lookup = Either<Ready<Outcome>, Shared<Exchange>>;

/// An answer and the Unix second from which it is stale.
#[derive(Clone)]
struct Entry {
    answer: Answer,
    until: u64,
}

/// Introspection answers kept (bounded in entries) and on their way.
pub(super) struct Answers {
    /// `None` when the capacity is zero: nothing is kept.
    entries: Option<Cache<Key, Entry>>,
    max_ttl: u64,
    negative_ttl: u64,
    /// The exchange under way for each token, held weakly: the waiters own it, so when the
    /// last one goes away the exchange is dropped. Its entry leaves when it finishes or is
    /// dropped ([`Leave`]); `id` tells a newer exchange for the same token from it.
    inflight: Mutex<HashMap<Key, InFlight>>,
    next_id: AtomicU64,
}

struct InFlight {
    id: u64,
    exchange: WeakShared<Exchange>,
}

impl Answers {
    pub(super) fn new(capacity: usize, max_ttl: Duration, negative_ttl: Duration) -> Self {
        Answers {
            entries: (capacity > 0).then(|| Cache::new(capacity)),
            max_ttl: whole_seconds(max_ttl),
            negative_ttl: whole_seconds(negative_ttl),
            inflight: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }

    /// The answer for `token`: kept, else from the exchange under way for it, else from a
    /// new one through `client`.
    pub(super) fn lookup(self: &Arc<Self>, client: &Arc<Client>, token: &str) -> Lookup {
        let key = key(token);
        match self.get(&key, crate::clock::now()) {
            Some(answer) => Either::Left(ready(Ok(answer))),
            None => self.join_or_start(client, key, token),
        }
    }

    /// Joins the exchange under way for `key`, or starts one. Deciding under the lock makes
    /// "join or start" one step; the lock is never held across an await, and no exchange
    /// is dropped while it is held (that would take it again, in [`Leave`]).
    fn join_or_start(self: &Arc<Self>, client: &Arc<Client>, key: Key, token: &str) -> Lookup {
        let mut inflight = lock(&self.inflight);
        if let Some(exchange) = inflight.get(&key).and_then(|f| f.exchange.upgrade()) {
            return Either::Right(exchange);
        }
        // An exchange that finished since the caller's miss stored its answer before it
        // left the map: look again rather than ask twice.
        if let Some(answer) = self.get(&key, crate::clock::now()) {
            return Either::Left(ready(Ok(answer)));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let leave = Leave {
            answers: Arc::clone(self),
            key,
            id,
        };
        let (client, form) = (Arc::clone(client), client::form_body(token));
        let exchange = async move {
            // Dropped last, once the answer is stored: see the look-again above.
            let leave = leave;
            let reply = client.introspect(form).await;
            #[cfg(feature = "tracing")]
            if let Err(error) = &reply {
                tracing::warn!(endpoint = %client.endpoint, %error, "introspection failed");
            }
            let reply = reply?;
            let now = crate::clock::now();
            leave.answers.insert(key, &reply.answer, reply.exp, now);
            Ok(reply.answer)
        }
        .boxed()
        .shared();
        if let Some(weak) = exchange.downgrade() {
            inflight.insert(key, InFlight { id, exchange: weak });
        }
        Either::Right(exchange)
    }

    /// The answer for `key` if one is kept and still fresh at `now`.
    pub(super) fn get(&self, key: &Key, now: u64) -> Option<Answer> {
        let entries = self.entries.as_ref()?;
        let entry = entries.get(key)?;
        if now < entry.until {
            return Some(entry.answer);
        }
        // Only this stale entry: a fresh one stored meanwhile stays.
        entries.remove_if(key, |e| e.until <= now);
        None
    }

    /// Keeps `answer` for as long as [`until`](Self::until) allows.
    pub(super) fn insert(&self, key: Key, answer: &Answer, exp: Exp, now: u64) {
        if let Some(entries) = &self.entries
            && let Some(until) = self.until(answer, exp, now)
        {
            entries.insert(
                key,
                Entry {
                    answer: answer.clone(),
                    until,
                },
            );
        }
    }

    /// The first second at which `answer` is stale, or `None` to not keep it.
    ///
    /// An active answer lasts until its `exp`, never longer than the maximum TTL (the
    /// authorization server may revoke the token at any moment; the TTL bounds how long we
    /// miss that). An `exp` already past, or not a number, is not kept: the caller sees
    /// the answer once and judges it. An inactive answer lasts the negative TTL.
    fn until(&self, answer: &Answer, exp: Exp, now: u64) -> Option<u64> {
        let ttl = match answer {
            Answer::Active(_) => self.max_ttl,
            Answer::Inactive => self.negative_ttl,
        };
        let mut until = now.saturating_add(ttl);
        if let Answer::Active(_) = answer {
            match exp {
                Exp::Absent => {}
                Exp::At(exp) => until = until.min(exp),
                Exp::Unusable => return None,
            }
        }
        (until > now).then_some(until)
    }

    /// How many exchanges the map holds.
    #[cfg(test)]
    pub(super) fn in_flight(&self) -> usize {
        lock(&self.inflight).len()
    }
}

/// Takes an exchange's entry out of the in-flight map when the exchange finishes or is
/// dropped, unless a newer exchange for the same token has replaced it.
struct Leave {
    answers: Arc<Answers>,
    key: Key,
    id: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        let mut inflight = lock(&self.answers.inflight);
        if inflight.get(&self.key).is_some_and(|f| f.id == self.id) {
            inflight.remove(&self.key);
        }
    }
}

/// A poisoned lock only means another thread panicked while holding it; the map is still
/// consistent (each step under the lock is one insert or remove).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `ttl` in whole seconds, rounded up: a sub-second TTL still keeps an answer for a
/// moment, and only zero means "not kept".
fn whole_seconds(ttl: Duration) -> u64 {
    ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::super::Active;
    use super::*;

    fn active() -> Answer {
        Answer::Active(Active {
            json: Arc::from(&br#"{"active":true}"#[..]),
        })
    }

    fn cache(max_ttl: u64, negative_ttl: u64) -> Answers {
        Answers::new(
            100,
            Duration::from_secs(max_ttl),
            Duration::from_secs(negative_ttl),
        )
    }

    fn is_active(answer: Option<Answer>) -> bool {
        matches!(answer, Some(Answer::Active(_)))
    }

    #[test]
    fn key_is_the_sha256_of_the_token() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let hex: String = key("abc").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }

    #[test]
    fn active_without_exp_lasts_the_max_ttl() {
        let cache = cache(60, 5);
        cache.insert(key("t"), &active(), Exp::Absent, 1000);
        assert!(is_active(cache.get(&key("t"), 1059)));
        assert!(cache.get(&key("t"), 1060).is_none());
        // The stale entry is gone, not just skipped.
        assert!(cache.get(&key("t"), 1000).is_none());
    }

    #[test]
    fn active_lasts_until_exp_within_the_max_ttl() {
        let cache = cache(60, 5);
        cache.insert(key("soon"), &active(), Exp::At(1002), 1000);
        cache.insert(key("late"), &active(), Exp::At(5000), 1000);
        assert!(is_active(cache.get(&key("soon"), 1001)));
        assert!(cache.get(&key("soon"), 1002).is_none());
        assert!(is_active(cache.get(&key("late"), 1059)));
        assert!(cache.get(&key("late"), 1060).is_none());
    }

    #[test]
    fn active_past_exp_or_with_unusable_exp_is_not_stored() {
        let cache = cache(60, 5);
        cache.insert(key("past"), &active(), Exp::At(1000), 1000);
        cache.insert(key("odd"), &active(), Exp::Unusable, 1000);
        assert!(cache.get(&key("past"), 1000).is_none());
        assert!(cache.get(&key("odd"), 1000).is_none());
    }

    #[test]
    fn inactive_lasts_the_negative_ttl_and_zero_stores_nothing() {
        let cache = cache(60, 5);
        cache.insert(key("t"), &Answer::Inactive, Exp::Absent, 1000);
        assert!(matches!(cache.get(&key("t"), 1004), Some(Answer::Inactive)));
        assert!(cache.get(&key("t"), 1005).is_none());

        let uncached = cache_with(100, 60, Duration::ZERO);
        uncached.insert(key("t"), &Answer::Inactive, Exp::Absent, 1000);
        assert!(uncached.get(&key("t"), 1000).is_none());
    }

    #[test]
    fn sub_second_ttl_rounds_up_and_zero_capacity_stores_nothing() {
        let cache = cache_with(100, 60, Duration::from_millis(500));
        cache.insert(key("t"), &Answer::Inactive, Exp::Absent, 1000);
        assert!(cache.get(&key("t"), 1000).is_some());
        assert!(cache.get(&key("t"), 1001).is_none());

        let none = cache_with(0, 60, Duration::from_secs(5));
        none.insert(key("t"), &active(), Exp::Absent, 1000);
        assert!(none.get(&key("t"), 1000).is_none());
    }

    fn cache_with(capacity: usize, max_ttl: u64, negative_ttl: Duration) -> Answers {
        Answers::new(capacity, Duration::from_secs(max_ttl), negative_ttl)
    }
}
