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
//! - `PORT` (default 50051): listens on `127.0.0.1:$PORT`.
//! - `JWT_SECRET`: the HS256 secret, at least 32 bytes. A development default is used (with
//!   a warning) when it is unset; never run that in production.
//! - `JWT_PUBLIC_KEY_FILE` + `JWT_ALGORITHM` (RS*, PS*, ES*, EdDSA): verify with that PEM
//!   public key instead of the secret.
//! - `JWT_ISSUER`, `JWT_AUDIENCE`: when set, tokens must carry that `iss` / `aud`.
//! - `RUST_LOG` (default `info,tower_jwt_auth=debug`: says why each token was refused).

use std::env;
use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

use jsonwebtoken::{EncodingKey, Header};
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tower_http::trace::{DefaultMakeSpan, DefaultOnFailure, TraceLayer};
use tower_jwt_auth::{Algorithm, JwtAuthLayer, StaticKey};
use tracing::Level;

/// Development secret: public, so only for trying the example out.
const DEV_SECRET: &str = "dev-only-secret-change-me-0123456789abcdef";

/// What a token carries. An RPC handler reads it as `Claims<AppClaims>` from
/// `request.extensions()`; the health service itself does not look at the caller.
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct AppClaims {
    sub: String,
    #[serde(default)]
    scope: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,tower_jwt_auth=debug".into());
    // Logs go to stderr: stdout carries only the sample token and command, for scripts.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let port: u16 = env::var("PORT")
        .map_or(Ok(50051), |p| p.parse())
        .map_err(|e| format!("PORT: {e}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let issuer = env::var("JWT_ISSUER").ok();
    let audience = env::var("JWT_AUDIENCE").ok();
    let (key, algorithm, secret) = key_from_env()?;

    let mut auth = JwtAuthLayer::<AppClaims>::builder(key).algorithms([algorithm]);
    if let Some(iss) = &issuer {
        auth = auth.issuer(iss);
    }
    if let Some(aud) = &audience {
        auth = auth.audience(aud);
    }
    let auth = auth.build()?;

    if let Some(secret) = &secret {
        let token = sample_token(secret, issuer.as_deref(), audience.as_deref())?;
        println!("Sample token (valid for one hour):\n{token}\n");
        println!(
            "Try:\n  grpcurl -plaintext -H \"authorization: Bearer {token}\" {addr} grpc.health.v1.Health/Check\n"
        );
    }

    // "" is the whole server in the health protocol: what load balancers probe.
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;

    tracing::info!(%addr, ?algorithm, "listening");
    Server::builder()
        // A stuck handler must not hold its stream forever.
        .timeout(Duration::from_secs(30))
        // Outside the auth layer, so refused calls are logged too; at WARN, since a bad
        // token is the client's fault, not a server error.
        .layer(
            TraceLayer::new_for_grpc()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_failure(DefaultOnFailure::new().level(Level::WARN)),
        )
        .layer(auth)
        .add_service(health)
        .serve_with_shutdown(addr, shutdown_signal())
        .await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// The verification key from the environment, and the HS256 secret when that is what is used.
fn key_from_env() -> Result<(StaticKey, Algorithm, Option<String>), Box<dyn Error>> {
    if let (Ok(path), Ok(alg)) = (env::var("JWT_PUBLIC_KEY_FILE"), env::var("JWT_ALGORITHM")) {
        let algorithm: Algorithm = alg
            .parse()
            .map_err(|_| format!("unknown JWT_ALGORITHM {alg}"))?;
        let pem = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
        return Ok((StaticKey::from_pem(algorithm, &pem)?, algorithm, None));
    }
    let secret = env::var("JWT_SECRET").unwrap_or_else(|_| {
        eprintln!("WARNING: JWT_SECRET is not set; using the public development secret.");
        DEV_SECRET.to_owned()
    });
    let key = StaticKey::hmac(Algorithm::HS256, secret.as_bytes())?;
    Ok((key, Algorithm::HS256, Some(secret)))
}

/// A token this server accepts: `sub` "demo-user", `scope` "read", valid for an hour.
fn sample_token(
    secret: &str,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> Result<String, jsonwebtoken::errors::Error> {
    // jsonwebtoken panics without a provider when both crypto backends are compiled in.
    tower_jwt_auth::install_crypto_provider();
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = serde_json::json!({
        "sub": "demo-user", "scope": "read", "iat": now, "exp": now + 3600,
    });
    if let Some(iss) = issuer {
        claims["iss"] = iss.into();
    }
    if let Some(aud) = audience {
        claims["aud"] = aud.into();
    }
    let key = EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
}

/// Resolves on Ctrl-C or SIGTERM (what orchestrators send), so in-flight calls finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => drop(sigterm.recv().await),
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received, draining connections");
}
