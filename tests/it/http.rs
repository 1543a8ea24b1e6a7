//! Every row of the error table and every algorithm family against an axum router, in
//! process through `oneshot` (no socket needed); CORS preflights and request bodies over a
//! real loopback connection, where the framing is what is tested.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::*;
use axum::body::Body;
use axum::routing;
use axum::{Json, Router};
use http::{HeaderMap, Request, Response};
use http_body_util::Full;
use hyper::body::Bytes;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_jwt_auth::{
    Algorithm, AuthError, Claims, ErrorKind, JwtAuthBuilder, JwtAuthLayer, KeyError, KeySet,
    StaticKey, TokenHeader, TokenSource, VerificationKey,
};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

async fn me(c: Claims<TestClaims>) -> String {
    c.sub.clone()
}

async fn details(c: Claims<TestClaims>) -> Json<Value> {
    Json(json!({
        "sub": c.sub,
        "scope": c.scope,
        "exp": c.registered().exp,
        "alg": format!("{:?}", c.alg().unwrap()),
        "kid": c.kid(),
    }))
}

async fn maybe(c: Option<Claims<TestClaims>>) -> String {
    match c {
        Some(c) => format!("some:{}", c.sub),
        None => "none".to_owned(),
    }
}

const PREFLIGHT_BODY: &str = "preflight reached the route";

/// `/me` (the subject; `OPTIONS` answers without claims), `/details` (JSON of the claims),
/// `/maybe` (`Option<Claims<_>>`).
fn routes() -> Router {
    Router::new()
        .route(
            "/me",
            routing::get(me).options(|| async { PREFLIGHT_BODY.to_owned() }),
        )
        .route("/details", routing::get(details))
        .route("/maybe", routing::get(maybe))
}

/// A builder with the HS256 `A` secret, HS256 allowed.
fn hs256() -> JwtAuthBuilder<TestClaims, StaticKey> {
    JwtAuthLayer::<TestClaims>::builder(StaticKey::new(verification_key(Algorithm::HS256, Pair::A)))
        .algorithms([Algorithm::HS256])
}

/// Serves `routes()` behind the default HS256 layer.
fn hs256_server() -> Server {
    in_process(routes().layer(hs256().build().unwrap()))
}

/// HS256 token with the `A` secret.
fn hs(claims: Value) -> String {
    mint(Algorithm::HS256, Pair::A, &claims)
}

fn hs_with(f: impl FnOnce(&mut Header), claims: Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    f(&mut header);
    mint_with_header(header, Pair::A, &claims)
}

fn mint_kid(alg: Algorithm, pair: Pair, kid: Option<&str>) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    mint_with_header(header, pair, &claims(json!({})))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[track_caller]
fn assert_ok(r: &Reply, body: &str) {
    assert_eq!(
        (r.status.as_u16(), r.body.as_str()),
        (200, body),
        "unexpected reply: {r:?}"
    );
}

/// 401 `invalid_token` with exactly this description, an empty body, and no part of the
/// token echoed in the challenge.
#[track_caller]
fn assert_invalid_token(r: &Reply, token: &str, description: &str) {
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.challenge(), invalid_token(description), "{r:?}");
    assert_eq!(r.body, "", "default responder has an empty body");
    assert_no_echo(r, token);
}

/// 401 `invalid_token`, whatever the description, with no part of the token echoed.
#[track_caller]
fn assert_some_invalid_token(r: &Reply, token: &str) {
    assert_eq!(r.status, 401, "{r:?}");
    assert!(
        r.challenge()
            .starts_with(r#"Bearer realm="api", error="invalid_token", error_description=""#),
        "{r:?}"
    );
    assert_no_echo(r, token);
}

/// No 6-byte window of the token appears in the challenge (nor the token itself).
#[track_caller]
fn assert_no_echo(r: &Reply, token: &str) {
    let challenge = r.challenge();
    assert!(
        token.is_empty() || !challenge.contains(token),
        "token echoed: {challenge}"
    );
    for window in token.as_bytes().windows(6) {
        let window = std::str::from_utf8(window).unwrap();
        assert!(
            !challenge.contains(window),
            "challenge {challenge:?} echoes token part {window:?}"
        );
    }
}

#[track_caller]
fn assert_invalid_request(r: &Reply, description: &str) {
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.challenge(), invalid_request(description), "{r:?}");
    assert_eq!(r.body, "");
}

#[track_caller]
fn assert_no_credentials(r: &Reply) {
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.challenge(), NO_CREDENTIALS, "{r:?}");
    assert_eq!(r.body, "");
}

#[track_caller]
fn assert_insufficient_scope(r: &Reply, description: &str, scope: Option<&str>) {
    assert_eq!(r.status, 403, "{r:?}");
    let mut expected = format!(
        r#"Bearer realm="api", error="insufficient_scope", error_description="{description}""#
    );
    if let Some(scope) = scope {
        expected.push_str(&format!(r#", scope="{scope}""#));
    }
    assert_eq!(r.challenge(), expected, "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// Algorithms
// ---------------------------------------------------------------------------------------------

async fn own_key_accepted_other_pair_rejected(alg: Algorithm) {
    let layer = JwtAuthLayer::<TestClaims>::builder(StaticKey::new(verification_key(alg, Pair::A)))
        .algorithms([alg])
        .build()
        .unwrap();
    let addr = in_process(routes().layer(layer));

    let good = mint(alg, Pair::A, &claims(json!({})));
    let r = get_with_token(addr, "/details", &good).await;
    assert_eq!(r.status, 200, "{alg:?}: {r:?}");
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["alg"], format!("{alg:?}"));
    assert_eq!(body["sub"], "alice");

    let other_pair = mint(alg, Pair::B, &claims(json!({})));
    let r = get_with_token(addr, "/me", &other_pair).await;
    assert_invalid_token(&r, &other_pair, "token signature is invalid");
}

macro_rules! algorithm_tests {
    ($($name:ident => $alg:ident,)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                own_key_accepted_other_pair_rejected(Algorithm::$alg).await;
            }
        )*

        #[test]
        fn algorithm_tests_cover_every_algorithm() {
            let covered = [$(Algorithm::$alg),*];
            for alg in all_algorithms() {
                assert!(covered.contains(&alg), "{alg:?} has no algorithm test");
            }
        }
    };
}

algorithm_tests! {
    hs256_accepted_with_own_secret_rejected_with_other => HS256,
    hs384_accepted_with_own_secret_rejected_with_other => HS384,
    hs512_accepted_with_own_secret_rejected_with_other => HS512,
    rs256_accepted_with_own_key_rejected_with_other_pair => RS256,
    rs384_accepted_with_own_key_rejected_with_other_pair => RS384,
    rs512_accepted_with_own_key_rejected_with_other_pair => RS512,
    ps256_accepted_with_own_key_rejected_with_other_pair => PS256,
    ps384_accepted_with_own_key_rejected_with_other_pair => PS384,
    ps512_accepted_with_own_key_rejected_with_other_pair => PS512,
    es256_accepted_with_own_key_rejected_with_other_pair => ES256,
    es384_accepted_with_own_key_rejected_with_other_pair => ES384,
    eddsa_accepted_with_own_key_rejected_with_other_pair => EdDSA,
}

/// Every algorithm allowed, the key bound to one: a token of any other allowed algorithm,
/// even one the same key material would verify (RS256 key, RS384/PS256 token), is refused.
#[tokio::test]
async fn allowed_alg_but_key_bound_to_another_alg_is_rejected() {
    for key_alg in all_algorithms() {
        let layer =
            JwtAuthLayer::<TestClaims>::builder(StaticKey::new(verification_key(key_alg, Pair::A)))
                .algorithms(all_algorithms())
                .build()
                .unwrap();
        let addr = in_process(routes().layer(layer));
        for token_alg in all_algorithms() {
            let token = mint(token_alg, Pair::A, &claims(json!({})));
            let r = get_with_token(addr, "/me", &token).await;
            if token_alg == key_alg {
                assert_ok(&r, "alice");
            } else {
                assert_invalid_token(&r, &token, "token algorithm is not allowed");
            }
        }
    }
}

#[tokio::test]
async fn token_alg_outside_allowed_list_is_rejected() {
    let layer = JwtAuthLayer::<TestClaims>::builder(StaticKey::new(verification_key(
        Algorithm::ES256,
        Pair::A,
    )))
    .algorithms([Algorithm::ES256])
    .build()
    .unwrap();
    let addr = in_process(routes().layer(layer));
    for alg in [Algorithm::HS256, Algorithm::RS256, Algorithm::EdDSA] {
        let token = mint(alg, Pair::A, &claims(json!({})));
        let r = get_with_token(addr, "/me", &token).await;
        assert_invalid_token(&r, &token, "token algorithm is not allowed");
    }
    let unknown = mint_raw_header(
        r#"{"alg":"HS1024"}"#,
        Algorithm::HS256,
        Pair::A,
        &claims(json!({})),
    );
    let r = get_with_token(addr, "/me", &unknown).await;
    assert_invalid_token(&r, &unknown, "token algorithm is not allowed");
}

// ---------------------------------------------------------------------------------------------
// alg: none and key confusion
// ---------------------------------------------------------------------------------------------

fn unsigned(header: &str, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64(header.as_bytes()),
        b64(claims(json!({})).to_string().as_bytes())
    )
}

#[tokio::test]
async fn alg_none_unsigned_token_is_rejected() {
    let addr = hs256_server();
    for alg in ["none", "None", "NONE"] {
        let token = unsigned(&format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#), "");
        assert!(token.ends_with('.'));
        let r = get_with_token(addr, "/me", &token).await;
        assert_invalid_token(&r, &token, "token algorithm is not allowed");
    }
}

/// An allowed `alg` with the signature stripped (`header.payload.`) is a bad signature.
#[tokio::test]
async fn allowed_alg_with_empty_signature_is_rejected() {
    let addr = hs256_server();
    let good = hs(claims(json!({})));
    let stripped = &good[..=good.rfind('.').unwrap()];
    let r = get_with_token(addr, "/me", stripped).await;
    assert_invalid_token(&r, stripped, "token signature is invalid");
}

#[tokio::test]
async fn alg_none_with_garbage_signature_is_rejected() {
    let addr = hs256_server();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let token = unsigned(
            &format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#),
            &b64(b"garbage signature"),
        );
        let r = get_with_token(addr, "/me", &token).await;
        assert_invalid_token(&r, &token, "token algorithm is not allowed");
    }
}

/// The classic confusion attack: HS256 signed with the server's RSA public key (PEM bytes)
/// as the HMAC secret.
fn hs256_signed_with_rsa_public_pem() -> String {
    tower_jwt_auth::install_crypto_provider();
    let pem = public_pem(Algorithm::RS256, Pair::A);
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(json!({})),
        &EncodingKey::from_secret(&pem).unwrap(),
    )
    .unwrap()
}

fn rsa_pem_layer(algorithms: &[Algorithm]) -> JwtAuthLayer<TestClaims> {
    let pem = public_pem(Algorithm::RS256, Pair::A);
    JwtAuthLayer::<TestClaims>::builder(StaticKey::from_pem(Algorithm::RS256, &pem).unwrap())
        .algorithms(algorithms.iter().copied())
        .build()
        .unwrap()
}

#[tokio::test]
async fn key_confusion_hs256_with_rsa_public_pem_is_rejected() {
    let addr = in_process(routes().layer(rsa_pem_layer(&[Algorithm::RS256])));
    let genuine = mint(Algorithm::RS256, Pair::A, &claims(json!({})));
    assert_ok(&get_with_token(addr, "/me", &genuine).await, "alice");
    let forged = hs256_signed_with_rsa_public_pem();
    let r = get_with_token(addr, "/me", &forged).await;
    assert_invalid_token(&r, &forged, "token algorithm is not allowed");
}

#[tokio::test]
async fn key_confusion_is_rejected_even_when_hs256_is_allowed() {
    let layer = rsa_pem_layer(&[Algorithm::RS256, Algorithm::HS256]);
    let addr = in_process(routes().layer(layer));
    let genuine = mint(Algorithm::RS256, Pair::A, &claims(json!({})));
    assert_ok(&get_with_token(addr, "/me", &genuine).await, "alice");
    let forged = hs256_signed_with_rsa_public_pem();
    let r = get_with_token(addr, "/me", &forged).await;
    assert_invalid_token(&r, &forged, "token algorithm is not allowed");
}

// ---------------------------------------------------------------------------------------------
// Key sets
// ---------------------------------------------------------------------------------------------

fn key_set_server(keys: Vec<VerificationKey>) -> Server {
    let layer = JwtAuthLayer::<TestClaims>::builder(KeySet::new(keys))
        .algorithms(all_algorithms())
        .build()
        .unwrap();
    in_process(routes().layer(layer))
}

fn three_named_keys() -> Vec<VerificationKey> {
    vec![
        verification_key(Algorithm::ES256, Pair::A).with_kid("ec-a"),
        verification_key(Algorithm::ES256, Pair::B).with_kid("ec-b"),
        verification_key(Algorithm::EdDSA, Pair::A).with_kid("ed-a"),
    ]
}

#[tokio::test]
async fn key_set_selects_key_by_kid() {
    let addr = key_set_server(three_named_keys());
    for (alg, pair, kid) in [
        (Algorithm::ES256, Pair::A, "ec-a"),
        (Algorithm::ES256, Pair::B, "ec-b"),
        (Algorithm::EdDSA, Pair::A, "ed-a"),
    ] {
        let token = mint_kid(alg, pair, Some(kid));
        let r = get_with_token(addr, "/details", &token).await;
        assert_eq!(r.status, 200, "{kid}: {r:?}");
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["kid"], kid);
    }
    // The kid picks the key: pair A's token naming pair B's key fails its signature.
    let crossed = mint_kid(Algorithm::ES256, Pair::A, Some("ec-b"));
    let r = get_with_token(addr, "/me", &crossed).await;
    assert_invalid_token(&r, &crossed, "token signature is invalid");
}

#[tokio::test]
async fn key_set_kid_naming_key_of_another_alg_is_rejected() {
    let addr = key_set_server(three_named_keys());
    let token = mint_kid(Algorithm::ES256, Pair::A, Some("ed-a"));
    let r = get_with_token(addr, "/me", &token).await;
    assert_invalid_token(&r, &token, "token algorithm is not allowed");
}

#[tokio::test]
async fn key_set_unknown_kid_is_invalid_token() {
    let addr = key_set_server(three_named_keys());
    for kid in ["ec-c", "", "EC-A", "../ec-a"] {
        let token = mint_kid(Algorithm::ES256, Pair::A, Some(kid));
        let r = get_with_token(addr, "/me", &token).await;
        assert_invalid_token(&r, &token, "no key matches the token");
    }
}

#[tokio::test]
async fn key_set_without_kid_uses_the_only_fitting_key() {
    let addr = key_set_server(three_named_keys());
    // Only one EdDSA key in the set.
    let token = mint_kid(Algorithm::EdDSA, Pair::A, None);
    let r = get_with_token(addr, "/details", &token).await;
    assert_eq!(r.status, 200, "{r:?}");
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["kid"], Value::Null);
}

#[tokio::test]
async fn key_set_without_kid_and_two_fitting_keys_is_invalid_token() {
    let addr = key_set_server(three_named_keys());
    // Two ES256 keys: without a kid there is no telling which.
    let token = mint_kid(Algorithm::ES256, Pair::A, None);
    let r = get_with_token(addr, "/me", &token).await;
    assert_invalid_token(&r, &token, "no key matches the token");
}

fn jwk(alg: Algorithm, pair: Pair, kid: &str, key_use: &str) -> Value {
    tower_jwt_auth::install_crypto_provider();
    let jwk = Jwk::from_encoding_key(&encoding_key(alg, pair), alg).unwrap();
    let mut value = serde_json::to_value(jwk).unwrap();
    value["kid"] = kid.into();
    value["use"] = key_use.into();
    value
}

#[tokio::test]
async fn key_set_from_jwks_json_verifies_by_kid() {
    let document = json!({ "keys": [
        jwk(Algorithm::RS256, Pair::A, "rsa-a", "sig"),
        jwk(Algorithm::ES256, Pair::A, "p256-a", "sig"),
        jwk(Algorithm::ES384, Pair::A, "p384-a", "sig"),
        jwk(Algorithm::EdDSA, Pair::A, "ed-a", "sig"),
        jwk(Algorithm::HS256, Pair::A, "hs-a", "sig"),
        jwk(Algorithm::RS256, Pair::B, "rsa-b-enc", "enc"),
    ]});
    let set = KeySet::from_jwks_json(&document.to_string()).unwrap();
    assert_eq!(set.len(), 5, "the encryption key is skipped");
    let layer = JwtAuthLayer::<TestClaims>::builder(set)
        .algorithms(all_algorithms())
        .build()
        .unwrap();
    let addr = in_process(routes().layer(layer));

    for (alg, kid) in [
        (Algorithm::RS256, "rsa-a"),
        (Algorithm::ES256, "p256-a"),
        (Algorithm::ES384, "p384-a"),
        (Algorithm::EdDSA, "ed-a"),
        (Algorithm::HS256, "hs-a"),
    ] {
        let token = mint_kid(alg, Pair::A, Some(kid));
        let r = get_with_token(addr, "/details", &token).await;
        assert_eq!(r.status, 200, "{kid}: {r:?}");
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            (&body["kid"], &body["alg"]),
            (&json!(kid), &json!(format!("{alg:?}")))
        );
    }
    // The JWK's `alg` binds the RSA key to RS256 alone.
    let ps = mint_kid(Algorithm::PS256, Pair::A, Some("rsa-a"));
    assert_invalid_token(
        &get_with_token(addr, "/me", &ps).await,
        &ps,
        "token algorithm is not allowed",
    );
    // The skipped encryption key verifies nothing.
    let enc = mint_kid(Algorithm::RS256, Pair::B, Some("rsa-b-enc"));
    assert_invalid_token(
        &get_with_token(addr, "/me", &enc).await,
        &enc,
        "no key matches the token",
    );
}

// ---------------------------------------------------------------------------------------------
// exp, nbf, leeway, required claims
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn expired_within_default_leeway_is_accepted() {
    let addr = hs256_server();
    let token = hs(json!({ "sub": "alice", "exp": now() - 30 }));
    assert_ok(&get_with_token(addr, "/me", &token).await, "alice");
}

#[tokio::test]
async fn expired_beyond_default_leeway_is_rejected() {
    let addr = hs256_server();
    let token = hs(json!({ "sub": "alice", "exp": now() - 90 }));
    let r = get_with_token(addr, "/me", &token).await;
    assert_invalid_token(&r, &token, "token has expired");
}

#[tokio::test]
async fn zero_leeway_rejects_recently_expired_token() {
    let layer = hs256().leeway(Duration::ZERO).build().unwrap();
    let addr = in_process(routes().layer(layer));
    let token = hs(json!({ "sub": "alice", "exp": now() - 10 }));
    let r = get_with_token(addr, "/me", &token).await;
    assert_invalid_token(&r, &token, "token has expired");
    let fresh = hs(json!({ "sub": "alice", "exp": now() + 30 }));
    assert_ok(&get_with_token(addr, "/me", &fresh).await, "alice");
}

#[tokio::test]
async fn nbf_in_future_beyond_leeway_is_rejected() {
    let addr = hs256_server();
    let token = hs(claims(json!({ "nbf": now() + 90 })));
    let r = get_with_token(addr, "/me", &token).await;
    assert_invalid_token(&r, &token, "token is not valid yet");
}

#[tokio::test]
async fn nbf_in_future_within_leeway_is_accepted() {
    let addr = hs256_server();
    let token = hs(claims(json!({ "nbf": now() + 30 })));
    assert_ok(&get_with_token(addr, "/me", &token).await, "alice");
}

#[tokio::test]
async fn missing_exp_is_rejected_by_default() {
    let addr = hs256_server();
    let token = hs(json!({ "sub": "alice" }));
    let r = get_with_token(addr, "/me", &token).await;
    assert_invalid_token(&r, &token, "token has no exp claim");
}

#[tokio::test]
async fn empty_required_claims_accepts_token_without_exp() {
    let layer = hs256()
        .required_claims(Vec::<String>::new())
        .build()
        .unwrap();
    let addr = in_process(routes().layer(layer));
    let token = hs(json!({ "sub": "alice" }));
    assert_ok(&get_with_token(addr, "/me", &token).await, "alice");
}

#[tokio::test]
async fn required_claims_exp_and_jti() {
    let layer = hs256().required_claims(["exp", "jti"]).build().unwrap();
    let addr = in_process(routes().layer(layer));
    let both = hs(claims(json!({ "jti": "id-1" })));
    assert_ok(&get_with_token(addr, "/me", &both).await, "alice");
    let no_jti = hs(claims(json!({})));
    let r = get_with_token(addr, "/me", &no_jti).await;
    assert_invalid_token(&r, &no_jti, "token has no jti claim");
    let no_exp = hs(json!({ "sub": "alice", "jti": "id-1" }));
    let r = get_with_token(addr, "/me", &no_exp).await;
    assert_invalid_token(&r, &no_exp, "token has no exp claim");
}

#[test]
fn unknown_required_claim_is_a_config_error() {
    assert!(hs256().required_claims(["exp", "bogus"]).build().is_err());
}

// ---------------------------------------------------------------------------------------------
// aud and iss
// ---------------------------------------------------------------------------------------------

fn audience_server() -> Server {
    in_process(routes().layer(hs256().audience("orders-api").build().unwrap()))
}

#[tokio::test]
async fn audience_as_string_matched_is_accepted() {
    let addr = audience_server();
    let token = hs(claims(json!({ "aud": "orders-api" })));
    assert_ok(&get_with_token(addr, "/me", &token).await, "alice");
}

#[tokio::test]
async fn audience_as_array_matched_is_accepted() {
    let addr = audience_server();
    let token = hs(claims(json!({ "aud": ["billing", "orders-api"] })));
    assert_ok(&get_with_token(addr, "/me", &token).await, "alice");
}

#[tokio::test]
async fn audience_as_string_unmatched_is_rejected() {
    let addr = audience_server();
    for aud in ["billing", "orders-api-2", "ORDERS-API", ""] {
        let token = hs(claims(json!({ "aud": aud })));
        let r = get_with_token(addr, "/me", &token).await;
        assert_invalid_token(&r, &token, "token audience is not accepted");
    }
}

#[tokio::test]
async fn audience_as_array_unmatched_is_rejected() {
    let addr = audience_server();
    for aud in [json!(["billing", "shipping"]), json!([])] {
        let token = hs(claims(json!({ "aud": aud })));
        let r = get_with_token(addr, "/me", &token).await;
        assert_invalid_token(&r, &token, "token audience is not accepted");
    }
}

#[tokio::test]
async fn missing_audience_when_configured_is_rejected() {
    let addr = audience_server();
    let token = hs(claims(json!({})));
    let r = get_with_token(addr, "/me", &token).await;
    assert_invalid_token(&r, &token, "token audience is not accepted");
}

#[tokio::test]
async fn token_with_aud_but_no_audience_configured_is_rejected() {
    let addr = hs256_server();
    for aud in [json!("orders-api"), json!(["orders-api"])] {
        let token = hs(claims(json!({ "aud": aud })));
        let r = get_with_token(addr, "/me", &token).await;
        assert_invalid_token(&r, &token, "token audience is not accepted");
    }
}

fn issuer_server() -> Server {
    let layer = hs256()
        .issuer("https://auth.example.com")
        .issuer("https://auth2.example.com")
        .build()
        .unwrap();
    in_process(routes().layer(layer))
}

#[tokio::test]
async fn issuer_matched_is_accepted() {
    let addr = issuer_server();
    for iss in ["https://auth.example.com", "https://auth2.example.com"] {
        let token = hs(claims(json!({ "iss": iss })));
        assert_ok(&get_with_token(addr, "/me", &token).await, "alice");
    }
}

#[tokio::test]
async fn issuer_unmatched_is_rejected() {
    let addr = issuer_server();
    for iss in ["https://evil.example.com", "https://auth.example.com/", ""] {
        let token = hs(claims(json!({ "iss": iss })));
        let r = get_with_token(addr, "/me", &token).await;
        assert_invalid_token(&r, &token, "token issuer is not accepted");
    }
}

#[tokio::test]
async fn issuer_missing_is_rejected() {
    let addr = issuer_server();
    let token = hs(claims(json!({})));
    let r = get_with_token(addr, "/me", &token).await;
    assert_invalid_token(&r, &token, "token issuer is not accepted");
}

// ---------------------------------------------------------------------------------------------
// Header: crit, typ
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn crit_header_is_rejected() {
    let addr = hs256_server();
    for header in [
        r#"{"alg":"HS256","crit":["exp"],"exp":1}"#,
        r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
        r#"{"alg":"HS256","crit":[]}"#,
    ] {
        let token = mint_raw_header(header, Algorithm::HS256, Pair::A, &claims(json!({})));
        let r = get_with_token(addr, "/me", &token).await;
        assert_invalid_token(
            &r,
            &token,
            "token header lists an unsupported critical extension",
        );
    }
}

fn at_jwt_server() -> Server {
    in_process(routes().layer(hs256().expected_typ("at+jwt").build().unwrap()))
}

#[tokio::test]
async fn expected_typ_accepts_at_jwt() {
    let addr = at_jwt_server();
    for typ in ["at+jwt", "AT+JWT"] {
        let token = hs_with(|h| h.typ = Some(typ.into()), claims(json!({})));
        assert_ok(&get_with_token(addr, "/me", &token).await, "alice");
    }
}

#[tokio::test]
async fn expected_typ_accepts_application_at_jwt() {
    let addr = at_jwt_server();
    let token = hs_with(
        |h| h.typ = Some("application/at+jwt".into()),
        claims(json!({})),
    );
    assert_ok(&get_with_token(addr, "/me", &token).await, "alice");
}

#[tokio::test]
async fn expected_typ_rejects_jwt() {
    let addr = at_jwt_server();
    for typ in ["JWT", "application/jwt", "at+jwt2", "application/"] {
        let token = hs_with(|h| h.typ = Some(typ.into()), claims(json!({})));
        let r = get_with_token(addr, "/me", &token).await;
        assert_invalid_token(&r, &token, "token type is not accepted");
    }
}

#[tokio::test]
async fn expected_typ_rejects_missing_typ() {
    let addr = at_jwt_server();
    let token = hs_with(|h| h.typ = None, claims(json!({})));
    let r = get_with_token(addr, "/me", &token).await;
    assert_invalid_token(&r, &token, "token type is not accepted");
}

// ---------------------------------------------------------------------------------------------
// Size cap
// ---------------------------------------------------------------------------------------------

/// An HS256 token padded with a big claim to `len` bytes, give or take a few.
fn token_of_about(len: usize) -> String {
    let empty = hs(claims(json!({ "pad": "" })));
    let pad = "x".repeat((len.saturating_sub(empty.len())) * 3 / 4);
    hs(claims(json!({ "pad": pad })))
}

#[tokio::test]
async fn token_over_max_token_size_is_rejected() {
    let layer = hs256().max_token_size(512).build().unwrap();
    let addr = in_process(routes().layer(layer));
    let small = token_of_about(400);
    assert!(small.len() <= 512, "{}", small.len());
    assert_ok(&get_with_token(addr, "/me", &small).await, "alice");
    let big = token_of_about(600);
    assert!(big.len() > 512, "{}", big.len());
    let r = get_with_token(addr, "/me", &big).await;
    assert_invalid_token(&r, &big, "token is too large");
}

#[tokio::test]
async fn default_size_cap_rejects_9_kib_token() {
    let addr = hs256_server();
    let token = token_of_about(9 * 1024);
    assert!(
        (8 * 1024 + 512..10 * 1024).contains(&token.len()),
        "{}",
        token.len()
    );
    let r = get_with_token(addr, "/me", &token).await;
    assert_invalid_token(&r, &token, "token is too large");
}

#[tokio::test]
async fn default_size_cap_accepts_7_kib_token() {
    let addr = hs256_server();
    let token = token_of_about(7 * 1024);
    assert!(
        (6 * 1024..8 * 1024 - 256).contains(&token.len()),
        "{}",
        token.len()
    );
    assert_ok(&get_with_token(addr, "/me", &token).await, "alice");
}

// ---------------------------------------------------------------------------------------------
// Not a JWT; claims of the wrong shape
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn not_a_jwt_is_invalid_token() {
    let addr = hs256_server();
    let good = hs(claims(json!({})));
    let (h, rest) = good.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let four = format!("{good}.{s}");
    let empty_header = format!(".{p}.{s}");
    for token in [
        "abc",
        "a.b",
        "a.b.c.d",
        &four,
        &empty_header,
        &format!("{h}.{p}"),
    ] {
        let r = get_with_token(addr, "/me", token).await;
        assert_invalid_token(&r, token, "token is not a compact JWS");
    }
}

#[tokio::test]
async fn bad_base64_is_invalid_token() {
    let addr = hs256_server();
    let good = hs(claims(json!({})));
    let (h, rest) = good.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    for token in [
        format!("a.{p}.{s}"),     // one base64 char cannot be decoded
        format!("{h}+.{p}.{s}"),  // `+` is standard base64, not base64url
        format!("{h}/.{p}.{s}"),  // `/` likewise
        format!("{h}~~.{p}.{s}"), // `~` is a b64token char, not base64
    ] {
        let r = get_with_token(addr, "/me", &token).await;
        assert_invalid_token(&r, &token, "token is not valid base64url");
    }
}

#[tokio::test]
async fn bad_base64_in_payload_or_signature_is_invalid_token() {
    let addr = hs256_server();
    let good = hs(claims(json!({})));
    let (h, rest) = good.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    for token in [
        format!("{h}.{p}~.{s}"),
        format!("{h}.{p}.{s}~"),
        format!("{h}.{p}.a"),
    ] {
        let r = get_with_token(addr, "/me", &token).await;
        assert_some_invalid_token(&r, &token);
    }
}

#[tokio::test]
async fn header_not_json_is_invalid_token() {
    let addr = hs256_server();
    let payload = b64(claims(json!({})).to_string().as_bytes());
    for header in [
        &b"not json"[..],
        b"{",
        b"[]",
        b"{}",
        br#"{"alg":7}"#,
        b"\xff\xfe",
    ] {
        let token = format!("{}.{payload}.{}", b64(header), b64(b"sig"));
        let r = get_with_token(addr, "/me", &token).await;
        assert_invalid_token(&r, &token, "token header is not valid JSON");
    }
}

/// RFC 7515 §5.2 step 3: the JOSE header must be a JSON object. serde's derived
/// `Deserialize` also accepts a struct as a JSON array of its fields in order, so this is
/// worth pinning down: a correctly signed token whose header is `["HS256"]`.
#[tokio::test]
async fn header_that_is_a_json_array_is_invalid_token() {
    let addr = hs256_server();
    for header in [r#"["HS256"]"#, r#"["HS256",null,null]"#] {
        let token = mint_raw(
            header,
            claims(json!({})).to_string().as_bytes(),
            Algorithm::HS256,
            Pair::A,
        );
        let r = get_with_token(addr, "/me", &token).await;
        assert_invalid_token(&r, &token, "token header is not valid JSON");
    }
}

/// RFC 7519 §7.2 step 10: the claims set must be a JSON object. A correctly signed token
/// whose payload is the array `["alice"]` must not be read as `{"iss":"alice"}` /
/// `{"sub":"alice"}` by serde's sequence form of derived structs.
#[tokio::test]
async fn claims_that_are_a_json_array_are_invalid_token() {
    let layer = hs256()
        .required_claims(Vec::<String>::new())
        .build()
        .unwrap();
    let addr = in_process(routes().layer(layer));
    let token = mint_raw(
        r#"{"alg":"HS256"}"#,
        br#"["alice"]"#,
        Algorithm::HS256,
        Pair::A,
    );
    let r = get_with_token(addr, "/me", &token).await;
    assert_some_invalid_token(&r, &token);
}

#[tokio::test]
async fn claims_not_json_object_is_invalid_token() {
    let addr = hs256_server();
    for payload in [
        &b"not json"[..],
        b"",
        b"null",
        b"\"alice\"",
        b"42",
        b"{\"sub\":",
    ] {
        let token = mint_raw(r#"{"alg":"HS256"}"#, payload, Algorithm::HS256, Pair::A);
        let r = get_with_token(addr, "/me", &token).await;
        assert_some_invalid_token(&r, &token);
    }
}

#[tokio::test]
async fn claims_of_wrong_type_for_t_are_invalid_token() {
    let addr = hs256_server();
    for bad in [
        json!({ "exp": now() + 300 }),
        json!({ "sub": "alice", "scope": 7, "exp": now() + 300 }),
        json!({ "sub": "alice", "scope": ["read"], "exp": now() + 300 }),
    ] {
        let token = hs(bad);
        let r = get_with_token(addr, "/me", &token).await;
        assert_invalid_token(&r, &token, "claims do not have the expected shape");
    }
}

#[tokio::test]
async fn registered_claim_of_wrong_type_is_invalid_token() {
    let addr = hs256_server();
    for bad in [
        json!({ "sub": "alice", "exp": "tomorrow" }),
        json!({ "sub": "alice", "exp": -5 }),
        json!({ "sub": 5, "exp": now() + 300 }),
        json!({ "sub": "alice", "exp": now() + 300, "nbf": true }),
        json!({ "sub": "alice", "exp": now() + 300, "aud": 7 }),
        json!({ "sub": "alice", "exp": now() + 300, "iss": ["a"] }),
    ] {
        let token = hs(bad);
        let r = get_with_token(addr, "/me", &token).await;
        assert_invalid_token(&r, &token, "a registered claim has the wrong type");
    }
}

// ---------------------------------------------------------------------------------------------
// Authorization header handling
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn no_authorization_header_is_401_without_error() {
    let addr = hs256_server();
    assert_no_credentials(&get(addr, "/me", &[]).await);
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let addr = hs256_server();
    let token = hs(claims(json!({})));
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let value = format!("{scheme} {token}");
        assert_ok(
            &get(addr, "/me", &[("authorization", &value)]).await,
            "alice",
        );
    }
}

#[tokio::test]
async fn bearer_with_several_spaces_before_token_is_accepted() {
    let addr = hs256_server();
    let value = format!("Bearer    {}", hs(claims(json!({}))));
    assert_ok(
        &get(addr, "/me", &[("authorization", &value)]).await,
        "alice",
    );
}

#[tokio::test]
async fn other_scheme_is_401_without_error() {
    let addr = hs256_server();
    let token = hs(claims(json!({})));
    for value in [
        "Basic YWxpY2U6c2VjcmV0".to_owned(),
        format!("Token {token}"),
        format!("Bearer{token}"),
        // `DPoP` is a scheme of ours unless DPoP is disabled: see `dpop.rs`.
        format!("DPoPs {token}"),
    ] {
        assert_no_credentials(&get(addr, "/me", &[("authorization", &value)]).await);
    }
}

#[tokio::test]
async fn bearer_with_empty_token_is_invalid_request() {
    let addr = hs256_server();
    for value in ["Bearer", "Bearer ", "bearer    "] {
        let r = get(addr, "/me", &[("authorization", value)]).await;
        assert_invalid_request(&r, "bearer token is empty");
    }
}

#[tokio::test]
async fn token_with_space_is_invalid_request() {
    let addr = hs256_server();
    let token = hs(claims(json!({})));
    let (h, rest) = token.split_once('.').unwrap();
    for value in [
        format!("Bearer {h}. {rest}"),
        format!("Bearer {token} extra"),
    ] {
        let r = get(addr, "/me", &[("authorization", &value)]).await;
        assert_invalid_request(&r, "token is not a valid b64token");
    }
}

#[tokio::test]
async fn token_with_non_b64token_char_is_invalid_request() {
    let addr = hs256_server();
    let token = hs(claims(json!({})));
    for c in [',', '"', '@', '!', '%', ';', '\\', '\t', '=', '*', '(', '<'] {
        let value = format!("Bearer {}{c}{}", &token[..10], &token[10..]);
        let r = get(addr, "/me", &[("authorization", &value)]).await;
        assert_invalid_request(&r, "token is not a valid b64token");
    }
    // Padding is only allowed at the end, and a token cannot be padding alone.
    for value in ["Bearer =", "Bearer ==", "Bearer a=b"] {
        let r = get(addr, "/me", &[("authorization", value)]).await;
        assert_invalid_request(&r, "token is not a valid b64token");
    }
}

#[tokio::test]
async fn non_ascii_authorization_header_is_invalid_request() {
    let addr = hs256_server();
    let token = hs(claims(json!({})));
    let mut with_high_byte = format!("Bearer {token}").into_bytes();
    with_high_byte.push(0xff);
    for value in [&b"Bearer \xc3\xa9"[..], b"Bearer \x80abc", &with_high_byte] {
        let r = send_bytes(addr, "GET", "/me", &[("authorization", value)]).await;
        assert_invalid_request(&r, "credentials header is not visible ASCII");
    }
}

#[tokio::test]
async fn two_authorization_headers_is_invalid_request() {
    let addr = hs256_server();
    let value = bearer(&hs(claims(json!({}))));
    for second in [value.as_str(), "Basic YWxpY2U6c2VjcmV0"] {
        let r = get(
            addr,
            "/me",
            &[("authorization", &value), ("authorization", second)],
        )
        .await;
        assert_invalid_request(&r, "more than one credentials header");
    }
}

// ---------------------------------------------------------------------------------------------
// Token sources
// ---------------------------------------------------------------------------------------------

fn sources_server(sources: Vec<TokenSource>) -> Server {
    in_process(routes().layer(hs256().token_sources(sources).build().unwrap()))
}

fn x_access_token() -> http::HeaderName {
    http::HeaderName::from_static("x-access-token")
}

#[tokio::test]
async fn token_in_cookie_and_header_is_invalid_request() {
    let addr = sources_server(vec![
        TokenSource::bearer(),
        TokenSource::cookie("access_token"),
    ]);
    let token = hs(claims(json!({})));
    let r = get(
        addr,
        "/me",
        &[
            ("authorization", &bearer(&token)),
            ("cookie", &format!("access_token={token}")),
        ],
    )
    .await;
    assert_invalid_request(&r, "token sent in more than one place");
}

#[tokio::test]
async fn token_in_custom_header_and_authorization_is_invalid_request() {
    let addr = sources_server(vec![
        TokenSource::bearer(),
        TokenSource::header(x_access_token()),
    ]);
    let token = hs(claims(json!({})));
    let r = get(
        addr,
        "/me",
        &[
            ("authorization", &bearer(&token)),
            ("x-access-token", &token),
        ],
    )
    .await;
    assert_invalid_request(&r, "token sent in more than one place");
}

#[tokio::test]
async fn cookie_source_alone_is_accepted() {
    let addr = sources_server(vec![
        TokenSource::bearer(),
        TokenSource::cookie("access_token"),
    ]);
    let token = hs(claims(json!({})));
    for cookie in [
        format!("access_token={token}"),
        format!("theme=dark; access_token={token}; lang=en"),
        format!("access_token=\"{token}\""),
    ] {
        assert_ok(&get(addr, "/me", &[("cookie", &cookie)]).await, "alice");
    }
    // A cookie whose name merely contains the configured one is not it.
    let other = format!("my_access_token={token}; access_token_old={token}");
    assert_no_credentials(&get(addr, "/me", &[("cookie", &other)]).await);
    // The bearer header alone still works when both are configured.
    assert_ok(&get_with_token(addr, "/me", &token).await, "alice");
}

#[tokio::test]
async fn bad_token_in_cookie_is_invalid_token() {
    let addr = sources_server(vec![TokenSource::cookie("access_token")]);
    let token = mint(Algorithm::HS256, Pair::B, &claims(json!({})));
    let r = get(addr, "/me", &[("cookie", &format!("access_token={token}"))]).await;
    assert_invalid_token(&r, &token, "token signature is invalid");
}

#[tokio::test]
async fn custom_header_source_alone_is_accepted() {
    let addr = sources_server(vec![TokenSource::header(x_access_token())]);
    let token = hs(claims(json!({})));
    assert_ok(
        &get(addr, "/me", &[("x-access-token", &token)]).await,
        "alice",
    );
    // Only the configured source is read: a bearer header is no credentials here.
    assert_no_credentials(&get_with_token(addr, "/me", &token).await);
    // The header's whole value is the token: no scheme.
    let r = get(addr, "/me", &[("x-access-token", &bearer(&token))]).await;
    assert_invalid_request(&r, "token is not a valid b64token");
}

// ---------------------------------------------------------------------------------------------
// Optional mode
// ---------------------------------------------------------------------------------------------

fn optional_server() -> Server {
    in_process(routes().layer(hs256().optional(true).build().unwrap()))
}

#[tokio::test]
async fn optional_mode_without_token_runs_handler_with_none() {
    let addr = optional_server();
    assert_ok(&get(addr, "/maybe", &[]).await, "none");
    // Another scheme is no bearer token either.
    let basic = [("authorization", "Basic YWxpY2U6c2VjcmV0")];
    assert_ok(&get(addr, "/maybe", &basic).await, "none");
}

#[tokio::test]
async fn optional_mode_with_bad_token_is_still_rejected() {
    let addr = optional_server();
    let expired = hs(json!({ "sub": "alice", "exp": now() - 3600 }));
    let r = get_with_token(addr, "/maybe", &expired).await;
    assert_invalid_token(&r, &expired, "token has expired");
    let r = get(addr, "/maybe", &[("authorization", "Bearer ")]).await;
    assert_invalid_request(&r, "bearer token is empty");
}

#[tokio::test]
async fn optional_mode_with_good_token_gives_some() {
    let addr = optional_server();
    let token = hs(claims(json!({})));
    assert_ok(&get_with_token(addr, "/maybe", &token).await, "some:alice");
}

// ---------------------------------------------------------------------------------------------
// CORS preflight
// ---------------------------------------------------------------------------------------------

const PREFLIGHT: [(&str, &str); 2] = [
    ("origin", "https://app.example.com"),
    ("access-control-request-method", "GET"),
];

#[tokio::test]
async fn cors_preflight_needs_token_by_default() {
    let addr = hs256_server();
    assert_no_credentials(&send(addr, "OPTIONS", "/me", &PREFLIGHT).await);
}

/// Serves `routes()` behind an HS256 layer that lets bodiless preflights through.
async fn preflight_server() -> SocketAddr {
    serve(routes().layer(hs256().allow_cors_preflight(true).build().unwrap())).await
}

#[tokio::test]
async fn bodiless_cors_preflight_passes_when_allowed() {
    let addr = preflight_server().await;
    assert_ok(
        &send(addr, "OPTIONS", "/me", &PREFLIGHT).await,
        PREFLIGHT_BODY,
    );
    let zero = [PREFLIGHT[0], PREFLIGHT[1], ("content-length", "0")];
    assert_ok(&send(addr, "OPTIONS", "/me", &zero).await, PREFLIGHT_BODY);
}

#[tokio::test]
async fn allowed_preflight_with_a_content_type_needs_token() {
    let addr = preflight_server().await;
    let json = [
        PREFLIGHT[0],
        PREFLIGHT[1],
        ("content-type", "application/json"),
    ];
    assert_no_credentials(&send(addr, "OPTIONS", "/me", &json).await);
    for grpc in ["application/grpc", "application/grpc+proto"] {
        let headers = [PREFLIGHT[0], PREFLIGHT[1], ("content-type", grpc)];
        let r = send(addr, "OPTIONS", "/me", &headers).await;
        assert_eq!(
            (r.status.as_u16(), r.header("grpc-status")),
            (200, Some("16"))
        );
        assert_ne!(r.body, PREFLIGHT_BODY);
    }
}

#[tokio::test]
async fn allowed_preflight_with_a_body_needs_token() {
    let addr = preflight_server().await;
    let request = |chunked: bool| {
        let mut request = Request::builder()
            .method("OPTIONS")
            .uri(format!("http://{addr}/me"))
            .header(PREFLIGHT[0].0, PREFLIGHT[0].1)
            .header(PREFLIGHT[1].0, PREFLIGHT[1].1);
        if chunked {
            request = request.header("transfer-encoding", "chunked");
        }
        request
            .body(Full::new(Bytes::from_static(b"work!")))
            .unwrap()
    };
    // hyper sends `Content-Length: 5` for a sized body, and chunks when told to.
    assert_no_credentials(&exchange(request(false)).await);
    assert_no_credentials(&exchange(request(true)).await);
}

#[tokio::test]
async fn plain_options_without_preflight_headers_needs_token() {
    let addr = preflight_server().await;
    assert_no_credentials(&send(addr, "OPTIONS", "/me", &[]).await);
    assert_no_credentials(&send(addr, "OPTIONS", "/me", &PREFLIGHT[..1]).await);
    assert_no_credentials(&send(addr, "OPTIONS", "/me", &PREFLIGHT[1..]).await);
    // Preflight headers on another method are no preflight.
    assert_no_credentials(&get(addr, "/me", &PREFLIGHT).await);
}

/// The recommended set-up: tower-http's `CorsLayer` outside the auth layer answers the
/// preflight itself; the browser's real request after it is authenticated.
#[tokio::test]
async fn cors_layer_outside_auth_answers_preflights_and_the_real_request_is_authenticated() {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::exact(PREFLIGHT[0].1.parse().unwrap()))
        .allow_methods([http::Method::GET])
        .allow_headers([http::header::AUTHORIZATION]);
    let app = routes().layer(
        tower::ServiceBuilder::new()
            .layer(cors)
            .layer(hs256().build().unwrap()),
    );
    let addr = in_process(app);
    let preflight = [
        PREFLIGHT[0],
        PREFLIGHT[1],
        ("access-control-request-headers", "authorization"),
    ];
    let r = send(addr, "OPTIONS", "/me", &preflight).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some(PREFLIGHT[0].1)
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("GET"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("authorization")
    );
    assert_ne!(
        r.body, PREFLIGHT_BODY,
        "the preflight must not reach the route"
    );
    // The real request: no token is refused (with the CORS header, so the page can read
    // the 401), a token is accepted.
    let r = get(addr, "/me", &PREFLIGHT[..1]).await;
    assert_no_credentials(&r);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some(PREFLIGHT[0].1)
    );
    let token = hs(claims(json!({})));
    let authorization = bearer(&token);
    let r = get(
        addr,
        "/me",
        &[PREFLIGHT[0], ("authorization", &authorization)],
    )
    .await;
    assert_ok(&r, "alice");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some(PREFLIGHT[0].1)
    );
}

// ---------------------------------------------------------------------------------------------
// Scopes and claim checks
// ---------------------------------------------------------------------------------------------

fn admin_server() -> Server {
    in_process(routes().layer(hs256().required_scopes(["admin"]).build().unwrap()))
}

#[tokio::test]
async fn required_scope_in_scope_claim_is_accepted() {
    let addr = admin_server();
    let token = hs(claims(json!({ "scope": "read admin" })));
    assert_ok(&get_with_token(addr, "/me", &token).await, "alice");
}

#[tokio::test]
async fn required_scope_missing_is_403_insufficient_scope() {
    let addr = admin_server();
    for scope in [
        json!("read"),
        json!("administrator"),
        json!("read,admin"),
        json!(""),
    ] {
        let token = hs(claims(json!({ "scope": scope })));
        let r = get_with_token(addr, "/me", &token).await;
        assert_insufficient_scope(&r, "token lacks a required scope", Some("admin"));
        assert_no_echo(&r, &token);
    }
    let none = hs(claims(json!({})));
    let r = get_with_token(addr, "/me", &none).await;
    assert_insufficient_scope(&r, "token lacks a required scope", Some("admin"));
}

#[tokio::test]
async fn required_scope_from_scp_array() {
    let addr = admin_server();
    let ok = hs(claims(json!({ "scp": ["read", "admin"] })));
    assert_ok(&get_with_token(addr, "/me", &ok).await, "alice");
    let ok = hs(claims(json!({ "scp": "read admin" })));
    assert_ok(&get_with_token(addr, "/me", &ok).await, "alice");
    let missing = hs(claims(json!({ "scp": ["read", "admin:all"] })));
    let r = get_with_token(addr, "/me", &missing).await;
    assert_insufficient_scope(&r, "token lacks a required scope", Some("admin"));
}

#[tokio::test]
async fn several_required_scopes_are_all_named_in_challenge() {
    let layer = hs256().required_scopes(["read", "write"]).build().unwrap();
    let addr = in_process(routes().layer(layer));
    let both = hs(claims(json!({ "scope": "write read" })));
    assert_ok(&get_with_token(addr, "/me", &both).await, "alice");
    let one = hs(claims(json!({ "scope": "read" })));
    let r = get_with_token(addr, "/me", &one).await;
    assert_insufficient_scope(&r, "token lacks a required scope", Some("read write"));
}

#[tokio::test]
async fn check_claims_false_is_403() {
    let layer = hs256()
        .check_claims(|c: &Claims<TestClaims>| c.sub == "alice")
        .build()
        .unwrap();
    let addr = in_process(routes().layer(layer));
    let alice = hs(claims(json!({})));
    assert_ok(&get_with_token(addr, "/me", &alice).await, "alice");
    let bob = hs(claims(json!({ "sub": "bob" })));
    let r = get_with_token(addr, "/me", &bob).await;
    assert_insufficient_scope(&r, "token does not grant this access", None);
}

#[tokio::test]
async fn check_claims_does_not_run_for_invalid_tokens() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    let layer = hs256()
        .check_claims(move |_: &Claims<TestClaims>| {
            counter.fetch_add(1, Ordering::SeqCst);
            true
        })
        .build()
        .unwrap();
    let addr = in_process(routes().layer(layer));
    let expired = hs(json!({ "sub": "alice", "exp": now() - 3600 }));
    assert_eq!(get_with_token(addr, "/me", &expired).await.status, 401);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert_ok(
        &get_with_token(addr, "/me", &hs(claims(json!({})))).await,
        "alice",
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------------------------
// What the handler sees
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn claims_extractor_gives_sub_exp_alg_kid() {
    let layer = JwtAuthLayer::<TestClaims>::builder(KeySet::new([verification_key(
        Algorithm::ES384,
        Pair::A,
    )
    .with_kid("k-384")]))
    .algorithms([Algorithm::ES384])
    .build()
    .unwrap();
    let addr = in_process(routes().layer(layer));
    let exp = now() + 600;
    let mut header = Header::new(Algorithm::ES384);
    header.kid = Some("k-384".into());
    let token = mint_with_header(
        header,
        Pair::A,
        &json!({ "sub": "ada", "exp": exp, "scope": "read" }),
    );
    let r = get_with_token(addr, "/details", &token).await;
    assert_eq!(r.status, 200, "{r:?}");
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        body,
        json!({ "sub": "ada", "scope": "read", "exp": exp, "alg": "ES384", "kid": "k-384" })
    );
}

#[tokio::test]
async fn claims_extractor_without_layer_is_500_naming_jwt_auth_layer() {
    let addr = in_process(routes());
    let token = hs(claims(json!({})));
    let r = get_with_token(addr, "/me", &token).await;
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.body.contains("JwtAuthLayer"), "{}", r.body);
    assert!(r.body.contains("TestClaims"), "{}", r.body);
    assert!(!r.body.contains(&token));
}

// ---------------------------------------------------------------------------------------------
// The error in the response's extensions (in process: extensions do not cross the wire)
// ---------------------------------------------------------------------------------------------

async fn oneshot(app: &Router, headers: &[(&str, &str)]) -> Response<Body> {
    let mut request = Request::get("/me");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn rejected_response_carries_auth_error_in_extensions() {
    let app = routes().layer(hs256().required_scopes(["admin"]).build().unwrap());
    let admin = bearer(&hs(claims(json!({ "scope": "admin" }))));
    let reader = bearer(&hs(claims(json!({ "scope": "read" }))));
    let expired = bearer(&hs(
        json!({ "sub": "a", "scope": "admin", "exp": now() - 3600 }),
    ));
    let other_key = bearer(&mint(Algorithm::HS256, Pair::B, &claims(json!({}))));
    let es = bearer(&mint(Algorithm::ES256, Pair::A, &claims(json!({}))));
    let cases: [(&[(&str, &str)], ErrorKind); 7] = [
        (&[], ErrorKind::MissingToken),
        (&[("authorization", "Bearer abc")], ErrorKind::Malformed),
        (&[("authorization", &expired)], ErrorKind::Expired),
        (
            &[("authorization", &other_key)],
            ErrorKind::InvalidSignature,
        ),
        (&[("authorization", &es)], ErrorKind::AlgorithmNotAllowed),
        (&[("authorization", &reader)], ErrorKind::InsufficientScope),
        (
            &[("authorization", &admin), ("authorization", &admin)],
            ErrorKind::InvalidRequest,
        ),
    ];
    for (headers, kind) in cases {
        let response = oneshot(&app, headers).await;
        let error = response
            .extensions()
            .get::<AuthError>()
            .unwrap_or_else(|| panic!("no AuthError for {kind:?}"));
        assert_eq!(error.kind(), kind);
        assert_eq!(response.status(), error.status());
    }
    let response = oneshot(&app, &[("authorization", &admin)]).await;
    assert_eq!(response.status(), 200);
    assert!(response.extensions().get::<AuthError>().is_none());
}

#[tokio::test]
async fn insufficient_scope_error_in_extensions_names_the_scope() {
    let app = routes().layer(hs256().required_scopes(["admin"]).build().unwrap());
    let reader = bearer(&hs(claims(json!({ "scope": "read" }))));
    let response = oneshot(&app, &[("authorization", &reader)]).await;
    let error = response.extensions().get::<AuthError>().unwrap();
    assert_eq!(error.required_scope(), Some("admin"));
    assert_eq!(error.error_code(), Some("insufficient_scope"));
}

// ---------------------------------------------------------------------------------------------
// Responders
// ---------------------------------------------------------------------------------------------

fn json_responder(error: &AuthError, _request: &HeaderMap) -> Response<Body> {
    let body = json!({
        "error": error.error_code().unwrap_or("unauthorized"),
        "detail": error.to_string(),
        "kind": format!("{:?}", error.kind()),
    });
    Response::builder()
        .status(error.status())
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn custom_error_responder_json_body_is_used() {
    let layer = hs256().error_responder(json_responder).build().unwrap();
    let app = routes().layer(layer);
    let addr = in_process(app.clone());

    let r = get(addr, "/me", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("www-authenticate"), None);
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        body,
        json!({ "error": "unauthorized", "detail": "no token", "kind": "MissingToken" })
    );

    let expired = hs(json!({ "sub": "alice", "exp": now() - 3600 }));
    let r = get_with_token(addr, "/me", &expired).await;
    assert_eq!(r.status, 401);
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        body,
        json!({ "error": "invalid_token", "detail": "token has expired", "kind": "Expired" })
    );

    let r = get(addr, "/me", &[("authorization", "Bearer a b")]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("invalid_request"), "{}", r.body);

    assert_ok(
        &get_with_token(addr, "/me", &hs(claims(json!({})))).await,
        "alice",
    );

    // The layer still puts the error into the custom response's extensions.
    let response = oneshot(&app, &[]).await;
    assert_eq!(
        response
            .extensions()
            .get::<AuthError>()
            .map(AuthError::kind),
        Some(ErrorKind::MissingToken)
    );
}

#[tokio::test]
async fn custom_error_responder_closure_is_used() {
    let layer = hs256()
        .error_responder(|error: &AuthError, _: &HeaderMap| {
            Response::builder()
                .status(error.status())
                .header("content-type", "application/problem+json")
                .body(Body::from(format!(r#"{{"title":"{error}"}}"#)))
                .unwrap()
        })
        .build()
        .unwrap();
    let addr = in_process(routes().layer(layer));
    let r = get(addr, "/me", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.body, r#"{"title":"no token"}"#);
}

#[tokio::test]
async fn custom_realm_is_named_in_challenges() {
    let layer = hs256().realm("orders").build().unwrap();
    let addr = in_process(routes().layer(layer));
    assert_eq!(
        get(addr, "/me", &[]).await.challenge(),
        r#"Bearer realm="orders""#
    );
    let r = get(addr, "/me", &[("authorization", "Bearer abc")]).await;
    assert_eq!(
        r.challenge(),
        r#"Bearer realm="orders", error="invalid_token", error_description="token is not a compact JWS""#
    );
}

// ---------------------------------------------------------------------------------------------
// Resolver failures and gRPC
// ---------------------------------------------------------------------------------------------

type KeyResult = Result<std::sync::Arc<VerificationKey>, KeyError>;

fn failing_resolver_server(error: KeyError) -> Server {
    let resolver = move |_: &TokenHeader<'_>| std::future::ready(KeyResult::Err(error.clone()));
    let layer = JwtAuthLayer::<TestClaims>::builder(resolver)
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap();
    in_process(routes().layer(layer))
}

#[tokio::test]
async fn unavailable_key_source_is_503_with_retry_after() {
    let addr = failing_resolver_server(KeyError::unavailable(Some(Duration::from_secs(5))));
    let r = get_with_token(addr, "/me", &hs(claims(json!({})))).await;
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(r.header("www-authenticate"), None);
    assert_eq!(r.body, "");
}

#[tokio::test]
async fn unavailable_without_delay_gives_default_retry_after() {
    let addr = failing_resolver_server(KeyError::unavailable(None));
    let r = get_with_token(addr, "/me", &hs(claims(json!({})))).await;
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("retry-after"), Some("10"));
}

#[tokio::test]
async fn unavailable_key_source_still_answers_missing_token_with_401() {
    let addr = failing_resolver_server(KeyError::unavailable(None));
    assert_no_credentials(&get(addr, "/me", &[]).await);
    // And a malformed token never reaches the resolver.
    let r = get_with_token(addr, "/me", "abc").await;
    assert_invalid_token(&r, "abc", "token is not a compact JWS");
}

#[tokio::test]
async fn resolver_not_found_is_invalid_token() {
    let addr = failing_resolver_server(KeyError::not_found());
    let token = hs(claims(json!({})));
    let r = get_with_token(addr, "/me", &token).await;
    assert_invalid_token(&r, &token, "no key matches the token");
}

#[tokio::test]
async fn grpc_request_gets_grpc_status_instead_of_challenge() {
    let addr = hs256_server();
    let grpc = ("content-type", "application/grpc");
    let r = get(addr, "/me", &[grpc]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("grpc-status"), Some("16"));
    assert_eq!(r.header("grpc-message"), Some("no token"));
    assert_eq!(r.header("content-type"), Some("application/grpc"));
    assert_eq!(r.header("www-authenticate"), None);

    let addr = failing_resolver_server(KeyError::unavailable(None));
    let value = bearer(&hs(claims(json!({}))));
    let r = get(addr, "/me", &[grpc, ("authorization", &value)]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("grpc-status"), Some("14"));
}

// ---------------------------------------------------------------------------------------------
// Tokens minted by another library (PyJWT)
// ---------------------------------------------------------------------------------------------

const PYJWT_SCRIPT: &str = r#"
import json, sys, time
import jwt
secret, keys = sys.argv[1].encode(), sys.argv[2]
claims = {"sub": "py", "exp": int(time.time()) + 300}
def pem(name):
    with open(keys + "/" + name, "rb") as f:
        return f.read()
out = {
    "HS256": jwt.encode(claims, secret, algorithm="HS256"),
    "HS512": jwt.encode(claims, secret, algorithm="HS512"),
    "RS256": jwt.encode(claims, pem("rsa_a.key"), algorithm="RS256"),
    "PS256": jwt.encode(claims, pem("rsa_a.key"), algorithm="PS256"),
    "ES256": jwt.encode(claims, pem("p256_a.key"), algorithm="ES256", headers={"kid": "py-ec"}),
    "ES384": jwt.encode(claims, pem("p384_a.key"), algorithm="ES384"),
    "EdDSA": jwt.encode(claims, pem("ed25519_a.key"), algorithm="EdDSA"),
}
print(json.dumps(out))
"#;

/// Needs PyJWT, which `scripts/test` installs in a virtualenv before running the ignored
/// tests too.
#[tokio::test]
#[ignore = "needs Python PyJWT; run scripts/test"]
async fn tokens_minted_by_pyjwt_are_accepted() {
    // The interpreter `scripts/test` sets up, as in the other Python peers' tests.
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let probe = std::process::Command::new(&python)
        .args(["-c", "import jwt, cryptography"])
        .output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "this test needs PyJWT: python3 -m pip install pyjwt cryptography"
    );
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");
    let output = std::process::Command::new(&python)
        .args(["-c", PYJWT_SCRIPT])
        .arg(std::str::from_utf8(SECRET_A).unwrap())
        .arg(keys)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "PyJWT failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tokens: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(tokens.len(), 7);
    for (name, token) in &tokens {
        let alg: Algorithm = name.parse().unwrap();
        let layer =
            JwtAuthLayer::<TestClaims>::builder(StaticKey::new(verification_key(alg, Pair::A)))
                .algorithms([alg])
                .build()
                .unwrap();
        let addr = in_process(routes().layer(layer));
        let r = get_with_token(addr, "/details", token).await;
        assert_eq!(r.status, 200, "PyJWT {name} token refused: {r:?}");
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!((&body["sub"], &body["alg"]), (&json!("py"), &json!(name)));
        if name == "ES256" {
            assert_eq!(body["kid"], "py-ec");
        }
        // And refused by the other key pair.
        let layer =
            JwtAuthLayer::<TestClaims>::builder(StaticKey::new(verification_key(alg, Pair::B)))
                .algorithms([alg])
                .build()
                .unwrap();
        let addr = in_process(routes().layer(layer));
        let r = get_with_token(addr, "/me", token).await;
        assert_invalid_token(&r, token, "token signature is invalid");
    }
}
