//! Behind a reverse proxy: `X-Forwarded-Proto` and `X-Forwarded-Host` decide the URL a DPoP
//! proof's `htu` must name only when the request came from a trusted proxy. Real axum
//! servers on loopback with `ConnectInfo`, so the peer is the real socket's: 127.0.0.1,
//! trusted in one server, not in the other.

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing;
use serde_json::{Value, json};
use tower_jwt_auth::{Algorithm, Claims, ConfigError, JwtAuthLayer, StaticKey, TrustedProxies};

use crate::support::dpop::*;
use crate::support::*;

/// The public URL nginx serves, as it forwards it.
const PUBLIC: &str = "https://api.example.test:8443";

fn proxies(networks: &[&str]) -> TrustedProxies {
    TrustedProxies::new(networks, |extensions| {
        extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
    })
    .unwrap()
}

/// `/orders` behind a layer with `proxies` (and `resource`, if any), served with
/// `ConnectInfo`; answers the caller's `sub`.
async fn server(proxies: TrustedProxies, resource: Option<&str>) -> SocketAddr {
    let mut builder =
        JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
            .algorithms([Algorithm::HS256])
            .trusted_proxies(proxies);
    if let Some(resource) = resource {
        builder = builder.resource(resource);
    }
    let app = Router::new()
        .route("/orders", routing::get(orders))
        .route_layer(builder.build().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    addr
}

async fn orders(claims: Claims<Value>) -> String {
    claims.registered().sub.clone().unwrap_or_default()
}

/// A DPoP request for `/orders` whose proof names `htu`, with extra headers.
async fn with_proof(addr: SocketAddr, htu: &str, headers: &[(&str, &str)]) -> Reply {
    let key = ProofKey::es256();
    let token = bound_token(&key, json!({}));
    let proof = key.proof("GET", htu, &token);
    let auth = format!("DPoP {token}");
    let mut all = vec![("authorization", auth.as_str()), ("dpop", proof.as_str())];
    all.extend_from_slice(headers);
    send(addr, "GET", "/orders", &all).await
}

#[track_caller]
fn assert_htu_refused(reply: &Reply) {
    assert_eq!(reply.status, 401, "{reply:?}");
    assert!(
        reply.challenge().starts_with(
            r#"DPoP realm="api", error="invalid_dpop_proof", error_description="DPoP proof htu is not the request URI""#
        ),
        "{reply:?}"
    );
}

const FORWARDED: [(&str, &str); 2] = [
    ("x-forwarded-proto", "https"),
    ("x-forwarded-host", "api.example.test:8443"),
];

#[tokio::test]
async fn a_trusted_proxy_names_the_url_the_proof_must_be_for() {
    let addr = server(proxies(&["127.0.0.1"]), None).await;
    let reply = with_proof(addr, &format!("{PUBLIC}/orders"), &FORWARDED).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    // The server's own view (plain HTTP to a loopback port) is not what the client used.
    assert_htu_refused(&with_proof(addr, &format!("http://{addr}/orders"), &FORWARDED).await);
    // Nor is the public host over plain HTTP: the forwarded scheme is checked.
    assert_htu_refused(&with_proof(addr, "http://api.example.test:8443/orders", &FORWARDED).await);
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    // Loopback is not the proxy here: whoever connects may have written the headers.
    let addr = server(proxies(&["192.0.2.1"]), None).await;
    let spoofed = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "evil.example"),
    ];
    assert_htu_refused(&with_proof(addr, "https://evil.example/orders", &spoofed).await);
    // The request's own Host still works, as without any proxy configured.
    let reply = with_proof(addr, &format!("http://{addr}/orders"), &spoofed).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn the_entry_the_proxy_appended_wins_over_the_clients() {
    let addr = server(proxies(&["127.0.0.0/8"]), None).await;
    // The client sent X-Forwarded-Host: evil.example; a proxy that appends added its own.
    let appended = [
        ("x-forwarded-proto", "http, https"),
        ("x-forwarded-host", "evil.example, api.example.test:8443"),
    ];
    assert_htu_refused(&with_proof(addr, "https://evil.example/orders", &appended).await);
    let reply = with_proof(addr, &format!("{PUBLIC}/orders"), &appended).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn a_forwarded_value_that_is_not_a_scheme_or_host_matches_no_proof() {
    let addr = server(proxies(&["127.0.0.1"]), None).await;
    for bad in [
        [
            ("x-forwarded-proto", "ftp"),
            ("x-forwarded-host", "api.example.test:8443"),
        ],
        [
            ("x-forwarded-proto", ""),
            ("x-forwarded-host", "api.example.test:8443"),
        ],
        [
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "user@api.example.test:8443"),
        ],
        [
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "api.example.test:84x3"),
        ],
        [("x-forwarded-proto", "https"), ("x-forwarded-host", ",")],
    ] {
        assert_htu_refused(&with_proof(addr, &format!("{PUBLIC}/orders"), &bad).await);
    }
    // The same server still serves a well-forwarded request.
    let reply = with_proof(addr, &format!("{PUBLIC}/orders"), &FORWARDED).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn a_configured_resource_wins_over_any_forwarded_header() {
    let addr = server(proxies(&["127.0.0.1"]), Some("https://api.example.test")).await;
    assert_htu_refused(&with_proof(addr, &format!("{PUBLIC}/orders"), &FORWARDED).await);
    let reply = with_proof(addr, "https://api.example.test/orders", &FORWARDED).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn without_a_peer_address_forwarded_headers_are_ignored() {
    // Served without ConnectInfo: the peer function finds nothing, so nothing is trusted.
    let auth = JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
        .algorithms([Algorithm::HS256])
        .trusted_proxies(proxies(&["127.0.0.1"]))
        .build()
        .unwrap();
    let addr = serve(
        Router::new()
            .route("/orders", routing::get(orders))
            .route_layer(auth),
    )
    .await;
    assert_htu_refused(&with_proof(addr, &format!("{PUBLIC}/orders"), &FORWARDED).await);
    let reply = with_proof(addr, &format!("http://{addr}/orders"), &FORWARDED).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[test]
fn a_proxy_that_is_not_an_address_or_network_fails_the_build() {
    let peer = |_: &http::Extensions| None::<IpAddr>;
    let error = TrustedProxies::new(["nginx.internal"], peer).unwrap_err();
    assert!(matches!(&error, ConfigError::InvalidProxy(e) if e == "nginx.internal"));
    assert_eq!(
        error.to_string(),
        r#"trusted proxy "nginx.internal" is neither an IP address nor a network such as 10.0.0.0/8"#
    );
}
