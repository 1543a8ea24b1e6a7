//! What the layer tells the outside about each request: counters and a histogram (feature
//! `metrics`) and a span (feature `tracing`). Without either feature every call here is
//! an empty inline function and [`Observation`] is zero-sized.

#[cfg(feature = "metrics")]
mod metrics;
#[cfg(feature = "tracing")]
mod span;

use crate::claims::Claims;
use crate::error::AuthError;

#[cfg(feature = "metrics")]
pub(crate) use metrics::Meters;
#[cfg(all(feature = "metrics", feature = "jwks"))]
pub(crate) use metrics::{jwks_fetched, jwks_keys};

/// Without the `metrics` feature, nothing to count with.
#[cfg(not(feature = "metrics"))]
#[derive(Debug, Default)]
pub(crate) struct Meters {
    _none: (),
}

#[cfg(not(feature = "metrics"))]
impl Meters {
    #[inline]
    pub(crate) fn cache(&self, _hit: bool) {}
}

/// One request's observation, from the layer receiving it to its decision; exactly one
/// of [`accepted`](Self::accepted), [`rejected`](Self::rejected) or
/// [`anonymous`](Self::anonymous) ends it, so each request is counted once.
pub(crate) struct Observation {
    #[cfg(feature = "metrics")]
    started: std::time::Instant,
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

impl Observation {
    #[inline]
    pub(crate) fn start() -> Self {
        Observation {
            #[cfg(feature = "metrics")]
            started: std::time::Instant::now(),
            #[cfg(feature = "tracing")]
            span: span::start(),
        }
    }

    /// Runs `f` inside the request's span, so the validator's events and your hook's
    /// spans nest under it.
    #[inline]
    pub(crate) fn within<R>(&self, f: impl FnOnce() -> R) -> R {
        #[cfg(feature = "tracing")]
        let _entered = self.span.enter();
        f()
    }

    /// The token was verified (and the hook, if any, let it through).
    #[inline]
    pub(crate) fn accepted<T>(self, claims: &Claims<T>, meters: &Meters) {
        #[cfg(feature = "metrics")]
        meters.request(None, self.started.elapsed());
        #[cfg(feature = "tracing")]
        span::accepted(&self.span, claims);
        let _ = (claims, meters);
    }

    /// The request was refused.
    #[inline]
    pub(crate) fn rejected(self, error: &AuthError, meters: &Meters) {
        #[cfg(feature = "metrics")]
        meters.request(Some(error.kind()), self.started.elapsed());
        #[cfg(feature = "tracing")]
        span::rejected(&self.span, error);
        let _ = (error, meters);
    }

    /// Passed on without authentication: optional mode and no token, or a CORS preflight.
    #[inline]
    pub(crate) fn anonymous(self, meters: &Meters) {
        #[cfg(feature = "metrics")]
        meters.anonymous();
        let _ = meters;
        #[cfg(feature = "tracing")]
        span::anonymous(&self.span);
    }
}

impl std::fmt::Debug for Observation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observation").finish_non_exhaustive()
    }
}
