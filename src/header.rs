//! The JOSE header of a compact JWS, read once and only for what validation needs.

use std::borrow::Cow;
use std::str::FromStr;

use jsonwebtoken::Algorithm;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use crate::error::{AuthError, reason};
use crate::json::from_object;

/// The parts of a token's header that choose and check the key: `alg`, `kid`, `typ`.
///
/// Key-bearing headers (`jwk`, `jku`, `x5u`, `x5c`) are never read: keys come only from the
/// resolver. A [`KeyResolver`](crate::KeyResolver) receives this to pick a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHeader<'a> {
    alg: Algorithm,
    kid: Option<Cow<'a, str>>,
    typ: Option<Cow<'a, str>>,
    iss: Option<Cow<'a, str>>,
}

impl<'a> TokenHeader<'a> {
    /// A header for an algorithm and an optional key id, as a resolver would receive it.
    pub fn new(alg: Algorithm, kid: Option<&'a str>) -> Self {
        TokenHeader {
            alg,
            kid: kid.map(Cow::Borrowed),
            typ: None,
            iss: None,
        }
    }

    /// The same header carrying the payload's `iss`, for resolvers that route by issuer.
    pub fn with_unverified_issuer<'b>(&'b self, iss: Option<&'b str>) -> TokenHeader<'b> {
        TokenHeader {
            alg: self.alg,
            kid: self.kid.as_deref().map(Cow::Borrowed),
            typ: self.typ.as_deref().map(Cow::Borrowed),
            iss: iss.map(Cow::Borrowed),
        }
    }

    /// The token's `alg`, already checked against the allowed algorithms.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The token's `kid`: an opaque name, never a path or a URL.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The token's `typ`.
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }

    /// The payload's `iss`, read before the signature is checked, so only for choosing a
    /// key; present only for resolvers whose [`wants_issuer`](crate::KeyResolver::wants_issuer)
    /// is `true`. The validator checks after verification that the signed `iss` is this one.
    pub fn unverified_issuer(&self) -> Option<&str> {
        self.iss.as_deref()
    }

    /// Parses decoded header JSON. `crit` present in any form rejects the token: this crate
    /// understands no JWS extension (RFC 7515 §4.1.11).
    pub(crate) fn parse(json: &'a [u8]) -> Result<Self, AuthError> {
        let raw: RawHeader<'a> = from_object(json).map_err(|_| reason::HEADER_NOT_JSON)?;
        if raw.crit {
            return Err(reason::UNSUPPORTED_CRIT);
        }
        let alg = Algorithm::from_str(&raw.alg).map_err(|_| reason::ALG_NOT_ALLOWED)?;
        Ok(TokenHeader {
            alg,
            kid: raw.kid,
            typ: raw.typ,
            iss: None,
        })
    }

    pub(crate) fn kid_owned(&self) -> Option<Box<str>> {
        self.kid.as_deref().map(Box::from)
    }
}

#[derive(Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

pub(crate) fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// `typ` values compare as media types: case-insensitively, with `application/` optional
/// (RFC 7515 §4.1.9).
pub(crate) fn typ_matches(actual: &str, expected: &str) -> bool {
    fn strip(s: &str) -> &str {
        match s.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &s[12..],
            _ => s,
        }
    }
    strip(actual).eq_ignore_ascii_case(strip(expected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn reads_alg_kid_typ() {
        let h =
            TokenHeader::parse(br#"{"alg":"RS256","kid":"k1","typ":"JWT","x5u":"http://evil"}"#)
                .unwrap();
        assert_eq!(h.alg(), Algorithm::RS256);
        assert_eq!(h.kid(), Some("k1"));
        assert_eq!(h.typ(), Some("JWT"));
    }

    #[test]
    fn alg_none_is_not_allowed() {
        let err = TokenHeader::parse(br#"{"alg":"none"}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlgorithmNotAllowed);
    }

    #[test]
    fn any_crit_is_rejected() {
        for json in [
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"{"alg":"HS256","crit":[]}"#,
        ] {
            let err = TokenHeader::parse(json.as_bytes()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnsupportedCritical);
        }
    }

    #[test]
    fn duplicate_alg_is_malformed() {
        let err = TokenHeader::parse(br#"{"alg":"HS256","alg":"none"}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Malformed);
    }

    #[test]
    fn header_must_be_an_object() {
        let err = TokenHeader::parse(br#"["HS256"]"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Malformed);
    }

    #[test]
    fn kid_must_be_a_string() {
        let err = TokenHeader::parse(br#"{"alg":"HS256","kid":7}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Malformed);
    }

    #[test]
    fn escaped_kid_is_unescaped() {
        let h = TokenHeader::parse(br#"{"alg":"HS256","kid":"a\/b"}"#).unwrap();
        assert_eq!(h.kid(), Some("a/b"));
    }

    #[test]
    fn typ_compares_as_media_type() {
        assert!(typ_matches("JWT", "jwt"));
        assert!(typ_matches("application/at+jwt", "at+JWT"));
        assert!(typ_matches("at+jwt", "Application/AT+JWT"));
        assert!(!typ_matches("JWT", "at+jwt"));
    }
}
