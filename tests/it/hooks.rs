//! The `on_validated` hook: enrich (a user record in the extensions), refuse with 401 or
//! 403 and a description, 503 when it says "unavailable"; on cache hits and after a key
//! lookup that waited too; never reaching the inner service when it refuses.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::routing;
use axum::{Extension, Router};
use serde_json::{Value, json};
use tower_jwt_auth::{Algorithm, AuthError, Claims, JwtAuthLayer, StaticKey};

use crate::support::*;

#[derive(Clone, Debug)]
struct User {
    name: String,
    plan: &'static str,
}

/// A user store: `mallory` is disabled, `eve` may not use the API, `db-down` makes the
/// store fail. Counts its calls.
fn layer(calls: &Arc<AtomicUsize>, cache: bool) -> JwtAuthLayer<Value> {
    let calls = Arc::clone(calls);
    JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
        .algorithms([Algorithm::HS256])
        .cache(cache)
        .on_validated(move |claims: Claims<Value>| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                // A store that answers later, as a database would.
                tokio::task::yield_now().await;
                let sub = claims.registered().sub.clone().unwrap_or_default();
                match sub.as_str() {
                    "mallory" => Err(AuthError::refused("user is disabled")),
                    "eve" => Err(AuthError::forbidden("user may not use this API")),
                    "db-down" => {
                        Err(AuthError::unavailable().with_retry_after(Duration::from_secs(7)))
                    }
                    _ => {
                        let mut found = http::Extensions::new();
                        found.insert(User {
                            name: sub.to_uppercase(),
                            plan: "pro",
                        });
                        Ok(found)
                    }
                }
            }
        })
        .build()
        .unwrap()
}

fn app<R: tower_jwt_auth::KeyResolver>(
    auth: JwtAuthLayer<Value, R>,
    reached: &Arc<AtomicUsize>,
) -> Server {
    let reached = Arc::clone(reached);
    let handler = move |Extension(user): Extension<User>, claims: Claims<Value>| {
        reached.fetch_add(1, Ordering::SeqCst);
        async move {
            format!(
                "{} {} {}",
                user.name,
                user.plan,
                claims["sub"].as_str().unwrap()
            )
        }
    };
    in_process(
        Router::new()
            .route("/me", routing::get(handler))
            .route_layer(auth),
    )
}

fn token(sub: &str) -> String {
    mint(Algorithm::HS256, Pair::A, &claims(json!({ "sub": sub })))
}

#[tokio::test]
async fn the_hook_enriches_the_request_on_misses_and_cache_hits() {
    let (calls, reached) = (Arc::default(), Arc::default());
    let app = app(layer(&calls, true), &reached);
    let ada = token("ada");
    for round in 1..=3 {
        let reply = get_with_token(app, "/me", &ada).await;
        assert_eq!(
            (reply.status.as_u16(), reply.body.as_str()),
            (200, "ADA pro ada")
        );
        // The second and third requests are cache hits: the hook runs all the same.
        assert_eq!(calls.load(Ordering::SeqCst), round);
    }
    assert_eq!(reached.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_hook_refuses_with_401_403_or_503_and_the_handler_is_never_reached() {
    for cache in [true, false] {
        let (calls, reached) = (Arc::default(), Arc::default());
        let app = app(layer(&calls, cache), &reached);
        for _ in 0..2 {
            let reply = get_with_token(app, "/me", &token("mallory")).await;
            assert_eq!(reply.status, 401);
            assert_eq!(reply.challenge(), invalid_token("user is disabled"));

            let reply = get_with_token(app, "/me", &token("eve")).await;
            assert_eq!(reply.status, 403);
            assert_eq!(
                reply.challenge(),
                r#"Bearer realm="api", error="insufficient_scope", error_description="user may not use this API""#
            );

            let reply = get_with_token(app, "/me", &token("db-down")).await;
            assert_eq!(reply.status, 503);
            assert_eq!(reply.header("retry-after"), Some("7"));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 6, "cache {cache}");
        assert_eq!(reached.load(Ordering::SeqCst), 0, "cache {cache}");
    }
}

#[tokio::test]
async fn the_hook_runs_only_for_verified_tokens() {
    let (calls, reached) = (Arc::default(), Arc::default());
    let app = app(layer(&calls, true), &reached);
    let expired = mint(
        Algorithm::HS256,
        Pair::A,
        &json!({ "sub": "ada", "exp": now() - 600 }),
    );
    let forged = mint(Algorithm::HS256, Pair::B, &claims(json!({ "sub": "ada" })));
    for bad in [expired.as_str(), forged.as_str(), "garbage"] {
        assert_eq!(get_with_token(app, "/me", bad).await.status, 401);
    }
    assert_eq!(get(app, "/me", &[]).await.status, 401);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_hook_refusal_over_grpc_is_16_7_or_14() {
    let (calls, reached) = (Arc::default(), Arc::default());
    let app = app(layer(&calls, true), &reached);
    for (sub, code) in [("mallory", "16"), ("eve", "7"), ("db-down", "14")] {
        let reply = grpc_with_token(app, "/me", &token(sub)).await;
        assert_eq!(reply.header("grpc-status"), Some(code), "{sub}");
    }
}

#[tokio::test]
async fn the_hook_runs_after_a_key_lookup_that_waited() {
    let key = Arc::new(verification_key(Algorithm::HS256, Pair::A));
    let resolver = move |_: &tower_jwt_auth::TokenHeader<'_>| {
        let key = Arc::clone(&key);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(key)
        }) as tower_jwt_auth::BoxKeyFuture
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let auth = JwtAuthLayer::<Value>::builder(resolver)
        .algorithms([Algorithm::HS256])
        .cache(false)
        .on_validated(move |claims: Claims<Value>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if claims["sub"] == "mallory" {
                    return Err(AuthError::refused("user is disabled"));
                }
                let mut found = http::Extensions::new();
                found.insert(User {
                    name: "waited".into(),
                    plan: "free",
                });
                Ok(found)
            }
        })
        .build()
        .unwrap();
    let reached = Arc::new(AtomicUsize::new(0));
    let app = app(auth, &reached);
    let reply = get_with_token(app, "/me", &token("ada")).await;
    assert_eq!(
        (reply.status.as_u16(), reply.body.as_str()),
        (200, "waited free ada")
    );
    let reply = get_with_token(app, "/me", &token("mallory")).await;
    assert_eq!(reply.challenge(), invalid_token("user is disabled"));
    assert_eq!(
        (calls.load(Ordering::SeqCst), reached.load(Ordering::SeqCst)),
        (2, 1)
    );
}

#[tokio::test]
async fn a_description_that_cannot_be_quoted_falls_back_to_the_standard_one() {
    let auth = JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
        .algorithms([Algorithm::HS256])
        .on_validated(|_| async { Err(AuthError::refused("say \"no\"\r\nx: y")) })
        .build()
        .unwrap();
    let app = in_process(
        Router::new()
            .route("/me", routing::get(|| async { "in" }))
            .route_layer(auth),
    );
    let reply = get_with_token(app, "/me", &token("ada")).await;
    assert_eq!(
        reply.challenge(),
        invalid_token("token was refused by the application")
    );
}
