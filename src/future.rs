//! [`ResponseFuture`]: tower-http's shape. Authorizing (the validator's pending check,
//! when it had to wait) → hooking (your `on_validated` hook, when there is one) → the
//! inner service, or → refused. A state machine, nothing boxed on the synchronous path
//! without a hook.

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
use crate::error::trace;
use crate::hook::HookFuture;
use crate::key::KeyResolver;
use crate::observe::Observation;
use crate::response::ErrorResponder;
use crate::shared::Shared;
use crate::validator::PendingCheck;

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
    /// The validator is waiting (for the key or the revocation store); the request and the
    /// ready inner service wait with it.
    Authorizing {
        check: PendingCheck<T, R>,
        /// Boxed so that the common, synchronous path keeps a small future.
        waiting: Option<Box<(Request<ReqB>, S)>>,
        shared: Arc<Shared<T, R, E>>,
        observation: Option<Observation>,
    },
    /// The token is good; your hook decides.
    Hooking {
        hook: HookFuture,
        claims: Option<Claims<T>>,
        waiting: Option<Box<(Request<ReqB>, S)>>,
        shared: Arc<Shared<T, R, E>>,
        observation: Option<Observation>,
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

    pub(crate) fn refused(response: S::Response) -> Self {
        ResponseFuture {
            state: State::Refused {
                response: Some(response),
            },
        }
    }

    pub(crate) fn authorizing(
        check: PendingCheck<T, R>,
        request: Request<ReqB>,
        service: S,
        shared: Arc<Shared<T, R, E>>,
        observation: Observation,
    ) -> Self {
        ResponseFuture {
            state: State::Authorizing {
                check,
                waiting: Some(Box::new((request, service))),
                shared,
                observation: Some(observation),
            },
        }
    }

    pub(crate) fn hooking(
        hook: HookFuture,
        claims: Claims<T>,
        request: Request<ReqB>,
        service: S,
        shared: Arc<Shared<T, R, E>>,
        observation: Observation,
    ) -> Self {
        ResponseFuture {
            state: State::hooking(
                hook,
                claims,
                Box::new((request, service)),
                shared,
                Some(observation),
            ),
        }
    }
}

impl<S, ReqB, T, R, E> State<S, ReqB, T, R, E>
where
    S: Service<Request<ReqB>>,
    R: KeyResolver,
{
    fn hooking(
        hook: HookFuture,
        claims: Claims<T>,
        waiting: Box<(Request<ReqB>, S)>,
        shared: Arc<Shared<T, R, E>>,
        observation: Option<Observation>,
    ) -> Self {
        State::Hooking {
            hook,
            claims: Some(claims),
            waiting: Some(waiting),
            shared,
            observation,
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
                StateProj::Authorizing {
                    check,
                    waiting,
                    shared,
                    observation,
                } => {
                    let verdict = {
                        let observation = observation.as_ref().expect("polled after completion");
                        ready!(observation.within(|| Pin::new(&mut *check).poll(cx)))
                    };
                    let observation = observation.take().expect("polled after completion");
                    let waiting = waiting.take().expect("polled after completion");
                    match (verdict, &shared.hook) {
                        (Ok(claims), Some(hook)) => {
                            let hook = observation.within(|| hook(claims.clone()));
                            let shared = Arc::clone(shared);
                            State::hooking(hook, claims, waiting, shared, Some(observation))
                        }
                        (Ok(claims), None) => {
                            observation.accepted(&claims, shared.validator.meters());
                            let (mut request, mut service) = *waiting;
                            request.extensions_mut().insert(claims);
                            State::Inner {
                                future: service.call(request),
                            }
                        }
                        (Err(error), _) => {
                            observation.rejected(&error, shared.validator.meters());
                            State::Refused {
                                response: Some(shared.refuse(error, waiting.0.headers())),
                            }
                        }
                    }
                }
                StateProj::Hooking {
                    hook,
                    claims,
                    waiting,
                    shared,
                    observation,
                } => {
                    let decided = {
                        let observation = observation.as_ref().expect("polled after completion");
                        ready!(observation.within(|| hook.as_mut().poll(cx)))
                    };
                    let observation = observation.take().expect("polled after completion");
                    let claims = claims.take().expect("polled after completion");
                    let (mut request, mut service) =
                        *waiting.take().expect("polled after completion");
                    match decided {
                        Ok(found) => {
                            observation.accepted(&claims, shared.validator.meters());
                            let extensions = request.extensions_mut();
                            extensions.insert(claims);
                            extensions.extend(found);
                            State::Inner {
                                future: service.call(request),
                            }
                        }
                        Err(error) => {
                            let error = trace(error);
                            observation.rejected(&error, shared.validator.meters());
                            State::Refused {
                                response: Some(shared.refuse(error, request.headers())),
                            }
                        }
                    }
                }
            };
            state.set(next);
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
            State::Authorizing { .. } => "authorizing",
            State::Hooking { .. } => "hooking",
            State::Inner { .. } => "inner service",
            State::Refused { .. } => "refused",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
