//! [`JwtAuth`]: the middleware service.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use http::{HeaderMap, Method, Request, Response};
use serde::de::DeserializeOwned;
use tower_service::Service;

use crate::claims::Claims;
use crate::error::{AuthError, trace};
use crate::future::ResponseFuture;
use crate::key::KeyResolver;
use crate::layer::Shared;
use crate::response::{ErrorResponder, is_grpc};
use crate::source;
use crate::validate::Validator;
use futures_util::future::BoxFuture;

/// Authenticates each request, then calls the inner service with
/// [`Claims<T>`](crate::Claims) in the request's extensions, or answers the rejection
/// itself. Made by [`JwtAuthLayer`](crate::JwtAuthLayer).
pub struct JwtAuth<S, T, R, E> {
    inner: S,
    shared: Arc<Shared<T, R, E>>,
}

impl<S, T, R, E> JwtAuth<S, T, R, E> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<T, R, E>>) -> Self {
        JwtAuth { inner, shared }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone, T, R, E> JwtAuth<S, T, R, E> {
    /// The service that was made ready, for a response future to call later; a fresh
    /// clone takes its place (tower's "be careful when cloning inner services").
    fn take_ready(&mut self) -> S {
        let clone = self.inner.clone();
        std::mem::replace(&mut self.inner, clone)
    }
}

/// What the synchronous part of `call` decided.
enum Outcome<T, F> {
    /// Go on to the inner service, with claims when there are some.
    Pass(Option<Claims<T>>),
    Reject(AuthError),
    /// The resolver's future is not ready: finish in the response future.
    Wait(crate::validate::Started<F>),
    /// The revocation store has not answered yet: wait for it in the response future.
    Check(Claims<T>, BoxFuture<'static, Result<(), AuthError>>),
}

/// The full check of a token that is not in the cache: header, key, signature, claims.
fn verify_token<T, R>(validator: &Validator<T, R>, token: &str) -> Outcome<T, R::Future>
where
    T: DeserializeOwned + Send + Sync + 'static,
    R: KeyResolver,
{
    match validator.start(token) {
        Err(error) => Outcome::Reject(error),
        Ok(mut started) => {
            let mut cx = Context::from_waker(Waker::noop());
            match std::pin::Pin::new(&mut started.key).poll(&mut cx) {
                Poll::Ready(key) => match validator.finish(token, started.meta, key) {
                    Ok(claims) => check_revocation(validator, claims),
                    Err(error) => Outcome::Reject(error),
                },
                Poll::Pending => Outcome::Wait(started),
            }
        }
    }
}

/// After verification: the revocation check, if there is a store, polled once in place.
fn check_revocation<T, R>(validator: &Validator<T, R>, claims: Claims<T>) -> Outcome<T, R::Future>
where
    T: DeserializeOwned + Send + Sync + 'static,
    R: KeyResolver,
{
    let Some(mut check) = validator.revocation_check(&claims) else {
        return Outcome::Pass(Some(claims));
    };
    match check.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(())) => Outcome::Pass(Some(claims)),
        Poll::Ready(Err(error)) => Outcome::Reject(error),
        Poll::Pending => Outcome::Check(claims, check),
    }
}

impl<S, T, R, E, ReqB, ResB> Service<Request<ReqB>> for JwtAuth<S, T, R, E>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    T: DeserializeOwned + Send + Sync + 'static,
    R: KeyResolver,
    E: ErrorResponder<ResB>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqB, T, R, E>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        let shared = &self.shared;
        let options = &shared.options;
        if options.cors_preflight && is_bodiless_preflight(&request) {
            return ResponseFuture::inner(self.inner.call(request));
        }
        let outcome = match source::extract(&options.sources, request.headers()) {
            Err(error) => Outcome::Reject(trace(error, None, None)),
            Ok(None) if options.optional => Outcome::Pass(None),
            Ok(None) => Outcome::Reject(trace(AuthError::missing(), None, None)),
            Ok(Some(token)) => match shared.validator.cached(token) {
                Some(claims) => check_revocation(&shared.validator, claims),
                None => verify_token(&shared.validator, token),
            },
        };
        match outcome {
            Outcome::Pass(claims) => {
                if let Some(claims) = claims {
                    request.extensions_mut().insert(claims);
                }
                ResponseFuture::inner(self.inner.call(request))
            }
            Outcome::Reject(error) => {
                ResponseFuture::ready(reject(shared, error, request.headers()))
            }
            Outcome::Wait(started) => {
                let ready = self.take_ready();
                ResponseFuture::resolving(started, request, ready, Arc::clone(&self.shared))
            }
            Outcome::Check(claims, check) => {
                let ready = self.take_ready();
                ResponseFuture::checking(check, claims, request, ready, Arc::clone(&self.shared))
            }
        }
    }
}

/// The responder's answer with the error in its extensions.
pub(crate) fn reject<T, R, E: ErrorResponder<B>, B>(
    shared: &Shared<T, R, E>,
    error: AuthError,
    headers: &HeaderMap,
) -> Response<B> {
    let mut response = shared.responder.respond(&error, headers);
    response.extensions_mut().insert(error);
    response
}

/// A CORS preflight that may pass unauthenticated: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`, and nothing that could carry work. A preflight never
/// has a body (Fetch standard, "CORS-preflight fetch"), and never is gRPC, which routes
/// by path whatever the method: such a request is authenticated like any other.
fn is_bodiless_preflight<B>(request: &Request<B>) -> bool {
    let headers = request.headers();
    // Every `Content-Length` must be zero: differing values are a framing error (RFC 9112
    // §6.3), not "no body", and the layer takes any `http::Request`, not only hyper's.
    let empty_length = headers
        .get_all(http::header::CONTENT_LENGTH)
        .iter()
        .all(|length| length.as_bytes() == b"0");
    request.method() == Method::OPTIONS
        && headers.contains_key(http::header::ORIGIN)
        && headers.contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
        && empty_length
        && !headers.contains_key(http::header::TRANSFER_ENCODING)
        && !headers.contains_key(http::header::CONTENT_TYPE)
        && !is_grpc(headers)
}

impl<S: Clone, T, R, E> Clone for JwtAuth<S, T, R, E> {
    fn clone(&self) -> Self {
        JwtAuth {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, T, R: fmt::Debug, E: fmt::Debug> fmt::Debug for JwtAuth<S, T, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuth")
            .field("inner", &self.inner)
            .field("shared", &self.shared)
            .finish()
    }
}
