//! Instructions per request through one axum route, for callgrind: where a warm hit's cost
//! goes once it runs inside a router.
//!
//! `route_cost <mode> <requests>` sends `requests` requests with `oneshot` on a
//! current-thread runtime. Modes: `floor` (the route alone), `empty_layer` (the route
//! behind a layer that does nothing: what axum charges for any layer), `warm` (behind
//! `JwtAuthLayer`, HS256, the token cached). Run it twice under
//! `valgrind --tool=callgrind` with different counts and divide the difference, as
//! `benches/route_cost.sh` does.

use std::convert::Infallible;
use std::hint::black_box;

use axum::Router;
use axum::extract::Request;
use http::header::AUTHORIZATION;
use http::{HeaderValue, StatusCode};
use serde::Deserialize;
use tower::ServiceExt;
use tower_jwt_auth::{Algorithm, Claims, JwtAuthLayer, StaticKey};

const SECRET: &[u8] = b"bench-secret-0123456789abcdef0123456789abcdef";

#[derive(Debug, Deserialize)]
struct BenchClaims {
    sub: String,
}

async fn floor() -> StatusCode {
    StatusCode::OK
}

async fn with_claims(claims: Claims<BenchClaims>) -> StatusCode {
    if black_box(claims.sub.as_str()) == "alice" {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

fn router(mode: &str) -> Router {
    let route = Router::new();
    match mode {
        "floor" => route.route("/", axum::routing::get(floor)),
        "empty_layer" => route
            .route("/", axum::routing::get(floor))
            .layer(tower::util::MapRequestLayer::new(|r: Request| r)),
        "warm" => {
            let key = StaticKey::hmac(Algorithm::HS256, SECRET).unwrap();
            let layer = JwtAuthLayer::<BenchClaims>::builder(key)
                .algorithms([Algorithm::HS256])
                .build()
                .unwrap();
            route
                .route("/", axum::routing::get(with_claims))
                .layer(layer)
        }
        other => panic!("unknown mode {other:?}: floor | empty_layer | warm"),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().expect("mode");
    let requests: u64 = args.next().expect("requests").parse().unwrap();
    tower_jwt_auth::install_crypto_provider();
    let exp = jsonwebtoken::get_current_timestamp() + 3600;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &serde_json::json!({ "sub": "alice", "exp": exp }),
        &jsonwebtoken::EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap();
    let auth = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    let app = router(&mode);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Two acceptances put the token in the cache; the measured ones are hits.
        for _ in 0..2 + requests {
            let mut request = Request::new(axum::body::Body::empty());
            request.headers_mut().insert(AUTHORIZATION, auth.clone());
            let Ok::<_, Infallible>(response) = app.clone().oneshot(request).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
    });
}
