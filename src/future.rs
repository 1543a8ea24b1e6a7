//! [`ResponseFuture`]: waits for the key when the resolver is not ready, then for the inner
//! service. A state machine, nothing boxed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project::pin_project;
use serde::de::DeserializeOwned;
use tower_service::Service;

use crate::claims::Claims;
use crate::error::AuthError;
use crate::key::KeyResolver;
use crate::layer::Shared;
use crate::response::ErrorResponder;
use crate::service::reject;
use crate::source;
use crate::validate::{Started, TokenMeta};
use futures_util::future::BoxFuture;

/// The response future of [`JwtAuth`](crate::JwtAuth).
#[pin_project]
pub struct ResponseFuture<S, ReqB, T, R, E>
where
    S: Service<Request<ReqB>>,
    R: KeyResolver,
{
    #[pin]
    state: State<S, ReqB, T, R, E>,
}

#[pin_project(project = StateProj)]
enum State<S, ReqB, T, R, E>
where
    S: Service<Request<ReqB>>,
    R: KeyResolver,
{
    /// Waiting for the resolver; the ready inner service and the request wait with it.
    Resolving {
        #[pin]
        key: R::Future,
        meta: Option<TokenMeta>,
        /// Boxed so that the common, synchronous path keeps a small future.
        waiting: Option<Box<(Request<ReqB>, S)>>,
        shared: Arc<Shared<T, R, E>>,
    },
    /// Waiting for the revocation store; the claims wait to be inserted.
    Checking {
        check: BoxFuture<'static, Result<(), AuthError>>,
        claims: Option<Claims<T>>,
        waiting: Option<Box<(Request<ReqB>, S)>>,
        shared: Arc<Shared<T, R, E>>,
    },
    /// Waiting for the inner service.
    Inner {
        #[pin]
        future: S::Future,
    },
    /// Refused: the answer is ready.
    Refused { response: Option<S::Response> },
}

impl<S, ReqB, T, R, E> ResponseFuture<S, ReqB, T, R, E>
where
    S: Service<Request<ReqB>>,
    R: KeyResolver,
{
    pub(crate) fn inner(future: S::Future) -> Self {
        ResponseFuture {
            state: State::Inner { future },
        }
    }

    pub(crate) fn ready(response: S::Response) -> Self {
        ResponseFuture {
            state: State::Refused {
                response: Some(response),
            },
        }
    }

    pub(crate) fn checking(
        check: BoxFuture<'static, Result<(), AuthError>>,
        claims: Claims<T>,
        request: Request<ReqB>,
        service: S,
        shared: Arc<Shared<T, R, E>>,
    ) -> Self {
        ResponseFuture {
            state: State::Checking {
                check,
                claims: Some(claims),
                waiting: Some(Box::new((request, service))),
                shared,
            },
        }
    }

    pub(crate) fn resolving(
        started: Started<R::Future>,
        request: Request<ReqB>,
        service: S,
        shared: Arc<Shared<T, R, E>>,
    ) -> Self {
        ResponseFuture {
            state: State::Resolving {
                key: started.key,
                meta: Some(started.meta),
                waiting: Some(Box::new((request, service))),
                shared,
            },
        }
    }
}

impl<S, ReqB, ResB, T, R, E> Future for ResponseFuture<S, ReqB, T, R, E>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    T: DeserializeOwned + Send + Sync + 'static,
    R: KeyResolver,
    E: ErrorResponder<ResB>,
{
    type Output = Result<Response<ResB>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            let next = match state.as_mut().project() {
                StateProj::Inner { future } => return future.poll(cx),
                StateProj::Refused { response } => {
                    return Poll::Ready(Ok(response.take().expect("polled after completion")));
                }
                StateProj::Resolving {
                    key,
                    meta,
                    waiting,
                    shared,
                } => {
                    let key = ready!(key.poll(cx));
                    let (request, service) = *waiting.take().expect("polled after completion");
                    let meta = meta.take().expect("polled after completion");
                    // The token is read again: it was borrowed from this request's headers.
                    let claims = source::extract(&shared.options.sources, request.headers())
                        .and_then(|token| token.ok_or_else(AuthError::missing))
                        .and_then(|token| shared.validator.finish(token, meta, key));
                    match claims {
                        Ok(claims) => match shared.validator.revocation_check(&claims) {
                            Some(check) => State::Checking {
                                check,
                                claims: Some(claims),
                                waiting: Some(Box::new((request, service))),
                                shared: Arc::clone(shared),
                            },
                            None => settled(shared, request, service, Ok(claims)),
                        },
                        Err(error) => settled(shared, request, service, Err(error)),
                    }
                }
                StateProj::Checking {
                    check,
                    claims,
                    waiting,
                    shared,
                } => {
                    let verdict = ready!(check.as_mut().poll(cx));
                    let (request, service) = *waiting.take().expect("polled after completion");
                    let claims = claims.take().expect("polled after completion");
                    settled(shared, request, service, verdict.map(|()| claims))
                }
            };
            state.set(next);
        }
    }
}

/// Once the claims are settled: the inner service with them, or the refusal.
fn settled<S, ReqB, ResB, T, R, E>(
    shared: &Shared<T, R, E>,
    mut request: Request<ReqB>,
    mut service: S,
    claims: Result<Claims<T>, AuthError>,
) -> State<S, ReqB, T, R, E>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    T: Send + Sync + 'static,
    R: KeyResolver,
    E: ErrorResponder<ResB>,
{
    match claims {
        Ok(claims) => {
            request.extensions_mut().insert(claims);
            State::Inner {
                future: service.call(request),
            }
        }
        Err(error) => {
            let response = reject(shared, error, request.headers());
            State::Refused {
                response: Some(response),
            }
        }
    }
}

impl<S, ReqB, T, R, E> fmt::Debug for ResponseFuture<S, ReqB, T, R, E>
where
    S: Service<Request<ReqB>>,
    R: KeyResolver,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Resolving { .. } => "resolving key",
            State::Checking { .. } => "checking revocation",
            State::Inner { .. } => "inner service",
            State::Refused { .. } => "refused",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
