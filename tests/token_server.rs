//! The `token_server` example's router, end to end over loopback HTTP: login, refresh with
//! rotation and reuse detection, verify, blacklist, token-type confusion, expiry and a
//! second service that validates the server's access tokens through its JWKS.

mod common;

#[path = "../examples/token_server.rs"]
#[allow(dead_code, unreachable_pub, missing_docs)]
mod token_server;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Pair, Reply, exchange, get_with_token, now, serve};
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper::body::Bytes;
use jsonwebtoken::Header;
use serde_json::{Value, json};
use token_server::{AppState, app};
use tower_jwt_auth::issue::{SigningKey, TokenIssuer};
use tower_jwt_auth::jwks::JwksResolver;
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

/// The example's router over `issuer`, served on loopback.
async fn start(issuer: TokenIssuer) -> SocketAddr {
    let router = app(AppState::new(issuer, USER, PASSWORD)).expect("the example's router");
    serve(router).await
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
    let foreign = common::mint(
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
        common::mint_with_header(header.clone(), Pair::A, &claims)
    };
    let expired_access = expired("access", "expired-access");
    let expired_refresh = expired("refresh", "expired-refresh");

    // The same tokens, not expired, pass: so only `exp` refuses the expired ones.
    let fresh = |token_type: &str, jti: &str| {
        let claims = json!({
            "sub": USER, "iat": now(), "exp": now() + 60, "jti": jti,
            "sid": "fresh-session", "token_type": token_type,
        });
        common::mint_with_header(header.clone(), Pair::A, &claims)
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

    let jwks = common::get(addr, "/.well-known/jwks.json", &[]).await;
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
    let foreign = common::mint(
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
