//! The `token_server` example's router, end to end over loopback HTTP: login, refresh with
//! rotation and reuse detection, verify, blacklist, token-type confusion, expiry and a
//! second service that validates the server's access tokens through its JWKS; the login
//! guards (per-client and per-username rate limits, hashing slots), the body limit, and a
//! failing revocation store.

#[path = "../../examples/token_server.rs"]
#[allow(dead_code, unreachable_pub, missing_docs)]
mod example;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use crate::support::{Pair, Reply, exchange, get_with_token, now, serve};
use axum::Router;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use example::{AppState, LoginLimits, app};
use futures_util::future::BoxFuture;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper::body::Bytes;
use jsonwebtoken::Header;
use serde_json::{Value, json};
use tower_jwt_auth::issue::{SigningKey, TokenIssuer};
use tower_jwt_auth::jwks::JwksResolver;
use tower_jwt_auth::revocation::{RevocationStore, Rotation, StoreError};
use tower_jwt_auth::{Algorithm, Claims, JwtAuthLayer};

const USER: &str = "demo";
const PASSWORD: &str = "correct horse battery staple";

const LOGIN: &str = "/api/token/";
const REFRESH: &str = "/api/token/refresh/";
const VERIFY: &str = "/api/token/verify/";
const BLACKLIST: &str = "/api/token/blacklist/";
const ME: &str = "/api/me";

const ACCESS_LIFETIME: Duration = Duration::from_secs(120);
const REFRESH_LIFETIME: Duration = Duration::from_secs(600);

fn signing_key() -> SigningKey {
    let pem = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/keys/p256_a.key"
    ))
    .expect("tests/keys/p256_a.key");
    SigningKey::from_pem(Algorithm::ES256, &pem).expect("a P-256 key")
}

fn issuer() -> TokenIssuer {
    TokenIssuer::builder(signing_key())
        .access_lifetime(ACCESS_LIFETIME)
        .refresh_lifetime(REFRESH_LIFETIME)
        .rotate_refresh_tokens(true)
        .build()
        .expect("a valid issuer")
}

/// Limits so high that the tests not about them never meet one.
fn relaxed() -> LoginLimits {
    let many = NonZeroU32::new(10_000).unwrap();
    LoginLimits {
        ip_per_minute: many,
        ip_burst: many,
        username_per_minute: many,
        username_burst: many,
        ..LoginLimits::default()
    }
}

/// Limits of `ip_burst` attempts per client and `username_burst` per username, refilled
/// at one a minute: nothing refills while a test runs.
fn tight(ip_burst: u32, username_burst: u32) -> LoginLimits {
    let one = NonZeroU32::new(1).unwrap();
    LoginLimits {
        ip_per_minute: one,
        ip_burst: NonZeroU32::new(ip_burst).unwrap(),
        username_per_minute: one,
        username_burst: NonZeroU32::new(username_burst).unwrap(),
        ..LoginLimits::default()
    }
}

/// The example's router over `issuer`, served on loopback with relaxed login limits.
async fn start(issuer: TokenIssuer) -> SocketAddr {
    start_with(AppState::new(issuer, USER, PASSWORD).with_limits(&relaxed())).await
}

/// The example's router over `state`, served on loopback as `main` serves it: with the
/// peer address, which the per-client limit needs.
async fn start_with(state: AppState) -> SocketAddr {
    let router = app(state).expect("the example's router");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    addr
}

/// `POST path` with `body` and `content_type` (none when `None`).
async fn post_raw(addr: SocketAddr, path: &str, content_type: Option<&str>, body: &str) -> Reply {
    let mut request = Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"));
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    exchange(request).await
}

async fn post_json(addr: SocketAddr, path: &str, body: &Value) -> Reply {
    post_raw(addr, path, Some("application/json"), &body.to_string()).await
}

/// The reply's body as JSON (panics with the body when it is not).
fn json_body(reply: &Reply) -> Value {
    serde_json::from_str(&reply.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?} {}", reply.status, reply.body))
}

/// Asserts `status` and a JSON body, which it returns.
#[track_caller]
fn expect(reply: &Reply, status: StatusCode) -> Value {
    assert_eq!(reply.status, status, "body: {}", reply.body);
    json_body(reply)
}

/// Asserts 401 with the token_not_valid body of the token endpoints.
#[track_caller]
fn expect_token_not_valid(reply: &Reply) {
    let body = expect(reply, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "token_not_valid", "body: {body}");
    assert!(body["detail"].is_string(), "body: {body}");
}

/// The (access, refresh) pair from a successful login.
async fn login(addr: SocketAddr) -> (String, String) {
    let reply = post_json(
        addr,
        LOGIN,
        &json!({ "username": USER, "password": PASSWORD }),
    )
    .await;
    let body = expect(&reply, StatusCode::OK);
    pair(&body)
}

fn pair(body: &Value) -> (String, String) {
    let access = body["access"].as_str().expect("`access` in the pair");
    let refresh = body["refresh"].as_str().expect("`refresh` in the pair");
    assert!(!access.is_empty() && !refresh.is_empty(), "pair: {body}");
    (access.to_owned(), refresh.to_owned())
}

/// The payload of a JWT, unverified.
fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWS compact token");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn login_with_right_credentials_gives_a_pair_whose_access_token_reaches_me() {
    let addr = start(issuer()).await;
    let reply = post_json(
        addr,
        LOGIN,
        &json!({ "username": USER, "password": PASSWORD }),
    )
    .await;
    let body = expect(&reply, StatusCode::OK);
    let (access, refresh) = pair(&body);
    assert_ne!(access, refresh);
    assert_eq!(payload(&access)["token_type"], "access");
    assert_eq!(payload(&refresh)["token_type"], "refresh");

    let me = get_with_token(addr, ME, &access).await;
    let me = expect(&me, StatusCode::OK);
    assert_eq!(me["registered"]["sub"], USER, "/api/me: {me}");
    assert_eq!(me["claims"]["sub"], USER, "/api/me: {me}");
    assert_eq!(me["claims"]["scope"], "read", "/api/me: {me}");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let addr = start(issuer()).await;
    let wrong = post_json(
        addr,
        LOGIN,
        &json!({ "username": USER, "password": "nope" }),
    )
    .await;
    let wrong_body = expect(&wrong, StatusCode::UNAUTHORIZED);
    assert!(wrong_body["detail"].is_string(), "body: {wrong_body}");
    assert!(wrong_body.get("access").is_none() && wrong_body.get("refresh").is_none());

    let unknown = post_json(
        addr,
        LOGIN,
        &json!({ "username": "mallory", "password": PASSWORD }),
    )
    .await;
    expect(&unknown, StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown.body, wrong.body,
        "the two failures must be indistinguishable"
    );
}

#[tokio::test]
async fn malformed_bodies_get_400_with_a_json_detail() {
    let addr = start(issuer()).await;
    let cases: &[(&str, Option<&str>, &str)] = &[
        // Not JSON at all, and truncated JSON.
        (LOGIN, Some("application/json"), "this is not json"),
        (LOGIN, Some("application/json"), r#"{"username": "demo", "#),
        (LOGIN, Some("application/json"), ""),
        // Well-formed JSON of the wrong shape.
        (LOGIN, Some("application/json"), r#"{"username": "demo"}"#),
        (LOGIN, Some("application/json"), r#"{"password": "x"}"#),
        (LOGIN, Some("application/json"), "{}"),
        (LOGIN, Some("application/json"), "[]"),
        (
            LOGIN,
            Some("application/json"),
            r#"{"username": 1, "password": 2}"#,
        ),
        (REFRESH, Some("application/json"), "{}"),
        (REFRESH, Some("application/json"), r#"{"refresh": 42}"#),
        (VERIFY, Some("application/json"), r#"{"access": "x"}"#),
        (BLACKLIST, Some("application/json"), "not json"),
        // Right JSON, wrong or missing content type.
        (
            LOGIN,
            Some("text/plain"),
            r#"{"username": "demo", "password": "x"}"#,
        ),
        (LOGIN, None, r#"{"username": "demo", "password": "x"}"#),
        (
            REFRESH,
            Some("application/x-www-form-urlencoded"),
            "refresh=x",
        ),
        (VERIFY, Some("text/plain"), r#"{"token": "x"}"#),
    ];
    for (path, content_type, body) in cases {
        let reply = post_raw(addr, path, *content_type, body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{path} {content_type:?} {body:?}: {}",
            reply.body
        );
        let json = json_body(&reply);
        assert!(
            json["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{path} {content_type:?} {body:?}: {json}"
        );
    }
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_session() {
    let addr = start(issuer()).await;
    let (access1, refresh1) = login(addr).await;

    let reply = post_json(addr, REFRESH, &json!({ "refresh": refresh1 })).await;
    let (access2, refresh2) = pair(&expect(&reply, StatusCode::OK));
    assert_ne!(refresh2, refresh1, "rotation gives a new refresh token");
    assert_ne!(access2, access1);
    assert_eq!(
        payload(&access2)["sid"],
        payload(&access1)["sid"],
        "same session"
    );
    expect(&get_with_token(addr, ME, &access2).await, StatusCode::OK);
    expect(&get_with_token(addr, ME, &access1).await, StatusCode::OK);

    // The rotated-out refresh token presented again: reuse.
    let reused = post_json(addr, REFRESH, &json!({ "refresh": refresh1 })).await;
    expect_token_not_valid(&reused);

    // The whole session is gone: the newest refresh token and every access token.
    let newest = post_json(addr, REFRESH, &json!({ "refresh": refresh2 })).await;
    expect_token_not_valid(&newest);
    for access in [&access1, &access2] {
        let me = get_with_token(addr, ME, access).await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED, "body: {}", me.body);
        let verify = post_json(addr, VERIFY, &json!({ "token": access })).await;
        expect_token_not_valid(&verify);
    }

    // Another login is another session, unaffected.
    let (access3, refresh3) = login(addr).await;
    expect(&get_with_token(addr, ME, &access3).await, StatusCode::OK);
    let reply = post_json(addr, REFRESH, &json!({ "refresh": refresh3 })).await;
    expect(&reply, StatusCode::OK);
}

#[tokio::test]
async fn blacklisted_refresh_token_is_refused_and_access_tokens_cannot_be_blacklisted() {
    let addr = start(issuer()).await;
    let (access, refresh) = login(addr).await;

    // An access token is not what the blacklist endpoint takes.
    let reply = post_json(addr, BLACKLIST, &json!({ "refresh": access })).await;
    expect_token_not_valid(&reply);
    expect(&get_with_token(addr, ME, &access).await, StatusCode::OK);

    let reply = post_json(addr, BLACKLIST, &json!({ "refresh": refresh })).await;
    assert_eq!(expect(&reply, StatusCode::OK), json!({}));

    let reply = post_json(addr, REFRESH, &json!({ "refresh": refresh })).await;
    expect_token_not_valid(&reply);
    let reply = post_json(addr, VERIFY, &json!({ "token": refresh })).await;
    expect_token_not_valid(&reply);
    // Blacklisting it twice: it is no longer a valid token.
    let reply = post_json(addr, BLACKLIST, &json!({ "refresh": refresh })).await;
    expect_token_not_valid(&reply);
    // Garbage is refused, not a 500.
    let reply = post_json(addr, BLACKLIST, &json!({ "refresh": "garbage" })).await;
    expect_token_not_valid(&reply);
}

#[tokio::test]
async fn verify_accepts_valid_tokens_and_refuses_garbage() {
    let addr = start(issuer()).await;
    let (access, refresh) = login(addr).await;
    for token in [&access, &refresh] {
        let reply = post_json(addr, VERIFY, &json!({ "token": token })).await;
        assert_eq!(expect(&reply, StatusCode::OK), json!({}));
    }
    for garbage in ["garbage", "", "a.b.c", &format!("{access}x")] {
        let reply = post_json(addr, VERIFY, &json!({ "token": garbage })).await;
        expect_token_not_valid(&reply);
    }
    // A well-formed token signed by another key.
    let foreign = crate::support::mint(
        Algorithm::ES256,
        Pair::B,
        &json!({ "sub": USER, "exp": now() + 300, "jti": "j", "sid": "s" }),
    );
    let reply = post_json(addr, VERIFY, &json!({ "token": foreign })).await;
    expect_token_not_valid(&reply);
}

#[tokio::test]
async fn tokens_of_the_wrong_type_are_refused() {
    let addr = start(issuer()).await;
    let (access, refresh) = login(addr).await;

    let me = get_with_token(addr, ME, &refresh).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "body: {}", me.body);

    let reply = post_json(addr, REFRESH, &json!({ "refresh": access })).await;
    expect_token_not_valid(&reply);

    // Neither confusion spent anything: both still work for what they are.
    expect(&get_with_token(addr, ME, &access).await, StatusCode::OK);
    let reply = post_json(addr, REFRESH, &json!({ "refresh": refresh })).await;
    expect(&reply, StatusCode::OK);
}

#[tokio::test]
async fn lifetimes_are_as_configured_and_expired_tokens_are_refused() {
    let issuer = issuer();
    let kid = issuer
        .signing_key()
        .kid()
        .expect("an EC key has a kid")
        .to_owned();
    let addr = start(issuer).await;
    let (access, refresh) = login(addr).await;

    let (a, r) = (payload(&access), payload(&refresh));
    let lifetime =
        |claims: &Value| claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert_eq!(lifetime(&a), ACCESS_LIFETIME.as_secs(), "access: {a}");
    assert_eq!(lifetime(&r), REFRESH_LIFETIME.as_secs(), "refresh: {r}");
    let iat = a["iat"].as_u64().unwrap();
    assert!(iat.abs_diff(now()) <= 5, "iat {iat} is now");

    // The refresh endpoint's new pair has the same lifetimes.
    let reply = post_json(addr, REFRESH, &json!({ "refresh": refresh })).await;
    let (access2, refresh2) = pair(&expect(&reply, StatusCode::OK));
    assert_eq!(lifetime(&payload(&access2)), ACCESS_LIFETIME.as_secs());
    assert_eq!(lifetime(&payload(&refresh2)), REFRESH_LIFETIME.as_secs());

    // Tokens of this issuer's key, kid and shape, expired 120 s ago (beyond any leeway).
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid);
    let expired = |token_type: &str, jti: &str| {
        let claims = json!({
            "sub": USER,
            "scope": "read",
            "iat": now() - 300,
            "exp": now() - 120,
            "jti": jti,
            "sid": "expired-session",
            "token_type": token_type,
        });
        crate::support::mint_with_header(header.clone(), Pair::A, &claims)
    };
    let expired_access = expired("access", "expired-access");
    let expired_refresh = expired("refresh", "expired-refresh");

    // The same tokens, not expired, pass: so only `exp` refuses the expired ones.
    let fresh = |token_type: &str, jti: &str| {
        let claims = json!({
            "sub": USER, "iat": now(), "exp": now() + 60, "jti": jti,
            "sid": "fresh-session", "token_type": token_type,
        });
        crate::support::mint_with_header(header.clone(), Pair::A, &claims)
    };
    expect(
        &get_with_token(addr, ME, &fresh("access", "fa")).await,
        StatusCode::OK,
    );
    let reply = post_json(addr, REFRESH, &json!({ "refresh": fresh("refresh", "fr") })).await;
    expect(&reply, StatusCode::OK);

    let me = get_with_token(addr, ME, &expired_access).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "body: {}", me.body);
    let reply = post_json(addr, REFRESH, &json!({ "refresh": expired_refresh })).await;
    expect_token_not_valid(&reply);
    let reply = post_json(addr, VERIFY, &json!({ "token": expired_access })).await;
    expect_token_not_valid(&reply);
    let reply = post_json(addr, BLACKLIST, &json!({ "refresh": expired_refresh })).await;
    expect_token_not_valid(&reply);
}

async fn downstream_me(claims: Claims<Value>) -> String {
    claims.custom()["sub"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_service_validates_access_tokens_through_the_jwks() {
    let issuer = issuer();
    let kid = issuer.signing_key().kid().unwrap().to_owned();
    let addr = start(issuer).await;

    let jwks = crate::support::get(addr, "/.well-known/jwks.json", &[]).await;
    let jwks = expect(&jwks, StatusCode::OK);
    let keys = jwks["keys"].as_array().expect("a key set");
    assert_eq!(keys.len(), 1, "jwks: {jwks}");
    assert_eq!(keys[0]["kty"], "EC", "jwks: {jwks}");
    assert_eq!(keys[0]["crv"], "P-256", "jwks: {jwks}");
    assert_eq!(keys[0]["kid"], kid.as_str(), "jwks: {jwks}");
    assert!(keys[0].get("d").is_none(), "no private part: {jwks}");

    let resolver = JwksResolver::new(format!("http://{addr}/.well-known/jwks.json"));
    let layer = JwtAuthLayer::<Value>::builder(resolver)
        .algorithms([Algorithm::ES256])
        .build()
        .unwrap();
    let downstream = serve(
        Router::new()
            .route("/whoami", get(downstream_me))
            .layer(layer),
    )
    .await;

    let (access, refresh) = login(addr).await;
    let reply = get_with_token(downstream, "/whoami", &access).await;
    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
    assert_eq!(reply.body, USER);

    // The payload changed under the same signature.
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    let mut claims = payload(&access);
    claims["sub"] = json!("admin");
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered = parts.join(".");
    let reply = get_with_token(downstream, "/whoami", &tampered).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "body: {}",
        reply.body
    );
    // The signature changed.
    let mut sig = URL_SAFE_NO_PAD
        .decode(access.rsplit('.').next().unwrap())
        .unwrap();
    sig[0] ^= 1;
    let tampered = format!(
        "{}.{}",
        access.rsplit_once('.').unwrap().0,
        URL_SAFE_NO_PAD.encode(sig)
    );
    let reply = get_with_token(downstream, "/whoami", &tampered).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "body: {}",
        reply.body
    );

    // Refresh tokens are not access tokens downstream either.
    let reply = get_with_token(downstream, "/whoami", &refresh).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "body: {}",
        reply.body
    );
    // A token of another key is refused.
    let foreign = crate::support::mint(
        Algorithm::ES256,
        Pair::B,
        &json!({ "sub": USER, "exp": now() + 300 }),
    );
    let reply = get_with_token(downstream, "/whoami", &foreign).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "body: {}",
        reply.body
    );
    // The untampered token still passes.
    let reply = get_with_token(downstream, "/whoami", &access).await;
    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
}

// --- the login guards ---------------------------------------------------------------------

/// `POST path` with a JSON `body` and `headers` from the local address `from` (any of
/// 127.0.0.0/8 on Linux): another client as far as the server can tell.
async fn post_json_from(
    from: IpAddr,
    headers: &[(&str, &str)],
    addr: SocketAddr,
    path: &str,
    body: &Value,
) -> Reply {
    use http_body_util::BodyExt;
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;

    let mut connector = HttpConnector::new();
    connector.set_local_address(Some(from));
    let client = Client::builder(TokioExecutor::new()).build::<_, Full<Bytes>>(connector);
    let mut request = Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn credentials(username: &str, password: &str) -> Value {
    json!({ "username": username, "password": password })
}

/// Asserts 429 with simplejwt's throttled body and a `Retry-After` of whole seconds, at
/// least 1 and at most a minute (the tight limits refill one attempt a minute).
#[track_caller]
fn expect_throttled(reply: &Reply) {
    let body = expect(reply, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("throttled")),
        "body: {body}"
    );
    let retry_after = reply.header("retry-after").expect("a Retry-After header");
    let seconds: u64 = retry_after
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After {retry_after:?} is not whole seconds"));
    assert!((1..=60).contains(&seconds), "Retry-After {seconds}");
}

#[tokio::test]
async fn the_attempt_after_the_per_client_burst_gets_429_with_retry_after() {
    let state = AppState::new(issuer(), USER, PASSWORD).with_limits(&tight(3, 100));
    let addr = start_with(state).await;

    // Three attempts at three usernames: the per-username buckets never fill.
    let reply = post_json(addr, LOGIN, &credentials(USER, PASSWORD)).await;
    pair(&expect(&reply, StatusCode::OK));
    let reply = post_json(addr, LOGIN, &credentials("alice", "guess")).await;
    expect(&reply, StatusCode::UNAUTHORIZED);
    let reply = post_json(addr, LOGIN, &credentials("bob", "guess")).await;
    expect(&reply, StatusCode::UNAUTHORIZED);

    // The fourth, even with the right password, and anything else on the endpoint.
    let reply = post_json(addr, LOGIN, &credentials(USER, PASSWORD)).await;
    expect_throttled(&reply);
    let reply = post_raw(addr, LOGIN, Some("application/json"), "not json").await;
    expect_throttled(&reply);

    // Only logins are limited.
    let reply = crate::support::get(addr, "/.well-known/jwks.json", &[]).await;
    expect(&reply, StatusCode::OK);
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn another_client_address_has_its_own_bucket() {
    let state = AppState::new(issuer(), USER, PASSWORD).with_limits(&tight(1, 100));
    let addr = start_with(state).await;
    let (first, second) = (
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
    );
    let reply = post_json_from(first, &[], addr, LOGIN, &credentials("alice", "guess")).await;
    expect(&reply, StatusCode::UNAUTHORIZED);
    let reply = post_json_from(first, &[], addr, LOGIN, &credentials(USER, PASSWORD)).await;
    expect_throttled(&reply);

    let reply = post_json_from(second, &[], addr, LOGIN, &credentials(USER, PASSWORD)).await;
    pair(&expect(&reply, StatusCode::OK));
    let reply = post_json_from(second, &[], addr, LOGIN, &credentials(USER, PASSWORD)).await;
    expect_throttled(&reply);
}

/// Behind nginx at 127.0.0.1: its `X-Forwarded-For` entry keys the bucket; the same
/// header from 127.0.0.2, which is not the proxy, is the client's invention and ignored.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_has_the_bucket() {
    let proxy = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    let stranger = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let proxies = tower_jwt_auth::TrustedProxies::new(["127.0.0.1"], |extensions| {
        extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
    })
    .unwrap();
    let state = AppState::new(issuer(), USER, PASSWORD)
        .with_limits(&tight(1, 100))
        .with_trusted_proxies(proxies);
    let addr = start_with(state).await;
    let guess = credentials("alice", "guess");
    let forwarded = |client| [("x-forwarded-for", client)];

    // Two clients behind the proxy, one bucket each; a client's own entry left of the
    // proxy's does not move it to another bucket.
    let reply = post_json_from(proxy, &forwarded("198.51.100.1"), addr, LOGIN, &guess).await;
    expect(&reply, StatusCode::UNAUTHORIZED);
    let reply = post_json_from(
        proxy,
        &forwarded("203.0.113.5, 198.51.100.1"),
        addr,
        LOGIN,
        &guess,
    )
    .await;
    expect_throttled(&reply);
    let reply = post_json_from(proxy, &forwarded("198.51.100.2"), addr, LOGIN, &guess).await;
    expect(&reply, StatusCode::UNAUTHORIZED);

    // Not the proxy: keyed by its own address whatever it forwards.
    let reply = post_json_from(stranger, &forwarded("198.51.100.3"), addr, LOGIN, &guess).await;
    expect(&reply, StatusCode::UNAUTHORIZED);
    let reply = post_json_from(stranger, &forwarded("198.51.100.4"), addr, LOGIN, &guess).await;
    expect_throttled(&reply);
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn one_username_is_limited_across_clients_and_another_username_is_not() {
    let state = AppState::new(issuer(), USER, PASSWORD).with_limits(&tight(100, 2));
    let addr = start_with(state).await;
    let clients = [1, 2, 3].map(|last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)));

    // A correct login inside the limit works; the guesses at it come from other clients.
    let reply = post_json_from(clients[0], &[], addr, LOGIN, &credentials(USER, PASSWORD)).await;
    pair(&expect(&reply, StatusCode::OK));
    let reply = post_json_from(clients[1], &[], addr, LOGIN, &credentials(USER, "guess")).await;
    expect(&reply, StatusCode::UNAUTHORIZED);
    let reply = post_json_from(clients[2], &[], addr, LOGIN, &credentials(USER, "guess")).await;
    expect_throttled(&reply);
    // The right password does not get past the bucket either.
    let reply = post_json_from(clients[0], &[], addr, LOGIN, &credentials(USER, PASSWORD)).await;
    expect_throttled(&reply);

    // Another username, from the same clients, has a bucket of its own; an unknown
    // username has one too (a limit says nothing about whether the account exists).
    let reply = post_json_from(clients[2], &[], addr, LOGIN, &credentials("mallory", "x")).await;
    expect(&reply, StatusCode::UNAUTHORIZED);
    let reply = post_json_from(clients[1], &[], addr, LOGIN, &credentials("mallory", "x")).await;
    expect(&reply, StatusCode::UNAUTHORIZED);
    let reply = post_json_from(clients[0], &[], addr, LOGIN, &credentials("mallory", "x")).await;
    expect_throttled(&reply);
}

#[tokio::test]
async fn with_every_hashing_slot_busy_a_login_gets_503_with_retry_after() {
    let limits = LoginLimits {
        hashing_slots: 2,
        hashing_wait: Duration::from_millis(50),
        ..relaxed()
    };
    let state = AppState::new(issuer(), USER, PASSWORD).with_limits(&limits);
    let slots = state.hashing_slots();
    let addr = start_with(state).await;

    let held = Arc::clone(&slots).acquire_many_owned(2).await.unwrap();
    let reply = post_json(addr, LOGIN, &credentials(USER, PASSWORD)).await;
    let body = expect(&reply, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body["detail"].is_string(), "body: {body}");
    assert_eq!(reply.header("retry-after"), Some("1"));

    drop(held);
    let reply = post_json(addr, LOGIN, &credentials(USER, PASSWORD)).await;
    pair(&expect(&reply, StatusCode::OK));
    assert_eq!(slots.available_permits(), 2, "the check gave its slot back");
}

#[tokio::test]
async fn a_login_queues_for_a_hashing_slot_freed_within_the_wait() {
    let limits = LoginLimits {
        hashing_slots: 1,
        hashing_wait: Duration::from_secs(30),
        ..relaxed()
    };
    let state = AppState::new(issuer(), USER, PASSWORD).with_limits(&limits);
    let slots = state.hashing_slots();
    let addr = start_with(state).await;

    let held = Arc::clone(&slots).acquire_owned().await.unwrap();
    let waiting = tokio::spawn(async move { login(addr).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(held);
    waiting.await.expect("the queued login got its pair");
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_and_a_small_malformed_one_400() {
    let addr = start(issuer()).await;
    let password = "x".repeat(1024 * 1024);
    let big = credentials(USER, &password).to_string();
    for path in [LOGIN, REFRESH, VERIFY, BLACKLIST] {
        let reply = post_raw(addr, path, Some("application/json"), &big).await;
        let body = expect(&reply, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body["detail"].is_string(), "{path}: {body}");
    }
    // Just over 16 KiB is over; a valid body just under is read.
    let over = format!(r#"{{"token": "{}"}}"#, "a".repeat(16 * 1024));
    let reply = post_raw(addr, VERIFY, Some("application/json"), &over).await;
    expect(&reply, StatusCode::PAYLOAD_TOO_LARGE);
    let under = format!(r#"{{"token": "{}"}}"#, "a".repeat(16 * 1024 - 20));
    let reply = post_raw(addr, VERIFY, Some("application/json"), &under).await;
    expect_token_not_valid(&reply);

    let reply = post_raw(addr, LOGIN, Some("application/json"), r#"{"username": "#).await;
    let body = expect(&reply, StatusCode::BAD_REQUEST);
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "body: {body}"
    );
    // The server still answers logins.
    login(addr).await;
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_413_without_100_continue() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = start(issuer()).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Headers only: a client that asked for 100-continue waits before sending the body.
    let head = format!(
        "POST {LOGIN} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nexpect: 100-continue\r\n\r\n",
        1024 * 1024
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server answered and closed without waiting for the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 413 "),
        "a final 413 first, no 100 Continue: {answer}"
    );
    assert!(answer.contains(r#"{"detail":"#), "{answer}");
}

// --- a failing revocation store ------------------------------------------------------------

#[derive(Debug)]
struct Unreachable;

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("store unreachable")
    }
}

impl std::error::Error for Unreachable {}

/// A store that cannot answer at all, or (`reads_work`) one that answers reads but refuses
/// every new revocation, as a full store does.
struct FailingStore {
    reads_work: bool,
}

impl RevocationStore for FailingStore {
    fn revoke(&self, _id: &str, _expires_at: u64) -> BoxFuture<'static, Result<bool, StoreError>> {
        Box::pin(async { Err(StoreError::new(Unreachable)) })
    }

    fn any_revoked(&self, _ids: &[&str]) -> BoxFuture<'static, Result<bool, StoreError>> {
        let answer = if self.reads_work {
            Ok(false)
        } else {
            Err(StoreError::new(Unreachable))
        };
        Box::pin(async move { answer })
    }

    fn rotate(
        &self,
        _sid: &str,
        _presented: &str,
        _next: &str,
        _expires_at: u64,
    ) -> BoxFuture<'static, Result<Rotation, StoreError>> {
        Box::pin(async { Err(StoreError::new(Unreachable)) })
    }

    fn close_session(
        &self,
        _sid: &str,
        _expires_at: u64,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::new(Unreachable)) })
    }
}

fn issuer_over(store: FailingStore) -> TokenIssuer {
    TokenIssuer::builder(signing_key())
        .rotate_refresh_tokens(true)
        .revocation_store(store)
        .build()
        .expect("a valid issuer")
}

/// Asserts 503 with a JSON detail and a `Retry-After` of whole seconds.
#[track_caller]
fn expect_unavailable(reply: &Reply) {
    let body = expect(reply, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body["detail"].is_string(), "body: {body}");
    assert_eq!(reply.header("retry-after"), Some("5"), "body: {body}");
}

#[tokio::test]
async fn an_unreachable_revocation_store_gives_503_never_200_or_401() {
    let addr = start(issuer_over(FailingStore { reads_work: false })).await;
    // Logging in writes nothing to the store.
    let (access, refresh) = login(addr).await;

    let reply = post_json(addr, REFRESH, &json!({ "refresh": refresh })).await;
    expect_unavailable(&reply);
    let reply = post_json(addr, BLACKLIST, &json!({ "refresh": refresh })).await;
    expect_unavailable(&reply);
    let reply = post_json(addr, VERIFY, &json!({ "token": access })).await;
    expect_unavailable(&reply);
    // The layer in front of /api/me cannot check revocation either: 503, not a pass.
    let me = get_with_token(addr, ME, &access).await;
    assert_eq!(
        me.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "body: {}",
        me.body
    );
    assert!(
        me.header("retry-after").is_some(),
        "headers: {:?}",
        me.headers
    );

    // A bad token is still refused as such: only the store's failure is 503.
    let reply = post_json(addr, REFRESH, &json!({ "refresh": "garbage" })).await;
    expect_token_not_valid(&reply);
}

#[tokio::test]
async fn a_store_refusing_new_revocations_gives_503_on_refresh_and_blacklist() {
    let addr = start(issuer_over(FailingStore { reads_work: true })).await;
    let (access, refresh) = login(addr).await;

    // Rotation revokes the presented refresh token first: refused, so no new pair.
    let reply = post_json(addr, REFRESH, &json!({ "refresh": refresh })).await;
    expect_unavailable(&reply);
    let reply = post_json(addr, BLACKLIST, &json!({ "refresh": refresh })).await;
    expect_unavailable(&reply);

    // Reads still work: the tokens are valid, as nothing could be revoked.
    let reply = post_json(addr, VERIFY, &json!({ "token": refresh })).await;
    assert_eq!(expect(&reply, StatusCode::OK), json!({}));
    expect(&get_with_token(addr, ME, &access).await, StatusCode::OK);
}

/// Two instances of the example on one Redis, each with its own store (connections and
/// local view), as two processes behind a load balancer would be.
mod on_redis {
    use std::time::Instant;

    use super::*;
    use crate::support::redis_server::RedisServer;
    use tower_jwt_auth::revocation::RedisRevocationStore;

    const LOGOUT: &str = "/api/logout/";
    const TIMEOUT: Duration = Duration::from_millis(500);
    const STALENESS: Duration = Duration::from_secs(3);

    /// An instance of the token server whose issuer keeps its state in `server`.
    async fn instance(server: &RedisServer) -> SocketAddr {
        let store = RedisRevocationStore::builder(server.client())
            .command_timeout(TIMEOUT)
            .max_staleness(STALENESS)
            .heartbeat(Duration::from_millis(200))
            .build()
            .await
            .expect("a store on the test redis");
        let issuer = TokenIssuer::builder(signing_key())
            .access_lifetime(ACCESS_LIFETIME)
            .refresh_lifetime(REFRESH_LIFETIME)
            .revocation_store(store)
            .build()
            .unwrap();
        start(issuer).await
    }

    async fn logout(addr: SocketAddr, access: &str) -> Reply {
        let request = Request::builder()
            .method("POST")
            .uri(format!("http://{addr}{LOGOUT}"))
            .header("authorization", format!("Bearer {access}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        exchange(request).await
    }

    /// Waits (at most 5 s) until `/api/me` with `access` on `addr` answers `status`.
    async fn me_becomes(addr: SocketAddr, access: &str, status: u16) -> Reply {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let reply = get_with_token(addr, ME, access).await;
            if reply.status == status || Instant::now() > deadline {
                return reply;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn refresh_of(reply: &Reply) -> (String, String) {
        pair(&expect(reply, StatusCode::OK))
    }

    #[tokio::test]
    #[ignore = "needs redis-server; run scripts/test"]
    async fn logout_on_one_instance_is_refused_on_the_other() {
        let server = RedisServer::start();
        let (a, b) = (instance(&server).await, instance(&server).await);
        let (access, refresh) = login(a).await;
        assert_eq!(get_with_token(b, ME, &access).await.status, 200);
        let reply = logout(a, &access).await;
        assert_eq!(expect(&reply, StatusCode::OK), json!({}));
        assert_eq!(get_with_token(a, ME, &access).await.status, 401);
        let reply = me_becomes(b, &access, 401).await;
        assert_eq!(
            reply.status, 401,
            "B still accepts a logged-out token: {reply:?}"
        );
        assert!(
            reply
                .header("www-authenticate")
                .unwrap()
                .contains("revoked")
        );
        // The session's refresh token is dead too, on both.
        for addr in [a, b] {
            let reply = post_json(addr, REFRESH, &json!({ "refresh": refresh })).await;
            expect(&reply, StatusCode::UNAUTHORIZED);
        }
        // Logout needs a valid access token: an empty one is 400, a refresh token 401.
        assert_eq!(logout(a, "").await.status, 400);
        assert_eq!(logout(b, &refresh).await.status, 401);
    }

    #[tokio::test]
    #[ignore = "needs redis-server; run scripts/test"]
    async fn rotation_on_one_and_reuse_on_the_other_kills_the_session_on_both() {
        let server = RedisServer::start();
        let (a, b) = (instance(&server).await, instance(&server).await);
        let (_, first) = login(a).await;
        let (access, second) =
            refresh_of(&post_json(a, REFRESH, &json!({ "refresh": first })).await);
        assert_eq!(get_with_token(b, ME, &access).await.status, 200);
        // The rotated-out token, replayed at B: reuse.
        let reply = post_json(b, REFRESH, &json!({ "refresh": first })).await;
        let body = expect(&reply, StatusCode::UNAUTHORIZED);
        assert_eq!(body["code"], "token_not_valid", "{body}");
        // The whole session is gone everywhere: the newest refresh token and the access token.
        let reply = post_json(a, REFRESH, &json!({ "refresh": second })).await;
        expect(&reply, StatusCode::UNAUTHORIZED);
        assert_eq!(me_becomes(a, &access, 401).await.status, 401);
        assert_eq!(me_becomes(b, &access, 401).await.status, 401);
        // Another login is untouched.
        let (other, _) = login(b).await;
        assert_eq!(get_with_token(a, ME, &other).await.status, 200);
    }

    #[tokio::test]
    #[ignore = "needs redis-server; run scripts/test"]
    async fn a_blacklist_on_one_instance_is_honoured_on_the_other() {
        let server = RedisServer::start();
        let (a, b) = (instance(&server).await, instance(&server).await);
        let (_, refresh) = login(a).await;
        let reply = post_json(b, BLACKLIST, &json!({ "refresh": refresh })).await;
        expect(&reply, StatusCode::OK);
        let deadline = Instant::now() + Duration::from_secs(5);
        let reply = loop {
            let reply = post_json(a, VERIFY, &json!({ "token": refresh })).await;
            if reply.status == 401 || Instant::now() > deadline {
                break reply;
            }
        };
        expect(&reply, StatusCode::UNAUTHORIZED);
        let reply = post_json(a, REFRESH, &json!({ "refresh": refresh })).await;
        expect(&reply, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    #[ignore = "needs redis-server; run scripts/test"]
    async fn three_hundred_chained_refreshes_add_no_keys() {
        let server = RedisServer::start();
        let (a, b) = (instance(&server).await, instance(&server).await);
        let dbsize = || server.cli(&["DBSIZE"]).parse::<u64>().unwrap();
        let (_, mut refresh) = login(a).await;
        assert_eq!(dbsize(), 0, "a login writes nothing");
        let mut access = String::new();
        for i in 0..300 {
            let at = if i % 2 == 0 { a } else { b };
            (access, refresh) =
                refresh_of(&post_json(at, REFRESH, &json!({ "refresh": refresh })).await);
            if i == 0 {
                assert_eq!(dbsize(), 1, "the session's one key");
            }
        }
        assert_eq!(dbsize(), 1, "300 refreshes later, still one key");
        let keys = server.cli(&["KEYS", "*"]);
        assert!(keys.starts_with("tjwt:session:{"), "{keys}");
        assert_eq!(logout(b, &access).await.status, 200);
        assert_eq!(dbsize(), 2, "the session's key and the revocation index");
    }

    #[tokio::test]
    #[ignore = "needs redis-server; run scripts/test"]
    async fn a_paused_redis_gives_503_in_time_then_service_resumes() {
        let server = RedisServer::start();
        let a = instance(&server).await;
        let (access, _) = login(a).await;
        let (logged_out, _) = login(a).await;
        // The writes tried while Redis is stopped use a session of their own.
        let (attempted, attempted_refresh) = login(a).await;
        assert_eq!(logout(a, &logged_out).await.status, 200);
        server.pause();
        let paused = Instant::now();
        // Writes: 503 with Retry-After, within the command timeout.
        let start = Instant::now();
        let reply = post_json(a, REFRESH, &json!({ "refresh": attempted_refresh })).await;
        assert!(start.elapsed() < TIMEOUT * 3, "took {:?}", start.elapsed());
        expect(&reply, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.header("retry-after"), Some("5"));
        let start = Instant::now();
        assert_eq!(logout(a, &attempted).await.status, 503);
        assert!(start.elapsed() < TIMEOUT * 3, "took {:?}", start.elapsed());
        // Reads: the local view, inside the staleness bound.
        assert_eq!(get_with_token(a, ME, &access).await.status, 200);
        assert_eq!(get_with_token(a, ME, &logged_out).await.status, 401);
        // Then closed: 503, never a pass, and never a wait.
        let reply = me_becomes(a, &access, 503).await;
        assert_eq!(reply.status, 503, "{reply:?}");
        assert!(paused.elapsed() >= STALENESS - Duration::from_millis(200));
        assert_eq!(get_with_token(a, ME, &logged_out).await.status, 503);
        server.resume();
        assert_eq!(me_becomes(a, &access, 200).await.status, 200);
        assert_eq!(
            get_with_token(a, ME, &logged_out).await.status,
            401,
            "still logged out"
        );
        // The writes that got 503 had reached Redis's socket before it stopped; Redis may
        // run them on resuming (each whole). A late logout fails closed: `attempted` is
        // logged out now or, if the logout never arrived, still valid; no third outcome.
        let status = get_with_token(a, ME, &attempted).await.status;
        assert!(status == 200 || status == 401, "{status}");
        // A new login refreshes as usual.
        let (_, fresh) = login(a).await;
        let reply = post_json(a, REFRESH, &json!({ "refresh": fresh })).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
}
