//! A resolver per issuer, chosen by the token's `iss`.

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::Arc;

use futures_util::future::Either;

use super::{KeyError, KeyResolver, VerificationKey};
use crate::header::TokenHeader;

/// Routes each token to the resolver of its issuer, for multi-tenant identity providers
/// (one Entra ID or Auth0 tenant per customer, say).
///
/// The issuer is read from the payload before the signature is checked, so it only picks
/// the resolver; after verification the validator requires the signed `iss` to be that
/// same issuer, so a key of one tenant can never vouch for another. A token whose `iss` is
/// not listed is refused as an unknown key (401).
///
/// ```
/// use tower_jwt_auth::{Algorithm, KeySet, MultiIssuer, VerificationKey};
/// let tenant_a = KeySet::new([VerificationKey::hmac(Algorithm::HS256, &[1; 32])?.with_kid("a")]);
/// let tenant_b = KeySet::new([VerificationKey::hmac(Algorithm::HS256, &[2; 32])?.with_kid("b")]);
/// let resolver = MultiIssuer::new()
///     .issuer("https://login.example.com/tenant-a", tenant_a)
///     .issuer("https://login.example.com/tenant-b", tenant_b);
/// # let _ = resolver;
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MultiIssuer<R> {
    by_issuer: HashMap<String, R>,
}

impl<R> MultiIssuer<R> {
    /// No issuer yet.
    pub fn new() -> Self {
        MultiIssuer {
            by_issuer: HashMap::new(),
        }
    }

    /// Adds an issuer (compared exactly with the token's `iss`) and its resolver.
    pub fn issuer(mut self, iss: impl Into<String>, resolver: R) -> Self {
        self.by_issuer.insert(iss.into(), resolver);
        self
    }

    /// The resolver of an issuer.
    pub fn get(&self, iss: &str) -> Option<&R> {
        self.by_issuer.get(iss)
    }
}

impl<R> Default for MultiIssuer<R> {
    fn default() -> Self {
        Self::new()
    }
}

type Found = Result<Arc<VerificationKey>, KeyError>;

impl<R: KeyResolver> KeyResolver for MultiIssuer<R> {
    type Future = Either<R::Future, Ready<Found>>;

    fn resolve(&self, header: &TokenHeader<'_>) -> Self::Future {
        match header
            .unverified_issuer()
            .and_then(|iss| self.by_issuer.get(iss))
        {
            Some(resolver) => Either::Left(resolver.resolve(header)),
            None => Either::Right(ready(Err(KeyError::not_found()))),
        }
    }

    fn is_current(&self, header: &TokenHeader<'_>, key: &Arc<VerificationKey>) -> bool {
        let resolver = header
            .unverified_issuer()
            .and_then(|iss| self.by_issuer.get(iss));
        resolver.is_some_and(|resolver| resolver.is_current(header, key))
    }

    fn wants_issuer(&self) -> bool {
        true
    }
}
