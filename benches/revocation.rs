//! The per-request revocation check: `MemoryRevocationStore` beside `RedisRevocationStore`,
//! whose checks read a local view kept current by pub/sub (no round trip).
//!
//! Group `revocation_check`: one `revoked_now(&["jti:…", "sid:…"])` call, the check the
//! layer makes on every request (both stores answer in place: no future, no runtime
//! entered per iteration). Each store holds 1000 other revocations (`jti:n0`…`jti:n999`,
//! written in setup) plus one revoked session.
//!
//! - `memory/not_revoked`, `redis/not_revoked`: neither id is revoked (two lookups, both
//!   misses).
//! - `memory/revoked`, `redis/revoked`: the same `jti`, but the `sid` is revoked (a miss,
//!   then a hit).
//!
//! Group `layer`: one warm request through a `JwtAuthLayer` (HS256 static key, its cache
//! on, the token already cached), polled once with no runtime, as in `benches/scaling.rs`.
//! The token carries `jti` and `sid`, so a cache hit still consults the store.
//!
//! - `no_store/accepted`: the layer without a revocation store (the floor).
//! - `memory/accepted`, `redis/accepted`: the layer with each store (the ids not revoked).
//!
//! The Redis lines start their own `redis-server` (found on `PATH`) on a free loopback
//! port (the tests' harness, `tests/it/support/redis_server.rs`), and kill it at the end;
//! without one on `PATH` only the other lines run. The store's subscription task runs on a multi-thread tokio runtime built once
//! and idle while measuring, apart from its heartbeat once a second.
//!
//! Run with `cargo bench --features redis --bench revocation`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

mod common;
// The tests' redis-server harness (free port, PING, killed on drop).
#[path = "../tests/it/support/redis_server.rs"]
#[allow(dead_code, unreachable_pub)]
mod redis_server;

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use common::one_request;
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use http::{HeaderValue, Request, Response, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use redis_server::RedisServer;
use serde::Deserialize;
use tower::{Layer, service_fn};
use tower_jwt_auth::revocation::{MemoryRevocationStore, RedisRevocationStore, RevocationStore};
use tower_jwt_auth::{JwtAuthLayer, StaticKey, VerificationKey};

#[derive(Debug, Deserialize)]
struct BenchClaims {
    #[allow(dead_code)]
    sub: String,
}

const SECRET: &[u8] = b"bench-secret-0123456789abcdef0123456789abcdef";

/// The ids every check presents: a token's `jti`, a live session and a revoked one (ids
/// shaped like the issuer's, base64url).
const JTI: &str = "q3Zb8TnW1rKx0aPfXc7eVg";
const SID: &str = "Lm4vR7cE2sYd9uHjB6tQwA";
const REVOKED_SID: &str = "Pk2sN8xG5hWz1oJr3mDyEb";

/// How many other revocations each store holds.
const OTHERS: usize = 1000;

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Writes the revocations every store holds: `OTHERS` tokens and the revoked session.
async fn fill(store: &impl RevocationStore) {
    let until = now() + 3600;
    for i in 0..OTHERS {
        assert!(store.revoke(&format!("jti:n{i}"), until).await.unwrap());
    }
    assert!(
        store
            .revoke(&format!("sid:{REVOKED_SID}"), until)
            .await
            .unwrap()
    );
}

/// One check as the layer makes it: `revoked_now`, answered in place.
fn check(store: &impl RevocationStore, ids: &[&str]) -> bool {
    store
        .revoked_now(ids)
        .expect("the store answers in place")
        .expect("the store must answer")
}

/// Whether `redis-server` is on `PATH`.
fn redis_installed() -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join("redis-server").is_file())
}

/// The Redis side: its server, the runtime its subscription task runs on, and the store.
/// Fields drop in order: the store, then the runtime, then the server.
struct Redis {
    store: RedisRevocationStore,
    _runtime: tokio::runtime::Runtime,
    _server: RedisServer,
}

impl Redis {
    fn start() -> Option<Self> {
        if !redis_installed() {
            eprintln!(
                "revocation bench: no `redis-server` on PATH; running the memory lines only \
                 (install Redis, e.g. `apt-get install redis-server`, for the redis lines)"
            );
            return None;
        }
        let server = RedisServer::start();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let store = runtime.block_on(async {
            let store = RedisRevocationStore::connect(&server.url())
                .await
                .expect("the Redis store connects");
            fill(&store).await;
            // Let this instance's own revocations come back over the subscription (each
            // takes the view's write lock once), so none lands while measuring.
            tokio::time::sleep(Duration::from_millis(300)).await;
            store
        });
        assert_eq!(store.local_revocations(), OTHERS + 1);
        Some(Redis {
            store,
            _runtime: runtime,
            _server: server,
        })
    }
}

fn token() -> String {
    let claims = serde_json::json!({
        "sub": "alice",
        "exp": now() + 3600,
        "jti": JTI,
        "sid": SID,
    });
    let key = EncodingKey::from_secret(SECRET).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
}

/// The warm HS256 layer, with `store` as its revocation store if given.
fn layer(store: Option<impl RevocationStore>) -> JwtAuthLayer<BenchClaims> {
    let builder = JwtAuthLayer::<BenchClaims>::builder(StaticKey::new(
        VerificationKey::hmac(Algorithm::HS256, SECRET).unwrap(),
    ))
    .algorithms([Algorithm::HS256]);
    match store {
        Some(store) => builder.revocation_store(store),
        None => builder,
    }
    .build()
    .unwrap()
}

fn benches(c: &mut Criterion) {
    tower_jwt_auth::install_crypto_provider();
    let memory = MemoryRevocationStore::default();
    fill(&memory)
        .now_or_never()
        .expect("the memory store answers at once");
    let redis = Redis::start();

    let jti = format!("jti:{JTI}");
    let (sid, revoked_sid) = (format!("sid:{SID}"), format!("sid:{REVOKED_SID}"));
    let not_revoked: [&str; 2] = [&jti, &sid];
    let revoked: [&str; 2] = [&jti, &revoked_sid];
    assert!(!check(&memory, &not_revoked) && check(&memory, &revoked));
    if let Some(redis) = &redis {
        assert!(!check(&redis.store, &not_revoked) && check(&redis.store, &revoked));
    }

    let mut group = c.benchmark_group("revocation_check");
    group.bench_function("memory/not_revoked", |b| {
        b.iter(|| check(&memory, black_box(&not_revoked)))
    });
    if let Some(redis) = &redis {
        group.bench_function("redis/not_revoked", |b| {
            b.iter(|| check(&redis.store, black_box(&not_revoked)))
        });
    }
    group.bench_function("memory/revoked", |b| {
        b.iter(|| check(&memory, black_box(&revoked)))
    });
    if let Some(redis) = &redis {
        group.bench_function("redis/revoked", |b| {
            b.iter(|| check(&redis.store, black_box(&revoked)))
        });
    }
    group.finish();

    let trivial = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let authorization = HeaderValue::from_str(&format!("Bearer {}", token())).unwrap();
    let mut services = vec![
        (
            "no_store/accepted",
            layer(None::<MemoryRevocationStore>).layer(trivial),
        ),
        (
            "memory/accepted",
            layer(Some(memory.clone())).layer(trivial),
        ),
    ];
    if let Some(redis) = &redis {
        let service = layer(Some(redis.store.clone())).layer(trivial);
        services.push(("redis/accepted", service));
    }
    let mut group = c.benchmark_group("layer");
    for (name, service) in &mut services {
        // Admission stores a token on its second acceptance: two requests, then a hit.
        for _ in 0..3 {
            assert_eq!(one_request(service, &authorization), StatusCode::OK);
        }
        group.bench_function(*name, |b| {
            b.iter(|| one_request(service, black_box(&authorization)))
        });
    }
    group.finish();
}

criterion_group! {
    name = revocation;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(revocation);
