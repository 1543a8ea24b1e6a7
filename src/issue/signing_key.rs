//! A private key (or HMAC secret) with its algorithm, its `kid` and its public half.

use std::fmt;

use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, AlgorithmFamily, EncodingKey};

use crate::error::ConfigError;
use crate::key::VerificationKey;

/// The key a [`TokenIssuer`](super::TokenIssuer) signs with, bound to one algorithm.
///
/// For RSA, EC and Ed25519 keys the public half is derived once: it verifies the issuer's
/// own tokens and is published by [`TokenIssuer::jwks`](super::TokenIssuer::jwks) with a
/// `kid` that defaults to the key's RFC 7638 thumbprint. Key material is redacted in
/// `Debug`.
///
/// ```
/// use tower_jwt_auth::Algorithm;
/// use tower_jwt_auth::issue::SigningKey;
/// let key = SigningKey::hmac(Algorithm::HS256, &[7; 32])?;
/// assert!(SigningKey::hmac(Algorithm::HS256, b"short").is_err());
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct SigningKey {
    encoding: EncodingKey,
    algorithm: Algorithm,
    verification: VerificationKey,
    /// The public JWK; `None` for HMAC, whose secret is never published.
    public: Option<Jwk>,
}

impl SigningKey {
    /// An HMAC secret (at least 32/48/64 bytes for HS256/384/512, RFC 7518 §3.2).
    pub fn hmac(algorithm: Algorithm, secret: &[u8]) -> Result<Self, ConfigError> {
        let verification = VerificationKey::hmac(algorithm, secret)?;
        let encoding = EncodingKey::from_secret(secret).map_err(ConfigError::InvalidKey)?;
        Ok(SigningKey {
            encoding,
            algorithm,
            verification,
            public: None,
        })
    }

    /// A PEM private key (PKCS#8, or PKCS#1 for RSA) for an RSA, EC or Ed25519 algorithm.
    pub fn from_pem(algorithm: Algorithm, pem: &[u8]) -> Result<Self, ConfigError> {
        let encoding = match algorithm.family() {
            AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(pem),
            AlgorithmFamily::Ec => EncodingKey::from_ec_pem(pem),
            AlgorithmFamily::Ed => EncodingKey::from_ed_pem(pem),
            AlgorithmFamily::Hmac => return Err(hmac_is_not_pem(algorithm)),
        }
        .map_err(ConfigError::InvalidKey)?;
        Self::asymmetric(algorithm, encoding)
    }

    /// A DER private key (PKCS#8; PKCS#1 for RSA) for an RSA, EC or Ed25519 algorithm.
    pub fn from_der(algorithm: Algorithm, der: &[u8]) -> Result<Self, ConfigError> {
        let encoding = match algorithm.family() {
            AlgorithmFamily::Rsa => EncodingKey::from_rsa_der(der),
            AlgorithmFamily::Ec => EncodingKey::from_ec_der(der),
            AlgorithmFamily::Ed => EncodingKey::from_ed_der(der),
            AlgorithmFamily::Hmac => return Err(hmac_is_not_pem(algorithm)),
        };
        Self::asymmetric(algorithm, encoding)
    }

    fn asymmetric(algorithm: Algorithm, encoding: EncodingKey) -> Result<Self, ConfigError> {
        // Deriving the public half asks jsonwebtoken's process-wide provider.
        crate::install_crypto_provider();
        let mut public =
            Jwk::from_encoding_key(&encoding, algorithm).map_err(ConfigError::InvalidKey)?;
        let thumbprint = public
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(ConfigError::InvalidKey)?;
        public.common.key_id = Some(thumbprint);
        public.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
        let verification = VerificationKey::from_jwk(&public)?;
        Ok(SigningKey {
            encoding,
            algorithm,
            verification,
            public: Some(public),
        })
    }

    /// Names the key: its tokens carry this `kid`, and so does its published JWK.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        let kid = kid.into();
        if let Some(public) = &mut self.public {
            public.common.key_id = Some(kid.clone());
        }
        self.verification = self.verification.with_kid(kid);
        self
    }

    /// The key's `kid`: set by [`with_kid`](Self::with_kid), else the thumbprint (none for HMAC).
    pub fn kid(&self) -> Option<&str> {
        self.verification.kid()
    }

    /// The algorithm the key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key that verifies this key's signatures.
    pub fn verification_key(&self) -> &VerificationKey {
        &self.verification
    }

    /// The public JWK (`None` for HMAC).
    pub fn public_jwk(&self) -> Option<&Jwk> {
        self.public.as_ref()
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }
}

fn hmac_is_not_pem(algorithm: Algorithm) -> ConfigError {
    ConfigError::KeyAlgorithmMismatch {
        algorithm,
        reason: "HMAC takes a secret: use SigningKey::hmac",
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}
