//! [`RequireLayer`] and [`Require`]: a guard that reads the [`Claims<T>`] the layer put in
//! the request and answers 403 when they do not meet the [`Requirement`].

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::Requirement;
use crate::claims::Claims;
use crate::error::{reason, trace};
use crate::layer::JwtAuthLayer;
use crate::response::ErrorResponder;
use crate::shared::Shared;

/// A tower layer enforcing one [`Requirement`] on the claims an outer
/// [`JwtAuthLayer`] verified: no second validation, however many guards a request meets.
/// Made by [`JwtAuthLayer::require`], so that its refusals are answered like the layer's
/// own (realm, responder, DPoP and metadata challenges).
///
/// A request without claims (the layer is missing, or optional and no token came) gets
/// 401, never the inner service.
///
/// ```
/// use axum::{Router, routing::get};
/// use tower_jwt_auth::{Algorithm, JwtAuthLayer, Requirement, StaticKey};
///
/// let auth = JwtAuthLayer::<serde_json::Value>::builder(StaticKey::hmac(Algorithm::HS256, &[7; 32])?)
///     .algorithms([Algorithm::HS256])
///     .roles_claim("realm_access.roles")
///     .build()?;
/// let app: Router = Router::new()
///     .route("/me", get(|| async { "me" }))
///     .route("/admin", get(|| async { "admin" }).route_layer(auth.require(Requirement::scope("admin"))))
///     .route("/reports", get(|| async { "reports" }).route_layer(auth.require(Requirement::role("auditor"))))
///     .route_layer(auth);
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
pub struct RequireLayer<T, R, E> {
    shared: Arc<Shared<T, R, E>>,
    requirement: Requirement<T>,
}

impl<T, R, E> JwtAuthLayer<T, R, E> {
    /// A guard for routes behind this layer that need `requirement` of the claims.
    pub fn require(&self, requirement: Requirement<T>) -> RequireLayer<T, R, E> {
        RequireLayer {
            shared: Arc::clone(self.shared()),
            requirement,
        }
    }
}

impl<S, T, R, E> Layer<S> for RequireLayer<T, R, E> {
    type Service = Require<S, T, R, E>;

    fn layer(&self, inner: S) -> Self::Service {
        Require {
            inner,
            shared: Arc::clone(&self.shared),
            requirement: self.requirement.clone(),
        }
    }
}

/// The service of a [`RequireLayer`].
pub struct Require<S, T, R, E> {
    inner: S,
    shared: Arc<Shared<T, R, E>>,
    requirement: Requirement<T>,
}

impl<S, T, R, E, ReqB, ResB> Service<Request<ReqB>> for Require<S, T, R, E>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    T: Send + Sync + 'static,
    E: ErrorResponder<ResB>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response<ResB>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let verdict = match request.extensions().get::<Claims<T>>() {
            Some(claims) => self.requirement.check(claims),
            None => Err(reason::NO_TOKEN),
        };
        match verdict {
            Ok(()) => Either::Left(self.inner.call(request)),
            Err(error) => {
                let response = self.shared.refuse(trace(error), request.headers());
                Either::Right(ready(Ok(response)))
            }
        }
    }
}

/// A guarded gRPC service keeps its name, so tonic routes to it (`add_service`).
#[cfg(feature = "tonic")]
impl<S: tonic::server::NamedService, T, R, E> tonic::server::NamedService for Require<S, T, R, E> {
    const NAME: &'static str = S::NAME;
}

impl<T, R, E> Clone for RequireLayer<T, R, E> {
    fn clone(&self) -> Self {
        RequireLayer {
            shared: Arc::clone(&self.shared),
            requirement: self.requirement.clone(),
        }
    }
}

impl<S: Clone, T, R, E> Clone for Require<S, T, R, E> {
    fn clone(&self) -> Self {
        Require {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            requirement: self.requirement.clone(),
        }
    }
}

impl<T, R, E> fmt::Debug for RequireLayer<T, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireLayer")
            .field("requirement", &self.requirement)
            .finish()
    }
}

impl<S: fmt::Debug, T, R, E> fmt::Debug for Require<S, T, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Require")
            .field("inner", &self.inner)
            .field("requirement", &self.requirement)
            .finish()
    }
}
