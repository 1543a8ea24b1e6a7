//! A first end-to-end check: a valid token reaches an axum handler over loopback.

mod common;

use axum::{Router, routing::get};
use common::*;
use tower_jwt_auth::{Algorithm, Claims, JwtAuthLayer, StaticKey};

#[tokio::test]
async fn valid_token_reaches_handler_over_loopback() {
    let layer = JwtAuthLayer::<TestClaims>::builder(StaticKey::new(verification_key(
        Algorithm::ES256,
        Pair::A,
    )))
    .algorithms([Algorithm::ES256])
    .build()
    .unwrap();
    let app = Router::new()
        .route(
            "/me",
            get(|c: Claims<TestClaims>| async move { c.sub.clone() }),
        )
        .layer(layer);
    let addr = serve(app).await;
    let token = mint(Algorithm::ES256, Pair::A, &claims(serde_json::json!({})));
    let ok = get_with_token(addr, "/me", &token).await;
    assert_eq!((ok.status.as_u16(), ok.body.as_str()), (200, "alice"));
    let wrong = get_with_token(
        addr,
        "/me",
        &mint(Algorithm::ES256, Pair::B, &claims(serde_json::json!({}))),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.challenge().contains(r#"error="invalid_token""#));
}
