//! The jsonwebtoken crypto backend this crate verifies with.
//!
//! jsonwebtoken picks its backend from its own features and panics at run time when both
//! are compiled in. This crate never asks jsonwebtoken for its process default: it names the
//! backend itself, so `cargo test --all-features` is safe.

use jsonwebtoken::crypto::CryptoProvider;

#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
compile_error!(
    "tower-jwt-auth needs a crypto backend: enable the `aws-lc-rs` (default) or `rust-crypto` feature"
);

/// The backend chosen by this crate's features: aws-lc-rs when enabled, else RustCrypto.
pub(crate) fn provider() -> &'static CryptoProvider {
    #[cfg(feature = "aws-lc-rs")]
    {
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
    }
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    {
        &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
    }
}

/// Installs this crate's backend as jsonwebtoken's process-wide default, unless one is
/// installed already.
///
/// Call it before using `jsonwebtoken::encode`/`decode` yourself in a program built with
/// both the `aws-lc-rs` and `rust-crypto` features: without an installed provider
/// jsonwebtoken panics in that case. Building a layer or validator calls it for you.
/// Returns `true` when this call installed it.
///
/// ```
/// tower_jwt_auth::install_crypto_provider();
/// let key = jsonwebtoken::EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef").unwrap();
/// let token = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &serde_json::json!({}), &key);
/// assert!(token.is_ok());
/// ```
pub fn install_crypto_provider() -> bool {
    provider().install_default().is_ok()
}
