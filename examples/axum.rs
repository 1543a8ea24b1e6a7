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
//! - `JWT_ROLES_CLAIM` (default `roles`): the claim path roles are read from, dotted for
//!   nested claims (`realm_access.roles` for Keycloak).
//! - `METRICS_PORT`: when set, Prometheus metrics at `GET /metrics` on
//!   `127.0.0.1:$METRICS_PORT`, a listener of its own so that metrics are never public.
//! - `RUST_LOG` (default `info,tower_jwt_auth=debug`).
//!
//! Routes: `GET /health` (no auth), `GET /.well-known/oauth-protected-resource` (RFC 9728
//! metadata, no auth; every 401 challenge points at it), `GET /me` (the token's claims as
//! JSON, its roles, and the DPoP key's thumbprint for a bound token), `GET /admin` (needs
//! scope `admin`, else 403), `GET /reports` (needs role `auditor`, else 403). One layer
//! validates each request once; the routes' guards only read its claims.

#[allow(dead_code)] // the plain `sample_token` is for the other examples
mod common;

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tower_jwt_auth::dpop::DpopMode;
use tower_jwt_auth::{Claims, JwtAuthLayer, Requirement};

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
    let roles_claim = std::env::var("JWT_ROLES_CLAIM").unwrap_or_else(|_| "roles".to_owned());
    let mut auth = JwtAuthLayer::<AppClaims>::builder(config.key.clone())
        .algorithms([config.algorithm])
        .dpop(dpop)
        .resource(&resource)
        .authorization_servers(servers.iter().cloned())
        .roles_claim(&roles_claim);
    if let Some(issuer) = &config.issuer {
        auth = auth.issuer(issuer);
    }
    if let Some(audience) = &config.audience {
        auth = auth.audience(audience);
    }
    if let Some(port) = metrics_port()? {
        serve_metrics(port).await?;
    }
    let app = app(auth.build()?).layer(common::http_layers());

    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, algorithm = ?config.algorithm, ?dpop, %resource, "listening");
    let sample = config.sample_token_with("read admin", |claims| {
        put_at(claims, &roles_claim, serde_json::json!(["auditor"]));
    })?;
    if let Some(token) = sample {
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

/// `METRICS_PORT`, if set.
fn metrics_port() -> Result<Option<u16>, String> {
    match std::env::var("METRICS_PORT") {
        Err(_) => Ok(None),
        Ok(port) => port
            .parse()
            .map(Some)
            .map_err(|e| format!("METRICS_PORT: {e}")),
    }
}

/// Installs the Prometheus recorder and serves `GET /metrics` on its own loopback
/// listener. It needs no graceful shutdown: it ends with the process.
async fn serve_metrics(port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(addr = %listener.local_addr()?, "metrics at /metrics");
    let upkeep = handle.clone();
    tokio::spawn(async move {
        // Histograms are drained into their buckets by upkeep, which nothing else runs.
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    let metrics = Router::new().route("/metrics", get(move || std::future::ready(handle.render())));
    tokio::spawn(async move { axum::serve(listener, metrics).await });
    Ok(())
}

/// Puts `value` at a dotted claim path, making the objects on the way.
fn put_at(claims: &mut serde_json::Value, path: &str, value: serde_json::Value) {
    let mut at = claims;
    for segment in path.split('.') {
        at = &mut at[segment];
    }
    *at = value;
}

/// The routes. `route_layer` authenticates the matched routes only: an unknown path is
/// 404 for everyone, not 401, and `/health` and the metadata need no token. The one
/// layer validates; `/admin` and `/reports` add guards that read what it verified.
pub(crate) fn app(auth: JwtAuthLayer<AppClaims>) -> Router {
    let metadata = auth.resource_metadata().cloned();
    let admin_only = auth.require(Requirement::scope("admin"));
    let auditors = auth.require(Requirement::role("auditor"));
    let router = Router::new()
        .route("/me", get(me))
        .route("/admin", get(admin).route_layer(admin_only))
        .route("/reports", get(reports).route_layer(auditors))
        .route_layer(auth)
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
    /// From the `JWT_ROLES_CLAIM` path.
    roles: Vec<&'a str>,
    /// `null` for an opaque token (introspection).
    alg: Option<tower_jwt_auth::Algorithm>,
    /// The thumbprint of the key this request proved it holds (DPoP), else `null`.
    dpop_jkt: Option<&'a str>,
}

async fn me(claims: Claims<AppClaims>) -> Response {
    let me = Me {
        sub: &claims.sub,
        scope: claims.scope.as_deref(),
        registered: claims.registered(),
        roles: claims.roles().collect(),
        alg: claims.alg(),
        dpop_jkt: claims.dpop_thumbprint(),
    };
    Json(me).into_response()
}

async fn admin(claims: Claims<AppClaims>) -> String {
    format!("hello, admin {}\n", claims.sub)
}

async fn reports(claims: Claims<AppClaims>) -> String {
    format!("reports for auditor {}\n", claims.sub)
}
