//! Tests of `introspection`.

//! A real introspection endpoint on loopback, and the behaviour of `lookup` over it:
//! the cache and the sharing of exchanges. The exchange itself: `client.rs`.

use std::convert::Infallible;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response};
use futures_util::future::join_all;

use super::cache::Outcome;
use super::*;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap()
}

/// How the endpoint answers one request.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) body: Vec<u8>,
    pub(super) delay: Duration,
    /// Sent in chunks without `Content-Length`.
    pub(super) chunked: bool,
}

impl Reply {
    pub(super) fn json(body: &str) -> Self {
        Reply {
            status: 200,
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
            chunked: false,
        }
    }

    pub(super) fn active() -> Self {
        Reply::json(r#"{"active":true,"sub":"ada"}"#)
    }

    pub(super) fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// One request as the endpoint saw it.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    pub(super) method: Method,
    pub(super) headers: HeaderMap,
    pub(super) body: String,
}

type Answerer = dyn Fn(&str) -> Reply + Send + Sync;

struct Server {
    answer: Box<Answerer>,
    calls: AtomicUsize,
    running: AtomicUsize,
    most_running: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
}

/// An endpoint serving on loopback until the test's runtime ends.
pub(super) struct Endpoint {
    pub(super) url: String,
    server: Arc<Server>,
}

impl Endpoint {
    /// Calls so far, counted as they arrive.
    pub(super) fn calls(&self) -> usize {
        self.server.calls.load(Ordering::SeqCst)
    }

    /// The most calls that were under way at one time.
    fn most_running(&self) -> usize {
        self.server.most_running.load(Ordering::SeqCst)
    }

    pub(super) fn seen(&self) -> Vec<Seen> {
        lock(&self.server.seen).clone()
    }

    pub(super) fn builder(&self) -> IntrospectorBuilder {
        Introspector::builder(&self.url, "https://issuer.example/").allow_insecure_http(true)
    }

    pub(super) fn introspector(&self) -> Introspector {
        self.builder().build().unwrap()
    }
}

/// Serves `answer(form body)` at `http://127.0.0.1:<port>/introspect`.
pub(super) async fn serve(answer: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Endpoint {
    let server = Arc::new(Server {
        answer: Box::new(answer),
        calls: AtomicUsize::new(0),
        running: AtomicUsize::new(0),
        most_running: AtomicUsize::new(0),
        seen: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .route("/introspect", axum::routing::any(handle))
        .route("/elsewhere", axum::routing::any(handle))
        .with_state(Arc::clone(&server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/introspect", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Endpoint { url, server }
}

async fn handle(
    State(server): State<Arc<Server>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    server.calls.fetch_add(1, Ordering::SeqCst);
    let body = String::from_utf8(body.to_vec()).unwrap();
    let reply = (server.answer)(&body);
    lock(&server.seen).push(Seen {
        method,
        headers,
        body,
    });
    let running = server.running.fetch_add(1, Ordering::SeqCst) + 1;
    server.most_running.fetch_max(running, Ordering::SeqCst);
    tokio::time::sleep(reply.delay).await;
    server.running.fetch_sub(1, Ordering::SeqCst);
    let body = if reply.chunked {
        let chunks: Vec<Result<Bytes, Infallible>> = reply
            .body
            .chunks(1024)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Body::from_stream(futures_util::stream::iter(chunks))
    } else {
        Body::from(reply.body)
    };
    Response::builder()
        .status(reply.status)
        .header("content-type", "application/json")
        .header("location", "/elsewhere")
        .body(body)
        .unwrap()
}

fn is_active(outcome: &Outcome) -> bool {
    matches!(outcome, Ok(Answer::Active(_)))
}

fn in_flight(introspector: &Introspector) -> usize {
    introspector.inner.answers.in_flight()
}

#[tokio::test]
async fn active_answers_are_cached() {
    let endpoint = serve(|_| Reply::active()).await;
    let introspector = endpoint.introspector();
    for _ in 0..3 {
        assert!(is_active(&introspector.lookup("t").await));
    }
    assert_eq!(endpoint.calls(), 1);
}

#[tokio::test]
async fn active_answer_is_cached_until_its_exp() {
    let exp = crate::clock::now() + 2;
    let endpoint = serve(move |_| Reply::json(&format!(r#"{{"active":true,"exp":{exp}}}"#))).await;
    let introspector = endpoint
        .builder()
        .max_cache_ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    assert!(is_active(&introspector.lookup("t").await));
    assert!(is_active(&introspector.lookup("t").await));
    assert_eq!(endpoint.calls(), 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(is_active(&introspector.lookup("t").await));
    assert_eq!(endpoint.calls(), 2);
}

#[tokio::test]
async fn active_answer_already_expired_is_returned_not_cached() {
    let endpoint = serve(|_| Reply::json(r#"{"active":true,"exp":1000}"#)).await;
    let introspector = endpoint.introspector();
    assert!(is_active(&introspector.lookup("t").await));
    assert!(is_active(&introspector.lookup("t").await));
    assert_eq!(endpoint.calls(), 2);
}

#[tokio::test]
async fn inactive_answers_are_cached_for_the_negative_ttl() {
    let endpoint = serve(|_| Reply::json(r#"{"active":false}"#)).await;
    let introspector = endpoint.introspector();
    for _ in 0..2 {
        assert!(matches!(
            introspector.lookup("t").await,
            Ok(Answer::Inactive)
        ));
    }
    assert_eq!(endpoint.calls(), 1);
}

#[tokio::test]
async fn zero_negative_ttl_caches_no_inactive_answer() {
    let endpoint = serve(|_| Reply::json(r#"{"active":false}"#)).await;
    let introspector = endpoint
        .builder()
        .negative_cache_ttl(Duration::ZERO)
        .build()
        .unwrap();
    for _ in 0..2 {
        assert!(matches!(
            introspector.lookup("t").await,
            Ok(Answer::Inactive)
        ));
    }
    assert_eq!(endpoint.calls(), 2);
}

#[tokio::test]
async fn errors_are_not_cached() {
    let endpoint = serve(|_| Reply {
        status: 500,
        ..Reply::json("{}")
    })
    .await;
    let introspector = endpoint.introspector();
    for _ in 0..2 {
        assert_eq!(
            introspector.lookup("t").await.unwrap_err(),
            IntrospectError::Status(500)
        );
    }
    assert_eq!(endpoint.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_lookups_of_one_token_share_one_call() {
    let endpoint = serve(|_| Reply::active().after(Duration::from_millis(300))).await;
    let introspector = endpoint.introspector();
    // Spawned: the lookup future is 'static and Send, and waiters run on many threads.
    let waiters = (0..50).map(|_| tokio::spawn(introspector.lookup("t")));
    let outcomes = join_all(waiters).await;
    assert!(outcomes.into_iter().all(|o| is_active(&o.unwrap())));
    assert_eq!(endpoint.calls(), 1);
    assert_eq!(in_flight(&introspector), 0);
}

#[tokio::test]
async fn lookups_of_different_tokens_do_not_wait_on_each_other() {
    let endpoint = serve(|_| Reply::active().after(Duration::from_millis(300))).await;
    let introspector = endpoint.introspector();
    let tokens: Vec<String> = (0..10).map(|i| format!("token-{i}")).collect();
    let outcomes = join_all(tokens.iter().map(|t| introspector.lookup(t))).await;
    assert!(outcomes.iter().all(is_active));
    assert_eq!(endpoint.calls(), 10);
    // All ten were at the endpoint at once: none queued behind another.
    assert_eq!(endpoint.most_running(), 10);
    assert_eq!(in_flight(&introspector), 0);
}

#[tokio::test]
async fn waiters_during_an_outage_share_one_timeout() {
    let endpoint = serve(|_| Reply::active().after(Duration::from_secs(2))).await;
    let introspector = endpoint
        .builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let outcomes = join_all((0..20).map(|_| introspector.lookup("t"))).await;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Err(IntrospectError::Timeout))),
        "{outcomes:?}"
    );
    assert_eq!(endpoint.calls(), 1);
    assert_eq!(in_flight(&introspector), 0);
    // The failure is not kept: the next lookup asks again.
    assert_eq!(
        introspector.lookup("t").await.unwrap_err(),
        IntrospectError::Timeout
    );
    assert_eq!(endpoint.calls(), 2);
}

#[tokio::test]
async fn a_dropped_leader_does_not_wedge_the_next_lookup() {
    let endpoint = serve(|_| Reply::active().after(Duration::from_millis(200))).await;
    let introspector = endpoint.introspector();
    let abandoned = tokio::time::timeout(Duration::from_millis(50), introspector.lookup("t"));
    assert!(abandoned.await.is_err());
    assert_eq!(
        in_flight(&introspector),
        0,
        "the abandoned exchange left its entry"
    );
    assert!(is_active(&introspector.lookup("t").await));
    assert_eq!(endpoint.calls(), 2);
}

#[tokio::test]
async fn dropping_one_waiter_leaves_the_shared_exchange_to_the_others() {
    let endpoint = serve(|_| Reply::active().after(Duration::from_millis(200))).await;
    let introspector = endpoint.introspector();
    let first = introspector.lookup("t");
    let second = introspector.lookup("t");
    assert!(
        tokio::time::timeout(Duration::from_millis(50), first)
            .await
            .is_err()
    );
    assert!(is_active(&second.await));
    assert_eq!(endpoint.calls(), 1);
    assert_eq!(in_flight(&introspector), 0);
}

#[test]
fn builder_refuses_plain_http_without_allow_insecure_http() {
    let error = Introspector::builder("http://127.0.0.1:8080/introspect", "iss")
        .build()
        .unwrap_err();
    assert!(
        matches!(error, ConfigError::InvalidIntrospection(_)),
        "{error}"
    );
    assert!(
        Introspector::builder("http://127.0.0.1:8080/introspect", "iss")
            .allow_insecure_http(true)
            .build()
            .is_ok()
    );
    let ftp = Introspector::builder("ftp://auth.example.com/introspect", "iss").build();
    assert!(matches!(ftp, Err(ConfigError::InvalidIntrospection(_))));
}

#[test]
fn builder_refuses_what_is_not_a_url() {
    for endpoint in ["not a url", "/introspect", ""] {
        let built = Introspector::builder(endpoint, "iss").build();
        assert!(
            matches!(built, Err(ConfigError::InvalidIntrospection(_))),
            "{endpoint:?}"
        );
    }
}

#[test]
fn builder_refuses_credentials_in_the_url_without_showing_them() {
    let endpoint = "https://api:hunter2@auth.example.com/introspect";
    let builder = Introspector::builder(endpoint, "iss");
    assert!(!format!("{builder:?}").contains("hunter2"));
    let error = builder.build().unwrap_err();
    assert!(matches!(error, ConfigError::InvalidIntrospection(_)));
    assert!(!error.to_string().contains("hunter2"));
}

#[test]
fn builder_refuses_a_bearer_credential_that_is_not_a_header_value() {
    let built = Introspector::builder("https://auth.example.com/i", "iss")
        .client_bearer("line\nbreak")
        .build();
    let error = built.unwrap_err();
    assert!(matches!(error, ConfigError::InvalidIntrospection(_)));
    assert!(!error.to_string().contains("break"));
}

#[test]
fn debug_never_shows_secrets() {
    let basic = Introspector::builder("https://auth.example.com/i", "iss")
        .client_basic("my-api", "s3cret-basic");
    let bearer =
        Introspector::builder("https://auth.example.com/i", "iss").client_bearer("s3cret-bearer");
    for shown in [
        format!("{basic:?}"),
        format!("{:?}", basic.build().unwrap()),
        format!("{bearer:?}"),
        format!("{:?}", bearer.build().unwrap()),
    ] {
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("auth.example.com"), "{shown}");
    }
}
