//! [`TrustedProxies`]: which peers may say, in `X-Forwarded-*` headers, who the client is
//! and which URL it used.
//!
//! Behind a reverse proxy the server sees the proxy as its peer, plain HTTP as its scheme
//! and whatever `Host` the proxy sent. The proxy knows better and says so in
//! `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host`; but any client can send
//! those headers too. So they are read only when the request came straight from a peer
//! the user named, and then only the entries that peer (and the trusted hops before it)
//! wrote: the rightmost ones.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::{Extensions, HeaderMap, HeaderName};
use ipnet::IpNet;

use crate::error::ConfigError;

/// `X-Forwarded-Proto`: the scheme the client used with the proxy.
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Forwarded-Host`: the `Host` (with its port) the client sent to the proxy.
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// `X-Forwarded-For`: the addresses the request came through, client first.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

type PeerFn = dyn Fn(&Extensions) -> Option<IpAddr> + Send + Sync;

/// The reverse proxies whose `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Forwarded-For`
/// are believed, and how to find a request's peer address.
///
/// Tower has no standard place for the peer address, so the second argument of
/// [`new`](Self::new) reads it from the request's extensions: axum's
/// `ConnectInfo<SocketAddr>` (serve with `into_make_service_with_connect_info`), tonic's
/// `TcpConnectInfo`, or whatever your server inserts. A request whose peer cannot be
/// found, or is not in the list, is treated as coming from a client: its `X-Forwarded-*`
/// headers are ignored.
///
/// Given to [`JwtAuthBuilder::trusted_proxies`](crate::JwtAuthBuilder::trusted_proxies),
/// the forwarded scheme and host are the URL a DPoP proof's `htu` must name (when no
/// [`resource`](crate::JwtAuthBuilder::resource) fixes it). [`client_addr`](Self::client_addr)
/// gives the client's address for rate limits and logs.
///
/// ```
/// use std::net::{IpAddr, SocketAddr};
/// use axum::extract::ConnectInfo;
/// use tower_jwt_auth::TrustedProxies;
///
/// // nginx on this host; the peer address from axum's ConnectInfo.
/// let proxies = TrustedProxies::new(["127.0.0.1", "::1"], |extensions| {
///     extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip())
/// })?;
///
/// let mut request = http::Request::new(());
/// request.headers_mut().insert("x-forwarded-for", "203.0.113.9, 198.51.100.4".parse().unwrap());
/// // From the proxy: its entry (the rightmost) names the client.
/// request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 50000))));
/// let client = proxies.client_addr(request.headers(), request.extensions());
/// assert_eq!(client, Some("198.51.100.4".parse::<IpAddr>().unwrap()));
/// // From anyone else: the header is theirs to invent, so the peer is the client.
/// request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 50000))));
/// let client = proxies.client_addr(request.headers(), request.extensions());
/// assert_eq!(client, Some("192.0.2.1".parse::<IpAddr>().unwrap()));
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct TrustedProxies {
    networks: Arc<[IpNet]>,
    peer: Arc<PeerFn>,
}

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedProxies")
            .field("networks", &self.networks)
            .finish_non_exhaustive()
    }
}

impl TrustedProxies {
    /// Proxies at these addresses or networks (`"127.0.0.1"`, `"10.0.0.0/8"`, `"::1"`,
    /// `"fd00::/8"`), and `peer`, which finds a request's peer address in its extensions.
    /// An entry that is neither an address nor a network fails with
    /// [`ConfigError::InvalidProxy`], an empty list with [`ConfigError::NoTrustedProxies`].
    pub fn new<S: AsRef<str>>(
        networks: impl IntoIterator<Item = S>,
        peer: impl Fn(&Extensions) -> Option<IpAddr> + Send + Sync + 'static,
    ) -> Result<Self, ConfigError> {
        let networks = networks
            .into_iter()
            .map(|entry| parse_network(entry.as_ref()))
            .collect::<Result<Arc<[IpNet]>, _>>()?;
        if networks.is_empty() {
            return Err(ConfigError::NoTrustedProxies);
        }
        Ok(TrustedProxies {
            networks,
            peer: Arc::new(peer),
        })
    }

    /// Whether `addr` is one of the trusted proxies (an IPv4-mapped IPv6 address counts
    /// as its IPv4 address).
    pub fn is_trusted(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.networks.iter().any(|network| network.contains(&addr))
    }

    /// The request's peer, when it is a trusted proxy.
    fn trusted_peer(&self, extensions: &Extensions) -> Option<IpAddr> {
        (self.peer)(extensions).filter(|peer| self.is_trusted(*peer))
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy; then the
    /// rightmost `X-Forwarded-For` entry that is not a trusted proxy (each trusted hop
    /// appends the address it saw, so everything left of that entry is the client's to
    /// invent). When every entry is a trusted proxy, the leftmost of them.
    ///
    /// `None` when the peer cannot be found, or when the entry that would decide is not an
    /// IP address (`unknown`, an obfuscated name, garbage, a non-ASCII header): the client
    /// is then not known, and a rate limit should key it to something shared rather than
    /// believe a guess.
    pub fn client_addr(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<IpAddr> {
        let peer = (self.peer)(extensions)?;
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let mut client = peer;
        // Header lines in order, each a comma-separated list, read right to left.
        for line in headers.get_all(X_FORWARDED_FOR).iter().rev() {
            let line = line.to_str().ok()?;
            for entry in line.rsplit(',') {
                client = parse_forwarded_addr(entry.trim())?;
                if !self.is_trusted(client) {
                    return Some(client);
                }
            }
        }
        Some(client)
    }

    /// What the request's peer says about the URL the client used.
    pub(crate) fn forwarded<'h>(
        &self,
        headers: &'h HeaderMap,
        extensions: &Extensions,
    ) -> Forwarded<'h> {
        if self.trusted_peer(extensions).is_none() {
            return Forwarded::Untrusted;
        }
        match (
            rightmost(headers, &X_FORWARDED_PROTO),
            rightmost(headers, &X_FORWARDED_HOST),
        ) {
            (Some(proto), Some(host)) => Forwarded::Trusted { proto, host },
            _ => Forwarded::Unreadable,
        }
    }
}

/// What a request's peer says about the URL the client used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forwarded<'h> {
    /// The peer is not a trusted proxy, or cannot be found: only the request's own URI
    /// and `Host` count.
    Untrusted,
    /// A trusted proxy's `X-Forwarded-Proto` and `X-Forwarded-Host` (each its rightmost
    /// entry), `None` where it sent none.
    Trusted {
        proto: Option<&'h str>,
        host: Option<&'h str>,
    },
    /// A trusted proxy sent one of them empty or not as ASCII: no URL matches.
    Unreadable,
}

/// The rightmost comma-separated entry of a header's last line: `Some(None)` when the
/// header is absent, `None` when it is there but unreadable or empty.
fn rightmost<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<Option<&'h str>> {
    let Some(line) = headers.get_all(name).iter().next_back() else {
        return Some(None);
    };
    let entry = line.to_str().ok()?.rsplit(',').next()?.trim();
    (!entry.is_empty()).then_some(Some(entry))
}

/// `"10.0.0.1"` or `"10.0.0.0/8"` (IPv6 alike) as a network; an address alone is a
/// network of one.
fn parse_network(entry: &str) -> Result<IpNet, ConfigError> {
    let entry = entry.trim();
    entry
        .parse::<IpNet>()
        .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
        .map(|network| network.trunc())
        .map_err(|_| ConfigError::InvalidProxy(entry.to_owned()))
}

/// An `X-Forwarded-For` entry: an address, or an address with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`), as some proxies write them.
fn parse_forwarded_addr(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|addr| addr.ip()))
        .ok()
        .map(|addr| addr.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies() -> TrustedProxies {
        TrustedProxies::new(["127.0.0.1", "10.0.0.0/8", "::1"], |extensions| {
            extensions.get::<IpAddr>().copied()
        })
        .unwrap()
    }

    fn from(peer: &str) -> Extensions {
        let mut extensions = Extensions::new();
        extensions.insert(peer.parse::<IpAddr>().unwrap());
        extensions
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn bad_networks_fail_the_build() {
        let peer = |_: &Extensions| None;
        for bad in ["", "localhost", "10.0.0.0/33", "10.0.0.1/8/2", "::1/129"] {
            assert!(
                matches!(TrustedProxies::new([bad], peer), Err(ConfigError::InvalidProxy(e)) if e == bad.trim()),
                "{bad:?}"
            );
        }
        let none: [&str; 0] = [];
        assert!(matches!(
            TrustedProxies::new(none, peer),
            Err(ConfigError::NoTrustedProxies)
        ));
    }

    #[test]
    fn networks_and_mapped_addresses_are_trusted() {
        let proxies = proxies();
        for trusted in ["127.0.0.1", "10.255.0.3", "::1", "::ffff:10.1.2.3"] {
            assert!(proxies.is_trusted(trusted.parse().unwrap()), "{trusted}");
        }
        for other in ["127.0.0.2", "11.0.0.1", "::2", "192.0.2.1"] {
            assert!(!proxies.is_trusted(other.parse().unwrap()), "{other}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let spoofed = headers(&[("x-forwarded-for", "127.0.0.1")]);
        assert_eq!(
            proxies().client_addr(&spoofed, &from("192.0.2.7")),
            ip("192.0.2.7")
        );
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client() {
        // The client invented the first two entries; nginx appended the real one, then a
        // second trusted hop appended nginx's.
        let forwarded = headers(&[
            ("x-forwarded-for", "1.1.1.1, 127.0.0.1"),
            ("x-forwarded-for", "198.51.100.4, 10.0.0.5"),
        ]);
        assert_eq!(
            proxies().client_addr(&forwarded, &from("127.0.0.1")),
            ip("198.51.100.4")
        );
        let with_ports = headers(&[("x-forwarded-for", "[2001:db8::1]:4711, 10.0.0.5:80")]);
        assert_eq!(
            proxies().client_addr(&with_ports, &from("::1")),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn a_trusted_peer_without_forwarding_is_the_client() {
        assert_eq!(
            proxies().client_addr(&HeaderMap::new(), &from("127.0.0.1")),
            ip("127.0.0.1")
        );
        let all_trusted = headers(&[("x-forwarded-for", "10.0.0.9, 10.0.0.5")]);
        assert_eq!(
            proxies().client_addr(&all_trusted, &from("127.0.0.1")),
            ip("10.0.0.9")
        );
    }

    #[test]
    fn an_unreadable_deciding_entry_leaves_the_client_unknown() {
        for bad in ["unknown", "_hidden", "", "1.2.3", "198.51.100.4 10.0.0.5"] {
            let forwarded = headers(&[("x-forwarded-for", bad)]);
            assert_eq!(
                proxies().client_addr(&forwarded, &from("127.0.0.1")),
                None,
                "{bad:?}"
            );
        }
        // Left of the deciding entry, anything goes: it is never read.
        let forwarded = headers(&[("x-forwarded-for", "garbage, 198.51.100.4")]);
        assert_eq!(
            proxies().client_addr(&forwarded, &from("127.0.0.1")),
            ip("198.51.100.4")
        );
        let mut non_ascii = HeaderMap::new();
        non_ascii.insert(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"198.51.100.\xff").unwrap(),
        );
        assert_eq!(proxies().client_addr(&non_ascii, &from("127.0.0.1")), None);
    }

    #[test]
    fn no_peer_means_no_client() {
        assert_eq!(
            proxies().client_addr(&HeaderMap::new(), &Extensions::new()),
            None
        );
    }

    #[test]
    fn forwarded_values_count_from_a_trusted_peer_only() {
        let forwarded = headers(&[
            ("x-forwarded-proto", "http, https"),
            ("x-forwarded-host", "evil.example, API.example.com:8443"),
        ]);
        assert_eq!(
            proxies().forwarded(&forwarded, &from("127.0.0.1")),
            Forwarded::Trusted {
                proto: Some("https"),
                host: Some("API.example.com:8443")
            }
        );
        assert_eq!(
            proxies().forwarded(&forwarded, &from("192.0.2.1")),
            Forwarded::Untrusted
        );
        assert_eq!(
            proxies().forwarded(&forwarded, &Extensions::new()),
            Forwarded::Untrusted
        );
        assert_eq!(
            proxies().forwarded(&HeaderMap::new(), &from("::1")),
            Forwarded::Trusted {
                proto: None,
                host: None
            }
        );
        for bad in [
            [
                ("x-forwarded-proto", ""),
                ("x-forwarded-host", "api.example.com"),
            ],
            [("x-forwarded-proto", "https"), ("x-forwarded-host", " , ")],
        ] {
            assert_eq!(
                proxies().forwarded(&headers(&bad), &from("127.0.0.1")),
                Forwarded::Unreadable,
                "{bad:?}"
            );
        }
    }
}
