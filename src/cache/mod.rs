//! The verified-token cache: a token seen (and accepted) before skips the signature.
//!
//! Keyed by the exact token text: the cache hashes its last bytes to find the entry, then
//! compares the whole text, so two tokens never share an entry. An entry is the claims (an
//! `Arc`, which also holds the key that verified them): a hit bumps one reference count,
//! the entry's own, and touches nothing that other tokens' hits touch. A token is stored
//! the second time it is verified, not the first (`doorkeeper`), so one-shot tokens cost
//! no insert. A hit is
//! still re-checked for `exp`/`nbf`, for the key still being the resolver's current one,
//! and (by the caller) for revocation. In front of the shared entries, each thread keeps
//! its own copies of the few tokens it meets most (`front`), so that hits on one token
//! from many cores do not contend.

mod doorkeeper;
mod front;

use std::hash::{Hash, Hasher};

use quick_cache::sync::Cache;
use quick_cache::{Equivalent, Weighter};

use self::doorkeeper::{Doorkeeper, hash_tail};
use self::front::{Front, Sighting};
use crate::claims::Claims;

/// Bounds of the cache, each with its default.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CacheLimits {
    pub(crate) max_entries: usize,
    pub(crate) max_bytes: u64,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            max_entries: 50_000,
            max_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Verified tokens, bounded in entries and in bytes (plus a few per thread in the
/// [`Front`]); readers of different tokens meet on no lock, and readers of one hot token
/// stop meeting once each thread holds its own copy.
pub(crate) struct TokenCache<T> {
    entries: Cache<TokenKey, Claims<T>, Weight>,
    /// Tokens are stored on their second sight: see [`Doorkeeper`].
    doorkeeper: Doorkeeper,
    /// Per-thread copies of hot tokens' claims: see [`Front`].
    front: Front<T>,
}

/// How many bytes of a token's end are hashed. They are its signature's (the last 16
/// base64url characters: 96 bits), which nobody without the key can choose for a token
/// that verifies, and only verified tokens are stored: hashing them is as good as hashing
/// the whole token, for a tenth of the work. A lookup that copies a stored token's end
/// meets that one entry and fails the full comparison.
const HASHED_TAIL: usize = 16;

fn tail(token: &[u8]) -> &[u8] {
    &token[token.len().saturating_sub(HASHED_TAIL)..]
}

/// A stored token.
struct TokenKey(Box<str>);

/// A token looked up, borrowed and not yet known to be text: hashed like [`TokenKey`],
/// compared in full.
struct Lookup<'a>(&'a [u8]);

impl Hash for TokenKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        tail(self.0.as_bytes()).hash(state);
    }
}

impl Hash for Lookup<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        tail(self.0).hash(state);
    }
}

impl PartialEq for TokenKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for TokenKey {}

impl Equivalent<TokenKey> for Lookup<'_> {
    fn equivalent(&self, key: &TokenKey) -> bool {
        self.0 == key.0.as_bytes()
    }
}

/// An entry weighs its token's bytes twice (the key, and claims decoded from it) plus a
/// fixed overhead, but never less than `max_bytes / max_entries`: so both bounds hold.
#[derive(Clone)]
struct Weight {
    floor: u64,
}

/// Bookkeeping per entry besides the token: the claims' `Arc`, the map's.
const OVERHEAD: u64 = 256;

impl<T> Weighter<TokenKey, Claims<T>> for Weight {
    fn weight(&self, token: &TokenKey, _claims: &Claims<T>) -> u64 {
        (2 * token.0.len() as u64 + OVERHEAD).max(self.floor)
    }
}

impl<T: Send + Sync + 'static> TokenCache<T> {
    pub(crate) fn new(limits: CacheLimits) -> Self {
        let max_entries = limits.max_entries.max(1);
        let weight = Weight {
            floor: limits.max_bytes / max_entries as u64,
        };
        TokenCache {
            entries: Cache::with_weighter(max_entries, limits.max_bytes, weight),
            doorkeeper: Doorkeeper::new(max_entries),
            front: Front::new(),
        }
    }

    /// The claims of exactly this token: this thread's own copy if it has one, else the
    /// shared entry's. `copy` decodes claims of the thread's own from the token; it is
    /// asked on the thread's second shared hit of the token.
    pub(crate) fn get(
        &self,
        token: &[u8],
        copy: impl FnOnce(&Claims<T>) -> Option<Claims<T>>,
    ) -> Option<Claims<T>> {
        let hash = hash_tail(tail(token));
        let sighting = match self.front.get(token, hash) {
            Sighting::Held(claims) => return Some(claims),
            sighting => sighting,
        };
        let shared = self.entries.get(&Lookup(token))?;
        if let Sighting::Again = sighting {
            if let Some(own) = copy(&shared) {
                self.front.hold(token, hash, own.clone());
                return Some(own);
            }
        } else {
            self.front.mark(hash);
        }
        Some(shared)
    }

    /// Stores a verified token if it was verified before (the admission rule); a token's
    /// first verification only records it.
    pub(crate) fn admit(&self, token: &str, claims: &Claims<T>) {
        if self
            .doorkeeper
            .seen_before(hash_tail(tail(token.as_bytes())))
        {
            self.insert(token, claims.clone());
        }
    }

    fn insert(&self, token: &str, claims: Claims<T>) {
        self.entries.insert(TokenKey(token.into()), claims);
    }

    /// Removes the token, and this thread's copy of it.
    pub(crate) fn remove(&self, token: &[u8]) {
        self.entries.remove(&Lookup(token));
        self.front.forget(token, hash_tail(tail(token)));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::Algorithm;

    use super::*;
    use crate::claims::RegisteredClaims;

    fn entry() -> Claims<u8> {
        Claims::new(1, RegisteredClaims::default(), Algorithm::HS256, None)
    }

    #[test]
    fn exact_token_only() {
        let cache = TokenCache::new(CacheLimits::default());
        cache.insert("a.b.c", entry());
        assert!(cache.get("a.b.c".as_bytes(), |_| None).is_some());
        assert!(
            cache.get("a.b.c ".as_bytes(), |_| None).is_none()
                && cache.get("a.b.C".as_bytes(), |_| None).is_none()
        );
    }

    #[test]
    fn tokens_sharing_their_last_bytes_stay_apart() {
        let cache = TokenCache::new(CacheLimits::default());
        let tail = "0123456789abcdefXYZ";
        cache.insert(&format!("one.{tail}"), entry());
        assert!(
            cache
                .get(format!("two.{tail}").as_bytes(), |_| None)
                .is_none()
        );
        cache.insert(&format!("two.{tail}"), entry());
        assert_eq!(cache.len(), 2);
        cache.remove(format!("one.{tail}").as_bytes());
        assert!(
            cache
                .get(format!("one.{tail}").as_bytes(), |_| None)
                .is_none()
        );
        assert!(
            cache
                .get(format!("two.{tail}").as_bytes(), |_| None)
                .is_some()
        );
        // Shorter than the hashed tail: the whole token.
        cache.insert("a.b", entry());
        assert!(
            cache.get("a.b".as_bytes(), |_| None).is_some()
                && cache.get("a.c".as_bytes(), |_| None).is_none()
        );
    }

    #[test]
    fn bounded_in_entries() {
        let cache = TokenCache::new(CacheLimits {
            max_entries: 100,
            max_bytes: 1 << 30,
        });
        for i in 0..10_000 {
            cache.insert(&format!("token-{i}"), entry());
        }
        assert!(cache.len() <= 100, "{}", cache.len());
    }

    #[test]
    fn bounded_in_bytes() {
        let cache = TokenCache::new(CacheLimits {
            max_entries: 1_000_000,
            max_bytes: 64 * 1024,
        });
        let big = "x".repeat(4000);
        for i in 0..1_000 {
            cache.insert(&format!("{big}{i}"), entry());
        }
        // Each weighs over 8 KB: 64 KiB holds at most 8.
        assert!(cache.len() <= 8, "{}", cache.len());
    }
}
