//! One bounded HTTP GET: https only (loopback excepted), at most [`MAX_REDIRECTS`]
//! redirects and never from https down to http, a timeout over the whole exchange, a cap on
//! the body, 200 only.

use std::error::Error as StdError;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use http::HeaderMap;
use http::header::CACHE_CONTROL;
use reqwest::Url;
use reqwest::redirect::{Attempt, Policy};

/// The most redirects one fetch follows.
pub(crate) const MAX_REDIRECTS: usize = 5;

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
    /// A URL (the JWKS URL, the issuer, the discovery document's `jwks_uri`, a redirect
    /// target, or where the response finally came from) is not `https`, is plain `http` to
    /// a host that is not loopback, or goes from `https` down to `http`; nothing was sent to
    /// it. The URL is shown without user name and password. See
    /// [`JwksBuilder::danger_allow_insecure_http`](super::JwksBuilder::danger_allow_insecure_http).
    InsecureUrl(String),
    /// A URL could not be parsed.
    InvalidUrl(String),
    /// The server redirected more than 5 times.
    TooManyRedirects,
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
            FetchError::InsecureUrl(url) => {
                write!(f, "refusing to fetch {url:?}: https is required")
            }
            FetchError::InvalidUrl(e) => write!(f, "invalid URL: {e}"),
            FetchError::TooManyRedirects => {
                write!(f, "more than {MAX_REDIRECTS} redirects")
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
///
/// `url` must pass [`check_url`] before anything is sent; so must the URL the response
/// finally came from, since an injected client may follow redirects that the policy of
/// [`redirect_policy`] would have refused.
pub(crate) async fn get(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    max_size: usize,
    allow_insecure_http: bool,
) -> Result<Fetched, FetchError> {
    let url = parse_url(url)?;
    check_url(&url, false, allow_insecure_http)?;
    let started_https = url.scheme() == "https";
    let exchange = async {
        let mut response = client
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(transport_error)?;
        check_url(response.url(), started_https, allow_insecure_http)?;
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
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
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

/// `url` parsed, or [`FetchError::InvalidUrl`].
pub(crate) fn parse_url(url: &str) -> Result<Url, FetchError> {
    Url::parse(url).map_err(|e| FetchError::InvalidUrl(format!("{e}: {url:?}")))
}

/// Whether a fetch may go to `url`: `https` always; plain `http` only to a loopback host
/// (`127.0.0.0/8`, `::1`, `localhost`, as browsers and RFC 8252 §8.3 treat them) and never
/// after `https` in the same chain of requests (`after_https`: no downgrade), unless
/// `allow_insecure_http`; any other scheme never.
pub(crate) fn check_url(
    url: &Url,
    after_https: bool,
    allow_insecure_http: bool,
) -> Result<(), FetchError> {
    let allowed = match url.scheme() {
        "https" => true,
        "http" => allow_insecure_http || (!after_https && is_loopback(url)),
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(FetchError::InsecureUrl(without_credentials(url)))
    }
}

/// Whether `url`'s host is a loopback address or `localhost`. The URL parser has already
/// brought the host to its canonical form: IPv4 in dotted decimal (`127.1` is
/// `127.0.0.1`), IPv6 in brackets, names in lower case.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let ip = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<IpAddr>().ok(),
        None => host.parse::<IpAddr>().ok(),
    };
    match ip {
        Some(ip) => ip.is_loopback(),
        None => host == "localhost",
    }
}

/// `url` as text, without user name and password.
fn without_credentials(url: &Url) -> String {
    let mut shown = url.clone();
    // Fails only for URLs that cannot have credentials anyway.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.into()
}

/// The redirect policy of the default client: at most [`MAX_REDIRECTS`] redirects, each to
/// a URL that passes [`check_url`], counting the chain so far for the downgrade rule.
pub(crate) fn redirect_policy(allow_insecure_http: bool) -> Policy {
    Policy::custom(move |attempt: Attempt<'_>| {
        // `previous` starts with the first URL requested, which is not a redirect.
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(FetchError::TooManyRedirects);
        }
        let after_https = attempt.previous().iter().any(|u| u.scheme() == "https");
        match check_url(attempt.url(), after_https, allow_insecure_http) {
            Ok(()) => attempt.follow(),
            Err(refused) => attempt.error(refused),
        }
    })
}

/// A reqwest error as a [`FetchError`]: the redirect policy's own refusal when it is the
/// cause, else [`FetchError::Transport`].
fn transport_error(error: reqwest::Error) -> FetchError {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(&error);
    while let Some(e) = cause {
        if let Some(refused) = e.downcast_ref::<FetchError>() {
            return refused.clone();
        }
        cause = e.source();
    }
    FetchError::Transport(error.to_string())
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

    const SECS_600: Option<Duration> = Some(Duration::from_secs(600));
    const DO_NOT_CACHE: Option<Duration> = Some(Duration::ZERO);

    #[test]
    fn no_store_and_no_cache_win_over_max_age_in_any_order() {
        for value in [
            "max-age=600, no-store",
            "no-store, max-age=600",
            "no-cache, max-age=600",
            "max-age=600, no-cache",
            "public, max-age=600, must-revalidate, no-cache",
            "max-age=600,no-store",
        ] {
            assert_eq!(cache_control_max_age(value), DO_NOT_CACHE, "{value}");
        }
    }

    #[test]
    fn qualified_no_cache_also_means_do_not_cache() {
        assert_eq!(
            cache_control_max_age("max-age=600, no-cache=\"set-cookie\""),
            DO_NOT_CACHE
        );
        assert_eq!(
            cache_control_max_age("no-cache=\"a, b\", max-age=600"),
            DO_NOT_CACHE
        );
    }

    #[test]
    fn directives_are_case_insensitive() {
        for value in ["MAX-AGE=600", "Max-Age=600", "mAx-aGe=600"] {
            assert_eq!(cache_control_max_age(value), SECS_600, "{value}");
        }
        for value in ["NO-STORE, max-age=600", "max-age=600, No-Cache"] {
            assert_eq!(cache_control_max_age(value), DO_NOT_CACHE, "{value}");
        }
    }

    #[test]
    fn spaces_around_names_equals_and_values_are_ignored() {
        for value in [
            "  max-age=600  ",
            "max-age = 600",
            "public ,  max-age= 600 ,private",
            "\tmax-age=600\t",
            ", , max-age=600,,",
        ] {
            assert_eq!(cache_control_max_age(value), SECS_600, "{value:?}");
        }
        assert_eq!(cache_control_max_age(" no-store "), DO_NOT_CACHE);
    }

    #[test]
    fn quoted_values_are_read_and_commas_inside_quotes_do_not_split() {
        assert_eq!(cache_control_max_age("max-age=\"600\""), SECS_600);
        assert_eq!(cache_control_max_age("max-age = \"600\""), SECS_600);
        // The "no-store" is inside another directive's quoted value: not a directive.
        assert_eq!(
            cache_control_max_age("private=\"x, no-store\", max-age=600"),
            SECS_600
        );
        // An escaped quote does not end the string.
        assert_eq!(
            cache_control_max_age(r#"ext="a\", no-store", max-age=600"#),
            SECS_600
        );
        // Malformed quoting: not digits, so ignored.
        for value in [
            "max-age=\"600",
            "max-age=600\"",
            "max-age=\"\"",
            "max-age=\"",
        ] {
            assert_eq!(cache_control_max_age(value), None, "{value}");
        }
    }

    #[test]
    fn duplicate_max_age_takes_the_smallest() {
        assert_eq!(
            cache_control_max_age("max-age=600, max-age=60"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            cache_control_max_age("max-age=60, max-age=600"),
            Some(Duration::from_secs(60))
        );
        // A malformed duplicate is ignored, not taken as zero.
        assert_eq!(cache_control_max_age("max-age=600, max-age=x"), SECS_600);
        assert_eq!(
            cache_control_max_age("max-age=600, max-age=0"),
            DO_NOT_CACHE
        );
    }

    #[test]
    fn header_lines_combine_and_the_shortest_wins() {
        let mut headers = HeaderMap::new();
        headers.append(CACHE_CONTROL, HeaderValue::from_static("max-age=600"));
        headers.append(CACHE_CONTROL, HeaderValue::from_static("max-age=60"));
        assert_eq!(max_age(&headers), Some(Duration::from_secs(60)));
        // An unterminated quote in one line cannot hide the next line's no-store.
        headers.append(CACHE_CONTROL, HeaderValue::from_static("ext=\"open"));
        headers.append(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        assert_eq!(max_age(&headers), DO_NOT_CACHE);
        // Nor can bytes that are not UTF-8.
        let mut headers = HeaderMap::new();
        headers.append(
            CACHE_CONTROL,
            HeaderValue::from_bytes(b"x=\xff, no-store").unwrap(),
        );
        assert_eq!(max_age(&headers), DO_NOT_CACHE);
    }

    #[test]
    fn malformed_max_age_is_ignored() {
        for value in [
            "max-age",
            "max-age=",
            "max-age=-1",
            "max-age=+5",
            "max-age=1.5",
            "max-age=1e3",
            "max-age=0x10",
            "max-age=６０",
            "max-age=60s",
            "max-age==60",
            "maxage=60",
            "s-maxage=60",
            "max-age-x=60",
        ] {
            assert_eq!(cache_control_max_age(value), None, "{value}");
        }
    }

    #[test]
    fn huge_max_age_is_capped_at_2_pow_31_seconds() {
        let cap = Some(Duration::from_secs(1 << 31));
        assert_eq!(cache_control_max_age("max-age=2147483648"), cap);
        assert_eq!(cache_control_max_age("max-age=2147483649"), cap);
        assert_eq!(cache_control_max_age("max-age=18446744073709551616"), cap);
        assert_eq!(
            cache_control_max_age(&format!("max-age={}", "9".repeat(500))),
            cap
        );
        assert_eq!(
            cache_control_max_age("max-age=2147483647"),
            Some(Duration::from_secs(2147483647))
        );
    }

    #[test]
    fn garbage_never_panics() {
        for value in [
            "",
            ",",
            "=",
            "\"",
            "\\",
            "\"\\",
            "=,=,=",
            "max-age=\"\\",
            "no-store=",
            "é, max-age=ü, ✓=\"✓",
            "\u{0}max-age=1",
            "max-age=1\u{0}",
        ] {
            let _ = cache_control_max_age(value);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_value_parses_without_panicking(value in "\\PC*") {
            let _ = cache_control_max_age(&value);
        }

        #[test]
        fn no_store_anywhere_means_do_not_cache(
            before in "[a-z0-9=\" ,-]{0,40}",
            after in "[a-z0-9=\" ,-]{0,40}",
        ) {
            // Outside any quoted string only: balance the quotes before it.
            let before = if before.matches('"').count() % 2 == 1 {
                format!("{before}\"")
            } else {
                before
            };
            let value = format!("{before}, no-store, {after}");
            proptest::prop_assert_eq!(cache_control_max_age(&value), DO_NOT_CACHE);
        }
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn allowed(text: &str, after_https: bool, allow_insecure_http: bool) -> bool {
        check_url(&url(text), after_https, allow_insecure_http).is_ok()
    }

    #[test]
    fn https_is_always_allowed() {
        for text in [
            "https://auth.example.com/jwks.json",
            "https://127.0.0.1/jwks.json",
            "https://[::1]:8443/",
        ] {
            assert!(allowed(text, false, false), "{text}");
            assert!(allowed(text, true, false), "{text}");
        }
    }

    #[test]
    fn plain_http_is_allowed_to_loopback_hosts_only() {
        for text in [
            "http://127.0.0.1:8080/jwks.json",
            "http://127.255.255.254/",
            "http://127.1/",
            "http://[::1]:8080/jwks.json",
            "http://localhost/jwks.json",
            "http://LOCALHOST:3000/",
        ] {
            assert!(allowed(text, false, false), "{text}");
        }
        for text in [
            "http://keys.invalid/jwks.json",
            "http://auth.example.com/jwks.json",
            "http://128.0.0.1/",
            "http://0.0.0.0/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::2]/",
            "http://localhost.invalid/",
            "http://localhost.localdomain.invalid/",
            "http://127.0.0.1.invalid/",
        ] {
            // The URL is shown in its parsed form (`[::ffff:7f00:1]`).
            assert!(
                matches!(
                    check_url(&url(text), false, false),
                    Err(FetchError::InsecureUrl(_))
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn https_never_goes_down_to_http_not_even_to_loopback() {
        assert!(!allowed("http://127.0.0.1/jwks.json", true, false));
        assert!(!allowed("http://localhost/jwks.json", true, false));
    }

    #[test]
    fn the_opt_out_lets_any_http_url_through() {
        assert!(allowed("http://keys.invalid/jwks.json", false, true));
        assert!(allowed("http://keys.invalid/jwks.json", true, true));
        assert!(allowed("http://127.0.0.1/jwks.json", true, true));
    }

    #[test]
    fn other_schemes_are_refused_even_with_the_opt_out() {
        for text in [
            "file:///etc/passwd",
            "ftp://keys.invalid/jwks.json",
            "data:application/json,{}",
            "ws://127.0.0.1/",
        ] {
            assert!(!allowed(text, false, true), "{text}");
        }
    }

    #[test]
    fn a_refused_url_is_shown_without_credentials() {
        assert_eq!(
            check_url(&url("http://user:secret@keys.invalid/jwks"), false, false),
            Err(FetchError::InsecureUrl("http://keys.invalid/jwks".into()))
        );
    }

    #[test]
    fn unparsable_urls_are_invalid_not_insecure() {
        for text in ["", "keys.invalid/jwks.json", "https://", "http://[::1/"] {
            assert!(
                matches!(parse_url(text), Err(FetchError::InvalidUrl(_))),
                "{text}"
            );
        }
    }
}
