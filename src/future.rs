//! [`ResponseFuture`]: tower-http's shape. Authorizing (the validator's pending check,
//! when it had to wait) → the inner service, or → refused. A state machine, nothing boxed
//! on the synchronous path.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project::pin_project;
use serde::de::DeserializeOwned;
use tower_service::Service;

use crate::key::KeyResolver;
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
    ) -> Self {
        ResponseFuture {
            state: State::Authorizing {
                check,
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
                StateProj::Authorizing {
                    check,
                    waiting,
                    shared,
                } => {
                    let verdict = ready!(Pin::new(check).poll(cx));
                    let (mut request, mut service) =
                        *waiting.take().expect("polled after completion");
                    match verdict {
                        Ok(claims) => {
                            request.extensions_mut().insert(claims);
                            State::Inner {
                                future: service.call(request),
                            }
                        }
                        Err(error) => State::Refused {
                            response: Some(shared.refuse(error, request.headers())),
                        },
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
            State::Inner { .. } => "inner service",
            State::Refused { .. } => "refused",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
