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

/// The TTL the `Cache-Control` fields of a response allow: each field line is parsed by
/// [`cache_control_max_age`] and the shortest answer wins. Bytes that are not UTF-8 are
/// replaced, so that one odd byte cannot hide a `no-store`.
pub(crate) fn max_age(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all(CACHE_CONTROL)
        .iter()
        .map(|line| cache_control_max_age(&String::from_utf8_lossy(line.as_bytes())))
        .fold(None, |shortest, this| match (shortest, this) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
}

/// The largest `delta-seconds` a cache must represent; larger values count as this one
/// (RFC 9111 §1.2.2).
const DELTA_SECONDS_MAX: u64 = 1 << 31;

/// How long a `Cache-Control` field value (RFC 9111 §5.2) lets a response be reused.
///
/// - `None`: the value says nothing usable about freshness (no `max-age`, or only malformed
///   ones): the resolver uses its default TTL.
/// - `Some(Duration::ZERO)`: do not cache. `no-store` or `no-cache` (with or without an
///   argument) anywhere in the value wins over every `max-age`, whatever the order; a
///   `max-age=0` means the same. The resolver then uses its minimum TTL bound.
/// - `Some(d)`: the smallest well-formed `max-age` (duplicates are not an error; taking
///   the shortest is the cautious reading of RFC 9111 §4.2.1), capped at 2^31 seconds
///   (RFC 9111 §1.2.2). The resolver clamps it to its TTL bounds.
///
/// Directive names are case-insensitive; spaces around names, `=` and values are
/// ignored; a value may be a quoted string (`max-age="60"`), and a comma inside quotes does
/// not end a directive. A `max-age` that is not all digits (`-1`, `+5`, `soon`, `1.5`) is
/// ignored. Any input, however malformed, returns without panicking.
pub(crate) fn cache_control_max_age(value: &str) -> Option<Duration> {
    let mut shortest: Option<Duration> = None;
    for directive in directives(value) {
        let (name, argument) = match directive.split_once('=') {
            Some((name, argument)) => (name.trim(), Some(argument.trim())),
            None => (directive.trim(), None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Some(Duration::ZERO);
        }
        if name.eq_ignore_ascii_case("max-age")
            && let Some(age) = argument.and_then(delta_seconds)
        {
            shortest = Some(shortest.map_or(age, |s| s.min(age)));
        }
    }
    shortest
}

/// The comma-separated elements of a field value; commas inside a quoted string (with
/// `\` escapes, RFC 9110 §5.6.4) do not separate. An unterminated quote runs to the end.
fn directives(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = value;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (mut quoted, mut escaped) = (false, false);
        let mut end = rest.len();
        for (i, byte) in rest.bytes().enumerate() {
            if escaped {
                escaped = false;
                continue;
            }
            match byte {
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                b',' if !quoted => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let element = &rest[..end];
        // `end` is the index of an ASCII comma or the length: both are char boundaries.
        rest = rest.get(end + 1..).unwrap_or("");
        Some(element)
    })
}

/// `delta-seconds` (RFC 9111 §1.2.2): digits only, optionally as a quoted string.
fn delta_seconds(argument: &str) -> Option<Duration> {
    let digits = argument
        .strip_prefix('"')
        .and_then(|a| a.strip_suffix('"'))
        .unwrap_or(argument);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Only overflow can fail here: such a value counts as the cap.
    let seconds = digits.parse::<u64>().unwrap_or(DELTA_SECONDS_MAX);
    Some(Duration::from_secs(seconds.min(DELTA_SECONDS_MAX)))
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
