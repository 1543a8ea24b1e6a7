//! The main example: an axum API behind `JwtAuthLayer`, shaped for production.
//!
//! ```text
//! cargo run --example axum --features axum
//! ```
//!
//! Environment:
//! - `PORT` (default 3000): listens on `127.0.0.1:$PORT`.
//! - `JWT_SECRET`: the HS256 secret, at least 32 bytes. A development default is used (with
//!   a warning) when it is unset; never run that in production.
//! - `JWT_PUBLIC_KEY_FILE` + `JWT_ALGORITHM` (RS*, PS*, ES*, EdDSA): verify with that PEM
//!   public key instead of the secret.
//! - `JWT_ISSUER`, `JWT_AUDIENCE`: when set, tokens must carry that `iss` / `aud`.
//! - `RUST_LOG` (default `info,tower_jwt_auth=debug`).
//!
//! Routes: `GET /health` (no auth), `GET /me` (the token's claims as JSON),
//! `GET /admin` (needs scope `admin`, else 403).

use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tower_jwt_auth::{Claims, JwtAuthLayer, StaticKey};

/// Development secret: public, so only for trying the example out.
const DEV_SECRET: &str = "dev-only-secret-change-me-0123456789abcdef";

/// What the example's tokens carry beyond the registered claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AppClaims {
    sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_jwt_auth=debug".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let issuer = std::env::var("JWT_ISSUER").ok();
    let audience = std::env::var("JWT_AUDIENCE").ok();
    let (key, algorithm, secret) = key_from_env()?;

    // One builder, two layers: /admin adds a scope requirement on top of the same checks.
    let mut builder = JwtAuthLayer::<AppClaims>::builder(key).algorithms([algorithm]);
    if let Some(iss) = &issuer {
        builder = builder.issuer(iss);
    }
    if let Some(aud) = &audience {
        builder = builder.audience(aud);
    }
    let auth = builder.build()?;
    let admin_auth = {
        let mut b = JwtAuthLayer::<AppClaims>::builder(auth.validator().resolver().clone())
            .algorithms([algorithm])
            .require_scopes(["admin"]);
        if let Some(iss) = &issuer {
            b = b.issuer(iss);
        }
        if let Some(aud) = &audience {
            b = b.audience(aud);
        }
        b.build()?
    };

    let app = Router::new()
        .route("/me", get(me))
        .layer(auth)
        .merge(Router::new().route("/admin", get(admin)).layer(admin_auth))
        .route("/health", get(|| async { "ok" }))
        .layer((
            TraceLayer::new_for_http(),
            TimeoutLayer::with_status_code(
                http::StatusCode::REQUEST_TIMEOUT,
                Duration::from_secs(10),
            ),
        ));

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, ?algorithm, "listening");
    if let Some(secret) = secret {
        print_sample(&secret, addr, issuer.as_deref(), audience.as_deref())?;
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

async fn me(claims: Claims<AppClaims>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "sub": claims.sub,
        "scope": claims.scope,
        "registered": claims.registered(),
        "alg": claims.alg(),
    }))
}

async fn admin(claims: Claims<AppClaims>) -> String {
    format!("hello, admin {}\n", claims.sub)
}

/// The verification key from the environment, and the HS256 secret when that is what is used.
fn key_from_env() -> Result<(StaticKey, Algorithm, Option<String>), Box<dyn std::error::Error>> {
    if let (Ok(path), Ok(alg)) = (
        std::env::var("JWT_PUBLIC_KEY_FILE"),
        std::env::var("JWT_ALGORITHM"),
    ) {
        let algorithm: Algorithm = alg
            .parse()
            .map_err(|_| format!("unknown JWT_ALGORITHM {alg}"))?;
        let pem = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
        return Ok((StaticKey::from_pem(algorithm, &pem)?, algorithm, None));
    }
    let secret = std::env::var("JWT_SECRET").unwrap_or_else(|_| {
        eprintln!("WARNING: JWT_SECRET is not set; using the public development secret.");
        DEV_SECRET.to_owned()
    });
    let key = StaticKey::hmac(Algorithm::HS256, secret.as_bytes())?;
    Ok((key, Algorithm::HS256, Some(secret)))
}

/// Prints a token valid for an hour and a curl command that uses it.
fn print_sample(
    secret: &str,
    addr: std::net::SocketAddr,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> Result<(), jsonwebtoken::errors::Error> {
    tower_jwt_auth::install_crypto_provider();
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = serde_json::json!({
        "sub": "demo-user", "scope": "read admin", "iat": now, "exp": now + 3600,
    });
    if let Some(iss) = issuer {
        claims["iss"] = iss.into();
    }
    if let Some(aud) = audience {
        claims["aud"] = aud.into();
    }
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?;
    println!("Sample token (valid for one hour):\n{token}\n");
    println!("Try:\n  curl -i -H 'Authorization: Bearer {token}' http://{addr}/me\n");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM, so that in-flight requests finish before exit.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
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
