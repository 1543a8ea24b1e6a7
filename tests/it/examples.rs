//! The example servers' own routers and services, as a user meets them: `examples/axum`'s
//! routes (unknown paths stay 404; `route_layer` versus `layer`) and `examples/tonic`'s
//! `WhoAmI` RPC reading the caller's claims over a real tonic connection.

#[path = "../../examples/axum.rs"]
#[allow(dead_code, unreachable_pub)]
mod axum_example;

#[path = "../../examples/tonic.rs"]
#[allow(dead_code, unreachable_pub)]
mod tonic_example;

use axum::Router;
use axum::routing;
use http::uri::PathAndQuery;
use serde_json::json;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tower_jwt_auth::{Algorithm, JwtAuthLayer, StaticKey};

use crate::support::*;

fn auth<T>() -> tower_jwt_auth::JwtAuthBuilder<T, StaticKey> {
    JwtAuthLayer::<T>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
        .algorithms([Algorithm::HS256])
}

fn axum_app() -> Server {
    in_process(axum_example::app(auth().build().unwrap()))
}

#[tokio::test]
async fn the_axum_example_answers_unknown_paths_404_with_or_without_a_token() {
    let app = axum_app();
    assert_eq!(get(app, "/nope", &[]).await.status, 404);
    assert_eq!(get_with_token(app, "/nope", "garbage").await.status, 404);
    assert_eq!(get(app, "/health", &[]).await.status, 200);
    assert_eq!(get(app, "/me", &[]).await.status, 401);
    let reader = mint(
        Algorithm::HS256,
        Pair::A,
        &claims(json!({ "scope": "read" })),
    );
    assert_eq!(get_with_token(app, "/me", &reader).await.status, 200);
    let admin = get_with_token(app, "/admin", &reader).await;
    assert_eq!(admin.status, 403);
    assert!(admin.challenge().contains(r#"scope="admin""#));
    let boss = mint(
        Algorithm::HS256,
        Pair::A,
        &claims(json!({ "scope": "read admin" })),
    );
    assert_eq!(get_with_token(app, "/admin", &boss).await.status, 200);
}

/// Why the examples use `route_layer`: `layer` wraps the fallback too, so an unknown path
/// asks for a token (401) before it can say it does not exist.
#[tokio::test]
async fn layer_instead_of_route_layer_makes_unknown_paths_401() {
    let app = Router::new()
        .route("/me", routing::get(|| async { "me" }))
        .layer(auth::<serde_json::Value>().build().unwrap());
    assert_eq!(get(in_process(app), "/nope", &[]).await.status, 401);
}

async fn serve_tonic_example() -> Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = tonic::transport::Server::builder()
        .layer(auth::<tonic_example::AppClaims>().build().unwrap())
        .add_service(tonic_example::IdentityServer);
    tokio::spawn(async move {
        router
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .unwrap()
    });
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn who_am_i(
    channel: Channel,
    token: Option<&str>,
) -> Result<tonic_example::identity::WhoAmIReply, tonic::Status> {
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.unwrap();
    let mut request = tonic::Request::new(tonic_example::identity::WhoAmIRequest {});
    if let Some(token) = token {
        let value = MetadataValue::try_from(format!("Bearer {token}")).unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    let path = PathAndQuery::from_static(tonic_example::identity::WHO_AM_I);
    client
        .unary(request, path, tonic_prost::ProstCodec::default())
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn the_tonic_example_rpc_answers_with_the_callers_sub_and_scopes() {
    let channel = serve_tonic_example().await;
    let token = mint(
        Algorithm::HS256,
        Pair::A,
        &claims(json!({ "sub": "ada", "scope": "read write" })),
    );
    let reply = who_am_i(channel.clone(), Some(&token)).await.unwrap();
    assert_eq!(reply.sub, "ada");
    assert_eq!(reply.scopes, ["read", "write"]);
    let refused = who_am_i(channel, None).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
}
