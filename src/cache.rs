//! The verified-token cache: a token seen (and accepted) before skips the signature.
//!
//! Keyed by the exact token text: the cache hashes it to find the entry, then compares the
//! whole text, so two tokens never share an entry. An entry holds the claims (an `Arc`) and
//! the key that verified them; a hit is still re-checked for `exp`/`nbf`, for the key
//! still being the resolver's current one, and (by the caller) for revocation.

use std::sync::Arc;

use quick_cache::Weighter;
use quick_cache::sync::Cache;

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
    entries: Cache<Box<str>, Entry<T>, Weight>,
}

/// An entry weighs its token's bytes twice (the key, and claims decoded from it) plus a
/// fixed overhead, but never less than `max_bytes / max_entries`: so both bounds hold.
#[derive(Clone)]
struct Weight {
    floor: u64,
}

/// Bookkeeping per entry besides the token: the claims' `Arc`, the key's, the map's.
const OVERHEAD: u64 = 256;

impl<T> Weighter<Box<str>, Entry<T>> for Weight {
    fn weight(&self, token: &Box<str>, _entry: &Entry<T>) -> u64 {
        (2 * token.len() as u64 + OVERHEAD).max(self.floor)
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
        }
    }

    /// The entry for exactly this token.
    pub(crate) fn get(&self, token: &str) -> Option<Entry<T>> {
        self.entries.get(token)
    }

    pub(crate) fn insert(&self, token: &str, entry: Entry<T>) {
        self.entries.insert(token.into(), entry);
    }

    pub(crate) fn remove(&self, token: &str) {
        self.entries.remove(token);
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
