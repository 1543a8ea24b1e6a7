//! Raw `jsonwebtoken::decode` against one request through `JwtAuthLayer`.
//!
//! Per algorithm (HS256, RS256, ES256, EdDSA) three lines:
//!
//! - `<alg>/raw_decode`: `jsonwebtoken::decode::<BenchClaims>` with an equivalent `Validation`
//!   (same algorithm, `exp` required, leeway 60 s, same issuer and audience).
//! - `<alg>/layer`: build an `http::Request` carrying `authorization: Bearer <token>`, then
//!   `poll_ready` + `call` on a prebuilt `JwtAuth` around a trivial inner service, polling the
//!   response future once with a no-op waker (the static-key path completes synchronously).
//! - `<alg>/request_only`: building that request alone, the floor the layer line pays and
//!   the raw line does not.
//!
//! No async runtime is involved on any line. Run with `cargo bench --bench decode`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::path::Path;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use tower::{Layer, Service, service_fn};
use tower_jwt_auth::{Claims, JwtAuthLayer, StaticKey, VerificationKey};

/// The claims type both sides deserialize into.
#[derive(Debug, Clone, Deserialize)]
struct BenchClaims {
    sub: String,
    #[serde(default)]
    scope: Option<String>,
}

const SECRET: &[u8] = b"bench-secret-0123456789abcdef0123456789abcdef";
const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "orders-api";

fn key_file(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The signing key, the raw side's decoding key and the layer's verification key.
fn keys(alg: Algorithm) -> (EncodingKey, DecodingKey, VerificationKey) {
    if alg == Algorithm::HS256 {
        return (
            EncodingKey::from_secret(SECRET).unwrap(),
            DecodingKey::from_secret(SECRET).unwrap(),
            VerificationKey::hmac(alg, SECRET).unwrap(),
        );
    }
    let kind = match alg {
        Algorithm::RS256 => "rsa",
        Algorithm::ES256 => "p256",
        Algorithm::EdDSA => "ed25519",
        other => panic!("no bench key for {other:?}"),
    };
    let private = key_file(&format!("{kind}_a.key"));
    let public = key_file(&format!("{kind}_a.pub"));
    let (encoding, decoding) = match alg {
        Algorithm::RS256 => (
            EncodingKey::from_rsa_pem(&private),
            DecodingKey::from_rsa_pem(&public),
        ),
        Algorithm::ES256 => (
            EncodingKey::from_ec_pem(&private),
            DecodingKey::from_ec_pem(&public),
        ),
        _ => (
            EncodingKey::from_ed_pem(&private),
            DecodingKey::from_ed_pem(&public),
        ),
    };
    (
        encoding.unwrap(),
        decoding.unwrap(),
        VerificationKey::from_pem(alg, &public).unwrap(),
    )
}

/// A typical access token: issuer, audience, subject, scope, issued now, valid for an hour.
fn token(alg: Algorithm, key: &EncodingKey) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = serde_json::json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "scope": "orders:read orders:write",
        "iat": now,
        "exp": now + 3600,
    });
    jsonwebtoken::encode(&Header::new(alg), &claims, key).unwrap()
}

/// The request the layer line builds each iteration; the header value is shared bytes, so
/// cloning it is a reference-count increment.
fn request(authorization: &HeaderValue) -> Request<()> {
    let mut request = Request::new(());
    request
        .headers_mut()
        .insert(AUTHORIZATION, authorization.clone());
    request
}

/// Polls a future once with a no-op waker; every future here completes on its first poll.
fn poll_once<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("future did not complete synchronously"),
    }
}

/// One request through a layered service, the way every measured iteration does it: a fresh
/// request, `poll_ready`, `call`, and one poll of the response future (no runtime: the
/// static-key path completes at once).
fn one_request<S>(service: &mut S, authorization: &HeaderValue) -> Response<()>
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    let request = request(authorization);
    let mut cx = Context::from_waker(Waker::noop());
    match service.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => panic!("inner service not ready"),
    }
    let Ok(response) = poll_once(service.call(request));
    response
}

fn bench_algorithm(c: &mut Criterion, name: &str, alg: Algorithm) {
    let (encoding, decoding, verification) = keys(alg);
    let token = token(alg, &encoding);

    // Raw side: the equivalent Validation.
    let mut validation = Validation::new(alg);
    validation.leeway = 60;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp"]);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);

    // Layer side: same algorithm, issuer, audience; `exp` required and 60 s leeway are the
    // builder's defaults. Cold: the verified-token cache off; warm: on (the default).
    let layer = |cache: bool| {
        JwtAuthLayer::<BenchClaims>::builder(StaticKey::new(verification.clone()))
            .algorithms([alg])
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .leeway(Duration::from_secs(60))
            .cache(cache)
            .build()
            .unwrap()
    };
    let trivial =
        || service_fn(|_request: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let mut cold = layer(false).layer(trivial());
    let warm_layer = layer(true);
    let mut warm = warm_layer.layer(trivial());
    // Only for the check before measuring: an inner service that answers 200 iff it got claims.
    let mut checked = warm_layer.layer(service_fn(|request: Request<()>| async move {
        let mut response = Response::new(());
        if request.extensions().get::<Claims<BenchClaims>>().is_none() {
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        }
        Ok::<_, Infallible>(response)
    }));
    let authorization = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();

    // Both sides accept the token before anything is measured.
    let data = jsonwebtoken::decode::<BenchClaims>(&token, &decoding, &validation)
        .expect("raw decode refused the bench token");
    assert_eq!(data.claims.sub, "alice");
    assert_eq!(
        data.claims.scope.as_deref(),
        Some("orders:read orders:write")
    );
    for service in [&mut cold, &mut warm] {
        let response = one_request(service, &authorization);
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "layer refused the bench token"
        );
    }
    let Ok(response) = poll_once(checked.call(request(&authorization)));
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "inner service got no claims"
    );

    let mut group = c.benchmark_group(name);
    group.bench_function("raw_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<BenchClaims>(black_box(&token), &decoding, &validation).unwrap()
        })
    });
    group.bench_function("layer_cold", |b| {
        b.iter(|| one_request(&mut cold, &authorization))
    });
    group.bench_function("layer_warm", |b| {
        b.iter(|| one_request(&mut warm, &authorization))
    });
    // Contention: two threads hammering clones of one warm layer. The figure is wall time
    // per request over both threads, so perfect scaling halves `layer_warm`.
    group.bench_function("layer_warm_2_threads", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..2 {
                    let mut service = warm.clone();
                    let authorization = &authorization;
                    scope.spawn(move || {
                        for _ in 0..iters.div_ceil(2) {
                            black_box(one_request(&mut service, authorization));
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    group.bench_function("request_only", |b| {
        b.iter(|| request(black_box(&authorization)))
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    // jsonwebtoken::encode/decode need a process default when both backends are compiled.
    tower_jwt_auth::install_crypto_provider();
    for (name, alg) in [
        ("hs256", Algorithm::HS256),
        ("rs256", Algorithm::RS256),
        ("es256", Algorithm::ES256),
        ("eddsa", Algorithm::EdDSA),
    ] {
        bench_algorithm(c, name, alg);
    }
}

criterion_group! {
    name = decode;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = benches
}
criterion_main!(decode);
