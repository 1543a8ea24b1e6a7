//! DPoP (RFC 9449) and protected resource metadata (RFC 9728), the DPoP part of the attack
//! catalogue: one named test per way a stolen or forged proof, or a bound token used
//! without its key, could get a request through. Each runs over real HTTP against an axum
//! server on loopback and asserts the status and the `WWW-Authenticate` challenges
//! (RFC 9449 §7.1), then that a valid request still passes.
//!
//! Proofs are made by `support::dpop` (from the RFC: jsonwebtoken's JWK of the tests' keys,
//! RFC 7638 thumbprints and `ath` by aws-lc-rs, every header and claim the test's choice);
//! `interop_pyjwt_*` use proofs made by PyJWT.

use std::net::SocketAddr;

use axum::Router;
use axum::routing;
use serde_json::{Value, json};
use tower_jwt_auth::dpop::{DpopMode, MemoryReplayStore, ReplayStore};
use tower_jwt_auth::{Algorithm, Claims, JwtAuthLayer, StaticKey};

use crate::support::dpop::*;
use crate::support::*;

/// The resource as clients reach it (through a proxy in production): `htu` is checked
/// against it, whatever the socket the test connects to.
const RESOURCE: &str = "https://api.example.test";
const METADATA: &str = "https://api.example.test/.well-known/oauth-protected-resource";
const ALGS: &str = "RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA";

fn htu(path: &str) -> String {
    format!("{RESOURCE}{path}")
}

fn layer(mode: DpopMode) -> JwtAuthLayer<Value> {
    JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
        .algorithms([Algorithm::HS256])
        .resource(RESOURCE)
        .authorization_servers(["https://auth.example.test"])
        .scopes_supported(["orders:read"])
        .dpop(mode)
        .dpop_replay_store(MemoryReplayStore::new(10_000))
        .build()
        .unwrap()
}

/// `/orders` (GET and POST) behind the layer answers `<sub> <thumbprint or "bearer">`; the
/// metadata document beside it, unauthenticated.
async fn server(mode: DpopMode) -> SocketAddr {
    serve(app(layer(mode))).await
}

fn app<R>(auth: JwtAuthLayer<Value, R>) -> Router
where
    R: tower_jwt_auth::KeyResolver,
    R::Future: Send,
{
    let metadata = auth.resource_metadata().unwrap().clone();
    Router::new()
        .route("/orders", routing::get(orders).post(orders))
        .route_layer(auth)
        .route_service(metadata.path(), metadata.service())
}

async fn orders(claims: Claims<Value>) -> String {
    let sub = claims.registered().sub.clone().unwrap_or_default();
    format!("{sub} {}", claims.dpop_thumbprint().unwrap_or("bearer"))
}

async fn dpop(addr: SocketAddr, method: &str, path: &str, token: &str, proof: &str) -> Reply {
    let auth = format!("DPoP {token}");
    send(
        addr,
        method,
        path,
        &[("authorization", auth.as_str()), ("dpop", proof)],
    )
    .await
}

/// Every `WWW-Authenticate` field of a reply.
fn challenges(reply: &Reply) -> Vec<&str> {
    reply
        .headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

/// 401 with the one challenge `DPoP … error="invalid_dpop_proof"` of RFC 9449 §7.1.
#[track_caller]
fn assert_proof_refused(reply: &Reply, description: &str) {
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(
        challenges(reply),
        [format!(
            r#"DPoP realm="api", error="invalid_dpop_proof", error_description="{description}", algs="{ALGS}", resource_metadata="{METADATA}""#
        )],
        "{reply:?}"
    );
}

/// 401 `invalid_token` for the binding, in the `DPoP` challenge.
#[track_caller]
fn assert_dpop_token_refused(reply: &Reply, description: &str) {
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(
        challenges(reply),
        [format!(
            r#"DPoP realm="api", error="invalid_token", error_description="{description}", algs="{ALGS}", resource_metadata="{METADATA}""#
        )],
        "{reply:?}"
    );
}

/// The server still takes a valid DPoP request.
async fn assert_still_serves(addr: SocketAddr) {
    let key = ProofKey::es256();
    let token = bound_token(&key, json!({}));
    let proof = key.proof("GET", &htu("/orders"), &token);
    let reply = dpop(addr, "GET", "/orders", &token, &proof).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

/// A proof by `key` with the header and claims of a valid one, changed by `edit`.
fn edited_proof(key: &ProofKey, token: &str, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
    let (mut header, mut claims) = (key.header(), proof_claims("GET", &htu("/orders"), token));
    edit(&mut header, &mut claims);
    key.sign(&header, &claims)
}

/// Sends a proof edited from a valid one for the key's own bound token.
async fn send_edited(addr: SocketAddr, edit: impl FnOnce(&mut Value, &mut Value)) -> Reply {
    let key = ProofKey::es256();
    let token = bound_token(&key, json!({}));
    let proof = edited_proof(&key, &token, edit);
    dpop(addr, "GET", "/orders", &token, &proof).await
}

// ---------------------------------------------------------------------------------------------
// Accepted
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_bound_token_with_a_valid_proof_reaches_the_handler_with_its_thumbprint() {
    let addr = server(DpopMode::Allowed).await;
    for alg in [
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::RS256,
        Algorithm::PS256,
    ] {
        let key = ProofKey::new(alg, Pair::A);
        let token = bound_token(&key, json!({}));
        for method in ["GET", "POST"] {
            let proof = key.proof(method, &htu("/orders"), &token);
            let reply = dpop(addr, method, "/orders", &token, &proof).await;
            assert_eq!(reply.status, 200, "{alg:?} {method}: {reply:?}");
            assert_eq!(reply.body, format!("alice {}", key.thumbprint()), "{alg:?}");
        }
    }
}

#[tokio::test]
async fn the_scheme_name_is_case_insensitive() {
    let addr = server(DpopMode::Allowed).await;
    let key = ProofKey::es256();
    let token = bound_token(&key, json!({}));
    let proof = key.proof("GET", &htu("/orders"), &token);
    let auth = format!("dpop {token}");
    let reply = get(
        addr,
        "/orders",
        &[("authorization", auth.as_str()), ("dpop", proof.as_str())],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn an_unbound_bearer_token_still_works_in_allowed_mode() {
    let addr = server(DpopMode::Allowed).await;
    let token = mint(Algorithm::HS256, Pair::A, &claims(json!({})));
    let reply = get_with_token(addr, "/orders", &token).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200.try_into().unwrap(), "alice bearer")
    );
}

#[tokio::test]
async fn the_query_is_not_part_of_htu() {
    let addr = server(DpopMode::Allowed).await;
    let key = ProofKey::es256();
    let token = bound_token(&key, json!({}));
    // The request has a query the proof does not name, and the other way round.
    let proof = key.proof("GET", &htu("/orders"), &token);
    let reply = dpop(addr, "GET", "/orders?page=2", &token, &proof).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let proof = key.proof("GET", &htu("/orders?page=2#top"), &token);
    let reply = dpop(addr, "GET", "/orders", &token, &proof).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn a_cached_bound_token_still_needs_a_fresh_proof_each_time() {
    let addr = server(DpopMode::Allowed).await;
    let key = ProofKey::es256();
    let token = bound_token(&key, json!({}));
    // Three accepted requests: the token is in the verified-token cache after the second.
    for _ in 0..3 {
        let proof = key.proof("GET", &htu("/orders"), &token);
        assert_eq!(
            dpop(addr, "GET", "/orders", &token, &proof).await.status,
            200
        );
    }
    let reply = get_with_token(addr, "/orders", &token).await;
    assert_eq!(
        reply.status, 401,
        "a cache hit still checks the binding: {reply:?}"
    );
    let other = ProofKey::new(Algorithm::ES256, Pair::B);
    let proof = other.proof("GET", &htu("/orders"), &token);
    assert_dpop_token_refused(
        &dpop(addr, "GET", "/orders", &token, &proof).await,
        "DPoP proof key is not the key the token is bound to",
    );
}

// ---------------------------------------------------------------------------------------------
// The proof (RFC 9449 §4.3)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_replayed_proof_is_refused() {
    let addr = server(DpopMode::Allowed).await;
    let key = ProofKey::es256();
    let token = bound_token(&key, json!({}));
    let proof = key.proof("GET", &htu("/orders"), &token);
    assert_eq!(
        dpop(addr, "GET", "/orders", &token, &proof).await.status,
        200
    );
    assert_proof_refused(
        &dpop(addr, "GET", "/orders", &token, &proof).await,
        "DPoP proof has been used before",
    );
    assert_still_serves(addr).await;
}

#[tokio::test]
async fn a_proof_for_another_method_is_refused() {
    let addr = server(DpopMode::Allowed).await;
    let key = ProofKey::es256();
    let token = bound_token(&key, json!({}));
    for htm in ["POST", "get", "", "GET "] {
        let proof = key.proof(htm, &htu("/orders"), &token);
        assert_proof_refused(
            &dpop(addr, "GET", "/orders", &token, &proof).await,
            "DPoP proof htm is not the request method",
        );
    }
    assert_still_serves(addr).await;
}

#[tokio::test]
async fn a_proof_for_another_uri_is_refused() {
    let addr = server(DpopMode::Allowed).await;
    let key = ProofKey::es256();
    let token = bound_token(&key, json!({}));
    for other in [
        "https://api.example.test/orders/1",
        "https://api.example.test/Orders",
        "https://api.example.test/",
        "http://api.example.test/orders",
        "https://evil.example.test/orders",
        "https://api.example.test:8443/orders",
        "https://api.example.test.evil/orders",
        "https://user@api.example.test/orders",
        "/orders",
        "",
    ] {
        let proof = key.proof("GET", other, &token);
        assert_proof_refused(
            &dpop(addr, "GET", "/orders", &token, &proof).await,
            "DPoP proof htu is not the request URI",
        );
    }
    // The socket's own address is not the resource either.
    let proof = key.proof("GET", &format!("http://{addr}/orders"), &token);
    assert_proof_refused(
        &dpop(addr, "GET", "/orders", &token, &proof).await,
        "DPoP proof htu is not the request URI",
    );
    assert_still_serves(addr).await;
}

#[tokio::test]
async fn a_proof_too_old_or_from_the_future_is_refused() {
    let addr = server(DpopMode::Allowed).await;
    for offset in [-301i64, 301, -86_400, 1_000_000] {
        let reply = send_edited(addr, |_, claims| {
            claims["iat"] = json!(now() as i64 + offset);
        })
        .await;
        assert_proof_refused(&reply, "DPoP proof iat is outside the accepted window");
    }
    for iat in [json!("now"), json!(null), json!(-1)] {
        let reply = send_edited(addr, |_, claims| claims["iat"] = iat).await;
        assert_eq!(reply.status, 401, "{reply:?}");
    }
    // Just inside the window, either side.
    for offset in [-290i64, 290] {
        let reply = send_edited(addr, |_, claims| {
            claims["iat"] = json!(now() as i64 + offset);
        })
        .await;
        assert_eq!(reply.status, 200, "{offset}: {reply:?}");
    }
}

#[tokio::test]
async fn a_proof_without_or_with_the_wrong_ath_is_refused() {
    let addr = server(DpopMode::Allowed).await;
    let other_token = bound_token(&ProofKey::es256(), json!({ "sub": "mallory" }));
    for ath in [None, Some(ath(&other_token)), Some(String::new())] {
        let reply = send_edited(addr, |_, claims| match &ath {
            Some(ath) => claims["ath"] = json!(ath),
            None => {
                claims.as_object_mut().unwrap().remove("ath");
            }
        })
        .await;
        assert_proof_refused(&reply, "DPoP proof ath does not match the access token");
    }
    assert_still_serves(addr).await;
}

#[tokio::test]
async fn a_proof_by_another_key_than_cnf_jkt_is_refused() {
    let addr = server(DpopMode::Allowed).await;
    let (owner, thief) = (ProofKey::es256(), ProofKey::new(Algorithm::ES256, Pair::B));
    let token = bound_token(&owner, json!({}));
    let proof = thief.proof("GET", &htu("/orders"), &token);
    assert_dpop_token_refused(
        &dpop(addr, "GET", "/orders", &token, &proof).await,
        "DPoP proof key is not the key the token is bound to",
    );
    // Signed by the thief but carrying the owner's public key: the signature fails.
    let mut header = thief.header();
    header["jwk"] = owner.jwk.clone();
    let forged = thief.sign(&header, &proof_claims("GET", &htu("/orders"), &token));
    assert_proof_refused(
        &dpop(addr, "GET", "/orders", &token, &forged).await,
        "DPoP proof signature is invalid",
    );
    assert_still_serves(addr).await;
}

#[tokio::test]
async fn a_proof_whose_typ_is_not_dpop_jwt_is_refused() {
    let addr = server(DpopMode::Allowed).await;
    let reply = send_edited(addr, |header, _| header["typ"] = json!(1)).await;
    assert_proof_refused(&reply, "DPoP proof is not a well-formed JWT");
    for typ in [json!("JWT"), json!("at+jwt"), json!(null), json!("dpop")] {
        let reply = send_edited(addr, |header, _| header["typ"] = typ).await;
        assert_proof_refused(&reply, "DPoP proof typ is not dpop+jwt");
    }
    let reply = send_edited(addr, |header, _| {
        header.as_object_mut().unwrap().remove("typ");
    })
    .await;
    assert_proof_refused(&reply, "DPoP proof typ is not dpop+jwt");
    // A media type compares case-insensitively, `application/` optional (RFC 7515 §4.1.9).
    let reply = send_edited(addr, |header, _| {
        header["typ"] = json!("application/DPoP+JWT")
    })
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn a_proof_without_jti_is_refused() {
    let addr = server(DpopMode::Allowed).await;
    let reply = send_edited(addr, |_, claims| {
        claims.as_object_mut().unwrap().remove("jti");
    })
    .await;
    assert_proof_refused(&reply, "DPoP proof has no jti");
    let reply = send_edited(addr, |_, claims| claims["jti"] = json!("")).await;
    assert_proof_refused(&reply, "DPoP proof has no jti");
}

#[tokio::test]
async fn a_proof_jwk_holding_a_private_key_is_refused() {
    let addr = server(DpopMode::Allowed).await;
    let reply = send_edited(addr, |header, _| {
        header["jwk"]["d"] = json!("870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE");
    })
    .await;
    assert_proof_refused(&reply, "DPoP proof jwk holds a private key");
    assert_still_serves(addr).await;
}

#[tokio::test]
async fn an_hmac_or_unsigned_proof_is_refused() {
    let addr = server(DpopMode::Allowed).await;
    let key = ProofKey::es256();
    let token = bound_token(&key, json!({}));
    // HS256 with the shared secret, carrying the client's public key or a symmetric one.
    let claims = proof_claims("GET", &htu("/orders"), &token);
    for jwk in [key.jwk.clone(), json!({ "kty": "oct", "k": b64(SECRET_A) })] {
        let header = json!({ "typ": "dpop+jwt", "alg": "HS256", "jwk": jwk });
        let proof = mint_raw(
            &header.to_string(),
            claims.to_string().as_bytes(),
            Algorithm::HS256,
            Pair::A,
        );
        assert_proof_refused(
            &dpop(addr, "GET", "/orders", &token, &proof).await,
            "DPoP proof algorithm is not allowed",
        );
    }
    // `alg: none`, no signature.
    let header = json!({ "typ": "dpop+jwt", "alg": "none", "jwk": key.jwk });
    let unsigned = format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    assert_proof_refused(
        &dpop(addr, "GET", "/orders", &token, &unsigned).await,
        "DPoP proof algorithm is not allowed",
    );
    // An algorithm the key does not allow (ES384 claimed for a P-256 key).
    let reply = send_edited(addr, |header, _| header["alg"] = json!("ES384")).await;
    assert_proof_refused(&reply, "DPoP proof algorithm is not allowed");
    assert_still_serves(addr).await;
}

#[tokio::test]
async fn a_proof_without_jwk_or_with_crit_is_refused() {
    let addr = server(DpopMode::Allowed).await;
    let reply = send_edited(addr, |header, _| {
        header.as_object_mut().unwrap().remove("jwk");
    })
    .await;
    assert_proof_refused(&reply, "DPoP proof has no jwk");
    let reply = send_edited(addr, |header, _| header["crit"] = json!(["exp"])).await;
    assert_proof_refused(&reply, "DPoP proof lists an unsupported critical extension");
    let reply = send_edited(addr, |header, _| {
        header["jwk"] = json!({ "kty": "RSA", "e": "AQAB", "n": "AQAB" })
    })
    .await;
    assert_proof_refused(&reply, "DPoP proof jwk is not a usable key");
}

#[tokio::test]
async fn the_dpop_scheme_without_a_proof_is_refused() {
    let addr = server(DpopMode::Allowed).await;
    let key = ProofKey::es256();
    let token = bound_token(&key, json!({}));
    let auth = format!("DPoP {token}");
    assert_proof_refused(
        &get(addr, "/orders", &[("authorization", auth.as_str())]).await,
        "no DPoP proof",
    );
    for garbage in ["", "not a jwt", "a.b.c", "e30.e30"] {
        let reply = get(
            addr,
            "/orders",
            &[("authorization", auth.as_str()), ("dpop", garbage)],
        )
        .await;
        assert_proof_refused(&reply, "DPoP proof is not a well-formed JWT");
    }
    let huge = "a".repeat(9000);
    let reply = get(
        addr,
        "/orders",
        &[("authorization", auth.as_str()), ("dpop", huge.as_str())],
    )
    .await;
    assert_proof_refused(&reply, "DPoP proof is too large");
}

#[tokio::test]
async fn two_dpop_headers_are_refused() {
    let addr = server(DpopMode::Allowed).await;
    let key = ProofKey::es256();
    let token = bound_token(&key, json!({}));
    let (one, two) = (
        key.proof("GET", &htu("/orders"), &token),
        key.proof("GET", &htu("/orders"), &token),
    );
    let auth = format!("DPoP {token}");
    let reply = get(
        addr,
        "/orders",
        &[
            ("authorization", auth.as_str()),
            ("dpop", one.as_str()),
            ("dpop", two.as_str()),
        ],
    )
    .await;
    assert_proof_refused(&reply, "more than one DPoP proof");
    // Neither proof was spent by the refused request.
    assert_eq!(dpop(addr, "GET", "/orders", &token, &one).await.status, 200);
}

// ---------------------------------------------------------------------------------------------
// The token's binding (RFC 9449 §7)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_bound_token_sent_as_bearer_is_refused() {
    let addr = server(DpopMode::Allowed).await;
    let key = ProofKey::es256();
    let token = bound_token(&key, json!({}));
    let reply = get_with_token(addr, "/orders", &token).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(
        challenges(&reply),
        [
            format!(
                r#"Bearer realm="api", error="invalid_token", error_description="DPoP-bound token must be sent with the DPoP scheme and a proof", resource_metadata="{METADATA}""#
            ),
            format!(r#"DPoP realm="api", algs="{ALGS}", resource_metadata="{METADATA}""#),
        ]
    );
    // With a valid proof beside it, the Bearer scheme is still refused.
    let proof = key.proof("GET", &htu("/orders"), &token);
    let auth = format!("Bearer {token}");
    let reply = get(
        addr,
        "/orders",
        &[("authorization", auth.as_str()), ("dpop", proof.as_str())],
    )
    .await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_still_serves(addr).await;
}

#[tokio::test]
async fn an_unbound_token_with_the_dpop_scheme_is_refused() {
    let addr = server(DpopMode::Allowed).await;
    let key = ProofKey::es256();
    let token = mint(Algorithm::HS256, Pair::A, &claims(json!({})));
    let proof = key.proof("GET", &htu("/orders"), &token);
    assert_dpop_token_refused(
        &dpop(addr, "GET", "/orders", &token, &proof).await,
        "token sent with the DPoP scheme is not DPoP-bound",
    );
}

#[tokio::test]
async fn required_mode_refuses_an_unbound_token() {
    let addr = server(DpopMode::Required).await;
    let token = mint(Algorithm::HS256, Pair::A, &claims(json!({})));
    let reply = get_with_token(addr, "/orders", &token).await;
    assert_dpop_token_refused(&reply, "a DPoP-bound token is required");
    // No credentials: the DPoP challenge alone, no Bearer.
    let reply = get(addr, "/orders", &[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        challenges(&reply),
        [format!(
            r#"DPoP realm="api", algs="{ALGS}", resource_metadata="{METADATA}""#
        )]
    );
    assert_still_serves(addr).await;
}

#[tokio::test]
async fn disabled_mode_ignores_the_scheme_and_refuses_bound_tokens() {
    let addr = server(DpopMode::Disabled).await;
    let key = ProofKey::es256();
    let token = bound_token(&key, json!({}));
    let proof = key.proof("GET", &htu("/orders"), &token);
    let reply = dpop(addr, "GET", "/orders", &token, &proof).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        challenges(&reply),
        [format!(
            r#"Bearer realm="api", resource_metadata="{METADATA}""#
        )],
        "the DPoP scheme is not ours: no credentials"
    );
    let reply = get_with_token(addr, "/orders", &token).await;
    assert_eq!(
        challenges(&reply),
        [format!(
            r#"Bearer realm="api", error="invalid_token", error_description="DPoP-bound tokens are not accepted here", resource_metadata="{METADATA}""#
        )]
    );
    let plain = mint(Algorithm::HS256, Pair::A, &claims(json!({})));
    assert_eq!(get_with_token(addr, "/orders", &plain).await.status, 200);
}

#[tokio::test]
async fn a_bound_token_validated_without_a_request_is_refused() {
    let validator = layer(DpopMode::Allowed).validator().clone();
    let token = bound_token(&ProofKey::es256(), json!({}));
    let error = validator.validate(&token).await.unwrap_err();
    assert_eq!(error.kind(), tower_jwt_auth::ErrorKind::InvalidDpopBinding);
}

#[tokio::test]
async fn grpc_gets_unauthenticated_for_a_bad_proof() {
    let addr = server(DpopMode::Allowed).await;
    let key = ProofKey::es256();
    let token = bound_token(&key, json!({}));
    let auth = format!("DPoP {token}");
    let reply = send(
        addr,
        "POST",
        "/orders",
        &[
            ("authorization", auth.as_str()),
            ("dpop", "garbage"),
            ("content-type", "application/grpc"),
        ],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("grpc-status"), Some("16"));
    assert_eq!(
        reply.header("grpc-message"),
        Some("DPoP proof is not a well-formed JWT")
    );
    assert!(reply.header("www-authenticate").is_none());
}

#[tokio::test]
async fn a_full_replay_store_answers_503_not_a_pass() {
    let auth = JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
        .algorithms([Algorithm::HS256])
        .resource(RESOURCE)
        .dpop_replay_store(MemoryReplayStore::new(1))
        .build()
        .unwrap();
    let addr = serve(app(auth)).await;
    let key = ProofKey::es256();
    let token = bound_token(&key, json!({}));
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let proof = key.proof("GET", &htu("/orders"), &token);
        let reply = dpop(addr, "GET", "/orders", &token, &proof).await;
        if reply.status == 503 {
            assert_eq!(reply.header("retry-after"), Some("5"));
        }
        statuses.push(reply.status.as_u16());
    }
    // One entry per shard at most: a few get through, then every shard is full.
    assert!(statuses.contains(&503), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    assert!(
        statuses.iter().filter(|s| **s == 200).count() <= 16,
        "{statuses:?}"
    );
}

/// A replay store that answers only through its future, after a yield: the pipeline's
/// waiting path.
struct YieldingReplay(MemoryReplayStore);

impl ReplayStore for YieldingReplay {
    fn first_use(
        &self,
        id: &str,
        until: u64,
    ) -> futures_util::future::BoxFuture<
        'static,
        Result<bool, tower_jwt_auth::revocation::StoreError>,
    > {
        let answer = self.0.first_use_now(id, until).unwrap();
        Box::pin(async move {
            tokio::task::yield_now().await;
            answer
        })
    }
}

#[tokio::test]
async fn the_proof_survives_a_resolver_and_a_replay_store_that_wait() {
    let key = std::sync::Arc::new(verification_key(Algorithm::HS256, Pair::A));
    let resolver = move |_: &tower_jwt_auth::TokenHeader<'_>| {
        let key = std::sync::Arc::clone(&key);
        Box::pin(async move {
            tokio::task::yield_now().await;
            Ok(key)
        }) as tower_jwt_auth::BoxKeyFuture
    };
    let auth = JwtAuthLayer::<Value>::builder(resolver)
        .algorithms([Algorithm::HS256])
        .resource(RESOURCE)
        .cache(false)
        .dpop_replay_store(YieldingReplay(MemoryReplayStore::new(100)))
        .build()
        .unwrap();
    let addr = serve(app(auth)).await;
    let (owner, thief) = (ProofKey::es256(), ProofKey::new(Algorithm::EdDSA, Pair::B));
    let token = bound_token(&owner, json!({}));
    let proof = owner.proof("GET", &htu("/orders"), &token);
    let reply = dpop(addr, "GET", "/orders", &token, &proof).await;
    assert_eq!(
        reply.body,
        format!("alice {}", owner.thumbprint()),
        "{reply:?}"
    );
    assert_proof_refused(
        &dpop(addr, "GET", "/orders", &token, &proof).await,
        "DPoP proof has been used before",
    );
    let stolen = thief.proof("GET", &htu("/orders"), &token);
    assert_dpop_token_refused(
        &dpop(addr, "GET", "/orders", &token, &stolen).await,
        "DPoP proof key is not the key the token is bound to",
    );
    assert_eq!(get_with_token(addr, "/orders", &token).await.status, 401);
}

// ---------------------------------------------------------------------------------------------
// Server nonces (RFC 9449 §9)
// ---------------------------------------------------------------------------------------------

async fn nonce_server(secret: &[u8]) -> SocketAddr {
    let auth = JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
        .algorithms([Algorithm::HS256])
        .resource(RESOURCE)
        .dpop_nonces(secret, std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    serve(app(auth)).await
}

#[tokio::test]
async fn with_nonces_a_proof_must_carry_the_servers_nonce() {
    let (addr, twin) = (nonce_server(&[9; 32]).await, nonce_server(&[9; 32]).await);
    let key = ProofKey::es256();
    let token = bound_token(&key, json!({}));
    let proof = key.proof("GET", &htu("/orders"), &token);
    let first = dpop(addr, "GET", "/orders", &token, &proof).await;
    assert_eq!(first.status, 401);
    assert_eq!(
        challenges(&first),
        [format!(
            r#"DPoP realm="api", error="use_dpop_nonce", error_description="DPoP proof needs the nonce this server provides", algs="{ALGS}", resource_metadata="{METADATA}""#
        )]
    );
    let nonce = first
        .header("dpop-nonce")
        .expect("a DPoP-Nonce to retry with")
        .to_owned();
    let with_nonce = |nonce: &str| {
        let mut claims = proof_claims("GET", &htu("/orders"), &token);
        claims["nonce"] = json!(nonce);
        key.sign(&key.header(), &claims)
    };
    let reply = dpop(addr, "GET", "/orders", &token, &with_nonce(&nonce)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    // Another instance with the same secret takes it too: nothing is shared but the secret.
    let reply = dpop(twin, "GET", "/orders", &token, &with_nonce(&nonce)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    // Forged, foreign or empty nonces are refused with a fresh one.
    let foreign = nonce_server(&[10; 32]).await;
    let theirs = dpop(foreign, "GET", "/orders", &token, &proof).await;
    let theirs = theirs.header("dpop-nonce").unwrap().to_owned();
    for bad in [theirs.as_str(), "", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let reply = dpop(addr, "GET", "/orders", &token, &with_nonce(bad)).await;
        assert_eq!(reply.status, 401, "{bad}");
        assert!(
            reply.challenge().contains(r#"error="use_dpop_nonce""#),
            "{reply:?}"
        );
        assert!(reply.header("dpop-nonce").is_some());
    }
    // gRPC clients get the nonce in the headers too.
    let auth = format!("DPoP {token}");
    let grpc = send(
        addr,
        "POST",
        "/orders",
        &[
            ("authorization", auth.as_str()),
            ("dpop", key.proof("POST", &htu("/orders"), &token).as_str()),
            ("content-type", "application/grpc"),
        ],
    )
    .await;
    assert_eq!(grpc.header("grpc-status"), Some("16"));
    assert!(grpc.header("dpop-nonce").is_some());
}

#[test]
fn a_short_nonce_secret_fails_the_build() {
    let built =
        JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
            .algorithms([Algorithm::HS256])
            .dpop_nonces(b"short", std::time::Duration::from_secs(60))
            .build();
    assert!(matches!(
        built,
        Err(tower_jwt_auth::ConfigError::WeakHmacSecret {
            len: 5,
            min: 32,
            ..
        })
    ));
}

// ---------------------------------------------------------------------------------------------
// Protected resource metadata (RFC 9728)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_metadata_document_describes_the_layer_in_each_mode() {
    for (mode, required) in [(DpopMode::Allowed, false), (DpopMode::Required, true)] {
        let addr = server(mode).await;
        let reply = get(addr, "/.well-known/oauth-protected-resource", &[]).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let document: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(
            document,
            json!({
                "resource": RESOURCE,
                "authorization_servers": ["https://auth.example.test"],
                "scopes_supported": ["orders:read"],
                "bearer_methods_supported": ["header"],
                "dpop_signing_alg_values_supported": ALGS.split(' ').collect::<Vec<_>>(),
                "dpop_bound_access_tokens_required": required,
            })
        );
        let post = send(addr, "POST", "/.well-known/oauth-protected-resource", &[]).await;
        assert_eq!(post.status, 405);
    }
    let addr = server(DpopMode::Disabled).await;
    let reply = get(addr, "/.well-known/oauth-protected-resource", &[]).await;
    let document: Value = serde_json::from_str(&reply.body).unwrap();
    assert!(document.get("dpop_signing_alg_values_supported").is_none());
    assert_eq!(document["dpop_bound_access_tokens_required"], false);
}

#[tokio::test]
async fn every_401_challenge_points_at_the_metadata() {
    let addr = server(DpopMode::Allowed).await;
    let reply = get(addr, "/orders", &[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        challenges(&reply),
        [
            format!(r#"Bearer realm="api", resource_metadata="{METADATA}""#),
            format!(r#"DPoP realm="api", algs="{ALGS}", resource_metadata="{METADATA}""#),
        ]
    );
    let reply = get_with_token(addr, "/orders", "not.a.token").await;
    assert!(
        challenges(&reply)
            .iter()
            .all(|c| c.ends_with(&format!(r#"resource_metadata="{METADATA}""#)))
    );
}

#[test]
fn a_resource_with_a_path_serves_metadata_under_it_and_bad_ones_fail_the_build() {
    let build = |url: &str| {
        JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
            .algorithms([Algorithm::HS256])
            .resource(url)
            .build()
    };
    let layer = build("https://example.test/api/").unwrap();
    let metadata = layer.resource_metadata().unwrap();
    assert_eq!(metadata.path(), "/.well-known/oauth-protected-resource/api");
    assert_eq!(
        metadata.url(),
        "https://example.test/.well-known/oauth-protected-resource/api"
    );
    let document: Value = serde_json::from_str(metadata.json()).unwrap();
    assert_eq!(document["resource"], "https://example.test/api");
    for bad in [
        "example.test",
        "https://example.test/?x=1",
        "ftp://example.test",
    ] {
        assert!(
            matches!(
                build(bad),
                Err(tower_jwt_auth::ConfigError::InvalidResource(_))
            ),
            "{bad}"
        );
    }
    let hmac = JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
        .algorithms([Algorithm::HS256])
        .dpop_algorithms([Algorithm::ES256, Algorithm::HS256])
        .build();
    assert!(matches!(
        hmac,
        Err(tower_jwt_auth::ConfigError::SymmetricDpopAlgorithm(
            Algorithm::HS256
        ))
    ));
}

#[tokio::test]
async fn without_a_resource_htu_is_checked_against_the_host_header() {
    let auth = JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap();
    assert!(auth.resource_metadata().is_none());
    let addr = serve(
        Router::new()
            .route("/orders", routing::get(orders))
            .route_layer(auth),
    )
    .await;
    let key = ProofKey::es256();
    let token = bound_token(&key, json!({}));
    let proof = key.proof("GET", &format!("http://{addr}/orders"), &token);
    assert_eq!(
        dpop(addr, "GET", "/orders", &token, &proof).await.status,
        200
    );
    let proof = key.proof("GET", "http://elsewhere.test/orders", &token);
    let reply = dpop(addr, "GET", "/orders", &token, &proof).await;
    assert_eq!(reply.status, 401);
    assert!(
        reply
            .challenge()
            .starts_with(r#"DPoP realm="api", error="invalid_dpop_proof""#)
    );
}

// ---------------------------------------------------------------------------------------------
// Proofs made by PyJWT
// ---------------------------------------------------------------------------------------------

/// Runs `tests/interop/dpop_client.py` with `args`; its stdout, trimmed.
fn pyjwt(args: &[&str]) -> String {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/dpop_client.py");
    let output = std::process::Command::new(&python)
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e}"));
    assert!(
        output.status.success(),
        "dpop_client.py {args:?} failed (needs: pip install pyjwt cryptography): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
#[ignore = "needs Python PyJWT; run scripts/test"]
async fn interop_pyjwt_proofs_are_accepted_and_checked() {
    let addr = server(DpopMode::Required).await;
    let dir = std::env::temp_dir().join(format!("tjwt-dpop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for alg in ["ES256", "ES384", "EdDSA", "RS256", "PS256"] {
        let pem = dir.join(format!("{alg}.pem"));
        let pem = pem.to_str().unwrap();
        let made: Value = serde_json::from_str(&pyjwt(&["keygen", alg, pem])).unwrap();
        let jkt = made["jkt"].as_str().unwrap();
        // Three RFC 7638 implementations agree: Python's, the tests', the crate's.
        assert_eq!(thumbprint(&made["jwk"]), jkt, "{alg}");
        assert_eq!(
            tower_jwt_auth::dpop::jwk_thumbprint(&made["jwk"].to_string()).as_deref(),
            Some(jkt),
            "{alg}"
        );
        let mut claims = claims(json!({}));
        claims["cnf"] = json!({ "jkt": jkt });
        let token = mint(Algorithm::HS256, Pair::A, &claims);
        let url = htu("/orders");
        let proof = pyjwt(&["proof", alg, pem, "GET", &url, &token]);
        let reply = dpop(addr, "GET", "/orders", &token, &proof).await;
        assert_eq!(reply.status, 200, "PyJWT {alg} proof refused: {reply:?}");
        assert_eq!(reply.body, format!("alice {jkt}"));
        assert_proof_refused(
            &dpop(addr, "GET", "/orders", &token, &proof).await,
            "DPoP proof has been used before",
        );
        let post = pyjwt(&["proof", alg, pem, "POST", &url, &token]);
        assert_proof_refused(
            &dpop(addr, "GET", "/orders", &token, &post).await,
            "DPoP proof htm is not the request method",
        );
        let elsewhere = pyjwt(&[
            "proof",
            alg,
            pem,
            "GET",
            "https://evil.example.test/orders",
            &token,
        ]);
        assert_proof_refused(
            &dpop(addr, "GET", "/orders", &token, &elsewhere).await,
            "DPoP proof htu is not the request URI",
        );
        let stale = pyjwt(&["proof", alg, pem, "GET", &url, &token, "-600"]);
        assert_proof_refused(
            &dpop(addr, "GET", "/orders", &token, &stale).await,
            "DPoP proof iat is outside the accepted window",
        );
        let other_token = mint(Algorithm::HS256, Pair::A, &claims);
        let wrong_ath = pyjwt(&["proof", alg, pem, "GET", &url, &format!("{other_token}x")]);
        assert_proof_refused(
            &dpop(addr, "GET", "/orders", &token, &wrong_ath).await,
            "DPoP proof ath does not match the access token",
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

// ---------------------------------------------------------------------------------------------
// Two instances sharing spent proofs through Redis
// ---------------------------------------------------------------------------------------------

mod on_redis {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::support::redis_server::RedisServer;
    use tower_jwt_auth::revocation::RedisRevocationStore;

    /// An instance of the API whose replay store is a `RedisRevocationStore` on `server`.
    async fn instance(server: &RedisServer) -> SocketAddr {
        let store = RedisRevocationStore::builder(server.client())
            .command_timeout(Duration::from_millis(500))
            .build()
            .await
            .unwrap();
        let auth =
            JwtAuthLayer::<Value>::builder(StaticKey::hmac(Algorithm::HS256, SECRET_A).unwrap())
                .algorithms([Algorithm::HS256])
                .resource(RESOURCE)
                .dpop_replay_store(store)
                .build()
                .unwrap();
        serve(app(auth)).await
    }

    #[tokio::test]
    #[ignore = "needs redis-server; run scripts/test"]
    async fn a_proof_spent_on_one_instance_is_refused_on_the_other() {
        let server = RedisServer::start();
        let (a, b) = (instance(&server).await, instance(&server).await);
        let key = ProofKey::es256();
        let token = bound_token(&key, json!({}));
        for _ in 0..20 {
            let proof = key.proof("GET", &htu("/orders"), &token);
            assert_eq!(dpop(a, "GET", "/orders", &token, &proof).await.status, 200);
            assert_proof_refused(
                &dpop(b, "GET", "/orders", &token, &proof).await,
                "DPoP proof has been used before",
            );
        }
        // One key per proof, gone when the proof could no longer be accepted anyway:
        // iat + the 300 s window + 1.
        let keys = server.cli(&["--scan", "--pattern", "tjwt:dpop:*"]);
        let keys: Vec<&str> = keys.lines().collect();
        assert_eq!(keys.len(), 20, "{keys:?}");
        let ttl: u64 = server.cli(&["TTL", keys[0]]).trim().parse().unwrap();
        assert!((295..=301).contains(&ttl), "TTL {ttl}");
    }

    #[tokio::test]
    #[ignore = "needs redis-server; run scripts/test"]
    async fn redis_paused_answers_503_within_the_timeout_then_recovers() {
        let server = RedisServer::start();
        let a = instance(&server).await;
        let key = ProofKey::es256();
        let token = bound_token(&key, json!({}));
        server.pause();
        let started = Instant::now();
        let proof = key.proof("GET", &htu("/orders"), &token);
        let reply = dpop(a, "GET", "/orders", &token, &proof).await;
        let waited = started.elapsed();
        server.resume();
        assert_eq!(reply.status, 503, "{reply:?}");
        assert_eq!(reply.header("retry-after"), Some("5"));
        assert!(waited < Duration::from_millis(1500), "{waited:?}");
        // The proof refused during the outage was not spent: it is still good afterwards.
        let mut status = 0;
        for _ in 0..50 {
            let fresh = key.proof("GET", &htu("/orders"), &token);
            status = dpop(a, "GET", "/orders", &token, &fresh)
                .await
                .status
                .as_u16();
            if status == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, 200, "DPoP requests pass again once Redis answers");
        let spent = dpop(a, "GET", "/orders", &token, &proof).await.status;
        assert!(
            spent == 200 || spent == 401,
            "{spent}: a timed-out SET may have landed late"
        );
    }
}
