//! What the benches share: one request through a service, polled in place.

use std::convert::Infallible;
use std::task::{Context, Poll, Waker};

use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use tower::Service;

/// One request: build it, `poll_ready`, `call`, poll the response once (no runtime: a
/// static key, a cache hit and a local revocation check complete at once).
pub(crate) fn one_request<S>(service: &mut S, authorization: &HeaderValue) -> StatusCode
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    let mut request = Request::new(());
    request
        .headers_mut()
        .insert(AUTHORIZATION, authorization.clone());
    send(service, request)
}

/// `request` through `service`, polled in place like [`one_request`].
pub(crate) fn send<S>(service: &mut S, request: Request<()>) -> StatusCode
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    respond(service, request).status()
}

/// Like [`send`], with the whole response (for a check that shows a refusal's challenge).
pub(crate) fn respond<S>(service: &mut S, request: Request<()>) -> Response<()>
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    let mut future = std::pin::pin!(service.call(request));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => panic!("the warm path must complete at once"),
    }
}
