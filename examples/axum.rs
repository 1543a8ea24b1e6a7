//! The main example: an axum API behind `JwtAuthLayer`, shaped for production.
//!
//! ```text
//! cargo run --example axum
//! ```
//!
//! Environment:
//! - `PORT` (default 3000): listens on `127.0.0.1:$PORT`.
//! - `JWT_SECRET`: the HS256 secret, at least 32 bytes. A development default is used (with
//!   a warning) when it is unset; never run that in production.
//! - `JWT_PUBLIC_KEY_FILE` + `JWT_ALGORITHM` (RS*, PS*, ES*, EdDSA): verify with that PEM
//!   public key instead of the secret.
//! - `JWT_ISSUER`, `JWT_AUDIENCE`: when set, tokens must carry that `iss` / `aud`.
//! - `JWT_DPOP` = `disabled` | `allowed` (default) | `required`: DPoP (RFC 9449). Allowed:
//!   bearer tokens work, a token bound to a key (`cnf.jkt`) needs `Authorization: DPoP` and
//!   a proof. Required: only DPoP-bound tokens.
//! - `RESOURCE_URL` (default `http://127.0.0.1:$PORT`): the resource's identifier as clients
//!   reach it (through your proxy in production); DPoP proofs' `htu` is checked against it.
//! - `AUTHORIZATION_SERVERS` (comma-separated; default `JWT_ISSUER` when set): named in the
//!   protected resource metadata.
//! - `RUST_LOG` (default `info,tower_jwt_auth=debug`).
//!
//! Routes: `GET /health` (no auth), `GET /.well-known/oauth-protected-resource` (RFC 9728
//! metadata, no auth; every 401 challenge points at it), `GET /me` (the token's claims as
//! JSON, and the DPoP key's thumbprint for a bound token), `GET /admin` (needs scope
//! `admin`, else 403).

mod common;

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tower_jwt_auth::dpop::{DpopMode, MemoryReplayStore};
use tower_jwt_auth::{Claims, JwtAuthLayer};

/// What the example's tokens carry beyond the registered claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AppClaims {
    sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_tracing();
    let config = common::Config::from_env(3000)?;
    let dpop = dpop_mode_from_env()?;
    let resource =
        std::env::var("RESOURCE_URL").unwrap_or_else(|_| format!("http://{}", config.addr));
    let servers: Vec<String> = match std::env::var("AUTHORIZATION_SERVERS") {
        Ok(list) => list.split(',').map(|s| s.trim().to_owned()).collect(),
        Err(_) => config.issuer.iter().cloned().collect(),
    };
    // One replay store for both layers: a proof is spent once, whichever route sees it.
    let replay = Arc::new(MemoryReplayStore::default());

    // The checks every route makes; /admin adds a scope requirement.
    let auth = || {
        let mut auth = JwtAuthLayer::<AppClaims>::builder(config.key.clone())
            .algorithms([config.algorithm])
            .dpop(dpop)
            .dpop_replay_store(Arc::clone(&replay))
            .resource(&resource)
            .authorization_servers(servers.iter().cloned());
        if let Some(issuer) = &config.issuer {
            auth = auth.issuer(issuer);
        }
        if let Some(audience) = &config.audience {
            auth = auth.audience(audience);
        }
        auth
    };
    let admin_auth = auth().required_scopes(["admin"]).build()?;
    let app = app(auth().build()?, admin_auth).layer(common::http_layers());

    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, algorithm = ?config.algorithm, ?dpop, %resource, "listening");
    if let Some(token) = config.sample_token("read admin")? {
        println!("Sample token (valid for one hour):\n{token}\n");
        println!("Try:\n  curl -i -H 'Authorization: Bearer {token}' http://{addr}/me\n");
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(common::shutdown_signal())
        .await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// `JWT_DPOP`: `disabled`, `allowed` (the default) or `required`.
fn dpop_mode_from_env() -> Result<DpopMode, String> {
    match std::env::var("JWT_DPOP").as_deref() {
        Err(_) | Ok("allowed") => Ok(DpopMode::Allowed),
        Ok("disabled") => Ok(DpopMode::Disabled),
        Ok("required") => Ok(DpopMode::Required),
        Ok(other) => Err(format!(
            "JWT_DPOP must be disabled, allowed or required, not {other:?}"
        )),
    }
}

/// The routes. `route_layer` authenticates the matched routes only: an unknown path is
/// 404 for everyone, not 401, and `/health` and the metadata need no token.
pub(crate) fn app(auth: JwtAuthLayer<AppClaims>, admin_auth: JwtAuthLayer<AppClaims>) -> Router {
    let metadata = auth.resource_metadata().cloned();
    let router = Router::new()
        .route("/me", get(me))
        .route_layer(auth)
        .merge(
            Router::new()
                .route("/admin", get(admin))
                .route_layer(admin_auth),
        )
        .route("/health", get(|| async { "ok" }));
    match metadata {
        Some(metadata) => router.route_service(metadata.path(), metadata.service()),
        None => router,
    }
}

/// `/me`'s body, borrowed from the claims: serialized in one pass, no `Value` tree.
#[derive(Serialize)]
struct Me<'a> {
    sub: &'a str,
    scope: Option<&'a str>,
    registered: &'a tower_jwt_auth::RegisteredClaims,
    alg: tower_jwt_auth::Algorithm,
    /// The thumbprint of the key this request proved it holds (DPoP), else `null`.
    dpop_jkt: Option<&'a str>,
}

async fn me(claims: Claims<AppClaims>) -> Response {
    let me = Me {
        sub: &claims.sub,
        scope: claims.scope.as_deref(),
        registered: claims.registered(),
        alg: claims.alg(),
        dpop_jkt: claims.dpop_thumbprint(),
    };
    Json(me).into_response()
}

async fn admin(claims: Claims<AppClaims>) -> String {
    format!("hello, admin {}\n", claims.sub)
}
