//! The proof's own key: the `jwk` header of a DPoP proof (RFC 9449 §4.2), public members
//! only, and its JWK SHA-256 thumbprint (RFC 7638), which a bound token's `cnf.jkt` names.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{AuthError, reason};
use crate::header::present;
use crate::json::from_object;
use crate::key::VerificationKey;

/// A base64url SHA-256 digest: 43 ASCII characters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Digest43([u8; 43]);

impl Digest43 {
    /// base64url(SHA-256(`parts` one after the other)).
    pub(crate) fn of(parts: &[&[u8]]) -> Self {
        let mut hash = Sha256::new();
        for part in parts {
            hash.update(part);
        }
        let mut out = [0u8; 43];
        // 32 bytes always encode to 43 characters without padding.
        let _ = URL_SAFE_NO_PAD.encode_slice(hash.finalize(), &mut out);
        Digest43(out)
    }

    pub(crate) fn as_str(&self) -> &str {
        // base64url output is ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for Digest43 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A proof's verification key and its thumbprint.
pub(crate) struct ProofKey {
    pub(crate) key: VerificationKey,
    pub(crate) thumbprint: Digest43,
}

/// The members of a JWK this module reads; the private and symmetric ones only for their
/// presence, which refuses the key (RFC 9449 §4.3 check 7).
#[derive(Deserialize)]
struct Members<'a> {
    #[serde(borrow)]
    kty: Cow<'a, str>,
    #[serde(borrow, default)]
    crv: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    x: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    y: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    n: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    e: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "present")]
    d: bool,
    #[serde(default, deserialize_with = "present")]
    p: bool,
    #[serde(default, deserialize_with = "present")]
    q: bool,
    #[serde(default, deserialize_with = "present")]
    dp: bool,
    #[serde(default, deserialize_with = "present")]
    dq: bool,
    #[serde(default, deserialize_with = "present")]
    qi: bool,
    #[serde(default, deserialize_with = "present")]
    oth: bool,
    #[serde(default, deserialize_with = "present")]
    k: bool,
}

impl Members<'_> {
    fn has_private_part(&self) -> bool {
        self.d || self.p || self.q || self.dp || self.dq || self.qi || self.oth || self.k
    }

    /// RFC 7638 §3.2: the required members in lexicographic order, no whitespace. Values
    /// are written as they are when they need no JSON escaping (base64url and curve names
    /// never do), else escaped.
    fn thumbprint(&self) -> Option<Digest43> {
        fn member(out: &mut String, name: &str, value: &Option<Cow<'_, str>>) -> Option<()> {
            let value = value.as_deref()?;
            out.push('"');
            out.push_str(name);
            out.push_str("\":");
            if value
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
            {
                out.push('"');
                out.push_str(value);
                out.push('"');
            } else {
                out.push_str(&serde_json::to_string(value).ok()?);
            }
            Some(())
        }
        let kty = Some(Cow::Borrowed(&*self.kty));
        let members: [(&str, &Option<Cow<'_, str>>); 4] = match &*self.kty {
            "EC" => [
                ("crv", &self.crv),
                ("kty", &kty),
                ("x", &self.x),
                ("y", &self.y),
            ],
            "RSA" => [("e", &self.e), ("kty", &kty), ("n", &self.n), ("", &None)],
            "OKP" => [
                ("crv", &self.crv),
                ("kty", &kty),
                ("x", &self.x),
                ("", &None),
            ],
            _ => return None,
        };
        let mut canonical = String::with_capacity(
            16 + members
                .iter()
                .map(|(_, v)| v.as_deref().map_or(0, str::len) + 8)
                .sum::<usize>(),
        );
        canonical.push('{');
        for (i, (name, value)) in members
            .iter()
            .filter(|(name, _)| !name.is_empty())
            .enumerate()
        {
            if i > 0 {
                canonical.push(',');
            }
            member(&mut canonical, name, value)?;
        }
        canonical.push('}');
        Some(Digest43::of(&[canonical.as_bytes()]))
    }
}

/// The key a proof's `jwk` header describes: an asymmetric public key (EC P-256/P-384,
/// RSA of 2048 bits or more, Ed25519), nothing private in it.
pub(crate) fn proof_key(jwk: &str) -> Result<ProofKey, AuthError> {
    let members: Members<'_> =
        from_object(jwk.as_bytes()).map_err(|_| reason::PROOF_JWK_INVALID)?;
    if members.has_private_part() {
        return Err(reason::PROOF_JWK_PRIVATE);
    }
    if !matches!(&*members.kty, "EC" | "RSA" | "OKP") {
        return Err(reason::PROOF_JWK_NOT_ASYMMETRIC);
    }
    let parsed: Jwk = serde_json::from_str(jwk).map_err(|_| reason::PROOF_JWK_INVALID)?;
    let key = VerificationKey::from_jwk(&parsed).map_err(|_| reason::PROOF_JWK_INVALID)?;
    let thumbprint = members.thumbprint().ok_or(reason::PROOF_JWK_INVALID)?;
    Ok(ProofKey { key, thumbprint })
}

/// The JWK SHA-256 thumbprint (RFC 7638) of a public JWK given as JSON: the value a token
/// bound to that key carries as `cnf.jkt` (RFC 9449 §6.1). `None` when the JSON is not an
/// EC, RSA or OKP key with its required members.
///
/// ```
/// // RFC 7638 §3.1's example key.
/// let jwk = r#"{"kty":"RSA","e":"AQAB","alg":"RS256","kid":"2011-04-29","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}"#;
/// assert_eq!(
///     tower_jwt_auth::dpop::jwk_thumbprint(jwk).as_deref(),
///     Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
/// );
/// ```
pub fn jwk_thumbprint(jwk: &str) -> Option<String> {
    let members: Members<'_> = from_object(jwk.as_bytes()).ok()?;
    members.thumbprint().map(|t| t.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    const P256: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    #[test]
    fn private_members_are_refused_whatever_their_value() {
        for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            let jwk = P256.replacen('{', &format!(r#"{{"{member}":null,"#), 1);
            let error = proof_key(&jwk).err().expect(member);
            assert_eq!(error.description(), reason::PROOF_JWK_PRIVATE.description());
        }
    }

    #[test]
    fn symmetric_and_unknown_key_types_are_refused() {
        let oct = r#"{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}"#;
        assert_eq!(
            proof_key(oct).err().unwrap().kind(),
            ErrorKind::InvalidDpopProof
        );
        let oct = r#"{"kty":"oct"}"#;
        assert_eq!(
            proof_key(oct).err().unwrap().description(),
            reason::PROOF_JWK_NOT_ASYMMETRIC.description()
        );
        for bad in ["[]", "{}", r#"{"kty":"EC","crv":"P-256"}"#, "not json"] {
            assert!(proof_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_public_ec_key_is_accepted_with_its_thumbprint() {
        let key = proof_key(P256).ok().unwrap();
        assert_eq!(
            Some(key.thumbprint.as_str().to_owned()),
            jwk_thumbprint(P256)
        );
        // Member order and extra members do not change the thumbprint (RFC 7638 §3.3).
        let reordered = r#"{"y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","use":"sig","crv":"P-256","kty":"EC","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"}"#;
        assert_eq!(jwk_thumbprint(reordered), jwk_thumbprint(P256));
    }
}
