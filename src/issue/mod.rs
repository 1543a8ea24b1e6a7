//! Issuing tokens the simplejwt way (feature `issue`): access/refresh pairs, refresh with
//! rotation and reuse detection, revocation, and the public keys as a JWKS.
//!
//! ```
//! use tower_jwt_auth::Algorithm;
//! use tower_jwt_auth::issue::{SigningKey, TokenIssuer};
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let issuer = TokenIssuer::builder(SigningKey::hmac(Algorithm::HS256, &[7; 32])?)
//!     .issuer("https://auth.example.com")
//!     .build()?;
//!
//! // Log in: a pair. The access token carries your claims.
//! let pair = issuer.issue("alice", &serde_json::json!({ "scope": "read" }))?;
//! // Refresh: a new pair; the old refresh token is now spent (rotation).
//! let next = issuer.refresh(&pair.refresh).await?;
//! // Presenting the old refresh token again revokes the whole session.
//! assert!(issuer.refresh(&pair.refresh).await.is_err());
//! assert!(issuer.refresh(&next.refresh).await.is_err());
//! # Ok(()) }
//! ```

mod issuer;
mod pair;
mod signing_key;

pub use issuer::{TokenIssuer, TokenIssuerBuilder};
pub use pair::{IssueError, TokenPair};
pub use signing_key::SigningKey;
