//! Heap allocations per request through the layer, counted with a counting global
//! allocator. The counts are deterministic for a given token and claims type, so they are
//! asserted exactly: a new allocation on the hot path fails this test.
//!
//! One `#[test]` on purpose: the allocator's counters are process-wide, so nothing else may
//! run at the same time in this binary.

#[path = "it/support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use http::{Request, Response};
use serde_json::json;
use support::*;
use tower::{Layer, Service, service_fn};
use tower_jwt_auth::revocation::{MemoryRevocationStore, RevocationStore};
use tower_jwt_auth::{Algorithm, JwtAuthLayer, StaticKey};

/// One request through `service`, polled to completion without a runtime (the static-key
/// path never waits); returns the status.
fn one_request<S>(service: &mut S, request: Request<()>) -> u16
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let mut future = pin!(service.call(request));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => response.status().as_u16(),
        other => panic!("the static-key path completed synchronously: {other:?}"),
    }
}

fn request(token: &str) -> Request<()> {
    Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
}

/// Allocations of one request with `token`, after `warm_up` identical requests; with
/// `extension`, the request already carries an extension (as requests from some servers do).
fn allocations(alg: Algorithm, cache: bool, token: &str, warm_up: usize, extension: bool) -> u64 {
    let builder =
        JwtAuthLayer::<TestClaims>::builder(StaticKey::new(verification_key(alg, Pair::A)))
            .algorithms([alg])
            .cache(cache);
    count(builder.build().unwrap(), token, warm_up, extension)
}

/// The same through a layer that checks `store` for the token's `jti` and `sid`.
fn allocations_with_store(store: MemoryRevocationStore, token: &str, warm_up: usize) -> u64 {
    let layer = JwtAuthLayer::<TestClaims>::builder(StaticKey::new(verification_key(
        Algorithm::HS256,
        Pair::A,
    )))
    .algorithms([Algorithm::HS256])
    .revocation_store(store)
    .build()
    .unwrap();
    count(layer, token, warm_up, false)
}

fn count(
    layer: JwtAuthLayer<TestClaims, StaticKey>,
    token: &str,
    warm_up: usize,
    extension: bool,
) -> u64 {
    // The inner service drops the request (with its claims) as a real handler would.
    let mut service = layer.layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(()))
    }));
    for _ in 0..warm_up {
        assert_eq!(one_request(&mut service, request(token)), 200);
    }
    let mut next = request(token); // built outside the count: not the layer's doing
    if extension {
        next.extensions_mut().insert(7u8);
    }
    let info = allocation_counter::measure(|| {
        assert_eq!(one_request(&mut service, next), 200);
    });
    info.count_total
}

#[test]
fn allocations_per_request() {
    // `sub` and `scope` in TestClaims and `sub` and `scope` in RegisteredClaims (kept for
    // `Claims::scopes`) are four of the cold path's allocations; see the README for the rest.
    let claims = claims(json!({ "scope": "read" }));
    let mut report = Vec::new();
    for (alg, expected_cold) in [
        (Algorithm::HS256, 9),
        (Algorithm::RS256, 9),
        (Algorithm::ES256, 9),
        (Algorithm::EdDSA, 9),
    ] {
        let token = mint(alg, Pair::A, &claims);
        let cold = allocations(alg, false, &token, 1, false);
        // Two requests first: the cache stores a token on its second verification.
        let warm = allocations(alg, true, &token, 2, false);
        let warm_with_extensions = allocations(alg, true, &token, 2, true);
        // The fourth request is the thread's second shared hit: it decodes claims of the
        // thread's own, once; from the fifth on, hits come from the thread's own table.
        let copy = allocations(alg, true, &token, 3, false);
        let own = allocations(alg, true, &token, 4, false);
        report.push(format!(
            "{alg:?}: cold {cold}, warm {warm} ({warm_with_extensions}), \
             per-thread copy {copy}, own hit {own}"
        ));
        assert_eq!(own, 3, "{alg:?} warm path, this thread's own claims");
        // The 3 above, the claims (their `Arc` and four strings), the held token and its box.
        assert_eq!(copy, 10, "{alg:?} the one-off per-thread copy");
        // The signature check allocates nothing of its own with aws-lc-rs (the default):
        // the key's crypto state is made once, on its first use. RustCrypto's RSA alone
        // allocates about a hundred times per check.
        if cfg!(feature = "aws-lc-rs") {
            assert_eq!(cold, expected_cold, "{alg:?} cold path");
        }
        // A cache hit allocates nothing; inserting the claims into an empty
        // `http::Extensions` costs three (its map's box, the table, the boxed value) ...
        assert_eq!(warm, 3, "{alg:?} warm path");
        // ... and one (the boxed value) when the map exists already.
        assert_eq!(
            warm_with_extensions, 1,
            "{alg:?} warm path, extensions present"
        );
    }
    // With a revocation store: the check of `jti:` and `sid:` allocates nothing (the ids
    // are built on the stack, the store answers in place), hit or cold.
    let store = MemoryRevocationStore::default();
    let far = jsonwebtoken::get_current_timestamp() + 3600;
    let revoked = store.revoke("sid:another-session", far);
    assert!(
        futures_util::FutureExt::now_or_never(revoked)
            .unwrap()
            .unwrap()
    );
    let ids = support::claims(
        json!({ "scope": "read", "jti": "aK3xQ9mZpL2vB7nR4tY8wE", "sid": "s7Hq2LmN9pXc4VbZ1kJr0T" }),
    );
    let token = mint(Algorithm::HS256, Pair::A, &ids);
    let warm = allocations_with_store(store.clone(), &token, 4);
    let cold = allocations_with_store(store, &token, 0);
    report.push(format!(
        "HS256 with a store: warm {warm}, first request {cold}"
    ));
    assert_eq!(warm, 3, "warm path with a revocation store");
    let dpop = dpop_allocations();
    report.push(format!("DPoP (ES256 proof, token cached): {dpop}"));
    // The proof is checked in full on every request: its `jwk` parsed (twice: for the
    // thumbprint and as a key) and made a key, the thumbprint's canonical JSON, two
    // normalised paths, the replay store's entry; plus the 3 of any warm request.
    assert_eq!(dpop, DPOP_WARM, "warm DPoP request");
    // Metrics (a Prometheus recorder, the handles registered on the first request) and
    // the hook: counting allocates nothing; a hook adds two: its boxed future, and the box
    // that holds the request and the ready service while it runs.
    let token = mint(Algorithm::HS256, Pair::A, &claims);
    let layer = || {
        JwtAuthLayer::<TestClaims>::builder(StaticKey::new(verification_key(
            Algorithm::HS256,
            Pair::A,
        )))
        .algorithms([Algorithm::HS256])
    };
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metered = metrics::with_local_recorder(&recorder, || {
        count(layer().build().unwrap(), &token, 4, false)
    });
    assert!(
        recorder
            .handle()
            .render()
            .contains(r#"jwt_auth_requests_total{result="accepted"} 5"#)
    );
    let hooked = layer()
        .on_validated(|_| std::future::ready(Ok(http::Extensions::new())))
        .build()
        .unwrap();
    let hooked = count(hooked, &token, 4, false);
    report.push(format!("warm with metrics {metered}, with a hook {hooked}"));
    assert_eq!(metered, 3, "warm path, Prometheus recorder installed");
    assert_eq!(hooked, 5, "warm path with a hook");
    println!("allocations per request: {}", report.join("; "));
}

/// Allocations of a warm DPoP request: measured, and asserted so that a change shows.
const DPOP_WARM: u64 = 29;

/// A DPoP request (a bound HS256 token, already cached, and a fresh ES256 proof) after four
/// others; `jti`s are fixed so that the replay store's shards fill the same way each run.
fn dpop_allocations() -> u64 {
    use support::dpop::{ProofKey, bound_token, proof_claims};
    let layer = JwtAuthLayer::<TestClaims>::builder(StaticKey::new(verification_key(
        Algorithm::HS256,
        Pair::A,
    )))
    .algorithms([Algorithm::HS256])
    .resource("https://api.example.test")
    .dpop_replay_store(tower_jwt_auth::dpop::MemoryReplayStore::new(1_000))
    .build()
    .unwrap();
    let mut service = layer.layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(()))
    }));
    let key = ProofKey::es256();
    let token = bound_token(&key, json!({ "scope": "read" }));
    let dpop_request = |n: usize| {
        let mut claims = proof_claims("GET", "https://api.example.test/orders", &token);
        claims["jti"] = json!(format!("alloc-{n}"));
        Request::get("/orders")
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", key.sign(&key.header(), &claims))
            .body(())
            .unwrap()
    };
    for n in 0..4 {
        assert_eq!(one_request(&mut service, dpop_request(n)), 200);
    }
    let next = dpop_request(4);
    allocation_counter::measure(|| {
        assert_eq!(one_request(&mut service, next), 200);
    })
    .count_total
}
