//! `htu` (RFC 9449 §4.3 check 9): the URI a proof was made for, against the URI of the
//! request, both without query and fragment, compared after the syntax- and scheme-based
//! normalisation of RFC 3986 §6.2.2 and §6.2.3.
//!
//! A server behind a proxy cannot trust its own view of its scheme and host, so the origin
//! (and any path prefix the proxy strips) comes from a configured base URL, the resource's
//! identifier. Without one, the request's own `Host` is used, which a client chooses.

use std::borrow::Cow;

use http::uri::Authority;
use http::{HeaderMap, Uri};

use crate::error::ConfigError;
use crate::trusted_proxies::Forwarded;

/// The request's authority: from its absolute URI, else its `Host` header.
fn request_authority(uri: &Uri, headers: &HeaderMap) -> Option<Authority> {
    match uri.authority() {
        Some(authority) => Some(authority.clone()),
        None => headers.get(http::header::HOST)?.to_str().ok()?.parse().ok(),
    }
}

/// Scheme, host, port and path prefix of the resource, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    /// `http` or `https`; `None` (from a request without one) accepts either.
    scheme: Option<Scheme>,
    host: Box<str>,
    port: Option<u16>,
    /// Normalised, without a trailing `/` (empty for none).
    prefix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn parse(scheme: &str) -> Option<Self> {
        if scheme.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else if scheme.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else {
            None
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// An absolute `http(s)` URI split into normalised parts; query and fragment dropped.
struct Parsed {
    scheme: Scheme,
    host: Box<str>,
    port: u16,
    path: String,
}

fn parse_absolute(uri: &str) -> Option<Parsed> {
    let end = uri.find(['?', '#']).unwrap_or(uri.len());
    let uri: Uri = uri[..end].parse().ok()?;
    let scheme = Scheme::parse(uri.scheme_str()?)?;
    let authority = uri.authority()?;
    // No userinfo: `https://evil@api.example.com` names no other resource, but is not ours.
    if authority.as_str().contains('@') || authority.host().is_empty() {
        return None;
    }
    Some(Parsed {
        scheme,
        host: authority.host().to_ascii_lowercase().into(),
        port: explicit_port(authority)?.unwrap_or(scheme.default_port()),
        path: normalize_path(uri.path()).into_owned(),
    })
}

impl Origin {
    /// The configured resource URL: absolute `http` or `https`, no query or fragment.
    pub(crate) fn configured(url: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::InvalidResource(url.to_owned());
        if url.contains(['?', '#']) {
            return Err(bad());
        }
        let parsed = parse_absolute(url).ok_or_else(bad)?;
        Ok(Origin {
            scheme: Some(parsed.scheme),
            host: parsed.host,
            port: Some(parsed.port),
            prefix: parsed.path.trim_end_matches('/').to_owned(),
        })
    }

    /// The request's own view: its absolute URI, else its `Host` header.
    pub(crate) fn of_request(uri: &Uri, headers: &HeaderMap) -> Option<Self> {
        let scheme = uri.scheme_str().and_then(Scheme::parse);
        Self::of_authority(scheme, &request_authority(uri, headers)?)
    }

    /// The origin a request was sent to: what a trusted proxy forwarded, else the request's
    /// own view.
    pub(crate) fn of_target(
        uri: &Uri,
        headers: &HeaderMap,
        forwarded: Forwarded<'_>,
    ) -> Option<Self> {
        match forwarded {
            Forwarded::Untrusted => Self::of_request(uri, headers),
            Forwarded::Trusted { proto, host } => Self::forwarded(uri, headers, proto, host),
            Forwarded::Unreadable => None,
        }
    }

    /// What a trusted proxy forwarded: its scheme and host (`X-Forwarded-Proto`,
    /// `X-Forwarded-Host`), each falling back to the request's own when not sent. `None`
    /// when a forwarded value is not an `http(s)` scheme or an authority.
    fn forwarded(
        uri: &Uri,
        headers: &HeaderMap,
        scheme: Option<&str>,
        host: Option<&str>,
    ) -> Option<Self> {
        let scheme = match scheme {
            Some(scheme) => Some(Scheme::parse(scheme)?),
            None => uri.scheme_str().and_then(Scheme::parse),
        };
        let authority = match host {
            Some(host) => host.parse().ok()?,
            None => request_authority(uri, headers)?,
        };
        Self::of_authority(scheme, &authority)
    }

    fn of_authority(scheme: Option<Scheme>, authority: &Authority) -> Option<Self> {
        if authority.as_str().contains('@') || authority.host().is_empty() {
            return None;
        }
        Some(Origin {
            scheme,
            host: authority.host().to_ascii_lowercase().into(),
            port: explicit_port(authority)?.or(scheme.map(Scheme::default_port)),
            prefix: String::new(),
        })
    }

    /// Whether `htu` names this origin and `path` (the request's path, under the prefix).
    pub(crate) fn matches(&self, htu: &str, path: &str) -> bool {
        let Some(htu) = parse_absolute(htu) else {
            return false;
        };
        let scheme_ok = self.scheme.is_none_or(|s| s == htu.scheme);
        let port_ok = htu.port == self.port.unwrap_or(htu.scheme.default_port());
        // Under the prefix, `/api` names the same as `/api/`: the prefix's root.
        let under_prefix = htu
            .path
            .strip_prefix(self.prefix.as_str())
            .map(|rest| if rest.is_empty() { "/" } else { rest });
        scheme_ok
            && port_ok
            && *htu.host == *self.host
            && under_prefix == Some(&*normalize_path(path))
    }

    /// The URL itself, normalised: `scheme://host[:port]prefix` (no trailing `/`).
    pub(crate) fn url(&self) -> String {
        let scheme = self.scheme.unwrap_or(Scheme::Https);
        let name = match scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        match self.port {
            Some(port) if port != scheme.default_port() => {
                format!("{name}://{}:{port}{}", self.host, self.prefix)
            }
            _ => format!("{name}://{}{}", self.host, self.prefix),
        }
    }

    /// The RFC 9728 §3.1 metadata path: the well-known suffix, then the resource's path.
    pub(crate) fn metadata_path(&self) -> String {
        format!("/.well-known/oauth-protected-resource{}", self.prefix)
    }

    /// The RFC 9728 §3.1 metadata URL: the well-known suffix between the origin and the
    /// resource's path.
    pub(crate) fn metadata_url(&self) -> String {
        let url = self.url();
        let origin = &url[..url.len() - self.prefix.len()];
        format!("{origin}{}", self.metadata_path())
    }
}

/// The authority's port (RFC 3986 §3.2.3, `port = *DIGIT`): `Some(None)` when there is
/// none or it is empty, `None` when it is not a port at all. `http` reads `:x` or `:65536`
/// as no port, which would let `https://host:x/` stand for `https://host/`.
fn explicit_port(authority: &http::uri::Authority) -> Option<Option<u16>> {
    let text = authority.as_str();
    let after_host = text.rfind(']').map_or(text, |end| &text[end + 1..]);
    let Some(colon) = after_host.rfind(':') else {
        return Some(None);
    };
    let port = &after_host[colon + 1..];
    if port.is_empty() {
        return Some(None);
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok().map(Some)
}

/// RFC 3986 §6.2.2: percent-encodings in upper case, unreserved characters decoded, dot
/// segments removed (§5.2.4); an empty path is `/` (§6.2.3). A path with nothing to change,
/// as nearly all are, is returned as it is.
fn normalize_path(path: &str) -> Cow<'_, str> {
    let dot_segment = path
        .split('/')
        .any(|segment| segment == "." || segment == "..");
    if path.starts_with('/') && !path.contains('%') && !dot_segment {
        return Cow::Borrowed(path);
    }
    Cow::Owned(normalize_path_slowly(path))
}

fn normalize_path_slowly(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut decoded = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(value) = u8::from_str_radix(hex, 16)
        {
            if value.is_ascii_alphanumeric() || b"-._~".contains(&value) {
                decoded.push(value as char);
            } else {
                decoded.push('%');
                decoded.push_str(&hex.to_ascii_uppercase());
            }
            i += 3;
            continue;
        }
        decoded.push(b as char);
        i += 1;
    }
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = decoded.split('/').collect();
    let last = segments.len() - 1;
    for (index, segment) in segments.iter().enumerate() {
        match *segment {
            "." | ".." if index == last => {
                if *segment == ".." && out.len() > 1 {
                    out.pop();
                }
                out.push("");
            }
            "." => {}
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
            }
            other => out.push(other),
        }
    }
    let joined = out.join("/");
    if joined.is_empty() || !joined.starts_with('/') {
        format!("/{}", joined.trim_start_matches('/'))
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &str) -> Origin {
        Origin::configured(url).unwrap()
    }

    #[test]
    fn query_fragment_case_and_default_ports_do_not_matter() {
        let api = origin("https://api.example.com");
        for htu in [
            "https://api.example.com/orders",
            "HTTPS://API.example.COM/orders",
            "https://api.example.com:443/orders",
            "https://api.example.com/orders?page=2",
            "https://api.example.com/orders#top",
            "https://api.example.com/%6Frders",
            "https://api.example.com/a/../orders",
            "https://api.example.com:/orders",
        ] {
            assert!(api.matches(htu, "/orders"), "{htu}");
        }
        assert!(api.matches("https://api.example.com", "/"));
    }

    #[test]
    fn another_scheme_host_port_or_path_is_refused() {
        let api = origin("https://api.example.com");
        for htu in [
            "http://api.example.com/orders",
            "https://api.example.org/orders",
            "https://api.example.com:8443/orders",
            "https://api.example.com/orders/",
            "https://api.example.com/Orders",
            "https://user@api.example.com/orders",
            "https://api.example.com:x/orders",
            "https://api.example.com:+443/orders",
            "https://api.example.com:65979/orders",
            "https://api.example.com:443)a/../orders",
            "ftp://api.example.com/orders",
            "/orders",
            "",
            "not a uri",
        ] {
            assert!(!api.matches(htu, "/orders"), "{htu}");
        }
    }

    #[test]
    fn a_path_prefix_stripped_by_a_proxy_is_put_back() {
        let api = origin("https://example.com/api/");
        assert!(api.matches("https://example.com/api/orders", "/orders"));
        assert!(!api.matches("https://example.com/orders", "/orders"));
        assert!(!api.matches("https://example.com/apiorders", "/orders"));
        assert!(api.matches("https://example.com/api", "/"));
        assert!(api.matches("https://example.com/api/", "/"));
        assert_eq!(api.url(), "https://example.com/api");
        assert_eq!(
            api.metadata_url(),
            "https://example.com/.well-known/oauth-protected-resource/api"
        );
        let local = origin("http://127.0.0.1:3000");
        assert_eq!(
            local.metadata_url(),
            "http://127.0.0.1:3000/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn without_configuration_the_host_header_is_the_origin() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, "Api.Example.com:8080".parse().unwrap());
        let uri: Uri = "/orders".parse().unwrap();
        let seen = Origin::of_request(&uri, &headers).unwrap();
        assert!(seen.matches("http://api.example.com:8080/orders", "/orders"));
        assert!(seen.matches("https://api.example.com:8080/orders", "/orders"));
        assert!(!seen.matches("https://api.example.com/orders", "/orders"));
        assert!(Origin::of_request(&uri, &HeaderMap::new()).is_none());
    }

    #[test]
    fn resource_urls_must_be_absolute_http_without_query() {
        for bad in [
            "/api",
            "ftp://x",
            "https://x/?q",
            "https://x/#f",
            "https://u@x",
        ] {
            assert!(Origin::configured(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_normalise() {
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("/a/./b/../c"), "/a/c");
        assert_eq!(normalize_path("/a/%7e%2f"), "/a/~%2F");
        assert_eq!(normalize_path("/a/b/.."), "/a/");
        assert_eq!(normalize_path("/../a"), "/a");
    }
}
