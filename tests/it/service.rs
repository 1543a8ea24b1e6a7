//! The tower service on its own (no axum extractor, default features): readiness, the
//! pending-resolver path, `Validator` without tower, property tests over hostile requests,
//! and (feature `tracing`) what a rejection logs.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::support::*;
use http::{HeaderValue, Request, Response};
use jsonwebtoken::Header;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_jwt_auth::{
    Algorithm, AuthError, BoxKeyFuture, Claims, ErrorKind, JwtAuthLayer, KeyError, StaticKey,
    TokenHeader, TokenSource, Validator, VerificationKey,
};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

type KeyResult = Result<Arc<VerificationKey>, KeyError>;

/// What the inner service answers: the claims it found in the request's extensions.
fn describe(request: &Request<()>) -> String {
    match request.extensions().get::<Claims<TestClaims>>() {
        Some(c) => format!("sub={} alg={:?} kid={:?}", c.sub, c.alg().unwrap(), c.kid()),
        None => "anonymous".to_owned(),
    }
}

fn echo_fn(request: Request<()>) -> Ready<Result<Response<String>, Infallible>> {
    ready(Ok(Response::new(describe(&request))))
}

type EchoFn = fn(Request<()>) -> Ready<Result<Response<String>, Infallible>>;

/// An inner service that is always ready and answers at once.
fn echo() -> tower::util::ServiceFn<EchoFn> {
    tower::service_fn(echo_fn as EchoFn)
}

fn request(headers: &[(&str, &str)]) -> Request<()> {
    let mut builder = Request::get("/");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap()
}

fn with_token(token: &str) -> Request<()> {
    request(&[("authorization", &format!("Bearer {token}"))])
}

fn hs(claims: Value) -> String {
    mint(Algorithm::HS256, Pair::A, &claims)
}

fn hs_kid(kid: &str) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    mint_with_header(header, Pair::A, &claims(json!({})))
}

fn hs256_key() -> VerificationKey {
    verification_key(Algorithm::HS256, Pair::A)
}

/// A resolver whose future is `Pending` on its first poll (a `yield_now`), then the key.
fn yielding_resolver(
    key: VerificationKey,
) -> impl Fn(&TokenHeader<'_>) -> BoxKeyFuture + Send + Sync + 'static {
    let key = Arc::new(key);
    move |_: &TokenHeader<'_>| {
        let key = Arc::clone(&key);
        Box::pin(async move {
            tokio::task::yield_now().await;
            Ok(key)
        }) as BoxKeyFuture
    }
}

/// Pending first, then by `kid`: `good` the HS256 key, `down` unavailable (3 s), else none.
fn yielding_kid_resolver() -> impl Fn(&TokenHeader<'_>) -> BoxKeyFuture + Send + Sync + 'static {
    let key = Arc::new(hs256_key());
    move |header: &TokenHeader<'_>| {
        let result = match header.kid() {
            Some("good") => Ok(Arc::clone(&key)),
            Some("down") => Err(KeyError::unavailable(Some(Duration::from_secs(3)))),
            _ => Err(KeyError::not_found()),
        };
        Box::pin(async move {
            tokio::task::yield_now().await;
            result
        }) as BoxKeyFuture
    }
}

fn header_of(response: &Response<String>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// Polls once with a no-op waker; the future must be ready (every resolver and inner
/// service used with it is).
fn now_or_never<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("future was not ready"),
    }
}

/// `poll_ready` then `call`, synchronously.
fn call_now<S>(service: &mut S, request: Request<()>) -> Response<String>
where
    S: Service<Request<()>, Response = Response<String>>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    match service.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        other => panic!("service not ready: {:?}", other.map(|r| r.err())),
    }
    now_or_never(service.call(request)).expect("the service returned an error")
}

// ---------------------------------------------------------------------------------------------
// poll_ready
// ---------------------------------------------------------------------------------------------

/// Pending until opened; counts `poll_ready` calls; can be made to fail.
#[derive(Clone, Default)]
struct Gate {
    open: Arc<AtomicBool>,
    fail: Arc<AtomicBool>,
    polls: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
}

impl Service<Request<()>> for Gate {
    type Response = Response<String>;
    type Error = &'static str;
    type Future = Ready<Result<Response<String>, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            Poll::Ready(Err("inner poll_ready failed"))
        } else if self.open.load(Ordering::SeqCst) {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        ready(Ok(Response::new(describe(&request))))
    }
}

#[test]
fn poll_ready_forwards_to_inner() {
    let gate = Gate::default();
    let layer = JwtAuthLayer::<TestClaims>::builder(StaticKey::new(hs256_key()))
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap();
    let mut service = layer.layer(gate.clone());
    let mut cx = Context::from_waker(Waker::noop());

    assert!(service.poll_ready(&mut cx).is_pending());
    assert!(service.poll_ready(&mut cx).is_pending());
    assert_eq!(gate.polls.load(Ordering::SeqCst), 2);

    gate.open.store(true, Ordering::SeqCst);
    assert_eq!(service.poll_ready(&mut cx), Poll::Ready(Ok(())));
    assert_eq!(gate.polls.load(Ordering::SeqCst), 3);

    gate.fail.store(true, Ordering::SeqCst);
    assert_eq!(
        service.poll_ready(&mut cx),
        Poll::Ready(Err("inner poll_ready failed"))
    );
    assert_eq!(gate.polls.load(Ordering::SeqCst), 4);
    assert_eq!(gate.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn rejected_request_never_calls_inner() {
    let gate = Gate::default();
    gate.open.store(true, Ordering::SeqCst);
    let layer = JwtAuthLayer::<TestClaims>::builder(StaticKey::new(hs256_key()))
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap();
    let mut service = layer.layer(gate.clone());
    let bad = mint(Algorithm::HS256, Pair::B, &claims(json!({})));
    for request in [request(&[]), with_token(&bad), with_token("abc")] {
        let response = call_now(&mut service, request);
        assert_eq!(response.status(), 401);
    }
    assert_eq!(gate.calls.load(Ordering::SeqCst), 0);
    let response = call_now(&mut service, with_token(&hs(claims(json!({})))));
    assert_eq!(response.status(), 200);
    assert_eq!(gate.calls.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------------------------
// The service that was made ready is the one called
// ---------------------------------------------------------------------------------------------

/// Clones start not ready; `call` panics unless `poll_ready` was called on this very instance
/// since its last call.
struct Strict {
    ready: bool,
    calls: Arc<AtomicUsize>,
}

impl Strict {
    fn new(calls: &Arc<AtomicUsize>) -> Self {
        Strict {
            ready: false,
            calls: Arc::clone(calls),
        }
    }
}

impl Clone for Strict {
    fn clone(&self) -> Self {
        Strict::new(&self.calls)
    }
}

impl Service<Request<()>> for Strict {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.ready = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        assert!(
            self.ready,
            "inner service called without poll_ready on the same instance"
        );
        self.ready = false;
        self.calls.fetch_add(1, Ordering::SeqCst);
        ready(Ok(Response::new(describe(&request))))
    }
}

fn yielding_layer()
-> JwtAuthLayer<TestClaims, impl Fn(&TokenHeader<'_>) -> BoxKeyFuture + Send + Sync + 'static> {
    JwtAuthLayer::<TestClaims>::builder(yielding_resolver(hs256_key()))
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap()
}

#[tokio::test]
async fn pending_resolver_calls_the_instance_that_was_made_ready() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut service = yielding_layer().layer(Strict::new(&calls));
    let good = hs(claims(json!({})));
    let bad = mint(Algorithm::HS256, Pair::B, &claims(json!({})));

    // Several requests in flight at once through one service: ready, call, ready, call...
    let mut futures = Vec::new();
    for i in 0..9 {
        let token = if i % 3 == 2 { &bad } else { &good };
        service.ready().await.unwrap();
        futures.push(service.call(with_token(token)));
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "nothing runs before the key"
    );
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    for (i, handle) in handles.into_iter().enumerate() {
        let response = handle.await.unwrap().unwrap();
        if i % 3 == 2 {
            assert_eq!(response.status(), 401);
        } else {
            assert_eq!(response.status(), 200);
            assert_eq!(response.body(), "sub=alice alg=HS256 kid=None");
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 6);

    // The service left behind still works once made ready again.
    service.ready().await.unwrap();
    let response = service.call(with_token(&good)).await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn concurrent_clones_with_pending_resolver_all_succeed() {
    let calls = Arc::new(AtomicUsize::new(0));
    let service = yielding_layer().layer(Strict::new(&calls));
    let good = hs(claims(json!({})));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let mut service = service.clone();
            let request = with_token(&good);
            tokio::spawn(async move {
                service.ready().await.unwrap();
                service.call(request).await.unwrap()
            })
        })
        .collect();
    for task in tasks {
        let response = task.await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.body(), "sub=alice alg=HS256 kid=None");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 16);
}

/// tower's own `ConcurrencyLimit` panics when called without the permit `poll_ready` took.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_resolver_with_concurrency_limit_inside() {
    let service = ServiceBuilder::new()
        .layer(yielding_layer())
        .concurrency_limit(2)
        .service(echo());
    let good = hs(claims(json!({})));
    let bad = mint(Algorithm::HS256, Pair::B, &claims(json!({})));
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let service = service.clone();
            let token = if i % 4 == 3 {
                bad.clone()
            } else {
                good.clone()
            };
            tokio::spawn(async move { service.oneshot(with_token(&token)).await.unwrap() })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let response = task.await.unwrap();
        let expected = if i % 4 == 3 { 401 } else { 200 };
        assert_eq!(response.status(), expected, "request {i}");
    }

    // One service reused: each call after its own readiness.
    let mut service = service;
    for _ in 0..4 {
        service.ready().await.unwrap();
        let response = service.call(with_token(&good)).await.unwrap();
        assert_eq!(response.status(), 200);
    }
}

// ---------------------------------------------------------------------------------------------
// The async resolver path, end to end
// ---------------------------------------------------------------------------------------------

fn kid_layer()
-> JwtAuthLayer<TestClaims, impl Fn(&TokenHeader<'_>) -> BoxKeyFuture + Send + Sync + 'static> {
    JwtAuthLayer::<TestClaims>::builder(yielding_kid_resolver())
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap()
}

#[tokio::test]
async fn async_resolver_inserts_claims() {
    let service = kid_layer().layer(echo());
    let response = service.oneshot(with_token(&hs_kid("good"))).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), r#"sub=alice alg=HS256 kid=Some("good")"#);
}

#[tokio::test]
async fn async_resolver_rejects_bad_tokens() {
    let service = kid_layer().layer(echo());

    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("good".into());
    let other_secret = mint_with_header(header.clone(), Pair::B, &claims(json!({})));
    let expired = mint_with_header(
        header,
        Pair::A,
        &json!({ "sub": "alice", "exp": now() - 3600 }),
    );
    for (token, description, kind) in [
        (
            other_secret,
            "token signature is invalid",
            ErrorKind::InvalidSignature,
        ),
        (expired, "token has expired", ErrorKind::Expired),
        (
            hs_kid("nobody"),
            "no key matches the token",
            ErrorKind::UnknownKey,
        ),
    ] {
        let response = service.clone().oneshot(with_token(&token)).await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            header_of(&response, "www-authenticate").unwrap(),
            invalid_token(description)
        );
        assert_eq!(
            response
                .extensions()
                .get::<AuthError>()
                .map(AuthError::kind),
            Some(kind)
        );
        assert_eq!(response.body(), "");
    }
}

#[tokio::test]
async fn async_resolver_unavailable_is_503_with_retry_after() {
    let service = kid_layer().layer(echo());
    let response = service.oneshot(with_token(&hs_kid("down"))).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(header_of(&response, "retry-after").as_deref(), Some("3"));
    assert_eq!(header_of(&response, "www-authenticate"), None);
    let error = response.extensions().get::<AuthError>().unwrap();
    assert_eq!(error.kind(), ErrorKind::KeyUnavailable);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
}

#[tokio::test]
async fn async_resolver_unavailable_over_grpc_is_status_14() {
    let service = kid_layer().layer(echo());
    let request = request(&[
        ("authorization", &format!("Bearer {}", hs_kid("down"))),
        ("content-type", "application/grpc+proto"),
    ]);
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header_of(&response, "grpc-status").as_deref(), Some("14"));
    assert_eq!(
        header_of(&response, "grpc-message").as_deref(),
        Some("key source unavailable")
    );
    assert_eq!(
        header_of(&response, "content-type").as_deref(),
        Some("application/grpc")
    );
    assert_eq!(header_of(&response, "retry-after"), None);
    assert_eq!(response.body(), "");
}

#[tokio::test]
async fn grpc_rejections_map_to_grpc_codes() {
    let layer = JwtAuthLayer::<TestClaims>::builder(yielding_kid_resolver())
        .algorithms([Algorithm::HS256])
        .required_scopes(["admin"])
        .build()
        .unwrap();
    let service = layer.layer(echo());
    let grpc = ("content-type", "application/grpc");
    let cases = [
        (request(&[grpc]), "16"),
        (
            request(&[
                grpc,
                ("authorization", &format!("Bearer {}", hs_kid("nobody"))),
            ]),
            "16",
        ),
        (
            request(&[
                grpc,
                ("authorization", &format!("Bearer {}", hs_kid("good"))),
            ]),
            "7",
        ),
    ];
    for (request, code) in cases {
        let response = service.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(header_of(&response, "grpc-status").as_deref(), Some(code));
    }
}

#[test]
fn ready_resolver_unavailable_is_503_with_retry_after() {
    let resolver = |_: &TokenHeader<'_>| {
        ready(KeyResult::Err(KeyError::unavailable(Some(
            Duration::from_secs(3),
        ))))
    };
    let layer = JwtAuthLayer::<TestClaims>::builder(resolver)
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap();
    let mut service = layer.layer(echo());
    let response = call_now(&mut service, with_token(&hs(claims(json!({})))));
    assert_eq!(response.status(), 503);
    assert_eq!(header_of(&response, "retry-after").as_deref(), Some("3"));
}

// ---------------------------------------------------------------------------------------------
// Validator without tower
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn validator_validates_directly() {
    let validator = Validator::<TestClaims>::builder(StaticKey::new(
        verification_key(Algorithm::EdDSA, Pair::A).with_kid("ed"),
    ))
    .algorithms([Algorithm::EdDSA])
    .audience("queue")
    .build_validator()
    .unwrap();
    let exp = now() + 120;
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("ed".into());
    let token = mint_with_header(
        header,
        Pair::A,
        &json!({ "sub": "worker", "exp": exp, "aud": ["queue"] }),
    );
    let verified = validator.validate(&token).await.unwrap();
    assert_eq!(verified.sub, "worker");
    assert_eq!(verified.registered().exp, Some(exp));
    assert!(verified.registered().aud.contains("queue"));
    assert_eq!(verified.alg(), Some(Algorithm::EdDSA));
    assert_eq!(verified.kid(), Some("ed"));

    let kind = |token: String| {
        let validator = validator.clone();
        async move { validator.validate(&token).await.unwrap_err().kind() }
    };
    let aud = json!({ "aud": "queue" });
    assert_eq!(kind("abc".into()).await, ErrorKind::Malformed);
    assert_eq!(
        kind(format!("Bearer {token}")).await,
        ErrorKind::Malformed,
        "the validator takes the bare token"
    );
    assert_eq!(
        kind(mint(Algorithm::EdDSA, Pair::B, &claims(aud.clone()))).await,
        ErrorKind::InvalidSignature
    );
    assert_eq!(
        kind(mint(Algorithm::EdDSA, Pair::A, &claims(json!({})))).await,
        ErrorKind::InvalidAudience
    );
    assert_eq!(
        kind(mint(
            Algorithm::EdDSA,
            Pair::A,
            &json!({ "sub": "w", "aud": "queue", "exp": now() - 3600 })
        ))
        .await,
        ErrorKind::Expired
    );
    assert_eq!(
        kind(mint(Algorithm::ES256, Pair::A, &claims(aud.clone()))).await,
        ErrorKind::AlgorithmNotAllowed
    );
    assert_eq!(
        kind(format!("{token}{}", "A".repeat(9000))).await,
        ErrorKind::TooLarge
    );
}

#[tokio::test]
async fn validator_checks_scopes_and_claim_checks() {
    let validator = Validator::<TestClaims>::builder(StaticKey::new(hs256_key()))
        .algorithms([Algorithm::HS256])
        .required_scopes(["write"])
        .check_claims(|c: &Claims<TestClaims>| c.sub != "mallory")
        .build_validator()
        .unwrap();
    assert!(
        validator
            .validate(&hs(claims(json!({ "scope": "read write" }))))
            .await
            .is_ok()
    );
    let e = validator
        .validate(&hs(claims(json!({ "scope": "read" }))))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.status().as_u16(), e.required_scope()),
        (ErrorKind::InsufficientScope, 403, Some("write"))
    );
    let e = validator
        .validate(&hs(claims(json!({ "sub": "mallory", "scope": "write" }))))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ClaimCheckFailed);
}

#[tokio::test]
async fn validator_with_pending_resolver() {
    let validator = Validator::<TestClaims>::builder(yielding_kid_resolver())
        .algorithms([Algorithm::HS256])
        .build_validator()
        .unwrap();
    assert_eq!(
        validator.validate(&hs_kid("good")).await.unwrap().sub,
        "alice"
    );
    let e = validator.validate(&hs_kid("down")).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.status().as_u16(), e.retry_after()),
        (ErrorKind::KeyUnavailable, 503, Some(Duration::from_secs(3)))
    );
    assert_eq!(
        validator.validate(&hs_kid("x")).await.unwrap_err().kind(),
        ErrorKind::UnknownKey
    );
}

#[test]
fn layer_exposes_its_validator() {
    let layer = JwtAuthLayer::<TestClaims>::builder(StaticKey::new(hs256_key()))
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap();
    let claims = now_or_never(layer.validator().validate(&hs(claims(json!({}))))).unwrap();
    assert_eq!(claims.sub, "alice");
}

/// Decoded headers and payloads on both sides of 1 KiB verify alike.
#[test]
fn token_parts_around_one_kib_are_accepted() {
    let validator = Validator::<TestClaims>::builder(StaticKey::new(hs256_key()))
        .algorithms([Algorithm::HS256])
        .build_validator()
        .unwrap();
    let base = claims(json!({ "pad": "" })).to_string().len();
    for target in 990..1060 {
        let pad = "p".repeat(target - base);
        let payload = claims(json!({ "pad": pad }));
        assert_eq!(payload.to_string().len(), target);
        let token = hs(payload);
        let result = now_or_never(validator.validate(&token));
        assert!(result.is_ok(), "payload of {target} bytes: {result:?}");

        let kid = "k".repeat(target - r#"{"alg":"HS256","kid":""}"#.len());
        let header_json = format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#);
        assert_eq!(header_json.len(), target);
        let token = mint_raw_header(&header_json, Algorithm::HS256, Pair::A, &claims(json!({})));
        let result = now_or_never(validator.validate(&token));
        assert!(result.is_ok(), "header of {target} bytes: {result:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests: no input panics; every answer is 200, 400 or 401
// ---------------------------------------------------------------------------------------------

type PropLayer = JwtAuthLayer<TestClaims>;

fn prop_layer() -> PropLayer {
    JwtAuthLayer::<TestClaims>::builder(StaticKey::new(hs256_key()))
        .algorithms([Algorithm::HS256, Algorithm::RS256, Algorithm::ES256])
        .token_sources([
            TokenSource::bearer(),
            TokenSource::cookie("at"),
            TokenSource::header(http::HeaderName::from_static("x-token")),
        ])
        .build()
        .unwrap()
}

/// Sends a request with these raw header values; checks the status and that a rejection's
/// challenge echoes nothing of a token-like value.
fn check(headers: &[(&'static str, Vec<u8>)]) -> Result<u16, TestCaseError> {
    let mut builder = Request::get("/");
    for (name, value) in headers {
        let value = HeaderValue::from_bytes(value)
            .map_err(|e| TestCaseError::reject(format!("not a header value: {e}")))?;
        builder = builder.header(*name, value);
    }
    let mut service = prop_layer().layer(echo());
    let response = call_now(&mut service, builder.body(()).unwrap());
    let status = response.status().as_u16();
    prop_assert!(
        matches!(status, 200 | 400 | 401),
        "status {status} for {headers:?}"
    );
    if status != 200 {
        let challenge = header_of(&response, "www-authenticate").expect("a challenge");
        prop_assert!(challenge.starts_with(r#"Bearer realm="api""#));
        prop_assert!(response.extensions().get::<AuthError>().is_some());
        for (_, value) in headers {
            for window in value.windows(12) {
                if window.iter().all(|b| b.is_ascii_alphanumeric()) {
                    let window = std::str::from_utf8(window).unwrap();
                    prop_assert!(!challenge.contains(window), "{challenge} echoes {window}");
                }
            }
        }
    }
    Ok(status)
}

/// Bytes a `HeaderValue` accepts: HTAB, visible ASCII and space, obs-text.
fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            1 => Just(b'\t'),
            8 => 0x20u8..0x7f,
            2 => 0x80u8..=0xff,
        ],
        0..max,
    )
}

fn b64_segment(max: usize) -> impl Strategy<Value = String> {
    prop::string::string_regex(&format!("[A-Za-z0-9_=+/~.-]{{0,{max}}}")).unwrap()
}

fn scheme() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("Bearer ".to_owned()),
        Just("bearer  ".to_owned()),
        Just("BEARER".to_owned()),
        Just("Basic ".to_owned()),
    ]
}

fn good_token() -> String {
    hs(claims(json!({})))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_authorization_bytes_never_panic(scheme in scheme(), value in header_bytes(160)) {
        let mut bytes = scheme.into_bytes();
        bytes.extend(value);
        check(&[("authorization", bytes)])?;
    }

    #[test]
    fn random_cookie_strings_never_panic(
        cookie in header_bytes(160),
        name in prop_oneof![Just("at="), Just("x=1; at="), Just(""), Just("at=\"")],
        token in b64_segment(120),
    ) {
        let mut bytes = format!("{name}{token}").into_bytes();
        bytes.extend(cookie);
        check(&[("cookie", bytes)])?;
    }

    #[test]
    fn random_token_like_strings_never_panic(
        scheme in scheme(),
        h in b64_segment(80),
        p in b64_segment(200),
        s in b64_segment(90),
        dots in 0usize..4,
    ) {
        let token = match dots {
            0 => format!("{h}{p}{s}"),
            1 => format!("{h}.{p}{s}"),
            2 => format!("{h}.{p}.{s}"),
            _ => format!("{h}.{p}.{s}.{h}"),
        };
        check(&[("authorization", format!("{scheme}{token}").into_bytes())])?;
    }

    #[test]
    fn base64_of_random_json_never_panics(
        header in prop_oneof![
            Just(r#"{"alg":"HS256"}"#.to_owned()),
            Just(r#"{"alg":"RS256","kid":"x"}"#.to_owned()),
            Just(r#"{"alg":"none"}"#.to_owned()),
            "\\PC{0,60}",
        ],
        payload in "\\PC{0,120}",
        signature in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let token = format!("{}.{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()), b64(&signature));
        check(&[("authorization", format!("Bearer {token}").into_bytes())])?;
    }

    #[test]
    fn mutated_valid_tokens_never_panic(index in any::<prop::sample::Index>(), c in b64_segment(3)) {
        let token = good_token();
        let i = index.index(token.len());
        let mutated = format!("{}{c}{}", &token[..i], &token[i + 1..]);
        let status = check(&[("x-token", mutated.clone().into_bytes())])?;
        if mutated == token {
            prop_assert_eq!(status, 200);
        }
    }

    #[test]
    fn signed_claims_of_any_shape_never_panic(
        exp in prop_oneof![
            Just(json!(null)),
            any::<i64>().prop_map(|v| json!(v)),
            any::<u64>().prop_map(|v| json!(v)),
            any::<f64>().prop_filter("finite", |v| v.is_finite()).prop_map(|v| json!(v)),
            Just(json!("soon")),
            Just(json!(now() + 100)),
        ],
        nbf in prop_oneof![Just(json!(null)), any::<u64>().prop_map(|v| json!(v)), Just(json!([]))],
        aud in prop_oneof![Just(json!(null)), Just(json!("x")), Just(json!([])), Just(json!([1])), Just(json!({}))],
        sub in prop_oneof![Just(json!("alice")), Just(json!(1)), Just(json!(null))],
        scope in prop_oneof![Just(json!("read")), Just(json!(["read"])), Just(json!(null))],
    ) {
        let mut object = serde_json::Map::new();
        for (k, v) in [("exp", exp), ("nbf", nbf), ("aud", aud), ("sub", sub), ("scope", scope)] {
            if !v.is_null() {
                object.insert(k.to_owned(), v);
            }
        }
        let token = hs(Value::Object(object));
        check(&[("authorization", format!("Bearer {token}").into_bytes())])?;
    }

    #[test]
    fn validate_any_string_never_panics(token in "\\PC{0,300}") {
        let validator = prop_layer().validator().clone();
        let result = now_or_never(validator.validate(&token));
        prop_assert!(result.is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// Tracing (feature `tracing`)
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "tracing")]
use crate::support::traces::capture_logs;

#[cfg(feature = "tracing")]
fn hs256_validator() -> Validator<TestClaims> {
    Validator::<TestClaims>::builder(StaticKey::new(hs256_key()))
        .algorithms([Algorithm::HS256])
        .build_validator()
        .unwrap()
}

/// No 12-byte window of any token appears in the logs.
#[cfg(feature = "tracing")]
#[track_caller]
fn assert_tokens_not_logged(logs: &str, tokens: &[String]) {
    for token in tokens {
        assert!(!logs.contains(token.as_str()), "token logged:\n{logs}");
        for part in token.split('.').filter(|p| p.len() >= 8) {
            assert!(!logs.contains(part), "token part {part:?} logged:\n{logs}");
        }
        for window in token.as_bytes().windows(12) {
            let window = std::str::from_utf8(window).unwrap();
            assert!(
                !logs.contains(window),
                "token text {window:?} logged:\n{logs}"
            );
        }
    }
}

#[cfg(feature = "tracing")]
#[test]
fn rejection_logs_kind_alg_kid_but_never_the_token() {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("key-7".into());
    let wrong_secret = mint_with_header(header.clone(), Pair::B, &claims(json!({})));
    let expired = mint_with_header(
        header,
        Pair::A,
        &json!({ "sub": "alice", "exp": now() - 3600 }),
    );
    let es = mint(Algorithm::ES256, Pair::A, &claims(json!({})));
    let tokens = [wrong_secret, expired, es];

    let logs = capture_logs(|| {
        let layer = JwtAuthLayer::<TestClaims>::builder(StaticKey::new(hs256_key()))
            .algorithms([Algorithm::HS256])
            .build()
            .unwrap();
        let mut service = layer.layer(echo());
        for token in &tokens {
            let response = call_now(&mut service, with_token(token));
            assert_eq!(response.status(), 401);
        }
        // Request-level refusals are logged too, without the header's contents.
        let response = call_now(&mut service, request(&[]));
        assert_eq!(response.status(), 401);
        let two_parts = format!("Bearer {} {}", tokens[0], tokens[1]);
        let response = call_now(&mut service, request(&[("authorization", &two_parts)]));
        assert_eq!(response.status(), 400);
    });

    for expected in [
        "kind=InvalidSignature",
        "kind=Expired",
        "kind=AlgorithmNotAllowed",
        "kind=MissingToken",
        "kind=InvalidRequest",
        "alg=Some(HS256)",
        "alg=Some(ES256)",
        "kid=Some(\"key-7\")",
    ] {
        assert!(logs.contains(expected), "{expected:?} not logged:\n{logs}");
    }
    assert_eq!(logs.lines().count(), 5, "one event per rejection:\n{logs}");
    assert_tokens_not_logged(&logs, &tokens);
}

/// The `tracing` feature promises an event for every rejection; tokens that are not even a
/// compact JWS, or whose header is not base64url, are rejections too.
#[cfg(feature = "tracing")]
#[test]
fn malformed_token_rejection_is_logged() {
    let good = hs(claims(json!({})));
    let (_, rest) = good.split_once('.').unwrap();
    let tokens = [
        "abcdefghijklmnopqrstuvwxyz".to_owned(),
        format!("{rest}.{rest}"),
        format!("a{good}"),
    ];
    for token in &tokens {
        let logs = capture_logs(|| {
            let error = now_or_never(hs256_validator().validate(token)).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Malformed);
        });
        assert!(
            logs.contains("kind=Malformed"),
            "rejection of {token:?} not logged:\n{logs}"
        );
        assert_tokens_not_logged(&logs, std::slice::from_ref(token));
    }
}
