//! [`JwksResolver`]: keys from a remote JWKS document or an OIDC issuer (feature `jwks`).
//!
//! Reads never lock: the current key set is an `Arc` swapped whole on refresh. A request
//! waits for the network only when its `kid` is unknown (one shared fetch, at most once per
//! cooldown) or when no usable key set exists yet.
//!
//! Keys are fetched over `https` only: plain `http` is allowed to loopback hosts
//! (`127.0.0.0/8`, `::1`, `localhost`) and otherwise only after
//! [`JwksBuilder::danger_allow_insecure_http`]; see [`JwksResolver`] for the rules.

mod builder;
mod discovery;
mod fetch;

use std::fmt;
use std::future::{Ready, ready};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use futures_util::future::{BoxFuture, Either, FutureExt, Shared};

pub use builder::JwksBuilder;
pub use fetch::FetchError;

/// The redirect policy of the default client, for a client of your own
/// ([`JwksBuilder::http_client`]): at most 5 redirects, each to an `https` URL, or to a
/// plain `http` URL on a loopback host (`127.0.0.0/8`, `::1`, `localhost`) when no earlier
/// URL of the chain was `https`. A refused redirect fails the fetch with
/// [`FetchError::InsecureUrl`] or [`FetchError::TooManyRedirects`].
///
/// ```
/// use tower_jwt_auth::jwks::{self, JwksResolver};
///
/// let client = reqwest::Client::builder()
///     .redirect(jwks::redirect_policy())
///     .build()?;
/// let keys = JwksResolver::builder()
///     .http_client(client)
///     .build("https://auth.example.com/.well-known/jwks.json");
/// # Ok::<(), reqwest::Error>(())
/// ```
pub fn redirect_policy() -> reqwest::redirect::Policy {
    fetch::redirect_policy(false)
}

/// The `Cache-Control` parsing the resolver applies to a JWKS response, exposed for the
/// fuzz targets only (feature `fuzzing`); not part of the stable API.
///
/// `None`: no usable `max-age`, the resolver uses its default TTL ([`JwksBuilder::ttl`]).
/// `Some(Duration::ZERO)`: do not cache (`no-store`, `no-cache` or `max-age=0`, whatever
/// else the value says), the resolver uses its minimum TTL bound. `Some(d)`: the smallest
/// well-formed `max-age`, at most 2^31 seconds, before clamping to
/// [`JwksBuilder::ttl_bounds`]. Never panics.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub fn cache_control_max_age(value: &str) -> Option<std::time::Duration> {
    fetch::cache_control_max_age(value)
}

use crate::header::TokenHeader;
use crate::key::{KeyError, KeyResolver, KeySet, VerificationKey};

/// A [`KeyResolver`] over a remote JWKS document that survives key rotation, outages and
/// floods of unknown `kid`s.
///
/// - The key set is refreshed in the background once three quarters of its time to live
///   have passed; the TTL is the response's `Cache-Control: max-age` within
///   [`ttl_bounds`](JwksBuilder::ttl_bounds), else [`ttl`](JwksBuilder::ttl).
/// - An unknown `kid` triggers one fetch shared by every request waiting for it, at most
///   once per [`unknown_kid_cooldown`](JwksBuilder::unknown_kid_cooldown); in between, an
///   unknown `kid` is refused at once (401).
/// - When the issuer is down, slow, or answers garbage, the last good key set keeps being
///   used for up to [`max_staleness`](JwksBuilder::max_staleness); with no usable key set,
///   requests get 503 with `Retry-After` (gRPC 14).
/// - Only asymmetric signing keys are taken from the document: `use` must be `sig` or
///   absent, `key_ops` must allow `verify`, RSA keys need 2048 bits; other keys are skipped.
/// - Every URL must be `https`: the JWKS URL, the issuer and the discovery document's
///   `jwks_uri`, every redirect (at most 5, never from `https` down to `http`) and the URL
///   the response finally came from. Plain `http` is allowed only to a loopback host
///   (`127.0.0.0/8`, `::1`, `localhost`), or anywhere after
///   [`danger_allow_insecure_http`](JwksBuilder::danger_allow_insecure_http). A refused URL
///   is a fetch failure ([`FetchError::InsecureUrl`]) like any other: nothing is sent to
///   it, and with no usable key set requests get 503. [`build`](JwksBuilder::build) and
///   [`new`](JwksResolver::new) do not check the URL, the first fetch does (call
///   [`refresh`](JwksResolver::refresh) at start-up to fail fast);
///   [`discover`](JwksBuilder::discover) and [`from_issuer`](JwksResolver::from_issuer)
///   fail at once.
/// - A resolver made by [`discover`](JwksBuilder::discover) or
///   [`from_issuer`](JwksResolver::from_issuer) names its issuer through
///   [`KeyResolver::expected_issuer`]: a layer built over it accepts only tokens whose
///   `iss` is that issuer, unless you configure issuers yourself with
///   [`JwtAuthBuilder::issuer`](crate::JwtAuthBuilder::issuer).
///
/// Fetches run on the tokio runtime the requests run on.
///
/// ```no_run
/// use tower_jwt_auth::{Algorithm, JwtAuthLayer, jwks::JwksResolver};
/// # #[derive(serde::Deserialize)] struct MyClaims {}
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let keys = JwksResolver::from_issuer("https://auth.example.com/").await?;
/// keys.refresh().await?; // optional: fail fast at start-up if the issuer is unreachable
/// let auth = JwtAuthLayer::<MyClaims>::builder(keys)
///     .algorithms([Algorithm::RS256, Algorithm::ES256])
///     // `iss` must be "https://auth.example.com/": from_issuer says so.
///     .audience("my-api")
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct JwksResolver {
    shared: Arc<Inner>,
}

struct Inner {
    url: String,
    /// The issuer the resolver was discovered from, as given.
    issuer: Option<String>,
    client: reqwest::Client,
    options: JwksBuilder,
    current: ArcSwapOption<Snapshot>,
    /// The fetch under way, which every caller joins.
    inflight: Mutex<Option<Fetch>>,
    /// When the last fetch for an unknown `kid` started.
    last_unknown_kid_fetch: Mutex<Option<Instant>>,
    /// The last failure, until a fetch succeeds.
    last_failure: Mutex<Option<(Instant, FetchError)>>,
    /// No background refresh before this many milliseconds after `created`: checked without
    /// a lock, so that requests during an outage do not take the mutexes above.
    refresh_not_before: AtomicU64,
    created: Instant,
}

type Fetch = Shared<BoxFuture<'static, ()>>;
type Found = Result<Arc<VerificationKey>, KeyError>;

/// One fetched key set and when it was fetched.
struct Snapshot {
    keys: KeySet,
    /// When a background refresh is due, 3/4 into the TTL (`None`: never).
    refresh_at: Option<Instant>,
    /// The end of `max_staleness` (`None`: never).
    usable_until: Option<Instant>,
    /// `true` only while `Instant::now() < refresh_at` and `<= usable_until` is certain: a
    /// timer clears it at the earlier deadline (or when its runtime drops it), so that the
    /// path for a known `kid` reads no clock.
    fresh: AtomicBool,
}

impl Snapshot {
    fn usable(&self, now: Instant) -> bool {
        self.usable_until.is_none_or(|until| now <= until)
    }

    fn refresh_due(&self, now: Instant) -> bool {
        self.refresh_at.is_some_and(|at| now >= at)
    }
}

/// Clears `fresh` when the timer fires, or when it is dropped with its runtime.
struct ClearOnDrop(std::sync::Weak<Snapshot>);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        if let Some(snapshot) = self.0.upgrade() {
            snapshot.fresh.store(false, Ordering::Relaxed);
        }
    }
}

impl JwksResolver {
    fn with_options(
        url: String,
        issuer: Option<String>,
        client: reqwest::Client,
        options: JwksBuilder,
    ) -> Self {
        JwksResolver {
            shared: Arc::new(Inner {
                url,
                issuer,
                client,
                options,
                current: ArcSwapOption::empty(),
                inflight: Mutex::new(None),
                last_unknown_kid_fetch: Mutex::new(None),
                last_failure: Mutex::new(None),
                refresh_not_before: AtomicU64::new(0),
                created: Instant::now(),
            }),
        }
    }

    /// Options, starting from the defaults.
    pub fn builder() -> JwksBuilder {
        JwksBuilder::default()
    }

    /// A resolver for `jwks_url` with the default options. As with
    /// [`JwksBuilder::build`], an insecure URL is not refused here but by every fetch.
    pub fn new(jwks_url: impl Into<String>) -> Self {
        Self::builder().build(jwks_url)
    }

    /// A resolver found through OIDC discovery from `issuer`, with the default options;
    /// see [`JwksBuilder::discover`]. A layer over it checks that `iss` is `issuer` unless
    /// you configure issuers yourself.
    pub async fn from_issuer(issuer: &str) -> Result<Self, FetchError> {
        Self::builder().discover(issuer).await
    }

    /// The JWKS URL.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// The issuer this resolver was discovered from, as given to
    /// [`from_issuer`](Self::from_issuer) or [`discover`](JwksBuilder::discover); `None`
    /// for a resolver built from a JWKS URL.
    pub fn issuer(&self) -> Option<&str> {
        self.shared.issuer.as_deref()
    }

    /// Fetches the key set now (joining a fetch under way) and reports how that went.
    pub async fn refresh(&self) -> Result<(), FetchError> {
        let started = Instant::now();
        if let Some(fetch) = self.shared.join_or_start(|| true) {
            fetch.await;
        }
        match &*lock(&self.shared.last_failure) {
            Some((at, error)) if *at >= started => Err(error.clone()),
            _ => Ok(()),
        }
    }

    /// How many keys the current key set holds (0 before the first successful fetch).
    pub fn key_count(&self) -> usize {
        self.shared
            .current
            .load()
            .as_ref()
            .map_or(0, |s| s.keys.len())
    }
}

impl KeyResolver for JwksResolver {
    type Future = Either<Ready<Found>, BoxFuture<'static, Found>>;

    /// The issuer this resolver was discovered from ([`JwksResolver::issuer`]).
    fn expected_issuer(&self) -> Option<&str> {
        self.issuer()
    }

    fn is_current(&self, header: &TokenHeader<'_>, key: &Arc<VerificationKey>) -> bool {
        let current = self.shared.current.load();
        if let Some(snapshot) = current.as_ref()
            && snapshot.fresh.load(Ordering::Relaxed)
        {
            return snapshot
                .keys
                .find(header)
                .is_some_and(|found| Arc::ptr_eq(found, key));
        }
        // Not fresh: the full resolve, which also starts a due refresh.
        drop(current);
        crate::key::resolves_now_to(self, header, key)
    }

    fn resolve(&self, header: &TokenHeader<'_>) -> Self::Future {
        let inner = &self.shared;
        let current = inner.current.load();
        if let Some(snapshot) = current.as_ref()
            && snapshot.fresh.load(Ordering::Relaxed)
            && let Some(key) = snapshot.keys.find(header)
        {
            return Either::Left(ready(Ok(Arc::clone(key))));
        }
        let now = Instant::now();
        let usable = current.as_ref().filter(|s| s.usable(now));
        let fetch = match usable {
            Some(snapshot) => {
                if snapshot.refresh_due(now) {
                    inner.refresh_in_background(now);
                }
                if let Some(key) = snapshot.keys.find(header) {
                    return Either::Left(ready(Ok(Arc::clone(key))));
                }
                // An unknown kid: perhaps a key the issuer has just rotated in.
                inner.join_or_start(|| inner.unknown_kid_cooldown_passed(now))
            }
            None => inner.join_or_start(|| inner.failure_backoff_passed(now)),
        };
        let Some(fetch) = fetch else {
            return Either::Left(ready(Err(inner.no_key(now, usable.is_some()))));
        };
        let inner = Arc::clone(inner);
        let (alg, kid) = (header.alg(), header.kid().map(Box::<str>::from));
        Either::Right(Box::pin(async move {
            fetch.await;
            let now = Instant::now();
            let current = inner.current.load();
            match current.as_ref().filter(|s| s.usable(now)) {
                Some(snapshot) => snapshot
                    .keys
                    .find(&TokenHeader::new(alg, kid.as_deref()))
                    .cloned()
                    .ok_or_else(KeyError::not_found),
                None => Err(inner.no_key(now, false)),
            }
        }))
    }
}

impl Inner {
    /// The fetch under way, or else a new one if `may_start` says so, spawned on the runtime
    /// so that it finishes even if every request waiting for it goes away. Deciding under
    /// the `inflight` lock makes "join or start" one step: two callers never both start.
    fn join_or_start(self: &Arc<Self>, may_start: impl FnOnce() -> bool) -> Option<Fetch> {
        let mut inflight = lock(&self.inflight);
        if let Some(fetch) = &*inflight {
            return Some(fetch.clone());
        }
        if !may_start() {
            return None;
        }
        self.put_off_refresh(Instant::now(), self.options.timeout);
        let inner = Arc::clone(self);
        let fetch = async move {
            inner.fetch_now().await;
            *lock(&inner.inflight) = None;
        }
        .boxed()
        .shared();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(fetch.clone());
        }
        *inflight = Some(fetch.clone());
        Some(fetch)
    }

    async fn fetch_now(&self) {
        let options = &self.options;
        let result = fetch::get(
            &self.client,
            &self.url,
            options.timeout,
            options.max_size,
            options.allow_insecure_http,
        )
        .await
        .and_then(|fetched| {
            let json = std::str::from_utf8(&fetched.body)
                .map_err(|e| FetchError::InvalidDocument(e.to_string()))?;
            // A public document has no business holding HMAC secrets: skip them.
            let keys = KeySet::from_jwks_json_where(json, |k| !k.is_symmetric())
                .map_err(|e| FetchError::InvalidDocument(e.to_string()))?;
            if keys.is_empty() {
                return Err(FetchError::NoUsableKeys);
            }
            Ok((keys, fetched.max_age))
        });
        match result {
            Ok((keys, max_age)) => {
                let ttl = max_age
                    .unwrap_or(options.ttl)
                    .clamp(options.min_ttl, options.max_ttl);
                #[cfg(feature = "tracing")]
                tracing::debug!(url = %self.url, keys = keys.len(), ?ttl, "JWKS fetched");
                let fetched_at = Instant::now();
                let refresh_at = fetched_at.checked_add(ttl - ttl / 4);
                let usable_until = fetched_at.checked_add(options.max_staleness);
                let deadline = match (refresh_at, usable_until) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let runtime = tokio::runtime::Handle::try_current().ok();
                let snapshot = Arc::new(Snapshot {
                    keys,
                    refresh_at,
                    usable_until,
                    fresh: AtomicBool::new(runtime.is_some() || deadline.is_none()),
                });
                if let (Some(runtime), Some(deadline)) = (runtime, deadline) {
                    let guard = ClearOnDrop(Arc::downgrade(&snapshot));
                    runtime.spawn(async move {
                        tokio::time::sleep_until(deadline.into()).await;
                        drop(guard);
                    });
                }
                #[cfg(feature = "metrics")]
                {
                    crate::observe::jwks_fetched(true);
                    crate::observe::jwks_keys(snapshot.keys.len());
                }
                self.current.store(Some(snapshot));
                *lock(&self.last_failure) = None;
                self.refresh_not_before.store(0, Ordering::Relaxed);
            }
            Err(error) => {
                #[cfg(feature = "tracing")]
                tracing::warn!(url = %self.url, %error, "JWKS fetch failed; keeping the previous key set");
                #[cfg(feature = "metrics")]
                crate::observe::jwks_fetched(false);
                let now = Instant::now();
                self.put_off_refresh(now, self.options.retry_after_failure);
                *lock(&self.last_failure) = Some((now, error));
            }
        }
    }

    /// Starts a refresh unless one is under way or the last one failed too recently.
    /// Without a runtime to run it on, the next request that needs a fetch does it.
    fn refresh_in_background(self: &Arc<Self>, now: Instant) {
        if self.millis(now) < self.refresh_not_before.load(Ordering::Relaxed) {
            return;
        }
        let runtime = tokio::runtime::Handle::try_current().is_ok();
        drop(self.join_or_start(|| runtime && self.failure_backoff_passed(now)));
    }

    /// Puts off background refreshes until `delay` from `now`.
    fn put_off_refresh(&self, now: Instant, delay: Duration) {
        // A huge configured delay must not overflow `Instant`: it means "never".
        let not_before = now
            .checked_add(delay)
            .map_or(u64::MAX, |at| self.millis(at));
        self.refresh_not_before.store(not_before, Ordering::Relaxed);
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from((at - self.created).as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether the cooldown since the last fetch for an unknown `kid` has passed; if so,
    /// it restarts now.
    fn unknown_kid_cooldown_passed(&self, now: Instant) -> bool {
        let mut last = lock(&self.last_unknown_kid_fetch);
        match *last {
            Some(at) if now - at < self.options.cooldown => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }

    /// Whether no fetch has failed within `retry_after_failure`.
    fn failure_backoff_passed(&self, now: Instant) -> bool {
        match &*lock(&self.last_failure) {
            Some((at, _)) => now - *at >= self.options.retry_after_failure,
            None => true,
        }
    }

    /// The error for a request that gets no key: unknown `kid` while a key set is usable
    /// (401), else the key source is unavailable (503).
    fn no_key(&self, now: Instant, have_keys: bool) -> KeyError {
        if have_keys {
            return KeyError::not_found();
        }
        let failure = lock(&self.last_failure).clone();
        let wait = failure
            .as_ref()
            .map(|(at, _)| self.options.retry_after_failure.saturating_sub(now - *at))
            .unwrap_or(self.options.retry_after_failure);
        let error = KeyError::unavailable(Some(wait.max(Duration::from_secs(1))));
        match failure {
            Some((_, cause)) => error.with_source(cause),
            None => error,
        }
    }
}

/// A poisoned lock only means another thread panicked while holding it; the data (an
/// `Option`) is still consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl fmt::Debug for JwksResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksResolver")
            .field("url", &self.shared.url)
            .field("issuer", &self.shared.issuer)
            .field("keys", &self.key_count())
            .field("options", &self.shared.options)
            .finish()
    }
}
