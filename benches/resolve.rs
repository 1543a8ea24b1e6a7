//! The cost of finding a key: `KeyResolver::resolve` for a known `kid`, then one poll of the
//! returned future, which must be ready at once.
//!
//! Lines (group `resolve`):
//!
//! - `static_key`: a `StaticKey` (an `Arc` clone in a ready future), the baseline.
//! - `key_set`: a `KeySet` of five keys, looked up by `kid`.
//! - `jwks`: a `JwksResolver` whose five keys were fetched once from a loopback server
//!   (`refresh().await` in setup); its key set is fresh (default TTL 5 min), so the path
//!   measured is the lock-free snapshot read, with no fetch and no background refresh.
//! - `multi_issuer_jwks`: a `MultiIssuer<JwksResolver>` with two issuers, routing by the
//!   header's unverified `iss` to a warmed `JwksResolver` as above.
//!
//! The measured loop runs on the main thread with no runtime entered; the loopback server
//! and the fetches run on a separate tokio runtime that stays idle while measuring. The
//! issue's target: `jwks` within 50 ns of `static_key`.
//!
//! Run with `cargo bench --bench resolve --features jwks`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::future::Either;
use jsonwebtoken::EncodingKey;
use jsonwebtoken::jwk::Jwk;
use tower_jwt_auth::jwks::JwksResolver;
use tower_jwt_auth::{
    Algorithm, KeyError, KeyResolver, KeySet, MultiIssuer, StaticKey, TokenHeader, VerificationKey,
};

/// The five keys of every set: (kid, algorithm, file stem under `tests/keys`).
const KEYS: [(&str, Algorithm, &str); 5] = [
    ("rsa-a", Algorithm::RS256, "rsa_a"),
    ("p256-a", Algorithm::ES256, "p256_a"),
    ("p256-b", Algorithm::ES256, "p256_b"),
    ("p384-a", Algorithm::ES384, "p384_a"),
    ("ed25519-a", Algorithm::EdDSA, "ed25519_a"),
];
/// The `kid` every line looks up, and its algorithm.
const KID: &str = "p256-a";
const ALG: Algorithm = Algorithm::ES256;

const ISSUER_A: &str = "https://login.example.com/tenant-a";
const ISSUER_B: &str = "https://login.example.com/tenant-b";

fn key_file(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn encoding_key(alg: Algorithm, pem: &[u8]) -> EncodingKey {
    match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(pem),
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
        other => panic!("no bench key for {other:?}"),
    }
    .unwrap()
}

/// The five keys as a local `KeySet`, from their PEM public keys.
fn key_set() -> KeySet {
    KeySet::new(KEYS.map(|(kid, alg, stem)| {
        VerificationKey::from_pem(alg, &key_file(&format!("{stem}.pub")))
            .unwrap()
            .with_kid(kid)
    }))
}

/// The five keys as a JWKS document, from their private keys.
fn jwks_document() -> String {
    let keys: Vec<Jwk> = KEYS
        .iter()
        .map(|&(kid, alg, stem)| {
            let mut jwk =
                Jwk::from_encoding_key(&encoding_key(alg, &key_file(&format!("{stem}.key"))), alg)
                    .unwrap();
            jwk.common.key_id = Some(kid.to_owned());
            jwk
        })
        .collect();
    serde_json::json!({ "keys": keys }).to_string()
}

type Found = Result<Arc<VerificationKey>, KeyError>;

/// One resolve, and one poll of its future with a no-op waker: what every line measures.
fn resolve_once<R: KeyResolver>(resolver: &R, header: &TokenHeader<'_>) -> Found {
    let mut future = resolver.resolve(header);
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(&mut future).poll(&mut cx) {
        Poll::Ready(found) => found,
        Poll::Pending => panic!("resolve did not complete synchronously"),
    }
}

/// Checks, before measuring, that a resolver finds the expected key at once.
fn check<R: KeyResolver>(name: &str, resolver: &R, header: &TokenHeader<'_>, kid: Option<&str>) {
    let key = resolve_once(resolver, header).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(key.kid(), kid, "{name}: wrong key");
    assert!(
        key.algorithms().contains(ALG),
        "{name}: key not for {ALG:?}"
    );
}

/// A JWKS server on loopback, counting the documents it serves.
struct Server {
    runtime: tokio::runtime::Runtime,
    base: String,
    served: Arc<AtomicUsize>,
}

impl Server {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let document = jwks_document();
        let counter = Arc::clone(&served);
        let handler = move || {
            let (counter, document) = (Arc::clone(&counter), document.clone());
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                ([(http::header::CONTENT_TYPE, "application/json")], document)
            }
        };
        let app = Router::new().route("/{tenant}/jwks.json", get(handler));
        let addr = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            addr
        });
        Server {
            runtime,
            base: format!("http://{addr}"),
            served,
        }
    }

    /// A resolver for one tenant's document, fetched once before it is returned.
    fn warmed_resolver(&self, tenant: &str) -> JwksResolver {
        let resolver = JwksResolver::new(format!("{}/{tenant}/jwks.json", self.base));
        self.runtime
            .block_on(resolver.refresh())
            .unwrap_or_else(|e| panic!("fetching {}: {e}", resolver.url()));
        assert_eq!(resolver.key_count(), KEYS.len(), "{}", resolver.url());
        resolver
    }
}

fn benches(c: &mut Criterion) {
    // Jwk::from_encoding_key needs a process default when both backends are compiled.
    tower_jwt_auth::install_crypto_provider();

    let header = TokenHeader::new(ALG, Some(KID));
    let with_iss = header.with_unverified_issuer(Some(ISSUER_B));

    let static_key = StaticKey::from_pem(ALG, &key_file("p256_a.pub")).unwrap();
    let key_set = key_set();
    assert_eq!(key_set.len(), KEYS.len());

    let server = Server::start();
    let jwks = server.warmed_resolver("tenant-a");
    let multi = MultiIssuer::new()
        .issuer(ISSUER_A, server.warmed_resolver("tenant-a"))
        .issuer(ISSUER_B, server.warmed_resolver("tenant-b"));
    assert_eq!(server.served.load(Ordering::SeqCst), 3);

    // Every line finds its key at once before anything is measured; the JWKS lines take the
    // ready branch (no boxed future: no fetch to wait for).
    check("static_key", &static_key, &header, None);
    check("key_set", &key_set, &header, Some(KID));
    check("jwks", &jwks, &header, Some(KID));
    check("multi_issuer_jwks", &multi, &with_iss, Some(KID));
    assert!(matches!(jwks.resolve(&header), Either::Left(_)));
    assert!(matches!(
        multi.resolve(&with_iss),
        Either::Left(Either::Left(_))
    ));

    let mut group = c.benchmark_group("resolve");
    group.bench_function("static_key", |b| {
        b.iter(|| resolve_once(&static_key, black_box(&header)))
    });
    group.bench_function("key_set", |b| {
        b.iter(|| resolve_once(&key_set, black_box(&header)))
    });
    group.bench_function("jwks", |b| {
        b.iter(|| resolve_once(&jwks, black_box(&header)))
    });
    group.bench_function("multi_issuer_jwks", |b| {
        b.iter(|| resolve_once(&multi, black_box(&with_iss)))
    });
    group.finish();

    // No fetch happened while measuring: neither a background refresh nor an unknown-kid one.
    assert_eq!(
        server.served.load(Ordering::SeqCst),
        3,
        "a fetch ran during the measurement"
    );
}

criterion_group! {
    name = resolve;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = benches
}
criterion_main!(resolve);
