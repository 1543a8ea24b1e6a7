//! Several keys, found by `kid`: a local JWKS.

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::Arc;

use jsonwebtoken::jwk::Jwk;

use super::{KeyError, KeyResolver, VerificationKey};
use crate::error::ConfigError;
use crate::header::TokenHeader;
use crate::json::JsonError;

const SCAN_UP_TO: usize = 8;

/// A resolver over a fixed set of keys, looked up by the token's `kid`.
///
/// A token without `kid` is accepted only when exactly one key of the set may verify its
/// `alg`; a `kid` the set does not hold is 401 `invalid_token`. The lookup borrows the
/// `kid` and allocates nothing.
///
/// ```
/// use tower_jwt_auth::KeySet;
/// let jwks = r#"{"keys":[
///   {"kty":"EC","crv":"P-256","kid":"a","alg":"ES256","use":"sig",
///    "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
///   {"kty":"EC","crv":"P-256","kid":"b","use":"enc",
///    "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
/// ]}"#;
/// let set = KeySet::from_jwks_json(jwks)?;
/// assert_eq!(set.len(), 1); // the encryption key is skipped
/// assert!(set.get("a").is_some());
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    by_kid: HashMap<String, Arc<VerificationKey>>,
    all: Vec<Arc<VerificationKey>>,
}

impl KeySet {
    /// A set from keys. A key without `kid` is found only by tokens without `kid`; a second
    /// key with the same `kid` replaces the first.
    pub fn new(keys: impl IntoIterator<Item = VerificationKey>) -> Self {
        let mut set = KeySet::default();
        for key in keys {
            set.insert(key);
        }
        set
    }

    fn insert(&mut self, key: VerificationKey) {
        let key = Arc::new(key);
        if let Some(kid) = key.kid()
            && let Some(old) = self.by_kid.insert(kid.to_owned(), Arc::clone(&key))
        {
            self.all.retain(|k| !Arc::ptr_eq(k, &old));
        }
        self.all.push(key);
    }

    /// A set from a JWKS document (RFC 7517 §5). Keys that cannot verify, or that
    /// [`VerificationKey::from_jwk`] refuses, are skipped (with a tracing event when the
    /// `tracing` feature is on); the document itself must be a JSON object with `keys`.
    pub fn from_jwks_json(json: &str) -> Result<Self, ConfigError> {
        Self::from_jwks_json_where(json, |_| true)
    }

    /// [`from_jwks_json`](Self::from_jwks_json), keeping only the keys `keep` accepts.
    pub(crate) fn from_jwks_json_where(
        json: &str,
        keep: impl Fn(&VerificationKey) -> bool,
    ) -> Result<Self, ConfigError> {
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let doc: Document = crate::json::from_object(json.as_bytes()).map_err(|e| {
            ConfigError::InvalidJwk(match e {
                JsonError::NotAnObject => "not a JWKS document: not a JSON object".to_owned(),
                JsonError::Shape => "not a JWKS document: no `keys` array".to_owned(),
            })
        })?;
        let keys = doc.keys.into_iter().filter_map(|value| {
            // A JWK is a JSON object (RFC 7517 §4); serde would read an array as one too.
            let key = Some(value)
                .filter(serde_json::Value::is_object)
                .ok_or_else(|| ConfigError::InvalidJwk("a JWK is not a JSON object".to_owned()))
                .and_then(|v| {
                    serde_json::from_value::<Jwk>(v)
                        .map_err(|e| ConfigError::InvalidJwk(e.to_string()))
                })
                .and_then(|jwk| VerificationKey::from_jwk(&jwk));
            match key {
                Ok(key) if keep(&key) => Some(key),
                Ok(_) => None,
                Err(_skipped) => {
                    #[cfg(feature = "tracing")]
                    tracing::warn!(reason = %_skipped, "JWKS key skipped");
                    None
                }
            }
        });
        Ok(Self::new(keys))
    }

    /// The key named `kid`.
    pub fn get(&self, kid: &str) -> Option<&Arc<VerificationKey>> {
        // A JWKS holds a handful of keys: comparing a few lengths (and the one same-length
        // kid) is cheaper than SipHash.
        if self.all.len() <= SCAN_UP_TO {
            return self.all.iter().find(|k| k.kid() == Some(kid));
        }
        self.by_kid.get(kid)
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// The key for a header: by `kid`, or the only key that fits `alg` when there is no `kid`.
    pub fn find(&self, header: &TokenHeader<'_>) -> Option<&Arc<VerificationKey>> {
        match header.kid() {
            Some(kid) => self.get(kid),
            None => {
                let mut fitting = self
                    .all
                    .iter()
                    .filter(|k| k.algorithms().contains(header.alg()));
                match (fitting.next(), fitting.next()) {
                    (Some(only), None) => Some(only),
                    _ => None,
                }
            }
        }
    }
}

impl KeyResolver for KeySet {
    type Future = Ready<Result<Arc<VerificationKey>, KeyError>>;

    fn resolve(&self, header: &TokenHeader<'_>) -> Self::Future {
        ready(self.find(header).cloned().ok_or_else(KeyError::not_found))
    }

    fn is_current(&self, header: &TokenHeader<'_>, key: &Arc<VerificationKey>) -> bool {
        self.find(header)
            .is_some_and(|found| Arc::ptr_eq(found, key))
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::Algorithm;

    use super::*;

    fn hs(kid: Option<&str>, alg: Algorithm) -> VerificationKey {
        let key = VerificationKey::hmac(alg, &[9; 64]).unwrap();
        match kid {
            Some(kid) => key.with_kid(kid),
            None => key,
        }
    }

    #[test]
    fn finds_by_kid() {
        let set = KeySet::new([
            hs(Some("a"), Algorithm::HS256),
            hs(Some("b"), Algorithm::HS512),
        ]);
        let found = set
            .find(&TokenHeader::new(Algorithm::HS512, Some("b")))
            .unwrap();
        assert_eq!(found.kid(), Some("b"));
        assert!(
            set.find(&TokenHeader::new(Algorithm::HS512, Some("c")))
                .is_none()
        );
    }

    #[test]
    fn no_kid_needs_exactly_one_fitting_key() {
        let set = KeySet::new([
            hs(Some("a"), Algorithm::HS256),
            hs(Some("b"), Algorithm::HS512),
        ]);
        assert_eq!(
            set.find(&TokenHeader::new(Algorithm::HS256, None))
                .unwrap()
                .kid(),
            Some("a")
        );
        let two = KeySet::new([
            hs(Some("a"), Algorithm::HS256),
            hs(Some("b"), Algorithm::HS256),
        ]);
        assert!(
            two.find(&TokenHeader::new(Algorithm::HS256, None))
                .is_none()
        );
    }

    #[test]
    fn same_kid_replaces() {
        let set = KeySet::new([
            hs(Some("a"), Algorithm::HS256),
            hs(Some("a"), Algorithm::HS512),
        ]);
        assert_eq!(set.len(), 1);
        assert!(
            set.get("a")
                .unwrap()
                .algorithms()
                .contains(Algorithm::HS512)
        );
    }

    #[test]
    fn garbage_document_is_an_error() {
        assert!(KeySet::from_jwks_json("[]").is_err());
        assert!(KeySet::from_jwks_json("{").is_err());
        assert!(
            KeySet::from_jwks_json(r#"{"keys":[{"kty":"nope"}, 5]}"#)
                .unwrap()
                .is_empty()
        );
    }
}
