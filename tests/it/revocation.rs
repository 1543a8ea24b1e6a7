//! The layer with a revocation store that answers later (the response future waits for it)
//! and with one that fails (503, never a pass).

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::support::*;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use serde_json::json;
use tower::{Layer, ServiceExt, service_fn};
use tower_jwt_auth::revocation::{RevocationStore, Rotation, StoreError};
use tower_jwt_auth::{Algorithm, AuthError, Claims, ErrorKind, JwtAuthLayer, StaticKey};

/// A store over the network, as it were: every answer comes after a yield. With
/// `in_place`, it answers `revoked_now` instead, as the shipped stores do.
#[derive(Clone, Default)]
struct SlowStore {
    revoked: Arc<Mutex<HashSet<String>>>,
    down: bool,
    in_place: bool,
    /// How many `any_revoked` futures were asked for.
    futures: Arc<AtomicUsize>,
}

impl SlowStore {
    fn answer(&self, ids: &[&str]) -> Result<bool, StoreError> {
        if self.down {
            return Err(StoreError::new(std::io::Error::other("store unreachable")));
        }
        let revoked = self.revoked.lock().unwrap();
        Ok(ids.iter().any(|id| revoked.contains(*id)))
    }
}

impl RevocationStore for SlowStore {
    fn revoke(&self, id: &str, _expires_at: u64) -> BoxFuture<'static, Result<bool, StoreError>> {
        let newly = self.revoked.lock().unwrap().insert(id.to_owned());
        Box::pin(async move {
            tokio::task::yield_now().await;
            Ok(newly)
        })
    }

    fn any_revoked(&self, ids: &[&str]) -> BoxFuture<'static, Result<bool, StoreError>> {
        self.futures.fetch_add(1, Ordering::Relaxed);
        let answer = self.answer(ids);
        Box::pin(async move {
            tokio::task::yield_now().await;
            answer
        })
    }

    fn revoked_now(&self, ids: &[&str]) -> Option<Result<bool, StoreError>> {
        self.in_place.then(|| self.answer(ids))
    }

    fn rotate(
        &self,
        _sid: &str,
        _presented: &str,
        _next: &str,
        _expires_at: u64,
    ) -> BoxFuture<'static, Result<Rotation, StoreError>> {
        Box::pin(async { Ok(Rotation::Rotated) })
    }

    fn close_session(
        &self,
        _sid: &str,
        _expires_at: u64,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Status, the `AuthError` kind if refused, and whether the handler saw claims.
async fn call(store: SlowStore, token: &str) -> (u16, Option<ErrorKind>, Option<String>) {
    let layer = JwtAuthLayer::<TestClaims>::builder(StaticKey::new(verification_key(
        Algorithm::HS256,
        Pair::A,
    )))
    .algorithms([Algorithm::HS256])
    .revocation_store(store)
    .build()
    .unwrap();
    let service = layer.layer(service_fn(|request: Request<()>| async move {
        let sub = request
            .extensions()
            .get::<Claims<TestClaims>>()
            .map(|c| c.sub.clone());
        let mut response = Response::new(());
        response.extensions_mut().insert(sub);
        Ok::<_, Infallible>(response)
    }));
    let request = Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    let kind = response
        .extensions()
        .get::<AuthError>()
        .map(AuthError::kind);
    let sub = response
        .extensions()
        .get::<Option<String>>()
        .cloned()
        .flatten();
    (response.status().as_u16(), kind, sub)
}

#[tokio::test]
async fn a_slow_store_is_waited_for_and_its_answer_applied() {
    revoked_tokens_are_refused(SlowStore::default()).await;
}

#[tokio::test]
async fn a_store_answering_in_place_is_asked_for_no_future() {
    let store = SlowStore {
        in_place: true,
        ..SlowStore::default()
    };
    revoked_tokens_are_refused(store.clone()).await;
    assert_eq!(store.futures.load(Ordering::Relaxed), 0);
    let down = SlowStore {
        in_place: true,
        down: true,
        ..SlowStore::default()
    };
    let token = mint(Algorithm::HS256, Pair::A, &claims(json!({ "jti": "t-9" })));
    assert_eq!(
        call(down.clone(), &token).await,
        (503, Some(ErrorKind::RevocationUnavailable), None)
    );
    assert_eq!(down.futures.load(Ordering::Relaxed), 0);
}

async fn revoked_tokens_are_refused(store: SlowStore) {
    let token = mint(
        Algorithm::HS256,
        Pair::A,
        &claims(json!({ "jti": "t-1", "sid": "s-1" })),
    );
    assert_eq!(
        call(store.clone(), &token).await,
        (200, None, Some("alice".into()))
    );

    store.revoked.lock().unwrap().insert("sid:s-1".into());
    assert_eq!(
        call(store.clone(), &token).await,
        (401, Some(ErrorKind::Revoked), None)
    );

    let other = mint(Algorithm::HS256, Pair::A, &claims(json!({ "jti": "t-2" })));
    assert_eq!(call(store.clone(), &other).await.0, 200);
    store.revoked.lock().unwrap().insert("jti:t-2".into());
    assert_eq!(
        call(store, &other).await,
        (401, Some(ErrorKind::Revoked), None)
    );
}

#[tokio::test]
async fn a_store_that_fails_refuses_with_503_never_passes() {
    let store = SlowStore {
        down: true,
        ..SlowStore::default()
    };
    let token = mint(Algorithm::HS256, Pair::A, &claims(json!({ "jti": "t-3" })));
    let (status, kind, sub) = call(store, &token).await;
    assert_eq!(
        (status, kind, sub),
        (503, Some(ErrorKind::RevocationUnavailable), None)
    );
}

#[tokio::test]
async fn a_token_without_jti_or_sid_needs_no_store() {
    let store = SlowStore {
        down: true,
        ..SlowStore::default()
    };
    let token = mint(Algorithm::HS256, Pair::A, &claims(json!({})));
    assert_eq!(call(store, &token).await, (200, None, Some("alice".into())));
}
