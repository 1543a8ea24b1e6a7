//! [`PendingCheck`]: the rest of the pipeline once it has to wait, for the key or for the
//! revocation or replay store. It owns what it needs (the token's text, the validator), so it can
//! outlive the request's headers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;

use super::{TokenMeta, Validator, Verdict, settle};
use crate::claims::Claims;
use crate::dpop::VerifiedProof;
use crate::error::AuthError;
use crate::key::{KeyError, KeyResolver, VerificationKey};

/// The pipeline waiting on a check that has not answered yet.
pub(crate) struct PendingCheck<T, R: KeyResolver> {
    validator: Validator<T, R>,
    waiting: Waiting<T, R::Future>,
}

enum Waiting<T, F> {
    /// The resolver's future: the signature and claims of `token` come after it.
    Key {
        key: F,
        meta: Option<TokenMeta>,
        token: Box<str>,
        proof: Option<VerifiedProof>,
    },
    /// The revocation store, or the DPoP replay store. `fresh` is the token of claims just verified, for the cache;
    /// `None` for claims from the cache.
    Revocation {
        lookup: BoxFuture<'static, Result<(), AuthError>>,
        claims: Option<Claims<T>>,
        fresh: Option<Box<str>>,
    },
    /// The introspection endpoints, for an opaque token.
    #[cfg(feature = "introspection")]
    Opaque {
        lookup: super::opaque::OpaqueLookup,
        proof: Option<VerifiedProof>,
    },
}

impl<T, R> PendingCheck<T, R>
where
    T: DeserializeOwned + Send + Sync + 'static,
    R: KeyResolver,
{
    pub(super) fn key(
        validator: Validator<T, R>,
        token: &str,
        key: R::Future,
        meta: TokenMeta,
        proof: Option<VerifiedProof>,
    ) -> Self {
        PendingCheck {
            validator,
            waiting: Waiting::Key {
                key,
                meta: Some(meta),
                token: token.into(),
                proof,
            },
        }
    }

    #[cfg(feature = "introspection")]
    pub(super) fn opaque(
        validator: Validator<T, R>,
        lookup: super::opaque::OpaqueLookup,
        proof: Option<VerifiedProof>,
    ) -> Self {
        PendingCheck {
            validator,
            waiting: Waiting::Opaque { lookup, proof },
        }
    }

    pub(super) fn revocation(
        validator: Validator<T, R>,
        fresh: Option<&str>,
        lookup: BoxFuture<'static, Result<(), AuthError>>,
        claims: Claims<T>,
    ) -> Self {
        PendingCheck {
            validator,
            waiting: Waiting::Revocation {
                lookup,
                claims: Some(claims),
                fresh: fresh.map(Box::from),
            },
        }
    }

    /// The key arrived: verify, then the steps after the signature, which may wait for a
    /// store in turn (this check then becomes that one).
    fn key_arrived(
        &mut self,
        meta: TokenMeta,
        key: Result<Arc<VerificationKey>, KeyError>,
        token: Box<str>,
        proof: Option<VerifiedProof>,
    ) -> Option<Result<Claims<T>, AuthError>> {
        let claims = match self.validator.verify(&token, meta, key) {
            Ok(claims) => claims,
            Err(error) => return Some(settle(Err(error))),
        };
        match self
            .validator
            .after_verification(Some(&token), claims, proof)
        {
            Verdict::Done(done) => Some(done),
            Verdict::Pending(next) => {
                *self = next;
                None
            }
        }
    }
}

impl<T, R> Future for PendingCheck<T, R>
where
    T: DeserializeOwned + Send + Sync + 'static,
    R: KeyResolver,
{
    type Output = Result<Claims<T>, AuthError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match &mut this.waiting {
                Waiting::Key {
                    key,
                    meta,
                    token,
                    proof,
                } => {
                    let key = ready!(Pin::new(key).poll(cx));
                    let meta = meta.take().expect("polled after completion");
                    let (token, proof) = (std::mem::take(token), *proof);
                    if let Some(done) = this.key_arrived(meta, key, token, proof) {
                        return Poll::Ready(done);
                    }
                }
                #[cfg(feature = "introspection")]
                Waiting::Opaque { lookup, proof } => {
                    let found = ready!(lookup.as_mut().poll(cx));
                    match this.validator.answered(found, *proof) {
                        Verdict::Done(done) => return Poll::Ready(done),
                        Verdict::Pending(next) => *this = next,
                    }
                }
                Waiting::Revocation {
                    lookup,
                    claims,
                    fresh,
                } => {
                    let answer = ready!(lookup.as_mut().poll(cx));
                    let claims = claims.take().expect("polled after completion");
                    return Poll::Ready(match answer {
                        Ok(()) => Ok(this.validator.accept(fresh.as_deref(), claims)),
                        Err(error) => settle(Err(error)),
                    });
                }
            }
        }
    }
}
