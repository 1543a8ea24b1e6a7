//! Server-provided nonces (RFC 9449 §9): a proof must carry a recent one, which bounds how
//! far ahead a client holding a stolen key could have made proofs.
//!
//! Stateless: a nonce is the current time window and a MAC over it, so every instance
//! with the same secret issues and accepts the same nonces with nothing shared at run
//! time. A nonce is accepted in its window and the next one, so each is good for one to
//! two lifetimes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// MAC bytes kept: 128 bits is beyond guessing within a nonce's lifetime.
const MAC_LEN: usize = 16;

/// Issues and checks nonces.
#[derive(Clone)]
pub(crate) struct Nonces {
    mac: Hmac<Sha256>,
    lifetime: u64,
}

impl Nonces {
    /// Nonces keyed by `secret` (at least 32 bytes: the builder checks), each window
    /// `lifetime` seconds long.
    pub(crate) fn new(secret: &[u8], lifetime: u64) -> Self {
        Nonces {
            // HMAC takes keys of any length.
            mac: Hmac::new_from_slice(secret).unwrap_or_else(|_| unreachable!()),
            lifetime: lifetime.max(1),
        }
    }

    fn tag(&self, window: u64) -> [u8; MAC_LEN] {
        let mut mac = self.mac.clone();
        mac.update(&window.to_be_bytes());
        let mut tag = [0u8; MAC_LEN];
        tag.copy_from_slice(&mac.finalize().into_bytes()[..MAC_LEN]);
        tag
    }

    /// The nonce to hand out at `now`.
    pub(crate) fn current(&self, now: u64) -> String {
        let window = now / self.lifetime;
        let mut bytes = [0u8; 8 + MAC_LEN];
        bytes[..8].copy_from_slice(&window.to_be_bytes());
        bytes[8..].copy_from_slice(&self.tag(window));
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Whether `nonce` was issued in this window or the one before.
    pub(crate) fn accepts(&self, nonce: &str, now: u64) -> bool {
        let mut bytes = [0u8; 8 + MAC_LEN];
        if nonce.len() != 32 || URL_SAFE_NO_PAD.decode_slice(nonce, &mut bytes) != Ok(bytes.len()) {
            return false;
        }
        let window = u64::from_be_bytes(bytes[..8].try_into().unwrap_or_default());
        let current = now / self.lifetime;
        if window != current && window.checked_add(1) != Some(current) {
            return false;
        }
        let mut mac = self.mac.clone();
        mac.update(&window.to_be_bytes());
        // Constant-time comparison of the truncated tag.
        mac.verify_truncated_left(&bytes[8..]).is_ok()
    }
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_good_in_its_window_and_the_next_only() {
        let nonces = Nonces::new(&[7; 32], 60);
        let issued = nonces.current(6_000);
        assert!(nonces.accepts(&issued, 6_000));
        assert!(nonces.accepts(&issued, 6_119), "the next window");
        assert!(!nonces.accepts(&issued, 6_120), "two windows later");
        assert!(!nonces.accepts(&issued, 5_999), "from the future");
    }

    #[test]
    fn a_forged_or_foreign_nonce_is_refused() {
        let (ours, theirs) = (Nonces::new(&[7; 32], 60), Nonces::new(&[8; 32], 60));
        assert!(!ours.accepts(&theirs.current(6_000), 6_000));
        let mut forged = ours.current(6_000).into_bytes();
        forged[31] = if forged[31] == b'A' { b'B' } else { b'A' };
        assert!(!ours.accepts(std::str::from_utf8(&forged).unwrap(), 6_000));
        for bad in ["", "short", &"A".repeat(32), &"é".repeat(16)] {
            assert!(!ours.accepts(bad, 6_000), "{bad}");
        }
    }
}
