//! A token server with the djangorestframework-simplejwt endpoints, production-shaped.
//!
//! ```text
//! cargo run --example token_server
//! ```
//!
//! Environment:
//! - `PORT` (default 8000): listens on `127.0.0.1:$PORT`.
//! - `DEMO_USER` / `DEMO_PASSWORD` (defaults `demo` / `demo-password`): the one user.
//! - `JWT_PRIVATE_KEY_FILE` (+ `JWT_ALGORITHM`, default ES256): the signing key; without
//!   it an ES256 key is generated at start (tokens then die with the process).
//! - `RUST_LOG` (default `info,tower_jwt_auth=debug`).
//!
//! Endpoints (simplejwt's paths and JSON shapes):
//! `POST /api/token/` `{"username","password"}` → `{"access","refresh"}`;
//! `POST /api/token/refresh/` `{"refresh"}` → `{"access","refresh"}` (rotated);
//! `POST /api/token/verify/` `{"token"}` → `{}`;
//! `POST /api/token/blacklist/` `{"refresh"}` → `{}`;
//! `GET /api/me` (access token) → the claims; `GET /.well-known/jwks.json` → the public key.

#[allow(dead_code)]
mod common;

use std::collections::HashMap;
use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm as Argon2Variant, Argon2, Params, Version};
use axum::extract::{DefaultBodyLimit, FromRequest, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tower_jwt_auth::issue::{IssueError, SigningKey, TokenIssuer};
use tower_jwt_auth::{Algorithm, Claims};

/// The server's state: the issuer and the users' password hashes.
#[derive(Clone)]
pub struct AppState {
    issuer: TokenIssuer,
    users: Arc<HashMap<String, String>>,
    /// Verified against for unknown users, so that they take as long as wrong passwords.
    decoy: Arc<String>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("issuer", &self.issuer)
            .field("users", &self.users.len())
            .finish()
    }
}

/// Argon2id with OWASP's minimum: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Argon2Variant::Argon2id, Version::V0x13, params)
}

/// A PHC string for `password` with a fresh salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing")
        .to_string()
}

impl AppState {
    /// State with one user; `password` is hashed here.
    pub fn new(issuer: TokenIssuer, username: &str, password: &str) -> Self {
        let users = HashMap::from([(username.to_owned(), hash_password(password))]);
        let decoy = hash_password("decoy password that matches nothing");
        AppState {
            issuer,
            users: Arc::new(users),
            decoy: Arc::new(decoy),
        }
    }
}

/// The routes, with body limit, timeout and tracing.
pub fn app(state: AppState) -> Result<Router, tower_jwt_auth::ConfigError> {
    let auth = state.issuer.layer_builder::<Value>().build()?;
    let api = Router::new().route("/api/me", get(me)).layer(auth);
    Ok(Router::new()
        .route("/api/token/", post(login))
        .route("/api/token/refresh/", post(refresh))
        .route("/api/token/verify/", post(verify))
        .route("/api/token/blacklist/", post(blacklist))
        .route("/.well-known/jwks.json", get(jwks))
        .merge(api)
        .with_state(state)
        .layer((common::http_layers(), DefaultBodyLimit::max(16 * 1024))))
}

/// simplejwt's error body.
fn detail(status: StatusCode, detail: &str) -> Response {
    (status, Json(json!({ "detail": detail }))).into_response()
}

fn token_not_valid(error: impl std::fmt::Display) -> Response {
    let body = json!({ "detail": error.to_string(), "code": "token_not_valid" });
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

/// A refused token is simplejwt's `token_not_valid`; anything else keeps its own status.
fn issue_error(error: IssueError) -> Response {
    match error.status() {
        StatusCode::UNAUTHORIZED => token_not_valid(error),
        status => detail(status, &error.to_string()),
    }
}

/// A JSON body whose rejection is simplejwt's 400 `{"detail": …}`, never a 500.
struct JsonBody<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Response> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(body)) => Ok(JsonBody(body)),
            Err(rejection) => Err(detail(StatusCode::BAD_REQUEST, &rejection.body_text())),
        }
    }
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

async fn login(State(state): State<AppState>, JsonBody(login): JsonBody<Login>) -> Response {
    let hash = state.users.get(&login.username).cloned();
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| state.decoy.to_string());
    // Hashing is CPU-bound: off the async workers.
    let password_ok = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            argon2()
                .verify_password(login.password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false);
    if !(known && password_ok) {
        return detail(
            StatusCode::UNAUTHORIZED,
            "No active account found with the given credentials",
        );
    }
    match state
        .issuer
        .issue(&login.username, &json!({ "scope": "read" }))
    {
        Ok(pair) => Json(pair).into_response(),
        Err(e) => detail(e.status(), &e.to_string()),
    }
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh: String,
}

async fn refresh(State(state): State<AppState>, JsonBody(body): JsonBody<RefreshBody>) -> Response {
    match state.issuer.refresh(&body.refresh).await {
        Ok(pair) => Json(pair).into_response(),
        Err(e) => issue_error(e),
    }
}

#[derive(Deserialize)]
struct VerifyBody {
    token: String,
}

async fn verify(State(state): State<AppState>, JsonBody(body): JsonBody<VerifyBody>) -> Response {
    match state.issuer.verify(&body.token).await {
        Ok(_) => Json(json!({})).into_response(),
        Err(e) => issue_error(e),
    }
}

async fn blacklist(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Response {
    let is_refresh = match state.issuer.verify(&body.refresh).await {
        Ok(claims) => claims.registered().token_type.as_deref() == Some("refresh"),
        Err(e) => return token_not_valid(e),
    };
    if !is_refresh {
        return token_not_valid("Token has wrong type");
    }
    match state.issuer.revoke(&body.refresh).await {
        Ok(()) => Json(json!({})).into_response(),
        Err(e) => issue_error(e),
    }
}

async fn me(claims: Claims<Value>) -> Json<Value> {
    Json(json!({ "claims": claims.custom(), "registered": claims.registered() }))
}

async fn jwks(State(state): State<AppState>) -> Json<Value> {
    Json(state.issuer.jwks())
}

/// The signing key: `JWT_PRIVATE_KEY_FILE` with `JWT_ALGORITHM`, else a fresh ES256 key.
fn signing_key() -> Result<SigningKey, Box<dyn std::error::Error>> {
    if let Ok(path) = std::env::var("JWT_PRIVATE_KEY_FILE") {
        let alg = std::env::var("JWT_ALGORITHM").unwrap_or_else(|_| "ES256".into());
        let algorithm: Algorithm = alg
            .parse()
            .map_err(|_| format!("unknown JWT_ALGORITHM {alg}"))?;
        let pem = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
        return Ok(SigningKey::from_pem(algorithm, &pem)?);
    }
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &aws_lc_rs::rand::SystemRandom::new(),
    )
    .map_err(|_| "could not generate an ES256 key")?;
    tracing::warn!("no JWT_PRIVATE_KEY_FILE: generated an ES256 key; tokens die with this process");
    Ok(SigningKey::from_der(Algorithm::ES256, pkcs8.as_ref())?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_tracing();
    let port: u16 = std::env::var("PORT").map_or(Ok(8000), |p| p.parse())?;
    let username = std::env::var("DEMO_USER").unwrap_or_else(|_| "demo".into());
    let password = std::env::var("DEMO_PASSWORD").unwrap_or_else(|_| {
        eprintln!(
            "WARNING: DEMO_PASSWORD is not set; the demo user's password is `demo-password`."
        );
        "demo-password".into()
    });
    let issuer = TokenIssuer::builder(signing_key()?).build()?;
    let app = app(AppState::new(issuer, &username, &password))?;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    println!(
        "Try:\n  curl -s -X POST -H 'content-type: application/json' \
         -d '{{\"username\":\"{username}\",\"password\":\"…\"}}' http://{addr}/api/token/\n"
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(common::shutdown_signal())
        .await?;
    tracing::info!("shut down cleanly");
    Ok(())
}
