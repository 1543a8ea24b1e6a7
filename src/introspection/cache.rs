//! Answers kept for a while, so that a busy token costs one introspection per TTL instead
//! of one per request.
//!
//! Keyed by the token's SHA-256: the token itself is never kept, so a heap dump of the
//! cache holds no usable credential. Expiry is checked on read against the Unix clock;
//! an expired entry is a miss and is removed. Errors never get here.

use std::time::Duration;

use quick_cache::sync::Cache;
use sha2::{Digest, Sha256};

use super::Answer;
use super::client::Exp;

/// The SHA-256 of a token.
pub(super) type Key = [u8; 32];

/// The cache key of `token`.
pub(super) fn key(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

/// An answer and the Unix second from which it is stale.
#[derive(Clone)]
struct Entry {
    answer: Answer,
    until: u64,
}

/// Introspection answers, bounded in entries.
pub(super) struct AnswerCache {
    /// `None` when the capacity is zero: nothing is cached.
    entries: Option<Cache<Key, Entry>>,
    max_ttl: u64,
    negative_ttl: u64,
}

impl AnswerCache {
    pub(super) fn new(capacity: usize, max_ttl: Duration, negative_ttl: Duration) -> Self {
        AnswerCache {
            entries: (capacity > 0).then(|| Cache::new(capacity)),
            max_ttl: whole_seconds(max_ttl),
            negative_ttl: whole_seconds(negative_ttl),
        }
    }

    /// The answer for `key` if one is stored and still fresh at `now`.
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

    /// Stores `answer` for as long as [`until`] allows.
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

    /// The first second at which `answer` is stale, or `None` to not store it.
    ///
    /// An active answer lasts until its `exp`, never longer than the maximum TTL (the
    /// authorization server may revoke the token at any moment; the TTL bounds how long we
    /// miss that). An `exp` already past, or not a number, is not stored: the caller sees
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
}

/// `ttl` in whole seconds, rounded up: a sub-second TTL still caches for a moment, and
/// only zero means "not cached".
fn whole_seconds(ttl: Duration) -> u64 {
    ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::Active;
    use super::*;

    fn active() -> Answer {
        Answer::Active(Active {
            json: Arc::from(&br#"{"active":true}"#[..]),
        })
    }

    fn cache(max_ttl: u64, negative_ttl: u64) -> AnswerCache {
        AnswerCache::new(
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

    fn cache_with(capacity: usize, max_ttl: u64, negative_ttl: Duration) -> AnswerCache {
        AnswerCache::new(capacity, Duration::from_secs(max_ttl), negative_ttl)
    }
}
