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

    fn extract<'h>(&self, headers: &'h HeaderMap) -> Result<Option<&'h str>, AuthError> {
        match &self.0 {
            Kind::Bearer => single(headers, &AUTHORIZATION)?.map_or(Ok(None), bearer),
            Kind::Header(name) => single(headers, name)?.map(b64token).transpose(),
            // Other cookies are not ours to judge: only the named one must be a b64token.
            // An empty value (a cookie cleared at logout) counts as no token.
            Kind::Cookie(name) => {
                for value in headers.get_all(COOKIE) {
                    match cookie(value.as_bytes(), name.as_bytes()) {
                        Some(b"") => return Ok(None),
                        Some(token) => return b64token(token).map(Some),
                        None => {}
                    }
                }
                Ok(None)
            }
        }
    }
}

/// The token from the first source that has one; 400 if more than one has.
pub(crate) fn extract<'h>(
    sources: &[TokenSource],
    headers: &'h HeaderMap,
) -> Result<Option<&'h str>, AuthError> {
    let mut found = None;
    for source in sources {
        if let Some(token) = source.extract(headers)? {
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

/// `Bearer 1*SP b64token`. Another scheme is not ours: the request has no bearer token.
fn bearer(value: &[u8]) -> Result<Option<&str>, AuthError> {
    let (scheme, rest) = match value.iter().position(|b| *b == b' ') {
        Some(space) => (&value[..space], &value[space + 1..]),
        None => (value, &b""[..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    let token = &rest[rest.iter().take_while(|b| **b == b' ').count()..];
    if token.is_empty() {
        return Err(reason::EMPTY_TOKEN);
    }
    b64token(token).map(Some)
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
/// One pass over the bytes with a table; the result is ASCII, so it is a `str` for free.
fn b64token(token: &[u8]) -> Result<&str, AuthError> {
    const ALLOWED: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            table[b] =
                c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
            b += 1;
        }
        table
    };
    let padding = token.iter().rev().take_while(|b| **b == b'=').count();
    let body = &token[..token.len() - padding];
    if body.is_empty() || !body.iter().all(|b| ALLOWED[usize::from(*b)]) {
        return Err(if token.is_ascii() {
            reason::NOT_B64TOKEN
        } else {
            reason::HEADER_NOT_VISIBLE_ASCII
        });
    }
    std::str::from_utf8(token).map_err(|_| reason::TOKEN_NOT_ASCII)
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
        extract(&[TokenSource::bearer()], &headers(pairs))
            .map(|t| t.map(str::to_owned))
            .map_err(|e| e.kind())
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
        assert_eq!(extract(&sources, &h).unwrap(), Some("t.o.k"));
        let h = headers(&[("x-token", b"t.o.k")]);
        assert_eq!(extract(&sources, &h).unwrap(), Some("t.o.k"));
        let h = headers(&[("x-token", b"t.o.k"), ("authorization", b"Bearer t.o.k")]);
        assert_eq!(
            extract(&sources, &h).unwrap_err().kind(),
            ErrorKind::InvalidRequest
        );
        let h = headers(&[("cookie", b"atx=1; xat=2")]);
        assert_eq!(extract(&sources, &h).unwrap(), None);
        let h = headers(&[("cookie", b"pref=\xc3\xa9; at=t.o.k")]);
        assert_eq!(extract(&sources, &h).unwrap(), Some("t.o.k"));
        let h = headers(&[("cookie", b"at=")]);
        assert_eq!(extract(&sources, &h).unwrap(), None);
        let h = headers(&[("cookie", b"at=t\xc3\xa9")]);
        assert_eq!(
            extract(&sources, &h).unwrap_err().kind(),
            ErrorKind::InvalidRequest
        );
    }
}
