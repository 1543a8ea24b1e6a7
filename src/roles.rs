//! Roles: read from a claim path the identity provider chooses (`roles` for Entra,
//! `realm_access.roles` or `resource_access.<client>.roles` for Keycloak, `groups`), in
//! the same payload the signature covered. One pass that skips everything off the path.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::ConfigError;

/// The roles a token grants, as read from the configured claim path
/// ([`JwtAuthBuilder::roles_claim`](crate::JwtAuthBuilder::roles_claim)). Cloning is a
/// reference-count bump.
///
/// ```
/// use tower_jwt_auth::Roles;
///
/// let roles: Roles = ["auditor", "reader"].into_iter().collect();
/// assert!(roles.contains("auditor"));
/// assert_eq!(roles.iter().collect::<Vec<_>>(), ["auditor", "reader"]);
/// assert!(Roles::default().is_empty());
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Roles(Option<Arc<[Box<str>]>>);

impl Roles {
    /// Whether no role is granted.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Every role, in the token's order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().flat_map(|roles| roles.iter().map(|r| &**r))
    }

    /// Whether `role` is granted (exact, case-sensitive match).
    pub fn contains(&self, role: &str) -> bool {
        self.iter().any(|granted| granted == role)
    }
}

impl<S: Into<Box<str>>> FromIterator<S> for Roles {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        // Through a `Vec`, which allocates nothing when there are no roles (an empty
        // `Arc<[_]>` would).
        let roles: Vec<Box<str>> = iter.into_iter().map(Into::into).collect();
        Roles((!roles.is_empty()).then(|| Arc::from(roles)))
    }
}

impl fmt::Debug for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Where the roles are: object keys from the payload's top level down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClaimPath(Arc<[Box<str>]>);

impl ClaimPath {
    /// A dotted path (`realm_access.roles`); an empty one or one with an empty segment is
    /// refused. A key that itself contains a dot cannot be named.
    pub(crate) fn parse(dotted: &str) -> Result<Self, ConfigError> {
        let segments: Arc<[Box<str>]> = dotted.split('.').map(Box::from).collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(ConfigError::InvalidClaimPath(dotted.to_owned()));
        }
        Ok(ClaimPath(segments))
    }

    /// The default: a top-level `roles` claim.
    pub(crate) fn roles() -> Self {
        ClaimPath(Arc::from([Box::from("roles")]))
    }

    /// The roles at this path of a JSON payload: a string is one role, an array gives its
    /// strings (other members skipped); anything else, or no such path, grants none. Never
    /// an error: the payload was checked already, and roles are read leniently.
    pub(crate) fn read(&self, payload: &[u8]) -> Roles {
        // JSON is UTF-8 (RFC 8259 §8.1); from bytes, serde_json would not check the
        // strings it skips.
        let Ok(payload) = std::str::from_utf8(payload) else {
            return Roles::default();
        };
        let mut de = serde_json::Deserializer::from_str(payload);
        let mut found = Vec::new();
        let seed = At {
            path: &self.0,
            found: &mut found,
        };
        // Trailing bytes make it not JSON (`end`), as for the rest of the payload.
        match seed.deserialize(&mut de).and_then(|()| de.end()) {
            Ok(()) => found.into_iter().collect(),
            Err(_) => Roles::default(),
        }
    }
}

/// The roles at the dotted `path` of a JSON payload as the validator reads them; `None`
/// for a path the builder would refuse. For the fuzz targets only (feature `fuzzing`).
#[cfg(feature = "fuzzing")]
pub fn read_roles(path: &str, payload: &[u8]) -> Option<Vec<String>> {
    let path = ClaimPath::parse(path).ok()?;
    Some(path.read(payload).iter().map(str::to_owned).collect())
}

/// Walks one level of the path; at its end, collects the roles.
struct At<'p> {
    path: &'p [Box<str>],
    found: &'p mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for At<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for At<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.path.split_first() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        // A key on the path given twice grants nothing: parsers disagree on which wins.
        let mut seen = false;
        while let Some(on_path) = map.next_key_seed(KeyIs(first))? {
            if on_path {
                if seen {
                    return Err(de::Error::custom("duplicate key on the roles path"));
                }
                seen = true;
                map.next_value_seed(At {
                    path: rest,
                    found: self.found,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let at_end = self.path.is_empty();
        while let Some(item) = seq.next_element::<Item>()? {
            if let (true, Item::Role(role)) = (at_end, item) {
                self.found.push(role);
            }
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(self, role: &str) -> Result<(), E> {
        if self.path.is_empty() {
            self.found.push(role.to_owned());
        }
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Whether an object key is this path segment, compared where it lies: no key is copied.
struct KeyIs<'p>(&'p str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// One array member: a role if it is a string, skipped otherwise.
enum Item {
    Role(String),
    Other,
}

impl<'de> de::Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemVisitor;
        impl<'de> Visitor<'de> for ItemVisitor {
            type Value = Item;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Item, E> {
                Ok(Item::Role(s.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Item, E> {
                Ok(Item::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Item, E> {
                Ok(Item::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Item, E> {
                Ok(Item::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Item, E> {
                Ok(Item::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Item, E> {
                Ok(Item::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Item::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Item, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Item::Other)
            }
        }
        deserializer.deserialize_any(ItemVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &str, json: &str) -> Vec<String> {
        let path = ClaimPath::parse(path).unwrap();
        path.read(json.as_bytes())
            .iter()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn entra_roles_and_groups_at_the_top() {
        let json = r#"{"sub":"a","roles":["Reports.Read","auditor"],"groups":"staff"}"#;
        assert_eq!(read("roles", json), ["Reports.Read", "auditor"]);
        assert_eq!(read("groups", json), ["staff"]);
        assert!(read("missing", json).is_empty());
    }

    #[test]
    fn keycloak_realm_and_client_roles() {
        let json = r#"{"realm_access":{"roles":["offline_access","auditor"]},
            "resource_access":{"reports-api":{"roles":["viewer"]},"other":{"roles":["x"]}},
            "roles":"top"}"#;
        assert_eq!(
            read("realm_access.roles", json),
            ["offline_access", "auditor"]
        );
        assert_eq!(read("resource_access.reports-api.roles", json), ["viewer"]);
        assert!(read("resource_access.nobody.roles", json).is_empty());
        assert_eq!(read("roles", json), ["top"]);
    }

    #[test]
    fn values_that_are_not_roles_grant_none() {
        assert!(read("roles", r#"{"roles":7}"#).is_empty());
        assert!(read("roles", r#"{"roles":{"auditor":true}}"#).is_empty());
        assert!(read("roles", r#"{"roles":null}"#).is_empty());
        assert_eq!(
            read("roles", r#"{"roles":[1,"a",null,["b"],{"c":1},"d"]}"#),
            ["a", "d"]
        );
        // A path through a non-object, or past the roles, finds nothing.
        assert!(read("roles.x", r#"{"roles":["a"]}"#).is_empty());
        assert!(read("a.b", r#"{"a":["b"]}"#).is_empty());
        // Escaped keys and roles are read as JSON means them.
        assert_eq!(read("ro\u{6c}es", r#"{"ro\u006ces":["\u0061"]}"#), ["a"]);
    }

    #[test]
    fn a_duplicated_key_on_the_path_grants_none() {
        assert!(read("roles", r#"{"roles":["a"],"roles":["admin"]}"#).is_empty());
        assert!(
            read(
                "r.roles",
                r#"{"r":{"roles":["a"]},"r":{"roles":["admin"]}}"#
            )
            .is_empty()
        );
        // Off the path, duplicates are not this reader's business.
        assert_eq!(read("roles", r#"{"x":1,"x":2,"roles":["a"]}"#), ["a"]);
    }

    #[test]
    fn a_payload_that_is_not_json_grants_none() {
        assert!(read("roles", r#"{"roles":["a"]"#).is_empty());
        assert!(read("roles", "[]").is_empty());
        // Found by the claim_answers fuzz target: a complete object, then more bytes.
        assert!(read("roles", r#"{"roles":["a"]}l,["b"]"#).is_empty());
        let not_utf8 = b"{\"sub\":\"\xd9a\",\"roles\":[\"a\"]}";
        assert!(ClaimPath::roles().read(not_utf8).is_empty());
    }

    #[test]
    fn empty_segments_are_refused() {
        for bad in ["", ".", "a.", ".a", "a..b"] {
            assert!(ClaimPath::parse(bad).is_err(), "{bad:?}");
        }
    }
}
