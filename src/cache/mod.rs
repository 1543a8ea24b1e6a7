//! The verified-token cache: a token seen (and accepted) before skips the signature.
//!
//! Keyed by the exact token text: the cache hashes its last bytes to find the entry, then
//! compares the whole text, so two tokens never share an entry. An entry holds the claims
//! (an `Arc`) and the key that verified them. A token is stored the second time it is
//! verified, not the first (`doorkeeper`), so one-shot tokens cost no insert. A hit is
//! still re-checked for `exp`/`nbf`, for the key still being the resolver's current one,
//! and (by the caller) for revocation.

mod doorkeeper;

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::{Equivalent, Weighter};

use self::doorkeeper::{Doorkeeper, hash_tail};
use crate::claims::Claims;
use crate::key::VerificationKey;

/// What a hit needs: the claims and the key that verified them.
pub(crate) struct Entry<T> {
    pub(crate) claims: Claims<T>,
    pub(crate) key: Arc<VerificationKey>,
}

impl<T> Clone for Entry<T> {
    fn clone(&self) -> Self {
        Entry {
            claims: self.claims.clone(),
            key: Arc::clone(&self.key),
        }
    }
}

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

/// Verified tokens, bounded in entries and in bytes; concurrent readers contend only on
/// one of the cache's shards, never on a global lock.
pub(crate) struct TokenCache<T> {
    entries: Cache<TokenKey, Entry<T>, Weight>,
    /// Tokens are stored on their second sight: see [`Doorkeeper`].
    doorkeeper: Doorkeeper,
}

/// How many bytes of a token's end are hashed. They are its signature's (the last 16
/// base64url characters: 96 bits), which nobody without the key can choose for a token
/// that verifies, and only verified tokens are stored: hashing them is as good as hashing
/// the whole token, for a tenth of the work. A lookup that copies a stored token's end
/// meets that one entry and fails the full comparison.
const HASHED_TAIL: usize = 16;

fn tail(token: &str) -> &[u8] {
    let bytes = token.as_bytes();
    &bytes[bytes.len().saturating_sub(HASHED_TAIL)..]
}

/// A stored token.
struct TokenKey(Box<str>);

/// A token looked up, borrowed: hashed like [`TokenKey`], compared in full.
struct Lookup<'a>(&'a str);

impl Hash for TokenKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        tail(&self.0).hash(state);
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
        *self.0 == *key.0
    }
}

/// An entry weighs its token's bytes twice (the key, and claims decoded from it) plus a
/// fixed overhead, but never less than `max_bytes / max_entries`: so both bounds hold.
#[derive(Clone)]
struct Weight {
    floor: u64,
}

/// Bookkeeping per entry besides the token: the claims' `Arc`, the key's, the map's.
const OVERHEAD: u64 = 256;

impl<T> Weighter<TokenKey, Entry<T>> for Weight {
    fn weight(&self, token: &TokenKey, _entry: &Entry<T>) -> u64 {
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
        }
    }

    /// The entry for exactly this token.
    pub(crate) fn get(&self, token: &str) -> Option<Entry<T>> {
        self.entries.get(&Lookup(token))
    }

    /// Stores a verified token if it was verified before (the admission rule); a token's
    /// first verification only records it.
    pub(crate) fn admit(&self, token: &str, claims: &Claims<T>, key: Arc<VerificationKey>) {
        if self.doorkeeper.seen_before(hash_tail(tail(token))) {
            let claims = claims.clone();
            self.insert(token, Entry { claims, key });
        }
    }

    fn insert(&self, token: &str, entry: Entry<T>) {
        self.entries.insert(TokenKey(token.into()), entry);
    }

    pub(crate) fn remove(&self, token: &str) {
        self.entries.remove(&Lookup(token));
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

    fn entry() -> Entry<u8> {
        let key = Arc::new(VerificationKey::hmac(Algorithm::HS256, &[1; 32]).unwrap());
        Entry {
            claims: Claims::new(1, RegisteredClaims::default(), Algorithm::HS256, None),
            key,
        }
    }

    #[test]
    fn exact_token_only() {
        let cache = TokenCache::new(CacheLimits::default());
        cache.insert("a.b.c", entry());
        assert!(cache.get("a.b.c").is_some());
        assert!(cache.get("a.b.c ").is_none() && cache.get("a.b.C").is_none());
    }

    #[test]
    fn tokens_sharing_their_last_bytes_stay_apart() {
        let cache = TokenCache::new(CacheLimits::default());
        let tail = "0123456789abcdefXYZ";
        cache.insert(&format!("one.{tail}"), entry());
        assert!(cache.get(&format!("two.{tail}")).is_none());
        cache.insert(&format!("two.{tail}"), entry());
        assert_eq!(cache.len(), 2);
        cache.remove(&format!("one.{tail}"));
        assert!(cache.get(&format!("one.{tail}")).is_none());
        assert!(cache.get(&format!("two.{tail}")).is_some());
        // Shorter than the hashed tail: the whole token.
        cache.insert("a.b", entry());
        assert!(cache.get("a.b").is_some() && cache.get("a.c").is_none());
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
