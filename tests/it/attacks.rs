//! The attack catalogue: one named test per known way to get a JWT accepted that should not
//! be, each over real HTTP against an axum server on loopback (or over h2 against a tonic
//! server), each asserting the exact status and `WWW-Authenticate` (or `grpc-status`) that
//! DESIGN.md's error table gives, and each checking afterwards that the server still answers
//! a valid request with 200.
//!
//! Tokens are crafted by hand: base64url of hand-written header and payload JSON, signed with
//! aws-lc-rs (HMAC) or jsonwebtoken's signer (RSA, ECDSA) over exactly those bytes, or given
//! a garbage signature, so that every byte is the test's choice.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::*;
use aws_lc_rs::hmac;
use axum::routing;
use axum::{Json, Router};
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use jsonwebtoken::jwk::Jwk;
use serde_json::{Value, json};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tower_jwt_auth::issue::{IssueError, SigningKey, TokenIssuer};
use tower_jwt_auth::jwks::JwksResolver;
use tower_jwt_auth::revocation::{MemoryRevocationStore, RevocationStore};
use tower_jwt_auth::{Algorithm, Claims, JwtAuthLayer, KeyResolver, KeySet, StaticKey};

// ---------------------------------------------------------------------------------------------
// Expected answers (DESIGN.md, "Error mapping")
// ---------------------------------------------------------------------------------------------

const NOT_ALLOWED: &str = "token algorithm is not allowed";
const BAD_SIGNATURE: &str = "token signature is invalid";
const NOT_JWS: &str = "token is not a compact JWS";
const BAD_BASE64: &str = "token is not valid base64url";
const HEADER_NOT_JSON: &str = "token header is not valid JSON";
const CLAIMS_NOT_OBJECT: &str = "claims are not a JSON object";
const WRONG_TYPE: &str = "a registered claim has the wrong type";
const UNKNOWN_KEY: &str = "no key matches the token";
const CRIT: &str = "token header lists an unsupported critical extension";
const TOO_LARGE: &str = "token is too large";
const EXPIRED: &str = "token has expired";
const NOT_YET: &str = "token is not valid yet";
const BAD_ISSUER: &str = "token issuer is not accepted";
const BAD_AUDIENCE: &str = "token audience is not accepted";
const BAD_TYPE: &str = "token type is not accepted";
const REVOKED: &str = "token has been revoked";
const NOT_B64TOKEN: &str = "token is not a valid b64token";

/// 401 with exactly `Bearer realm="api", error="invalid_token", error_description="…"`.
#[track_caller]
fn expect_invalid_token(r: &Reply, description: &str) {
    assert_eq!(
        (r.status.as_u16(), r.header("www-authenticate")),
        (401, Some(invalid_token(description).as_str())),
        "{r:?}"
    );
    assert_eq!(r.body, "", "{r:?}");
}

/// 400 with exactly `Bearer realm="api", error="invalid_request", error_description="…"`.
#[track_caller]
fn expect_invalid_request(r: &Reply, description: &str) {
    assert_eq!(
        (r.status.as_u16(), r.header("www-authenticate")),
        (400, Some(invalid_request(description).as_str())),
        "{r:?}"
    );
    assert_eq!(r.body, "", "{r:?}");
}

/// 401 with exactly `Bearer realm="api"`: no `error` parameter.
#[track_caller]
fn expect_no_credentials(r: &Reply) {
    assert_eq!(
        (r.status.as_u16(), r.header("www-authenticate")),
        (401, Some(NO_CREDENTIALS)),
        "{r:?}"
    );
    assert_eq!(r.body, "", "{r:?}");
}

#[track_caller]
fn expect_ok(r: &Reply, body: &str) {
    assert_eq!((r.status.as_u16(), r.body.as_str()), (200, body), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// Crafting tokens byte by byte
// ---------------------------------------------------------------------------------------------

const HS256_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
const ES256_HEADER: &str = r#"{"alg":"ES256","typ":"JWT"}"#;

/// `{"sub":"alice","exp":now+300}` with `extra` members spliced in as written.
fn payload_with(extra: &str) -> String {
    let comma = if extra.is_empty() { "" } else { "," };
    format!(r#"{{"sub":"alice","exp":{}{comma}{extra}}}"#, now() + 300)
}

fn payload() -> String {
    payload_with("")
}

/// `b64(header).b64(payload)`.
fn signing_input(header: &str, payload: &[u8]) -> String {
    format!("{}.{}", b64(header.as_bytes()), b64(payload))
}

/// HMAC over `header.payload` with any key bytes at all (empty, a PEM, a JWK).
fn hmac_token(alg: hmac::Algorithm, key: &[u8], header: &str, payload: &[u8]) -> String {
    let input = signing_input(header, payload);
    let tag = hmac::sign(&hmac::Key::new(alg, key), input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// HS256 with the layer's secret over exactly this header and payload.
fn hs256(header: &str, payload: &[u8]) -> String {
    hmac_token(hmac::HMAC_SHA256, SECRET_A, header, payload)
}

/// The plain valid token every HS256 server must keep accepting.
fn valid_hs256() -> String {
    hs256(HS256_HEADER, payload().as_bytes())
}

/// ES256 with key pair `pair` over exactly this header and payload (raw `r || s`).
fn es256(header: &str, payload: &[u8], pair: Pair) -> String {
    mint_raw(header, payload, Algorithm::ES256, pair)
}

fn split3(token: &str) -> (&str, &str, &str) {
    let (header, rest) = token.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    (header, payload, signature)
}

fn b64_decode(segment: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .unwrap()
}

/// The public JWK of key pair `pair` of `alg`'s kind, as JSON.
fn public_jwk(alg: Algorithm, pair: Pair) -> Value {
    tower_jwt_auth::install_crypto_provider();
    let jwk = Jwk::from_encoding_key(&encoding_key(alg, pair), alg).unwrap();
    serde_json::to_value(jwk).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

async fn me(c: Claims<TestClaims>) -> String {
    c.sub.clone()
}

/// `/me` (the subject) and `/any` (an axum `any()` route that counts how often it ran, and
/// answers `reached` whatever the method), behind `layer`.
fn app<R: KeyResolver>(layer: JwtAuthLayer<TestClaims, R>, reached: Arc<AtomicUsize>) -> Router {
    Router::new()
        .route("/me", routing::get(me))
        .route(
            "/any",
            routing::any(move || async move {
                reached.fetch_add(1, Ordering::SeqCst);
                "reached"
            }),
        )
        .layer(layer)
}

/// A layer with one key: its algorithm alone is allowed.
fn static_layer(alg: Algorithm) -> JwtAuthLayer<TestClaims, StaticKey> {
    JwtAuthLayer::<TestClaims>::builder(StaticKey::new(verification_key(alg, Pair::A)))
        .algorithms([alg])
        .build()
        .unwrap()
}

/// The HS256 server most attacks are aimed at: secret `A`, only HS256 allowed.
async fn hs256_server() -> SocketAddr {
    serve(app(static_layer(Algorithm::HS256), Arc::default())).await
}

async fn es256_server() -> SocketAddr {
    serve(app(static_layer(Algorithm::ES256), Arc::default())).await
}

/// The server did not fall over: a valid token still gets 200.
async fn still_serving(addr: SocketAddr, valid: &str) {
    expect_ok(&get_with_token(addr, "/me", valid).await, "alice");
}

/// Sends `token` as a bearer token to a fresh HS256 server, checks the answer, then checks
/// that a valid token still passes.
async fn against_hs256(token: &str, description: &str) {
    let addr = hs256_server().await;
    expect_invalid_token(&get_with_token(addr, "/me", token).await, description);
    still_serving(addr, &valid_hs256()).await;
}

async fn against_es256(token: &str, description: &str) {
    let addr = es256_server().await;
    expect_invalid_token(&get_with_token(addr, "/me", token).await, description);
    let valid = es256(ES256_HEADER, payload().as_bytes(), Pair::A);
    still_serving(addr, &valid).await;
}

// ---------------------------------------------------------------------------------------------
// alg: none
// ---------------------------------------------------------------------------------------------

/// `{"alg":"<casing>"}` with the payload and an empty signature (`header.payload.`).
fn alg_none(casing: &str) -> String {
    format!(
        "{}.",
        signing_input(
            &format!(r#"{{"alg":"{casing}","typ":"JWT"}}"#),
            payload().as_bytes()
        )
    )
}

#[tokio::test]
async fn alg_none_lowercase_is_invalid_token() {
    against_hs256(&alg_none("none"), NOT_ALLOWED).await;
}

#[tokio::test]
async fn alg_none_capitalized_is_invalid_token() {
    against_hs256(&alg_none("None"), NOT_ALLOWED).await;
}

#[tokio::test]
async fn alg_none_uppercase_is_invalid_token() {
    against_hs256(&alg_none("NONE"), NOT_ALLOWED).await;
}

#[tokio::test]
async fn alg_none_mixed_case_is_invalid_token() {
    against_hs256(&alg_none("nOnE"), NOT_ALLOWED).await;
}

/// `alg: none` keeping a signature: the genuine HS256 signature of the same payload, and an
/// HMAC with the real secret over the `none` header itself (so the bytes verify as HS256).
#[tokio::test]
async fn alg_none_with_a_signature_kept_is_invalid_token() {
    let addr = hs256_server().await;
    let genuine = valid_hs256();
    let (_, payload_segment, signature) = split3(&genuine);
    for casing in ["none", "None", "NONE", "nOnE"] {
        let header = format!(r#"{{"alg":"{casing}","typ":"JWT"}}"#);
        let kept = format!("{}.{payload_segment}.{signature}", b64(header.as_bytes()));
        expect_invalid_token(&get_with_token(addr, "/me", &kept).await, NOT_ALLOWED);
        let verifying = hs256(&header, &b64_decode(payload_segment));
        expect_invalid_token(&get_with_token(addr, "/me", &verifying).await, NOT_ALLOWED);
    }
    still_serving(addr, &genuine).await;
}

// ---------------------------------------------------------------------------------------------
// alg spelling and the allowed list
// ---------------------------------------------------------------------------------------------

/// A token whose `alg` is spelled `alg`, HMAC-SHA256 with the real secret over those bytes:
/// only the spelling can refuse it.
fn alg_spelled(alg: &str) -> String {
    hs256(
        &format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#),
        payload().as_bytes(),
    )
}

#[tokio::test]
async fn alg_lowercase_hs256_is_invalid_token() {
    against_hs256(&alg_spelled("hs256"), NOT_ALLOWED).await;
}

#[tokio::test]
async fn alg_mixed_case_hs256_is_invalid_token() {
    against_hs256(&alg_spelled("Hs256"), NOT_ALLOWED).await;
}

#[tokio::test]
async fn alg_with_trailing_space_is_invalid_token() {
    against_hs256(&alg_spelled("HS256 "), NOT_ALLOWED).await;
}

#[tokio::test]
async fn alg_hs384_against_a_layer_allowing_only_hs256_is_invalid_token() {
    let token = hmac_token(
        hmac::HMAC_SHA384,
        SECRET_A,
        r#"{"alg":"HS384","typ":"JWT"}"#,
        payload().as_bytes(),
    );
    against_hs256(&token, NOT_ALLOWED).await;
}

// ---------------------------------------------------------------------------------------------
// Key confusion: the public key as an HMAC secret
// ---------------------------------------------------------------------------------------------

/// HS256 with `secret` (a public key's bytes) as the HMAC key, against a server whose only
/// key is `alg`'s pair `A`: refused with `alone` when `alg` alone is allowed, and with
/// `with_hs256` when HS256 is allowed too (the configuration in which the classic attack
/// works). A static key is bound to `alg`, so HS256 is "not allowed" for it; a key set has
/// no HS256 key at all, so "no key matches".
async fn key_confusion(
    alg: Algorithm,
    resolver: impl KeyResolver + Clone,
    secret: &[u8],
    (alone, with_hs256): (&str, &str),
) {
    let forged = hmac_token(
        hmac::HMAC_SHA256,
        secret,
        HS256_HEADER,
        payload().as_bytes(),
    );
    for (allowed, expected) in [
        (vec![alg], alone),
        (vec![alg, Algorithm::HS256], with_hs256),
    ] {
        let layer = JwtAuthLayer::<TestClaims>::builder(resolver.clone())
            .algorithms(allowed.iter().copied())
            .build()
            .unwrap();
        let addr = serve(app(layer, Arc::default())).await;
        let r = get_with_token(addr, "/me", &forged).await;
        expect_invalid_token(&r, expected);
        let genuine = mint_raw(
            HS256_HEADER.replace("HS256", &format!("{alg:?}")).as_str(),
            payload().as_bytes(),
            alg,
            Pair::A,
        );
        still_serving(addr, &genuine).await;
    }
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_pem_is_invalid_token() {
    let pem = public_pem(Algorithm::RS256, Pair::A);
    let resolver = StaticKey::from_pem(Algorithm::RS256, &pem).unwrap();
    let expected = (NOT_ALLOWED, NOT_ALLOWED);
    key_confusion(Algorithm::RS256, resolver.clone(), &pem, expected).await;
    // Without the final newline, as some libraries strip it.
    key_confusion(Algorithm::RS256, resolver, pem.trim_ascii_end(), expected).await;
}

#[tokio::test]
async fn hs256_signed_with_the_ec_public_key_pem_is_invalid_token() {
    let pem = public_pem(Algorithm::ES256, Pair::A);
    let resolver = StaticKey::from_pem(Algorithm::ES256, &pem).unwrap();
    let expected = (NOT_ALLOWED, NOT_ALLOWED);
    key_confusion(Algorithm::ES256, resolver.clone(), &pem, expected).await;
    key_confusion(Algorithm::ES256, resolver, pem.trim_ascii_end(), expected).await;
}

/// The server's key comes from a JWKS; the attacker HMACs with the JWK's JSON bytes.
async fn jwk_confusion(alg: Algorithm) {
    let jwk = public_jwk(alg, Pair::A);
    let set = KeySet::from_jwks_json(&json!({ "keys": [jwk] }).to_string()).unwrap();
    assert_eq!(set.len(), 1);
    let secret = jwk.to_string();
    key_confusion(alg, set, secret.as_bytes(), (NOT_ALLOWED, UNKNOWN_KEY)).await;
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_jwk_is_invalid_token() {
    jwk_confusion(Algorithm::RS256).await;
}

#[tokio::test]
async fn hs256_signed_with_the_ec_public_key_jwk_is_invalid_token() {
    jwk_confusion(Algorithm::ES256).await;
}

// ---------------------------------------------------------------------------------------------
// Keys carried by the token: jwk, jku, x5u, x5c
// ---------------------------------------------------------------------------------------------

/// A self-signed certificate (DER, standard base64 as `x5c` wants it) for the attacker's
/// P-256 key `tests/keys/p256_b.key`, made with
/// `openssl req -new -x509 -key p256_b.key -subj /CN=attacker.example -outform DER`.
const ATTACKER_CERT: &str = "MIIBjDCCATOgAwIBAgIUHVVQO9pOWwZRez8Qh/T8b/s7MNAwCgYIKoZIzj0EAwIwGzEZMBcGA1UEAwwQYXR0YWNrZXIuZXhhbXBsZTAgFw0yNjEyMDExMTA1NDZaGA8yMTI2MTEwNzExMDU0NlowGzEZMBcGA1UEAwwQYXR0YWNrZXIuZXhhbXBsZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABHY1vtfMCZ9QSGI58b8QHMG+ixG2IYMdkwPytwoY1kUYTW//yJsPYXaI4JOM9dVv3jKSu7biQlo4ulYzygvvfRyjUzBRMB0GA1UdDgQWBBT0aSFmGc2AaUH/0IvRzSYxcKHjyDAfBgNVHSMEGDAWgBT0aSFmGc2AaUH/0IvRzSYxcKHjyDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCID3hFWkvQ+uBKINeceNG9uPZDGuKJhHzkw+nzHEa0j9vAiBNstDDNyr97iBQJSPP9agFSBnt0JbK1hbDHxUsWO9j6A==";

/// An attacker's server: `/jwks.json` with its public key, `/cert.der` with its
/// certificate. Counts every request it gets.
async fn attacker_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let mut jwk = public_jwk(Algorithm::ES256, Pair::B);
    jwk["kid"] = "main".into();
    let app = Router::new().fallback(move |request: Request<axum::body::Body>| {
        counter.fetch_add(1, Ordering::SeqCst);
        let jwk = jwk.clone();
        async move {
            match request.uri().path() {
                "/cert.der" => ATTACKER_CERT.to_owned(),
                _ => json!({ "keys": [jwk] }).to_string(),
            }
        }
    });
    (serve(app).await, hits)
}

/// ES256 by the attacker's key `B` with `extra` header members, `kid` "main".
fn attacker_token(extra: &str) -> String {
    let header = format!(r#"{{"alg":"ES256","typ":"JWT","kid":"main",{extra}}}"#);
    es256(&header, payload().as_bytes(), Pair::B)
}

/// The same token signed by the genuine key `A`: the header members alone change nothing.
fn genuine_with(extra: &str) -> String {
    let header = format!(r#"{{"alg":"ES256","typ":"JWT","kid":"main",{extra}}}"#);
    es256(&header, payload().as_bytes(), Pair::A)
}

/// An ES256 server whose key set (kid "main", pair `A`) is the only source of keys.
async fn es256_key_set_server() -> SocketAddr {
    let key = verification_key(Algorithm::ES256, Pair::A).with_kid("main");
    let layer = JwtAuthLayer::<TestClaims>::builder(KeySet::new([key]))
        .algorithms([Algorithm::ES256])
        .build()
        .unwrap();
    serve(app(layer, Arc::default())).await
}

#[tokio::test]
async fn jwk_header_embedding_the_attacker_key_is_invalid_token() {
    let addr = es256_key_set_server().await;
    let mut jwk = public_jwk(Algorithm::ES256, Pair::B);
    jwk["kid"] = "main".into();
    let extra = format!(r#""jwk":{jwk}"#);
    let token = attacker_token(&extra);
    expect_invalid_token(&get_with_token(addr, "/me", &token).await, BAD_SIGNATURE);
    still_serving(addr, &genuine_with(&extra)).await;
}

/// An HMAC server and a `jwk` of type `oct` carrying the attacker's own secret.
#[tokio::test]
async fn jwk_header_embedding_an_attacker_hmac_secret_is_invalid_token() {
    let extra = format!(r#""jwk":{{"kty":"oct","k":"{}"}}"#, b64(SECRET_B));
    let header = format!(r#"{{"alg":"HS256","typ":"JWT",{extra}}}"#);
    let token = hmac_token(hmac::HMAC_SHA256, SECRET_B, &header, payload().as_bytes());
    against_hs256(&token, BAD_SIGNATURE).await;
}

/// `jku`/`x5u` are URLs the attacker controls; the layer fetches keys only from its own
/// JWKS URL, never from these. The layer here is a remote-keys one, where the mistake would
/// be most natural.
async fn url_header_attack(member: &str, path: &str) {
    let (attacker, hits) = attacker_server().await;
    let mut jwk = public_jwk(Algorithm::ES256, Pair::A);
    jwk["kid"] = "main".into();
    let provider = serve(Router::new().route(
        "/jwks.json",
        routing::get(move || {
            let jwk = jwk.clone();
            async move { Json(json!({ "keys": [jwk] })) }
        }),
    ))
    .await;
    let resolver = JwksResolver::builder()
        .unknown_kid_cooldown(Duration::from_secs(60))
        .build(format!("http://{provider}/jwks.json"));
    let layer = JwtAuthLayer::<TestClaims>::builder(resolver)
        .algorithms([Algorithm::ES256])
        .build()
        .unwrap();
    let addr = serve(app(layer, Arc::default())).await;

    let extra = format!(r#""{member}":"http://{attacker}{path}""#);
    // Under the kid the provider knows: the provider's key, so the signature fails.
    let token = attacker_token(&extra);
    expect_invalid_token(&get_with_token(addr, "/me", &token).await, BAD_SIGNATURE);
    // Under a kid only the attacker's document has: no key, whatever the URL says.
    let header = format!(r#"{{"alg":"ES256","kid":"attacker-only",{extra}}}"#);
    let unknown = es256(&header, payload().as_bytes(), Pair::B);
    expect_invalid_token(&get_with_token(addr, "/me", &unknown).await, UNKNOWN_KEY);

    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the attacker's URL was fetched"
    );
    still_serving(addr, &genuine_with(&extra)).await;
}

#[tokio::test]
async fn jku_header_pointing_at_the_attacker_jwks_is_invalid_token_and_never_fetched() {
    url_header_attack("jku", "/jwks.json").await;
}

#[tokio::test]
async fn x5u_header_pointing_at_the_attacker_certificate_is_invalid_token_and_never_fetched() {
    url_header_attack("x5u", "/cert.der").await;
}

#[tokio::test]
async fn x5c_header_embedding_the_attacker_certificate_is_invalid_token() {
    let addr = es256_key_set_server().await;
    let extra = format!(r#""x5c":["{ATTACKER_CERT}"]"#);
    let token = attacker_token(&extra);
    expect_invalid_token(&get_with_token(addr, "/me", &token).await, BAD_SIGNATURE);
    still_serving(addr, &genuine_with(&extra)).await;
}

// ---------------------------------------------------------------------------------------------
// kid: an opaque name, never a path or a query
// ---------------------------------------------------------------------------------------------

/// HS256 keys by `kid`: only "main" (secret `A`).
async fn hs256_key_set_server() -> SocketAddr {
    let key = verification_key(Algorithm::HS256, Pair::A).with_kid("main");
    let layer = JwtAuthLayer::<TestClaims>::builder(KeySet::new([key]))
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap();
    serve(app(layer, Arc::default())).await
}

fn with_kid(kid: &str, secret: &[u8]) -> String {
    let header = json!({ "alg": "HS256", "typ": "JWT", "kid": kid }).to_string();
    hmac_token(hmac::HMAC_SHA256, secret, &header, payload().as_bytes())
}

/// `../../../../dev/null` names an empty file: a resolver reading keys from disk would
/// verify with an empty secret. Signed both with that empty secret and with the real one.
#[tokio::test]
async fn kid_with_path_traversal_is_invalid_token() {
    let kid = "../../../../dev/null";
    let addr = hs256_key_set_server().await;
    for secret in [&b""[..], SECRET_A] {
        let token = with_kid(kid, secret);
        expect_invalid_token(&get_with_token(addr, "/me", &token).await, UNKNOWN_KEY);
    }
    still_serving(addr, &with_kid("main", SECRET_A)).await;
    // A static key ignores `kid`: the empty-secret token is then a bad signature.
    against_hs256(&with_kid(kid, b""), BAD_SIGNATURE).await;
}

/// A resolver querying a database with the `kid` would return the first key; signed with
/// that real key, only the lookup can refuse it.
#[tokio::test]
async fn kid_with_sql_injection_is_invalid_token() {
    let addr = hs256_key_set_server().await;
    for kid in ["' OR 1=1 --", "main' --", "main' OR '1'='1"] {
        let token = with_kid(kid, SECRET_A);
        expect_invalid_token(&get_with_token(addr, "/me", &token).await, UNKNOWN_KEY);
    }
    still_serving(addr, &with_kid("main", SECRET_A)).await;
}

#[tokio::test]
async fn kid_of_2_kib_is_invalid_token() {
    let addr = hs256_key_set_server().await;
    // 2 KiB of name, and "main" followed by 2 KiB of spaces (a lookup that trims).
    for kid in ["k".repeat(2048), format!("main{}", " ".repeat(2044))] {
        let token = with_kid(&kid, SECRET_A);
        expect_invalid_token(&get_with_token(addr, "/me", &token).await, UNKNOWN_KEY);
    }
    still_serving(addr, &with_kid("main", SECRET_A)).await;
}

// ---------------------------------------------------------------------------------------------
// crit (RFC 7515 §4.1.11)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn crit_with_an_unknown_extension_is_invalid_token() {
    let header = r#"{"alg":"HS256","typ":"JWT","crit":["x-must-check"],"x-must-check":true}"#;
    against_hs256(&hs256(header, payload().as_bytes()), CRIT).await;
}

#[tokio::test]
async fn crit_empty_array_is_invalid_token() {
    let header = r#"{"alg":"HS256","typ":"JWT","crit":[]}"#;
    against_hs256(&hs256(header, payload().as_bytes()), CRIT).await;
}

/// RFC 7797: with `b64: false` the payload segment is the payload itself, not its base64url.
/// Here the segment is the base64url of the claims, so under `b64: false` the signed payload
/// is that base64 text, not the claims: reading it as claims would be a misinterpretation.
/// The signing input is the same bytes either way, so the signature verifies; `crit` alone
/// must refuse it.
#[tokio::test]
async fn crit_b64_false_is_invalid_token() {
    let header = r#"{"alg":"HS256","typ":"JWT","b64":false,"crit":["b64"]}"#;
    against_hs256(&hs256(header, payload().as_bytes()), CRIT).await;
}

// ---------------------------------------------------------------------------------------------
// The signature segment
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn signature_stripped_to_two_segments_is_invalid_token() {
    let token = valid_hs256();
    let two = &token[..token.rfind('.').unwrap()];
    against_hs256(two, NOT_JWS).await;
}

#[tokio::test]
async fn signature_stripped_to_a_trailing_dot_is_invalid_token() {
    let token = valid_hs256();
    let empty = &token[..=token.rfind('.').unwrap()];
    against_hs256(empty, BAD_SIGNATURE).await;
}

#[tokio::test]
async fn signature_truncated_is_invalid_token() {
    let addr = hs256_server().await;
    let token = valid_hs256();
    for cut in [1, 2, 4, 22, 42] {
        let truncated = &token[..token.len() - cut];
        assert!(truncated.matches('.').count() == 2);
        expect_invalid_token(&get_with_token(addr, "/me", truncated).await, BAD_SIGNATURE);
    }
    still_serving(addr, &token).await;
}

/// base64url in JWS has no padding (RFC 7515 §2). `=` at the end is b64token syntax, so it
/// reaches the decoder, which must refuse it; `=` inside the token is not b64token syntax.
#[tokio::test]
async fn signature_padded_is_invalid_token() {
    let addr = hs256_server().await;
    let token = valid_hs256();
    assert_eq!(split3(&token).2.len() % 4, 3, "32 bytes: one padding char");
    for padded in [format!("{token}="), format!("{token}==")] {
        expect_invalid_token(&get_with_token(addr, "/me", &padded).await, BAD_SIGNATURE);
    }
    let (h, p, s) = split3(&token);
    let header_padded = format!("{h}=.{p}.{s}");
    let r = get_with_token(addr, "/me", &header_padded).await;
    expect_invalid_request(&r, NOT_B64TOKEN);
    still_serving(addr, &token).await;
}

/// A segment whose last character differs only in the bits base64 drops: it decodes to the
/// same bytes, so it is the same signature written another way.
fn non_canonical(segment: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    assert!(
        segment.len() % 4 >= 2,
        "a segment without spare bits: {}",
        segment.len()
    );
    let last = segment.as_bytes()[segment.len() - 1];
    let index = ALPHABET.iter().position(|c| *c == last).unwrap();
    let changed = format!(
        "{}{}",
        &segment[..segment.len() - 1],
        ALPHABET[index ^ 1] as char
    );
    use base64::Engine;
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
    );
    assert_eq!(
        lenient.decode(&changed).unwrap(),
        lenient.decode(segment).unwrap(),
        "the change must keep the decoded bytes"
    );
    changed
}

#[tokio::test]
async fn signature_with_a_non_canonical_last_character_is_invalid_token() {
    let token = valid_hs256();
    let (h, p, s) = split3(&token);
    let changed = format!("{h}.{p}.{}", non_canonical(s));
    assert_ne!(changed, token);
    against_hs256(&changed, BAD_SIGNATURE).await;
}

#[tokio::test]
async fn header_with_a_non_canonical_last_character_is_invalid_token() {
    // 28 bytes of header: the segment's last character carries 4 spare bits.
    let header = r#"{"alg":"HS256","kid":"main"}"#;
    assert_eq!(header.len() % 3, 1);
    let token = hs256(header, payload().as_bytes());
    let (h, p, s) = split3(&token);
    let changed = format!("{}.{p}.{s}", non_canonical(h));
    against_hs256(&changed, BAD_BASE64).await;
}

#[tokio::test]
async fn payload_swapped_with_the_signature_kept_is_invalid_token() {
    let alice = valid_hs256();
    let admin = hs256(
        HS256_HEADER,
        payload_with(r#""scope":"admin""#)
            .replace("alice", "mallory")
            .as_bytes(),
    );
    let (h, _, s) = split3(&alice);
    let (_, p, _) = split3(&admin);
    against_hs256(&format!("{h}.{p}.{s}"), BAD_SIGNATURE).await;
}

// ---------------------------------------------------------------------------------------------
// ECDSA signatures
// ---------------------------------------------------------------------------------------------

/// The order n of the P-256 group, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// `a - b` for big-endian 256-bit numbers with `a >= b`.
fn sub_256(a: &[u8; 32], b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    assert_eq!(borrow, 0);
    out
}

/// Whether big-endian `s` is above n / 2 (a "high-S" signature).
fn is_high_s(s: &[u8]) -> bool {
    let half = {
        let mut half = [0u8; 32];
        let mut carry = 0u8;
        for (i, byte) in P256_N.iter().enumerate() {
            half[i] = (byte >> 1) | (carry << 7);
            carry = byte & 1;
        }
        half
    };
    s > &half[..]
}

/// A DER INTEGER for a big-endian unsigned number.
fn der_integer(x: &[u8]) -> Vec<u8> {
    let start = x.iter().position(|b| *b != 0).unwrap_or(x.len() - 1);
    let mut body = x[start..].to_vec();
    if body[0] & 0x80 != 0 {
        body.insert(0, 0);
    }
    let mut out = vec![0x02, body.len() as u8];
    out.extend(body);
    out
}

#[tokio::test]
async fn ecdsa_all_zero_signature_psychic_is_invalid_token() {
    // CVE-2022-21449: r = s = 0 passed Java's ECDSA check for any message.
    let input = signing_input(ES256_HEADER, payload().as_bytes());
    let addr = es256_server().await;
    let zero = format!("{input}.{}", b64(&[0u8; 64]));
    expect_invalid_token(&get_with_token(addr, "/me", &zero).await, BAD_SIGNATURE);
    // r = s = n is zero modulo n, the same attack past a range check that forgets `< n`.
    let n_n = format!("{input}.{}", b64(&[P256_N, P256_N].concat()));
    expect_invalid_token(&get_with_token(addr, "/me", &n_n).await, BAD_SIGNATURE);
    still_serving(addr, &es256(ES256_HEADER, payload().as_bytes(), Pair::A)).await;
}

/// JWS wants ECDSA as raw `r || s` (RFC 7518 §3.4), not ASN.1 DER: a valid signature
/// re-encoded as DER is refused.
#[tokio::test]
async fn ecdsa_der_encoded_signature_is_invalid_token() {
    let token = es256(ES256_HEADER, payload().as_bytes(), Pair::A);
    let (h, p, s) = split3(&token);
    let raw = b64_decode(s);
    let mut body = der_integer(&raw[..32]);
    body.extend(der_integer(&raw[32..]));
    let mut der = vec![0x30, body.len() as u8];
    der.extend(body);
    against_es256(&format!("{h}.{p}.{}", b64(&der)), BAD_SIGNATURE).await;
}

/// ECDSA is malleable: if (r, s) is valid, so is (r, n - s), for the same message. Neither
/// aws-lc (this crate's backend) nor jsonwebtoken enforces low-S, and RFC 7518 does not ask
/// for it, so the twin is accepted. It is not a forgery: only the holder of the private key
/// could make the first signature, and the twin carries the very same header and claims.
/// What it changes is the token's bytes: the verified-token cache keys on the whole token
/// (the twin is verified in full, not served from the original's entry), and anything that
/// must recognise "the same token" must use `jti`, not the bytes; revocation does, so
/// revoking the original's `jti` refuses the twin too.
#[tokio::test]
async fn ecdsa_high_s_twin_of_a_valid_signature_is_accepted_not_a_forgery() {
    let store = MemoryRevocationStore::new(16);
    let layer = JwtAuthLayer::<TestClaims>::builder(StaticKey::new(verification_key(
        Algorithm::ES256,
        Pair::A,
    )))
    .algorithms([Algorithm::ES256])
    .revocation_store(store.clone())
    .build()
    .unwrap();
    let addr = serve(app(layer, Arc::default())).await;
    // A low-S original, so that its twin is the high-S one. aws-lc does not normalise
    // (about one try in two is low-S); RustCrypto signs deterministically, so each try
    // signs a different payload.
    let original = (0..64)
        .map(|try_| {
            let claims = payload_with(&format!(r#""jti":"twin-1","try":{try_}"#));
            es256(ES256_HEADER, claims.as_bytes(), Pair::A)
        })
        .find(|t| !is_high_s(&b64_decode(split3(t).2)[32..]))
        .expect("no low-S signature in 64 tries");
    let (h, p, s) = split3(&original);
    let raw = b64_decode(s);
    let high_s = sub_256(&P256_N, &raw[32..]);
    assert!(is_high_s(&high_s));
    let twin = format!("{h}.{p}.{}", b64(&[&raw[..32], &high_s[..]].concat()));
    assert_ne!(twin, original);

    expect_ok(&get_with_token(addr, "/me", &original).await, "alice");
    expect_ok(&get_with_token(addr, "/me", &twin).await, "alice");
    store.revoke("jti:twin-1", now() + 300).await.unwrap();
    expect_invalid_token(&get_with_token(addr, "/me", &original).await, REVOKED);
    expect_invalid_token(&get_with_token(addr, "/me", &twin).await, REVOKED);
    let other = es256(ES256_HEADER, payload().as_bytes(), Pair::A);
    still_serving(addr, &other).await;
}

// ---------------------------------------------------------------------------------------------
// JSON that is not what it seems
// ---------------------------------------------------------------------------------------------

/// A correctly signed token whose header is `header_json` (any bytes).
fn header_is(header_json: &str) -> String {
    hs256(header_json, payload().as_bytes())
}

/// A correctly signed token whose payload is `payload` (any bytes).
fn payload_is(payload: &[u8]) -> String {
    hs256(HS256_HEADER, payload)
}

#[tokio::test]
async fn header_json_array_is_invalid_token() {
    let addr = hs256_server().await;
    for header in [r#"["HS256"]"#, r#"["HS256",null,"JWT"]"#, "[]"] {
        let r = get_with_token(addr, "/me", &header_is(header)).await;
        expect_invalid_token(&r, HEADER_NOT_JSON);
    }
    still_serving(addr, &valid_hs256()).await;
}

#[tokio::test]
async fn header_json_null_is_invalid_token() {
    against_hs256(&header_is("null"), HEADER_NOT_JSON).await;
}

#[tokio::test]
async fn header_garbage_is_invalid_token() {
    let addr = hs256_server().await;
    for header in [
        "garbage",
        "{\"alg\":\"HS256\"",
        "\u{feff}{\"alg\":\"HS256\"}",
        "\"HS256\"",
    ] {
        let r = get_with_token(addr, "/me", &header_is(header)).await;
        expect_invalid_token(&r, HEADER_NOT_JSON);
    }
    // Bytes that are not UTF-8 at all.
    let input = format!("{}.{}", b64(b"\xff\xfe{}"), b64(payload().as_bytes()));
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, SECRET_A),
        input.as_bytes(),
    );
    let token = format!("{input}.{}", b64(tag.as_ref()));
    expect_invalid_token(&get_with_token(addr, "/me", &token).await, HEADER_NOT_JSON);
    still_serving(addr, &valid_hs256()).await;
}

/// A serde-derived struct also reads `["alice", 4102444800]` as `{sub, exp}` in field order;
/// the claims set must be a JSON object (RFC 7519 §7.2).
#[tokio::test]
async fn payload_json_array_is_invalid_token() {
    let addr = hs256_server().await;
    let array = format!(r#"["alice",{}]"#, now() + 300);
    for body in [array.as_str(), "[]"] {
        let r = get_with_token(addr, "/me", &payload_is(body.as_bytes())).await;
        expect_invalid_token(&r, CLAIMS_NOT_OBJECT);
    }
    still_serving(addr, &valid_hs256()).await;
}

#[tokio::test]
async fn payload_json_null_is_invalid_token() {
    against_hs256(&payload_is(b"null"), CLAIMS_NOT_OBJECT).await;
}

#[tokio::test]
async fn payload_garbage_is_invalid_token() {
    let addr = hs256_server().await;
    for body in [&b"garbage"[..], b"", b"{\"sub\":", b"\xff\xfe\xfd", b"42"] {
        let r = get_with_token(addr, "/me", &payload_is(body)).await;
        expect_invalid_token(&r, CLAIMS_NOT_OBJECT);
    }
    still_serving(addr, &valid_hs256()).await;
}

/// Parsers disagree on duplicate keys (first wins, last wins): the header must not be read
/// one way by the check and another way by the verifier. Signed with the real secret.
#[tokio::test]
async fn duplicate_alg_in_header_is_invalid_token() {
    let addr = hs256_server().await;
    for header in [
        r#"{"alg":"HS256","alg":"none"}"#,
        r#"{"alg":"none","alg":"HS256"}"#,
        r#"{"alg":"HS256","alg":"HS256"}"#,
    ] {
        let r = get_with_token(addr, "/me", &header_is(header)).await;
        expect_invalid_token(&r, HEADER_NOT_JSON);
    }
    still_serving(addr, &valid_hs256()).await;
}

#[tokio::test]
async fn duplicate_exp_in_payload_is_invalid_token() {
    let addr = hs256_server().await;
    let (past, future) = (now() - 3600, now() + 300);
    for body in [
        format!(r#"{{"sub":"alice","exp":{past},"exp":{future}}}"#),
        format!(r#"{{"sub":"alice","exp":{future},"exp":{past}}}"#),
    ] {
        let r = get_with_token(addr, "/me", &payload_is(body.as_bytes())).await;
        expect_invalid_token(&r, WRONG_TYPE);
    }
    still_serving(addr, &valid_hs256()).await;
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// `token` with its signature replaced by garbage of the right length.
fn garbage_signature(token: &str) -> String {
    let (h, p, _) = split3(token);
    format!("{h}.{p}.{}", b64(&[0x5a; 32]))
}

const UNEXPECTED_SHAPE: &str = "claims do not have the expected shape";

/// 2,500 levels of arrays in the claims. An attacker without the key never gets the payload
/// read: the signature is checked first. Signed, the nesting is refused wherever a claim is
/// read (the whole payload, `exp`, `aud`, a claim of the claims type), and nothing recurses
/// 2,500 deep on the server's stack.
#[tokio::test]
async fn deeply_nested_payload_is_invalid_token() {
    let addr = hs256_server().await;
    let deep = nested(2500);
    let in_unknown_claim = payload_is(payload_with(&format!(r#""x":{deep}"#)).as_bytes());
    assert!(
        in_unknown_claim.len() < 8 * 1024,
        "{}",
        in_unknown_claim.len()
    );
    let cases = [
        (garbage_signature(&in_unknown_claim), BAD_SIGNATURE),
        (payload_is(deep.as_bytes()), CLAIMS_NOT_OBJECT),
        (
            claims_are(&format!(r#"{{"sub":"alice","exp":{deep}}}"#)),
            WRONG_TYPE,
        ),
        (
            claims_are(&payload_with(&format!(r#""aud":{deep}"#))),
            WRONG_TYPE,
        ),
        (
            claims_are(&payload_with(&format!(r#""scope":{deep}"#))),
            UNEXPECTED_SHAPE,
        ),
    ];
    for (token, description) in cases {
        expect_invalid_token(&get_with_token(addr, "/me", &token).await, description);
    }
    still_serving(addr, &valid_hs256()).await;
}

/// The same nesting under a claim nobody reads, in a token signed with the real key, is
/// skipped (serde_json skips ignored values with a loop, not recursion): the token is valid,
/// so 200, and the server is unharmed. Only the key holder can send this.
#[tokio::test]
async fn deeply_nested_unknown_claim_in_a_signed_token_is_skipped_without_recursion() {
    let addr = hs256_server().await;
    let token = payload_is(payload_with(&format!(r#""x":{}"#, nested(2500))).as_bytes());
    expect_ok(&get_with_token(addr, "/me", &token).await, "alice");
    still_serving(addr, &valid_hs256()).await;
}

/// 2,500 levels in the header, which is read before the signature: as the header itself or
/// as `alg` it is not a header; under an unknown member it is skipped without recursion and
/// the signature then decides (an attacker's is refused).
#[tokio::test]
async fn deeply_nested_header_is_invalid_token() {
    let addr = hs256_server().await;
    let deep = nested(2500);
    let in_unknown_member = header_is(&format!(r#"{{"alg":"HS256","x":{deep}}}"#));
    assert!(
        in_unknown_member.len() < 8 * 1024,
        "{}",
        in_unknown_member.len()
    );
    let cases = [
        (garbage_signature(&in_unknown_member), BAD_SIGNATURE),
        (header_is(&deep), HEADER_NOT_JSON),
        (header_is(&format!(r#"{{"alg":{deep}}}"#)), HEADER_NOT_JSON),
        (
            header_is(&format!(r#"{{"alg":"HS256","kid":{deep}}}"#)),
            HEADER_NOT_JSON,
        ),
        (
            header_is(&format!(r#"{{"alg":"HS256","crit":{deep}}}"#)),
            CRIT,
        ),
    ];
    for (token, description) in cases {
        expect_invalid_token(&get_with_token(addr, "/me", &token).await, description);
    }
    // Signed with the real key, the skipped member changes nothing: accepted.
    expect_ok(
        &get_with_token(addr, "/me", &in_unknown_member).await,
        "alice",
    );
    still_serving(addr, &valid_hs256()).await;
}

/// 9 KiB, over the 8 KiB default cap: refused before any decoding, whatever it holds.
#[tokio::test]
async fn token_of_9_kib_is_invalid_token() {
    let addr = hs256_server().await;
    let padded = payload_is(payload_with(&format!(r#""pad":"{}""#, "x".repeat(6900))).as_bytes());
    let junk = format!("{}.b.c", "a".repeat(9 * 1024));
    for token in [&padded, &junk] {
        assert!(
            (9 * 1024..10 * 1024).contains(&token.len()),
            "{}",
            token.len()
        );
        expect_invalid_token(&get_with_token(addr, "/me", token).await, TOO_LARGE);
    }
    still_serving(addr, &valid_hs256()).await;
}

// ---------------------------------------------------------------------------------------------
// Registered claims
// ---------------------------------------------------------------------------------------------

fn claims_are(body: &str) -> String {
    payload_is(body.as_bytes())
}

#[tokio::test]
async fn exp_as_string_is_invalid_token() {
    let body = format!(r#"{{"sub":"alice","exp":"{}"}}"#, now() + 300);
    against_hs256(&claims_are(&body), WRONG_TYPE).await;
}

#[tokio::test]
async fn exp_negative_is_invalid_token() {
    against_hs256(&claims_are(r#"{"sub":"alice","exp":-1}"#), WRONG_TYPE).await;
}

/// A NumericDate may have a fraction (RFC 7519 §2): it is read as a time, not skipped.
#[tokio::test]
async fn exp_as_float_in_the_past_is_invalid_token() {
    let addr = hs256_server().await;
    let past = claims_are(&format!(r#"{{"sub":"alice","exp":{}.75}}"#, now() - 3600));
    expect_invalid_token(&get_with_token(addr, "/me", &past).await, EXPIRED);
    let future = claims_are(&format!(r#"{{"sub":"alice","exp":{}.5}}"#, now() + 300));
    expect_ok(&get_with_token(addr, "/me", &future).await, "alice");
}

/// 1e30 is beyond any `u64` second count: refused, not saturated into "never expires".
#[tokio::test]
async fn exp_1e30_is_invalid_token() {
    let addr = hs256_server().await;
    for exp in ["1e30", "1E+30", "1.0e30"] {
        let token = claims_are(&format!(r#"{{"sub":"alice","exp":{exp}}}"#));
        expect_invalid_token(&get_with_token(addr, "/me", &token).await, WRONG_TYPE);
    }
    still_serving(addr, &valid_hs256()).await;
}

#[tokio::test]
async fn nbf_in_the_future_is_invalid_token() {
    let token = claims_are(&payload_with(&format!(r#""nbf":{}"#, now() + 3600)));
    against_hs256(&token, NOT_YET).await;
}

#[tokio::test]
async fn iss_with_a_trailing_slash_is_invalid_token() {
    let layer = JwtAuthLayer::<TestClaims>::builder(StaticKey::new(verification_key(
        Algorithm::HS256,
        Pair::A,
    )))
    .algorithms([Algorithm::HS256])
    .issuer("https://auth.example.com")
    .build()
    .unwrap();
    let addr = serve(app(layer, Arc::default())).await;
    for iss in [
        "https://auth.example.com/",
        "https://auth.example.com//",
        "https://AUTH.example.com",
    ] {
        let token = claims_are(&payload_with(&format!(r#""iss":"{iss}""#)));
        expect_invalid_token(&get_with_token(addr, "/me", &token).await, BAD_ISSUER);
    }
    let good = claims_are(&payload_with(r#""iss":"https://auth.example.com""#));
    still_serving(addr, &good).await;
}

/// A server configured with audience `orders-api`.
async fn audience_server() -> SocketAddr {
    let layer = JwtAuthLayer::<TestClaims>::builder(StaticKey::new(verification_key(
        Algorithm::HS256,
        Pair::A,
    )))
    .algorithms([Algorithm::HS256])
    .audience("orders-api")
    .build()
    .unwrap();
    serve(app(layer, Arc::default())).await
}

async fn against_audience_server(aud: &str, description: &str) {
    let addr = audience_server().await;
    let token = claims_are(&payload_with(&format!(r#""aud":{aud}"#)));
    expect_invalid_token(&get_with_token(addr, "/me", &token).await, description);
    let good = claims_are(&payload_with(r#""aud":"orders-api""#));
    still_serving(addr, &good).await;
}

#[tokio::test]
async fn aud_empty_array_is_invalid_token() {
    against_audience_server("[]", BAD_AUDIENCE).await;
}

#[tokio::test]
async fn aud_as_a_number_is_invalid_token() {
    against_audience_server("7", WRONG_TYPE).await;
}

#[tokio::test]
async fn aud_array_without_ours_is_invalid_token() {
    against_audience_server(r#"["billing","orders-api-v2","ORDERS-API"]"#, BAD_AUDIENCE).await;
}

fn hs256_issuer() -> TokenIssuer {
    TokenIssuer::builder(SigningKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn refresh_token_used_as_an_access_token_is_invalid_token() {
    let issuer = hs256_issuer();
    let layer = issuer.layer_builder::<TestClaims>().build().unwrap();
    let addr = serve(app(layer, Arc::default())).await;
    let pair = issuer.issue("alice", &()).unwrap();
    expect_invalid_token(&get_with_token(addr, "/me", &pair.refresh).await, BAD_TYPE);
    still_serving(addr, &pair.access).await;
    // The same claim hand-written, against a plain layer (its default wants access tokens).
    let token = claims_are(&payload_with(r#""token_type":"refresh""#));
    against_hs256(&token, BAD_TYPE).await;
}

// ---------------------------------------------------------------------------------------------
// The Authorization header
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn two_authorization_headers_is_invalid_request() {
    let addr = hs256_server().await;
    let valid = format!("Bearer {}", valid_hs256());
    let forged = format!("Bearer {}", alg_none("none"));
    for pair in [[&valid, &forged], [&forged, &valid], [&valid, &valid]] {
        let headers = [
            ("authorization", pair[0].as_str()),
            ("authorization", pair[1].as_str()),
        ];
        let r = get(addr, "/me", &headers).await;
        expect_invalid_request(&r, "more than one credentials header");
    }
    still_serving(addr, &valid_hs256()).await;
}

#[tokio::test]
async fn basic_scheme_is_no_credentials() {
    let addr = hs256_server().await;
    for value in [
        "Basic YWxpY2U6c2VjcmV0".to_owned(),
        format!("Basic {}", valid_hs256()),
    ] {
        expect_no_credentials(&get(addr, "/me", &[("authorization", &value)]).await);
    }
    still_serving(addr, &valid_hs256()).await;
}

#[tokio::test]
async fn spaces_inside_the_token_is_invalid_request() {
    let addr = hs256_server().await;
    let token = valid_hs256();
    let (h, p, s) = split3(&token);
    for value in [
        format!("Bearer {h}. {p}.{s}"),
        format!("Bearer {h}.{p} .{s}"),
        format!("Bearer {token} {token}"),
        format!("Bearer {token}\t{token}"),
    ] {
        let r = get(addr, "/me", &[("authorization", &value)]).await;
        expect_invalid_request(&r, NOT_B64TOKEN);
    }
    still_serving(addr, &token).await;
}

/// A cache hit skips the b64token scan (a token equal to a cached one is a b64token). A
/// value that only starts or ends like a cached token is not a hit: it is scanned and
/// refused like any other.
#[tokio::test]
async fn a_cached_token_does_not_spare_its_look_alikes_the_scan() {
    let addr = hs256_server().await;
    let token = valid_hs256();
    for _ in 0..3 {
        still_serving(addr, &token).await; // the second acceptance stores it
    }
    for value in [
        format!("Bearer {token}!"),
        format!("Bearer !{token}"),
        format!("Bearer {token},"),
        format!("Bearer \"{token}\""),
    ] {
        let r = get(addr, "/me", &[("authorization", &value)]).await;
        expect_invalid_request(&r, NOT_B64TOKEN);
    }
    expect_invalid_token(
        &get_with_token(addr, "/me", &format!("{token}=")).await,
        BAD_SIGNATURE,
    );
    still_serving(addr, &token).await;
}

// ---------------------------------------------------------------------------------------------
// CORS preflight as a way in
// ---------------------------------------------------------------------------------------------

const ORIGIN: (&str, &str) = ("origin", "https://evil.example");
const ACRM: (&str, &str) = ("access-control-request-method", "POST");

/// An `OPTIONS` to `/any` with preflight headers, `extra` headers and `body`.
fn options_request(
    addr: SocketAddr,
    extra: &[(&str, &str)],
    body: &'static str,
) -> Request<Full<Bytes>> {
    let mut request = Request::options(format!("http://{addr}/any"))
        .header(ORIGIN.0, ORIGIN.1)
        .header(ACRM.0, ACRM.1);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

/// Writes `request` as is on a new connection and reads the answer (`Connection: close`).
async fn raw_http(addr: SocketAddr, request: String) -> Reply {
    let text = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut buf = Vec::new();
        // The server may close with unread bytes (a reset): keep what arrived.
        let _ = stream.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
    .await
    .unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap_or_default()
        .split(' ')
        .nth(1)
        .unwrap_or("0");
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            headers.append(
                http::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                value.trim().parse().unwrap(),
            );
        }
    }
    let body = if headers.get("content-length").is_some_and(|v| v == "0") {
        ""
    } else {
        body
    };
    Reply {
        status: status.parse().unwrap(),
        headers,
        body: body.to_owned(),
    }
}

/// Preflights that carry work: a JSON body with its `Content-Type`, a body without one, a
/// `Content-Type` alone, and a chunked body written on the raw connection.
async fn preflights_with_a_body_are_refused(addr: SocketAddr, reached: &AtomicUsize) {
    let json = [("content-type", "application/json")];
    for request in [
        options_request(addr, &json, r#"{"transfer":1000}"#),
        options_request(addr, &[], "transfer=1000"),
        options_request(addr, &json, ""),
    ] {
        let r = exchange(request).await;
        expect_no_credentials(&r);
    }
    let chunked = format!(
        "OPTIONS /any HTTP/1.1\r\nHost: {addr}\r\nOrigin: {}\r\nAccess-Control-Request-Method: POST\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\ne\r\ntransfer=1000\n\r\n0\r\n\r\n",
        ORIGIN.1
    );
    expect_no_credentials(&raw_http(addr, chunked).await);
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "the route ran unauthenticated"
    );
}

/// DESIGN.md: the layer's own pass-through is off by default, so a preflight without a
/// token is refused like any request; an axum `any()` route would otherwise run its
/// handler for it.
#[tokio::test]
async fn cors_preflight_to_an_any_route_without_token_is_no_credentials() {
    let reached = Arc::new(AtomicUsize::new(0));
    let addr = serve(app(static_layer(Algorithm::HS256), Arc::clone(&reached))).await;
    let r = exchange(options_request(addr, &[], "")).await;
    expect_no_credentials(&r);
    preflights_with_a_body_are_refused(addr, &reached).await;
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "the route ran unauthenticated"
    );
    still_serving(addr, &valid_hs256()).await;
}

/// With the pass-through turned on, only a bodiless preflight passes; one that carries a
/// body or a `Content-Type` is authenticated like any other request.
#[tokio::test]
async fn cors_preflight_with_a_body_is_no_credentials_even_when_preflights_are_allowed() {
    let reached = Arc::new(AtomicUsize::new(0));
    let layer = JwtAuthLayer::<TestClaims>::builder(StaticKey::new(verification_key(
        Algorithm::HS256,
        Pair::A,
    )))
    .algorithms([Algorithm::HS256])
    .allow_cors_preflight(true)
    .build()
    .unwrap();
    let addr = serve(app(layer, Arc::clone(&reached))).await;
    preflights_with_a_body_are_refused(addr, &reached).await;
    // The contrast, as documented: a bodiless preflight does pass when allowed.
    expect_ok(&exchange(options_request(addr, &[], "")).await, "reached");
    assert_eq!(reached.load(Ordering::SeqCst), 1);
    still_serving(addr, &valid_hs256()).await;
}

/// Sends `request` over a prior-knowledge HTTP/2 connection (axum serves h2c too); the
/// status, the challenge and whether the route ran.
async fn h2_exchange(addr: SocketAddr, request: Request<Full<Bytes>>) -> (u16, Option<String>) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), challenge)
}

/// The preflight trick over HTTP/2 against an axum `any()` route, with the pass-through
/// off (the default) and on: a preflight carrying a body or a `Content-Type` never runs
/// the route unauthenticated.
#[tokio::test]
async fn cors_preflight_over_h2_to_an_any_route_is_no_credentials() {
    for allow in [false, true] {
        let reached = Arc::new(AtomicUsize::new(0));
        let layer = JwtAuthLayer::<TestClaims>::builder(StaticKey::new(verification_key(
            Algorithm::HS256,
            Pair::A,
        )))
        .algorithms([Algorithm::HS256])
        .allow_cors_preflight(allow)
        .build()
        .unwrap();
        let addr = serve(app(layer, Arc::clone(&reached))).await;
        let refused = (401, Some(NO_CREDENTIALS.to_owned()));
        let json = [("content-type", "application/json")];
        let grpc = [("content-type", "application/grpc")];
        assert_eq!(
            h2_exchange(addr, options_request(addr, &json, r#"{"transfer":1000}"#)).await,
            refused,
            "allow_cors_preflight({allow}), JSON body"
        );
        assert_eq!(
            h2_exchange(addr, options_request(addr, &[], "transfer=1000")).await,
            refused,
            "allow_cors_preflight({allow}), body without Content-Type"
        );
        let (status, challenge) = h2_exchange(addr, options_request(addr, &grpc, "")).await;
        assert_eq!(
            (status, challenge),
            (200, None),
            "a trailers-only gRPC answer"
        );
        assert_eq!(
            reached.load(Ordering::SeqCst),
            0,
            "the route ran for a gRPC preflight"
        );
        let bodiless = h2_exchange(addr, options_request(addr, &[], "")).await;
        if allow {
            assert_eq!(
                bodiless,
                (200, None),
                "a bodiless preflight passes when allowed"
            );
            assert_eq!(reached.load(Ordering::SeqCst), 1);
        } else {
            assert_eq!(bodiless, refused, "no pass-through by default");
            assert_eq!(
                reached.load(Ordering::SeqCst),
                0,
                "the route ran unauthenticated"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// gRPC over h2 against tonic
// ---------------------------------------------------------------------------------------------

/// The stock health service (SERVING) behind `layer`, served by tonic on loopback.
async fn grpc_server<R: KeyResolver>(layer: JwtAuthLayer<TestClaims, R>) -> SocketAddr {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Server::builder().layer(layer).add_service(health);
    tokio::spawn(async move {
        router
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .unwrap()
    });
    addr
}

/// One length-prefixed gRPC message: uncompressed, an empty `HealthCheckRequest`.
const EMPTY_MESSAGE: [u8; 5] = [0, 0, 0, 0, 0];

/// The `grpc-status` of one raw h2 call: from the headers (trailers-only) or the trailers.
async fn grpc_call(addr: SocketAddr, method: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from_static(&EMPTY_MESSAGE)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    let status = response.status().as_u16();
    let head = response.headers().clone();
    let collected = response.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let grpc_status = head
        .get("grpc-status")
        .or_else(|| trailers.get("grpc-status"))
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_else(|| format!("none (HTTP {status}, {head:?})"));
    (status, grpc_status)
}

async fn grpc_still_serving(addr: SocketAddr) {
    let bearer = format!("Bearer {}", valid_hs256());
    let answer = grpc_call(addr, "POST", &[("authorization", &bearer)]).await;
    assert_eq!(
        answer,
        (200, "0".to_owned()),
        "a valid call is no longer served"
    );
}

async fn grpc_preflight(allow_cors_preflight: Option<bool>) {
    let mut builder = JwtAuthLayer::<TestClaims>::builder(StaticKey::new(verification_key(
        Algorithm::HS256,
        Pair::A,
    )))
    .algorithms([Algorithm::HS256]);
    if let Some(allow) = allow_cors_preflight {
        builder = builder.allow_cors_preflight(allow);
    }
    let addr = grpc_server(builder.build().unwrap()).await;
    // tonic routes by path whatever the method: OPTIONS reaches Health/Check if let through.
    let answer = grpc_call(addr, "OPTIONS", &[ORIGIN, ACRM]).await;
    assert_eq!(
        answer,
        (200, "16".to_owned()),
        "OPTIONS preflight over gRPC"
    );
    grpc_still_serving(addr).await;
}

#[tokio::test]
async fn grpc_options_preflight_without_token_is_unauthenticated() {
    grpc_preflight(None).await;
}

#[tokio::test]
async fn grpc_options_preflight_without_token_is_unauthenticated_even_when_preflights_are_allowed()
{
    grpc_preflight(Some(true)).await;
}

/// Every token attack of this file that an HS256 static-key layer must refuse.
fn hs256_attack_tokens() -> Vec<(&'static str, String)> {
    let valid = valid_hs256();
    let (h, p, s) = split3(&valid);
    vec![
        ("alg none", alg_none("none")),
        ("alg None", alg_none("None")),
        ("alg NONE", alg_none("NONE")),
        ("alg nOnE", alg_none("nOnE")),
        (
            "alg none, signature kept",
            format!("{}{s}", alg_none("none")),
        ),
        ("alg hs256", alg_spelled("hs256")),
        ("alg Hs256", alg_spelled("Hs256")),
        ("alg 'HS256 '", alg_spelled("HS256 ")),
        (
            "HS384",
            hmac_token(
                hmac::HMAC_SHA384,
                SECRET_A,
                r#"{"alg":"HS384"}"#,
                payload().as_bytes(),
            ),
        ),
        ("kid path", with_kid("../../../../dev/null", b"")),
        (
            "crit unknown",
            header_is(r#"{"alg":"HS256","crit":["x"],"x":1}"#),
        ),
        ("crit []", header_is(r#"{"alg":"HS256","crit":[]}"#)),
        (
            "crit b64",
            header_is(r#"{"alg":"HS256","b64":false,"crit":["b64"]}"#),
        ),
        ("two segments", format!("{h}.{p}")),
        ("empty signature", format!("{h}.{p}.")),
        ("truncated", valid[..valid.len() - 2].to_owned()),
        ("padded", format!("{valid}=")),
        ("non-canonical", format!("{h}.{p}.{}", non_canonical(s))),
        ("header array", header_is(r#"["HS256"]"#)),
        ("header null", header_is("null")),
        ("payload array", payload_is(br#"["alice"]"#)),
        ("payload null", payload_is(b"null")),
        (
            "duplicate alg",
            header_is(r#"{"alg":"HS256","alg":"none"}"#),
        ),
        (
            "nested payload, garbage signature",
            garbage_signature(&payload_is(
                payload_with(&format!(r#""x":{}"#, nested(2500))).as_bytes(),
            )),
        ),
        ("nested payload", payload_is(nested(2500).as_bytes())),
        (
            "nested header, garbage signature",
            garbage_signature(&header_is(&format!(
                r#"{{"alg":"HS256","x":{}}}"#,
                nested(2500)
            ))),
        ),
        (
            "nested alg",
            header_is(&format!(r#"{{"alg":{}}}"#, nested(2500))),
        ),
        ("9 KiB", format!("{}.b.c", "a".repeat(9 * 1024))),
        (
            "exp string",
            claims_are(r#"{"sub":"alice","exp":"9999999999"}"#),
        ),
        ("exp 1e30", claims_are(r#"{"sub":"alice","exp":1e30}"#)),
        (
            "refresh",
            claims_are(&payload_with(r#""token_type":"refresh""#)),
        ),
    ]
}

#[tokio::test]
async fn grpc_token_attacks_are_unauthenticated() {
    let addr = grpc_server(static_layer(Algorithm::HS256)).await;
    for (name, token) in hs256_attack_tokens() {
        let bearer = format!("Bearer {token}");
        let answer = grpc_call(addr, "POST", &[("authorization", &bearer)]).await;
        assert_eq!(answer, (200, "16".to_owned()), "{name}");
    }
    grpc_still_serving(addr).await;
}

// ---------------------------------------------------------------------------------------------
// The flood: many attacks at once, then a valid request
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flood_of_attacks_leaves_the_server_serving() {
    let addr = hs256_server().await;
    let attacks = Arc::new(hs256_attack_tokens());
    let mut tasks = Vec::new();
    for round in 0..16 {
        let attacks = Arc::clone(&attacks);
        tasks.push(tokio::spawn(async move {
            for (name, token) in attacks.iter() {
                let r = get_with_token(addr, "/me", token).await;
                assert_eq!(r.status, 401, "round {round}, {name}: {r:?}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    still_serving(addr, &valid_hs256()).await;
}

// ---------------------------------------------------------------------------------------------
// Revocation
// ---------------------------------------------------------------------------------------------

/// An issuer-shaped access token, signed with the issuer's secret, with this `exp`.
fn access_token(jti: &str, exp: u64) -> String {
    let body = json!({
        "sub": "alice", "iat": exp.saturating_sub(300), "exp": exp,
        "jti": jti, "sid": format!("session-{jti}"), "token_type": "access",
    });
    payload_is(body.to_string().as_bytes())
}

/// Revoked while its `exp` had already passed but the layer's 60 s leeway still accepts it:
/// the revocation must hold, since the layer would accept the token otherwise.
#[tokio::test]
async fn token_revoked_after_exp_within_the_leeway_stays_refused() {
    let issuer = hs256_issuer();
    let addr = serve(app(
        issuer.layer_builder::<TestClaims>().build().unwrap(),
        Arc::default(),
    ))
    .await;
    let token = access_token("after-exp", now() - 5);
    // Inside the leeway window: accepted.
    expect_ok(&get_with_token(addr, "/me", &token).await, "alice");
    issuer.revoke(&token).await.unwrap();
    let r = get_with_token(addr, "/me", &token).await;
    expect_invalid_token(&r, REVOKED);
    still_serving(addr, &issuer.issue("alice", &()).unwrap().access).await;
}

/// Revoked while live; once its `exp` has passed (but not `exp` + leeway) it must still be
/// refused. The one test that waits: about two seconds.
#[tokio::test]
async fn token_revoked_before_exp_stays_refused_after_exp_within_the_leeway() {
    let issuer = TokenIssuer::builder(SigningKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
        .access_lifetime(Duration::from_secs(1))
        .build()
        .unwrap();
    let addr = serve(app(
        issuer.layer_builder::<TestClaims>().build().unwrap(),
        Arc::default(),
    ))
    .await;
    let issued = now();
    let pair = issuer.issue("alice", &()).unwrap();
    expect_ok(&get_with_token(addr, "/me", &pair.access).await, "alice");
    issuer.revoke(&pair.access).await.unwrap();
    expect_invalid_token(&get_with_token(addr, "/me", &pair.access).await, REVOKED);
    // Wait until `exp` (at most `issued + 1`) is strictly in the past.
    while now() <= issued + 1 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = get_with_token(addr, "/me", &pair.access).await;
    expect_invalid_token(&r, REVOKED);
    still_serving(addr, &issuer.issue("alice", &()).unwrap().access).await;
}

/// A store at capacity with live revocations fails the next revoke (503) rather than
/// dropping one of them; the two stay effective.
#[tokio::test]
async fn full_revocation_store_refuses_a_third_revocation_and_keeps_the_live_ones() {
    let store = MemoryRevocationStore::new(2);
    let issuer = TokenIssuer::builder(SigningKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
        .revocation_store(store.clone())
        .build()
        .unwrap();
    let addr = serve(app(
        issuer.layer_builder::<TestClaims>().build().unwrap(),
        Arc::default(),
    ))
    .await;
    let tokens: Vec<String> = (0..3)
        .map(|_| issuer.issue("alice", &()).unwrap().access)
        .collect();
    issuer.revoke(&tokens[0]).await.unwrap();
    issuer.revoke(&tokens[1]).await.unwrap();
    let third = issuer.revoke(&tokens[2]).await;
    let direct = store.revoke("jti:one-more", now() + 3600).await;
    let observed = (
        third
            .as_ref()
            .map_err(|e| (matches!(e, IssueError::Store(_)), e.status().as_u16())),
        direct.is_err(),
        get_with_token(addr, "/me", &tokens[0])
            .await
            .status
            .as_u16(),
        get_with_token(addr, "/me", &tokens[1])
            .await
            .status
            .as_u16(),
    );
    assert_eq!(
        observed,
        (Err((true, 503)), true, 401, 401),
        "(third revoke: Err((is IssueError::Store, status)), direct revoke failed, \
         first revoked token's status, second's)"
    );
    for token in &tokens[..2] {
        expect_invalid_token(&get_with_token(addr, "/me", token).await, REVOKED);
    }
    // Its revocation failed, and the caller was told so: the third token still works.
    still_serving(addr, &tokens[2]).await;
}
