//! Verification state made once per key and algorithm, not per request: with aws-lc-rs,
//! the HMAC key with its inner and outer pads hashed, and the parsed public key (RSA, EC,
//! Ed25519). jsonwebtoken's own verifiers rebuild this on every call (a boxed verifier, a
//! copy of the key, a parse of it); the algorithms and checks are the same aws-lc calls.
//!
//! With the RustCrypto backend alone, signatures go through jsonwebtoken's verifier.

#[cfg(feature = "aws-lc-rs")]
use std::sync::OnceLock;

use jsonwebtoken::{Algorithm, DecodingKey};

#[cfg(feature = "aws-lc-rs")]
use super::algorithms;

/// Per-algorithm verification state of one key, made on first use.
#[derive(Clone, Default)]
pub(crate) struct Prepared {
    /// The key as aws-lc reads it when the `DecodingKey` keeps no bytes: an RSA key from a
    /// JWK's `n` and `e`, encoded here as a PKCS#1 `RSAPublicKey`.
    #[cfg(feature = "aws-lc-rs")]
    rsa_der: Option<Box<[u8]>>,
    #[cfg(feature = "aws-lc-rs")]
    /// Boxed: an HMAC key is over a kilobyte, and most slots stay empty.
    slots: [OnceLock<Option<Box<aws::Ready>>>; 12],
}

impl Prepared {
    /// For an RSA key given as components (base64url-decoded big-endian `n` and `e`).
    #[cfg(feature = "aws-lc-rs")]
    pub(crate) fn for_rsa_components(n: &[u8], e: &[u8]) -> Self {
        Prepared {
            rsa_der: Some(rsa_public_key_der(n, e)),
            slots: Default::default(),
        }
    }

    /// For an RSA key given as components: jsonwebtoken's verifier reads them itself.
    #[cfg(not(feature = "aws-lc-rs"))]
    pub(crate) fn for_rsa_components(_n: &[u8], _e: &[u8]) -> Self {
        Prepared::default()
    }

    /// Checks `signature` over `message` with `key` and `alg` (which the caller has checked
    /// the key is bound to). `false` for any failure, a malformed key included.
    pub(crate) fn verify(
        &self,
        key: &DecodingKey,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        #[cfg(feature = "aws-lc-rs")]
        {
            let Some(index) = algorithms::index(alg) else {
                return false;
            };
            let ready = self.slots[index].get_or_init(|| {
                let bytes = match &self.rsa_der {
                    Some(der) => Some(&der[..]),
                    None => key.try_get_as_bytes().ok(),
                };
                bytes
                    .and_then(|bytes| aws::Ready::new(alg, bytes))
                    .map(Box::new)
            });
            ready
                .as_ref()
                .is_some_and(|ready| ready.verify(message, signature))
        }
        #[cfg(not(feature = "aws-lc-rs"))]
        {
            (crate::crypto::provider().verifier_factory)(&alg, key)
                .is_ok_and(|verifier| verifier.verify(message, &signature.to_vec()).is_ok())
        }
    }
}

#[cfg(feature = "aws-lc-rs")]
mod aws {
    use aws_lc_rs::hmac;
    use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
    use jsonwebtoken::Algorithm;

    /// One key, ready for one algorithm. Boxed where it is kept.
    #[derive(Clone)]
    #[allow(clippy::large_enum_variant)]
    pub(super) enum Ready {
        Hmac(hmac::Key),
        Public(ParsedPublicKey),
    }

    impl Ready {
        /// The same aws-lc algorithms jsonwebtoken's verifiers use; `None` when aws-lc
        /// refuses the key (every signature then fails, as it would there).
        pub(super) fn new(alg: Algorithm, bytes: &[u8]) -> Option<Self> {
            let public: &'static dyn VerificationAlgorithm = match alg {
                Algorithm::HS256 => {
                    return Some(Ready::Hmac(hmac::Key::new(hmac::HMAC_SHA256, bytes)));
                }
                Algorithm::HS384 => {
                    return Some(Ready::Hmac(hmac::Key::new(hmac::HMAC_SHA384, bytes)));
                }
                Algorithm::HS512 => {
                    return Some(Ready::Hmac(hmac::Key::new(hmac::HMAC_SHA512, bytes)));
                }
                Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
                Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
                Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
                Algorithm::EdDSA => &signature::ED25519,
                _ => return None,
            };
            ParsedPublicKey::new(public, bytes).ok().map(Ready::Public)
        }

        pub(super) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
            match self {
                Ready::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
                Ready::Public(key) => key.verify_sig(message, signature).is_ok(),
            }
        }
    }
}

/// PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`
/// (RFC 8017 §A.1.1), in DER: what aws-lc parses for an RSA public key.
#[cfg(feature = "aws-lc-rs")]
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Box<[u8]> {
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    der_unsigned_integer(&mut body, n);
    der_unsigned_integer(&mut body, e);
    let mut der = Vec::with_capacity(body.len() + 6);
    der.push(0x30);
    der_length(&mut der, body.len());
    der.extend_from_slice(&body);
    der.into_boxed_slice()
}

/// A DER INTEGER holding the big-endian unsigned `value`: leading zeros dropped, one
/// zero byte added when the top bit is set (so it stays positive).
#[cfg(feature = "aws-lc-rs")]
fn der_unsigned_integer(out: &mut Vec<u8>, value: &[u8]) {
    let start = value.iter().position(|b| *b != 0).unwrap_or(value.len());
    let value = &value[start..];
    let pad = value.first().is_none_or(|b| b & 0x80 != 0);
    out.push(0x02);
    der_length(out, value.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(value);
}

#[cfg(feature = "aws-lc-rs")]
fn der_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

#[cfg(all(test, feature = "aws-lc-rs"))]
mod tests {
    use super::*;

    #[test]
    fn der_integers_are_minimal_and_positive() {
        let mut out = Vec::new();
        der_unsigned_integer(&mut out, &[0, 0, 0x01, 0x00, 0x01]);
        assert_eq!(out, [0x02, 0x03, 0x01, 0x00, 0x01]);
        out.clear();
        der_unsigned_integer(&mut out, &[0x80]);
        assert_eq!(out, [0x02, 0x02, 0x00, 0x80]);
        out.clear();
        der_unsigned_integer(&mut out, &[]);
        assert_eq!(out, [0x02, 0x01, 0x00]);
        let long = rsa_public_key_der(&[0xff; 256], &[1, 0, 1]);
        // 30 82 01 0a | 02 82 01 01 00 ff…ff | 02 03 01 00 01
        assert_eq!(&long[..4], [0x30, 0x82, 0x01, 0x0a]);
        assert_eq!(&long[4..9], [0x02, 0x82, 0x01, 0x01, 0x00]);
        assert_eq!(&long[long.len() - 5..], [0x02, 0x03, 0x01, 0x00, 0x01]);
    }
}
