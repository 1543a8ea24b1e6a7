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

#[allow(dead_code)] // the HTTP layers are for the HTTP examples
mod common;

use std::time::Duration;

use tonic::transport::Server;
use tonic_health::ServingStatus;
use tower_http::trace::{DefaultMakeSpan, DefaultOnFailure, TraceLayer};
use tracing::Level;

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
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_tracing();
    let config = common::Config::from_env(50051)?;
    let auth = config.auth::<AppClaims>().build()?;
    let addr = config.addr;
    if let Some(token) = config.sample_token("read")? {
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

    tracing::info!(%addr, algorithm = ?config.algorithm, "listening");
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
        .serve_with_shutdown(addr, common::shutdown_signal())
        .await?;
    tracing::info!("shut down cleanly");
    Ok(())
}
