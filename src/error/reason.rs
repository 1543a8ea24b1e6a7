//! Every refusal the crate makes, as a constant: its kind and its `error_description`.
//!
//! The descriptions stand inside a quoted `error_description` (RFC 6750 §3); each constant
//! goes through [`AuthError::fixed`], which fails the build if one holds a `"` or `\`.
//! None of them says anything the token contains.

use super::{AuthError, ErrorKind};

// The request (400 invalid_request, or 401 without `error` when there is no token).
pub(crate) const NO_TOKEN: AuthError = AuthError::fixed(ErrorKind::MissingToken, "no token");
pub(crate) const TOKEN_IN_TWO_PLACES: AuthError = AuthError::fixed(
    ErrorKind::InvalidRequest,
    "token sent in more than one place",
);
pub(crate) const TWO_CREDENTIALS_HEADERS: AuthError = AuthError::fixed(
    ErrorKind::InvalidRequest,
    "more than one credentials header",
);
pub(crate) const EMPTY_TOKEN: AuthError =
    AuthError::fixed(ErrorKind::InvalidRequest, "bearer token is empty");
pub(crate) const NOT_B64TOKEN: AuthError =
    AuthError::fixed(ErrorKind::InvalidRequest, "token is not a valid b64token");
pub(crate) const HEADER_NOT_VISIBLE_ASCII: AuthError = AuthError::fixed(
    ErrorKind::InvalidRequest,
    "credentials header is not visible ASCII",
);
pub(crate) const TOKEN_NOT_ASCII: AuthError =
    AuthError::fixed(ErrorKind::InvalidRequest, "token is not ASCII");

// The compact JWS and its header (401 invalid_token).
pub(crate) const TOO_LARGE: AuthError = AuthError::fixed(ErrorKind::TooLarge, "token is too large");
pub(crate) const NOT_COMPACT_JWS: AuthError =
    AuthError::fixed(ErrorKind::Malformed, "token is not a compact JWS");
pub(crate) const NOT_BASE64URL: AuthError =
    AuthError::fixed(ErrorKind::Malformed, "token is not valid base64url");
pub(crate) const HEADER_NOT_JSON: AuthError =
    AuthError::fixed(ErrorKind::Malformed, "token header is not valid JSON");
pub(crate) const UNSUPPORTED_CRIT: AuthError = AuthError::fixed(
    ErrorKind::UnsupportedCritical,
    "token header lists an unsupported critical extension",
);
pub(crate) const ALG_NOT_ALLOWED: AuthError = AuthError::fixed(
    ErrorKind::AlgorithmNotAllowed,
    "token algorithm is not allowed",
);
pub(crate) const TYPE_NOT_ACCEPTED: AuthError =
    AuthError::fixed(ErrorKind::InvalidType, "token type is not accepted");

// The key and the signature.
pub(crate) const UNKNOWN_KEY: AuthError =
    AuthError::fixed(ErrorKind::UnknownKey, "no key matches the token");
pub(crate) const KEY_UNAVAILABLE: AuthError =
    AuthError::fixed(ErrorKind::KeyUnavailable, "key source unavailable");
pub(crate) const BAD_SIGNATURE: AuthError =
    AuthError::fixed(ErrorKind::InvalidSignature, "token signature is invalid");

// The claims.
pub(crate) const CLAIMS_NOT_OBJECT: AuthError =
    AuthError::fixed(ErrorKind::InvalidClaims, "claims are not a JSON object");
pub(crate) const REGISTERED_CLAIM_TYPE: AuthError = AuthError::fixed(
    ErrorKind::InvalidClaims,
    "a registered claim has the wrong type",
);
pub(crate) const CLAIMS_SHAPE: AuthError = AuthError::fixed(
    ErrorKind::InvalidClaims,
    "claims do not have the expected shape",
);
/// Indexed like `rules::Required::NAMES`.
pub(crate) const MISSING_CLAIM: [AuthError; 8] = [
    AuthError::fixed(ErrorKind::MissingClaim, "token has no exp claim"),
    AuthError::fixed(ErrorKind::MissingClaim, "token has no nbf claim"),
    AuthError::fixed(ErrorKind::MissingClaim, "token has no iat claim"),
    AuthError::fixed(ErrorKind::MissingClaim, "token has no iss claim"),
    AuthError::fixed(ErrorKind::MissingClaim, "token has no aud claim"),
    AuthError::fixed(ErrorKind::MissingClaim, "token has no sub claim"),
    AuthError::fixed(ErrorKind::MissingClaim, "token has no jti claim"),
    AuthError::fixed(ErrorKind::MissingClaim, "token has no sid claim"),
];
pub(crate) const EXPIRED: AuthError = AuthError::fixed(ErrorKind::Expired, "token has expired");
pub(crate) const NOT_YET_VALID: AuthError =
    AuthError::fixed(ErrorKind::NotYetValid, "token is not valid yet");
pub(crate) const ISSUER_NOT_ACCEPTED: AuthError =
    AuthError::fixed(ErrorKind::InvalidIssuer, "token issuer is not accepted");
pub(crate) const ISSUER_NOT_ROUTED: AuthError = AuthError::fixed(
    ErrorKind::InvalidIssuer,
    "token issuer is not the one its key belongs to",
);
pub(crate) const AUDIENCE_NOT_ACCEPTED: AuthError =
    AuthError::fixed(ErrorKind::InvalidAudience, "token audience is not accepted");
pub(crate) const LACKS_SCOPE: AuthError =
    AuthError::fixed(ErrorKind::InsufficientScope, "token lacks a required scope");
pub(crate) const LACKS_ROLE: AuthError =
    AuthError::fixed(ErrorKind::InsufficientScope, "token lacks a required role");
pub(crate) const REFUSED_BY_HOOK: AuthError = AuthError::fixed(
    ErrorKind::RefusedByHook,
    "token was refused by the application",
);
pub(crate) const HOOK_UNAVAILABLE: AuthError = AuthError::fixed(
    ErrorKind::HookUnavailable,
    "the application cannot check this token now",
);
pub(crate) const INACTIVE: AuthError = AuthError::fixed(ErrorKind::Inactive, "token is not active");
pub(crate) const INTROSPECTION_UNAVAILABLE: AuthError = AuthError::fixed(
    ErrorKind::IntrospectionUnavailable,
    "token introspection is unavailable",
);
pub(crate) const CLAIM_CHECK_FAILED: AuthError = AuthError::fixed(
    ErrorKind::ClaimCheckFailed,
    "token does not grant this access",
);

// Revocation.
pub(crate) const REVOKED: AuthError =
    AuthError::fixed(ErrorKind::Revoked, "token has been revoked");
#[cfg(feature = "issue")]
pub(crate) const SESSION_REVOKED: AuthError =
    AuthError::fixed(ErrorKind::Revoked, "session has been revoked");
#[cfg(feature = "issue")]
pub(crate) const REFRESH_REUSED: AuthError =
    AuthError::fixed(ErrorKind::Revoked, "refresh token reused: session revoked");

// Refresh and revocation at the issuer.
#[cfg(feature = "issue")]
pub(crate) const NOT_A_REFRESH_TOKEN: AuthError =
    AuthError::fixed(ErrorKind::InvalidType, "not a refresh token");
#[cfg(feature = "issue")]
pub(crate) const REFRESH_LACKS_IDS: AuthError = AuthError::fixed(
    ErrorKind::MissingClaim,
    "refresh token lacks sub, sid or exp",
);
#[cfg(feature = "issue")]
pub(crate) const LACKS_JTI_OR_EXP: AuthError =
    AuthError::fixed(ErrorKind::MissingClaim, "token lacks jti or exp");
#[cfg(feature = "issue")]
pub(crate) const LACKS_SID: AuthError =
    AuthError::fixed(ErrorKind::MissingClaim, "token lacks sid");
pub(crate) const REVOCATION_UNAVAILABLE: AuthError = AuthError::fixed(
    ErrorKind::RevocationUnavailable,
    "revocation store unavailable",
);

// DPoP proofs (RFC 9449 §4.3; 401 invalid_dpop_proof).
pub(crate) const NO_PROOF: AuthError =
    AuthError::fixed(ErrorKind::InvalidDpopProof, "no DPoP proof");
pub(crate) const TWO_PROOFS: AuthError =
    AuthError::fixed(ErrorKind::InvalidDpopProof, "more than one DPoP proof");
pub(crate) const PROOF_TOO_LARGE: AuthError =
    AuthError::fixed(ErrorKind::InvalidDpopProof, "DPoP proof is too large");
pub(crate) const PROOF_MALFORMED: AuthError = AuthError::fixed(
    ErrorKind::InvalidDpopProof,
    "DPoP proof is not a well-formed JWT",
);
pub(crate) const PROOF_CRIT: AuthError = AuthError::fixed(
    ErrorKind::InvalidDpopProof,
    "DPoP proof lists an unsupported critical extension",
);
pub(crate) const PROOF_TYP: AuthError = AuthError::fixed(
    ErrorKind::InvalidDpopProof,
    "DPoP proof typ is not dpop+jwt",
);
pub(crate) const PROOF_ALG: AuthError = AuthError::fixed(
    ErrorKind::InvalidDpopProof,
    "DPoP proof algorithm is not allowed",
);
pub(crate) const PROOF_NO_JWK: AuthError =
    AuthError::fixed(ErrorKind::InvalidDpopProof, "DPoP proof has no jwk");
pub(crate) const PROOF_JWK_INVALID: AuthError = AuthError::fixed(
    ErrorKind::InvalidDpopProof,
    "DPoP proof jwk is not a usable key",
);
pub(crate) const PROOF_JWK_PRIVATE: AuthError = AuthError::fixed(
    ErrorKind::InvalidDpopProof,
    "DPoP proof jwk holds a private key",
);
pub(crate) const PROOF_JWK_NOT_ASYMMETRIC: AuthError = AuthError::fixed(
    ErrorKind::InvalidDpopProof,
    "DPoP proof jwk is not an asymmetric key",
);
pub(crate) const PROOF_SIGNATURE: AuthError = AuthError::fixed(
    ErrorKind::InvalidDpopProof,
    "DPoP proof signature is invalid",
);
pub(crate) const PROOF_NO_JTI: AuthError =
    AuthError::fixed(ErrorKind::InvalidDpopProof, "DPoP proof has no jti");
pub(crate) const PROOF_HTM: AuthError = AuthError::fixed(
    ErrorKind::InvalidDpopProof,
    "DPoP proof htm is not the request method",
);
pub(crate) const PROOF_HTU: AuthError = AuthError::fixed(
    ErrorKind::InvalidDpopProof,
    "DPoP proof htu is not the request URI",
);
pub(crate) const PROOF_NO_IAT: AuthError =
    AuthError::fixed(ErrorKind::InvalidDpopProof, "DPoP proof has no iat");
pub(crate) const PROOF_IAT: AuthError = AuthError::fixed(
    ErrorKind::InvalidDpopProof,
    "DPoP proof iat is outside the accepted window",
);
pub(crate) const PROOF_ATH: AuthError = AuthError::fixed(
    ErrorKind::InvalidDpopProof,
    "DPoP proof ath does not match the access token",
);
pub(crate) const PROOF_REPLAYED: AuthError = AuthError::fixed(
    ErrorKind::InvalidDpopProof,
    "DPoP proof has been used before",
);
pub(crate) const USE_DPOP_NONCE: AuthError = AuthError::fixed(
    ErrorKind::UseDpopNonce,
    "DPoP proof needs the nonce this server provides",
);
pub(crate) const REPLAY_UNAVAILABLE: AuthError = AuthError::fixed(
    ErrorKind::ReplayCheckUnavailable,
    "DPoP replay store unavailable",
);

// The token's binding (RFC 9449 §7; 401 invalid_token).
pub(crate) const DPOP_NOT_ACCEPTED: AuthError = AuthError::fixed(
    ErrorKind::InvalidDpopBinding,
    "DPoP-bound tokens are not accepted here",
);
pub(crate) const DPOP_KEY_MISMATCH: AuthError = AuthError::fixed(
    ErrorKind::InvalidDpopBinding,
    "DPoP proof key is not the key the token is bound to",
);
pub(crate) const DPOP_BOUND_AS_BEARER: AuthError = AuthError::fixed(
    ErrorKind::InvalidDpopBinding,
    "DPoP-bound token must be sent with the DPoP scheme and a proof",
);
pub(crate) const DPOP_TOKEN_NOT_BOUND: AuthError = AuthError::fixed(
    ErrorKind::InvalidDpopBinding,
    "token sent with the DPoP scheme is not DPoP-bound",
);
pub(crate) const DPOP_REQUIRED: AuthError = AuthError::fixed(
    ErrorKind::InvalidDpopBinding,
    "a DPoP-bound token is required",
);

/// The description [`AuthError::new`] gives each kind.
pub(crate) fn standard(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::MissingToken => NO_TOKEN,
        ErrorKind::InvalidRequest => {
            AuthError::fixed(ErrorKind::InvalidRequest, "malformed request")
        }
        ErrorKind::TooLarge => TOO_LARGE,
        ErrorKind::Malformed => NOT_COMPACT_JWS,
        ErrorKind::AlgorithmNotAllowed => ALG_NOT_ALLOWED,
        ErrorKind::UnsupportedCritical => UNSUPPORTED_CRIT,
        ErrorKind::InvalidType => TYPE_NOT_ACCEPTED,
        ErrorKind::UnknownKey => UNKNOWN_KEY,
        ErrorKind::InvalidSignature => BAD_SIGNATURE,
        ErrorKind::InvalidClaims => CLAIMS_SHAPE,
        ErrorKind::MissingClaim => {
            AuthError::fixed(ErrorKind::MissingClaim, "token lacks a required claim")
        }
        ErrorKind::Expired => EXPIRED,
        ErrorKind::NotYetValid => NOT_YET_VALID,
        ErrorKind::InvalidIssuer => ISSUER_NOT_ACCEPTED,
        ErrorKind::InvalidAudience => AUDIENCE_NOT_ACCEPTED,
        ErrorKind::InsufficientScope => LACKS_SCOPE,
        ErrorKind::ClaimCheckFailed => CLAIM_CHECK_FAILED,
        ErrorKind::KeyUnavailable => KEY_UNAVAILABLE,
        ErrorKind::Revoked => REVOKED,
        ErrorKind::RevocationUnavailable => REVOCATION_UNAVAILABLE,
        ErrorKind::InvalidDpopProof => PROOF_MALFORMED,
        ErrorKind::InvalidDpopBinding => DPOP_BOUND_AS_BEARER,
        ErrorKind::UseDpopNonce => USE_DPOP_NONCE,
        ErrorKind::ReplayCheckUnavailable => REPLAY_UNAVAILABLE,
        ErrorKind::RefusedByHook => REFUSED_BY_HOOK,
        ErrorKind::HookUnavailable => HOOK_UNAVAILABLE,
        ErrorKind::Inactive => INACTIVE,
        ErrorKind::IntrospectionUnavailable => INTROSPECTION_UNAVAILABLE,
    }
    .description
}
