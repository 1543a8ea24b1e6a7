//! What metrics and the `on_validated` hook cost on the warm path (a cache hit): the
//! same HS256 token through the same layer, beside raw `jsonwebtoken::decode` of it.
//!
//! Group `observe`:
//! - `decode/jsonwebtoken`: raw `jsonwebtoken::decode` of the token.
//! - `warm/plain`: the layer, no metrics recorder installed and no tracing subscriber
//!   (the benches build the crate with `metrics` and `tracing` on, so this is what a
//!   service pays when it has not installed either: the facade's no-op recorder).
//! - `warm/prometheus`: the same with `metrics-exporter-prometheus`'s recorder in place,
//!   as the axum example installs it: a counter increment and a histogram sample per
//!   request, by prebuilt keys.
//! - `warm/hook`: no recorder; a hook that lets the request through at once
//!   (`std::future::ready`): the boxed hook future is its cost.
//! - `warm/hook_enrich`: the hook inserts a small user record into the extensions.
//! - `warm/prometheus_and_hook_enrich`: both.
//!
//! Every response is checked to be 200. Run with `cargo bench --bench observe`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

mod common;

use std::convert::Infallible;
use std::hint::black_box;

use common::one_request;
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::future::ready;
use http::{HeaderValue, Request, Response, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};
use tower::{Layer, Service, service_fn};
use tower_jwt_auth::{Claims, JwtAuthBuilder, JwtAuthLayer, StaticKey};

const SECRET: &[u8] = b"a bench secret of at least thirty-two bytes";

#[derive(Clone)]
#[allow(dead_code)]
struct User {
    id: u64,
    plan: &'static str,
}

fn builder() -> JwtAuthBuilder<Value, StaticKey> {
    JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET).unwrap())
        .algorithms([Algorithm::HS256])
}

fn service(
    layer: JwtAuthLayer<Value>,
) -> impl Service<Request<()>, Response = Response<()>, Error = Infallible> {
    layer.layer(service_fn(|_: Request<()>| {
        ready(Ok::<_, Infallible>(Response::new(())))
    }))
}

fn benches(c: &mut Criterion) {
    tower_jwt_auth::install_crypto_provider();
    let now = jsonwebtoken::get_current_timestamp();
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({ "sub": "bench-user", "scope": "read", "iat": now, "exp": now + 3600 }),
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap();
    let authorization = HeaderValue::try_from(format!("Bearer {token}")).unwrap();
    let decoding = DecodingKey::from_secret(SECRET).unwrap();
    let validation = Validation::new(Algorithm::HS256);

    let plain = builder().build().unwrap();
    let hook = builder()
        .on_validated(|_: Claims<Value>| ready(Ok(http::Extensions::new())))
        .build()
        .unwrap();
    let enrich = || {
        builder()
            .on_validated(|_: Claims<Value>| {
                let mut found = http::Extensions::new();
                found.insert(User { id: 7, plan: "pro" });
                ready(Ok(found))
            })
            .build()
            .unwrap()
    };
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();

    let mut group = c.benchmark_group("observe");
    group.bench_function("decode/jsonwebtoken", |b| {
        b.iter(|| jsonwebtoken::decode::<Value>(black_box(&token), &decoding, &validation).unwrap())
    });
    let mut line = |name: &str, layer: JwtAuthLayer<Value>, recorder: bool| {
        let mut service = service(layer);
        // Warm: the cache admits a token on its second verification.
        for _ in 0..3 {
            assert_eq!(one_request(&mut service, &authorization), StatusCode::OK);
        }
        let mut run = || {
            group.bench_function(name, |b| {
                b.iter(|| {
                    assert_eq!(one_request(&mut service, &authorization), StatusCode::OK);
                })
            });
        };
        if recorder {
            metrics::with_local_recorder(&prometheus, run);
        } else {
            run();
        }
    };
    line("warm/plain", plain.clone(), false);
    line("warm/prometheus", plain, true);
    line("warm/hook", hook, false);
    line("warm/hook_enrich", enrich(), false);
    line("warm/prometheus_and_hook_enrich", enrich(), true);
    group.finish();
    // The recorder saw every request of its lines, as accepted.
    let rendered = prometheus.handle().render();
    assert!(
        rendered.contains("jwt_auth_requests_total{result=\"accepted\"}"),
        "{rendered}"
    );
}

criterion_group! {
    name = observe;
    config = Criterion::default();
    targets = benches
}
criterion_main!(observe);
