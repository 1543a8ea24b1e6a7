//! Where verification keys come from: the [`KeyResolver`] trait and the keys it returns.
//!
//! Shipped resolvers: [`StaticKey`] (one key), [`KeySet`] (keys by `kid`, from a JWKS
//! document), [`MultiIssuer`] (a resolver per issuer) and any closure from [`&TokenHeader`](crate::TokenHeader) to an `Unpin` future of
//! `Result<Arc<VerificationKey>, KeyError>`.

mod algorithms;
mod dyn_resolver;
mod key_set;
mod multi_issuer;
mod prepared;
mod static_key;
mod verification_key;

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use algorithms::AlgorithmSet;
pub use dyn_resolver::{BoxKeyFuture, DynKeyFuture, DynResolver};
pub use key_set::KeySet;
pub use multi_issuer::MultiIssuer;
pub use static_key::StaticKey;
pub use verification_key::VerificationKey;

use crate::header::TokenHeader;

/// Finds the key that verifies a token, from its header.
///
/// The header's `alg` has already been checked against the allowed algorithms; the key you
/// return must also be bound to it, or the token is refused. A resolver must never fetch a
/// key from an address the token names.
///
/// The returned future is polled once inside `Service::call`; a resolver whose future is
/// ready at once (a static key, a cached key set) costs no allocation and no task switch.
/// Because a pending future then moves into the response future, it must be [`Unpin`]:
/// `std::future::Ready` is, and an `async` block becomes so with `Box::pin` (return a
/// [`BoxKeyFuture`]). [`DynResolver`] puts resolvers of different types behind one.
///
/// ```
/// use std::sync::Arc;
/// use tower_jwt_auth::{Algorithm, KeyError, KeyResolver, TokenHeader, VerificationKey};
///
/// let key = Arc::new(VerificationKey::hmac(Algorithm::HS256, &[7; 32]).unwrap());
/// // Any closure from the header to a future is a resolver.
/// let resolver = move |header: &TokenHeader<'_>| {
///     let found = match header.kid() {
///         Some("main") => Ok(key.clone()),
///         _ => Err(KeyError::not_found()),
///     };
///     std::future::ready(found)
/// };
/// fn takes<R: KeyResolver>(_: &R) {}
/// takes(&resolver);
/// ```
pub trait KeyResolver: Send + Sync + 'static {
    /// What [`resolve`](KeyResolver::resolve) returns.
    type Future: Future<Output = Result<Arc<VerificationKey>, KeyError>> + Send + Unpin + 'static;

    /// Picks the key for a token with this header.
    fn resolve(&self, header: &TokenHeader<'_>) -> Self::Future;

    /// Whether `key` is still what [`resolve`](KeyResolver::resolve) would return for this
    /// header right now, without waiting: the verified-token cache asks this on every hit.
    /// The default resolves and compares pointers; resolvers that can answer without
    /// cloning an `Arc` (the shipped ones) override it, as shared reference counts are
    /// what concurrent hits would otherwise contend on.
    fn is_current(&self, header: &TokenHeader<'_>, key: &Arc<VerificationKey>) -> bool {
        resolves_now_to(self, header, key)
    }

    /// Whether [`resolve`](KeyResolver::resolve) needs the payload's (unverified) `iss` in
    /// [`TokenHeader::unverified_issuer`], as [`MultiIssuer`] does. Reading it costs a
    /// second base64 and JSON pass, so the default is `false`.
    fn wants_issuer(&self) -> bool {
        false
    }

    /// The one issuer whose tokens this resolver's keys are for, if it knows it: a layer
    /// (or validator) built without [`issuer`](crate::JwtAuthBuilder::issuer) then accepts
    /// only tokens whose `iss` is exactly this string, so that keys shared between tenants
    /// cannot verify another tenant's tokens. Issuers you configure yourself replace it.
    /// `JwksResolver`s made from an issuer (OIDC discovery) answer it; the default is
    /// `None`: no issuer is implied.
    fn expected_issuer(&self) -> Option<&str> {
        None
    }
}

impl<F, Fut> KeyResolver for F
where
    F: Fn(&TokenHeader<'_>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Arc<VerificationKey>, KeyError>> + Send + Unpin + 'static,
{
    type Future = Fut;

    fn resolve(&self, header: &TokenHeader<'_>) -> Fut {
        self(header)
    }
}

/// Whether `resolver` answers `header` at once, with exactly `key`.
pub(crate) fn resolves_now_to<R: KeyResolver + ?Sized>(
    resolver: &R,
    header: &TokenHeader<'_>,
    key: &Arc<VerificationKey>,
) -> bool {
    let mut future = resolver.resolve(header);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    matches!(
        std::pin::Pin::new(&mut future).poll(&mut cx),
        std::task::Poll::Ready(Ok(now)) if Arc::ptr_eq(&now, key)
    )
}

/// Why a resolver returned no key: no such key (401) or the key source is down (503).
#[derive(Clone)]
pub struct KeyError {
    unavailable: bool,
    retry_after: Option<Duration>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

impl KeyError {
    /// No key matches the token: it is refused with 401 `invalid_token`.
    pub fn not_found() -> Self {
        KeyError {
            unavailable: false,
            retry_after: None,
            source: None,
        }
    }

    /// The key source cannot be reached and nothing usable is cached: 503 with
    /// `Retry-After` (the given delay, else 10 s), or gRPC 14 UNAVAILABLE.
    pub fn unavailable(retry_after: Option<Duration>) -> Self {
        KeyError {
            unavailable: true,
            retry_after,
            source: None,
        }
    }

    /// Attaches the underlying cause (for logs and [`std::error::Error::source`]).
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Whether this is the 503 kind.
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }

    pub(crate) fn into_auth_error(self) -> crate::AuthError {
        use crate::error::reason;
        if self.unavailable {
            reason::KEY_UNAVAILABLE
                .with_retry_after(self.retry_after.unwrap_or(Duration::from_secs(10)))
                .with_shared_source(self.source)
        } else {
            reason::UNKNOWN_KEY.with_shared_source(self.source)
        }
    }
}

impl fmt::Debug for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyError")
            .field("unavailable", &self.unavailable)
            .field("retry_after", &self.retry_after)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.unavailable {
            "key source unavailable"
        } else {
            "no such key"
        })
    }
}

impl StdError for KeyError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}
