//! The `metrics` facade's names and keys. Keys are built once, labels included, so that
//! counting a request allocates nothing: the recorder is asked for the handle by a
//! prebuilt `Key`, never by a formatted one.

use std::sync::{LazyLock, Once};
use std::time::Duration;

use metrics::{Key, Label, Level, Metadata, Unit};

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
static FETCH_OK_LABELS: [Label; 1] = [Label::from_static_parts("outcome", "ok")];
static FETCH_OK: Key = Key::from_static_parts(JWKS_FETCHES, &FETCH_OK_LABELS);
static FETCH_ERROR_LABELS: [Label; 1] = [Label::from_static_parts("outcome", "error")];
static FETCH_ERROR: Key = Key::from_static_parts(JWKS_FETCHES, &FETCH_ERROR_LABELS);
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
/// at the first request.
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

/// One request's count and its decision time.
pub(super) fn request(rejected: Option<ErrorKind>, took: Duration) {
    describe();
    let key = match rejected {
        None => &ACCEPTED,
        Some(kind) => &REJECTED[kind as usize],
    };
    metrics::with_recorder(|recorder| {
        recorder.register_counter(key, &METADATA).increment(1);
        recorder
            .register_histogram(&VALIDATION, &METADATA)
            .record(took.as_secs_f64());
    });
}

/// A request passed on unauthenticated; not a validation, so no duration.
pub(super) fn anonymous(_took: Duration) {
    describe();
    metrics::with_recorder(|r| r.register_counter(&ANONYMOUS, &METADATA).increment(1));
}

pub(super) fn cache(hit: bool) {
    let key = if hit { &HITS } else { &MISSES };
    metrics::with_recorder(|r| r.register_counter(key, &METADATA).increment(1));
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
