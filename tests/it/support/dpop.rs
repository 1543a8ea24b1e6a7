//! DPoP proofs made the way a client makes them (RFC 9449 §4.2), written from the RFC and
//! not from the crate: the key's public JWK from jsonwebtoken, its RFC 7638 thumbprint and
//! `ath` hashed with aws-lc-rs, the proof signed over exactly the JSON given.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU64, Ordering};

use aws_lc_rs::digest::{SHA256, digest};
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::Jwk;
use serde_json::{Value, json};

use super::{Pair, b64, claims, encoding_key, mint, mint_raw, now};

/// A client's proof key: one of the tests' key pairs.
#[derive(Debug, Clone)]
pub struct ProofKey {
    pub alg: Algorithm,
    pub pair: Pair,
    /// The public JWK, as the proof's `jwk` header carries it.
    pub jwk: Value,
}

impl ProofKey {
    pub fn new(alg: Algorithm, pair: Pair) -> Self {
        let jwk = Jwk::from_encoding_key(&encoding_key(alg, pair), alg).unwrap();
        let mut jwk = serde_json::to_value(jwk).unwrap();
        // Only the key itself: `alg`/`use`/`kid` are not needed in a proof's `jwk`.
        for member in ["alg", "use", "kid", "key_ops"] {
            jwk.as_object_mut().unwrap().remove(member);
        }
        ProofKey { alg, pair, jwk }
    }

    pub fn es256() -> Self {
        Self::new(Algorithm::ES256, Pair::A)
    }

    /// RFC 7638: the required members, sorted, no whitespace, SHA-256, base64url.
    pub fn thumbprint(&self) -> String {
        thumbprint(&self.jwk)
    }

    /// The header of a valid proof by this key.
    pub fn header(&self) -> Value {
        json!({ "typ": "dpop+jwt", "alg": format!("{:?}", self.alg), "jwk": self.jwk })
    }

    /// A valid proof for `method` `htu`, presented with `token`.
    pub fn proof(&self, method: &str, htu: &str, token: &str) -> String {
        self.sign(&self.header(), &proof_claims(method, htu, token))
    }

    /// A proof with exactly this header and these claims, signed by this key.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        mint_raw(
            &header.to_string(),
            claims.to_string().as_bytes(),
            self.alg,
            self.pair,
        )
    }
}

/// RFC 7638 §3.2 over a public JWK given as JSON.
pub fn thumbprint(jwk: &Value) -> String {
    let members: &[&str] = match jwk["kty"].as_str().unwrap() {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        other => panic!("no thumbprint for kty {other}"),
    };
    let canonical: Vec<String> = members
        .iter()
        .map(|m| format!("\"{m}\":{}", jwk[*m]))
        .collect();
    let canonical = format!("{{{}}}", canonical.join(","));
    b64(digest(&SHA256, canonical.as_bytes()).as_ref())
}

/// `ath`: base64url(SHA-256(the access token's ASCII)).
pub fn ath(token: &str) -> String {
    b64(digest(&SHA256, token.as_bytes()).as_ref())
}

/// A `jti` no other proof of this test run has.
pub fn fresh_jti() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "jti-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The claims of a valid proof for `method` `htu` with `token`.
pub fn proof_claims(method: &str, htu: &str, token: &str) -> Value {
    json!({
        "jti": fresh_jti(),
        "htm": method,
        "htu": htu,
        "iat": now(),
        "ath": ath(token),
    })
}

/// An HS256 access token (the tests' secret A) bound to `key`: `cnf.jkt` is its thumbprint.
pub fn bound_token(key: &ProofKey, extra: Value) -> String {
    let mut claims = claims(extra);
    claims["cnf"] = json!({ "jkt": key.thumbprint() });
    mint(Algorithm::HS256, Pair::A, &claims)
}

/// `Authorization: DPoP <token>` and `DPoP: <proof>`.
pub fn dpop_headers(token: &str, proof: &str) -> Vec<(&'static str, String)> {
    vec![
        ("authorization", format!("DPoP {token}")),
        ("dpop", proof.to_owned()),
    ]
}
