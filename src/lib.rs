//! JWT bearer authentication as one tower layer, for axum, tonic and plain hyper.
//!
//! [`JwtAuthLayer`] reads the token (`Authorization: Bearer` by default), finds the key
//! through a [`KeyResolver`], verifies signature and claims with
//! [jsonwebtoken](https://docs.rs/jsonwebtoken), and hands the inner service typed
//! [`Claims<T>`] in the request's extensions. A refused request gets an RFC 6750 answer
//! (401/400/403/503 with `WWW-Authenticate`), or a trailers-only `grpc-status` when it is a
//! gRPC call.
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower::ServiceExt;
//! use tower_jwt_auth::{Algorithm, Claims, JwtAuthLayer, StaticKey};
//!
//! #[derive(Clone, serde::Deserialize)]
//! struct MyClaims { sub: String }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = b"at least thirty-two bytes of secret!";
//! let auth = JwtAuthLayer::<MyClaims>::builder(StaticKey::hmac(Algorithm::HS256, secret)?)
//!     .algorithms([Algorithm::HS256])
//!     .build()?;
//! let app = Router::new()
//!     .route("/me", get(|claims: Claims<MyClaims>| async move { claims.sub.clone() }))
//!     .layer(auth);
//!
//! // No token: 401 with a challenge.
//! let request = http::Request::get("/me").body(axum::body::Body::empty())?;
//! let response = app.clone().oneshot(request).await?;
//! assert_eq!(response.status(), 401);
//! assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="api""#);
//!
//! // A valid token: the handler sees the claims.
//! let exp = jsonwebtoken::get_current_timestamp() + 300;
//! let token = jsonwebtoken::encode(
//!     &jsonwebtoken::Header::new(Algorithm::HS256),
//!     &serde_json::json!({ "sub": "ada", "exp": exp }),
//!     &jsonwebtoken::EncodingKey::from_secret(secret)?,
//! )?;
//! let request = http::Request::get("/me")
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(axum::body::Body::empty())?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.status(), 200);
//! # Ok(()) }
//! ```
//!
//! # Crypto backend
//!
//! jsonwebtoken's `aws-lc-rs` backend is the default; `rust-crypto` is the pure-Rust one.
//! With both features on, this crate uses aws-lc-rs and never panics; to use
//! `jsonwebtoken::encode` yourself in such a build, call [`install_crypto_provider`] first
//! (building a layer does it for you).
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
mod axum;
mod builder;
mod cache;
mod challenge;
mod claims;
mod clock;
mod crypto;
pub mod dpop;
mod error;
mod future;
mod header;
mod hook;
#[cfg(feature = "introspection")]
pub mod introspection;
#[cfg(feature = "issue")]
pub mod issue;
mod json;
#[cfg(feature = "jwks")]
pub mod jwks;
mod jws;
mod key;
mod layer;
mod metadata;
mod observe;
mod require;
mod response;
pub mod revocation;
mod roles;
mod rules;
mod service;
mod shared;
mod source;
mod trusted_proxies;
mod validator;

#[cfg(feature = "axum")]
pub use crate::axum::MissingClaims;
pub use builder::JwtAuthBuilder;
pub use claims::{Audience, Claims, Confirmation, RegisteredClaims, Scopes};
pub use crypto::install_crypto_provider;
pub use error::{AuthError, ConfigError, ErrorKind};
pub use future::ResponseFuture;
pub use header::TokenHeader;
pub use jsonwebtoken::Algorithm;
pub use key::{
    AlgorithmSet, BoxKeyFuture, DynKeyFuture, DynResolver, KeyError, KeyResolver, KeySet,
    MultiIssuer, StaticKey, VerificationKey,
};
pub use layer::JwtAuthLayer;
pub use metadata::{ResourceMetadata, ResourceMetadataService};
pub use require::{Require, RequireLayer, Requirement};
pub use response::{DefaultResponder, ErrorResponder, grpc_response, is_grpc};
pub use roles::Roles;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use roles::read_roles;
pub use service::JwtAuth;
pub use source::TokenSource;
pub use trusted_proxies::TrustedProxies;
pub use validator::Validator;

/// The README's code blocks, compiled as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
