//! The verified claims a request carries: [`Claims<T>`] and [`RegisteredClaims`].

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use jsonwebtoken::Algorithm;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::key::VerificationKey;
use crate::roles::Roles;

/// Verified claims, put into the request's extensions by the layer.
///
/// `T` is your claims type; `Claims<T>` derefs to it. Cloning is an `Arc` clone, so
/// handlers and outer layers share one decoded copy. The registered claims and the
/// token's `alg`/`kid` are kept beside it.
///
/// ```
/// # use tower_jwt_auth::Claims;
/// #[derive(serde::Deserialize)]
/// struct MyClaims { sub: String }
///
/// fn who(claims: &Claims<MyClaims>) -> &str {
///     &claims.sub // through Deref
/// }
/// ```
pub struct Claims<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    custom: T,
    registered: RegisteredClaims,
    /// `None` for an opaque token, checked by introspection.
    alg: Option<Algorithm>,
    kid: Option<Box<str>>,
    /// The key whose signature check produced these claims (none for [`Claims::new`]):
    /// a cache hit asks the resolver whether it is still current, without a second
    /// reference count to bump on every hit.
    verified_by: Option<Arc<VerificationKey>>,
}

impl<T> Claims<T> {
    /// Claims as the layer would hand them to a handler: for unit tests of handlers and
    /// guards, with no token involved.
    ///
    /// ```
    /// use tower_jwt_auth::{Algorithm, Claims, RegisteredClaims};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct MyClaims { name: String }
    ///
    /// let mut registered = RegisteredClaims::default();
    /// registered.sub = Some("ada".into());
    /// let claims = Claims::new(MyClaims { name: "Ada".into() }, registered, Algorithm::ES256, Some("k1"));
    /// assert_eq!((claims.name.as_str(), claims.registered().sub.as_deref()), ("Ada", Some("ada")));
    /// assert_eq!(claims.kid(), Some("k1"));
    /// ```
    pub fn new(custom: T, registered: RegisteredClaims, alg: Algorithm, kid: Option<&str>) -> Self {
        Self::from_parts(custom, registered, Some(alg), kid.map(Box::from), None)
    }

    pub(crate) fn from_parts(
        custom: T,
        registered: RegisteredClaims,
        alg: Option<Algorithm>,
        kid: Option<Box<str>>,
        verified_by: Option<Arc<VerificationKey>>,
    ) -> Self {
        Claims {
            inner: Arc::new(Inner {
                custom,
                registered,
                alg,
                kid,
                verified_by,
            }),
        }
    }

    /// The key that verified these claims; `None` for claims made with [`Claims::new`].
    pub(crate) fn verified_by(&self) -> Option<&Arc<VerificationKey>> {
        self.inner.verified_by.as_ref()
    }

    /// Your claims type.
    pub fn custom(&self) -> &T {
        &self.inner.custom
    }

    /// The registered claims (`iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti`, `sid`,
    /// `token_type`, `scope`/`scp`).
    pub fn registered(&self) -> &RegisteredClaims {
        &self.inner.registered
    }

    /// The algorithm the token was signed with; `None` for an opaque token that the
    /// authorization server vouched for by introspection (feature `introspection`).
    pub fn alg(&self) -> Option<Algorithm> {
        self.inner.alg
    }

    /// The token header's `kid`, if it had one.
    pub fn kid(&self) -> Option<&str> {
        self.inner.kid.as_deref()
    }

    /// For a DPoP-bound token, the thumbprint (`cnf.jkt`) of the key this request proved
    /// it holds; `None` for a bearer token. The layer accepts a bound token only with a
    /// valid proof by that key, so `Some` means the request was DPoP-bound.
    pub fn dpop_thumbprint(&self) -> Option<&str> {
        self.inner.registered.cnf.as_ref()?.jkt.as_deref()
    }

    /// Every scope the token grants, from `scope` or `scp`.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.inner.registered.scopes()
    }

    /// Every role the token grants, read from the layer's
    /// [roles claim path](crate::JwtAuthBuilder::roles_claim).
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.inner.registered.roles.iter()
    }

    /// Whether `role` is granted.
    pub fn has_role(&self, role: &str) -> bool {
        self.inner.registered.roles.contains(role)
    }

    /// Whether `scope` is granted, by `scope` or `scp`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.inner.registered.has_scope(scope)
    }
}

impl<T> Clone for Claims<T> {
    fn clone(&self) -> Self {
        Claims {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> Deref for Claims<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner.custom
    }
}

impl<T: fmt::Debug> fmt::Debug for Claims<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("custom", &self.inner.custom)
            .field("registered", &self.inner.registered)
            .field("alg", &self.inner.alg)
            .field("kid", &self.inner.kid)
            .finish()
    }
}

/// The registered claims of RFC 7519 §4.1 (plus `sid` and `token_type`), as the token
/// carried them.
///
/// Times are seconds since the Unix epoch; a fractional NumericDate is rounded down.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RegisteredClaims {
    /// `iss`: who issued the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// `sub`: whom the token is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `aud`: for whom the token is meant; a string or an array in the token.
    #[serde(default, skip_serializing_if = "Audience::is_empty")]
    pub aud: Audience,
    /// `exp`: when the token expires.
    #[serde(
        default,
        deserialize_with = "numeric_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub exp: Option<u64>,
    /// `nbf`: when the token starts to be valid.
    #[serde(
        default,
        deserialize_with = "numeric_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub nbf: Option<u64>,
    /// `iat`: when the token was issued.
    #[serde(
        default,
        deserialize_with = "numeric_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub iat: Option<u64>,
    /// `jti`: the token's unique id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// `sid`: the session (login) the token descends from; revoking it revokes them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// `token_type`: `access` or `refresh` in tokens from `issue::TokenIssuer`
    /// and djangorestframework-simplejwt. Not an RFC 7519 claim, but read in the same pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// `scope` (RFC 8693 §4.2): the granted scopes, one space-separated string. Read
    /// leniently: a value of another type grants nothing.
    #[serde(
        default,
        deserialize_with = "scope_string",
        skip_serializing_if = "Scopes::is_empty"
    )]
    pub scope: Scopes,
    /// `scp`: granted scopes as some identity providers (Azure AD, Okta) write them, an
    /// array of scopes or a space-separated string; a value of another type grants nothing.
    #[serde(
        default,
        deserialize_with = "scope_list",
        skip_serializing_if = "Scopes::is_empty"
    )]
    pub scp: Scopes,
    /// `cnf` (RFC 7800 §3.1): the key the token is bound to. This crate reads `jkt`, the
    /// thumbprint of a DPoP key (RFC 9449 §6.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// The roles at the layer's [roles claim path](crate::JwtAuthBuilder::roles_claim)
    /// (`roles` unless configured). Not a registered claim: the validator reads it from
    /// the same verified payload, and it is never serialized.
    #[serde(skip)]
    pub roles: Roles,
}

/// A token's `cnf` claim (RFC 7800), as far as this crate reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Confirmation {
    /// `jkt`: the JWK SHA-256 thumbprint (RFC 7638) of the key a DPoP-bound token is bound
    /// to (RFC 9449 §6.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
}

impl RegisteredClaims {
    /// Every scope granted, by `scope` or by `scp`.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.iter().chain(self.scp.iter())
    }

    /// Whether `scope` is granted, by `scope` or by `scp`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|granted| granted == scope)
    }
}

/// Scopes as a token carries them: a space-separated string, or an array of scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scopes(Audience);

impl Scopes {
    /// Whether no scope is granted.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Every scope, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (spaced, listed): (Option<&String>, &[String]) = match &self.0 {
            Audience::None => (None, &[]),
            Audience::One(s) => (Some(s), &[]),
            Audience::Many(v) => (None, v),
        };
        spaced
            .into_iter()
            .flat_map(|s| s.split(' '))
            .chain(listed.iter().map(String::as_str))
            .filter(|s| !s.is_empty())
    }
}

/// `scope`: a string, else nothing granted (rather than an unreadable token).
fn scope_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Scopes, D::Error> {
    deserializer.deserialize_any(LenientScopes { list: false })
}

/// `scp`: a string or an array of strings, else nothing granted.
fn scope_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Scopes, D::Error> {
    deserializer.deserialize_any(LenientScopes { list: true })
}

/// Reads a scope claim in one pass, without buffering it: a string, an array of strings
/// when `list`, and anything else (skipped, not parsed into a tree) as no scope at all.
struct LenientScopes {
    list: bool,
}

impl<'de> de::DeserializeSeed<'de> for LenientScopes {
    type Value = Scopes;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Scopes, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LenientScopes {
    type Value = Scopes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("scopes")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scopes, E> {
        Ok(Scopes(Audience::One(v.to_owned())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scopes, A::Error> {
        if !self.list {
            while seq.next_element::<de::IgnoredAny>()?.is_some() {}
            return Ok(Scopes::default());
        }
        // Every element a string, or the list grants nothing.
        let mut all = Vec::new();
        let mut strings = true;
        while let Some(element) = seq.next_element_seed(LenientScopes { list: false })? {
            match element.0 {
                Audience::One(scope) if strings => all.push(scope),
                _ => strings = false,
            }
        }
        Ok(if strings {
            Scopes(Audience::Many(all))
        } else {
            Scopes::default()
        })
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Scopes, A::Error> {
        while map
            .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Scopes::default())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scopes, E> {
        Ok(Scopes::default())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Scopes, E> {
        Ok(Scopes::default())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Scopes, E> {
        Ok(Scopes::default())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scopes, E> {
        Ok(Scopes::default())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scopes, E> {
        Ok(Scopes::default())
    }
}

/// The `aud` claim: one audience or several; serialized back as the token had it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Audience {
    /// No `aud` claim.
    #[default]
    None,
    /// `"aud": "x"`.
    One(String),
    /// `"aud": ["x", "y"]`.
    Many(Vec<String>),
}

impl Audience {
    /// Whether no audience is named: the claim is absent or an empty array. An empty
    /// array does not satisfy a required `aud`.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Every audience named, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many): (Option<&String>, &[String]) = match self {
            Audience::None => (None, &[]),
            Audience::One(a) => (Some(a), &[]),
            Audience::Many(v) => (None, v),
        };
        one.into_iter().chain(many).map(String::as_str)
    }

    /// Whether `name` is among the audiences.
    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|a| a == name)
    }
}

impl Serialize for Audience {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Audience::None => serializer.serialize_none(),
            Audience::One(a) => serializer.serialize_str(a),
            Audience::Many(v) => v.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AudienceVisitor;
        impl<'de> Visitor<'de> for AudienceVisitor {
            type Value = Audience;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience::One(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Audience, E> {
                Ok(Audience::One(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut all = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                while let Some(a) = seq.next_element::<String>()? {
                    all.push(a);
                }
                Ok(Audience::Many(all))
            }
        }
        deserializer.deserialize_any(AudienceVisitor)
    }
}

/// A NumericDate: a non-negative JSON number of seconds, fractions rounded down.
fn numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    struct NumericDate;
    impl Visitor<'_> for NumericDate {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a non-negative NumericDate")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<u64>, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<u64>, E> {
            u64::try_from(v)
                .map(Some)
                .map_err(|_| E::custom("negative NumericDate"))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<u64>, E> {
            if v.is_finite() && v >= 0.0 && v < u64::MAX as f64 {
                Ok(Some(v as u64))
            } else {
                Err(E::custom("NumericDate out of range"))
            }
        }
    }
    deserializer.deserialize_any(NumericDate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_read_leniently() {
        let scopes = |json: &str| -> Vec<String> {
            let c: RegisteredClaims = serde_json::from_str(json).unwrap();
            c.scopes().map(str::to_owned).collect()
        };
        assert_eq!(scopes(r#"{"scope":"a  b"}"#), ["a", "b"]);
        assert_eq!(scopes(r#"{"scp":["a","b"],"scope":"c"}"#), ["c", "a", "b"]);
        assert_eq!(scopes(r#"{"scp":"a b"}"#), ["a", "b"]);
        // Another type grants nothing, and does not make the claims unreadable.
        for other in [
            r#"{"scope":["a"]}"#,
            r#"{"scope":7}"#,
            r#"{"scp":["a",1]}"#,
            r#"{"scp":[["a"]]}"#,
            r#"{"scp":{"a":true}}"#,
            r#"{"scope":null,"scp":false}"#,
        ] {
            assert!(scopes(other).is_empty(), "{other}");
        }
        let deep = format!(r#"{{"scp":{}{}}}"#, "[".repeat(3000), "]".repeat(3000));
        assert!(scopes(&deep).is_empty());
    }

    #[test]
    fn aud_string_or_array() {
        let one: RegisteredClaims = serde_json::from_str(r#"{"aud":"a"}"#).unwrap();
        assert_eq!(one.aud, Audience::One("a".into()));
        let many: RegisteredClaims = serde_json::from_str(r#"{"aud":["a","b"]}"#).unwrap();
        assert!(many.aud.contains("b") && !many.aud.contains("c"));
        assert_eq!(serde_json::to_string(&many.aud).unwrap(), r#"["a","b"]"#);
        assert!(serde_json::from_str::<RegisteredClaims>(r#"{"aud":7}"#).is_err());
        assert!(serde_json::from_str::<RegisteredClaims>(r#"{"aud":["a",1]}"#).is_err());
    }

    #[test]
    fn numeric_dates() {
        let c: RegisteredClaims = serde_json::from_str(r#"{"exp":10.9,"nbf":5,"iat":0}"#).unwrap();
        assert_eq!((c.exp, c.nbf, c.iat), (Some(10), Some(5), Some(0)));
        for bad in [
            r#"{"exp":-1}"#,
            r#"{"exp":"10"}"#,
            r#"{"exp":1e300}"#,
            r#"{"exp":null}"#,
        ] {
            assert!(
                serde_json::from_str::<RegisteredClaims>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn clone_shares() {
        let c = Claims::new(5u8, RegisteredClaims::default(), Algorithm::HS256, None);
        let d = c.clone();
        assert!(std::ptr::eq(c.custom(), d.custom()));
    }
}
