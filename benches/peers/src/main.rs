//! One request through the same route behind `tower-jwt-auth` and behind each of its peers,
//! side by side in one process, contenders interleaved round by round.
//!
//! Contenders (each one an axum router with one `GET /` route whose handler takes the
//! verified claims and answers 200 if `sub` is `alice`):
//!
//! - the route with no auth at all (the floor);
//! - the route behind a layer that only inserts an extension, taken by the handler (what
//!   any layer and extractor cost in axum);
//! - a hand-written `axum::middleware::from_fn` around `jsonwebtoken::decode` (jsonwebtoken 12, what this crate uses);
//! - `tower-jwt-auth` with its verified-token cache off ("cold") and on ("warm");
//! - `jwt-authorizer` 0.15 (axum 0.7: it has not moved to 0.8);
//! - `axum-jwt-auth` 0.7 (an extractor, with a `LocalDecoder` in the router state);
//! - `tower-oauth2-resource-server` 0.12, fed by a JWKS served on 127.0.0.1 in this process.
//!
//! Every contender checks the signature (one algorithm allowed), requires `exp` (leeway 60 s),
//! and checks `iss` and `aud`: `axum-jwt-auth` refuses to build without an audience, so every
//! contender gets the same issuer and audience.
//!
//! Each iteration builds a fresh `http::Request` with `Authorization: Bearer <token>` and
//! sends it with `router.clone().oneshot(request)`, on a current-thread tokio runtime entered
//! once per round and contender (`block_on`), never per request. For round 1..=ROUNDS, every
//! contender runs a warm-up and then its N iterations (N calibrated to about
//! `ROUND_TARGET`); the figure per contender is the median of the rounds' ns/request.
//!
//! Run with `cargo run --release -p peers-bench`.

use std::future::IntoFuture;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use http::header::AUTHORIZATION;
use http::{HeaderValue, StatusCode};
use serde::Deserialize;
use tokio::runtime::Runtime;
use tower::ServiceExt;

const SECRET: &[u8] = b"bench-secret-0123456789abcdef0123456789abcdef";
const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "orders-api";
const KID: &str = "bench-key";

const ROUNDS: usize = 5;
const ROUND_TARGET: Duration = Duration::from_millis(200);

/// The claims type every contender deserializes into.
#[derive(Debug, Clone, Deserialize)]
struct BenchClaims {
    sub: String,
    #[serde(default)]
    scope: Option<String>,
}

fn answer(claims: &BenchClaims) -> StatusCode {
    black_box(&claims.scope);
    if claims.sub == "alice" {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Alg {
    Hs256,
    Rs256,
}

impl Alg {
    const ALL: [Alg; 2] = [Alg::Hs256, Alg::Rs256];

    fn name(self) -> &'static str {
        match self {
            Alg::Hs256 => "HS256",
            Alg::Rs256 => "RS256",
        }
    }

    fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::Hs256 => jsonwebtoken::Algorithm::HS256,
            Alg::Rs256 => jsonwebtoken::Algorithm::RS256,
        }
    }

    /// tower-oauth2-resource-server's own jsonwebtoken major.
    fn jwt11(self) -> jsonwebtoken11::Algorithm {
        match self {
            Alg::Hs256 => jsonwebtoken11::Algorithm::HS256,
            Alg::Rs256 => jsonwebtoken11::Algorithm::RS256,
        }
    }
}

fn key_file(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/keys")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Keys for one algorithm: the signing key and the public PEM (empty for HS256).
struct Keys {
    encoding: jsonwebtoken::EncodingKey,
    public_pem: Vec<u8>,
}

fn keys(alg: Alg) -> Keys {
    match alg {
        Alg::Hs256 => Keys {
            encoding: jsonwebtoken::EncodingKey::from_secret(SECRET).unwrap(),
            public_pem: Vec::new(),
        },
        Alg::Rs256 => Keys {
            encoding: jsonwebtoken::EncodingKey::from_rsa_pem(&key_file("rsa_a.key")).unwrap(),
            public_pem: key_file("rsa_a.pub"),
        },
    }
}

/// `{"iss","aud","sub","scope","iat","exp": now+3600}`, header `{"typ","alg","kid"}`: the kid
/// is there for `tower-oauth2-resource-server`, which looks every token's key up by kid.
fn token(alg: Alg, keys: &Keys) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = serde_json::json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "scope": "orders:read orders:write",
        "iat": now,
        "exp": now + 3600,
    });
    let mut header = jsonwebtoken::Header::new(alg.jwt());
    header.kid = Some(KID.to_owned());
    jsonwebtoken::encode(&header, &claims, &keys.encoding).unwrap()
}

/// The same token with one signature character changed.
fn bad_token(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let i = bytes.len() - 5;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The routers under test. `App` hides the axum 0.7 / 0.8 difference.

#[derive(Clone)]
enum App {
    V08(Router),
    V07(axum07::Router),
}

impl App {
    fn status(&self, rt: &Runtime, auth: &HeaderValue) -> StatusCode {
        match self {
            App::V08(router) => rt.block_on(async {
                let Ok(response) = router.clone().oneshot(request08(auth)).await;
                response.status()
            }),
            App::V07(router) => rt.block_on(async {
                let Ok(response) = router.clone().oneshot(request07(auth)).await;
                response.status()
            }),
        }
    }

    /// `n` requests, each fresh and through a fresh clone of the router; the elapsed time.
    fn run(&self, rt: &Runtime, auth: &HeaderValue, n: u64) -> Duration {
        match self {
            App::V08(router) => rt.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    let Ok(response) = router.clone().oneshot(request08(auth)).await;
                    assert_eq!(response.status(), StatusCode::OK);
                }
                start.elapsed()
            }),
            App::V07(router) => rt.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    let Ok(response) = router.clone().oneshot(request07(auth)).await;
                    assert_eq!(response.status(), StatusCode::OK);
                }
                start.elapsed()
            }),
        }
    }
}

fn request08(auth: &HeaderValue) -> Request {
    let mut request = Request::new(axum::body::Body::empty());
    request.headers_mut().insert(AUTHORIZATION, auth.clone());
    request
}

fn request07(auth: &HeaderValue) -> http::Request<axum07::body::Body> {
    let mut request = http::Request::new(axum07::body::Body::empty());
    request.headers_mut().insert(AUTHORIZATION, auth.clone());
    request
}

/// The floor: the same route, no auth, no claims.
fn floor() -> App {
    async fn handler() -> StatusCode {
        StatusCode::OK
    }
    App::V08(Router::new().route("/", axum::routing::get(handler)))
}

/// The floor behind a layer that does nothing, and a handler that takes a value from the
/// extensions as the contenders' handlers take their claims: what any layer and any
/// claims extractor cost in axum, before authentication does anything.
fn empty_layer() -> App {
    async fn handler(Extension(unit): Extension<()>) -> StatusCode {
        black_box(unit);
        StatusCode::OK
    }
    App::V08(Router::new().route("/", axum::routing::get(handler)).layer(
        tower::util::MapRequestLayer::new(|mut request: Request| {
            request.extensions_mut().insert(());
            request
        }),
    ))
}

async fn extension_handler(Extension(claims): Extension<BenchClaims>) -> StatusCode {
    answer(&claims)
}

/// A plain hand-written middleware: bearer header, `jsonwebtoken::decode`, claims into the
/// request's extensions.
fn hand_written(alg: Alg, keys: &Keys) -> App {
    #[derive(Clone)]
    struct Verifier {
        key: Arc<jsonwebtoken::DecodingKey>,
        validation: Arc<jsonwebtoken::Validation>,
    }

    async fn authenticate(State(v): State<Verifier>, mut request: Request, next: Next) -> Response {
        let token = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let Some(token) = token else {
            return StatusCode::UNAUTHORIZED.into_response();
        };
        match jsonwebtoken::decode::<BenchClaims>(token, &v.key, &v.validation) {
            Ok(data) => {
                request.extensions_mut().insert(data.claims);
                next.run(request).await
            }
            Err(_) => StatusCode::UNAUTHORIZED.into_response(),
        }
    }

    let key = match alg {
        Alg::Hs256 => jsonwebtoken::DecodingKey::from_secret(SECRET).unwrap(),
        Alg::Rs256 => jsonwebtoken::DecodingKey::from_rsa_pem(&keys.public_pem).unwrap(),
    };
    // Defaults: exp required and checked, leeway 60 s.
    let mut validation = jsonwebtoken::Validation::new(alg.jwt());
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    let verifier = Verifier {
        key: Arc::new(key),
        validation: Arc::new(validation),
    };
    App::V08(
        Router::new()
            .route("/", axum::routing::get(extension_handler))
            .layer(middleware::from_fn_with_state(verifier, authenticate)),
    )
}

/// This crate, with its verified-token cache on or off.
fn this_crate(alg: Alg, keys: &Keys, cache: bool) -> App {
    use tower_jwt_auth::{Claims, JwtAuthLayer, StaticKey};

    async fn handler(claims: Claims<BenchClaims>) -> StatusCode {
        answer(&claims)
    }

    let key = match alg {
        Alg::Hs256 => StaticKey::hmac(alg.jwt(), SECRET),
        Alg::Rs256 => StaticKey::from_pem(alg.jwt(), &keys.public_pem),
    }
    .unwrap();
    // Defaults: exp required, leeway 60 s.
    let builder = JwtAuthLayer::<BenchClaims>::builder(key)
        .algorithms([alg.jwt()])
        .issuer(ISSUER)
        .audience(AUDIENCE);
    let layer = builder.cache(cache).build().unwrap();
    App::V08(
        Router::new()
            .route("/", axum::routing::get(handler))
            .layer(layer),
    )
}

/// `jwt-authorizer` 0.15 on axum 0.7: `JwtAuthorizer::from_secret` / `from_rsa_pem_text`,
/// `.build().await`, `.into_layer()`, handler takes `JwtClaims<T>`.
async fn jwt_authorizer(alg: Alg, keys: &Keys) -> App {
    use jwt_authorizer::{IntoLayer, JwtAuthorizer, JwtClaims, Validation};

    async fn handler(JwtClaims(claims): JwtClaims<BenchClaims>) -> StatusCode {
        answer(&claims)
    }

    let (builder, alg9) = match alg {
        Alg::Hs256 => (
            JwtAuthorizer::<BenchClaims>::from_secret(std::str::from_utf8(SECRET).unwrap()),
            jsonwebtoken9::Algorithm::HS256,
        ),
        Alg::Rs256 => (
            JwtAuthorizer::<BenchClaims>::from_rsa_pem_text(
                std::str::from_utf8(&keys.public_pem).unwrap(),
            ),
            jsonwebtoken9::Algorithm::RS256,
        ),
    };
    // Defaults: exp required and checked, leeway 60 s, nbf not checked.
    let validation = Validation::new()
        .iss(&[ISSUER])
        .aud(&[AUDIENCE])
        .algs(vec![alg9]);
    let authorizer = builder.validation(validation).build().await.unwrap();
    App::V07(
        axum07::Router::new()
            .route("/", axum07::routing::get(handler))
            .layer(authorizer.into_layer()),
    )
}

/// `axum-jwt-auth` 0.7: a `LocalDecoder` as router state, handler takes `Claims<T>`.
fn axum_jwt_auth(alg: Alg, keys: &Keys) -> App {
    use axum_jwt_auth::{Claims, Decoder, LocalDecoder};

    async fn handler(claims: Claims<BenchClaims>) -> StatusCode {
        answer(&claims.claims)
    }

    let (key, alg10) = match alg {
        Alg::Hs256 => (
            jsonwebtoken10::DecodingKey::from_secret(SECRET),
            jsonwebtoken10::Algorithm::HS256,
        ),
        Alg::Rs256 => (
            jsonwebtoken10::DecodingKey::from_rsa_pem(&keys.public_pem).unwrap(),
            jsonwebtoken10::Algorithm::RS256,
        ),
    };
    // Defaults: exp required and checked, leeway 60 s.
    let mut validation = jsonwebtoken10::Validation::new(alg10);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    let decoder: Decoder<BenchClaims> = Arc::new(
        LocalDecoder::builder()
            .keys(vec![key])
            .validation(validation)
            .build()
            .unwrap(),
    );
    App::V08(
        Router::new()
            .route("/", axum::routing::get(handler))
            .with_state(decoder),
    )
}

/// `tower-oauth2-resource-server` 0.12: a tenant with a JWKS URL on loopback (no discovery),
/// claims into the request's extensions. Built on the server runtime, so its JWKS fetch task
/// lives there, not on the measuring thread.
async fn oauth2_resource_server(alg: Alg, jwks_url: String) -> App {
    use tower_oauth2_resource_server::server::OAuth2ResourceServer;
    use tower_oauth2_resource_server::tenant::TenantConfiguration;
    use tower_oauth2_resource_server::validation::ClaimsValidationSpec;

    // Its default would also require `nbf`, which no other contender does.
    let spec = ClaimsValidationSpec::new()
        .iss(ISSUER)
        .exp(true)
        .aud(&vec![AUDIENCE.to_owned()]);
    let tenant = TenantConfiguration::builder(ISSUER)
        .jwks_url(jwks_url)
        .audiences(&[AUDIENCE])
        .claims_validation(spec)
        .allowed_algorithms(&[alg.jwt11()])
        // One fetch at start-up, none while measuring.
        .jwks_refresh_interval(Duration::from_secs(24 * 3600))
        .build()
        .await
        .unwrap();
    let server = OAuth2ResourceServer::<BenchClaims>::builder()
        .add_tenant(tenant)
        .build()
        .await
        .unwrap();
    App::V08(
        Router::new()
            .route("/", axum::routing::get(extension_handler))
            .layer(server.into_layer()),
    )
}

/// One JWKS document per algorithm, each holding one key with kid `bench-key`. The HS256 one
/// is an `oct` key: only to see the peer's HS256 cost, nobody should publish a secret.
fn jwks_router(all_keys: &[(Alg, Keys)]) -> Router {
    let mut router = Router::new();
    for (alg, keys) in all_keys {
        let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&keys.encoding, alg.jwt())
            .expect("JWK from key");
        jwk.common.key_id = Some(KID.to_owned());
        let document = serde_json::to_string(&jsonwebtoken::jwk::JwkSet { keys: vec![jwk] })
            .expect("JWKS serializes");
        let path = format!("/jwks-{}.json", alg.name().to_lowercase());
        router = router.route(
            &path,
            axum::routing::get(move || {
                let document = document.clone();
                async move { ([(http::header::CONTENT_TYPE, "application/json")], document) }
            }),
        );
    }
    router
}

// ---------------------------------------------------------------------------------------------

struct Contender {
    name: &'static str,
    /// One app per algorithm, `None` where the contender cannot do it.
    apps: [Option<App>; 2],
}

struct Line {
    app: App,
    good: HeaderValue,
    iterations: u64,
    samples: Vec<f64>,
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

fn format_ns(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

fn main() {
    tower_jwt_auth::install_crypto_provider();

    let all_keys: Vec<(Alg, Keys)> = Alg::ALL.iter().map(|&alg| (alg, keys(alg))).collect();
    let tokens: Vec<String> = all_keys.iter().map(|(alg, k)| token(*alg, k)).collect();

    // The JWKS server, and every async set-up, on a runtime of its own.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = server_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    server_rt.spawn(axum::serve(listener, jwks_router(&all_keys)).into_future());

    // The measuring runtime: current-thread, entered once per round and contender.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let per_alg = |make: &dyn Fn(Alg, &Keys) -> Option<App>| -> [Option<App>; 2] {
        [
            make(all_keys[0].0, &all_keys[0].1),
            make(all_keys[1].0, &all_keys[1].1),
        ]
    };
    let contenders = vec![
        Contender {
            name: "no auth (floor)",
            apps: per_alg(&|_, _| Some(floor())),
        },
        Contender {
            name: "no auth, an empty layer inserting an extension",
            apps: per_alg(&|_, _| Some(empty_layer())),
        },
        Contender {
            name: "hand-written `jsonwebtoken` 12 middleware",
            apps: per_alg(&|alg, k| Some(hand_written(alg, k))),
        },
        Contender {
            name: "**tower-jwt-auth, cold (cache off)**",
            apps: per_alg(&|alg, k| Some(this_crate(alg, k, false))),
        },
        Contender {
            name: "**tower-jwt-auth, warm (cache on)**",
            apps: per_alg(&|alg, k| Some(this_crate(alg, k, true))),
        },
        Contender {
            name: "jwt-authorizer 0.15 (axum 0.7)",
            apps: per_alg(&|alg, k| Some(server_rt.block_on(jwt_authorizer(alg, k)))),
        },
        Contender {
            name: "axum-jwt-auth 0.7",
            apps: per_alg(&|alg, k| Some(axum_jwt_auth(alg, k))),
        },
        Contender {
            name: "tower-oauth2-resource-server 0.12",
            apps: per_alg(&|alg, _| {
                let url = format!("http://{addr}/jwks-{}.json", alg.name().to_lowercase());
                Some(server_rt.block_on(oauth2_resource_server(alg, url)))
            }),
        },
    ];

    // Every contender answers 200 to the token (waiting for the JWKS fetch where there is one)
    // and 401 to a bad signature, before anything is measured.
    let mut lines: Vec<Vec<Option<Line>>> = Vec::new();
    for contender in &contenders {
        let mut row = Vec::new();
        for (i, app) in contender.apps.iter().enumerate() {
            let Some(app) = app else {
                row.push(None);
                continue;
            };
            let good = bearer(&tokens[i]);
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let status = app.status(&rt, &good);
                if status == StatusCode::OK {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{} {}: answers {status} to a good token",
                    contender.name,
                    Alg::ALL[i].name()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            if !contender.name.starts_with("no auth") {
                let status = app.status(&rt, &bearer(&bad_token(&tokens[i])));
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{} {}: a bad signature",
                    contender.name,
                    Alg::ALL[i].name()
                );
            }
            // Calibrate: N iterations take about ROUND_TARGET.
            let mut n = 16;
            let per_request = loop {
                let elapsed = app.run(&rt, &good, n);
                if elapsed >= Duration::from_millis(20) {
                    break elapsed.as_secs_f64() / n as f64;
                }
                n *= 2;
            };
            let iterations = ((ROUND_TARGET.as_secs_f64() / per_request) as u64).max(100);
            row.push(Some(Line {
                app: app.clone(),
                good,
                iterations,
                samples: Vec::new(),
            }));
        }
        lines.push(row);
    }

    for round in 1..=ROUNDS {
        for (alg_index, alg) in Alg::ALL.iter().enumerate() {
            for (contender, row) in contenders.iter().zip(&mut lines) {
                let Some(line) = &mut row[alg_index] else {
                    continue;
                };
                line.app
                    .run(&rt, &line.good, (line.iterations / 10).max(10));
                let elapsed = line.app.run(&rt, &line.good, line.iterations);
                let ns = elapsed.as_nanos() as f64 / line.iterations as f64;
                line.samples.push(ns);
                eprintln!(
                    "round {round} {} {:<45} {:>10}  ({} iterations)",
                    alg.name(),
                    contender.name,
                    format_ns(ns),
                    line.iterations
                );
            }
        }
    }

    // The table: medians, and ratios against this crate cold and warm.
    let medians: Vec<[Option<f64>; 2]> = lines
        .iter()
        .map(|row| [0, 1].map(|i| row[i].as_ref().map(|l| median(&l.samples))))
        .collect();
    let row_of = |name: &str| {
        let index = contenders.iter().position(|c| c.name.contains(name));
        medians[index.expect("every table row is a contender")]
    };
    let (cold, warm) = (row_of("cold (cache off)"), row_of("warm (cache on)"));
    let ratio = |value: Option<f64>, base: Option<f64>| match (value, base) {
        (Some(v), Some(b)) => format!("{:.2}×", v / b),
        _ => "n/a".to_owned(),
    };
    println!(
        "| contender | HS256 | RS256 | HS256 ÷ cold | RS256 ÷ cold | HS256 ÷ warm | RS256 ÷ warm |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (contender, m) in contenders.iter().zip(&medians) {
        let cell = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), format_ns);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            contender.name,
            cell(m[0]),
            cell(m[1]),
            ratio(m[0], cold[0]),
            ratio(m[1], cold[1]),
            ratio(m[0], warm[0]),
            ratio(m[1], warm[1]),
        );
    }
    println!();
    println!("Spread (min–max of the {ROUNDS} rounds, ns/request):");
    println!();
    println!("| contender | HS256 | RS256 |");
    println!("|---|---:|---:|");
    for (contender, row) in contenders.iter().zip(&lines) {
        let spread = |line: &Option<Line>| match line {
            Some(l) => {
                let min = l.samples.iter().copied().fold(f64::INFINITY, f64::min);
                let max = l.samples.iter().copied().fold(0.0, f64::max);
                format!("{min:.0}–{max:.0}")
            }
            None => "n/a".to_owned(),
        };
        println!(
            "| {} | {} | {} |",
            contender.name,
            spread(&row[0]),
            spread(&row[1])
        );
    }
}
