//! The standard gRPC health service (`grpc.health.v1.Health`) behind `JwtAuthLayer`.
//!
//! ```text
//! cargo run --example tonic
//! grpcurl -plaintext -H "authorization: Bearer <token>" 127.0.0.1:50051 grpc.health.v1.Health/Check
//! ```
//!
//! With the HS256 secret, a sample token valid for one hour is printed at start.
//!
//! Environment:
//! - `PORT`: the port on 127.0.0.1 (default 50051).
//! - `JWT_SECRET`: the HS256 secret, at least 32 bytes. Defaults to a development secret,
//!   with a warning: never deploy with it.
//! - `JWT_PUBLIC_KEY_FILE` and `JWT_ALGORITHM` (both): verify with this PEM public key and
//!   algorithm (`RS256`…`RS512`, `PS256`…`PS512`, `ES256`, `ES384`, `EdDSA`) instead.
//! - `JWT_ISSUER`, `JWT_AUDIENCE`: when set, tokens must carry this `iss` / `aud`.
//! - `RUST_LOG`: log filter (default `info`).

use std::env;
use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

use jsonwebtoken::{EncodingKey, Header};
use serde::Deserialize;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tower_jwt_auth::{Algorithm, JwtAuthLayer, StaticKey};
use tracing::Level;
use tracing_subscriber::EnvFilter;

/// For local runs only; anyone reading this file can mint tokens with it.
const DEV_SECRET: &str = "insecure-development-secret-change-me!";

/// What the service reads from a token. Handlers would take it from the request's
/// extensions as `tower_jwt_auth::Claims<AppClaims>`.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // the health service itself does not look at the caller
struct AppClaims {
    sub: String,
    #[serde(default)]
    scope: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();

    let port: u16 = match env::var("PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 50051,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let issuer = env::var("JWT_ISSUER").ok();
    let audience = env::var("JWT_AUDIENCE").ok();

    // An asymmetric key when one is configured; otherwise a shared secret, which also lets
    // this process mint a sample token.
    let (key, algorithm, secret) = match (
        env::var_os("JWT_PUBLIC_KEY_FILE"),
        env::var("JWT_ALGORITHM"),
    ) {
        (Some(path), Ok(alg)) => {
            let alg: Algorithm = alg.parse()?;
            let pem = std::fs::read(&path)
                .map_err(|e| format!("{}: {e}", std::path::Path::new(&path).display()))?;
            (StaticKey::from_pem(alg, &pem)?, alg, None)
        }
        _ => {
            let secret = env::var("JWT_SECRET").unwrap_or_else(|_| {
                eprintln!("warning: JWT_SECRET is not set; using the insecure development secret");
                DEV_SECRET.to_owned()
            });
            let key = StaticKey::hmac(Algorithm::HS256, secret.as_bytes())?;
            (key, Algorithm::HS256, Some(secret))
        }
    };

    let mut auth = JwtAuthLayer::<AppClaims>::builder(key).algorithms([algorithm]);
    if let Some(issuer) = &issuer {
        auth = auth.issuer(issuer.as_str());
    }
    if let Some(audience) = &audience {
        auth = auth.audience(audience.as_str());
    }
    let auth = auth.build()?;

    if let Some(secret) = &secret {
        let token = sample_token(secret, issuer.as_deref(), audience.as_deref())?;
        println!("sample token (valid for one hour):\n{token}\n");
        println!(
            "grpcurl -plaintext -H \"authorization: Bearer {token}\" {addr} grpc.health.v1.Health/Check"
        );
    }

    let (reporter, health) = tonic_health::server::health_reporter();
    // "" is the whole server in the health protocol.
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;

    tracing::info!(%addr, ?algorithm, "listening");
    Server::builder()
        // A stuck handler must not hold a connection slot forever.
        .timeout(Duration::from_secs(30))
        // Outermost, so rejected calls are logged too; a refused token is the client's
        // problem, not an error of ours.
        .layer(TraceLayer::new_for_grpc().on_failure(DefaultOnFailure::new().level(Level::WARN)))
        .layer(auth)
        .add_service(health)
        .serve_with_shutdown(addr, shutdown())
        .await?;
    tracing::info!("stopped");
    Ok(())
}

/// A token this server accepts: `sub` "demo-user", `scope` "read", one hour.
fn sample_token(
    secret: &str,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> Result<String, jsonwebtoken::errors::Error> {
    // jsonwebtoken panics without a provider when both crypto backends are compiled in.
    tower_jwt_auth::install_crypto_provider();
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = serde_json::json!({
        "sub": "demo-user",
        "scope": "read",
        "iat": now,
        "exp": now + 3600,
    });
    if let Some(iss) = issuer {
        claims["iss"] = iss.into();
    }
    if let Some(aud) = audience {
        claims["aud"] = aud.into();
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}

/// Resolves on Ctrl-C or SIGTERM (what container runtimes send); in-flight calls finish.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
