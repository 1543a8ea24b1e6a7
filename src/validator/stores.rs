//! The pipeline's last steps, which ask stores: revocation of the token's `jti`/`sid`, then
//! the first use of its DPoP proof. Each is answered in place when its store can (memory,
//! the Redis store's local view), else left to one future for what remains.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use jsonwebtoken::Algorithm;
use serde::de::DeserializeOwned;

use super::Validator;
use crate::claims::Claims;
use crate::dpop::{self, VerifiedProof};
use crate::error::{AuthError, reason};
use crate::key::KeyResolver;
use crate::revocation::{self, StoreError};

impl<T, R> Validator<T, R>
where
    T: DeserializeOwned + Send + Sync + 'static,
    R: KeyResolver,
{
    /// Revocation, then (with a proof) the proof's first use, each answered at once when
    /// its store can, else one future for what is left.
    pub(super) fn store_lookup(&self, claims: &Claims<T>, proof: Option<&VerifiedProof>) -> Lookup {
        let revocation = self.revocation_lookup(claims);
        let Some(proof) = proof else {
            return revocation;
        };
        match revocation {
            Lookup::Answered(Ok(())) => match self.inner.dpop.spend(proof) {
                Ok(answer) => Lookup::Answered(dpop::replay_verdict(answer)),
                Err(spending) => {
                    Lookup::Waiting(Box::pin(
                        async move { dpop::replay_verdict(spending.await) },
                    ))
                }
            },
            Lookup::Answered(Err(error)) => Lookup::Answered(Err(error)),
            Lookup::Waiting(revoked) => {
                let (store, proof) = (Arc::clone(&self.inner.dpop.replay), *proof);
                Lookup::Waiting(Box::pin(async move {
                    revoked.await?;
                    let id = proof.replay_id.as_str();
                    dpop::replay_verdict(store.first_use(id, proof.until).await)
                }))
            }
        }
    }

    /// With a revocation store: whether the token's `jti` or `sid` is revoked, answered at
    /// once when the store can ([`RevocationStore::revoked_now`]), else a future.
    fn revocation_lookup(&self, claims: &Claims<T>) -> Lookup {
        let Some(store) = self.inner.revocation.as_ref() else {
            return Lookup::Answered(Ok(()));
        };
        let registered = claims.registered();
        let (jti, sid) = (registered.jti.as_deref(), registered.sid.as_deref());
        let answer = revocation::with_ids(jti, sid, |ids| {
            if ids.is_empty() {
                return Ok(Ok(false));
            }
            store.revoked_now(ids).ok_or_else(|| store.any_revoked(ids))
        });
        let (alg, kid) = (claims.alg(), claims.kid());
        match answer {
            Ok(answer) => Lookup::Answered(revocation_verdict(answer, alg, kid)),
            Err(lookup) => {
                let kid = kid.map(Box::<str>::from);
                Lookup::Waiting(Box::pin(async move {
                    revocation_verdict(lookup.await, alg, kid.as_deref())
                }))
            }
        }
    }
}

/// The revocation step: answered, or a future to wait for.
pub(super) enum Lookup {
    /// No store, no ids, or a store that answered at once.
    Answered(Result<(), AuthError>),
    Waiting(BoxFuture<'static, Result<(), AuthError>>),
}

/// A store's answer as the pipeline's: revoked is 401, a store that failed 503.
fn revocation_verdict(
    answer: Result<bool, StoreError>,
    alg: Option<Algorithm>,
    kid: Option<&str>,
) -> Result<(), AuthError> {
    let error = match answer {
        Ok(false) => return Ok(()),
        Ok(true) => reason::REVOKED,
        Err(e) => reason::REVOCATION_UNAVAILABLE
            .with_retry_after(std::time::Duration::from_secs(5))
            .with_source(e),
    };
    Err(error.with_token(alg, kid))
}
