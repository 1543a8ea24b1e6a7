//! How the warm path scales across cores: requests through clones of one warm HS256
//! layer on one thread and on two, beside the same service without the layer.
//!
//! Every line runs `iters` requests *on each thread*, so a line's time per iteration is
//! the same on one thread and on two when nothing is shared; the scaling of a pair is
//! `2 × one_thread / two_threads`. Lines, per service:
//!
//! - `no_auth/{1,2}_threads`: the trivial inner service alone (the floor, and the
//!   machine's own two-thread scaling).
//! - `warm/1_thread`, `warm/2_threads_same_token`, `warm/2_threads_distinct_tokens`: the
//!   layer with its cache on, every token already cached; "same" means both threads
//!   present one token (one cache entry, one claims value), "distinct" one token each.
//!
//! Each thread builds its own header value, as a server parsing each request would: a
//! shared one would measure the header's reference count, not the layer.
//! Run with `cargo bench --bench scaling`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

mod common;

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use common::one_request;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request, Response};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use tower::{Layer, Service, service_fn};
use tower_jwt_auth::{JwtAuthLayer, StaticKey, VerificationKey};

#[derive(Debug, Deserialize)]
struct BenchClaims {
    #[allow(dead_code)]
    sub: String,
}

const SECRET: &[u8] = b"bench-secret-0123456789abcdef0123456789abcdef";

fn token(sub: &str) -> String {
    let exp = jsonwebtoken::get_current_timestamp() + 3600;
    let claims = serde_json::json!({ "sub": sub, "scope": "orders:read", "exp": exp });
    let key = EncodingKey::from_secret(SECRET).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
}

/// Wall time for `iters` requests on each of `tokens.len()` threads, started together.
fn run<S>(service: &S, tokens: &[&str], iters: u64) -> Duration
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible> + Clone + Send,
{
    let start = std::sync::Barrier::new(tokens.len() + 1);
    let begun = std::thread::scope(|scope| {
        for token in tokens {
            let mut service = service.clone();
            let start = &start;
            scope.spawn(move || {
                let authorization = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
                start.wait();
                for _ in 0..iters {
                    black_box(one_request(&mut service, black_box(&authorization)));
                }
            });
        }
        start.wait();
        Instant::now()
    });
    // The scope has joined every thread.
    begun.elapsed()
}

fn benches(c: &mut Criterion) {
    tower_jwt_auth::install_crypto_provider();
    let trivial = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let layer = JwtAuthLayer::<BenchClaims>::builder(StaticKey::new(
        VerificationKey::hmac(Algorithm::HS256, SECRET).unwrap(),
    ))
    .algorithms([Algorithm::HS256])
    .build()
    .unwrap();
    let warm = layer.layer(trivial);
    let (alice, bob) = (token("alice"), token("bob"));

    // Admission stores a token on its second acceptance: two requests each, then a hit.
    for token in [&alice, &bob] {
        let authorization = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        for _ in 0..3 {
            assert_eq!(one_request(&mut warm.clone(), &authorization), 200);
        }
    }

    let mut group = c.benchmark_group("scaling");
    group.bench_function("no_auth/1_thread", |b| {
        b.iter_custom(|iters| run(&trivial, &[""], iters))
    });
    group.bench_function("no_auth/2_threads", |b| {
        b.iter_custom(|iters| run(&trivial, &["", ""], iters))
    });
    group.bench_function("warm/1_thread", |b| {
        b.iter_custom(|iters| run(&warm, &[&alice], iters))
    });
    group.bench_function("warm/2_threads_same_token", |b| {
        b.iter_custom(|iters| run(&warm, &[&alice, &alice], iters))
    });
    group.bench_function("warm/2_threads_distinct_tokens", |b| {
        b.iter_custom(|iters| run(&warm, &[&alice, &bob], iters))
    });
    group.finish();
}

criterion_group! {
    name = scaling;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = benches
}
criterion_main!(scaling);
