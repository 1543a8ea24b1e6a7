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
//! - `REDIS_URL` (e.g. `redis://127.0.0.1:6379/`): revocations and sessions in Redis, shared
//!   by every instance started with the same `REDIS_URL` and `JWT_PRIVATE_KEY_FILE`, which
//!   then behave as one service; unset, they stay in this process's memory. With it set,
//!   the server does not start until Redis answers (a store it cannot load would refuse
//!   every request with 503).
//! - `TRUSTED_PROXIES` (e.g. `127.0.0.1,::1`): the reverse proxies in front, whose
//!   `X-Forwarded-For` names the client for the per-client login limit (see below). Unset,
//!   the peer address is the client.
//! - `LOGIN_IP_PER_MINUTE` / `LOGIN_IP_BURST` (defaults 10 / 5): login attempts one client
//!   may make, sustained per minute and at once.
//! - `LOGIN_USERNAME_PER_MINUTE` / `LOGIN_USERNAME_BURST` (defaults 5 / 3): login attempts
//!   at one username, from all clients together.
//! - `LOGIN_HASH_WAIT_MS` (default 500): how long a login waits for a password-hashing slot.
//! - `RUST_LOG` (default `info,tower_jwt_auth=debug`).
//!
//! Endpoints (simplejwt's paths and JSON shapes):
//! `POST /api/token/` `{"username","password"}` → `{"access","refresh"}`;
//! `POST /api/token/refresh/` `{"refresh"}` → `{"access","refresh"}` (rotated);
//! `POST /api/token/verify/` `{"token"}` → `{}`;
//! `POST /api/token/blacklist/` `{"refresh"}` → `{}`;
//! `POST /api/logout/` (access token) → `{}`, the whole session revoked (its access and
//! refresh tokens, on every instance);
//! `GET /api/me` (access token) → the claims; `GET /.well-known/jwks.json` → the public key.
//!
//! Errors are simplejwt's `{"detail": …}` bodies: 400 for a malformed body, 413 for a body
//! over 16 KiB, 401 for bad credentials or tokens, 429 + `Retry-After` for too many logins,
//! 503 + `Retry-After` when the revocation store fails or every hashing slot is busy.
//!
//! Logins are guarded, cheapest check first:
//! 1. **per client**: a GCRA bucket ([`governor`]) keyed by the peer's IP address (an IPv6
//!    client by its /64, which one host usually holds whole), checked before the body is
//!    read. Behind a reverse proxy (nginx in production) the peer is the proxy: with
//!    `TRUSTED_PROXIES` set, the key is the `X-Forwarded-For` entry that the trusted proxy
//!    appended (the rightmost one not added by a trusted hop, [`TrustedProxies::client_addr`]),
//!    never the header as the client sent it; a request from any other peer is keyed by
//!    that peer. When the deciding entry is unreadable, the proxy's own address is the
//!    key: such requests share one bucket rather than choose their own.
//! 2. **per username**: a second bucket keyed by the username in the body, whether or not
//!    it exists, so a guess at one account spread over many addresses is slowed too. A
//!    flood at someone's username delays their logins by seconds (the bucket refills), it
//!    does not lock the account.
//! 3. **hashing slots**: Argon2id takes 19 MiB and tens of milliseconds of one CPU per
//!    check. Checks run on tokio's blocking pool, which grows to 512 threads: unbounded, a
//!    login flood would mean hundreds of 19 MiB jobs at once, each running to the end even
//!    after its client left. So a check needs one of `available_parallelism()` permits,
//!    held by the blocking job itself until the hash is done. A login queues for a permit
//!    at most `LOGIN_HASH_WAIT_MS`; after that it gets 503 with `Retry-After: 1` rather
//!    than piling up behind the CPUs.
//!
//! A refused attempt counts like any other, and a request refused by the per-client limit
//! does not count against the username's.

#[allow(dead_code)]
mod common;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm as Argon2Variant, Argon2, Params, Version};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tower_jwt_auth::issue::{IssueError, SigningKey, TokenIssuer};
use tower_jwt_auth::revocation::RedisRevocationStore;
use tower_jwt_auth::{Algorithm, Claims, TrustedProxies};

/// The largest request body any endpoint reads; a larger one is 413.
const BODY_LIMIT: usize = 16 * 1024;

/// `Retry-After` when every hashing slot stayed busy: slots free up within milliseconds.
const HASHING_RETRY_AFTER: u64 = 1;

/// `Retry-After` when the revocation store failed (down, or full until entries expire).
const STORE_RETRY_AFTER: u64 = 5;

/// The default of `LOGIN_HASH_WAIT_MS`.
const HASHING_WAIT_MS: u64 = 500;

/// The longest username prefix that keys a per-username bucket: longer names share their
/// prefix's bucket, so a flood of huge made-up names cannot fill memory with keys.
const USERNAME_KEY_BYTES: usize = 256;

/// How often the per-client and per-username buckets that are full again are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// How logins are limited; see the module documentation. [`Default`] has the documented
/// defaults, [`LoginLimits::from_env`] reads the `LOGIN_*` variables over them.
#[derive(Debug, Clone)]
pub struct LoginLimits {
    /// Sustained login attempts per minute from one client address.
    pub ip_per_minute: NonZeroU32,
    /// Attempts one client address may make at once.
    pub ip_burst: NonZeroU32,
    /// Sustained login attempts per minute at one username, from all clients.
    pub username_per_minute: NonZeroU32,
    /// Attempts at one username at once.
    pub username_burst: NonZeroU32,
    /// Password checks that may run at once. Defaults to `available_parallelism()`.
    pub hashing_slots: usize,
    /// How long a login waits for a hashing slot before it gets 503.
    pub hashing_wait: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        LoginLimits {
            ip_per_minute: NonZeroU32::new(10).expect("non-zero"),
            ip_burst: NonZeroU32::new(5).expect("non-zero"),
            username_per_minute: NonZeroU32::new(5).expect("non-zero"),
            username_burst: NonZeroU32::new(3).expect("non-zero"),
            hashing_slots: cpus,
            hashing_wait: Duration::from_millis(HASHING_WAIT_MS),
        }
    }
}

impl LoginLimits {
    /// The defaults, overridden by whichever `LOGIN_*` variables are set.
    pub fn from_env() -> Result<Self, String> {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String>
        where
            T::Err: std::fmt::Display,
        {
            match std::env::var(name) {
                Ok(value) => value.trim().parse().map_err(|e| format!("{name}: {e}")),
                Err(_) => Ok(default),
            }
        }
        let defaults = LoginLimits::default();
        Ok(LoginLimits {
            ip_per_minute: var("LOGIN_IP_PER_MINUTE", defaults.ip_per_minute)?,
            ip_burst: var("LOGIN_IP_BURST", defaults.ip_burst)?,
            username_per_minute: var("LOGIN_USERNAME_PER_MINUTE", defaults.username_per_minute)?,
            username_burst: var("LOGIN_USERNAME_BURST", defaults.username_burst)?,
            hashing_slots: defaults.hashing_slots,
            hashing_wait: var("LOGIN_HASH_WAIT_MS", HASHING_WAIT_MS).map(Duration::from_millis)?,
        })
    }
}

/// The login guards: two rate limiters and the hashing slots.
struct LoginGuard {
    per_client: DefaultKeyedRateLimiter<IpAddr>,
    per_username: DefaultKeyedRateLimiter<String>,
    hashing: Arc<Semaphore>,
    hashing_wait: Duration,
}

/// Why a login was turned away before its password was checked.
enum Refusal {
    /// A rate limit: retry after this many seconds (at least 1).
    Limited(u64),
    /// Every hashing slot stayed busy for the whole wait.
    Busy,
}

impl LoginGuard {
    fn new(limits: &LoginLimits) -> Self {
        let quota = |per_minute, burst| Quota::per_minute(per_minute).allow_burst(burst);
        LoginGuard {
            per_client: DefaultKeyedRateLimiter::keyed(quota(
                limits.ip_per_minute,
                limits.ip_burst,
            )),
            per_username: DefaultKeyedRateLimiter::keyed(quota(
                limits.username_per_minute,
                limits.username_burst,
            )),
            hashing: Arc::new(Semaphore::new(limits.hashing_slots.max(1))),
            hashing_wait: limits.hashing_wait,
        }
    }

    fn check_client(&self, peer: IpAddr) -> Result<(), Refusal> {
        self.per_client
            .check_key(&client_key(peer))
            .map_err(|until| Refusal::Limited(retry_after(until.wait_time_from(self.now()))))
    }

    fn check_username(&self, username: &str) -> Result<(), Refusal> {
        self.per_username
            .check_key(&username_key(username))
            .map_err(|until| Refusal::Limited(retry_after(until.wait_time_from(self.now()))))
    }

    /// A hashing slot, waiting for one at most `hashing_wait`.
    async fn hashing_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Refusal> {
        let acquire = Arc::clone(&self.hashing).acquire_owned();
        match tokio::time::timeout(self.hashing_wait, acquire).await {
            Ok(Ok(permit)) => Ok(permit),
            // Timed out, or closed (never: the semaphore is not closed).
            _ => Err(Refusal::Busy),
        }
    }

    /// Forgets the buckets that are full again, so the maps grow only with recent clients.
    fn prune(&self) {
        self.per_client.retain_recent();
        self.per_client.shrink_to_fit();
        self.per_username.retain_recent();
        self.per_username.shrink_to_fit();
    }

    fn now(&self) -> <DefaultClock as Clock>::Instant {
        self.per_client.clock().now()
    }
}

/// The rate-limit key of a client: its IPv4 address, or the /64 its IPv6 address is in.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// The rate-limit key of a username: at most its first [`USERNAME_KEY_BYTES`] bytes.
fn username_key(username: &str) -> String {
    let mut end = username.len().min(USERNAME_KEY_BYTES);
    while !username.is_char_boundary(end) {
        end -= 1;
    }
    username[..end].to_owned()
}

/// Whole seconds to wait, rounded up, at least 1 (`Retry-After` is an integer).
fn retry_after(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// The server's state: the issuer, the users' password hashes and the login guards.
#[derive(Clone)]
pub struct AppState {
    issuer: TokenIssuer,
    users: Arc<HashMap<String, String>>,
    /// Verified against for unknown users, so that they take as long as wrong passwords.
    decoy: Arc<String>,
    guard: Arc<LoginGuard>,
    /// The reverse proxies whose `X-Forwarded-For` names the client.
    proxies: Option<TrustedProxies>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("issuer", &self.issuer)
            .field("users", &self.users.len())
            .finish_non_exhaustive()
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
    /// State with one user (`password` is hashed here) and the default [`LoginLimits`].
    pub fn new(issuer: TokenIssuer, username: &str, password: &str) -> Self {
        let users = HashMap::from([(username.to_owned(), hash_password(password))]);
        let decoy = hash_password("decoy password that matches nothing");
        AppState {
            issuer,
            users: Arc::new(users),
            decoy: Arc::new(decoy),
            guard: Arc::new(LoginGuard::new(&LoginLimits::default())),
            proxies: None,
        }
    }

    /// The same state behind `proxies`: logins are limited per forwarded client.
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = Some(proxies);
        self
    }

    /// The per-client rate-limit key of a request from `peer`.
    fn client(&self, request: &Request, peer: IpAddr) -> IpAddr {
        self.proxies
            .as_ref()
            .and_then(|proxies| proxies.client_addr(request.headers(), request.extensions()))
            .unwrap_or(peer)
    }

    /// The same state with fresh login guards under `limits`.
    pub fn with_limits(mut self, limits: &LoginLimits) -> Self {
        self.guard = Arc::new(LoginGuard::new(limits));
        self
    }

    /// The semaphore whose permits are the hashing slots: a permit held here is a slot no
    /// login can use (tests fill them to see the 503).
    pub fn hashing_slots(&self) -> Arc<Semaphore> {
        Arc::clone(&self.guard.hashing)
    }

    /// Every [`PRUNE_EVERY`], forgets the rate-limit buckets that are full again; runs until
    /// the runtime stops.
    pub fn spawn_pruning(&self) {
        let guard = Arc::downgrade(&self.guard);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(PRUNE_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(guard) = guard.upgrade() else { return };
                guard.prune();
            }
        });
    }
}

/// The routes, with body limit, timeout and tracing. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()`: logins are limited per peer.
pub fn app(state: AppState) -> Result<Router, tower_jwt_auth::ConfigError> {
    let auth = state.issuer.layer_builder::<Value>().build()?;
    let api = Router::new()
        .route("/api/me", get(me))
        .route("/api/logout/", post(logout))
        .route_layer(auth);
    Ok(Router::new()
        .route("/api/token/", post(login))
        .route("/api/token/refresh/", post(refresh))
        .route("/api/token/verify/", post(verify))
        .route("/api/token/blacklist/", post(blacklist))
        .route("/.well-known/jwks.json", get(jwks))
        .merge(api)
        .with_state(state)
        .layer((common::http_layers(), DefaultBodyLimit::max(BODY_LIMIT))))
}

/// simplejwt's error body.
fn detail(status: StatusCode, detail: &str) -> Response {
    (status, Json(json!({ "detail": detail }))).into_response()
}

/// `response` with `Retry-After: seconds`.
fn with_retry_after(mut response: Response, seconds: u64) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

fn token_not_valid(error: impl std::fmt::Display) -> Response {
    let body = json!({ "detail": error.to_string(), "code": "token_not_valid" });
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

/// A refused token is simplejwt's `token_not_valid`; a failed revocation store is 503 with
/// `Retry-After`; anything else keeps its own status.
fn issue_error(error: IssueError) -> Response {
    match error.status() {
        StatusCode::UNAUTHORIZED => token_not_valid(error),
        StatusCode::SERVICE_UNAVAILABLE => {
            tracing::warn!(%error, "revocation store unavailable");
            with_retry_after(
                detail(StatusCode::SERVICE_UNAVAILABLE, &error.to_string()),
                STORE_RETRY_AFTER,
            )
        }
        status => {
            tracing::error!(%error, "token endpoint failed");
            detail(status, &error.to_string())
        }
    }
}

/// The answer to a login turned away by a [`LoginGuard`].
impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Limited(seconds) => with_retry_after(
                detail(
                    StatusCode::TOO_MANY_REQUESTS,
                    &format!("Request was throttled. Expected available in {seconds} seconds."),
                ),
                seconds,
            ),
            Refusal::Busy => with_retry_after(
                detail(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many logins in progress; try again shortly.",
                ),
                HASHING_RETRY_AFTER,
            ),
        }
    }
}

/// A JSON body whose rejection is simplejwt's `{"detail": …}`, never a 500: 413 for a body
/// over [`BODY_LIMIT`], 400 for anything else (bad JSON, wrong shape, wrong content type).
struct JsonBody<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        // A declared length over the limit is refused before the body is polled: hyper then
        // never sends `100 Continue`, so a client that asked for it uploads nothing.
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > BODY_LIMIT as u64) {
            return Err(body_too_large());
        }
        match Json::<T>::from_request(request, state).await {
            Ok(Json(body)) => Ok(JsonBody(body)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(body_too_large())
            }
            Err(rejection) => Err(detail(StatusCode::BAD_REQUEST, &rejection.body_text())),
        }
    }
}

fn body_too_large() -> Response {
    detail(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("Request body is larger than {BODY_LIMIT} bytes."),
    )
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

/// One step per guard, cheapest first; the body is read only after the per-client check.
async fn login(State(state): State<AppState>, request: Request) -> Response {
    let Some(ConnectInfo(peer)) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied()
    else {
        tracing::error!("no peer address: serve with into_make_service_with_connect_info");
        return detail(StatusCode::INTERNAL_SERVER_ERROR, "Server misconfigured.");
    };
    let guard = &state.guard;
    let client = state.client(&request, peer.ip());
    if let Err(refusal) = guard.check_client(client) {
        tracing::debug!(%client, "login rate-limited per client");
        return refusal.into_response();
    }
    let login = match JsonBody::<Login>::from_request(request, &state).await {
        Ok(JsonBody(login)) => login,
        Err(response) => return response,
    };
    if let Err(refusal) = guard.check_username(&login.username) {
        tracing::debug!(%client, "login rate-limited per username");
        return refusal.into_response();
    }
    let slot = match guard.hashing_slot().await {
        Ok(slot) => slot,
        Err(refusal) => {
            tracing::warn!("every password-hashing slot busy");
            return refusal.into_response();
        }
    };

    let hash = state.users.get(&login.username).cloned();
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| state.decoy.to_string());
    // Hashing is CPU-bound: off the async workers, and the job holds the slot until it
    // ends, even if this request is dropped (client gone, timeout) before that.
    let checked = tokio::task::spawn_blocking(move || {
        let ok = PasswordHash::new(&hash).is_ok_and(|parsed| {
            argon2()
                .verify_password(login.password.as_bytes(), &parsed)
                .is_ok()
        });
        drop(slot);
        ok
    })
    .await;
    let password_ok = match checked {
        Ok(ok) => ok,
        Err(e) => {
            tracing::error!(error = %e, "password check failed");
            return detail(StatusCode::INTERNAL_SERVER_ERROR, "Password check failed.");
        }
    };
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
        Err(e) => issue_error(e),
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
    // A store that cannot answer is 503 here too, not a refused token.
    let is_refresh = match state.issuer.verify(&body.refresh).await {
        Ok(claims) => claims.registered().token_type.as_deref() == Some("refresh"),
        Err(e) => return issue_error(e),
    };
    if !is_refresh {
        return token_not_valid("Token has wrong type");
    }
    match state.issuer.revoke(&body.refresh).await {
        Ok(()) => Json(json!({})).into_response(),
        Err(e) => issue_error(e),
    }
}

async fn logout(State(state): State<AppState>, claims: Claims<Value>) -> Response {
    match state.issuer.end_session(&claims).await {
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
    let mut issuer = TokenIssuer::builder(signing_key()?);
    if let Ok(url) = std::env::var("REDIS_URL") {
        let store = RedisRevocationStore::connect(&url)
            .await
            .map_err(|e| format!("REDIS_URL: {e}"))?;
        tracing::info!(?store, "revocations in redis");
        issuer = issuer.revocation_store(store);
    }
    let issuer = issuer.build()?;
    let limits = LoginLimits::from_env()?;
    tracing::info!(?limits, "login limits");
    let mut state = AppState::new(issuer, &username, &password).with_limits(&limits);
    if let Ok(proxies) = std::env::var("TRUSTED_PROXIES") {
        let proxies = TrustedProxies::new(proxies.split(','), |extensions| {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip())
        })
        .map_err(|e| format!("TRUSTED_PROXIES: {e}"))?;
        tracing::info!(?proxies, "behind trusted proxies");
        state = state.with_trusted_proxies(proxies);
    }
    state.spawn_pruning();
    let app = app(state)?;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    println!(
        "Try:\n  curl -s -X POST -H 'content-type: application/json' \
         -d '{{\"username\":\"{username}\",\"password\":\"…\"}}' http://{addr}/api/token/\n"
    );
    // The peer address (or, from a trusted proxy, the client it forwards) is the
    // per-client rate-limit key.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(common::shutdown_signal())
    .await?;
    tracing::info!("shut down cleanly");
    Ok(())
}
