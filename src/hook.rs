//! The `on_validated` hook: your async step after a token is verified (cache hits
//! included) and before the inner service runs. It may add to the request's extensions
//! (a user record) or refuse the request with an [`AuthError`].

use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::Extensions;

use crate::claims::Claims;
use crate::error::AuthError;

/// What a hook answers: extensions to add to the request, or the refusal.
pub(crate) type HookFuture = BoxFuture<'static, Result<Extensions, AuthError>>;

/// A hook, type-erased and shared by every service of one layer.
pub(crate) type Hook<T> = Arc<dyn Fn(Claims<T>) -> HookFuture + Send + Sync>;

/// Erases the hook's future type; boxing it is the one allocation a hook adds per request.
pub(crate) fn hook<T, F, Fut>(hook: F) -> Hook<T>
where
    F: Fn(Claims<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Extensions, AuthError>> + Send + 'static,
{
    Arc::new(move |claims| Box::pin(hook(claims)))
}
