//! `JwksResolver` (and `MultiIssuer` over it) against a real JWKS provider on loopback whose
//! behaviour each test controls: rotation, unknown-`kid` floods, outages, caching headers,
//! OIDC discovery and issuer routing.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Router, routing};
use futures_util::FutureExt;
use futures_util::stream::{self, StreamExt};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tower_jwt_auth::jwks::{FetchError, JwksBuilder, JwksResolver};
use tower_jwt_auth::{
    Algorithm, Claims, ErrorKind, JwtAuthLayer, KeyError, KeyResolver, MultiIssuer, TokenHeader,
    Validator, VerificationKey,
};

// ---------------------------------------------------------------------------------------------
// The JWKS provider
// ---------------------------------------------------------------------------------------------

/// The fetch timeout every resolver here is built with.
const FETCH_TIMEOUT: Duration = Duration::from_millis(300);
/// How long the provider sleeps in the slow modes: far past `FETCH_TIMEOUT`.
const SLOW: Duration = Duration::from_secs(2);
/// The resolvers' response size cap, and the size of the oversized documents.
const MAX_SIZE: usize = 8 * 1024;
const OVERSIZED: usize = 64 * 1024;
/// The bound on any one request: nothing may wait much longer than one fetch timeout.
const NO_HANG: Duration = FETCH_TIMEOUT.saturating_add(Duration::from_secs(1));

/// How `/jwks.json` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// 200 with the current key set.
    Normal,
    /// 500, empty body.
    Status500,
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with the current key set padded to 64 KiB, with `Content-Length`.
    Oversized,
    /// The same, chunked, without `Content-Length`: only counting the body can catch it.
    OversizedChunked,
    /// Sleeps `SLOW` before answering.
    Slow,
    /// Headers and the first bytes at once, then the body stalls for `SLOW`.
    StalledBody,
    /// 200 with a well-formed JWKS whose only key is an HMAC secret (which is skipped).
    OnlySymmetricKeys,
}

struct ProviderState {
    keys: Mutex<Vec<Value>>,
    cache_control: Mutex<Option<String>>,
    mode: Mutex<Mode>,
    /// The discovery document; `None` answers 404.
    discovery: Mutex<Option<Value>>,
    /// Requests to `/jwks.json`, counted on arrival whatever the mode.
    hits: AtomicUsize,
    /// Where `/redirect` sends its 302s; `None` answers 404.
    redirect_to: Mutex<Option<String>>,
    /// Requests to `/redirect` and `/hop/{n}`.
    redirects: AtomicUsize,
}

/// A JWKS provider (and OIDC issuer) on an ephemeral loopback port.
struct Provider {
    state: Arc<ProviderState>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Provider {
    async fn start(keys: Vec<Value>) -> Self {
        let state = Arc::new(ProviderState {
            keys: Mutex::new(keys),
            cache_control: Mutex::new(None),
            mode: Mutex::new(Mode::Normal),
            discovery: Mutex::new(None),
            hits: AtomicUsize::new(0),
            redirect_to: Mutex::new(None),
            redirects: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/jwks.json", routing::get(serve_jwks))
            .route("/redirect", routing::get(serve_redirect))
            .route("/hop/{n}", routing::get(serve_hop))
            .route(
                "/.well-known/openid-configuration",
                routing::get(serve_discovery),
            )
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Provider {
            state,
            addr,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn jwks_url(&self) -> String {
        format!("http://{}/jwks.json", self.addr)
    }

    fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    fn add_key(&self, key: Value) {
        self.state.keys.lock().unwrap().push(key);
    }

    fn set_cache_control(&self, value: &str) {
        *self.state.cache_control.lock().unwrap() = Some(value.to_owned());
    }

    fn set_discovery(&self, document: Value) {
        *self.state.discovery.lock().unwrap() = Some(document);
    }

    /// Makes `/redirect` answer 302 to `location`.
    fn set_redirect(&self, location: &str) {
        *self.state.redirect_to.lock().unwrap() = Some(location.to_owned());
    }

    fn redirects(&self) -> usize {
        self.state.redirects.load(Ordering::SeqCst)
    }

    /// Takes the provider down: the listener is closed (new connections are refused) and
    /// idle keep-alive connections are closed, so no pooled connection can still reach it.
    async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let task = self.task.take().expect("provider already stopped");
        tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .expect("provider did not shut down")
            .unwrap();
    }
}

async fn serve_jwks(State(state): State<Arc<ProviderState>>) -> Response {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let mode = *state.mode.lock().unwrap();
    let keys = state.keys.lock().unwrap().clone();
    let cache_control = state.cache_control.lock().unwrap().clone();
    let document = json!({ "keys": keys });
    let mut response = match mode {
        Mode::Normal => json_response(document.to_string()),
        Mode::Status500 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Mode::Garbage => json_response(r#"{"keys": [ this is not JSON"#.to_owned()),
        Mode::Oversized => json_response(padded(document)),
        Mode::OversizedChunked => {
            let body = Bytes::from(padded(document));
            let chunks: Vec<Result<Bytes, Infallible>> = (0..body.len())
                .step_by(1024)
                .map(|at| Ok(body.slice(at..(at + 1024).min(body.len()))))
                .collect();
            let mut response = Response::new(Body::from_stream(stream::iter(chunks)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Mode::Slow => {
            tokio::time::sleep(SLOW).await;
            json_response(document.to_string())
        }
        Mode::StalledBody => {
            let text = document.to_string();
            let (head, tail) = text.split_at(10);
            let (head, tail) = (Bytes::from(head.to_owned()), Bytes::from(tail.to_owned()));
            let body = stream::iter([Ok::<_, Infallible>(head)]).chain(stream::once(async move {
                tokio::time::sleep(SLOW).await;
                Ok(tail)
            }));
            Response::new(Body::from_stream(body))
        }
        Mode::OnlySymmetricKeys => json_response(
            json!({ "keys": [jwk(Algorithm::HS256, Pair::A, "hs256-only")] }).to_string(),
        ),
    };
    if let Some(value) = cache_control {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::try_from(value).unwrap());
    }
    response
}

async fn serve_discovery(State(state): State<Arc<ProviderState>>) -> Response {
    match state.discovery.lock().unwrap().clone() {
        Some(document) => json_response(document.to_string()),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn serve_redirect(State(state): State<Arc<ProviderState>>) -> Response {
    state.redirects.fetch_add(1, Ordering::SeqCst);
    match state.redirect_to.lock().unwrap().clone() {
        Some(location) => found(&location),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `/hop/{n}`: 302 to `/hop/{n - 1}`, and `/hop/0` is `/jwks.json`: `n` redirects in all.
async fn serve_hop(
    State(state): State<Arc<ProviderState>>,
    axum::extract::Path(n): axum::extract::Path<usize>,
) -> Response {
    if n == 0 {
        return serve_jwks(State(state)).await;
    }
    state.redirects.fetch_add(1, Ordering::SeqCst);
    found(&format!("/hop/{}", n - 1))
}

fn found(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
}

fn json_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The document with an extra member that takes it to `OVERSIZED` bytes: still a valid
/// JWKS, so only the size cap can make the fetch fail.
fn padded(mut document: Value) -> String {
    document["padding"] = "x".repeat(OVERSIZED).into();
    let text = document.to_string();
    assert!(text.len() > OVERSIZED && text.len() > MAX_SIZE);
    text
}

/// A URL on a loopback port nobody listens on.
/// A URL whose port refuses connections, and the socket that keeps it so: bound but never
/// listening, so no other test's server can take the port while this one runs.
async fn closed_port_url() -> (String, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    (format!("http://{addr}/jwks.json"), socket)
}

/// A port that accepts each connection and closes it at once, counting them: a provider
/// that is down while its port still answers.
async fn hang_up_url() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (format!("http://{addr}/jwks.json"), connections)
}

// ---------------------------------------------------------------------------------------------
// Keys and tokens
// ---------------------------------------------------------------------------------------------

/// The public JWK of a fixture key pair, bound to `alg`, named `kid`.
fn jwk(alg: Algorithm, pair: Pair, kid: &str) -> Value {
    tower_jwt_auth::install_crypto_provider();
    let mut jwk = Jwk::from_encoding_key(&encoding_key(alg, pair), alg).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    serde_json::to_value(jwk).unwrap()
}

/// The served key set: one key per asymmetric algorithm family (pair `A`), each under its
/// own `kid`, and an HMAC secret (`SECRET_A`) that a remote set must never contribute.
const SIGNERS: [(Algorithm, &str); 5] = [
    (Algorithm::RS256, "rs256-a"),
    (Algorithm::PS256, "ps256-a"),
    (Algorithm::ES256, "es256-a"),
    (Algorithm::ES384, "es384-a"),
    (Algorithm::EdDSA, "eddsa-a"),
];
const HMAC_KID: &str = "hs256-a";

fn served_set() -> Vec<Value> {
    let mut keys: Vec<Value> = SIGNERS
        .iter()
        .map(|(alg, kid)| jwk(*alg, Pair::A, kid))
        .collect();
    keys.push(jwk(Algorithm::HS256, Pair::A, HMAC_KID));
    keys
}

/// How many of `served_set()` a resolver keeps: all but the HMAC secret.
const USABLE: usize = 5;

/// A token for `alg` signed by `pair`, with this `kid` and these extra claims.
fn token(alg: Algorithm, pair: Pair, kid: Option<&str>, extra: Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    mint_with_header(header, pair, &claims(extra))
}

fn signed(alg: Algorithm, kid: &str) -> String {
    token(alg, Pair::A, Some(kid), json!({}))
}

/// RS256 by pair `A` under a `kid` the provider does not have.
fn unknown_kid(kid: &str) -> String {
    signed(Algorithm::RS256, kid)
}

// ---------------------------------------------------------------------------------------------
// Resolvers, the protected app, requests
// ---------------------------------------------------------------------------------------------

/// Short timings; the cooldown and the failure backoff are long unless a test says otherwise.
fn options() -> JwksBuilder {
    JwksResolver::builder()
        .fetch_timeout(FETCH_TIMEOUT)
        .max_response_size(MAX_SIZE)
        .unknown_kid_cooldown(Duration::from_secs(10))
        .retry_after_failure(Duration::from_secs(30))
}

async fn me(c: Claims<TestClaims>) -> String {
    c.sub.clone()
}

/// `/me` behind a layer over `resolver`, every algorithm allowed (HS* included, so an HMAC
/// token is refused for want of a key, not by the algorithm list).
async fn app<R: KeyResolver>(resolver: R) -> SocketAddr {
    let layer = JwtAuthLayer::<TestClaims>::builder(resolver)
        .algorithms(all_algorithms())
        .build()
        .unwrap();
    serve(Router::new().route("/me", routing::get(me)).layer(layer)).await
}

fn validator<R: KeyResolver>(resolver: R) -> Validator<TestClaims, R> {
    Validator::<TestClaims>::builder(resolver)
        .algorithms(all_algorithms())
        .build_validator()
        .unwrap()
}

/// GET `/me` with the token; the request must be answered within `NO_HANG`.
async fn call(addr: SocketAddr, token: &str) -> Reply {
    tokio::time::timeout(NO_HANG, get_with_token(addr, "/me", token))
        .await
        .unwrap_or_else(|_| panic!("request not answered within {NO_HANG:?}"))
}

/// The same as a gRPC request.
async fn call_grpc(addr: SocketAddr, token: &str) -> Reply {
    let bearer = format!("Bearer {token}");
    let headers = [
        ("content-type", "application/grpc"),
        ("authorization", bearer.as_str()),
    ];
    tokio::time::timeout(NO_HANG, get(addr, "/me", &headers))
        .await
        .unwrap_or_else(|_| panic!("gRPC request not answered within {NO_HANG:?}"))
}

/// `Validator::validate` bounded by `NO_HANG`.
async fn check<R: KeyResolver>(
    v: &Validator<TestClaims, R>,
    token: &str,
) -> Result<Claims<TestClaims>, ErrorKind> {
    tokio::time::timeout(NO_HANG, v.validate(token))
        .await
        .unwrap_or_else(|_| panic!("validation not done within {NO_HANG:?}"))
        .map_err(|e| e.kind())
}

#[track_caller]
fn assert_accepted(r: &Reply) {
    assert_eq!(
        (r.status.as_u16(), r.body.as_str()),
        (200, "alice"),
        "{r:?}"
    );
}

#[track_caller]
fn assert_401(r: &Reply, description: &str) {
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.challenge(), invalid_token(description), "{r:?}");
}

#[track_caller]
fn assert_unknown_key(r: &Reply) {
    assert_401(r, "no key matches the token");
}

/// 503 with no challenge and a `Retry-After` of whole seconds within `retry_after`.
#[track_caller]
fn assert_unavailable(r: &Reply, retry_after: std::ops::RangeInclusive<u64>) {
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("www-authenticate"), None, "{r:?}");
    let after: u64 = r
        .header("retry-after")
        .expect("503 without Retry-After")
        .parse()
        .expect("Retry-After is not whole seconds");
    assert!(retry_after.contains(&after), "Retry-After {after}: {r:?}");
}

/// Waits (up to `within`) for the provider to have seen `n` requests.
async fn wait_for_hits(p: &Provider, n: usize, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while p.hits() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "provider saw {} request(s), expected {n} within {within:?}",
            p.hits()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How long to watch for a background fetch that must not happen: a spawned fetch reaches
/// the loopback provider within milliseconds.
const QUIET: Duration = Duration::from_millis(200);

// ---------------------------------------------------------------------------------------------
// 1. Which keys a remote set contributes
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_asymmetric_family_in_the_set_verifies_by_kid() {
    let p = Provider::start(served_set()).await;
    let keys = options().build(p.jwks_url());
    let addr = app(keys.clone()).await;
    for (alg, kid) in SIGNERS {
        assert_accepted(&call(addr, &signed(alg, kid)).await);
    }
    assert_eq!(p.hits(), 1, "one fetch serves every kid of the set");
    assert_eq!(keys.key_count(), USABLE, "the oct key is not taken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_signed_by_a_key_outside_the_set_is_refused() {
    let p = Provider::start(served_set()).await;
    let addr = app(options().build(p.jwks_url())).await;
    for (alg, kid) in SIGNERS {
        // The kid is in the set, the signing key (pair B) is not.
        let forged = token(alg, Pair::B, Some(kid), json!({}));
        assert_401(&call(addr, &forged).await, "token signature is invalid");
    }
    assert_eq!(p.hits(), 1, "a known kid never causes a fetch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hmac_keys_are_never_taken_from_a_remote_set() {
    let p = Provider::start(served_set()).await;
    let keys = options().build(p.jwks_url());
    let addr = app(keys.clone()).await;
    assert_accepted(&call(addr, &signed(Algorithm::ES256, "es256-a")).await);

    // Signed with the very secret the set publishes as an `oct` key, under its kid.
    let hs = token(Algorithm::HS256, Pair::A, Some(HMAC_KID), json!({}));
    assert_unknown_key(&call(addr, &hs).await);
    // Nor is it found without a kid (it would be the only key fitting HS256).
    let hs = token(Algorithm::HS256, Pair::A, None, json!({}));
    assert_unknown_key(&call(addr, &hs).await);
    assert_eq!(keys.key_count(), USABLE);

    // Key confusion: HS256 "signed" with the RSA public key under the RSA key's kid.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rs256-a".into());
    let confused = jsonwebtoken::encode(
        &header,
        &claims(json!({})),
        &EncodingKey::from_secret(&public_pem(Algorithm::RS256, Pair::A)).unwrap(),
    )
    .unwrap();
    assert_401(
        &call(addr, &confused).await,
        "token algorithm is not allowed",
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Rotation
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotated_in_is_fetched_once_on_first_sight() {
    let p = Provider::start(served_set()).await;
    let keys = options().build(p.jwks_url());
    let addr = app(keys.clone()).await;
    assert_accepted(&call(addr, &signed(Algorithm::RS256, "rs256-a")).await);
    assert_eq!(p.hits(), 1);

    p.add_key(jwk(Algorithm::ES256, Pair::B, "rotated-in"));
    let new = token(Algorithm::ES256, Pair::B, Some("rotated-in"), json!({}));
    let before = p.hits();
    assert_accepted(&call(addr, &new).await);
    assert_eq!(p.hits(), before + 1, "exactly one fetch for the new kid");
    assert_eq!(keys.key_count(), USABLE + 1);

    // From then on the new key is cached, and the old ones are still there.
    assert_accepted(&call(addr, &new).await);
    assert_accepted(&call(addr, &signed(Algorithm::RS256, "rs256-a")).await);
    assert_eq!(p.hits(), before + 1);
}

// ---------------------------------------------------------------------------------------------
// 3. Unknown-kid floods
// ---------------------------------------------------------------------------------------------

/// `n` concurrent requests, each with its own unknown kid; every one answered within
/// `NO_HANG`.
async fn flood(addr: SocketAddr, n: usize, prefix: &str) -> Vec<Reply> {
    let mut requests = JoinSet::new();
    for i in 0..n {
        let token = unknown_kid(&format!("{prefix}-{i}"));
        requests.spawn(async move { call(addr, &token).await });
    }
    requests.join_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_flood_causes_at_most_one_fetch() {
    let p = Provider::start(served_set()).await;
    let addr = app(options().build(p.jwks_url())).await;
    assert_accepted(&call(addr, &signed(Algorithm::RS256, "rs256-a")).await);
    let before = p.hits();

    for r in flood(addr, 50, "flood").await {
        assert_unknown_key(&r);
    }
    assert_eq!(p.hits(), before + 1, "one fetch for the whole flood");

    // Within the cooldown: refused at once, no fetch.
    assert_unknown_key(&call(addr, &unknown_kid("one-more")).await);
    tokio::time::sleep(QUIET).await;
    assert_eq!(p.hits(), before + 1);
    // Known kids are unaffected.
    assert_accepted(&call(addr, &signed(Algorithm::EdDSA, "eddsa-a")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_flood_while_provider_is_slow_waits_at_most_one_fetch_timeout() {
    let p = Provider::start(served_set()).await;
    let addr = app(options().build(p.jwks_url())).await;
    assert_accepted(&call(addr, &signed(Algorithm::RS256, "rs256-a")).await);
    p.set_mode(Mode::Slow);

    // Every request either joins the one fetch (which times out) or is refused at once;
    // `call` fails any that waits longer than the fetch timeout and a margin.
    for r in flood(addr, 50, "slow-flood").await {
        assert_unknown_key(&r);
    }
    assert_eq!(p.hits(), 2, "one fetch for the whole flood");
    assert_accepted(&call(addr, &signed(Algorithm::ES384, "es384-a")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_after_the_cooldown_causes_exactly_one_new_fetch() {
    let cooldown = Duration::from_millis(1000);
    let p = Provider::start(served_set()).await;
    let addr = app(options().unknown_kid_cooldown(cooldown).build(p.jwks_url())).await;
    assert_accepted(&call(addr, &signed(Algorithm::RS256, "rs256-a")).await);

    assert_unknown_key(&call(addr, &unknown_kid("first")).await);
    assert_eq!(p.hits(), 2);
    assert_unknown_key(&call(addr, &unknown_kid("second")).await);
    assert_eq!(p.hits(), 2, "within the cooldown");

    tokio::time::sleep(cooldown + Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    for r in flood(addr, 10, "after-cooldown").await {
        assert_unknown_key(&r);
    }
    // At least one new fetch, and at most one per cooldown the flood lasted: on a loaded
    // machine a straggler may legitimately arrive after a whole cooldown has passed again.
    let cooldowns = 1 + started.elapsed().as_millis() / cooldown.as_millis();
    let new_fetches = p.hits() - 2;
    assert!(
        (1..=cooldowns as usize).contains(&new_fetches),
        "{new_fetches} new fetches in {cooldowns} cooldown(s)"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Provider problems after a good first fetch
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Trouble {
    Answers(Mode),
    Down,
}

/// Fetches the set, makes the provider misbehave, and checks that `refresh` reports
/// `expected`, the cached keys keep working, and nothing hangs.
async fn cached_keys_survive(trouble: Trouble, expected: fn(&FetchError) -> bool) {
    let mut p = Provider::start(served_set()).await;
    let keys = options().build(p.jwks_url());
    let addr = app(keys.clone()).await;
    keys.refresh().await.unwrap();
    assert_eq!(keys.key_count(), USABLE);
    assert_accepted(&call(addr, &signed(Algorithm::RS256, "rs256-a")).await);

    match trouble {
        Trouble::Answers(mode) => p.set_mode(mode),
        Trouble::Down => p.stop().await,
    }
    let error = tokio::time::timeout(NO_HANG, keys.refresh())
        .await
        .expect("refresh did not finish within the fetch timeout")
        .expect_err("refresh succeeded against a failing provider");
    assert!(expected(&error), "{trouble:?}: unexpected error {error:?}");
    assert_eq!(keys.key_count(), USABLE, "the cached set is kept");

    for (alg, kid) in SIGNERS {
        assert_accepted(&call(addr, &signed(alg, kid)).await);
    }
    // An unknown kid tries the provider once more (it may have rotated), fails, and is
    // still a 401: a key set is cached, so this is no outage.
    assert_unknown_key(&call(addr, &unknown_kid("while-in-trouble")).await);
    assert_accepted(&call(addr, &signed(Algorithm::ES256, "es256-a")).await);
    assert_eq!(keys.key_count(), USABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_keys_survive_http_500() {
    cached_keys_survive(Trouble::Answers(Mode::Status500), |e| {
        *e == FetchError::Status(500)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_keys_survive_garbage_json() {
    cached_keys_survive(Trouble::Answers(Mode::Garbage), |e| {
        matches!(e, FetchError::InvalidDocument(_))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_keys_survive_oversized_body() {
    cached_keys_survive(Trouble::Answers(Mode::Oversized), |e| {
        *e == FetchError::TooLarge
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_keys_survive_oversized_chunked_body() {
    cached_keys_survive(Trouble::Answers(Mode::OversizedChunked), |e| {
        *e == FetchError::TooLarge
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_keys_survive_slow_provider() {
    cached_keys_survive(Trouble::Answers(Mode::Slow), |e| *e == FetchError::Timeout).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_keys_survive_stalled_body() {
    cached_keys_survive(Trouble::Answers(Mode::StalledBody), |e| {
        *e == FetchError::Timeout
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_keys_survive_provider_down() {
    cached_keys_survive(Trouble::Down, |e| matches!(e, FetchError::Transport(_))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_keys_survive_a_set_without_usable_keys() {
    cached_keys_survive(Trouble::Answers(Mode::OnlySymmetricKeys), |e| {
        *e == FetchError::NoUsableKeys
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 5. Nothing cached and the provider failing
// ---------------------------------------------------------------------------------------------

/// With nothing cached, every request gets 503 (`Retry-After` near the 30 s backoff) or,
/// over gRPC, status 14; the requests after the first cause no fetch.
async fn outage_without_cache(addr: SocketAddr, fetches: impl Fn() -> usize) {
    assert_unavailable(
        &call(addr, &signed(Algorithm::RS256, "rs256-a")).await,
        29..=30,
    );
    assert_eq!(fetches(), 1);
    for (alg, kid) in SIGNERS {
        assert_unavailable(&call(addr, &signed(alg, kid)).await, 29..=30);
    }
    assert_unavailable(&call(addr, &unknown_kid("during-outage")).await, 29..=30);
    let r = call_grpc(addr, &signed(Algorithm::ES256, "es256-a")).await;
    assert_eq!(
        (r.status.as_u16(), r.header("grpc-status")),
        (200, Some("14")),
        "{r:?}"
    );
    assert_eq!(r.header("www-authenticate"), None);
    tokio::time::sleep(QUIET).await;
    assert_eq!(fetches(), 1, "retry_after_failure holds back new fetches");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_cached_and_http_500_is_503_with_retry_after() {
    let p = Provider::start(served_set()).await;
    p.set_mode(Mode::Status500);
    let addr = app(options().build(p.jwks_url())).await;
    outage_without_cache(addr, || p.hits()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_cached_and_slow_provider_is_503_with_retry_after() {
    let p = Provider::start(served_set()).await;
    p.set_mode(Mode::Slow);
    let addr = app(options().build(p.jwks_url())).await;
    outage_without_cache(addr, || p.hits()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_cached_and_provider_hanging_up_is_503_with_retry_after() {
    let (url, connections) = hang_up_url().await;
    let keys = options().build(url);
    let addr = app(keys.clone()).await;
    outage_without_cache(addr, || connections.load(Ordering::SeqCst)).await;
    assert!(matches!(
        keys.refresh().await,
        Err(FetchError::Transport(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_cached_and_closed_port_is_503_with_retry_after() {
    let (url, _closed) = closed_port_url().await;
    let keys = options().build(url);
    let addr = app(keys.clone()).await;
    for _ in 0..3 {
        assert_unavailable(
            &call(addr, &signed(Algorithm::RS256, "rs256-a")).await,
            29..=30,
        );
    }
    let r = call_grpc(addr, &signed(Algorithm::RS256, "rs256-a")).await;
    assert_eq!(r.header("grpc-status"), Some("14"), "{r:?}");
    assert!(matches!(
        keys.refresh().await,
        Err(FetchError::Transport(_))
    ));
    assert_eq!(keys.key_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_is_retried_once_retry_after_failure_has_passed() {
    let backoff = Duration::from_millis(1000);
    let p = Provider::start(served_set()).await;
    p.set_mode(Mode::Status500);
    let addr = app(options().retry_after_failure(backoff).build(p.jwks_url())).await;
    let token = signed(Algorithm::RS256, "rs256-a");
    // Retry-After is never below one second.
    assert_unavailable(&call(addr, &token).await, 1..=1);

    p.set_mode(Mode::Normal);
    assert_unavailable(&call(addr, &token).await, 1..=1);
    assert_eq!(p.hits(), 1, "no new fetch within retry_after_failure");

    tokio::time::sleep(backoff + Duration::from_millis(50)).await;
    assert_accepted(&call(addr, &token).await);
    assert_eq!(p.hits(), 2);
}

// ---------------------------------------------------------------------------------------------
// 6. max_staleness
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_older_than_max_staleness_are_not_used_while_provider_is_down() {
    let staleness = Duration::from_millis(200);
    let mut p = Provider::start(served_set()).await;
    let keys = options().max_staleness(staleness).build(p.jwks_url());
    let addr = app(keys.clone()).await;
    let token = signed(Algorithm::ES256, "es256-a");
    keys.refresh().await.unwrap();
    assert_accepted(&call(addr, &token).await);

    p.stop().await;
    tokio::time::sleep(staleness + Duration::from_millis(50)).await;
    assert_unavailable(&call(addr, &token).await, 29..=30);
    assert_unavailable(&call(addr, &token).await, 29..=30);
    let r = call_grpc(addr, &token).await;
    assert_eq!(r.header("grpc-status"), Some("14"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_older_than_max_staleness_are_fetched_again_when_provider_is_up() {
    let staleness = Duration::from_millis(200);
    let p = Provider::start(served_set()).await;
    let keys = options().max_staleness(staleness).build(p.jwks_url());
    let addr = app(keys.clone()).await;
    let token = signed(Algorithm::ES256, "es256-a");
    assert_accepted(&call(addr, &token).await);
    assert_eq!(p.hits(), 1);

    tokio::time::sleep(staleness + Duration::from_millis(50)).await;
    assert_accepted(&call(addr, &token).await);
    assert_eq!(p.hits(), 2);
}

// ---------------------------------------------------------------------------------------------
// 7. Cache-Control
// ---------------------------------------------------------------------------------------------

/// A provider sending `cache_control` (if any) and a validator over a resolver built by
/// `options`, after one successful fetch.
async fn cached(
    cache_control: Option<&str>,
    options: JwksBuilder,
) -> (Provider, Validator<TestClaims, JwksResolver>) {
    let p = Provider::start(served_set()).await;
    if let Some(value) = cache_control {
        p.set_cache_control(value);
    }
    let keys = options.build(p.jwks_url());
    keys.refresh().await.unwrap();
    assert_eq!(p.hits(), 1);
    (p, validator(keys))
}

fn es256() -> String {
    signed(Algorithm::ES256, "es256-a")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_drives_the_background_refresh() {
    // The default TTL (an hour) alone would never refresh within this test; max-age=4 leaves
    // every step below seconds of margin on a loaded machine.
    let (p, v) = cached(
        Some("public, max-age=4"),
        options()
            .ttl(Duration::from_secs(3600))
            .ttl_bounds(Duration::ZERO, Duration::from_secs(3600)),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    check(&v, &es256()).await.unwrap();
    tokio::time::sleep(QUIET).await;
    assert_eq!(p.hits(), 1, "no refresh before three quarters of max-age");

    // Past 3 s: the request is answered from the cache and starts a refresh.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    check(&v, &es256()).await.unwrap();
    wait_for_hits(&p, 2, Duration::from_secs(2)).await;
    check(&v, &es256()).await.unwrap();
    tokio::time::sleep(QUIET).await;
    assert_eq!(p.hits(), 2, "one refresh, then the new set is fresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_max_age_overrides_a_short_default_ttl() {
    let short_ttl = || {
        options()
            .ttl(Duration::from_millis(400))
            .ttl_bounds(Duration::ZERO, Duration::from_secs(7200))
    };
    let (with_header, v1) = cached(Some("max-age=3600"), short_ttl()).await;
    // The control: the same options and no header refresh after 300 ms.
    let (without_header, v2) = cached(None, short_ttl()).await;

    tokio::time::sleep(Duration::from_millis(800)).await;
    check(&v1, &es256()).await.unwrap();
    check(&v2, &es256()).await.unwrap();
    wait_for_hits(&without_header, 2, Duration::from_secs(1)).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(with_header.hits(), 1, "max-age=3600 is honoured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_below_the_minimum_ttl_is_raised_to_it() {
    let (clamped, v1) = cached(
        Some("max-age=0"),
        options().ttl_bounds(Duration::from_secs(10), Duration::from_secs(3600)),
    )
    .await;
    // The control: without the floor, max-age=0 makes every request refresh.
    let (unclamped, v2) = cached(
        Some("max-age=0"),
        options().ttl_bounds(Duration::ZERO, Duration::from_secs(3600)),
    )
    .await;
    for _ in 0..5 {
        check(&v1, &es256()).await.unwrap();
        check(&v2, &es256()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for_hits(&unclamped, 2, Duration::from_secs(1)).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(clamped.hits(), 1, "max-age=0 is raised to the 10 s floor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_above_the_maximum_ttl_is_lowered_to_it() {
    let (p, v) = cached(
        Some("max-age=3600"),
        options().ttl_bounds(Duration::ZERO, Duration::from_secs(1)),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    check(&v, &es256()).await.unwrap();
    wait_for_hits(&p, 2, Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_background_refresh_waits_retry_after_failure_before_the_next() {
    // TTL 1 s: every request after 750 ms wants a refresh; the provider now fails them.
    let (p, v) = cached(
        Some("max-age=1"),
        options().ttl_bounds(Duration::ZERO, Duration::from_secs(3600)),
    )
    .await;
    p.set_mode(Mode::Status500);
    tokio::time::sleep(Duration::from_millis(800)).await;
    check(&v, &es256()).await.unwrap();
    wait_for_hits(&p, 2, Duration::from_secs(1)).await;
    for _ in 0..5 {
        check(&v, &es256()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(QUIET).await;
    assert_eq!(p.hits(), 2, "no refresh storm while the provider fails");
    assert_eq!(v.resolver().key_count(), USABLE);
}

/// Polls a validation once: `Some` if it finished without waiting for anything.
fn at_once<R: KeyResolver>(
    v: &Validator<TestClaims, R>,
    token: &str,
) -> Option<Result<(), ErrorKind>> {
    v.validate(token)
        .now_or_never()
        .map(|r| r.map(|_| ()).map_err(|e| e.kind()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_need_no_fetch_are_ready_on_the_first_poll() {
    // A cached key while a background refresh hangs on a slow provider.
    let (p, v) = cached(
        Some("max-age=1"),
        options().ttl_bounds(Duration::ZERO, Duration::from_secs(3600)),
    )
    .await;
    p.set_mode(Mode::Slow);
    assert_eq!(at_once(&v, &es256()), Some(Ok(())));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(at_once(&v, &es256()), Some(Ok(())), "starts the refresh");
    wait_for_hits(&p, 2, Duration::from_secs(1)).await;
    assert_eq!(at_once(&v, &es256()), Some(Ok(())), "refresh under way");

    // An unknown kid within the cooldown.
    let p = Provider::start(served_set()).await;
    let v = validator(options().build(p.jwks_url()));
    check(&v, &es256()).await.unwrap();
    assert_eq!(
        check(&v, &unknown_kid("first")).await.unwrap_err(),
        ErrorKind::UnknownKey
    );
    assert_eq!(
        at_once(&v, &unknown_kid("second")),
        Some(Err(ErrorKind::UnknownKey))
    );
    assert_eq!(p.hits(), 2);

    // Nothing cached, within retry_after_failure of a failed fetch.
    let p = Provider::start(served_set()).await;
    p.set_mode(Mode::Status500);
    let v = validator(options().build(p.jwks_url()));
    assert_eq!(
        check(&v, &es256()).await.unwrap_err(),
        ErrorKind::KeyUnavailable
    );
    assert_eq!(at_once(&v, &es256()), Some(Err(ErrorKind::KeyUnavailable)));
    assert_eq!(p.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_max_age_with_unbounded_ttl_does_not_panic() {
    // "Trust the provider's max-age": no upper bound. The provider then sends the largest
    // max-age there is.
    let (_p, v) = cached(
        Some("max-age=18446744073709551615"),
        options().ttl_bounds(Duration::ZERO, Duration::MAX),
    )
    .await;
    let outcome = tokio::spawn(async move { check(&v, &es256()).await.map(|_| ()) }).await;
    assert!(
        matches!(outcome, Ok(Ok(()))),
        "validation with a cached set of huge TTL: {outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_default_ttl_does_not_panic() {
    // "Never refresh on a timer": the default TTL and its upper bound at the maximum.
    let (_p, v) = cached(
        None,
        options()
            .ttl(Duration::MAX)
            .ttl_bounds(Duration::ZERO, Duration::MAX),
    )
    .await;
    let outcome = tokio::spawn(async move { check(&v, &es256()).await.map(|_| ()) }).await;
    assert!(
        matches!(outcome, Ok(Ok(()))),
        "validation with a cached set of TTL Duration::MAX: {outcome:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 8. OIDC discovery
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_finds_the_jwks_and_its_tokens_verify() {
    let p = Provider::start(served_set()).await;
    let issuer = p.base_url();
    p.set_discovery(json!({
        "issuer": issuer,
        "jwks_uri": p.jwks_url(),
        "authorization_endpoint": format!("{issuer}/authorize"),
    }));
    let keys = options().discover(&issuer).await.unwrap();
    assert_eq!(keys.url(), p.jwks_url());
    assert_eq!(p.hits(), 0, "discovery fetches no keys yet");

    let layer = JwtAuthLayer::<TestClaims>::builder(keys)
        .algorithms([Algorithm::RS256, Algorithm::ES256])
        .issuer(issuer.clone())
        .build()
        .unwrap();
    let addr = serve(Router::new().route("/me", routing::get(me)).layer(layer)).await;
    let ok = token(
        Algorithm::ES256,
        Pair::A,
        Some("es256-a"),
        json!({ "iss": issuer }),
    );
    assert_accepted(&call(addr, &ok).await);
    let other = token(
        Algorithm::ES256,
        Pair::A,
        Some("es256-a"),
        json!({ "iss": "https://other.example" }),
    );
    assert_401(&call(addr, &other).await, "token issuer is not accepted");
    assert_eq!(p.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_document_for_another_issuer_is_refused() {
    let p = Provider::start(served_set()).await;
    let issuer = p.base_url();
    p.set_discovery(json!({ "issuer": "https://evil.example", "jwks_uri": p.jwks_url() }));
    assert_eq!(
        options().discover(&issuer).await.unwrap_err(),
        FetchError::IssuerMismatch {
            expected: issuer.clone(),
            found: "https://evil.example".into(),
        }
    );

    // The comparison is exact (OIDC Discovery §4.3): a trailing slash is another issuer.
    p.set_discovery(json!({ "issuer": issuer, "jwks_uri": p.jwks_url() }));
    let with_slash = format!("{issuer}/");
    assert_eq!(
        options().discover(&with_slash).await.unwrap_err(),
        FetchError::IssuerMismatch {
            expected: with_slash,
            found: issuer.clone(),
        }
    );
    assert!(options().discover(&issuer).await.is_ok());
    assert_eq!(p.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_failures_are_reported() {
    let p = Provider::start(served_set()).await;
    assert_eq!(
        options().discover(&p.base_url()).await.unwrap_err(),
        FetchError::Status(404)
    );
    p.set_discovery(json!({ "issuer": p.base_url() }));
    assert!(matches!(
        options().discover(&p.base_url()).await,
        Err(FetchError::InvalidDocument(_))
    ));
    let (closed, _held) = closed_port_url().await;
    let closed = closed.trim_end_matches("/jwks.json");
    assert!(matches!(
        options().discover(closed).await,
        Err(FetchError::Transport(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// 9. MultiIssuer
// ---------------------------------------------------------------------------------------------

const ISS_A: &str = "https://tenant-a.example";
const ISS_B: &str = "https://tenant-b.example";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_issuer_routes_each_token_to_its_issuers_jwks() {
    // Both tenants use the kid "k1" for different keys; only A has "a-only".
    let a = Provider::start(vec![
        jwk(Algorithm::RS256, Pair::A, "k1"),
        jwk(Algorithm::ES256, Pair::A, "a-only"),
    ])
    .await;
    let b = Provider::start(vec![jwk(Algorithm::RS256, Pair::B, "k1")]).await;
    let resolver = MultiIssuer::new()
        .issuer(ISS_A, options().build(a.jwks_url()))
        .issuer(ISS_B, options().build(b.jwks_url()));
    let addr = app(resolver).await;
    let mint =
        |alg, pair, kid: &str, iss: Value| token(alg, pair, Some(kid), json!({ "iss": iss }));

    assert_accepted(&call(addr, &mint(Algorithm::RS256, Pair::A, "k1", ISS_A.into())).await);
    assert_accepted(&call(addr, &mint(Algorithm::RS256, Pair::B, "k1", ISS_B.into())).await);
    assert_accepted(
        &call(
            addr,
            &mint(Algorithm::ES256, Pair::A, "a-only", ISS_A.into()),
        )
        .await,
    );
    assert_eq!((a.hits(), b.hits()), (1, 1));

    // Claiming B, signed with A's key: B's "k1" is another key.
    let r = call(addr, &mint(Algorithm::RS256, Pair::A, "k1", ISS_B.into())).await;
    assert_401(&r, "token signature is invalid");
    // Claiming B under a kid only A has: B has no such key, and A is never asked.
    let r = call(
        addr,
        &mint(Algorithm::ES256, Pair::A, "a-only", ISS_B.into()),
    )
    .await;
    assert_unknown_key(&r);
    assert_eq!(a.hits(), 1, "A's set is not consulted for B's tokens");

    // An issuer nobody configured, no issuer, a non-string issuer: no key, no fetch.
    let before = (a.hits(), b.hits());
    for iss in [json!("https://tenant-c.example"), Value::Null, json!(42)] {
        let t = mint(Algorithm::RS256, Pair::A, "k1", iss);
        assert_eq!(call(addr, &t).await.status, 401);
    }
    let no_iss = token(Algorithm::RS256, Pair::A, Some("k1"), json!({}));
    assert_unknown_key(&call(addr, &no_iss).await);
    assert_eq!((a.hits(), b.hits()), before);
}

/// A resolver that records the `unverified_issuer` it is given and returns `key` whatever
/// the token says.
fn recorder(
    seen: Arc<Mutex<Vec<Option<String>>>>,
    key: Arc<VerificationKey>,
) -> impl Fn(&TokenHeader<'_>) -> Ready<Result<Arc<VerificationKey>, KeyError>> + Send + Sync + 'static
{
    move |header: &TokenHeader<'_>| {
        seen.lock()
            .unwrap()
            .push(header.unverified_issuer().map(str::to_owned));
        ready(Ok(Arc::clone(&key)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_issuer_routes_by_the_payloads_iss() {
    let key_a = Arc::new(verification_key(Algorithm::RS256, Pair::A).with_kid("k1"));
    let (seen_a, seen_b) = (Arc::default(), Arc::default());
    let v = validator(
        MultiIssuer::new()
            .issuer(ISS_A, recorder(Arc::clone(&seen_a), Arc::clone(&key_a)))
            .issuer(ISS_B, recorder(Arc::clone(&seen_b), Arc::clone(&key_a))),
    );
    let seen = |s: &Arc<Mutex<Vec<Option<String>>>>| std::mem::take(&mut *s.lock().unwrap());

    let for_b = token(
        Algorithm::RS256,
        Pair::A,
        Some("k1"),
        json!({ "iss": ISS_B }),
    );
    check(&v, &for_b).await.unwrap();
    assert_eq!(seen(&seen_b), [Some(ISS_B.to_owned())]);
    assert!(seen(&seen_a).is_empty());

    // `\/` escapes (as PHP's json_encode writes them) are decoded before routing.
    let payload = format!(
        r#"{{"sub":"alice","exp":{},"iss":"https:\/\/tenant-a.example"}}"#,
        now() + 300
    );
    let escaped = mint_raw(
        r#"{"alg":"RS256","kid":"k1"}"#,
        payload.as_bytes(),
        Algorithm::RS256,
        Pair::A,
    );
    let claims = check(&v, &escaped).await.unwrap();
    assert_eq!(claims.registered().iss.as_deref(), Some(ISS_A));
    assert_eq!(seen(&seen_a), [Some(ISS_A.to_owned())]);
    assert!(seen(&seen_b).is_empty());

    // No iss: no resolver is asked.
    let none = token(Algorithm::RS256, Pair::A, Some("k1"), json!({}));
    assert_eq!(check(&v, &none).await.unwrap_err(), ErrorKind::UnknownKey);
    assert!(seen(&seen_a).is_empty() && seen(&seen_b).is_empty());

    // A resolver that does not ask for the issuer is not given it.
    let plain_seen = Arc::default();
    let plain = validator(recorder(Arc::clone(&plain_seen), key_a));
    check(&plain, &for_b).await.unwrap();
    assert_eq!(seen(&plain_seen), [None]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_iss_cannot_route_to_one_issuer_and_verify_as_another() {
    let a = Provider::start(vec![jwk(Algorithm::RS256, Pair::A, "k1")]).await;
    let b = Provider::start(vec![jwk(Algorithm::RS256, Pair::B, "k1")]).await;
    let v = validator(
        MultiIssuer::new()
            .issuer(ISS_A, options().build(a.jwks_url()))
            .issuer(ISS_B, options().build(b.jwks_url())),
    );
    // Signed by A. Whichever `iss` routes, the token must not come out as B's.
    for (first, last) in [(ISS_A, ISS_B), (ISS_B, ISS_A)] {
        let payload = format!(
            r#"{{"sub":"alice","exp":{},"iss":"{first}","iss":"{last}"}}"#,
            now() + 300
        );
        let t = mint_raw(
            r#"{"alg":"RS256","kid":"k1"}"#,
            payload.as_bytes(),
            Algorithm::RS256,
            Pair::A,
        );
        match check(&v, &t).await {
            Ok(claims) => assert_eq!(claims.registered().iss.as_deref(), Some(ISS_A)),
            Err(kind) => assert_ne!(kind, ErrorKind::KeyUnavailable),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 10. Tokens without kid
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_without_kid_needs_exactly_one_fitting_key_in_the_set() {
    let p = Provider::start(vec![
        jwk(Algorithm::ES256, Pair::A, "es"),
        // Bound to RS256 by its `alg`: it does not fit PS256.
        jwk(Algorithm::RS256, Pair::A, "rs"),
        jwk(Algorithm::EdDSA, Pair::A, "ed-a"),
        jwk(Algorithm::EdDSA, Pair::B, "ed-b"),
    ])
    .await;
    let v = validator(options().build(p.jwks_url()));
    let no_kid = |alg, pair| token(alg, pair, None, json!({}));

    check(&v, &no_kid(Algorithm::ES256, Pair::A)).await.unwrap();
    check(&v, &no_kid(Algorithm::RS256, Pair::A)).await.unwrap();
    // The one fitting key is used, so another signer fails on the signature.
    assert_eq!(
        check(&v, &no_kid(Algorithm::ES256, Pair::B))
            .await
            .unwrap_err(),
        ErrorKind::InvalidSignature
    );
    // Two EdDSA keys: no telling which.
    for pair in [Pair::A, Pair::B] {
        assert_eq!(
            check(&v, &no_kid(Algorithm::EdDSA, pair))
                .await
                .unwrap_err(),
            ErrorKind::UnknownKey
        );
    }
    // No key fits.
    for alg in [Algorithm::PS256, Algorithm::ES384] {
        assert_eq!(
            check(&v, &no_kid(alg, Pair::A)).await.unwrap_err(),
            ErrorKind::UnknownKey
        );
    }
    // With a kid, the EdDSA keys are told apart.
    check(
        &v,
        &token(Algorithm::EdDSA, Pair::B, Some("ed-b"), json!({})),
    )
    .await
    .unwrap();
    assert!(p.hits() <= 2, "one fetch, and at most one for the misses");
}

// ---------------------------------------------------------------------------------------------
// 11. https only
// ---------------------------------------------------------------------------------------------

/// Never resolved and never connected to: `.invalid` is reserved (RFC 6761 §6.4), and the
/// checks refuse these URLs before any lookup.
const INSECURE_JWKS: &str = "http://keys.invalid/jwks.json";

#[track_caller]
fn assert_insecure(result: Result<impl std::fmt::Debug, FetchError>, url: &str) {
    match result {
        Err(FetchError::InsecureUrl(refused)) => assert_eq!(refused, url),
        other => panic!("expected InsecureUrl({url:?}), got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_a_host_that_is_not_loopback_is_refused_before_any_traffic() {
    // Building succeeds; every fetch fails, at once and without a lookup: a DNS failure
    // would be a Transport error, and a lookup would take time.
    let keys = options().build(INSECURE_JWKS);
    let started = std::time::Instant::now();
    assert_insecure(keys.refresh().await, INSECURE_JWKS);
    assert_insecure(
        JwksResolver::new(INSECURE_JWKS).refresh().await,
        INSECURE_JWKS,
    );
    assert!(started.elapsed() < FETCH_TIMEOUT, "{:?}", started.elapsed());
    assert_eq!(keys.key_count(), 0);

    // Requests get what any fetch failure gives them without a key set: 503.
    let addr = app(keys).await;
    assert_unavailable(&call(addr, &es256()).await, 1..=30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_of_your_own_gets_the_same_check_before_sending() {
    let client = reqwest::Client::builder()
        .redirect(tower_jwt_auth::jwks::redirect_policy())
        .build()
        .unwrap();
    let keys = options().http_client(client).build(INSECURE_JWKS);
    assert_insecure(keys.refresh().await, INSECURE_JWKS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_url_is_reported_as_invalid() {
    let keys = options().build("not a url");
    assert!(matches!(
        keys.refresh().await,
        Err(FetchError::InvalidUrl(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_redirect_to_plain_http_elsewhere_is_refused() {
    let p = Provider::start(served_set()).await;
    let target = "http://something.invalid/";
    p.set_redirect(target);
    let keys = options().build(format!("{}/redirect", p.base_url()));
    assert_insecure(keys.refresh().await, target);
    assert_eq!((p.redirects(), p.hits()), (1, 0));
    let addr = app(keys).await;
    assert_unavailable(&call(addr, &es256()).await, 1..=30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_redirect_to_loopback_is_followed() {
    let p = Provider::start(served_set()).await;
    p.set_redirect("/jwks.json");
    let keys = options().build(format!("{}/redirect", p.base_url()));
    keys.refresh().await.unwrap();
    assert_eq!((p.redirects(), p.hits(), keys.key_count()), (1, 1, USABLE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_a_response_finally_came_from_is_checked_whatever_the_clients_policy() {
    // A client of your own with reqwest's default policy, which follows the redirect to
    // keys.invalid; its DNS override sends that to the loopback provider, so that no
    // traffic leaves the machine. The answer arrives, and is refused all the same.
    let p = Provider::start(served_set()).await;
    let target = format!("http://keys.invalid:{}/jwks.json", p.addr.port());
    p.set_redirect(&target);
    let client = reqwest::Client::builder()
        .resolve("keys.invalid", p.addr)
        .build()
        .unwrap();
    let keys = options()
        .http_client(client)
        .build(format!("{}/redirect", p.base_url()));
    assert_insecure(keys.refresh().await, &target);
    assert_eq!((p.redirects(), p.hits(), keys.key_count()), (1, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_to_five_redirects_are_followed_and_a_sixth_is_refused() {
    let p = Provider::start(served_set()).await;
    let five = options().build(format!("{}/hop/5", p.base_url()));
    five.refresh().await.unwrap();
    assert_eq!((p.redirects(), p.hits(), five.key_count()), (5, 1, USABLE));

    let six = options().build(format!("{}/hop/6", p.base_url()));
    assert_eq!(six.refresh().await, Err(FetchError::TooManyRedirects));
    assert_eq!((p.redirects(), p.hits()), (5 + 6, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_redirecting_to_itself_is_given_up_after_five_redirects() {
    let p = Provider::start(served_set()).await;
    p.set_redirect("/redirect");
    let keys = options().build(format!("{}/redirect", p.base_url()));
    assert_eq!(keys.refresh().await, Err(FetchError::TooManyRedirects));
    // The first request and five redirects, all answered with another redirect.
    assert_eq!((p.redirects(), p.hits()), (6, 0));
    let addr = app(keys).await;
    assert_unavailable(&call(addr, &es256()).await, 1..=30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_with_a_plain_http_jwks_uri_is_refused() {
    let p = Provider::start(served_set()).await;
    let issuer = p.base_url();
    let jwks_uri = "http://keys.invalid/jwks";
    p.set_discovery(json!({ "issuer": issuer, "jwks_uri": jwks_uri }));
    assert_insecure(options().discover(&issuer).await, jwks_uri);
    assert_insecure(JwksResolver::from_issuer(&issuer).await, jwks_uri);
    assert_eq!(p.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_from_a_plain_http_issuer_is_refused_before_any_traffic() {
    let issuer = "http://issuer.invalid/tenant";
    assert_insecure(options().discover(issuer).await, issuer);
    assert_insecure(JwksResolver::from_issuer(issuer).await, issuer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_redirected_to_plain_http_elsewhere_is_refused() {
    // The issuer's well-known path redirects, through the provider's `/redirect`.
    let p = Provider::start(served_set()).await;
    let target = "http://something.invalid/.well-known/openid-configuration";
    p.set_redirect(target);
    let issuer = format!("{}/redirect?", p.base_url());
    let result = options().discover(&issuer).await;
    // `{issuer}/.well-known/openid-configuration` is `/redirect?/.well-known/…`.
    assert_insecure(result, target);
    assert_eq!(p.redirects(), 1);
}

// ---------------------------------------------------------------------------------------------
// 12. The discovered issuer is checked
// ---------------------------------------------------------------------------------------------

/// A provider whose discovery document names itself, and a resolver discovered from it.
async fn discovered() -> (Provider, JwksResolver, String) {
    let p = Provider::start(served_set()).await;
    let issuer = p.base_url();
    p.set_discovery(json!({ "issuer": issuer, "jwks_uri": p.jwks_url() }));
    let keys = options().discover(&issuer).await.unwrap();
    (p, keys, issuer)
}

fn from(iss: &str) -> String {
    token(
        Algorithm::ES256,
        Pair::A,
        Some("es256-a"),
        json!({ "iss": iss }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layer_over_a_discovered_resolver_checks_its_issuer_without_an_issuer_call() {
    let (_p, keys, issuer) = discovered().await;
    assert_eq!(keys.issuer(), Some(issuer.as_str()));
    assert_eq!(keys.expected_issuer(), Some(issuer.as_str()));
    // No `.issuer(...)`: the discovered one is implied.
    let addr = app(keys).await;
    assert_accepted(&call(addr, &from(&issuer)).await);
    // Another tenant signing with the same (shared) keys.
    let other = call(addr, &from("https://other-tenant.example")).await;
    assert_401(&other, "token issuer is not accepted");
    // The comparison is exact.
    assert_eq!(call(addr, &from(&format!("{issuer}/"))).await.status, 401);
    // No `iss` at all.
    assert_eq!(call(addr, &es256()).await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_set_explicitly_replaces_the_discovered_one() {
    let (_p, keys, issuer) = discovered().await;
    let layer = JwtAuthLayer::<TestClaims>::builder(keys)
        .algorithms([Algorithm::ES256])
        .issuer("https://alias.example")
        .build()
        .unwrap();
    let addr = serve(Router::new().route("/me", routing::get(me)).layer(layer)).await;
    assert_accepted(&call(addr, &from("https://alias.example")).await);
    assert_401(
        &call(addr, &from(&issuer)).await,
        "token issuer is not accepted",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_discovered_issuer_also_applies_to_a_validator() {
    let (_p, keys, issuer) = discovered().await;
    let v = validator(keys);
    check(&v, &from(&issuer)).await.unwrap();
    assert_eq!(
        check(&v, &from("https://other-tenant.example"))
            .await
            .unwrap_err(),
        ErrorKind::InvalidIssuer
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolver_built_from_a_jwks_url_implies_no_issuer() {
    let p = Provider::start(served_set()).await;
    let keys = options().build(p.jwks_url());
    assert_eq!((keys.issuer(), keys.expected_issuer()), (None, None));
    let addr = app(keys).await;
    assert_accepted(&call(addr, &from("https://anyone.example")).await);
}

// ---------------------------------------------------------------------------------------------
// 13. no-store and no-cache win over max-age
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_store_or_no_cache_beside_a_long_max_age_means_the_minimum_ttl() {
    for value in ["max-age=3600, no-store", "no-cache, max-age=3600"] {
        // With a zero floor, "do not cache" makes the next request refresh.
        let (p, v) = cached(
            Some(value),
            options()
                .ttl(Duration::from_secs(3600))
                .ttl_bounds(Duration::ZERO, Duration::from_secs(7200)),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        check(&v, &es256()).await.unwrap();
        wait_for_hits(&p, 2, Duration::from_secs(1)).await;
    }
    // The control: max-age=3600 alone is honoured.
    let (p, v) = cached(
        Some("max-age=3600"),
        options().ttl_bounds(Duration::ZERO, Duration::from_secs(7200)),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    check(&v, &es256()).await.unwrap();
    tokio::time::sleep(QUIET).await;
    assert_eq!(p.hits(), 1);
}

#[tokio::test]
async fn fetches_are_counted_by_outcome_and_the_keys_held_are_a_gauge() {
    use metrics_util::debugging::DebuggingRecorder;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let p = Provider::start(served_set()).await;
    let keys = options().build(p.jwks_url());
    keys.refresh().await.unwrap();
    p.set_mode(Mode::Status500);
    assert_eq!(keys.refresh().await, Err(FetchError::Status(500)));
    let got = crate::observe::recorded(&snapshotter);
    assert_eq!(got.counters["jwt_auth_jwks_fetches_total{outcome=ok}"], 1);
    assert_eq!(
        got.counters["jwt_auth_jwks_fetches_total{outcome=error}"],
        1
    );
    assert_eq!(got.gauges["jwt_auth_jwks_keys"], USABLE as f64);
    assert_eq!(p.hits(), 2);
}
