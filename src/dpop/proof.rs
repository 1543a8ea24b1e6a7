//! One DPoP proof checked against its request: RFC 9449 §4.3, one step per check, in the
//! RFC's order. What binds the proof to the token's `cnf.jkt` comes later, once the token
//! is verified.

use std::borrow::Cow;

use jsonwebtoken::{Algorithm, AlgorithmFamily};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::htu::Origin;
use super::jwk::{Digest43, proof_key};
use super::nonce::Nonces;
use crate::error::{AuthError, ErrorKind, reason};
use crate::header::{present, typ_matches};
use crate::json::from_object;
use crate::jws::{Parts, with_decoded};
use crate::key::AlgorithmSet;
use crate::trusted_proxies::{Forwarded, TrustedProxies};

/// Proofs larger than this are refused before any decoding: an RSA-4096 proof is under
/// 3 KiB.
pub(crate) const MAX_PROOF_SIZE: usize = 8 * 1024;

/// What a proof is checked against, fixed at build time.
#[derive(Debug, Clone)]
pub(crate) struct ProofRules {
    /// Asymmetric algorithms only: the builder refuses HMAC.
    pub(crate) algorithms: AlgorithmSet,
    /// How far `iat` may be from now, either side, in seconds.
    pub(crate) window: u64,
    /// The configured resource URL; `None` uses the request's own `Host`, or what a
    /// trusted proxy forwarded.
    pub(crate) origin: Option<Origin>,
    /// The proxies whose `X-Forwarded-Proto` and `X-Forwarded-Host` are believed.
    pub(crate) proxies: Option<TrustedProxies>,
    /// Server nonces, when configured: every proof must carry a current one.
    pub(crate) nonces: Option<Nonces>,
}

/// The request a proof must be for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'r> {
    pub(crate) method: &'r http::Method,
    pub(crate) uri: &'r http::Uri,
    pub(crate) headers: &'r http::HeaderMap,
    /// Where the peer address is, for [`TrustedProxies`].
    pub(crate) extensions: &'r http::Extensions,
}

/// A proof that passed every check that does not need the token's claims.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VerifiedProof {
    /// The proof key's RFC 7638 thumbprint, to compare with the token's `cnf.jkt`.
    pub(crate) thumbprint: Digest43,
    /// The replay store's id for this proof: thumbprint and `jti` digested together.
    pub(crate) replay_id: Digest43,
    /// When the proof stops being acceptable: `iat` + the window, plus one second.
    pub(crate) until: u64,
}

#[derive(Deserialize)]
struct ProofHeader<'a> {
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    jwk: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

#[derive(Deserialize)]
struct ProofClaims<'a> {
    #[serde(borrow, default)]
    jti: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    htm: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    htu: Option<Cow<'a, str>>,
    #[serde(default)]
    iat: Option<f64>,
    #[serde(borrow, default)]
    ath: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    nonce: Option<Cow<'a, str>>,
}

/// Checks `proof` (the one `DPoP` header's value) for `target`, presented with `token`.
pub(crate) fn verify(
    rules: &ProofRules,
    proof: &[u8],
    target: Target<'_>,
    token: &[u8],
    now: u64,
) -> Result<VerifiedProof, AuthError> {
    // §4.3 check 2: a single well-formed JWT.
    if proof.len() > MAX_PROOF_SIZE {
        return Err(reason::PROOF_TOO_LARGE);
    }
    let proof = std::str::from_utf8(proof).map_err(|_| reason::PROOF_MALFORMED)?;
    let parts = Parts::split(proof).map_err(|_| reason::PROOF_MALFORMED)?;
    let (key, alg) = with_decoded(parts.header, |json| {
        // Checks 3–5 and 7: required header members, `typ`, `alg`, a public `jwk`.
        let header: ProofHeader<'_> = from_object(json).map_err(|_| reason::PROOF_MALFORMED)?;
        if header.crit {
            return Err(reason::PROOF_CRIT);
        }
        if !header
            .typ
            .as_deref()
            .is_some_and(|typ| typ_matches(typ, "dpop+jwt"))
        {
            return Err(reason::PROOF_TYP);
        }
        let alg = header
            .alg
            .as_deref()
            .and_then(|alg| alg.parse::<Algorithm>().ok())
            .filter(|alg| alg.family() != AlgorithmFamily::Hmac && rules.algorithms.contains(*alg))
            .ok_or(reason::PROOF_ALG)?;
        let jwk = header.jwk.ok_or(reason::PROOF_NO_JWK)?;
        Ok((proof_key(jwk.get())?, alg))
    })
    .map_err(as_proof_error)?;
    // Check 6: the signature, by the key in the proof, with an algorithm that key allows.
    if !key.key.algorithms().contains(alg) {
        return Err(reason::PROOF_ALG);
    }
    parts
        .verify(alg, &key.key)
        .map_err(|_| reason::PROOF_SIGNATURE)?;
    with_decoded(parts.payload, |json| {
        let claims: ProofClaims<'_> = from_object(json).map_err(|_| reason::PROOF_MALFORMED)?;
        let jti = claims
            .jti
            .filter(|jti| !jti.is_empty())
            .ok_or(reason::PROOF_NO_JTI)?;
        // Check 8: the method, exactly.
        if claims.htm.as_deref() != Some(target.method.as_str()) {
            return Err(reason::PROOF_HTM);
        }
        // Check 9: the URI, without query and fragment.
        let htu = claims.htu.ok_or(reason::PROOF_HTU)?;
        let htu_ok = match &rules.origin {
            Some(origin) => origin.matches(&htu, target.uri.path()),
            None => request_origin(rules.proxies.as_ref(), target)
                .is_some_and(|origin| origin.matches(&htu, target.uri.path())),
        };
        if !htu_ok {
            return Err(reason::PROOF_HTU);
        }
        // Check 10: a nonce of ours, recent; without one the client is given one to retry.
        if let Some(nonces) = &rules.nonces
            && !claims
                .nonce
                .as_deref()
                .is_some_and(|nonce| nonces.accepts(nonce, now))
        {
            return Err(reason::USE_DPOP_NONCE.with_dpop_nonce(nonces.current(now)));
        }
        // Check 11: recent, either side of now.
        let iat = claims.iat.ok_or(reason::PROOF_NO_IAT)?;
        let (earliest, latest) = (
            now.saturating_sub(rules.window) as f64,
            now.saturating_add(rules.window) as f64,
        );
        if !(earliest..=latest + 0.999).contains(&iat) {
            return Err(reason::PROOF_IAT);
        }
        // Check 12: `ath`, the access token's hash.
        let ath = Digest43::of(&[token]);
        if claims.ath.as_deref() != Some(ath.as_str()) {
            return Err(reason::PROOF_ATH);
        }
        Ok(VerifiedProof {
            thumbprint: key.thumbprint,
            replay_id: Digest43::of(&[key.thumbprint.as_str().as_bytes(), b".", jti.as_bytes()]),
            until: (iat as u64).saturating_add(rules.window + 1),
        })
    })
    .map_err(as_proof_error)
}

/// The origin the request was sent to, as far as the server can tell: a trusted proxy's
/// forwarded scheme and host, else the request's own URI and `Host`.
fn request_origin(proxies: Option<&TrustedProxies>, target: Target<'_>) -> Option<Origin> {
    let forwarded = match proxies {
        Some(proxies) => proxies.forwarded(target.headers, target.extensions),
        None => Forwarded::Untrusted,
    };
    Origin::of_target(target.uri, target.headers, forwarded)
}

/// A base64url or JSON error inside a proof is the proof's, not the token's.
fn as_proof_error(error: AuthError) -> AuthError {
    if matches!(
        error.kind(),
        ErrorKind::InvalidDpopProof | ErrorKind::UseDpopNonce
    ) {
        error
    } else {
        reason::PROOF_MALFORMED
    }
}
