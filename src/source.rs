//! Where the token is read from: the `Authorization: Bearer` header, a cookie, or a header
//! of your own.

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderName};

use crate::error::{AuthError, reason};

/// One place a token may be sent. The default is [`TokenSource::bearer`] alone.
///
/// When several sources are configured and a request carries a token in more than one,
/// it is refused with 400 `invalid_request` (RFC 6750 §2: one method per request).
///
/// ```
/// use tower_jwt_auth::TokenSource;
/// let sources = [TokenSource::bearer(), TokenSource::cookie("access_token")];
/// # let _ = sources;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSource(Kind);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Bearer,
    Cookie(String),
    Header(HeaderName),
}

impl TokenSource {
    /// `Authorization: Bearer <token>` (RFC 6750 §2.1); the scheme is case-insensitive.
    pub fn bearer() -> Self {
        TokenSource(Kind::Bearer)
    }

    /// A cookie with this name whose value is the token.
    pub fn cookie(name: impl Into<String>) -> Self {
        TokenSource(Kind::Cookie(name.into()))
    }

    /// A header whose whole value is the token, with no scheme (e.g. `x-access-token`).
    pub fn header(name: HeaderName) -> Self {
        TokenSource(Kind::Header(name))
    }

    fn extract<'h>(
        &self,
        headers: &'h HeaderMap,
        dpop: bool,
    ) -> Result<Option<Presented<'h>>, AuthError> {
        if let Kind::Bearer = &self.0 {
            let found = single(headers, &AUTHORIZATION)?
                .map_or(Ok(None), |value| authorization(value, dpop))?;
            return Ok(found.map(|(token, scheme)| Presented {
                token: Candidate::Raw(token),
                scheme,
            }));
        }
        let found = match &self.0 {
            Kind::Bearer => None,
            Kind::Header(name) => single(headers, name)?,
            // Other cookies are not ours to judge: only the named one must be a b64token.
            // An empty value (a cookie cleared at logout) counts as no token.
            Kind::Cookie(name) => headers
                .get_all(COOKIE)
                .iter()
                .find_map(|value| cookie(value.as_bytes(), name.as_bytes()))
                .filter(|token| !token.is_empty()),
        };
        Ok(found.map(|token| Presented {
            token: Candidate::Raw(token),
            scheme: Scheme::Bearer,
        }))
    }
}

/// How a token was presented: as a bearer token (the `Bearer` scheme, a cookie, a header
/// of your own), or with the `DPoP` scheme (RFC 9449 §7.1), which a proof must accompany.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Bearer,
    Dpop,
}

/// A token and how it came.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Presented<'h> {
    pub(crate) token: Candidate<'h>,
    pub(crate) scheme: Scheme,
}

/// A token as a request carried it, not yet scanned for the b64token grammar: a token
/// equal to a cached one needs no scan (only accepted tokens are cached, and a compact
/// JWS's characters are b64token characters), so the scan waits for a cache miss.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Candidate<'h> {
    /// From a header or cookie: the b64token grammar applies.
    Raw(&'h [u8]),
    /// Text handed to [`Validator::validate`](crate::Validator::validate): only the JWS
    /// grammar applies, as the parser checks it.
    Text(&'h str),
}

impl<'h> Candidate<'h> {
    pub(crate) fn bytes(self) -> &'h [u8] {
        match self {
            Candidate::Raw(bytes) => bytes,
            Candidate::Text(text) => text.as_bytes(),
        }
    }

    /// The token as text; from a request, only if it is a b64token (RFC 6750 §2.1).
    pub(crate) fn scan(self) -> Result<&'h str, AuthError> {
        match self {
            Candidate::Raw(bytes) => b64token(bytes),
            Candidate::Text(text) => Ok(text),
        }
    }
}

/// The token from the first source that has one; 400 if more than one has. With `dpop`,
/// `Authorization: DPoP <token>` counts as well as `Bearer`.
pub(crate) fn extract<'h>(
    sources: &[TokenSource],
    headers: &'h HeaderMap,
    dpop: bool,
) -> Result<Option<Presented<'h>>, AuthError> {
    let mut found = None;
    for source in sources {
        if let Some(token) = source.extract(headers, dpop)? {
            if found.is_some() {
                return Err(reason::TOKEN_IN_TWO_PLACES);
            }
            found = Some(token);
        }
    }
    Ok(found)
}

/// The value of a header that may appear once; a second one is 400.
fn single<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h [u8]>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(reason::TWO_CREDENTIALS_HEADERS);
    }
    Ok(Some(first.as_bytes()))
}

/// `Bearer 1*SP b64token`, or with `dpop` also `DPoP 1*SP token68` (RFC 9449 §7.1; the
/// same grammar), the token scanned later. Another scheme is not ours: the request has no
/// token.
fn authorization(value: &[u8], dpop: bool) -> Result<Option<(&[u8], Scheme)>, AuthError> {
    let (scheme, rest) = match value.iter().position(|b| *b == b' ') {
        Some(space) => (&value[..space], &value[space + 1..]),
        None => (value, &b""[..]),
    };
    let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
        Scheme::Bearer
    } else if dpop && scheme.eq_ignore_ascii_case(b"dpop") {
        Scheme::Dpop
    } else {
        return Ok(None);
    };
    let token = &rest[rest.iter().take_while(|b| **b == b' ').count()..];
    if token.is_empty() {
        return Err(reason::EMPTY_TOKEN);
    }
    Ok(Some((token, scheme)))
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn b64token(token: &[u8]) -> Result<&str, AuthError> {
    let padding = token.iter().rev().take_while(|b| **b == b'=').count();
    let body = &token[..token.len() - padding];
    if body.is_empty() || !all_b64token_chars(body) {
        return Err(if token.is_ascii() {
            reason::NOT_B64TOKEN
        } else {
            reason::HEADER_NOT_VISIBLE_ASCII
        });
    }
    std::str::from_utf8(token).map_err(|_| reason::TOKEN_NOT_ASCII)
}

/// Every byte is a b64token character. Every request pays this scan over its whole token,
/// so it is written to vectorise: 16-byte blocks folded with `&` (the last one padded),
/// no early exit and no table lookup inside a block. A byte-at-a-time table scan cost
/// about seven instructions a byte; this costs under three.
fn all_b64token_chars(bytes: &[u8]) -> bool {
    fn allowed(c: u8) -> bool {
        let letter = (c | 0x20).wrapping_sub(b'a') < 26;
        let digit = c.wrapping_sub(b'0') < 10;
        letter
            | digit
            | (c == b'-')
            | (c == b'.')
            | (c == b'_')
            | (c == b'~')
            | (c == b'+')
            | (c == b'/')
    }
    let block_allowed = |block: &[u8; 16]| block.iter().fold(true, |ok, &c| ok & allowed(c));
    let (blocks, rest) = bytes.as_chunks::<16>();
    let mut last = [b'a'; 16];
    last[..rest.len()].copy_from_slice(rest);
    blocks.iter().all(block_allowed) && block_allowed(&last)
}

/// The value of cookie `name` in a `Cookie` header (RFC 6265 §4.2.1), quotes removed.
fn cookie<'v>(header: &'v [u8], name: &[u8]) -> Option<&'v [u8]> {
    header.split(|b| *b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let eq = pair.iter().position(|b| *b == b'=')?;
        let (k, v) = (&pair[..eq], &pair[eq + 1..]);
        (k == name).then(|| {
            v.strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(v)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        map
    }

    fn bearer_only(pairs: &[(&str, &[u8])]) -> Result<Option<String>, ErrorKind> {
        scanned(&[TokenSource::bearer()], &headers(pairs))
            .map(|t| t.map(str::to_owned))
            .map_err(|e| e.kind())
    }

    /// What the layer ends up with on a cache miss: the token found, scanned.
    fn scanned<'h>(
        sources: &[TokenSource],
        headers: &'h HeaderMap,
    ) -> Result<Option<&'h str>, AuthError> {
        extract(sources, headers, true)?
            .map(|presented| presented.token.scan())
            .transpose()
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for v in ["Bearer a.b.c", "bearer a.b.c", "BEARER   a.b.c"] {
            assert_eq!(
                bearer_only(&[("authorization", v.as_bytes())]),
                Ok(Some("a.b.c".into()))
            );
        }
    }

    #[test]
    fn dpop_scheme_counts_only_when_dpop_is_on() {
        let h = headers(&[("authorization", b"DPoP a.b.c")]);
        let found = extract(&[TokenSource::bearer()], &h, true)
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.token.bytes(), found.scheme),
            (&b"a.b.c"[..], Scheme::Dpop)
        );
        assert!(
            extract(&[TokenSource::bearer()], &h, false)
                .unwrap()
                .is_none()
        );
        let h = headers(&[("authorization", b"dpop")]);
        let empty = extract(&[TokenSource::bearer()], &h, true).unwrap_err();
        assert_eq!(empty.kind(), ErrorKind::InvalidRequest);
    }

    #[test]
    fn other_scheme_means_no_bearer_token() {
        assert_eq!(
            bearer_only(&[("authorization", b"Basic dXNlcjpwYXNz")]),
            Ok(None)
        );
        assert_eq!(bearer_only(&[]), Ok(None));
    }

    #[test]
    fn empty_or_bad_tokens_are_invalid_requests() {
        for v in [
            &b"Bearer"[..],
            b"Bearer ",
            b"Bearer a b",
            b"Bearer a,b",
            b"Bearer =",
            b"Bearer \xc3\xa9",
            b"Bearer \ta.b.c",
        ] {
            assert_eq!(
                bearer_only(&[("authorization", v)]),
                Err(ErrorKind::InvalidRequest),
                "{v:?}"
            );
        }
    }

    #[test]
    fn b64token_allows_its_grammar() {
        assert_eq!(
            bearer_only(&[("authorization", b"Bearer aZ09-._~+/==")]),
            Ok(Some("aZ09-._~+/==".into()))
        );
    }

    /// The vectorised scan agrees with the grammar for every byte, in a full block and in
    /// the remainder, at the start, middle and end.
    #[test]
    fn b64token_scan_matches_the_grammar_for_every_byte() {
        let spec = |c: u8| c.is_ascii_alphanumeric() || b"-._~+/".contains(&c);
        for len in [1, 15, 16, 17, 32, 47] {
            for at in [0, len / 2, len - 1] {
                for c in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = c;
                    assert_eq!(
                        all_b64token_chars(&bytes),
                        spec(c),
                        "{c:#04x} at {at} of {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn two_authorization_headers_is_invalid_request() {
        let r = bearer_only(&[
            ("authorization", b"Bearer a"),
            ("authorization", b"Bearer a"),
        ]);
        assert_eq!(r, Err(ErrorKind::InvalidRequest));
    }

    #[test]
    fn cookie_and_header_sources() {
        let sources = [
            TokenSource::bearer(),
            TokenSource::cookie("at"),
            TokenSource::header(HeaderName::from_static("x-token")),
        ];
        let h = headers(&[("cookie", b"x=1; at=\"t.o.k\"; y=2")]);
        assert_eq!(scanned(&sources, &h).unwrap(), Some("t.o.k"));
        let h = headers(&[("x-token", b"t.o.k")]);
        assert_eq!(scanned(&sources, &h).unwrap(), Some("t.o.k"));
        let h = headers(&[("x-token", b"t.o.k"), ("authorization", b"Bearer t.o.k")]);
        assert_eq!(
            scanned(&sources, &h).unwrap_err().kind(),
            ErrorKind::InvalidRequest
        );
        let h = headers(&[("cookie", b"atx=1; xat=2")]);
        assert_eq!(scanned(&sources, &h).unwrap(), None);
        let h = headers(&[("cookie", b"pref=\xc3\xa9; at=t.o.k")]);
        assert_eq!(scanned(&sources, &h).unwrap(), Some("t.o.k"));
        let h = headers(&[("cookie", b"at=")]);
        assert_eq!(scanned(&sources, &h).unwrap(), None);
        let h = headers(&[("cookie", b"at=t\xc3\xa9")]);
        assert_eq!(
            scanned(&sources, &h).unwrap_err().kind(),
            ErrorKind::InvalidRequest
        );
    }
}
