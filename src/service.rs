//! [`JwtAuth`]: the middleware service. It reads the token and drives the validator's
//! verdict; the order of the checks is the validator's business.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Request, Response};
use serde::de::DeserializeOwned;
use tower_service::Service;

use crate::dpop::{DpopMode, Target};
use crate::error::{reason, trace};
use crate::future::ResponseFuture;
use crate::key::KeyResolver;
use crate::observe::Observation;
use crate::response::{ErrorResponder, is_grpc};
use crate::shared::Shared;
use crate::source;
use crate::validator::Verdict;

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
        let observation = Observation::start();
        let shared = &self.shared;
        let options = &shared.options;
        if options.cors_preflight && is_bodiless_preflight(&request) {
            observation.anonymous(shared.validator.meters());
            return ResponseFuture::inner(self.inner.call(request));
        }
        let validator = &shared.validator;
        let dpop = validator.dpop_mode() != DpopMode::Disabled;
        let verdict = observation.within(|| {
            match source::extract(&options.sources, request.headers(), dpop) {
                Ok(Some(presented)) => {
                    let target = Target {
                        method: request.method(),
                        uri: request.uri(),
                        headers: request.headers(),
                        extensions: request.extensions(),
                    };
                    Some(validator.check(presented, Some(target)))
                }
                Ok(None) if options.optional => None,
                Ok(None) => Some(Verdict::Done(Err(trace(reason::NO_TOKEN)))),
                Err(error) => Some(Verdict::Done(Err(trace(error)))),
            }
        });
        let Some(verdict) = verdict else {
            observation.anonymous(shared.validator.meters());
            return ResponseFuture::inner(self.inner.call(request));
        };
        match verdict {
            Verdict::Done(Ok(claims)) => match &shared.hook {
                None => {
                    observation.accepted(&claims, shared.validator.meters());
                    request.extensions_mut().insert(claims);
                    ResponseFuture::inner(self.inner.call(request))
                }
                Some(hook) => {
                    let hook = observation.within(|| hook(claims.clone()));
                    let ready = self.take_ready();
                    let shared = Arc::clone(&self.shared);
                    ResponseFuture::hooking(hook, claims, request, ready, shared, observation)
                }
            },
            Verdict::Done(Err(error)) => {
                observation.rejected(&error, shared.validator.meters());
                ResponseFuture::refused(shared.refuse(error, request.headers()))
            }
            Verdict::Pending(check) => {
                let ready = self.take_ready();
                let shared = Arc::clone(&self.shared);
                ResponseFuture::authorizing(check, request, ready, shared, observation)
            }
        }
    }
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

/// An authenticated gRPC service keeps its name, so tonic routes to it (`add_service`).
#[cfg(feature = "tonic")]
impl<S: tonic::server::NamedService, T, R, E> tonic::server::NamedService for JwtAuth<S, T, R, E> {
    const NAME: &'static str = S::NAME;
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
