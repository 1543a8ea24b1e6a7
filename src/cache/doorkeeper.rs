//! [`Doorkeeper`]: the cache's admission rule. A verified token is stored the second time
//! it is seen, not the first: a token used once (many clients, one request each) costs
//! no insert and evicts nothing, and one used again is a hit from its third request on.
//!
//! A Bloom filter of two bits per token over atomic words: no lock, a fixed size, cleared
//! whole once an eighth of its bits have been set, so it never fills up. A false positive
//! only stores a token on its first sight, as the cache did without a doorkeeper.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Tokens seen once since the last clearing.
#[derive(Debug)]
pub(crate) struct Doorkeeper {
    words: Box<[AtomicU64]>,
    /// First sightings since the last clearing; at `limit` the filter is cleared.
    seen: AtomicUsize,
    limit: usize,
}

impl Doorkeeper {
    /// Sized for a cache of `entries`: 8 bits per entry, between 4 Ki and 1 Mi bits
    /// (512 bytes to 128 KiB).
    pub(crate) fn new(entries: usize) -> Self {
        let bits = entries
            .saturating_mul(8)
            .next_power_of_two()
            .clamp(1 << 12, 1 << 20);
        Doorkeeper {
            words: (0..bits / 64).map(|_| AtomicU64::new(0)).collect(),
            seen: AtomicUsize::new(0),
            limit: bits / 8,
        }
    }

    /// Whether the token of this `hash` was seen before (since the last clearing); records
    /// it either way.
    pub(crate) fn seen_before(&self, hash: u64) -> bool {
        let mask = self.words.len() * 64 - 1;
        let first = self.set(hash as usize & mask);
        let second = self.set((hash >> 32) as usize & mask);
        if first && second {
            return true;
        }
        if self.seen.fetch_add(1, Ordering::Relaxed) + 1 >= self.limit {
            self.clear();
        }
        false
    }

    /// Sets a bit; whether it was set already.
    fn set(&self, bit: usize) -> bool {
        let mask = 1 << (bit % 64);
        self.words[bit / 64].fetch_or(mask, Ordering::Relaxed) & mask != 0
    }

    fn clear(&self) {
        self.seen.store(0, Ordering::Relaxed);
        for word in &self.words {
            word.store(0, Ordering::Relaxed);
        }
    }
}

/// A 64-bit hash of a token's last bytes (its signature's: see the cache's key). Only
/// verified tokens are looked up here, so nobody can aim tokens at chosen bits.
pub(crate) fn hash_tail(tail: &[u8]) -> u64 {
    let mut padded = [0u8; 16];
    padded[..tail.len().min(16)].copy_from_slice(&tail[..tail.len().min(16)]);
    let (a, b) = padded.split_at(8);
    let a = u64::from_le_bytes(a.try_into().unwrap_or_default());
    let b = u64::from_le_bytes(b.try_into().unwrap_or_default());
    // A multiply-fold mix (as wyhash's): every input bit reaches both halves.
    let mixed = u128::from(a ^ 0x9e37_79b9_7f4a_7c15) * u128::from(b ^ 0xc2b2_ae3d_27d4_eb4f);
    (mixed as u64) ^ ((mixed >> 64) as u64) ^ tail.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_admitted_on_its_second_sight() {
        let door = Doorkeeper::new(100);
        let (a, b) = (
            hash_tail(b"signature-tail-1"),
            hash_tail(b"signature-tail-2"),
        );
        assert!(!door.seen_before(a));
        assert!(door.seen_before(a));
        assert!(!door.seen_before(b));
        assert!(door.seen_before(a) && door.seen_before(b));
    }

    #[test]
    fn it_is_cleared_before_it_fills_up() {
        let door = Doorkeeper::new(1); // the smallest: 4096 bits, cleared after 512
        let first = hash_tail(b"first");
        assert!(!door.seen_before(first));
        let mut admitted = 0;
        for i in 0u32..10_000 {
            if door.seen_before(hash_tail(&i.to_le_bytes())) {
                admitted += 1;
            }
        }
        // Mostly one-shot tokens stay out; false positives stay rare.
        assert!(
            admitted < 1_000,
            "{admitted} of 10 000 one-shot tokens admitted"
        );
        assert!(!door.seen_before(first), "cleared since");
    }
}
