//! [`Introspector`]: asks an authorization server about opaque (non-JWT) access tokens
//! through RFC 7662 token introspection (feature `introspection`).
//!
//! An opaque token carries nothing to verify locally, so each one costs a round trip to
//! the server that issued it. To keep that affordable and safe under load:
//!
//! - answers are cached, keyed by the token's SHA-256 (the token itself is never kept):
//!   an active one until its `exp`, at most [`max_cache_ttl`](IntrospectorBuilder::max_cache_ttl);
//!   an inactive one for [`negative_cache_ttl`](IntrospectorBuilder::negative_cache_ttl);
//!   a failure never;
//! - concurrent requests with the same uncached token share one POST and its result, so
//!   an outage costs one timeout per token, not one per waiting request;
//! - each exchange is bounded by a timeout and a body size cap, goes to `https` only, and
//!   follows no redirect (a redirect would re-send the token elsewhere);
//! - an answer is active only when its `active` member is the JSON boolean `true`; an
//!   error, a non-200 status or a body that is not a JSON object is an outage (503), never
//!   an acceptance.
//!
//! ```
//! use std::time::Duration;
//! use tower_jwt_auth::introspection::Introspector;
//!
//! let introspector = Introspector::builder(
//!     "https://auth.example.com/oauth2/introspect",
//!     "https://auth.example.com/",
//! )
//! .client_basic("my-api", "the client secret")
//! .max_cache_ttl(Duration::from_secs(30))
//! .build()?;
//! assert_eq!(introspector.issuer(), "https://auth.example.com/");
//! assert!(!format!("{introspector:?}").contains("the client secret"));
//!
//! // Plain http is refused unless asked for (tests on loopback).
//! let insecure = Introspector::builder("http://auth.example.com/introspect", "x").build();
//! assert!(insecure.is_err());
//! # Ok::<(), tower_jwt_auth::ConfigError>(())
//! ```

mod cache;
mod client;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use self::cache::Answers;
pub(crate) use self::client::IntrospectError;
use self::client::{Client, ClientAuth, Limits};
use crate::ConfigError;

/// What the authorization server said about a token.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// `"active": true`.
    Active(Active),
    /// Anything else: the token is not (or no longer) valid.
    Inactive,
}

/// An active answer.
#[derive(Clone)]
pub(crate) struct Active {
    /// The response object, byte for byte as sent, for the caller to read claims from.
    pub(crate) json: Arc<[u8]>,
}

impl fmt::Debug for Active {
    /// The length only: the answer describes a user.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Active({} bytes)", self.json.len())
    }
}

/// An RFC 7662 introspection endpoint of one authorization server (issuer).
///
/// Cheap to clone: clones share the HTTP client, the cache and the exchanges under way.
#[derive(Clone)]
pub struct Introspector {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: String,
    issuer: String,
    options: Options,
    client: Arc<Client>,
    answers: Arc<Answers>,
}

impl Introspector {
    /// Options for the introspection endpoint `endpoint` of the authorization server
    /// `issuer`, starting from the defaults.
    pub fn builder(endpoint: impl Into<String>, issuer: impl Into<String>) -> IntrospectorBuilder {
        IntrospectorBuilder {
            endpoint: endpoint.into(),
            issuer: issuer.into(),
            auth: ClientAuth::None,
            http: None,
            options: Options {
                timeout: Duration::from_secs(2),
                max_cache_ttl: Duration::from_secs(60),
                negative_cache_ttl: Duration::from_secs(5),
                cache_capacity: 10_000,
                max_response_size: 64 * 1024,
                allow_insecure_http: false,
            },
        }
    }

    /// The issuer whose tokens this endpoint answers for, as given.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The introspection endpoint, as given.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// What the server says about `token`: from the cache, else by joining the exchange
    /// under way for it, else by a new one. The future owns all it needs.
    pub(crate) fn lookup(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Answer, IntrospectError>> + Send + 'static {
        self.inner.answers.lookup(&self.inner.client, token)
    }
}

/// How an answer's body is read: `Some((active, exp))`, or `None` for a body that is an
/// outage (not a JSON object). For the fuzz targets only (feature `fuzzing`).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub fn parse_answer(body: &[u8]) -> Option<(bool, Option<u64>)> {
    let reply = client::parse(body.to_vec()).ok()?;
    let exp = match reply.exp {
        client::Exp::At(secs) => Some(secs),
        _ => None,
    };
    Some((matches!(reply.answer, Answer::Active(_)), exp))
}

/// The options that are not secrets, shown by `Debug`.
#[derive(Debug, Clone)]
struct Options {
    timeout: Duration,
    max_cache_ttl: Duration,
    negative_cache_ttl: Duration,
    cache_capacity: usize,
    max_response_size: usize,
    allow_insecure_http: bool,
}

/// Options of an [`Introspector`], each with its default.
#[derive(Clone)]
pub struct IntrospectorBuilder {
    endpoint: String,
    issuer: String,
    auth: ClientAuth,
    http: Option<reqwest::Client>,
    options: Options,
}

impl IntrospectorBuilder {
    /// Authenticates as a confidential client with HTTP Basic (RFC 7662 §2.1, RFC 6749
    /// §2.3.1): the id and the secret are each form-urlencoded, then `id:secret` is
    /// base64-encoded. Defaults to no client authentication (a public endpoint), which
    /// most authorization servers refuse: RFC 7662 §4 asks them to, so that tokens cannot
    /// be probed.
    pub fn client_basic(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.auth = ClientAuth::Basic {
            id: client_id.into(),
            secret: client_secret.into(),
        };
        self
    }

    /// Authenticates with `Authorization: Bearer <token>`, a credential of the resource
    /// server's own (RFC 7662 §2.1 allows it). Replaces [`client_basic`](Self::client_basic).
    pub fn client_bearer(mut self, token: impl Into<String>) -> Self {
        self.auth = ClientAuth::Bearer(token.into());
        self
    }

    /// The limit on one whole exchange: connect, headers and body. Defaults to 2 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// The longest an active answer is reused: until the answer's `exp`, never longer than
    /// this, since the server may revoke the token meanwhile. Defaults to 60 seconds; zero
    /// caches no active answer.
    pub fn max_cache_ttl(mut self, ttl: Duration) -> Self {
        self.options.max_cache_ttl = ttl;
        self
    }

    /// How long an inactive answer is reused, so that a client retrying a dead token does
    /// not hammer the server. Defaults to 5 seconds; zero caches no inactive answer.
    pub fn negative_cache_ttl(mut self, ttl: Duration) -> Self {
        self.options.negative_cache_ttl = ttl;
        self
    }

    /// The most answers kept (about; the least used go first). Defaults to 10 000; zero
    /// caches nothing.
    pub fn cache_capacity(mut self, entries: usize) -> Self {
        self.options.cache_capacity = entries;
        self
    }

    /// The largest answer accepted, in bytes. Defaults to 64 KiB.
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.options.max_response_size = bytes;
        self
    }

    /// Allows a plain `http` endpoint. Defaults to `false`: `https` only.
    ///
    /// Dangerous: over plain `http` the token and the client credentials cross the network
    /// in the clear, and anyone on the path can answer `"active": true`. For tests on
    /// loopback only.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.options.allow_insecure_http = allow;
        self
    }

    /// The HTTP client, for a private CA, a proxy or other settings. Defaults to reqwest's
    /// default client with redirects turned off.
    ///
    /// Build yours with `.redirect(reqwest::redirect::Policy::none())`: a client that
    /// follows a 307 or 308 re-sends the token and the credentials to wherever it points.
    /// An answer that comes from another URL than the endpoint is refused anyway.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The introspector.
    ///
    /// Fails with [`ConfigError::InvalidIntrospection`] when the endpoint is not an
    /// absolute URL, is not `https` (unless [`allow_insecure_http`](Self::allow_insecure_http))
    /// or carries a user name, password or fragment, when a bearer credential is not a
    /// valid header value, or when the default HTTP client cannot be made.
    pub fn build(self) -> Result<Introspector, ConfigError> {
        let options = self.options;
        let limits = Limits {
            timeout: options.timeout,
            max_size: options.max_response_size,
            allow_insecure_http: options.allow_insecure_http,
        };
        let client = Client::new(&self.endpoint, &self.auth, self.http, limits)?;
        let answers = Answers::new(
            options.cache_capacity,
            options.max_cache_ttl,
            options.negative_cache_ttl,
        );
        Ok(Introspector {
            inner: Arc::new(Inner {
                endpoint: self.endpoint,
                issuer: self.issuer,
                options,
                client: Arc::new(client),
                answers: Arc::new(answers),
            }),
        })
    }
}

impl fmt::Debug for IntrospectorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectorBuilder")
            .field("endpoint", &without_credentials(&self.endpoint))
            .field("issuer", &self.issuer)
            .field("client_auth", &self.auth)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// `endpoint` without a user name and password, should it hold them (`build` refuses it).
fn without_credentials(endpoint: &str) -> String {
    match Url::parse(endpoint) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.into()
        }
        Ok(_) => endpoint.to_owned(),
        Err(_) => "<not a URL>".to_owned(),
    }
}

impl fmt::Debug for Introspector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspector")
            .field("endpoint", &self.inner.endpoint)
            .field("issuer", &self.inner.issuer)
            .field("client_auth", &self.inner.client.auth_kind())
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
