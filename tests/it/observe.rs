//! What the layer reports (features `metrics` and `tracing`): counters that match the
//! traffic sent, exactly one `jwt_auth_requests_total` per request that reaches the layer,
//! cache hits and misses, the decision-time histogram; and the `jwt_auth` span's fields,
//! with `sub` hashed and the token nowhere.
//!
//! Each test records into its own local recorder, and spans are captured per thread:
//! `#[tokio::test]` runs on one thread, the in-process router included.

use std::collections::BTreeMap;

use axum::Router;
use axum::routing;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde_json::{Value, json};
use tower_jwt_auth::{Algorithm, JwtAuthLayer, Requirement, StaticKey};

use crate::support::traces::SpanCapture;
use crate::support::*;

/// Counters by `name{label=value,…}`, and the number of histogram samples by name.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Recorded {
    pub(crate) counters: BTreeMap<String, u64>,
    pub(crate) samples: BTreeMap<String, usize>,
    pub(crate) gauges: BTreeMap<String, f64>,
}

/// What was recorded since the last call (the debugging recorder resets on snapshot).
pub(crate) fn recorded(snapshotter: &Snapshotter) -> Recorded {
    let mut out = Recorded::default();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = if labels.is_empty() {
            key.name().to_owned()
        } else {
            format!("{}{{{}}}", key.name(), labels.join(","))
        };
        match value {
            // A layer registers its handles at once: a series never counted stays 0.
            DebugValue::Counter(0) => {}
            DebugValue::Counter(n) => {
                out.counters.insert(name, n);
            }
            DebugValue::Histogram(samples) => {
                out.samples.insert(name, samples.len());
            }
            DebugValue::Gauge(v) => {
                out.gauges.insert(name, v.into_inner());
            }
        }
    }
    out
}

fn counters(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn builder() -> tower_jwt_auth::JwtAuthBuilder<Value, StaticKey> {
    JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
        .algorithms([Algorithm::HS256])
}

fn token(extra: Value) -> String {
    mint(Algorithm::HS256, Pair::A, &claims(extra))
}

#[tokio::test]
async fn metric_counts_match_the_traffic_sent() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);

    let auth = builder().on_validated(refuse_mallory).build().unwrap();
    let app = in_process(
        Router::new()
            .route(
                "/admin",
                routing::get(|| async { "in" })
                    .route_layer(auth.require(Requirement::scope("admin"))),
            )
            .route("/me", routing::get(|| async { "in" }))
            .route_layer(auth),
    );
    let good = token(json!({ "scope": "admin" }));
    let reader = token(json!({ "scope": "read" }));
    let expired = mint(
        Algorithm::HS256,
        Pair::A,
        &json!({ "sub": "a", "exp": now() - 600 }),
    );
    let forged = mint(Algorithm::HS256, Pair::B, &claims(json!({})));
    let mallory = token(json!({ "sub": "mallory" }));
    let mut sent = 0;
    for _ in 0..5 {
        assert_eq!(get_with_token(app, "/me", &good).await.status, 200);
        sent += 1;
    }
    // Accepted by the layer, refused by the guard: counted once, as accepted.
    for _ in 0..2 {
        assert_eq!(get_with_token(app, "/admin", &reader).await.status, 403);
        sent += 1;
    }
    for _ in 0..3 {
        assert_eq!(get_with_token(app, "/me", &expired).await.status, 401);
        sent += 1;
    }
    for _ in 0..4 {
        assert_eq!(get_with_token(app, "/me", &forged).await.status, 401);
        sent += 1;
    }
    assert_eq!(get(app, "/me", &[]).await.status, 401);
    assert_eq!(get_with_token(app, "/me", "").await.status, 400);
    assert_eq!(get_with_token(app, "/me", "a.b").await.status, 401);
    assert_eq!(get_with_token(app, "/me", &mallory).await.status, 401);
    assert_eq!(get_with_token(app, "/me", &mallory).await.status, 401);
    sent += 5;
    // Not the layer's: an unknown path is 404 and never reaches it.
    assert_eq!(get_with_token(app, "/nope", &good).await.status, 404);

    let got = recorded(&snapshotter);
    assert_eq!(
        got.counters,
        counters(&[
            ("jwt_auth_requests_total{result=accepted}", 7),
            ("jwt_auth_requests_total{result=rejected,reason=expired}", 3),
            (
                "jwt_auth_requests_total{result=rejected,reason=invalid_signature}",
                4
            ),
            (
                "jwt_auth_requests_total{result=rejected,reason=missing_token}",
                1
            ),
            (
                "jwt_auth_requests_total{result=rejected,reason=invalid_request}",
                1
            ),
            (
                "jwt_auth_requests_total{result=rejected,reason=malformed}",
                1
            ),
            (
                "jwt_auth_requests_total{result=rejected,reason=refused_by_hook}",
                2
            ),
            // The cache admits a token on its second verification: `good` misses twice,
            // then hits 3 times; `reader` and `mallory` miss twice each; `expired`,
            // `forged` and `a.b` are never admitted (3 + 4 + 1 misses).
            ("jwt_auth_cache_hits_total", 3),
            ("jwt_auth_cache_misses_total", 14),
        ])
    );
    let requests: u64 = got
        .counters
        .iter()
        .filter(|(k, _)| k.starts_with("jwt_auth_requests_total"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(
        requests, sent,
        "one increment per request that reached the layer"
    );
    assert_eq!(
        got.samples.get("jwt_auth_validation_duration_seconds"),
        Some(&(sent as usize))
    );
}

#[tokio::test]
async fn passing_requests_through_unauthenticated_count_as_anonymous() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let auth = builder()
        .optional(true)
        .allow_cors_preflight(true)
        .build()
        .unwrap();
    let app = in_process(
        Router::new()
            .route("/me", routing::get(|| async { "in" }))
            .route_layer(auth),
    );
    assert_eq!(get(app, "/me", &[]).await.status, 200);
    let preflight = [
        ("origin", "https://app.example"),
        ("access-control-request-method", "GET"),
    ];
    send(app, "OPTIONS", "/me", &preflight).await;
    assert_eq!(
        get_with_token(app, "/me", &token(json!({}))).await.status,
        200
    );
    let got = recorded(&snapshotter);
    assert_eq!(got.counters["jwt_auth_requests_total{result=anonymous}"], 2);
    assert_eq!(got.counters["jwt_auth_requests_total{result=accepted}"], 1);
    assert_eq!(got.samples["jwt_auth_validation_duration_seconds"], 1);
}

#[tokio::test]
async fn each_request_has_a_span_with_outcome_alg_kid_iss_and_a_hashed_sub() {
    let capture = SpanCapture::start();
    let auth = builder().build().unwrap();
    let app = in_process(
        Router::new()
            .route("/me", routing::get(|| async { "in" }))
            .route_layer(auth),
    );
    let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
    header.kid = Some("key-2026".into());
    let sub = "ada@example.com";
    let good = mint_with_header(
        header,
        Pair::A,
        &claims(json!({ "sub": sub, "iss": "https://id.example" })),
    );
    assert_eq!(get_with_token(app, "/me", &good).await.status, 200);
    assert_eq!(get_with_token(app, "/me", &good).await.status, 200); // a cache hit
    let expired = mint(
        Algorithm::HS256,
        Pair::A,
        &json!({ "sub": sub, "exp": now() - 600 }),
    );
    assert_eq!(get_with_token(app, "/me", &expired).await.status, 401);

    let spans = capture.finish();
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let hashed = &spans[0]["sub"];
    assert_eq!(hashed.len(), 16);
    assert!(hashed.bytes().all(|b| b.is_ascii_hexdigit()));
    for accepted in &spans[..2] {
        let mut fields = accepted.clone();
        fields.remove("id");
        assert_eq!(
            fields,
            BTreeMap::from([
                ("outcome".to_owned(), "accepted".to_owned()),
                ("alg".to_owned(), "HS256".to_owned()),
                ("kid".to_owned(), "key-2026".to_owned()),
                ("iss".to_owned(), "https://id.example".to_owned()),
                ("sub".to_owned(), hashed.clone()),
            ])
        );
    }
    assert_eq!(spans[2]["outcome"], "rejected");
    assert_eq!(spans[2]["reason"], "expired");
    assert_eq!(spans[2]["alg"], "HS256");
    let everything = format!("{spans:?}");
    assert!(!everything.contains(sub), "sub in clear");
    for token in [&good, &expired] {
        assert!(!everything.contains(token.as_str()), "a token in a span");
        assert!(
            !everything.contains(token.split('.').nth(2).unwrap()),
            "a signature in a span"
        );
    }
}
