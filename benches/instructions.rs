//! Instructions per token check, counted rather than timed: `benches/instructions.sh` runs
//! this binary under valgrind's callgrind twice per case, with a different number of
//! checks, and divides the difference, so start-up and key set-up drop out. On a shared VM
//! whose timings wander by ±10 %, the counts repeat to the instruction.
//!
//! ```text
//! instructions <ours|warm|miss|raw|layer|layer_metrics|layer_hook> <hs256|rs256|es256|eddsa> <checks>
//! ```
//!
//! `ours` is `Validator::validate` with the cache off (the layer's cold path without the
//! HTTP request around it); `warm` the same with the cache on, answering the same token
//! each time; `miss` the cache on with a token never seen before each time (600 are
//! minted whatever `checks` is, at most 600, so minting drops out of the difference); `raw` is `jsonwebtoken::decode` with the same checks (`exp`, `nbf`, `iss`,
//! `aud`, leeway 60 s) into the same claims type, the same token. `layer` is a whole warm
//! request through `JwtAuthLayer` (building the request, `call`, one poll, the inner
//! service's response); `layer_metrics` the same with a Prometheus recorder installed;
//! `layer_hook` with an `on_validated` hook that lets every request through.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::Path;

use futures_util::FutureExt;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use tower_jwt_auth::{StaticKey, Validator};

const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "orders-api";
const SECRET: &[u8] = b"test-secret-a-0123456789abcdef0123456789abcdef0123456789abcdef!!";

#[derive(serde::Deserialize)]
struct Claims {
    sub: String,
    scope: Option<String>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(who), Some(alg), Some(checks)) = (args.get(1), args.get(2), args.get(3)) else {
        // `cargo bench` runs every bench target: without arguments there is nothing to count.
        eprintln!("usage: instructions <ours|warm|miss|raw> <hs256|rs256|es256|eddsa> <checks>");
        return;
    };
    let checks: usize = checks.parse().expect("a number of checks");
    let (alg, file) = match alg.as_str() {
        "hs256" => (Algorithm::HS256, ""),
        "rs256" => (Algorithm::RS256, "rsa"),
        "es256" => (Algorithm::ES256, "p256"),
        "eddsa" => (Algorithm::EdDSA, "ed25519"),
        other => panic!("unknown algorithm {other}"),
    };
    tower_jwt_auth::install_crypto_provider();
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys");
    let read = |ext: &str| std::fs::read(keys.join(format!("{file}_a.{ext}"))).unwrap();
    let (encoding, decoding, ours) = match alg {
        Algorithm::HS256 => (
            EncodingKey::from_secret(SECRET).unwrap(),
            DecodingKey::from_secret(SECRET).unwrap(),
            StaticKey::hmac(alg, SECRET).unwrap(),
        ),
        Algorithm::RS256 => (
            EncodingKey::from_rsa_pem(&read("key")).unwrap(),
            DecodingKey::from_rsa_pem(&read("pub")).unwrap(),
            StaticKey::from_pem(alg, &read("pub")).unwrap(),
        ),
        Algorithm::ES256 => (
            EncodingKey::from_ec_pem(&read("key")).unwrap(),
            DecodingKey::from_ec_pem(&read("pub")).unwrap(),
            StaticKey::from_pem(alg, &read("pub")).unwrap(),
        ),
        _ => (
            EncodingKey::from_ed_pem(&read("key")).unwrap(),
            DecodingKey::from_ed_pem(&read("pub")).unwrap(),
            StaticKey::from_pem(alg, &read("pub")).unwrap(),
        ),
    };
    let now = jsonwebtoken::get_current_timestamp();
    let claims = serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "scope": "orders:read orders:write",
        "iat": now, "exp": now + 3600, "jti": "token-main",
    });
    let token = jsonwebtoken::encode(&Header::new(alg), &claims, &encoding).unwrap();
    let fresh: Vec<String> = (0..if who == "miss" { 600 } else { 0 })
        .map(|i| {
            let mut claims = claims.clone();
            claims["jti"] = format!("token-{i:04}").into();
            jsonwebtoken::encode(&Header::new(alg), &claims, &encoding).unwrap()
        })
        .collect();
    if let Some(variant) = who.strip_prefix("layer") {
        return layer(variant, ours, alg, &token, checks);
    }
    if who == "raw" {
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        for _ in 0..checks {
            let data = jsonwebtoken::decode::<Claims>(&token, &decoding, &validation).unwrap();
            black_box((&data.claims.sub, &data.claims.scope));
        }
    } else {
        let validator = Validator::<Claims>::builder(ours)
            .algorithms([alg])
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .cache(who != "ours")
            .build_validator()
            .unwrap();
        for i in 0..checks {
            let token = fresh.get(i).unwrap_or(&token);
            let claims = validator.validate(token).now_or_never().unwrap().unwrap();
            black_box((&claims.sub, &claims.scope));
        }
    }
}

/// Warm requests through the layer, polled once each (no runtime).
fn layer(variant: &str, key: StaticKey, alg: Algorithm, token: &str, checks: usize) {
    use std::convert::Infallible;
    use std::task::{Context, Poll, Waker};
    use tower::{Layer, Service};

    let builder = tower_jwt_auth::JwtAuthLayer::<Claims>::builder(key)
        .algorithms([alg])
        .issuer(ISSUER)
        .audience(AUDIENCE);
    let auth = match variant {
        "_hook" => builder
            .on_validated(|_| std::future::ready(Ok(http::Extensions::new())))
            .build(),
        _ => builder.build(),
    }
    .unwrap();
    if variant == "_metrics" {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .unwrap();
    }
    let mut service = auth.layer(tower::service_fn(|_: http::Request<()>| {
        std::future::ready(Ok::<_, Infallible>(http::Response::new(())))
    }));
    let authorization = http::HeaderValue::try_from(format!("Bearer {token}")).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..checks.max(3) {
        let mut request = http::Request::new(());
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, authorization.clone());
        assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        let mut future = std::pin::pin!(service.call(request));
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(Ok(response)) => assert_eq!(response.status(), 200),
            _ => panic!("the warm path completes at once"),
        }
    }
}
