//! [`DynResolver`]: any resolver behind one type, and [`BoxKeyFuture`] for `async` ones.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::{KeyError, KeyResolver, VerificationKey};
use crate::header::TokenHeader;

type Found = Result<Arc<VerificationKey>, KeyError>;

/// A boxed key future: what an `async` resolver returns (its future must be `Unpin`, and
/// `Box::pin` makes it so).
///
/// ```
/// use std::sync::Arc;
/// use tower_jwt_auth::{Algorithm, BoxKeyFuture, KeyError, KeyResolver, TokenHeader, VerificationKey};
///
/// let key = Arc::new(VerificationKey::hmac(Algorithm::HS256, &[7; 32]).unwrap());
/// let resolver = move |header: &TokenHeader<'_>| -> BoxKeyFuture {
///     let (key, kid) = (key.clone(), header.kid().map(str::to_owned));
///     Box::pin(async move {
///         // e.g. look the kid up in a database
///         match kid.as_deref() {
///             Some("main") => Ok(key),
///             _ => Err(KeyError::not_found()),
///         }
///     })
/// };
/// fn takes<R: KeyResolver>(_: &R) {}
/// takes(&resolver);
/// ```
pub type BoxKeyFuture = Pin<Box<dyn Future<Output = Found> + Send>>;

/// Any [`KeyResolver`] behind one type, so that resolvers of different kinds can sit
/// together: in a [`MultiIssuer`](super::MultiIssuer) whose tenants use a static key, a
/// key set and a remote JWKS, say. A future that is ready at once (static keys, cached key
/// sets) is answered without boxing; only one that must wait is boxed.
///
/// ```
/// use tower_jwt_auth::{Algorithm, DynResolver, KeySet, MultiIssuer, StaticKey, VerificationKey};
///
/// let one_key = StaticKey::hmac(Algorithm::HS256, &[1; 32])?;
/// let a_set = KeySet::new([VerificationKey::hmac(Algorithm::HS256, &[2; 32])?.with_kid("b")]);
/// let resolver = MultiIssuer::new()
///     .issuer("https://a.example.com", DynResolver::new(one_key))
///     .issuer("https://b.example.com", DynResolver::new(a_set));
/// # let _ = resolver;
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct DynResolver {
    inner: Arc<dyn Erased>,
}

/// [`DynResolver`]'s future: the answer, or the resolver's own future, boxed.
pub struct DynKeyFuture(State);

enum State {
    Ready(Option<Found>),
    Waiting(BoxKeyFuture),
}

/// [`KeyResolver`] with its future type erased.
trait Erased: Send + Sync + 'static {
    fn resolve_dyn(&self, header: &TokenHeader<'_>) -> DynKeyFuture;
    fn is_current_dyn(&self, header: &TokenHeader<'_>, key: &Arc<VerificationKey>) -> bool;
    fn wants_issuer_dyn(&self) -> bool;
    fn expected_issuer_dyn(&self) -> Option<&str>;
    fn name(&self) -> &'static str;
}

impl<R: KeyResolver> Erased for R {
    fn resolve_dyn(&self, header: &TokenHeader<'_>) -> DynKeyFuture {
        let mut future = KeyResolver::resolve(self, header);
        match Pin::new(&mut future).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(found) => DynKeyFuture(State::Ready(Some(found))),
            Poll::Pending => DynKeyFuture(State::Waiting(Box::pin(future))),
        }
    }

    fn is_current_dyn(&self, header: &TokenHeader<'_>, key: &Arc<VerificationKey>) -> bool {
        KeyResolver::is_current(self, header, key)
    }

    fn wants_issuer_dyn(&self) -> bool {
        KeyResolver::wants_issuer(self)
    }

    fn expected_issuer_dyn(&self) -> Option<&str> {
        KeyResolver::expected_issuer(self)
    }

    fn name(&self) -> &'static str {
        std::any::type_name::<R>()
    }
}

impl DynResolver {
    /// Erases `resolver`'s type.
    pub fn new(resolver: impl KeyResolver) -> Self {
        DynResolver {
            inner: Arc::new(resolver),
        }
    }
}

impl KeyResolver for DynResolver {
    type Future = DynKeyFuture;

    fn resolve(&self, header: &TokenHeader<'_>) -> DynKeyFuture {
        self.inner.resolve_dyn(header)
    }

    fn is_current(&self, header: &TokenHeader<'_>, key: &Arc<VerificationKey>) -> bool {
        self.inner.is_current_dyn(header, key)
    }

    fn wants_issuer(&self) -> bool {
        self.inner.wants_issuer_dyn()
    }

    fn expected_issuer(&self) -> Option<&str> {
        self.inner.expected_issuer_dyn()
    }
}

impl Future for DynKeyFuture {
    type Output = Found;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Found> {
        match &mut self.0 {
            State::Ready(found) => Poll::Ready(found.take().expect("polled after completion")),
            State::Waiting(future) => future.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for DynResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DynResolver")
            .field(&self.inner.name())
            .finish()
    }
}

impl fmt::Debug for DynKeyFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.0 {
            State::Ready(_) => "ready",
            State::Waiting(_) => "waiting",
        };
        f.debug_tuple("DynKeyFuture").field(&state).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{KeySet, MultiIssuer, StaticKey};
    use jsonwebtoken::Algorithm;

    fn poll_now<F: Future + Unpin>(mut future: F) -> Option<F::Output> {
        match Pin::new(&mut future).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(found) => Some(found),
            Poll::Pending => None,
        }
    }

    #[test]
    fn different_resolvers_sit_in_one_multi_issuer() {
        let a = StaticKey::hmac(Algorithm::HS256, &[1; 32]).unwrap();
        let b_key = VerificationKey::hmac(Algorithm::HS256, &[2; 32])
            .unwrap()
            .with_kid("b");
        let b = KeySet::new([b_key]);
        let resolver = MultiIssuer::new()
            .issuer("a", DynResolver::new(a))
            .issuer("b", DynResolver::new(b));
        let header = TokenHeader::new(Algorithm::HS256, Some("b"));
        let found = poll_now(resolver.resolve(&header.with_unverified_issuer(Some("b"))));
        let key = found.unwrap().unwrap();
        assert_eq!(key.kid(), Some("b"));
        assert!(resolver.is_current(&header.with_unverified_issuer(Some("b")), &key));
        assert!(!resolver.is_current(&header.with_unverified_issuer(Some("a")), &key));
        let unknown = poll_now(resolver.resolve(&header.with_unverified_issuer(Some("c"))));
        assert!(unknown.unwrap().is_err());
        assert!(resolver.wants_issuer());
    }

    #[test]
    fn a_pending_future_is_boxed_and_awaited() {
        let key = Arc::new(VerificationKey::hmac(Algorithm::HS256, &[3; 32]).unwrap());
        let resolver = DynResolver::new(move |_: &TokenHeader<'_>| -> BoxKeyFuture {
            let key = Arc::clone(&key);
            Box::pin(async move {
                futures_util::future::pending::<()>().await;
                Ok(key)
            })
        });
        let future = resolver.resolve(&TokenHeader::new(Algorithm::HS256, None));
        assert!(matches!(future.0, State::Waiting(_)));
        assert!(format!("{resolver:?}").starts_with("DynResolver("));
    }
}
