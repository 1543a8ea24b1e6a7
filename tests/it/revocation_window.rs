//! Revocations outlive acceptance: driven through the leeway window with second-scale
//! lifetimes, against a layer served over real HTTP. And a full store fails closed.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::*;
use axum::Router;
use axum::routing::get;
use serde_json::Value;
use tower_jwt_auth::issue::{IssueError, SigningKey, TokenIssuer};
use tower_jwt_auth::revocation::MemoryRevocationStore;
use tower_jwt_auth::{Algorithm, Claims, ErrorKind};

/// Layers accept tokens this long past `exp`: far longer than the tokens live, so every
/// test below runs inside the window.
const LEEWAY: Duration = Duration::from_secs(30);

fn issuer(access: u64, refresh: u64, store: MemoryRevocationStore) -> TokenIssuer {
    let key = SigningKey::hmac(Algorithm::HS256, &[7; 32]).unwrap();
    TokenIssuer::builder(key)
        .access_lifetime(Duration::from_secs(access))
        .refresh_lifetime(Duration::from_secs(refresh))
        .validator_leeway(LEEWAY)
        .revocation_store(store)
        .build()
        .unwrap()
}

/// `/me` behind the issuer's own layer (its leeway, its store).
async fn api(issuer: &TokenIssuer) -> SocketAddr {
    let layer = issuer.layer_builder::<Value>().build().unwrap();
    let app = Router::new()
        .route(
            "/me",
            get(|c: Claims<Value>| async move { c["sub"].as_str().unwrap_or("").to_owned() }),
        )
        .layer(layer);
    serve(app).await
}

fn exp_of(token: &str) -> u64 {
    let payload = token.split('.').nth(1).unwrap();
    let json: Value = serde_json::from_slice(&b64_decode(payload)).unwrap();
    json["exp"].as_u64().unwrap()
}

fn b64_decode(segment: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .unwrap()
}

/// Sleeps until the Unix clock is past `second`.
async fn wait_past(second: u64) {
    while now() <= second {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn refused_kind(result: Result<impl std::fmt::Debug, IssueError>) -> ErrorKind {
    match result {
        Err(IssueError::Refused(e)) => e.kind(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn rotated_refresh_token_is_not_a_first_use_after_its_exp() {
    let issuer = issuer(1, 1, MemoryRevocationStore::new(100));
    let first = issuer.issue("ada", &()).unwrap();
    let second = issuer.refresh(&first.refresh).await.unwrap();
    wait_past(exp_of(&first.refresh)).await;
    // Inside the layers' leeway, but refresh tokens get none: refused as expired, so
    // there is no fresh pair to be had from a rotated token.
    assert_eq!(
        refused_kind(issuer.refresh(&first.refresh).await),
        ErrorKind::Expired
    );
    wait_past(exp_of(&second.refresh)).await;
    assert_eq!(
        refused_kind(issuer.refresh(&second.refresh).await),
        ErrorKind::Expired
    );
}

#[tokio::test]
async fn revoked_access_token_stays_refused_until_exp_plus_leeway() {
    let issuer = issuer(1, 60, MemoryRevocationStore::new(100));
    let addr = api(&issuer).await;
    let pair = issuer.issue("ada", &()).unwrap();
    let other = issuer.issue("bob", &()).unwrap();
    issuer.revoke(&pair.access).await.unwrap();
    wait_past(exp_of(&pair.access)).await;
    // Both expired; the layer's leeway still accepts the unrevoked one...
    let r = get_with_token(addr, "/me", &other.access).await;
    assert_eq!((r.status.as_u16(), r.body.as_str()), (200, "bob"));
    // ...and the revocation is still in force for the revoked one.
    let r = get_with_token(addr, "/me", &pair.access).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.challenge(),
        invalid_token("token has been revoked"),
        "{r:?}"
    );
    assert_eq!(
        refused_kind(issuer.verify(&pair.access).await),
        ErrorKind::Revoked
    );
}

#[tokio::test]
async fn revoked_session_outlives_its_longest_lived_token() {
    // Access tokens outlive refresh tokens here: a session revocation sized by the refresh
    // lifetime alone would lapse while the access token is still accepted.
    let issuer = issuer(3, 1, MemoryRevocationStore::new(100));
    let addr = api(&issuer).await;
    let pair = issuer.issue("ada", &()).unwrap();
    issuer.revoke_session(&pair.refresh).await.unwrap();
    wait_past(exp_of(&pair.refresh)).await;
    let r = get_with_token(addr, "/me", &pair.access).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.challenge(), invalid_token("token has been revoked"));
    wait_past(exp_of(&pair.access)).await;
    let r = get_with_token(addr, "/me", &pair.access).await;
    assert_eq!(r.status, 401, "still revoked inside the leeway: {r:?}");
    assert_eq!(r.challenge(), invalid_token("token has been revoked"));
}

#[tokio::test]
async fn full_store_fails_refresh_with_503_and_keeps_every_revocation() {
    let store = MemoryRevocationStore::new(2);
    let issuer = issuer(300, 3600, store.clone());
    let addr = api(&issuer).await;
    // Two sessions that refreshed hold one entry each, however often they refresh.
    let first = issuer.issue("ada", &()).unwrap();
    let other = issuer.issue("bob", &()).unwrap();
    issuer.refresh(&other.refresh).await.unwrap();
    let second = issuer.refresh(&first.refresh).await.unwrap();
    let mut latest = issuer.refresh(&second.refresh).await.unwrap();
    for _ in 0..20 {
        latest = issuer.refresh(&latest.refresh).await.unwrap();
    }
    assert_eq!(store.len(), 2);
    // A third session's first refresh needs a third entry: refused (503), not made by
    // evicting one.
    let third = issuer.issue("cy", &()).unwrap();
    let full = issuer.refresh(&third.refresh).await.unwrap_err();
    assert!(matches!(full, IssueError::Store(_)), "{full:?}");
    assert_eq!(full.status(), 503);
    // The rotated tokens are still refused: reuse is detected, and revoking the session
    // for it fails closed too (503, no new pair).
    for rotated in [&first.refresh, &second.refresh] {
        let reused = issuer.refresh(rotated).await.unwrap_err();
        assert_eq!(reused.status(), 503, "{reused:?}");
    }
    // The session's entry is marked: its newest refresh token no longer works either.
    let after = issuer.refresh(&latest.refresh).await.unwrap_err();
    assert_eq!(after.status(), 503, "{after:?}");
    // An explicit logout cannot be recorded either: 503, and the token keeps working,
    // which the caller learns from the 503.
    let logout = issuer.revoke(&latest.access).await.unwrap_err();
    assert_eq!(logout.status(), 503);
    let r = get_with_token(addr, "/me", &latest.access).await;
    assert_eq!((r.status.as_u16(), r.body.as_str()), (200, "ada"));
}

#[tokio::test]
async fn huge_lifetimes_and_leeway_saturate_instead_of_overflowing() {
    let key = SigningKey::hmac(Algorithm::HS256, &[7; 32]).unwrap();
    let issuer = TokenIssuer::builder(key)
        .access_lifetime(Duration::MAX)
        .refresh_lifetime(Duration::MAX)
        .validator_leeway(Duration::MAX)
        .build()
        .unwrap();
    let pair = issuer.issue("ada", &()).unwrap();
    assert_eq!(exp_of(&pair.access), u64::MAX);
    let next = issuer.refresh(&pair.refresh).await.unwrap();
    issuer.revoke(&next.access).await.unwrap();
    issuer.revoke_session(&next.refresh).await.unwrap();
    assert_eq!(
        refused_kind(issuer.verify(&next.access).await),
        ErrorKind::Revoked
    );
}
