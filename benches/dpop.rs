//! What DPoP costs per request (RFC 9449): a warm request through the layer with a proof,
//! beside the same layer with a bearer token and raw `jsonwebtoken::decode` of the token.
//!
//! Every line uses one HS256 access token (the tests' secret), already in the verified-token
//! cache, so what DPoP adds is what shows: the proof is checked in full on every request (its
//! header and `jwk` read, the key made, the signature verified, `htm`, `htu`, `iat`, `ath`, the
//! thumbprint against `cnf.jkt`). Requests are polled once with no runtime.
//!
//! Group `dpop`:
//! - `decode/jsonwebtoken`: raw `jsonwebtoken::decode` of the bound token (HS256).
//! - `decode/{ES256,EdDSA,PS256}`: raw `jsonwebtoken::decode` of a token signed with the
//!   proof key's algorithm: one signature verification of that kind, the yardstick for
//!   the proof check.
//! - `bearer/warm`: the layer, an unbound token sent as Bearer (cache hit).
//! - `proof/{ES256,EdDSA,PS256}`: the layer, the bound token with one valid proof by a key
//!   of that algorithm, presented again and again to a replay store that accepts every
//!   proof: the proof check alone, beside `bearer/warm`.
//! - `proof_and_replay/{ES256,EdDSA,PS256}`: a fresh proof every iteration, spent in the
//!   default `MemoryReplayStore`: the whole DPoP path. The proofs are signed before measuring
//!   (`BATCH` per algorithm: signing PS256 proofs per iteration would take minutes), and each
//!   time a batch runs out a new layer, hence an empty store, is built and warmed (untimed).
//!   Every response is checked to be 200.
//!
//! Run with `cargo bench --bench dpop`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

mod common;
#[path = "../tests/it/support/mod.rs"]
#[allow(clippy::duplicate_mod)]
mod support;

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{one_request, respond, send};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use futures_util::future::{BoxFuture, ready};
use http::header::WWW_AUTHENTICATE;
use http::{HeaderValue, Request, Response, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use support::dpop::{ProofKey, bound_token};
use support::{Pair, SECRET_A, claims, mint};
use tower::{Layer, Service, service_fn};
use tower_jwt_auth::dpop::ReplayStore;
use tower_jwt_auth::revocation::StoreError;
use tower_jwt_auth::{JwtAuthLayer, StaticKey};

const RESOURCE: &str = "https://api.example.test";
const HTU: &str = "https://api.example.test/orders";

/// Fresh proofs signed before measuring for each `proof_and_replay` line; the first two of a
/// batch warm a new layer, the rest are measured.
const BATCH: usize = 2048;

/// Says "first use" to every proof: isolates the proof check from the replay store.
struct AcceptAll;

impl ReplayStore for AcceptAll {
    fn first_use(&self, _: &str, _: u64) -> BoxFuture<'static, Result<bool, StoreError>> {
        Box::pin(ready(Ok(true)))
    }

    fn first_use_now(&self, _: &str, _: u64) -> Option<Result<bool, StoreError>> {
        Some(Ok(true))
    }
}

fn builder() -> tower_jwt_auth::JwtAuthBuilder<Value, StaticKey> {
    JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
        .algorithms([Algorithm::HS256])
        .resource(RESOURCE)
        // Long enough that the proofs made before measuring stay recent.
        .dpop_proof_window(Duration::from_secs(3600))
}

fn dpop_request(token: &str, proof: &str) -> Request<()> {
    Request::get("/orders")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .body(())
        .unwrap()
}

/// Sends `request` and panics, with the challenge, unless the answer is 200.
fn expect_ok<S>(service: &mut S, request: Request<()>)
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    let response = respond(service, request);
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "refused: WWW-Authenticate: {:?}",
        response.headers().get(WWW_AUTHENTICATE)
    );
}

fn benches(c: &mut Criterion) {
    let inner = || service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let mut group = c.benchmark_group("dpop");

    let es256 = ProofKey::es256();
    let token = bound_token(&es256, json!({}));
    let key = DecodingKey::from_secret(SECRET_A).unwrap();
    let validation = Validation::new(Algorithm::HS256);
    group.bench_function("decode/jsonwebtoken", |b| {
        b.iter(|| jsonwebtoken::decode::<Value>(black_box(&token), &key, &validation).unwrap())
    });

    let mut bearer = builder().build().unwrap().layer(inner());
    let plain = mint(Algorithm::HS256, Pair::A, &claims(json!({})));
    let authorization = HeaderValue::try_from(format!("Bearer {plain}")).unwrap();
    for _ in 0..2 {
        assert_eq!(one_request(&mut bearer, &authorization), StatusCode::OK);
    }
    group.bench_function("bearer/warm", |b| {
        b.iter(|| one_request(&mut bearer, black_box(&authorization)))
    });

    for (name, alg) in [
        ("ES256", Algorithm::ES256),
        ("EdDSA", Algorithm::EdDSA),
        ("PS256", Algorithm::PS256),
    ] {
        let signed = mint(alg, Pair::A, &claims(json!({})));
        let public = support::public_pem(alg, Pair::A);
        let decoding = match alg {
            Algorithm::ES256 => DecodingKey::from_ec_pem(&public),
            Algorithm::EdDSA => DecodingKey::from_ed_pem(&public),
            _ => DecodingKey::from_rsa_pem(&public),
        }
        .unwrap();
        let validation = Validation::new(alg);
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| {
                jsonwebtoken::decode::<Value>(black_box(&signed), &decoding, &validation).unwrap()
            })
        });
        let proof_key = ProofKey::new(alg, Pair::A);
        let token = bound_token(&proof_key, json!({}));
        let proof = proof_key.proof("GET", HTU, &token);
        let mut service = builder()
            .dpop_replay_store(AcceptAll)
            .build()
            .unwrap()
            .layer(inner());
        for _ in 0..2 {
            expect_ok(&mut service, dpop_request(&token, &proof));
        }
        group.bench_function(format!("proof/{name}"), |b| {
            b.iter_batched(
                || dpop_request(&token, &proof),
                |request| {
                    let status = send(&mut service, request);
                    debug_assert_eq!(status, StatusCode::OK);
                    status
                },
                BatchSize::SmallInput,
            )
        });

        let proofs: Vec<String> = (0..BATCH)
            .map(|_| proof_key.proof("GET", HTU, &token))
            .collect();
        // A layer with the default replay store, the token cached: admission stores a token
        // on its second acceptance, so two proofs are spent, then every request is a hit.
        let warm_layer = || {
            let mut service = builder().build().unwrap().layer(inner());
            for proof in &proofs[..2] {
                expect_ok(&mut service, dpop_request(&token, proof));
            }
            service
        };
        group.bench_function(format!("proof_and_replay/{name}"), |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let mut service = warm_layer();
                    let n = left.min((BATCH - 2) as u64);
                    let requests: Vec<_> = proofs[2..2 + n as usize]
                        .iter()
                        .map(|proof| dpop_request(&token, proof))
                        .collect();
                    let start = Instant::now();
                    for request in requests {
                        assert_eq!(send(&mut service, request), StatusCode::OK);
                    }
                    elapsed += start.elapsed();
                    left -= n;
                }
                elapsed
            })
        });
    }

    group.finish();
}

criterion_group! {
    name = dpop;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = benches
}
criterion_main!(dpop);
