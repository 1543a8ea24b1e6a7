//! Shared by the integration tests: keys of every family, token minting, a loopback server
//! and a plain HTTP client.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::Path;

use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower_jwt_auth::VerificationKey;

pub mod dpop;
pub mod redis_server;
pub mod traces;

/// The claims type the tests deserialize into.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TestClaims {
    pub sub: String,
    #[serde(default)]
    pub scope: Option<String>,
}

/// A 64-byte HMAC secret: long enough for HS512.
pub const SECRET_A: &[u8] = b"test-secret-a-0123456789abcdef0123456789abcdef0123456789abcdef!!";
pub const SECRET_B: &[u8] = b"test-secret-b-0123456789abcdef0123456789abcdef0123456789abcdef!!";

/// Every algorithm, for loops and `.algorithms(..)`.
pub fn all_algorithms() -> impl Iterator<Item = Algorithm> {
    tower_jwt_auth::AlgorithmSet::all().iter()
}

/// Which of the two unrelated key pairs of each kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pair {
    A,
    B,
}

fn key_file(alg: Algorithm, pair: Pair, ext: &str) -> Vec<u8> {
    let kind = match alg {
        Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => "rsa",
        Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512 => "rsa",
        Algorithm::ES256 => "p256",
        Algorithm::ES384 => "p384",
        Algorithm::EdDSA => "ed25519",
        _ => panic!("no key file for {alg:?}"),
    };
    let suffix = if pair == Pair::A { "a" } else { "b" };
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/keys/{kind}_{suffix}.{ext}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// The public key's PEM text (for the key-confusion test).
pub fn public_pem(alg: Algorithm, pair: Pair) -> Vec<u8> {
    key_file(alg, pair, "pub")
}

pub fn encoding_key(alg: Algorithm, pair: Pair) -> EncodingKey {
    if is_hmac(alg) {
        return EncodingKey::from_secret(if pair == Pair::A { SECRET_A } else { SECRET_B })
            .unwrap();
    }
    let pem = key_file(alg, pair, "key");
    match alg {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
        _ => EncodingKey::from_rsa_pem(&pem),
    }
    .unwrap()
}

pub fn verification_key(alg: Algorithm, pair: Pair) -> VerificationKey {
    if is_hmac(alg) {
        return VerificationKey::hmac(alg, if pair == Pair::A { SECRET_A } else { SECRET_B })
            .unwrap();
    }
    VerificationKey::from_pem(alg, &key_file(alg, pair, "pub")).unwrap()
}

pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// `{"sub":"alice","exp":now+300}` merged with `extra`.
pub fn claims(extra: Value) -> Value {
    let mut base = serde_json::json!({ "sub": "alice", "exp": now() + 300 });
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

/// Signs `claims` with key pair `pair` of `alg`'s kind.
pub fn mint(alg: Algorithm, pair: Pair, claims: &Value) -> String {
    mint_with_header(Header::new(alg), pair, claims)
}

pub fn mint_with_header(header: Header, pair: Pair, claims: &Value) -> String {
    tower_jwt_auth::install_crypto_provider();
    jsonwebtoken::encode(&header, claims, &encoding_key(header.alg, pair)).unwrap()
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with a hand-written header JSON, signed over exactly those bytes.
pub fn mint_raw_header(header_json: &str, alg: Algorithm, pair: Pair, claims: &Value) -> String {
    mint_raw(header_json, claims.to_string().as_bytes(), alg, pair)
}

/// Serves `app` on an ephemeral loopback port until the test's runtime ends.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Where a test's requests go: a loopback socket, for what happens on the wire (HTTP/2,
/// framing, bodies, real clients), or the router itself through `oneshot`, for everything
/// else (no socket, no connection).
#[derive(Debug, Clone, Copy)]
pub enum Server {
    Loopback(SocketAddr),
    /// Leaked, so that a handle is `Copy` like an address: a few kilobytes per test.
    InProcess(&'static axum::Router),
}

impl From<SocketAddr> for Server {
    fn from(addr: SocketAddr) -> Self {
        Server::Loopback(addr)
    }
}

/// `app` answering through `oneshot`, in this task.
pub fn in_process(app: axum::Router) -> Server {
    Server::InProcess(Box::leak(Box::new(app)))
}

/// A response as the tests look at it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The `WWW-Authenticate` value, which every 401/400/403 must have.
    pub fn challenge(&self) -> &str {
        self.header("www-authenticate")
            .expect("no WWW-Authenticate header")
    }
}

/// Sends `method path` with `headers` to `to` (an HTTP/1.1 connection for a socket).
pub async fn send(
    to: impl Into<Server>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let headers: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    send_bytes(to, method, path, &headers).await
}

pub async fn get(to: impl Into<Server>, path: &str, headers: &[(&str, &str)]) -> Reply {
    send(to, "GET", path, headers).await
}

/// A gRPC call (`POST`, `content-type: application/grpc`) to `path` with a bearer token.
pub async fn grpc_with_token(to: impl Into<Server>, path: &str, token: &str) -> Reply {
    let bearer = format!("Bearer {token}");
    send(
        to,
        "POST",
        path,
        &[
            ("content-type", "application/grpc"),
            ("authorization", &bearer),
        ],
    )
    .await
}

/// An `on_validated` hook that refuses `sub` `mallory` (401) and lets everyone else by.
pub async fn refuse_mallory(
    claims: tower_jwt_auth::Claims<Value>,
) -> Result<http::Extensions, tower_jwt_auth::AuthError> {
    if claims["sub"] == "mallory" {
        return Err(tower_jwt_auth::AuthError::refused("user is disabled"));
    }
    Ok(http::Extensions::new())
}

pub async fn get_with_token(to: impl Into<Server>, path: &str, token: &str) -> Reply {
    get(to, path, &[("authorization", &format!("Bearer {token}"))]).await
}

/// A token with hand-written header JSON and raw payload bytes (need not be JSON), signed
/// over exactly those bytes.
pub fn mint_raw(header_json: &str, payload: &[u8], alg: Algorithm, pair: Pair) -> String {
    tower_jwt_auth::install_crypto_provider();
    let signing_input = format!("{}.{}", b64(header_json.as_bytes()), b64(payload));
    let sig = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &encoding_key(alg, pair), alg)
        .unwrap();
    format!("{signing_input}.{sig}")
}

/// Like [`send`], with header values given as raw bytes (e.g. obs-text above 0x7F).
pub async fn send_bytes(
    to: impl Into<Server>,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
) -> Reply {
    let to = to.into();
    let uri = match to {
        Server::Loopback(addr) => format!("http://{addr}{path}"),
        Server::InProcess(_) => path.to_owned(),
    };
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, http::HeaderValue::from_bytes(value).unwrap());
    }
    match to {
        Server::Loopback(_) => exchange(request.body(Full::new(Bytes::new())).unwrap()).await,
        Server::InProcess(app) => {
            use tower::ServiceExt;
            let request = request.body(axum::body::Body::empty()).unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            let (parts, body) = response.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            Reply {
                status: parts.status,
                headers: parts.headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            }
        }
    }
}

/// Sends `request` over a real HTTP/1.1 connection and collects the whole reply.
pub async fn exchange(request: Request<Full<Bytes>>) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
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

/// The exact `WWW-Authenticate` value of the default responder (realm `api`) for an
/// `invalid_token` rejection with this description.
pub fn invalid_token(description: &str) -> String {
    format!(r#"Bearer realm="api", error="invalid_token", error_description="{description}""#)
}

/// The same for `invalid_request`.
pub fn invalid_request(description: &str) -> String {
    format!(r#"Bearer realm="api", error="invalid_request", error_description="{description}""#)
}

/// The challenge when no credentials were sent.
pub const NO_CREDENTIALS: &str = r#"Bearer realm="api""#;
