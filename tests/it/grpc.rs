//! The layer in front of a real tonic server on loopback, called by a real tonic client, by
//! a raw HTTP/2 client (to see the trailers-only wire shape) and by Python's grpcio.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::support::*;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::body::Body;
use tonic::metadata::MetadataValue;
use tonic::server::NamedService;
use tonic::transport::{Channel, Server};
use tonic::{Code, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tower::Service;
use tower_jwt_auth::{
    Algorithm, Claims, JwtAuthLayer, KeyError, KeyResolver, KeySet, StaticKey, TokenHeader,
};

/// Serves `service` behind `layer` on an ephemeral loopback port until the test ends.
async fn serve<R, S>(layer: JwtAuthLayer<TestClaims, R>, service: S) -> SocketAddr
where
    R: KeyResolver,
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Server::builder().layer(layer).add_service(service);
    tokio::spawn(async move {
        router
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .unwrap()
    });
    addr
}

/// The stock health service (overall status SERVING) behind `layer`.
async fn serve_health<R: KeyResolver>(layer: JwtAuthLayer<TestClaims, R>) -> SocketAddr {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    serve(layer, health).await
}

/// HS256 keys looked up by `kid`: only "main" (secret A) is known.
fn layer() -> JwtAuthLayer<TestClaims, KeySet> {
    let key = verification_key(Algorithm::HS256, Pair::A).with_kid("main");
    JwtAuthLayer::<TestClaims>::builder(KeySet::new([key]))
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap()
}

fn token_with(kid: &str, pair: Pair, claims: &serde_json::Value) -> String {
    let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    mint_with_header(header, pair, claims)
}

fn good_token() -> String {
    token_with("main", Pair::A, &claims(json!({ "scope": "read" })))
}

/// Health/Check with these `authorization` metadata values (none, one, or several).
async fn check(addr: SocketAddr, authorization: &[&str]) -> Result<ServingStatus, Status> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut request = tonic::Request::new(HealthCheckRequest::default());
    for value in authorization {
        let value = MetadataValue::try_from(*value).unwrap();
        request.metadata_mut().append("authorization", value);
    }
    let response = HealthClient::new(channel).check(request).await?;
    Ok(response.into_inner().status())
}

async fn check_token(addr: SocketAddr, token: &str) -> Result<ServingStatus, Status> {
    check(addr, &[&format!("Bearer {token}")]).await
}

/// A refusal with `code` whose message says something and gives nothing of `token` away.
#[track_caller]
fn assert_refused(result: Result<ServingStatus, Status>, code: Code, token: &str) {
    let status = result.expect_err("the call should have been refused");
    assert_eq!(status.code(), code, "{status:?}");
    let message = status.message();
    assert!(!message.is_empty(), "{status:?}");
    for part in token.split('.').filter(|p| p.len() >= 8) {
        assert!(
            !message.contains(part),
            "message leaks the token: {message}"
        );
    }
}

#[tokio::test]
async fn valid_token_is_serving() {
    let addr = serve_health(layer()).await;
    assert_eq!(
        check_token(addr, &good_token()).await.unwrap(),
        ServingStatus::Serving
    );
    // The scheme is case-insensitive over gRPC metadata too.
    let lower = format!("bearer {}", good_token());
    assert_eq!(
        check(addr, &[&lower]).await.unwrap(),
        ServingStatus::Serving
    );
}

#[tokio::test]
async fn no_token_is_unauthenticated() {
    let addr = serve_health(layer()).await;
    let status = check(addr, &[]).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    // Another scheme is no bearer token at all.
    let status = check(addr, &["Basic dXNlcjpwYXNz"]).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}

#[tokio::test]
async fn bad_tokens_are_unauthenticated_without_leaking_them() {
    let addr = serve_health(layer()).await;
    let bad_signature = token_with("main", Pair::B, &claims(json!({})));
    let expired = token_with(
        "main",
        Pair::A,
        &json!({ "sub": "alice", "exp": now() - 3600 }),
    );
    let alg_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT","kid":"main"}"#),
        b64(claims(json!({})).to_string().as_bytes())
    );
    // The same, keeping a real signature: refused for its header, not its shape.
    let alg_none_signed = {
        let signed = good_token();
        let signature = signed.rsplit('.').next().unwrap().to_owned();
        format!("{alg_none}{signature}")
    };
    let unknown_kid = token_with("someone-else", Pair::A, &claims(json!({})));
    for (case, token) in [
        ("bad signature", bad_signature),
        ("expired", expired),
        ("alg none", alg_none),
        ("alg none with a signature", alg_none_signed),
        ("unknown kid", unknown_kid),
        ("not a jwt", "not-a-jwt-at-all".to_owned()),
    ] {
        let result = check_token(addr, &token).await;
        eprintln!("{case}: {result:?}");
        assert_refused(result, Code::Unauthenticated, &token);
    }
}

#[tokio::test]
async fn malformed_requests_are_unauthenticated_not_http_400() {
    let addr = serve_health(layer()).await;
    let token = good_token();
    let twice = format!("Bearer {token}");
    for (case, values) in [
        ("empty bearer", vec!["Bearer"]),
        ("bearer and a space", vec!["Bearer "]),
        (
            "two authorization values",
            vec![twice.as_str(), twice.as_str()],
        ),
        ("not a b64token", vec!["Bearer a,b"]),
    ] {
        let result = check(addr, &values).await;
        eprintln!("{case}: {result:?}");
        assert_refused(result, Code::Unauthenticated, &token);
    }
}

#[tokio::test]
async fn missing_scope_is_permission_denied() {
    let key = StaticKey::new(verification_key(Algorithm::HS256, Pair::A));
    let layer = JwtAuthLayer::<TestClaims>::builder(key)
        .algorithms([Algorithm::HS256])
        .required_scopes(["admin"])
        .build()
        .unwrap();
    let addr = serve_health(layer).await;
    let read_only = mint(
        Algorithm::HS256,
        Pair::A,
        &claims(json!({ "scope": "read" })),
    );
    assert_refused(
        check_token(addr, &read_only).await,
        Code::PermissionDenied,
        &read_only,
    );
    let admin = mint(
        Algorithm::HS256,
        Pair::A,
        &claims(json!({ "scope": "read admin" })),
    );
    assert_eq!(
        check_token(addr, &admin).await.unwrap(),
        ServingStatus::Serving
    );
}

/// One gRPC service guarded on its own (`add_service(guard.layer(svc))`, which needs the
/// `tonic` feature's `NamedService`), behind the server-wide layer.
#[tokio::test]
async fn a_guard_on_one_grpc_service_answers_permission_denied() {
    let key = StaticKey::new(verification_key(Algorithm::HS256, Pair::A));
    let auth = JwtAuthLayer::<TestClaims>::builder(key)
        .algorithms([Algorithm::HS256])
        .roles_claim("realm_access.roles")
        .build()
        .unwrap();
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let guard = auth.require(tower_jwt_auth::Requirement::any_of([
        tower_jwt_auth::Requirement::scope("ops"),
        tower_jwt_auth::Requirement::role("sre"),
    ]));
    let guarded = tower::Layer::layer(&guard, health);
    let addr = serve(auth, guarded).await;
    let reader = mint(
        Algorithm::HS256,
        Pair::A,
        &claims(json!({ "scope": "read" })),
    );
    assert_refused(
        check_token(addr, &reader).await,
        Code::PermissionDenied,
        &reader,
    );
    let ops = mint(
        Algorithm::HS256,
        Pair::A,
        &claims(json!({ "scope": "ops" })),
    );
    assert_eq!(
        check_token(addr, &ops).await.unwrap(),
        ServingStatus::Serving
    );
    let sre = mint(
        Algorithm::HS256,
        Pair::A,
        &claims(json!({ "realm_access": { "roles": ["sre"] } })),
    );
    assert_eq!(
        check_token(addr, &sre).await.unwrap(),
        ServingStatus::Serving
    );
    assert_refused(
        check_token(addr, "garbage").await,
        Code::Unauthenticated,
        "garbage",
    );
}

#[tokio::test]
async fn key_source_down_is_unavailable() {
    let resolver = |_h: &TokenHeader<'_>| std::future::ready(Err(KeyError::unavailable(None)));
    let layer = JwtAuthLayer::<TestClaims>::builder(resolver)
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap();
    let addr = serve_health(layer).await;
    let token = good_token();
    assert_refused(check_token(addr, &token).await, Code::Unavailable, &token);
}

/// A health service that is SERVING only for a caller whose claims it finds in the
/// request's extensions, with the expected `sub`; it records what it saw.
#[derive(Clone, Default)]
struct ClaimsProbe {
    seen: Arc<Mutex<Vec<TestClaims>>>,
}

#[tonic::async_trait]
impl Health for ClaimsProbe {
    async fn check(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<HealthCheckResponse>, Status> {
        let claims = request
            .extensions()
            .get::<Claims<TestClaims>>()
            .ok_or_else(|| Status::internal("no claims in the request's extensions"))?;
        self.seen.lock().unwrap().push(claims.custom().clone());
        if claims.sub != "alice" || claims.registered().sub.as_deref() != Some("alice") {
            return Err(Status::internal(format!("unexpected sub {:?}", claims.sub)));
        }
        Ok(tonic::Response::new(HealthCheckResponse {
            status: ServingStatus::Serving.into(),
        }))
    }

    type WatchStream = tokio_stream::Empty<Result<HealthCheckResponse, Status>>;

    async fn watch(
        &self,
        _request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("watch is not part of this test"))
    }
}

#[tokio::test]
async fn claims_reach_the_rpc_handler() {
    let probe = ClaimsProbe::default();
    let addr = serve(layer(), HealthServer::new(probe.clone())).await;
    assert_eq!(
        check_token(addr, &good_token()).await.unwrap(),
        ServingStatus::Serving
    );
    let seen = probe.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [TestClaims {
            sub: "alice".into(),
            scope: Some("read".into()),
        }]
    );
    // A refused call never reaches the handler.
    assert!(check(addr, &[]).await.is_err());
    assert_eq!(probe.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn rejection_is_trailers_only_on_the_wire() {
    let addr = serve_health(layer()).await;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(connection);
    // One length-prefixed message: uncompressed, zero bytes (an empty HealthCheckRequest).
    let request = http::Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);
    let headers = response.headers().clone();
    assert_eq!(headers["grpc-status"], "16", "{headers:?}");
    assert!(!headers["grpc-message"].is_empty(), "{headers:?}");
    let content_type = headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("application/grpc"), "{headers:?}");
    let body = response.into_body().collect().await.unwrap();
    // Trailers-only: the status came in the headers, so no trailers frame follows.
    assert!(body.trailers().is_none(), "{:?}", body.trailers());
    assert!(body.to_bytes().is_empty());
}

/// What the interop script needs from Python, checked before running it.
const PYTHON_PROBE: &str = "import grpc, grpc_health.v1.health_pb2, grpc_health.v1.health_pb2_grpc";

/// A gRPC client in another language: grpcio calls Health/Check without and with a token.
///
/// Needs grpcio, which `scripts/test` installs in a virtualenv before running the ignored
/// tests too.
#[tokio::test]
#[ignore = "needs Python grpcio; run scripts/test"]
async fn python_grpcio_client_interop() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let probe = std::process::Command::new(&python)
        .args(["-c", PYTHON_PROBE])
        .output();
    if !matches!(&probe, Ok(out) if out.status.success()) {
        let why = match &probe {
            Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
            Err(e) => format!("{python}: {e}"),
        };
        panic!(
            "the interop test needs: python3 -m pip install grpcio grpcio-health-checking\n{why}"
        );
    }

    // Like the example: HS256 from a shared secret, the stock health service.
    let key = StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap();
    let layer = JwtAuthLayer::<TestClaims>::builder(key)
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap();
    let addr = serve_health(layer).await;
    let token = mint(
        Algorithm::HS256,
        Pair::A,
        &claims(json!({ "sub": "demo-user", "scope": "read" })),
    );
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/grpc_health_check.py"
    );
    // Blocking wait off the runtime's threads, so the server keeps answering meanwhile.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .arg(addr.to_string())
            .arg(token)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("--- stdout\n{stdout}--- stderr\n{stderr}");
    assert!(output.status.success(), "{:?}", output.status);
}
