//! Opaque tokens (feature `introspection`): a token that is not three dot-separated parts
//! goes to the configured RFC 7662 introspection endpoints, and an active answer becomes
//! claims that then meet the same rules, checks, DPoP binding and stores as a JWT's.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use std::task::Poll;

use super::{
    PendingCheck, Validator, Verdict, decode_custom, decode_registered, poll_once, settle,
};
use crate::claims::Claims;
use crate::clock::now;
use crate::dpop::VerifiedProof;
use crate::error::{AuthError, reason};
use crate::introspection::{Active, Answer, Introspector};
use crate::key::KeyResolver;

/// The introspection endpoints, asked in order.
pub(crate) type Introspectors = Arc<[Introspector]>;

/// What a 503 for an endpoint that could not be asked suggests.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// An active answer and the issuer that gave it.
pub(super) type Introspected = (usize, Active);

/// The endpoints' answer, or the refusal: 401 when none says active, 503 when one could
/// not be asked and none said active.
pub(super) type OpaqueLookup = BoxFuture<'static, Result<Introspected, AuthError>>;

/// Whether `token` is for introspection: not a compact JWS (three parts). A malformed JWS
/// stays a JWS, refused as one.
pub(super) fn is_opaque(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() != 2
}

impl<T, R> Validator<T, R>
where
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
    R: KeyResolver,
{
    /// Whether opaque tokens are accepted: checked first, so that a JWT costs nothing more.
    pub(super) fn introspects(&self) -> bool {
        !self.inner.introspectors.is_empty()
    }

    /// The pipeline for an opaque token: introspection (a cached answer is ready at once),
    /// then everything after the signature of a JWT.
    pub(super) fn check_opaque(&self, token: &str, proof: Option<VerifiedProof>) -> Verdict<T, R> {
        let mut lookup = self.introspect(token);
        match poll_once(&mut lookup) {
            Poll::Ready(found) => self.answered(found, proof),
            Poll::Pending => Verdict::Pending(PendingCheck::opaque(self.clone(), lookup, proof)),
        }
    }

    /// The endpoints answered.
    pub(super) fn answered(
        &self,
        found: Result<Introspected, AuthError>,
        proof: Option<VerifiedProof>,
    ) -> Verdict<T, R> {
        match found.and_then(|found| self.introspected(found)) {
            Ok(claims) => self.after_verification(None, claims, proof),
            Err(error) => Verdict::Done(settle(Err(error))),
        }
    }

    /// Asks each endpoint in turn until one says the token is active.
    pub(super) fn introspect(&self, token: &str) -> OpaqueLookup {
        let endpoints = Arc::clone(&self.inner.introspectors);
        let token = token.to_owned();
        Box::pin(async move {
            let mut outage = None;
            for (index, endpoint) in endpoints.iter().enumerate() {
                match endpoint.lookup(&token).await {
                    Ok(Answer::Active(active)) => return Ok((index, active)),
                    Ok(Answer::Inactive) => {}
                    Err(error) => outage = Some(error),
                }
            }
            Err(match outage {
                Some(error) => reason::INTROSPECTION_UNAVAILABLE
                    .with_retry_after(RETRY_AFTER)
                    .with_source(error),
                None => reason::INACTIVE,
            })
        })
    }

    /// Claims from an active answer: your type and the registered claims from its JSON,
    /// `iss` the endpoint's issuer (an answer naming another is refused), then the rules
    /// that apply to it and your claim checks.
    fn introspected(&self, (index, active): Introspected) -> Result<Claims<T>, AuthError> {
        let issuer = self.inner.introspectors[index].issuer();
        let json = &active.json[..];
        let mut registered = decode_registered(json)?;
        match &registered.iss {
            Some(iss) if iss != issuer => return Err(reason::ISSUER_NOT_ACCEPTED),
            Some(_) => {}
            None => registered.iss = Some(issuer.to_owned()),
        }
        // RFC 7662's `token_type` names an OAuth token type, not this crate's claim.
        registered.token_type = None;
        self.inner.rules.check_introspected(&registered, now())?;
        registered.roles = self.inner.rules.roles_claim.read(json);
        let claims = Claims::from_parts(decode_custom(json)?, registered, None, None, None);
        self.run_checks(&claims)?;
        Ok(claims)
    }
}
