//! The `metrics` facade's names and keys. Keys are built once, labels included, so that
//! counting a request allocates nothing: the recorder is asked for the handle by a
//! prebuilt `Key`, never by a formatted one.

use std::sync::{LazyLock, Once, OnceLock};
use std::time::Duration;

use metrics::{Counter, Histogram, Key, Label, Level, Metadata, Unit};

use crate::error::ErrorKind;

const REQUESTS: &str = "jwt_auth_requests_total";
const CACHE_HITS: &str = "jwt_auth_cache_hits_total";
const CACHE_MISSES: &str = "jwt_auth_cache_misses_total";
const DURATION: &str = "jwt_auth_validation_duration_seconds";
const JWKS_FETCHES: &str = "jwt_auth_jwks_fetches_total";
const JWKS_KEYS: &str = "jwt_auth_jwks_keys";

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

static ACCEPTED_LABELS: [Label; 1] = [Label::from_static_parts("result", "accepted")];
static ACCEPTED: Key = Key::from_static_parts(REQUESTS, &ACCEPTED_LABELS);
static ANONYMOUS_LABELS: [Label; 1] = [Label::from_static_parts("result", "anonymous")];
static ANONYMOUS: Key = Key::from_static_parts(REQUESTS, &ANONYMOUS_LABELS);
static HITS: Key = Key::from_static_name(CACHE_HITS);
static MISSES: Key = Key::from_static_name(CACHE_MISSES);
static VALIDATION: Key = Key::from_static_name(DURATION);
#[cfg(feature = "jwks")]
static FETCH_OK_LABELS: [Label; 1] = [Label::from_static_parts("outcome", "ok")];
#[cfg(feature = "jwks")]
static FETCH_OK: Key = Key::from_static_parts(JWKS_FETCHES, &FETCH_OK_LABELS);
#[cfg(feature = "jwks")]
static FETCH_ERROR_LABELS: [Label; 1] = [Label::from_static_parts("outcome", "error")];
#[cfg(feature = "jwks")]
static FETCH_ERROR: Key = Key::from_static_parts(JWKS_FETCHES, &FETCH_ERROR_LABELS);
#[cfg(feature = "jwks")]
static KEYS: Key = Key::from_static_name(JWKS_KEYS);

/// `result="rejected"` with each kind's `reason`, indexed by the kind's position.
static REJECTED: LazyLock<Vec<Key>> = LazyLock::new(|| {
    ErrorKind::ALL
        .iter()
        .map(|kind| {
            let labels: &'static [Label] = Box::leak(Box::new([
                Label::from_static_parts("result", "rejected"),
                Label::from_static_parts("reason", kind.as_str()),
            ]));
            Key::from_static_parts(REQUESTS, labels)
        })
        .collect()
});

/// The descriptions (Prometheus `# HELP`), given once the recorder is likely installed:
/// at the first request of the first layer.
static DESCRIBED: Once = Once::new();

fn describe() {
    DESCRIBED.call_once(|| {
        metrics::describe_counter!(
            REQUESTS,
            "Requests that reached the JWT layer, by result (and reason, for rejections)"
        );
        metrics::describe_counter!(CACHE_HITS, "Tokens found in the verified-token cache");
        metrics::describe_counter!(CACHE_MISSES, "Tokens verified in full: not in the cache");
        metrics::describe_histogram!(
            DURATION,
            Unit::Seconds,
            "Time from the layer receiving a request to its decision"
        );
        metrics::describe_counter!(JWKS_FETCHES, "JWKS fetches by outcome");
        metrics::describe_gauge!(JWKS_KEYS, "Keys in the last JWKS fetched");
    });
}

/// A layer's handles, registered with the recorder on the layer's first request (by then
/// the application has installed its recorder), so that counting afterwards is an atomic
/// add on a handle, not a lookup by key in the recorder's registry.
#[derive(Default)]
pub(crate) struct Meters {
    handles: OnceLock<Handles>,
    /// One per kind, registered at a kind's first rejection: no series for kinds never seen.
    rejected: [OnceLock<Counter>; ErrorKind::ALL.len()],
}

struct Handles {
    accepted: Counter,
    anonymous: Counter,
    duration: Histogram,
    hits: Counter,
    misses: Counter,
}

impl Meters {
    fn handles(&self) -> &Handles {
        self.handles.get_or_init(|| {
            describe();
            metrics::with_recorder(|r| Handles {
                accepted: r.register_counter(&ACCEPTED, &METADATA),
                anonymous: r.register_counter(&ANONYMOUS, &METADATA),
                duration: r.register_histogram(&VALIDATION, &METADATA),
                hits: r.register_counter(&HITS, &METADATA),
                misses: r.register_counter(&MISSES, &METADATA),
            })
        })
    }

    /// One request's count and its decision time.
    pub(super) fn request(&self, rejected: Option<ErrorKind>, took: Duration) {
        let handles = self.handles();
        match rejected {
            None => handles.accepted.increment(1),
            Some(kind) => self.rejected[kind as usize]
                .get_or_init(|| {
                    let key = &REJECTED[kind as usize];
                    metrics::with_recorder(|r| r.register_counter(key, &METADATA))
                })
                .increment(1),
        }
        handles.duration.record(took.as_secs_f64());
    }

    /// A request passed on unauthenticated; not a validation, so no duration.
    pub(super) fn anonymous(&self) {
        self.handles().anonymous.increment(1);
    }

    pub(crate) fn cache(&self, hit: bool) {
        let handles = self.handles();
        if hit {
            handles.hits.increment(1);
        } else {
            handles.misses.increment(1);
        }
    }
}

impl std::fmt::Debug for Meters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meters")
            .field("registered", &self.handles.get().is_some())
            .finish()
    }
}

/// A JWKS fetch ended.
#[cfg(feature = "jwks")]
pub(crate) fn jwks_fetched(ok: bool) {
    let key = if ok { &FETCH_OK } else { &FETCH_ERROR };
    metrics::with_recorder(|r| r.register_counter(key, &METADATA).increment(1));
}

/// The keys of the key set now in use.
#[cfg(feature = "jwks")]
pub(crate) fn jwks_keys(count: usize) {
    metrics::with_recorder(|r| r.register_gauge(&KEYS, &METADATA).set(count as f64));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_rejected_key() {
        for (index, kind) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, index, "{kind:?}");
            let labels: Vec<_> = REJECTED[index].labels().map(|l| l.value()).collect();
            assert_eq!(labels, ["rejected", kind.as_str()]);
        }
    }
}
