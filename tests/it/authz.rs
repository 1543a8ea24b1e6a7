//! Per-route requirements over one validation (`JwtAuthLayer::require`): scopes, roles
//! read from Keycloak- and Entra-shaped claim paths, predicates, any-of / all-of trees,
//! 403 `insufficient_scope` with `scope="…"` over HTTP and 7 over gRPC.

#[path = "../../examples/axum.rs"]
#[allow(dead_code, unreachable_pub)]
mod axum_example;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing;
use serde_json::{Value, json};
use tower_jwt_auth::{Algorithm, Claims, JwtAuthLayer, Requirement, StaticKey};

use crate::support::*;

fn builder() -> tower_jwt_auth::JwtAuthBuilder<Value, StaticKey> {
    JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
        .algorithms([Algorithm::HS256])
}

fn token(extra: Value) -> String {
    mint(Algorithm::HS256, Pair::A, &claims(extra))
}

fn forbidden(scope: Option<&str>, description: &str) -> String {
    let scope = scope
        .map(|s| format!(r#", scope="{s}""#))
        .unwrap_or_default();
    format!(
        r#"Bearer realm="api", error="insufficient_scope", error_description="{description}"{scope}"#
    )
}

/// The example's router with the given roles path: `/me`, `/admin`, `/reports`.
fn example(roles_claim: &str) -> Server {
    let auth = JwtAuthLayer::<axum_example::AppClaims>::builder(
        StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap(),
    )
    .algorithms([Algorithm::HS256])
    .roles_claim(roles_claim)
    .build()
    .unwrap();
    in_process(axum_example::app(auth))
}

#[tokio::test]
async fn the_example_reads_entra_roles_at_the_top_level() {
    let app = example("roles");
    let auditor = token(json!({ "scope": "read", "roles": ["Reports.Read", "auditor"] }));
    let reply = get_with_token(app, "/reports", &auditor).await;
    assert_eq!(
        (reply.status.as_u16(), reply.body.as_str()),
        (200, "reports for auditor alice\n")
    );
    let me: Value = serde_json::from_str(&get_with_token(app, "/me", &auditor).await.body).unwrap();
    assert_eq!(me["roles"], json!(["Reports.Read", "auditor"]));
    // The role alone does not open /admin, which needs the scope.
    let admin = get_with_token(app, "/admin", &auditor).await;
    assert_eq!(admin.status, 403);
    assert_eq!(
        admin.challenge(),
        forbidden(Some("admin"), "token lacks a required scope")
    );

    for (claims, why) in [
        (json!({ "roles": ["Auditor"] }), "roles are case-sensitive"),
        (
            json!({ "roles": "auditors" }),
            "a string is one role, not a prefix",
        ),
        (json!({ "groups": ["auditor"] }), "another claim"),
        (
            json!({ "realm_access": { "roles": ["auditor"] } }),
            "another path",
        ),
        (json!({ "roles": [["auditor"]] }), "a nested array"),
        (json!({ "roles": { "auditor": true } }), "an object"),
        (json!({ "scope": "auditor" }), "a scope is not a role"),
    ] {
        let reply = get_with_token(app, "/reports", &token(claims)).await;
        assert_eq!(reply.status, 403, "{why}");
        assert_eq!(
            reply.challenge(),
            forbidden(None, "token lacks a required role"),
            "{why}"
        );
    }
    let single = token(json!({ "roles": "auditor" }));
    assert_eq!(get_with_token(app, "/reports", &single).await.status, 200);
}

#[tokio::test]
async fn the_example_reads_keycloak_realm_and_client_roles() {
    let realm = example("realm_access.roles");
    let keycloak = token(json!({
        "realm_access": { "roles": ["offline_access", "auditor"] },
        "resource_access": { "reports-api": { "roles": ["viewer"] } },
        "roles": ["not-read-here"],
    }));
    assert_eq!(
        get_with_token(realm, "/reports", &keycloak).await.status,
        200
    );
    let top_level_only = token(json!({ "roles": ["auditor"] }));
    assert_eq!(
        get_with_token(realm, "/reports", &top_level_only)
            .await
            .status,
        403
    );

    let client = example("resource_access.reports-api.roles");
    let viewer = token(json!({
        "resource_access": { "reports-api": { "roles": ["auditor"] }, "other": { "roles": [] } }
    }));
    assert_eq!(
        get_with_token(client, "/reports", &viewer).await.status,
        200
    );
    let other_client = token(json!({ "resource_access": { "other": { "roles": ["auditor"] } } }));
    assert_eq!(
        get_with_token(client, "/reports", &other_client)
            .await
            .status,
        403
    );
    // Two `realm_access` members: parsers disagree on which wins, so neither grants.
    let twice = mint_raw(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        format!(
            r#"{{"sub":"x","exp":{},"realm_access":{{"roles":[]}},"realm_access":{{"roles":["auditor"]}}}}"#,
            now() + 60
        )
        .as_bytes(),
        Algorithm::HS256,
        Pair::A,
    );
    assert_eq!(get_with_token(realm, "/reports", &twice).await.status, 403);
}

#[tokio::test]
async fn a_roles_path_with_an_empty_segment_fails_the_build() {
    for bad in ["", "realm_access..roles", ".roles", "roles."] {
        let built = builder().roles_claim(bad).build();
        assert!(
            matches!(&built, Err(tower_jwt_auth::ConfigError::InvalidClaimPath(p)) if p == bad),
            "{bad:?}"
        );
    }
}

/// Counts full validations and cache hits alike: the layer's claim checks run on both.
fn counted(validations: &Arc<AtomicUsize>) -> JwtAuthLayer<Value> {
    let count = Arc::clone(validations);
    builder()
        .roles_claim("realm_access.roles")
        .check_claims(move |_| {
            count.fetch_add(1, Ordering::SeqCst);
            true
        })
        .build()
        .unwrap()
}

#[tokio::test]
async fn each_request_is_validated_once_however_many_guards_it_meets() {
    let validations = Arc::new(AtomicUsize::new(0));
    let auth = counted(&validations);
    let reached = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&reached);
    let handler = move |claims: Claims<Value>| {
        let seen = Arc::clone(&seen);
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            claims.registered().sub.clone().unwrap_or_default()
        }
    };
    let app = Router::new()
        .route(
            "/deep",
            routing::get(handler)
                .route_layer(auth.require(Requirement::scope("read")))
                .route_layer(auth.require(Requirement::role("auditor")))
                .route_layer(auth.require(Requirement::claims(|c: &Claims<Value>| {
                    c.registered().sub.as_deref() == Some("alice")
                }))),
        )
        .route_layer(auth.require(Requirement::scope("api")))
        .route_layer(auth.clone());
    let app = in_process(app);
    let good = token(json!({ "scope": "api read", "realm_access": { "roles": ["auditor"] } }));
    for round in 1..=3 {
        let reply = get_with_token(app, "/deep", &good).await;
        assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, "alice"));
        assert_eq!(
            validations.load(Ordering::SeqCst),
            round,
            "one validation per request"
        );
    }
    assert_eq!(reached.load(Ordering::SeqCst), 3);
    // Refused by the innermost guard: still one validation, and the handler is not reached.
    let stranger = token(
        json!({ "sub": "mallory", "scope": "api read", "realm_access": { "roles": ["auditor"] } }),
    );
    let reply = get_with_token(app, "/deep", &stranger).await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.challenge(),
        forbidden(None, "token does not grant this access")
    );
    assert_eq!(validations.load(Ordering::SeqCst), 4);
    assert_eq!(reached.load(Ordering::SeqCst), 3);
    // Refused by the outermost guard, naming its scope.
    let no_api = token(json!({ "scope": "read", "realm_access": { "roles": ["auditor"] } }));
    let reply = get_with_token(app, "/deep", &no_api).await;
    assert_eq!(
        reply.challenge(),
        forbidden(Some("api"), "token lacks a required scope")
    );
    assert_eq!(validations.load(Ordering::SeqCst), 5);
    assert_eq!(reached.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn any_of_and_all_of_trees() {
    let auth = builder().roles_claim("groups").build().unwrap();
    // (scope admin) OR (role auditor AND scope reports:read)
    let tree = Requirement::any_of([
        Requirement::scope("admin"),
        Requirement::all_of([
            Requirement::role("auditor"),
            Requirement::scope("reports:read"),
        ]),
    ]);
    let app = in_process(
        Router::new()
            .route(
                "/r",
                routing::get(|| async { "in" }).route_layer(auth.require(tree)),
            )
            .route(
                "/both",
                routing::get(|| async { "in" })
                    .route_layer(auth.require(Requirement::scopes(["a", "b"]))),
            )
            .route(
                "/none",
                routing::get(|| async { "in" }).route_layer(auth.require(Requirement::any_of([]))),
            )
            .route_layer(auth),
    );
    for (claims, status) in [
        (json!({ "scope": "admin" }), 200),
        (
            json!({ "scope": "reports:read", "groups": ["auditor"] }),
            200,
        ),
        (json!({ "scope": "reports:read" }), 403),
        (json!({ "groups": ["auditor"] }), 403),
        (
            json!({ "scope": "administrator", "groups": "auditor" }),
            403,
        ),
    ] {
        let reply = get_with_token(app, "/r", &token(claims.clone())).await;
        assert_eq!(reply.status.as_u16(), status, "{claims}");
        if status == 403 {
            // The first alternative's scopes would suffice.
            assert_eq!(
                reply.challenge(),
                forbidden(Some("admin"), "token lacks a required scope")
            );
        }
    }
    let reply = get_with_token(app, "/both", &token(json!({ "scope": "a" }))).await;
    assert_eq!(
        reply.challenge(),
        forbidden(Some("a b"), "token lacks a required scope")
    );
    let scp = token(json!({ "scp": ["a", "b"] }));
    assert_eq!(get_with_token(app, "/both", &scp).await.status, 200);
    assert_eq!(
        get_with_token(app, "/none", &token(json!({ "scope": "admin" })))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn a_guard_without_claims_answers_401_and_never_reaches_the_handler() {
    let auth = builder().optional(true).build().unwrap();
    let reached = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&reached);
    let guarded = routing::get(move || {
        seen.fetch_add(1, Ordering::SeqCst);
        async { "in" }
    });
    // Optional layer: no token passes the layer, and the guard must stop it.
    let app = in_process(
        Router::new()
            .route(
                "/guarded",
                guarded.route_layer(auth.require(Requirement::all_of([]))),
            )
            .route("/open", routing::get(|| async { "open" }))
            .route_layer(auth.clone()),
    );
    let reply = get(app, "/guarded", &[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.challenge(), r#"Bearer realm="api""#);
    assert_eq!(get(app, "/open", &[]).await.status, 200);
    // A guard with no layer in front of it at all: 401 too.
    let bare = in_process(Router::new().route(
        "/bare",
        routing::get(|| async { "in" }).route_layer(auth.require(Requirement::scope("x"))),
    ));
    assert_eq!(
        get_with_token(bare, "/bare", &token(json!({ "scope": "x" })))
            .await
            .status,
        401
    );
    assert_eq!(reached.load(Ordering::SeqCst), 0);
    // With a token, the optional layer verifies and the guard lets it through.
    assert_eq!(
        get_with_token(app, "/guarded", &token(json!({})))
            .await
            .status,
        200
    );
    assert_eq!(reached.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_guard_refusal_over_grpc_is_status_7_and_uses_the_layers_realm() {
    let auth = builder().realm("orders").build().unwrap();
    let app = in_process(
        Router::new()
            .route(
                "/orders.Orders/Cancel",
                axum::routing::post(|| async { "in" })
                    .route_layer(auth.require(Requirement::scope("orders:cancel"))),
            )
            .route_layer(auth),
    );
    let reader = token(json!({ "scope": "orders:read" }));
    let bearer = format!("Bearer {reader}");
    let grpc = grpc_with_token(app, "/orders.Orders/Cancel", &reader).await;
    assert_eq!(grpc.status, 200);
    assert_eq!(grpc.header("grpc-status"), Some("7"));
    assert!(grpc.header("www-authenticate").is_none());
    let http = send(
        app,
        "POST",
        "/orders.Orders/Cancel",
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(
        http.challenge(),
        r#"Bearer realm="orders", error="insufficient_scope", error_description="token lacks a required scope", scope="orders:cancel""#
    );
}
