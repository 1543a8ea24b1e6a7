//! DPoP, sender-constrained access tokens (RFC 9449): a token whose `cnf.jkt` names a key
//! is accepted only with `Authorization: DPoP <token>` and a `DPoP` proof signed by that
//! key, for this request's method and URI, recent, carrying the token's hash, used once.
//!
//! The layer does this itself; configure it on the builder:
//! [`dpop`](crate::JwtAuthBuilder::dpop) ([`DpopMode`], default
//! [`Allowed`](DpopMode::Allowed)), [`dpop_algorithms`](crate::JwtAuthBuilder::dpop_algorithms),
//! [`dpop_proof_window`](crate::JwtAuthBuilder::dpop_proof_window),
//! [`dpop_replay_store`](crate::JwtAuthBuilder::dpop_replay_store),
//! [`dpop_nonces`](crate::JwtAuthBuilder::dpop_nonces), and
//! [`resource`](crate::JwtAuthBuilder::resource), the URL `htu` is checked against.
//!
//! ```
//! use tower_jwt_auth::dpop::DpopMode;
//! use tower_jwt_auth::{Algorithm, JwtAuthLayer, StaticKey};
//!
//! let auth = JwtAuthLayer::<serde_json::Value>::builder(StaticKey::hmac(Algorithm::HS256, &[7; 32])?)
//!     .algorithms([Algorithm::HS256])
//!     .resource("https://api.example.com")
//!     .dpop(DpopMode::Required)
//!     .build()?;
//! # let _ = auth;
//! # Ok::<(), tower_jwt_auth::ConfigError>(())
//! ```
//!
//! What a handler learns: [`Claims::dpop_thumbprint`](crate::Claims::dpop_thumbprint) is
//! the key the request proved it holds, for a bound token; `None` for a bearer token.

mod htu;
mod jwk;
mod nonce;
mod proof;
mod replay;

use std::sync::Arc;

use jsonwebtoken::Algorithm;

pub(crate) use htu::Origin;
pub use jwk::jwk_thumbprint;
pub(crate) use nonce::Nonces;
pub(crate) use proof::{ProofRules, Target, VerifiedProof, verify};
pub use replay::{MemoryReplayStore, ReplayStore};

use crate::error::{AuthError, reason};
use crate::key::AlgorithmSet;
use crate::revocation::StoreError;
use crate::trusted_proxies::TrustedProxies;

/// How the layer treats DPoP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpopMode {
    /// The `DPoP` scheme is not recognised (a request using it has no token), and a token
    /// bound to a key (`cnf.jkt`) is refused, since nothing here could check the binding.
    Disabled,
    /// Bearer tokens work as without DPoP; a bound token must come with the `DPoP` scheme
    /// and a valid proof (RFC 9449 §7.2).
    #[default]
    Allowed,
    /// Every token must be DPoP-bound and presented with a proof; bearer tokens are refused.
    Required,
}

/// The algorithms proofs may use by default: every asymmetric one jsonwebtoken verifies.
pub(crate) const DEFAULT_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// The layer's DPoP configuration.
pub(crate) struct DpopPolicy {
    pub(crate) mode: DpopMode,
    pub(crate) rules: ProofRules,
    pub(crate) replay: Arc<dyn ReplayStore>,
}

impl DpopPolicy {
    pub(crate) fn new(
        mode: DpopMode,
        algorithms: AlgorithmSet,
        window: u64,
        origin: Option<Origin>,
        proxies: Option<TrustedProxies>,
        nonces: Option<Nonces>,
        replay: Arc<dyn ReplayStore>,
    ) -> Self {
        DpopPolicy {
            mode,
            rules: ProofRules {
                algorithms,
                window,
                origin,
                proxies,
                nonces,
            },
            replay,
        }
    }

    /// RFC 9449 §7.1–7.2, once the token is verified: its `cnf.jkt` against how it came.
    /// `proof` is the request's verified proof (`Authorization: DPoP`), `None` for any
    /// other way of sending a token.
    pub(crate) fn check_binding(
        &self,
        jkt: Option<&str>,
        proof: Option<&VerifiedProof>,
    ) -> Result<(), AuthError> {
        match (jkt, proof) {
            (Some(_), _) if self.mode == DpopMode::Disabled => Err(reason::DPOP_NOT_ACCEPTED),
            (Some(jkt), Some(proof)) if jkt == proof.thumbprint.as_str() => Ok(()),
            (Some(_), Some(_)) => Err(reason::DPOP_KEY_MISMATCH),
            (Some(_), None) => Err(reason::DPOP_BOUND_AS_BEARER),
            (None, Some(_)) => Err(reason::DPOP_TOKEN_NOT_BOUND),
            (None, None) if self.mode == DpopMode::Required => Err(reason::DPOP_REQUIRED),
            (None, None) => Ok(()),
        }
    }

    /// The proof's `jti`, spent: answered at once by an in-memory store, else a future.
    pub(crate) fn spend(
        &self,
        proof: &VerifiedProof,
    ) -> Result<
        Result<bool, StoreError>,
        futures_util::future::BoxFuture<'static, Result<bool, StoreError>>,
    > {
        let id = proof.replay_id.as_str();
        self.replay
            .first_use_now(id, proof.until)
            .ok_or_else(|| self.replay.first_use(id, proof.until))
    }
}

/// A replay store's answer as the pipeline's: seen before is 401, a store that failed 503.
pub(crate) fn replay_verdict(answer: Result<bool, StoreError>) -> Result<(), AuthError> {
    match answer {
        Ok(true) => Ok(()),
        Ok(false) => Err(reason::PROOF_REPLAYED),
        Err(e) => Err(reason::REPLAY_UNAVAILABLE
            .with_retry_after(std::time::Duration::from_secs(5))
            .with_source(e)),
    }
}

impl std::fmt::Debug for DpopPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopPolicy")
            .field("mode", &self.mode)
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}
