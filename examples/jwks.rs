//! An axum API that validates tokens from an identity provider through its JWKS.
//!
//! ```text
//! JWKS_URL=https://issuer.example.com/.well-known/jwks.json cargo run --example jwks
//! OIDC_ISSUER=https://issuer.example.com/ JWT_AUDIENCE=my-api cargo run --example jwks
//! ```
//!
//! Environment:
//! - `JWKS_URL`: the key set's URL; or `OIDC_ISSUER`: the issuer, whose discovery document
//!   names the key set (and whose `iss` tokens must then carry).
//! - `JWT_AUDIENCE`: when set, tokens must name it in `aud`.
//! - `PORT` (default 3000): listens on `127.0.0.1:$PORT`.
//! - `RUST_LOG` (default `info,tower_jwt_auth=debug`).
//!
//! Routes: `GET /health` (no auth), `GET /me` (the token's claims as JSON).

#[allow(dead_code)]
mod common;

use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::AlgorithmFamily;
use tower_jwt_auth::jwks::JwksResolver;
use tower_jwt_auth::{AlgorithmSet, Claims, JwtAuthLayer};

/// Any claims: the handler echoes them.
type AnyClaims = serde_json::Map<String, serde_json::Value>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_tracing();
    let port: u16 = std::env::var("PORT").map_or(Ok(3000), |p| p.parse())?;
    let issuer = std::env::var("OIDC_ISSUER").ok();
    let keys = match (&issuer, std::env::var("JWKS_URL")) {
        (Some(issuer), _) => JwksResolver::from_issuer(issuer).await?,
        (None, Ok(url)) => JwksResolver::new(url),
        (None, Err(_)) => return Err("set JWKS_URL or OIDC_ISSUER".into()),
    };
    // Fail loudly at start if the keys cannot be had, but keep serving: the resolver
    // retries, and answers 503 until it has a key set.
    match keys.refresh().await {
        Ok(()) => tracing::info!(url = keys.url(), keys = keys.key_count(), "JWKS loaded"),
        Err(error) => tracing::error!(url = keys.url(), %error, "JWKS not loaded yet"),
    }

    // Every asymmetric algorithm: each key is still bound to its own by the JWKS.
    let asymmetric = AlgorithmSet::all()
        .iter()
        .filter(|alg| alg.family() != AlgorithmFamily::Hmac);
    let mut auth = JwtAuthLayer::<AnyClaims>::builder(keys).algorithms(asymmetric);
    if let Some(issuer) = &issuer {
        auth = auth.issuer(issuer);
    }
    if let Ok(audience) = std::env::var("JWT_AUDIENCE") {
        auth = auth.audience(audience);
    }

    let app = Router::new()
        .route(
            "/me",
            get(|claims: Claims<AnyClaims>| async move { Json(claims.custom().clone()) }),
        )
        .route_layer(auth.build()?)
        .route("/health", get(|| async { "ok" }))
        .layer(common::http_layers());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(common::shutdown_signal())
        .await?;
    tracing::info!("shut down cleanly");
    Ok(())
}
