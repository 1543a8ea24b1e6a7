//! One bounded HTTP GET: a timeout over the whole exchange, a cap on the body, 200 only.

use std::fmt;
use std::time::Duration;

use http::HeaderMap;
use http::header::CACHE_CONTROL;

/// Why fetching a key set (or a discovery document) failed. The previous key set, if any,
/// stays in use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchError {
    /// No complete answer within the fetch timeout.
    Timeout,
    /// The connection or the HTTP exchange failed.
    Transport(String),
    /// The server answered with a status other than 200.
    Status(u16),
    /// The body was larger than the configured maximum.
    TooLarge,
    /// The body was not the expected JSON document.
    InvalidDocument(String),
    /// The key set held no key this crate can verify with.
    NoUsableKeys,
    /// The discovery document names another issuer than the one configured.
    IssuerMismatch {
        /// The issuer configured.
        expected: String,
        /// The issuer the document names.
        found: String,
    },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Timeout => f.write_str("fetch timed out"),
            FetchError::Transport(e) => write!(f, "fetch failed: {e}"),
            FetchError::Status(code) => write!(f, "fetch answered HTTP {code}"),
            FetchError::TooLarge => f.write_str("document larger than the size cap"),
            FetchError::InvalidDocument(e) => write!(f, "invalid document: {e}"),
            FetchError::NoUsableKeys => f.write_str("key set has no usable signing key"),
            FetchError::IssuerMismatch { expected, found } => {
                write!(
                    f,
                    "discovery document is for issuer {found:?}, not {expected:?}"
                )
            }
        }
    }
}

impl std::error::Error for FetchError {}

/// A body that arrived whole, with the `max-age` its response allowed, if it said.
pub(crate) struct Fetched {
    pub(crate) body: Vec<u8>,
    pub(crate) max_age: Option<Duration>,
}

/// GETs `url`; the whole exchange (connect, headers, body) is bounded by `timeout`, and a
/// body over `max_size` bytes is refused without being read further.
pub(crate) async fn get(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    max_size: usize,
) -> Result<Fetched, FetchError> {
    let exchange = async {
        let mut response = client
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        if response.status() != http::StatusCode::OK {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|len| len > max_size as u64)
        {
            return Err(FetchError::TooLarge);
        }
        let max_age = max_age(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::Transport(e.to_string()))?
        {
            if body.len() + chunk.len() > max_size {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched { body, max_age })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Err(FetchError::Timeout))
}

/// `max-age` from `Cache-Control`; `no-store` and `no-cache` count as zero.
pub(crate) fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let directives = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim);
    for directive in directives {
        match directive.split_once('=') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("max-age") => {
                return value
                    .trim()
                    .trim_matches('"')
                    .parse()
                    .ok()
                    .map(Duration::from_secs);
            }
            None if directive.eq_ignore_ascii_case("no-store")
                || directive.eq_ignore_ascii_case("no-cache") =>
            {
                return Some(Duration::ZERO);
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn cache_control(value: &'static str) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(value));
        max_age(&headers)
    }

    #[test]
    fn reads_max_age() {
        assert_eq!(
            cache_control("public, max-age=600"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            cache_control("Max-Age=\"60\", must-revalidate"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(cache_control("no-store"), Some(Duration::ZERO));
        assert_eq!(cache_control("public"), None);
        assert_eq!(cache_control("max-age=soon"), None);
        assert_eq!(max_age(&HeaderMap::new()), None);
    }
}
