//! Compact JWS mechanics (RFC 7515 §7.1): split the token, base64url-decode a part into a
//! buffer, check the signature. No policy: what is allowed is `rules`' business.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;

use crate::error::{AuthError, reason};
use crate::key::VerificationKey;

/// Decoded parts up to this size stay on the stack; larger ones go to the heap.
const STACK_BUF: usize = 1024;

/// The three parts of a compact JWS, borrowed from the token.
pub(crate) struct Parts<'t> {
    pub(crate) header: &'t str,
    pub(crate) payload: &'t str,
    signature: &'t str,
    signing_input: &'t str,
}

/// Where a token's parts end, so that a second look at the same token needs no search.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Split {
    header: usize,
    signing_input: usize,
}

impl<'t> Parts<'t> {
    /// `header.payload.signature`, exactly three parts, the header not empty.
    pub(crate) fn split(token: &'t str) -> Result<Self, AuthError> {
        let (signing_input, signature) = token.rsplit_once('.').ok_or(reason::NOT_COMPACT_JWS)?;
        let (header, payload) = signing_input
            .split_once('.')
            .ok_or(reason::NOT_COMPACT_JWS)?;
        // An empty signature is a shape error only after the header: `alg: none` tokens
        // end in a bare dot and should be reported as the algorithm they are.
        if payload.contains('.') || header.is_empty() {
            return Err(reason::NOT_COMPACT_JWS);
        }
        Ok(Parts {
            header,
            payload,
            signature,
            signing_input,
        })
    }

    /// Where the parts end.
    pub(crate) fn ends(&self) -> Split {
        Split {
            header: self.header.len(),
            signing_input: self.signing_input.len(),
        }
    }

    /// The parts of `token` at `split`, which [`ends`](Self::ends) took from this same
    /// token: slices only, no search.
    pub(crate) fn at(token: &'t str, split: Split) -> Self {
        let signing_input = &token[..split.signing_input];
        Parts {
            header: &signing_input[..split.header],
            payload: &signing_input[split.header + 1..],
            signature: &token[split.signing_input + 1..],
            signing_input,
        }
    }

    /// RFC 7515 §5.2 steps 6–7: the signature over `header.payload`, by `key` with `alg`.
    /// The caller has checked that `key` is bound to `alg`.
    pub(crate) fn verify(&self, alg: Algorithm, key: &VerificationKey) -> Result<(), AuthError> {
        // The longest signature, RSA-8192's 1 KiB, is decoded on the stack like the rest.
        let verified = with_decoded(self.signature, |signature| {
            Ok(key.verifies(alg, self.signing_input.as_bytes(), signature))
        })
        .map_err(|_| reason::BAD_SIGNATURE)?;
        if verified {
            Ok(())
        } else {
            Err(reason::BAD_SIGNATURE)
        }
    }
}

/// Runs `f` on the base64url-decoded `input`, on the stack when it is small.
pub(crate) fn with_decoded<O>(
    input: &str,
    f: impl FnOnce(&[u8]) -> Result<O, AuthError>,
) -> Result<O, AuthError> {
    if input.len() / 4 * 3 + 3 <= STACK_BUF {
        let mut buf = [0u8; STACK_BUF];
        let len = URL_SAFE_NO_PAD
            .decode_slice(input, &mut buf)
            .map_err(|_| reason::NOT_BASE64URL)?;
        f(&buf[..len])
    } else {
        let buf = URL_SAFE_NO_PAD
            .decode(input)
            .map_err(|_| reason::NOT_BASE64URL)?;
        f(&buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_needs_three_parts() {
        assert!(Parts::split("a.b.c").is_ok());
        for bad in ["a.b", "a.b.c.d", ".b.c", "abc", "a..c.d"] {
            assert!(Parts::split(bad).is_err(), "{bad}");
        }
        // An empty payload is a JSON error later; an empty signature fails verification.
        assert!(Parts::split("a..c").is_ok() && Parts::split("a.b.").is_ok());
    }

    #[test]
    fn parts_at_a_split_are_the_parts() {
        for token in ["ab.cde.f", "a..c", "a.b.", "eyJ.e30.sig"] {
            let parts = Parts::split(token).unwrap();
            let again = Parts::at(token, parts.ends());
            assert_eq!(
                (
                    again.header,
                    again.payload,
                    again.signature,
                    again.signing_input
                ),
                (
                    parts.header,
                    parts.payload,
                    parts.signature,
                    parts.signing_input
                ),
                "{token}"
            );
        }
    }

    #[test]
    fn decoding_refuses_what_is_not_base64url() {
        assert_eq!(with_decoded("eyJ9", |b| Ok(b.to_vec())).unwrap(), b"{\"}");
        for bad in ["e+J9", "eyJ9=", "e"] {
            let e = with_decoded(bad, |_| Ok(())).unwrap_err();
            assert_eq!(e.description(), "token is not valid base64url", "{bad}");
        }
        // Large parts go to the heap and decode the same.
        let big = "QUFB".repeat(400);
        assert_eq!(with_decoded(&big, |b| Ok(b.len())).unwrap(), 1200);
    }
}
