//! [`Introspector`]: asks an authorization server about opaque (non-JWT) access tokens
//! through RFC 7662 token introspection (feature `introspection`).
//!
//! An opaque token carries nothing to verify locally, so each one costs a round trip to
//! the server that issued it. To keep that affordable and safe under load:
//!
//! - answers are cached, keyed by the token's SHA-256 (the token itself is never kept):
//!   an active one until its `exp`, at most [`max_cache_ttl`](IntrospectorBuilder::max_cache_ttl);
//!   an inactive one for [`negative_cache_ttl`](IntrospectorBuilder::negative_cache_ttl);
//!   a failure never;
//! - concurrent requests with the same uncached token share one POST and its result, so
//!   an outage costs one timeout per token, not one per waiting request;
//! - each exchange is bounded by a timeout and a body size cap, goes to `https` only, and
//!   follows no redirect (a redirect would re-send the token elsewhere);
//! - an answer is active only when its `active` member is the JSON boolean `true`; an
//!   error, a non-200 status or a body that is not a JSON object is an outage (503), never
//!   an acceptance.
//!
//! ```
//! use std::time::Duration;
//! use tower_jwt_auth::introspection::Introspector;
//!
//! let introspector = Introspector::builder(
//!     "https://auth.example.com/oauth2/introspect",
//!     "https://auth.example.com/",
//! )
//! .client_basic("my-api", "the client secret")
//! .max_cache_ttl(Duration::from_secs(30))
//! .build()?;
//! assert_eq!(introspector.issuer(), "https://auth.example.com/");
//! assert!(!format!("{introspector:?}").contains("the client secret"));
//!
//! // Plain http is refused unless asked for (tests on loopback).
//! let insecure = Introspector::builder("http://auth.example.com/introspect", "x").build();
//! assert!(insecure.is_err());
//! # Ok::<(), tower_jwt_auth::ConfigError>(())
//! ```

mod cache;
mod client;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use self::cache::Answers;
pub(crate) use self::client::IntrospectError;
use self::client::{Client, ClientAuth, Limits};
use crate::ConfigError;

/// What the authorization server said about a token.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// `"active": true`.
    Active(Active),
    /// Anything else: the token is not (or no longer) valid.
    Inactive,
}

/// An active answer.
#[derive(Clone)]
pub(crate) struct Active {
    /// The response object, byte for byte as sent, for the caller to read claims from.
    pub(crate) json: Arc<[u8]>,
}

impl fmt::Debug for Active {
    /// The length only: the answer describes a user.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Active({} bytes)", self.json.len())
    }
}

/// An RFC 7662 introspection endpoint of one authorization server (issuer).
///
/// Cheap to clone: clones share the HTTP client, the cache and the exchanges under way.
#[derive(Clone)]
pub struct Introspector {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: String,
    issuer: String,
    options: Options,
    client: Arc<Client>,
    answers: Arc<Answers>,
}

impl Introspector {
    /// Options for the introspection endpoint `endpoint` of the authorization server
    /// `issuer`, starting from the defaults.
    pub fn builder(endpoint: impl Into<String>, issuer: impl Into<String>) -> IntrospectorBuilder {
        IntrospectorBuilder {
            endpoint: endpoint.into(),
            issuer: issuer.into(),
            auth: ClientAuth::None,
            http: None,
            options: Options {
                timeout: Duration::from_secs(2),
                max_cache_ttl: Duration::from_secs(60),
                negative_cache_ttl: Duration::from_secs(5),
                cache_capacity: 10_000,
                max_response_size: 64 * 1024,
                allow_insecure_http: false,
            },
        }
    }

    /// The issuer whose tokens this endpoint answers for, as given.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The introspection endpoint, as given.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// What the server says about `token`: from the cache, else by joining the exchange
    /// under way for it, else by a new one. The future owns all it needs.
    pub(crate) fn lookup(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Answer, IntrospectError>> + Send + 'static {
        self.inner.answers.lookup(&self.inner.client, token)
    }
}

/// How an answer's body is read: `Some((active, exp))`, or `None` for a body that is an
/// outage (not a JSON object). For the fuzz targets only (feature `fuzzing`).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub fn parse_answer(body: &[u8]) -> Option<(bool, Option<u64>)> {
    let reply = client::parse(body.to_vec()).ok()?;
    let exp = match reply.exp {
        client::Exp::At(secs) => Some(secs),
        _ => None,
    };
    Some((matches!(reply.answer, Answer::Active(_)), exp))
}

/// The options that are not secrets, shown by `Debug`.
#[derive(Debug, Clone)]
struct Options {
    timeout: Duration,
    max_cache_ttl: Duration,
    negative_cache_ttl: Duration,
    cache_capacity: usize,
    max_response_size: usize,
    allow_insecure_http: bool,
}

/// Options of an [`Introspector`], each with its default.
#[derive(Clone)]
pub struct IntrospectorBuilder {
    endpoint: String,
    issuer: String,
    auth: ClientAuth,
    http: Option<reqwest::Client>,
    options: Options,
}

impl IntrospectorBuilder {
    /// Authenticates as a confidential client with HTTP Basic (RFC 7662 §2.1, RFC 6749
    /// §2.3.1): the id and the secret are each form-urlencoded, then `id:secret` is
    /// base64-encoded. Defaults to no client authentication (a public endpoint), which
    /// most authorization servers refuse: RFC 7662 §4 asks them to, so that tokens cannot
    /// be probed.
    pub fn client_basic(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.auth = ClientAuth::Basic {
            id: client_id.into(),
            secret: client_secret.into(),
        };
        self
    }

    /// Authenticates with `Authorization: Bearer <token>`, a credential of the resource
    /// server's own (RFC 7662 §2.1 allows it). Replaces [`client_basic`](Self::client_basic).
    pub fn client_bearer(mut self, token: impl Into<String>) -> Self {
        self.auth = ClientAuth::Bearer(token.into());
        self
    }

    /// The limit on one whole exchange: connect, headers and body. Defaults to 2 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// The longest an active answer is reused: until the answer's `exp`, never longer than
    /// this, since the server may revoke the token meanwhile. Defaults to 60 seconds; zero
    /// caches no active answer.
    pub fn max_cache_ttl(mut self, ttl: Duration) -> Self {
        self.options.max_cache_ttl = ttl;
        self
    }

    /// How long an inactive answer is reused, so that a client retrying a dead token does
    /// not hammer the server. Defaults to 5 seconds; zero caches no inactive answer.
    pub fn negative_cache_ttl(mut self, ttl: Duration) -> Self {
        self.options.negative_cache_ttl = ttl;
        self
    }

    /// The most answers kept (about; the least used go first). Defaults to 10 000; zero
    /// caches nothing.
    pub fn cache_capacity(mut self, entries: usize) -> Self {
        self.options.cache_capacity = entries;
        self
    }

    /// The largest answer accepted, in bytes. Defaults to 64 KiB.
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.options.max_response_size = bytes;
        self
    }

    /// Allows a plain `http` endpoint. Defaults to `false`: `https` only.
    ///
    /// Dangerous: over plain `http` the token and the client credentials cross the network
    /// in the clear, and anyone on the path can answer `"active": true`. For tests on
    /// loopback only.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.options.allow_insecure_http = allow;
        self
    }

    /// The HTTP client, for a private CA, a proxy or other settings. Defaults to reqwest's
    /// default client with redirects turned off.
    ///
    /// Build yours with `.redirect(reqwest::redirect::Policy::none())`: a client that
    /// follows a 307 or 308 re-sends the token and the credentials to wherever it points.
    /// An answer that comes from another URL than the endpoint is refused anyway.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The introspector.
    ///
    /// Fails with [`ConfigError::InvalidIntrospection`] when the endpoint is not an
    /// absolute URL, is not `https` (unless [`allow_insecure_http`](Self::allow_insecure_http))
    /// or carries a user name, password or fragment, when a bearer credential is not a
    /// valid header value, or when the default HTTP client cannot be made.
    pub fn build(self) -> Result<Introspector, ConfigError> {
        let options = self.options;
        let limits = Limits {
            timeout: options.timeout,
            max_size: options.max_response_size,
            allow_insecure_http: options.allow_insecure_http,
        };
        let client = Client::new(&self.endpoint, &self.auth, self.http, limits)?;
        let answers = Answers::new(
            options.cache_capacity,
            options.max_cache_ttl,
            options.negative_cache_ttl,
        );
        Ok(Introspector {
            inner: Arc::new(Inner {
                endpoint: self.endpoint,
                issuer: self.issuer,
                options,
                client: Arc::new(client),
                answers: Arc::new(answers),
            }),
        })
    }
}

impl fmt::Debug for IntrospectorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectorBuilder")
            .field("endpoint", &without_credentials(&self.endpoint))
            .field("issuer", &self.issuer)
            .field("client_auth", &self.auth)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// `endpoint` without a user name and password, should it hold them (`build` refuses it).
fn without_credentials(endpoint: &str) -> String {
    match Url::parse(endpoint) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.into()
        }
        Ok(_) => endpoint.to_owned(),
        Err(_) => "<not a URL>".to_owned(),
    }
}

impl fmt::Debug for Introspector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspector")
            .field("endpoint", &self.inner.endpoint)
            .field("issuer", &self.inner.issuer)
            .field("client_auth", &self.inner.client.auth_kind())
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
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
        let endpoint =
            serve(move |_| Reply::json(&format!(r#"{{"active":true,"exp":{exp}}}"#))).await;
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
        let bearer = Introspector::builder("https://auth.example.com/i", "iss")
            .client_bearer("s3cret-bearer");
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
}
