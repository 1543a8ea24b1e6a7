//! [`JwksBuilder`]: the options of a [`JwksResolver`], each with its default.

use std::time::Duration;

use super::{FetchError, JwksResolver, discovery, fetch};

/// Options of a [`JwksResolver`], each with its default.
#[derive(Debug, Clone)]
pub struct JwksBuilder {
    /// `None`: a default client, made when the resolver is built.
    pub(super) client: Option<reqwest::Client>,
    pub(super) allow_insecure_http: bool,
    pub(super) ttl: Duration,
    pub(super) min_ttl: Duration,
    pub(super) max_ttl: Duration,
    pub(super) cooldown: Duration,
    pub(super) retry_after_failure: Duration,
    pub(super) timeout: Duration,
    pub(super) max_size: usize,
    pub(super) max_staleness: Duration,
}

impl Default for JwksBuilder {
    fn default() -> Self {
        JwksBuilder {
            client: None,
            allow_insecure_http: false,
            ttl: Duration::from_secs(300),
            min_ttl: Duration::from_secs(30),
            max_ttl: Duration::from_secs(24 * 3600),
            cooldown: Duration::from_secs(30),
            retry_after_failure: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
            max_size: 512 * 1024,
            max_staleness: Duration::from_secs(24 * 3600),
        }
    }
}

impl JwksBuilder {
    /// The HTTP client, for a private CA, a proxy or other settings. Defaults to reqwest's
    /// default client (rustls with the platform's roots, system proxy) with a redirect
    /// policy that follows at most 5 redirects and refuses insecure ones.
    ///
    /// Your client keeps its own redirect policy: build it with [`redirect_policy`](super::redirect_policy) so
    /// that an insecure redirect is refused before it is followed. Whatever its policy,
    /// the URL a response finally came from is checked, and the fetch fails if it is
    /// insecure.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Allows plain `http` URLs to any host, redirects from `https` down to `http`
    /// included. Defaults to `false`: `http` only to loopback hosts.
    ///
    /// Dangerous: over plain `http`, anyone on the network path (a Wi-Fi hotspot, a
    /// compromised router, a DNS spoofer) can serve their own key set, and then sign
    /// tokens your service accepts. Only for closed test networks; never in production.
    pub fn danger_allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// How long a key set is used when the response has no `Cache-Control: max-age`.
    /// Defaults to 5 minutes.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The bounds a `max-age` (and the default TTL) are clamped to. Defaults to
    /// 30 seconds and 24 hours.
    pub fn ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.min_ttl = min;
        self.max_ttl = max.max(min);
        self
    }

    /// The least time between two fetches caused by unknown `kid`s. Defaults to 30 seconds.
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// How long after a failed fetch no new one starts (requests without a usable key set
    /// get 503 meanwhile). Defaults to 5 seconds.
    pub fn retry_after_failure(mut self, delay: Duration) -> Self {
        self.retry_after_failure = delay;
        self
    }

    /// The limit on one whole fetch: connect, headers and body. Defaults to 5 seconds.
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest document accepted, in bytes. Defaults to 512 KiB.
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.max_size = bytes;
        self
    }

    /// How old the last good key set may grow while the issuer cannot be reached before
    /// requests get 503. Defaults to 24 hours.
    pub fn max_staleness(mut self, staleness: Duration) -> Self {
        self.max_staleness = staleness;
        self
    }

    /// A resolver for the JWKS document at `jwks_url`. Nothing is fetched until the first
    /// request or [`JwksResolver::refresh`].
    ///
    /// The URL is checked on every fetch, not here: an insecure or malformed one makes each
    /// fetch fail ([`FetchError::InsecureUrl`], [`FetchError::InvalidUrl`]) without any
    /// network traffic, so requests get 503 and [`JwksResolver::refresh`] reports it.
    ///
    /// # Panics
    ///
    /// Without [`http_client`](Self::http_client), when the default client cannot be made,
    /// as `reqwest::Client::new()` panics (no TLS backend, unreadable resolver settings).
    pub fn build(self, jwks_url: impl Into<String>) -> JwksResolver {
        self.build_for(jwks_url.into(), None)
    }

    /// The client set with [`http_client`](Self::http_client), else a new default one.
    fn take_client(&mut self) -> reqwest::Client {
        self.client.take().unwrap_or_else(|| {
            reqwest::Client::builder()
                .redirect(fetch::redirect_policy(self.allow_insecure_http))
                .build()
                .expect("the default JWKS HTTP client could not be made")
        })
    }

    fn build_for(mut self, url: String, issuer: Option<String>) -> JwksResolver {
        let client = self.take_client();
        JwksResolver::with_options(url, issuer, client, self)
    }

    /// A resolver for the JWKS named by `issuer`'s OpenID Connect discovery document
    /// (`{issuer}/.well-known/openid-configuration`), whose `issuer` must equal `issuer`
    /// exactly (a trailing slash counts).
    ///
    /// The issuer, the document's URL, its redirects and its `jwks_uri` must be secure (see
    /// [`JwksResolver`]), else this fails with [`FetchError::InsecureUrl`]. The resolver
    /// answers [`KeyResolver::expected_issuer`](crate::KeyResolver::expected_issuer) with `issuer`, as given: a layer over it
    /// accepts only tokens from that issuer unless you configure issuers yourself.
    ///
    /// # Panics
    ///
    /// As [`build`](Self::build).
    pub async fn discover(mut self, issuer: &str) -> Result<JwksResolver, FetchError> {
        // Made once, for the discovery and then for the key set.
        let client = self.take_client();
        let url =
            discovery::jwks_uri(&client, issuer, self.timeout, self.allow_insecure_http).await?;
        Ok(self
            .http_client(client)
            .build_for(url, Some(issuer.to_owned())))
    }
}
