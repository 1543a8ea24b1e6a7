//! [`Validator`]: the whole check of one token, written once, usable without tower
//! (websockets, queues).
//!
//! The pipeline, in order: size cap → DPoP proof (when the token came with the `DPoP`
//! scheme) → cache hit? → compact JWS → header → key (the resolver) → signature → claims
//! (registered and yours) → your claim checks → DPoP binding → revocation → proof replay. [`Validator::check`] runs it as far as it can without waiting and returns a
//! [`Verdict`]: done, or a [`PendingCheck`] that owns what the rest needs.

#[cfg(feature = "introspection")]
mod opaque;
mod pending;
mod stores;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::cache::TokenCache;
use crate::claims::{Claims, RegisteredClaims};
use crate::clock::now;
use crate::dpop::{self, DpopMode, DpopPolicy, Target, VerifiedProof};
use crate::error::{AuthError, reason, trace};
use crate::header::TokenHeader;
use crate::json::{JsonError, from_object};
use crate::jws::{Parts, Split, with_decoded};
use crate::key::{KeyError, KeyResolver, StaticKey, VerificationKey};
use crate::observe::Meters;
use crate::revocation::RevocationStore;
use crate::rules::Rules;
use crate::source::{Candidate, Presented, Scheme};

pub(crate) use pending::PendingCheck;
use stores::Lookup;

/// Validates tokens: size, shape, header, key, signature, registered claims, scopes,
/// your claim checks and revocation, in that order. Cheap to clone (an `Arc`).
///
/// Built with [`Validator::builder`]; [`JwtAuthLayer`](crate::JwtAuthLayer)
/// uses one inside.
///
/// ```
/// use tower_jwt_auth::{Algorithm, ErrorKind, StaticKey, Validator};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// #[derive(Debug, serde::Deserialize)]
/// struct MyClaims { sub: String }
///
/// let secret = b"a secret of at least thirty-two bytes";
/// let validator = Validator::<MyClaims>::builder(StaticKey::hmac(Algorithm::HS256, secret)?)
///     .algorithms([Algorithm::HS256])
///     .build_validator()?;
///
/// let exp = jsonwebtoken::get_current_timestamp() + 300;
/// let token = jsonwebtoken::encode(
///     &jsonwebtoken::Header::new(Algorithm::HS256),
///     &serde_json::json!({ "sub": "ada", "exp": exp }),
///     &jsonwebtoken::EncodingKey::from_secret(secret)?,
/// )?;
/// let claims = validator.validate(&token).await?;
/// assert_eq!(claims.sub, "ada");
/// assert_eq!(validator.validate("not.a.jwt").await.unwrap_err().kind(), ErrorKind::Malformed);
/// # Ok(()) }
/// ```
pub struct Validator<T, R = StaticKey> {
    inner: Arc<Inner<T, R>>,
}

/// A claim check: `true` lets the request through, `false` answers 403.
pub(crate) type ClaimCheck<T> = Box<dyn Fn(&Claims<T>) -> bool + Send + Sync>;

struct Inner<T, R> {
    resolver: R,
    rules: Rules,
    checks: Vec<ClaimCheck<T>>,
    revocation: Option<Arc<dyn RevocationStore>>,
    cache: Option<TokenCache<T>>,
    dpop: DpopPolicy,
    /// Endpoints for opaque tokens (feature `introspection`).
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    introspectors: Introspectors,
    /// The layer's metric handles (feature `metrics`).
    meters: Meters,
    _claims: PhantomData<fn() -> T>,
}

#[cfg(feature = "introspection")]
pub(crate) use opaque::Introspectors;
#[cfg(feature = "introspection")]
use opaque::is_opaque;
/// Without the `introspection` feature, there are none.
#[cfg(not(feature = "introspection"))]
pub(crate) type Introspectors = ();

/// What [`Validator::check`] decided without waiting.
pub(crate) enum Verdict<T, R: KeyResolver> {
    /// Accepted or refused; a refusal has been traced.
    Done(Result<Claims<T>, AuthError>),
    /// The key or the revocation store has not answered yet.
    Pending(PendingCheck<T, R>),
}

/// What the header (and, for issuer routing, the payload's `iss`) said before the key.
struct TokenMeta {
    /// Where the token's parts end: the signature check needs no second search.
    split: Split,
    alg: Algorithm,
    kid: Option<Box<str>>,
    /// The `iss` the key was chosen by; the verified `iss` must be the same.
    routed_issuer: Option<Box<str>>,
}

impl<T, R> Validator<T, R>
where
    T: DeserializeOwned + Send + Sync + 'static,
    R: KeyResolver,
{
    pub(crate) fn new(
        resolver: R,
        rules: Rules,
        checks: Vec<ClaimCheck<T>>,
        revocation: Option<Arc<dyn RevocationStore>>,
        cache: Option<TokenCache<T>>,
        dpop: DpopPolicy,
        introspectors: Introspectors,
    ) -> Self {
        Validator {
            inner: Arc::new(Inner {
                resolver,
                rules,
                checks,
                revocation,
                cache,
                dpop,
                introspectors,
                meters: Meters::default(),
                _claims: PhantomData,
            }),
        }
    }

    /// Validates a token (the bare JWS, no `Bearer ` prefix) and returns its claims.
    ///
    /// A token with no request has no DPoP proof: a DPoP-bound token (`cnf.jkt`) is
    /// refused here, as is any token when DPoP is required.
    pub async fn validate(&self, token: &str) -> Result<Claims<T>, AuthError> {
        let presented = Presented {
            token: Candidate::Text(token),
            scheme: Scheme::Bearer,
        };
        match self.check(presented, None) {
            Verdict::Done(result) => result,
            Verdict::Pending(pending) => pending.await,
        }
    }

    /// The resolver.
    pub fn resolver(&self) -> &R {
        &self.inner.resolver
    }

    pub(crate) fn meters(&self) -> &Meters {
        &self.inner.meters
    }

    pub(crate) fn dpop_mode(&self) -> DpopMode {
        self.inner.dpop.mode
    }

    /// The pipeline, as far as it goes without waiting: a ready key future and ready
    /// store answers are polled in place, so static keys finish here. `target` is the
    /// request the token came with, which a DPoP proof must be for.
    pub(crate) fn check(
        &self,
        presented: Presented<'_>,
        target: Option<Target<'_>>,
    ) -> Verdict<T, R> {
        let token = presented.token;
        if let Err(error) = self.inner.rules.check_size(token.bytes()) {
            return Verdict::Done(settle(Err(error)));
        }
        let proof = match self.proof(presented, target) {
            Ok(proof) => proof,
            Err(error) => return Verdict::Done(settle(Err(error))),
        };
        #[cfg(feature = "introspection")]
        if self.introspects()
            && let Ok(text) = token.scan()
            && is_opaque(text)
        {
            return self.check_opaque(text, proof);
        }
        if let Some(hit) = self.cached(token.bytes()) {
            return self.after_verification(None, hit, proof);
        }
        let token = match token.scan() {
            Ok(token) => token,
            Err(error) => return Verdict::Done(settle(Err(error))),
        };
        let (mut key, meta) = match self.start(token) {
            Ok(started) => started,
            Err(error) => return Verdict::Done(settle(Err(error))),
        };
        match poll_once(&mut key) {
            Poll::Ready(key) => match self.verify(token, meta, key) {
                Ok(claims) => self.after_verification(Some(token), claims, proof),
                Err(error) => Verdict::Done(settle(Err(error))),
            },
            Poll::Pending => {
                Verdict::Pending(PendingCheck::key(self.clone(), token, key, meta, proof))
            }
        }
    }

    /// RFC 9449 §4.3: the request's one `DPoP` proof, checked for this request and token,
    /// when the token came with the `DPoP` scheme (which only a layer with DPoP on reads).
    fn proof(
        &self,
        presented: Presented<'_>,
        target: Option<Target<'_>>,
    ) -> Result<Option<VerifiedProof>, AuthError> {
        let (Scheme::Dpop, Some(target)) = (presented.scheme, target) else {
            return Ok(None);
        };
        let mut proofs = target.headers.get_all(DPOP).iter();
        let proof = proofs.next().ok_or(reason::NO_PROOF)?;
        if proofs.next().is_some() {
            return Err(reason::TWO_PROOFS);
        }
        let token = presented.token.bytes();
        dpop::verify(
            &self.inner.dpop.rules,
            proof.as_bytes(),
            target,
            token,
            now(),
        )
        .map(Some)
    }

    /// The steps after the signature: the DPoP binding, then the stores (revocation, proof
    /// replay), answered at once or left to a [`PendingCheck`]. `fresh` is the token of
    /// claims just verified (`None` for a cache hit), for [`Self::accept`].
    pub(super) fn after_verification(
        &self,
        fresh: Option<&str>,
        claims: Claims<T>,
        proof: Option<VerifiedProof>,
    ) -> Verdict<T, R> {
        let binding = self
            .inner
            .dpop
            .check_binding(claims.dpop_thumbprint(), proof.as_ref());
        if let Err(error) = binding {
            return Verdict::Done(settle(Err(error.with_token(claims.alg(), claims.kid()))));
        }
        let mut lookup = match self.store_lookup(&claims, proof.as_ref()) {
            Lookup::Answered(Ok(())) => return Verdict::Done(Ok(self.accept(fresh, claims))),
            Lookup::Answered(Err(error)) => return Verdict::Done(settle(Err(error))),
            Lookup::Waiting(lookup) => lookup,
        };
        match poll_once(&mut lookup) {
            Poll::Ready(Ok(())) => Verdict::Done(Ok(self.accept(fresh, claims))),
            Poll::Ready(Err(error)) => Verdict::Done(settle(Err(error))),
            Poll::Pending => Verdict::Pending(PendingCheck::revocation(
                self.clone(),
                fresh,
                lookup,
                claims,
            )),
        }
    }

    /// A token this validator accepted before, if it is in the cache and still good:
    /// inside `exp`/`nbf` (with leeway), verified by a key the resolver still returns, and
    /// passing the claim checks again (they may read changing state, such as a
    /// disabled-user list). Anything else is a miss, and the full check gives the answer.
    fn cached(&self, token: &[u8]) -> Option<Claims<T>> {
        let cache = self.inner.cache.as_ref()?;
        let Some(claims) = cache.get(token, |shared| self.copy_claims(token, shared)) else {
            self.inner.meters.cache(false);
            return None;
        };
        let key = claims.verified_by()?;
        let registered = claims.registered();
        let header = TokenHeader::new(claims.alg()?, claims.kid());
        let resolver = &self.inner.resolver;
        let good = self.inner.rules.check_time(registered, now()).is_ok()
            && if resolver.wants_issuer() {
                let routed = header.with_unverified_issuer(registered.iss.as_deref());
                resolver.is_current(&routed, key)
            } else {
                resolver.is_current(&header, key)
            }
            && self.run_checks(&claims).is_ok();
        if good {
            self.inner.meters.cache(true);
            Some(claims)
        } else {
            self.inner.meters.cache(false);
            cache.remove(token);
            None
        }
    }

    /// Claims of this thread's own for a cached token: its payload decoded again (the
    /// cached entry vouches for the signature), with the entry's `alg`, `kid` and key.
    fn copy_claims(&self, token: &[u8], shared: &Claims<T>) -> Option<Claims<T>> {
        let token = std::str::from_utf8(token).ok()?;
        let parts = Parts::split(token).ok()?;
        let (custom, mut registered) = with_decoded(parts.payload, |json| {
            Ok((decode_custom(json)?, decode_registered(json)?))
        })
        .ok()?;
        // The roles were read when the token was verified: shared, not read again.
        registered.roles = shared.registered().roles.clone();
        let kid = shared.kid().map(Box::from);
        let key = shared.verified_by().cloned();
        Some(Claims::from_parts(
            custom,
            registered,
            shared.alg(),
            kid,
            key,
        ))
    }

    /// Everything that needs no key: shape, header, `alg`, `typ`; then asks the resolver.
    fn start(&self, token: &str) -> Result<(R::Future, TokenMeta), AuthError> {
        let parts = Parts::split(token)?;
        with_decoded(parts.header, |json| {
            let header = TokenHeader::parse(json)?;
            self.inner
                .rules
                .check_header(&header)
                .map_err(|e| e.with_token(header.alg(), header.kid()))?;
            let resolver = &self.inner.resolver;
            let (key, routed_issuer) = if resolver.wants_issuer() {
                with_decoded(parts.payload, |payload| {
                    let iss = from_object::<Issuer<'_>>(payload).ok().and_then(|p| p.iss);
                    let key = resolver.resolve(&header.with_unverified_issuer(iss.as_deref()));
                    Ok((key, iss.map(Box::from)))
                })
                .map_err(|e| e.with_token(header.alg(), header.kid()))?
            } else {
                (resolver.resolve(&header), None)
            };
            let meta = TokenMeta {
                split: parts.ends(),
                alg: header.alg(),
                kid: header.kid_owned(),
                routed_issuer,
            };
            Ok((key, meta))
        })
    }

    /// Everything that needs the key: signature, claims, your claim checks.
    fn verify(
        &self,
        token: &str,
        meta: TokenMeta,
        key: Result<Arc<VerificationKey>, KeyError>,
    ) -> Result<Claims<T>, AuthError> {
        let TokenMeta {
            split,
            alg,
            kid,
            routed_issuer,
        } = meta;
        let (custom, registered, key) = self
            .verify_signed(Parts::at(token, split), alg, routed_issuer.as_deref(), key)
            .map_err(|e| e.with_token(alg, kid.as_deref()))?;
        let claims = Claims::from_parts(custom, registered, Some(alg), kid, Some(key));
        self.run_checks(&claims)
            .map_err(|e| e.with_token(alg, claims.kid()))?;
        Ok(claims)
    }

    fn verify_signed(
        &self,
        parts: Parts<'_>,
        alg: Algorithm,
        routed_issuer: Option<&str>,
        key: Result<Arc<VerificationKey>, KeyError>,
    ) -> Result<(T, RegisteredClaims, Arc<VerificationKey>), AuthError> {
        let key = key.map_err(KeyError::into_auth_error)?;
        if !key.algorithms().contains(alg) {
            return Err(reason::ALG_NOT_ALLOWED);
        }
        parts.verify(alg, &key)?;
        with_decoded(parts.payload, |json| {
            // Registered claims and scopes in one pass (checked before your type is
            // built), then your type `T`.
            let mut registered = decode_registered(json)?;
            self.inner.rules.check_claims(&registered, now())?;
            registered.roles = self.inner.rules.roles_claim.read(json);
            if routed_issuer.is_some() && registered.iss.as_deref() != routed_issuer {
                return Err(reason::ISSUER_NOT_ROUTED);
            }
            Ok((decode_custom(json)?, registered, key))
        })
    }

    fn run_checks(&self, claims: &Claims<T>) -> Result<(), AuthError> {
        if self.inner.checks.iter().all(|check| check(claims)) {
            Ok(())
        } else {
            Err(reason::CLAIM_CHECK_FAILED)
        }
    }

    /// The end of the pipeline for an accepted token: the token of fresh claims goes to
    /// the cache (only now, so a revoked or refused token is never cached).
    fn accept(&self, fresh: Option<&str>, claims: Claims<T>) -> Claims<T> {
        if let (Some(cache), Some(token)) = (&self.inner.cache, fresh) {
            cache.admit(token, &claims);
        }
        claims
    }
}

/// The registered claims (and scopes) of a payload, in one pass.
fn decode_registered(json: &[u8]) -> Result<RegisteredClaims, AuthError> {
    from_object(json).map_err(|e| match e {
        JsonError::NotAnObject => reason::CLAIMS_NOT_OBJECT,
        JsonError::Shape => reason::REGISTERED_CLAIM_TYPE,
    })
}

/// Your claims type from a payload.
fn decode_custom<T: DeserializeOwned>(json: &[u8]) -> Result<T, AuthError> {
    serde_json::from_slice(json).map_err(|_| reason::CLAIMS_SHAPE)
}

/// Every verdict leaves the validator through here: a refusal is traced once.
fn settle<T>(result: Result<Claims<T>, AuthError>) -> Result<Claims<T>, AuthError> {
    result.map_err(trace)
}

/// Polls a future once, with a waker that does nothing: for futures that are usually
/// ready at once (static keys, an in-memory store); a pending one is kept and awaited.
fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

/// The request header that carries a DPoP proof (RFC 9449 §4.1).
const DPOP: http::HeaderName = http::HeaderName::from_static("dpop");

/// The payload's `iss` alone, borrowed, for issuer routing.
#[derive(Deserialize)]
struct Issuer<'a> {
    #[serde(borrow, default)]
    iss: Option<Cow<'a, str>>,
}

impl<T, R> Clone for Validator<T, R> {
    fn clone(&self) -> Self {
        Validator {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T, R: fmt::Debug> fmt::Debug for Validator<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("resolver", &self.inner.resolver)
            .field("rules", &self.inner.rules)
            .field("claim_checks", &self.inner.checks.len())
            .field("revocation", &self.inner.revocation.is_some())
            .field("cache", &self.inner.cache.is_some())
            .field("dpop", &self.inner.dpop)
            .finish()
    }
}
