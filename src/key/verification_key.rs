//! A decoding key bound to the algorithms it may verify.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

use super::AlgorithmSet;
use super::prepared::Prepared;
use crate::error::ConfigError;

/// RSA moduli below this many bits are refused (RFC 7518 §3.3, NIST SP 800-131A).
const MIN_RSA_BITS: usize = 2048;

/// A key that verifies signatures, bound to the algorithms it may be used with.
///
/// A token whose `alg` is not in the key's set is refused even when the signature would
/// verify: this is what stops algorithm confusion (an RSA public key used as an HMAC
/// secret). Key material is redacted from `Debug`.
///
/// ```
/// use tower_jwt_auth::{Algorithm, VerificationKey};
/// let key = VerificationKey::hmac(Algorithm::HS256, b"a secret of at least thirty-two bytes")?;
/// assert!(key.algorithms().contains(Algorithm::HS256));
/// assert!(VerificationKey::hmac(Algorithm::HS256, b"short").is_err());
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct VerificationKey {
    key: DecodingKey,
    algorithms: AlgorithmSet,
    kid: Option<String>,
    prepared: Prepared,
}

impl VerificationKey {
    /// An HMAC secret for `HS256`, `HS384` or `HS512`. Secrets shorter than the hash output
    /// (32, 48, 64 bytes) are refused (RFC 7518 §3.2).
    pub fn hmac(algorithm: Algorithm, secret: &[u8]) -> Result<Self, ConfigError> {
        check_hmac_len(algorithm, secret.len())?;
        let key = DecodingKey::from_secret(secret).map_err(ConfigError::InvalidKey)?;
        Self::from_decoding_key(algorithm, key)
    }

    /// A PEM public key (or certificate-free SPKI) for an RSA, EC or Ed25519 algorithm.
    pub fn from_pem(algorithm: Algorithm, pem: &[u8]) -> Result<Self, ConfigError> {
        let key = match algorithm.family() {
            AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(pem),
            AlgorithmFamily::Ec => DecodingKey::from_ec_pem(pem),
            AlgorithmFamily::Ed => DecodingKey::from_ed_pem(pem),
            AlgorithmFamily::Hmac => {
                return Err(ConfigError::KeyAlgorithmMismatch {
                    algorithm,
                    reason: "HMAC takes a secret, not a PEM key: use VerificationKey::hmac",
                });
            }
        }
        .map_err(ConfigError::InvalidKey)?;
        Self::from_decoding_key(algorithm, key)
    }

    /// A jsonwebtoken [`DecodingKey`] bound to one algorithm of its family.
    pub fn from_decoding_key(algorithm: Algorithm, key: DecodingKey) -> Result<Self, ConfigError> {
        if key.family() != algorithm.family() {
            return Err(ConfigError::KeyAlgorithmMismatch {
                algorithm,
                reason: "the key belongs to another algorithm family",
            });
        }
        match key.family() {
            AlgorithmFamily::Hmac => {
                check_hmac_len(algorithm, key.try_get_as_bytes().map_or(0, <[u8]>::len))?;
            }
            // Keys built from (n, e) components keep no DER to measure; `from_jwk` checks `n`.
            AlgorithmFamily::Rsa => {
                if let Ok(der) = key.try_get_as_bytes() {
                    let bits =
                        der_rsa_modulus_bits(der).ok_or(ConfigError::KeyAlgorithmMismatch {
                            algorithm,
                            reason: "not a PKCS#1 RSA public key",
                        })?;
                    if bits < MIN_RSA_BITS {
                        return Err(ConfigError::WeakRsaKey { bits });
                    }
                }
            }
            _ => {}
        }
        Ok(VerificationKey {
            key,
            algorithms: AlgorithmSet::one(algorithm),
            kid: None,
            prepared: Prepared::default(),
        })
    }

    /// A key from a JWK (RFC 7517), bound to the JWK's `alg` when it has one, otherwise to
    /// what its `kty`/`crv` allow (all RS*/PS* for RSA, ES256 for P-256, ES384 for P-384,
    /// EdDSA for Ed25519, all HS* for `oct` of sufficient length).
    ///
    /// Refused: `use` other than `sig`, `key_ops` without `verify`, RSA moduli under 2048
    /// bits, curves jsonwebtoken cannot verify (P-521), and key types it does not know.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, ConfigError> {
        let bad = |why: &str| Err(ConfigError::InvalidJwk(why.to_owned()));
        match &jwk.common.public_key_use {
            None | Some(PublicKeyUse::Signature) => {}
            Some(_) => return bad("`use` is not `sig`"),
        }
        if let Some(ops) = &jwk.common.key_operations
            && !ops.iter().any(|op| matches!(op, KeyOperations::Verify))
        {
            return bad("`key_ops` does not allow `verify`");
        }
        let possible = match &jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => {
                let bits = rsa_modulus_bits(&rsa.n).ok_or_else(|| invalid("bad RSA modulus"))?;
                if bits < MIN_RSA_BITS {
                    return bad("RSA modulus shorter than 2048 bits");
                }
                AlgorithmSet::family(AlgorithmFamily::Rsa)
            }
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => AlgorithmSet::one(Algorithm::ES256),
                EllipticCurve::P384 => AlgorithmSet::one(Algorithm::ES384),
                _ => return bad("unsupported elliptic curve"),
            },
            AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
                EllipticCurve::Ed25519 => AlgorithmSet::one(Algorithm::EdDSA),
                _ => return bad("unsupported octet key pair curve"),
            },
            AlgorithmParameters::OctetKey(_) => AlgorithmSet::family(AlgorithmFamily::Hmac),
            _ => return bad("unsupported key type"),
        };
        let algorithms = match &jwk.common.key_algorithm {
            None => possible,
            Some(named) => {
                let named = serde_json::to_value(named)
                    .ok()
                    .and_then(|v| v.as_str().and_then(|s| s.parse::<Algorithm>().ok()));
                match named {
                    Some(alg) if possible.contains(alg) => AlgorithmSet::one(alg),
                    Some(_) => return bad("`alg` does not fit the key type"),
                    None => return bad("`alg` is not a signature algorithm"),
                }
            }
        };
        if let AlgorithmParameters::OctetKey(oct) = &jwk.algorithm
            && let Ok(secret) = URL_SAFE_NO_PAD.decode(&oct.value)
        {
            // Checked before jsonwebtoken, which refuses an empty secret without naming why.
            let len = secret.len();
            for algorithm in algorithms.iter() {
                check_hmac_len(algorithm, len)?;
            }
        }
        let key = DecodingKey::from_jwk(jwk).map_err(ConfigError::InvalidKey)?;
        let prepared = match &jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => {
                let (n, e) = (
                    URL_SAFE_NO_PAD.decode(&rsa.n),
                    URL_SAFE_NO_PAD.decode(&rsa.e),
                );
                match (n, e) {
                    (Ok(n), Ok(e)) => Prepared::for_rsa_components(&n, &e),
                    _ => return bad("bad RSA modulus or exponent"),
                }
            }
            _ => Prepared::default(),
        };
        Ok(VerificationKey {
            key,
            algorithms,
            kid: jwk.common.key_id.clone(),
            prepared,
        })
    }

    /// Names the key: a [`KeySet`](super::KeySet) finds it by this `kid`.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The key's `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithms the key may verify.
    pub fn algorithms(&self) -> AlgorithmSet {
        self.algorithms
    }

    /// Whether this is an HMAC secret rather than a public key.
    pub fn is_symmetric(&self) -> bool {
        self.key.family() == AlgorithmFamily::Hmac
    }

    /// The jsonwebtoken key.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }

    /// Whether `signature` is this key's, with `alg`, over `message`. The caller checks
    /// that the key is bound to `alg`; the per-key crypto state is made on first use.
    pub(crate) fn verifies(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.prepared.verify(&self.key, alg, message, signature)
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("family", &self.key.family())
            .field("algorithms", &self.algorithms)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn invalid(why: &str) -> ConfigError {
    ConfigError::InvalidJwk(why.to_owned())
}

/// Refuses HMAC secrets shorter than the hash output (RFC 7518 §3.2).
fn check_hmac_len(algorithm: Algorithm, len: usize) -> Result<(), ConfigError> {
    let min = match algorithm {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    };
    if len < min {
        return Err(ConfigError::WeakHmacSecret {
            algorithm,
            len,
            min,
        });
    }
    Ok(())
}

/// Bits in a base64url big-endian modulus, leading zero bits not counted.
fn rsa_modulus_bits(n: &str) -> Option<usize> {
    big_endian_bits(&URL_SAFE_NO_PAD.decode(n).ok()?)
}

/// Bits in the modulus of a PKCS#1 `RSAPublicKey` (`SEQUENCE { INTEGER n, INTEGER e }`,
/// RFC 8017 §A.1.1), which is what jsonwebtoken keeps for a PEM or DER RSA key.
fn der_rsa_modulus_bits(der: &[u8]) -> Option<usize> {
    let (tag, sequence, _) = der_element(der)?;
    let (tag_n, n, _) = der_element(sequence)?;
    (tag == 0x30 && tag_n == 0x02).then_some(())?;
    big_endian_bits(n)
}

/// One DER element: its tag, its contents and what follows it.
fn der_element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        (
            bytes.iter().fold(0usize, |n, b| n << 8 | usize::from(*b)),
            rest,
        )
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

fn big_endian_bits(bytes: &[u8]) -> Option<usize> {
    let first = bytes.iter().position(|b| *b != 0)?;
    Some((bytes.len() - first) * 8 - bytes[first].leading_zeros() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk(json: &str) -> Jwk {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn rsa_pem_under_2048_bits_is_refused_on_every_backend() {
        for pem in [
            &include_bytes!("../../tests/keys/rsa_1024.pub")[..],
            &include_bytes!("../../tests/keys/rsa_1024.pkcs1.pub")[..],
        ] {
            assert!(matches!(
                VerificationKey::from_pem(Algorithm::RS256, pem),
                Err(ConfigError::WeakRsaKey { bits: 1024 })
            ));
        }
        let pem = include_bytes!("../../tests/keys/rsa_a.pub");
        assert!(VerificationKey::from_pem(Algorithm::PS256, pem).is_ok());
    }

    #[test]
    fn empty_hmac_secret_is_weak_not_invalid() {
        assert!(matches!(
            VerificationKey::hmac(Algorithm::HS256, b""),
            Err(ConfigError::WeakHmacSecret { len: 0, .. })
        ));
    }

    #[test]
    fn hmac_secret_length_follows_rfc_7518() {
        assert!(VerificationKey::hmac(Algorithm::HS256, &[1; 32]).is_ok());
        assert!(matches!(
            VerificationKey::hmac(Algorithm::HS384, &[1; 47]),
            Err(ConfigError::WeakHmacSecret {
                min: 48,
                len: 47,
                ..
            })
        ));
        assert!(VerificationKey::hmac(Algorithm::HS512, &[1; 63]).is_err());
        assert!(VerificationKey::hmac(Algorithm::HS512, &[1; 64]).is_ok());
    }

    #[test]
    fn hmac_algorithm_needs_a_secret_not_a_pem() {
        assert!(matches!(
            VerificationKey::from_pem(Algorithm::HS256, b"-----BEGIN PUBLIC KEY-----"),
            Err(ConfigError::KeyAlgorithmMismatch { .. })
        ));
    }

    #[test]
    fn family_mismatch_is_refused() {
        let key = DecodingKey::from_secret(&[1; 32]).unwrap();
        assert!(VerificationKey::from_decoding_key(Algorithm::RS256, key).is_err());
    }

    #[test]
    fn jwk_without_alg_binds_to_its_curve() {
        let k = VerificationKey::from_jwk(&jwk(
            r#"{"kty":"EC","crv":"P-256","kid":"e","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
        ))
        .unwrap();
        assert_eq!(k.algorithms(), AlgorithmSet::one(Algorithm::ES256));
        assert_eq!(k.kid(), Some("e"));
    }

    #[test]
    fn jwk_for_encryption_is_refused() {
        let r = VerificationKey::from_jwk(&jwk(
            r#"{"kty":"EC","crv":"P-256","use":"enc","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
        ));
        assert!(matches!(r, Err(ConfigError::InvalidJwk(_))));
    }

    #[test]
    fn jwk_key_ops_must_allow_verify() {
        let r = VerificationKey::from_jwk(&jwk(
            r#"{"kty":"oct","key_ops":["sign"],"k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#,
        ));
        assert!(matches!(r, Err(ConfigError::InvalidJwk(_))));
    }

    #[test]
    fn jwk_alg_must_fit_kty() {
        let r = VerificationKey::from_jwk(&jwk(
            r#"{"kty":"oct","alg":"RS256","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#,
        ));
        assert!(matches!(r, Err(ConfigError::InvalidJwk(_))));
    }

    #[test]
    fn small_rsa_modulus_is_refused() {
        // 1024-bit modulus: 128 bytes, top bit set.
        let n = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            [0xC5u8; 128],
        );
        let json = format!(r#"{{"kty":"RSA","n":"{n}","e":"AQAB"}}"#);
        assert!(matches!(
            VerificationKey::from_jwk(&jwk(&json)),
            Err(ConfigError::InvalidJwk(_))
        ));
        assert_eq!(rsa_modulus_bits(&n), Some(1024));
    }
}
