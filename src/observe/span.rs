//! The request's span: `jwt_auth`, at debug level like tower-http's, with the outcome,
//! `reason`, `alg`, `kid`, `iss` and a hash of `sub`. Never the token; never `sub` itself,
//! which is often an e-mail address.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};
use tracing::field::Empty;

use crate::claims::Claims;
use crate::error::AuthError;

pub(super) fn start() -> tracing::Span {
    // No subscriber ever set: no span. (Made anyway, a span would be offered to the `log`
    // crate, which some dependency's feature may have turned on: 100 instructions.)
    if !tracing::dispatcher::has_been_set() {
        return tracing::Span::none();
    }
    tracing::debug_span!(
        "jwt_auth",
        outcome = Empty,
        reason = Empty,
        alg = Empty,
        kid = Empty,
        iss = Empty,
        sub = Empty,
    )
}

pub(super) fn accepted<T>(span: &tracing::Span, claims: &Claims<T>) {
    if span.is_disabled() {
        return;
    }
    span.record("outcome", "accepted");
    if let Some(alg) = claims.alg() {
        span.record("alg", tracing::field::debug(alg));
    }
    if let Some(kid) = claims.kid() {
        span.record("kid", kid);
    }
    let registered = claims.registered();
    if let Some(iss) = &registered.iss {
        span.record("iss", iss.as_str());
    }
    if let Some(sub) = &registered.sub {
        span.record("sub", hashed(sub).as_str());
    }
}

pub(super) fn rejected(span: &tracing::Span, error: &AuthError) {
    if span.is_disabled() {
        return;
    }
    span.record("outcome", "rejected");
    span.record("reason", error.kind().as_str());
    if let Some(alg) = error.alg() {
        span.record("alg", tracing::field::debug(alg));
    }
    if let Some(kid) = error.kid() {
        span.record("kid", kid);
    }
}

pub(super) fn anonymous(span: &tracing::Span) {
    span.record("outcome", "anonymous");
}

/// The first 8 bytes of SHA-256 of `sub`, in hex: the same user correlates across
/// traces, and the value is not the identifier itself.
pub(crate) fn hashed(sub: &str) -> String {
    let digest = Sha256::digest(sub.as_bytes());
    let mut hex = String::with_capacity(16);
    for byte in &digest[..8] {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}
