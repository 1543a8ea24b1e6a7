//! Opaque tokens through the layer (feature `introspection`), against a real RFC 7662
//! endpoint served on loopback: one layer accepts JWTs and opaque tokens; `active`,
//! `exp`, `scope`, `aud` and `iss` honoured; answers cached (positive and negative);
//! concurrent requests share one call; client authentication; timeouts and outages 503.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing;
use axum::{Form, Router};
use serde_json::{Value, json};
use tower_jwt_auth::introspection::Introspector;
use tower_jwt_auth::{Algorithm, Claims, JwtAuthLayer, Requirement, StaticKey};

use crate::support::*;

const ISSUER: &str = "https://id.example/";
const CLIENT: (&str, &str) = ("orders-api", "s3cret:with+odd %chars");

/// An introspection endpoint: answers by token from `answers` (unknown → inactive),
/// counting calls; `delay` before answering; `status` other than 200 if set.
#[derive(Default)]
struct Endpoint {
    answers: Mutex<HashMap<String, Value>>,
    calls: AtomicUsize,
    delay: Mutex<Duration>,
    status: Mutex<Option<u16>>,
    authorization: Mutex<Vec<String>>,
}

async fn introspect(
    State(endpoint): State<Arc<Endpoint>>,
    headers: http::HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    endpoint.calls.fetch_add(1, Ordering::SeqCst);
    if let Some(auth) = headers.get("authorization") {
        endpoint
            .authorization
            .lock()
            .unwrap()
            .push(auth.to_str().unwrap().to_owned());
    }
    let delay = *endpoint.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    if let Some(status) = *endpoint.status.lock().unwrap() {
        return (http::StatusCode::from_u16(status).unwrap(), "{}").into_response();
    }
    let answer = form
        .get("token")
        .and_then(|token| endpoint.answers.lock().unwrap().get(token).cloned())
        .unwrap_or(json!({ "active": false }));
    axum::Json(answer).into_response()
}

async fn start() -> (Arc<Endpoint>, SocketAddr) {
    let endpoint = Arc::new(Endpoint::default());
    let app = Router::new()
        .route("/introspect", routing::post(introspect))
        .with_state(Arc::clone(&endpoint));
    (endpoint, serve(app).await)
}

impl Endpoint {
    fn answer(&self, token: &str, answer: Value) {
        self.answers
            .lock()
            .unwrap()
            .insert(token.to_owned(), answer);
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

fn introspector(addr: SocketAddr) -> tower_jwt_auth::introspection::IntrospectorBuilder {
    Introspector::builder(format!("http://{addr}/introspect"), ISSUER)
        .client_basic(CLIENT.0, CLIENT.1)
        .allow_insecure_http(true)
        .timeout(Duration::from_millis(300))
}

fn layer(introspector: Introspector) -> JwtAuthLayer<Value> {
    JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
        .algorithms([Algorithm::HS256])
        .introspection(introspector)
        .build()
        .unwrap()
}

async fn who(claims: Claims<Value>) -> String {
    let r = claims.registered();
    format!(
        "sub={} iss={} alg={:?} scopes={} client={}",
        r.sub.as_deref().unwrap_or("-"),
        r.iss.as_deref().unwrap_or("-"),
        claims.alg(),
        claims.scopes().collect::<Vec<_>>().join(","),
        claims["client_id"].as_str().unwrap_or("-"),
    )
}

fn app<R: tower_jwt_auth::KeyResolver>(auth: JwtAuthLayer<Value, R>) -> Router {
    Router::new()
        .route("/me", routing::get(who))
        .route(
            "/admin",
            routing::get(who).route_layer(auth.require(Requirement::scope("admin"))),
        )
        .route_layer(auth)
}

fn active(extra: Value) -> Value {
    let mut answer = json!({
        "active": true, "sub": "ada", "scope": "read write", "client_id": "web",
        "token_type": "Bearer", "exp": now() + 300, "iat": now(),
    });
    answer
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    answer
}

#[tokio::test]
async fn one_layer_accepts_jwts_and_opaque_tokens() {
    let (endpoint, addr) = start().await;
    endpoint.answer("opaque-ada", active(json!({})));
    let app = in_process(app(layer(introspector(addr).build().unwrap())));
    let reply = get_with_token(app, "/me", "opaque-ada").await;
    assert_eq!(
        (reply.status.as_u16(), reply.body.as_str()),
        (
            200,
            "sub=ada iss=https://id.example/ alg=None scopes=read,write client=web"
        )
    );
    // RFC 7662 §2.1: a form POST, with the client's credentials form-encoded, then Basic.
    use base64::Engine as _;
    let basic =
        base64::engine::general_purpose::STANDARD.encode("orders-api:s3cret%3Awith%2Bodd+%25chars");
    assert_eq!(
        *endpoint.authorization.lock().unwrap(),
        [format!("Basic {basic}")]
    );
    // A JWT still goes to the key, not the endpoint.
    let jwt = mint(
        Algorithm::HS256,
        Pair::A,
        &claims(json!({ "scope": "admin" })),
    );
    let reply = get_with_token(app, "/admin", &jwt).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.starts_with("sub=alice iss=- alg=Some(HS256)"));
    // A malformed JWT (three parts) is refused as a JWT, never sent to the endpoint.
    assert_eq!(
        get_with_token(app, "/me", "a.b.c").await.challenge(),
        invalid_token("token is not valid base64url")
    );
    assert_eq!(endpoint.calls(), 1);
    // Guards read the introspected scopes.
    assert_eq!(
        get_with_token(app, "/admin", "opaque-ada").await.status,
        403
    );
    endpoint.answer("opaque-admin", active(json!({ "scope": "admin" })));
    assert_eq!(
        get_with_token(app, "/admin", "opaque-admin").await.status,
        200
    );
}

#[tokio::test]
async fn inactive_and_refused_answers_are_401() {
    let (endpoint, addr) = start().await;
    let auth = JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
        .algorithms([Algorithm::HS256])
        .audience("orders")
        .introspection(
            introspector(addr)
                .negative_cache_ttl(Duration::ZERO)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let app = in_process(app(auth));
    let cases = [
        ("unknown", None, "token is not active"),
        (
            "inactive",
            Some(json!({ "active": false, "sub": "ada" })),
            "token is not active",
        ),
        (
            "string-true",
            Some(json!({ "active": "true", "aud": "orders" })),
            "token is not active",
        ),
        (
            "expired",
            Some(active(json!({ "aud": "orders", "exp": now() - 600 }))),
            "token has expired",
        ),
        (
            "other-aud",
            Some(active(json!({ "aud": "billing" }))),
            "token audience is not accepted",
        ),
        (
            "no-aud",
            Some(active(json!({}))),
            "token audience is not accepted",
        ),
        (
            "other-iss",
            Some(active(
                json!({ "aud": "orders", "iss": "https://evil.example/" }),
            )),
            "token issuer is not accepted",
        ),
    ];
    for (token, answer, description) in &cases {
        if let Some(answer) = answer {
            endpoint.answer(token, answer.clone());
        }
        let reply = get_with_token(app, "/me", token).await;
        assert_eq!(reply.status, 401, "{token}");
        assert_eq!(reply.challenge(), invalid_token(description), "{token}");
    }
    endpoint.answer("good", active(json!({ "aud": ["orders", "x"] })));
    assert_eq!(get_with_token(app, "/me", "good").await.status, 200);
}

#[tokio::test]
async fn answers_are_cached_positive_until_exp_and_negative_briefly() {
    let (endpoint, addr) = start().await;
    endpoint.answer("opaque-ada", active(json!({})));
    let app = in_process(app(layer(introspector(addr).build().unwrap())));
    for _ in 0..5 {
        assert_eq!(get_with_token(app, "/me", "opaque-ada").await.status, 200);
    }
    assert_eq!(endpoint.calls(), 1, "an active answer is cached");
    for _ in 0..3 {
        assert_eq!(get_with_token(app, "/me", "revoked-one").await.status, 401);
    }
    assert_eq!(endpoint.calls(), 2, "an inactive answer is cached too");
    // A token that expires within 2 s is asked about again after that. Two seconds, not
    // one: `exp` is in whole seconds, so `now() + 1` can be a few milliseconds away and
    // already past when the answer is stored on a busy machine.
    let exp = now() + 2;
    endpoint.answer("short", active(json!({ "exp": exp })));
    assert_eq!(get_with_token(app, "/me", "short").await.status, 200);
    assert_eq!(get_with_token(app, "/me", "short").await.status, 200);
    assert_eq!(endpoint.calls(), 3);
    while now() <= exp {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    endpoint.answer("short", json!({ "active": false }));
    assert_eq!(get_with_token(app, "/me", "short").await.status, 401);
    assert_eq!(endpoint.calls(), 4);
}

#[tokio::test]
async fn concurrent_requests_with_one_token_share_one_call() {
    let (endpoint, addr) = start().await;
    endpoint.answer("opaque-ada", active(json!({})));
    *endpoint.delay.lock().unwrap() = Duration::from_millis(150);
    let app = in_process(app(layer(introspector(addr).build().unwrap())));
    let replies =
        futures_util::future::join_all((0..20).map(|_| get_with_token(app, "/me", "opaque-ada")))
            .await;
    assert!(replies.iter().all(|r| r.status == 200));
    assert_eq!(endpoint.calls(), 1);
}

#[tokio::test]
async fn an_endpoint_that_cannot_answer_is_503_never_a_pass() {
    let (endpoint, addr) = start().await;
    endpoint.answer("opaque-ada", active(json!({})));
    let app = in_process(app(layer(introspector(addr).build().unwrap())));
    // Too slow: the 300 ms timeout answers, and all waiters get it from one call.
    *endpoint.delay.lock().unwrap() = Duration::from_secs(3);
    let started = Instant::now();
    let replies =
        futures_util::future::join_all((0..10).map(|_| get_with_token(app, "/me", "opaque-ada")))
            .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    for reply in &replies {
        assert_eq!(reply.status, 503);
        assert_eq!(reply.header("retry-after"), Some("5"));
    }
    assert_eq!(endpoint.calls(), 1);
    *endpoint.delay.lock().unwrap() = Duration::ZERO;
    // An error status (wrong client credentials, a crash) is an outage, not an answer.
    for status in [401, 500] {
        *endpoint.status.lock().unwrap() = Some(status);
        assert_eq!(get_with_token(app, "/me", "opaque-ada").await.status, 503);
    }
    let grpc = grpc_with_token(app, "/me", "opaque-ada").await;
    assert_eq!(grpc.header("grpc-status"), Some("14"));
    // Errors are not cached: the endpoint back, the token works.
    *endpoint.status.lock().unwrap() = None;
    assert_eq!(get_with_token(app, "/me", "opaque-ada").await.status, 200);

    // Nothing listening at all.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone = closed.local_addr().unwrap();
    drop(closed);
    let app = in_process(app_for(gone));
    assert_eq!(get_with_token(app, "/me", "opaque-ada").await.status, 503);
}

fn app_for(addr: SocketAddr) -> Router {
    app(layer(introspector(addr).build().unwrap()))
}

#[tokio::test]
async fn endpoints_of_two_issuers_are_asked_in_turn() {
    let (first, a) = start().await;
    let (second, b) = start().await;
    second.answer("from-b", active(json!({ "sub": "bob" })));
    first.answer("from-a", active(json!({ "iss": ISSUER })));
    let auth = JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
        .algorithms([Algorithm::HS256])
        .introspection(introspector(a).build().unwrap())
        .introspection(
            Introspector::builder(format!("http://{b}/introspect"), "https://other.example/")
                .client_bearer("the-rs-token")
                .allow_insecure_http(true)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let app = in_process(app(auth));
    let reply = get_with_token(app, "/me", "from-b").await;
    assert!(
        reply.body.starts_with("sub=bob iss=https://other.example/"),
        "{}",
        reply.body
    );
    assert_eq!(
        *second.authorization.lock().unwrap(),
        ["Bearer the-rs-token"]
    );
    let reply = get_with_token(app, "/me", "from-a").await;
    assert!(
        reply.body.starts_with("sub=ada iss=https://id.example/"),
        "{}",
        reply.body
    );
    // An answer naming the other endpoint's issuer is refused.
    second.answer("forged-iss", active(json!({ "iss": ISSUER })));
    assert_eq!(get_with_token(app, "/me", "forged-iss").await.status, 401);
}

#[tokio::test]
async fn the_hook_and_dpop_binding_apply_to_opaque_tokens() {
    let (endpoint, addr) = start().await;
    endpoint.answer("opaque-mallory", active(json!({ "sub": "mallory" })));
    endpoint.answer(
        "bound",
        active(json!({ "cnf": { "jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" } })),
    );
    let auth = JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
        .algorithms([Algorithm::HS256])
        .introspection(introspector(addr).build().unwrap())
        .on_validated(refuse_mallory)
        .build()
        .unwrap();
    let app = in_process(app(auth));
    let reply = get_with_token(app, "/me", "opaque-mallory").await;
    assert_eq!(
        reply.challenge().split(", DPoP").next(),
        Some(invalid_token("user is disabled").as_str())
    );
    // A DPoP-bound opaque token sent as Bearer is refused like a bound JWT.
    let reply = get_with_token(app, "/me", "bound").await;
    assert_eq!(reply.status, 401);
    assert!(reply.challenge().contains("DPoP"), "{}", reply.challenge());
}
