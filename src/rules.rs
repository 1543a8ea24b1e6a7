//! Validation policy, fixed at build time: which algorithms, `typ`, issuers, audiences,
//! required claims, the time window, the token type and scopes. No JWS mechanics here.

use std::sync::Arc;

use crate::claims::RegisteredClaims;
use crate::error::{AuthError, reason};
use crate::header::{TokenHeader, typ_matches};
use crate::key::AlgorithmSet;
use crate::roles::ClaimPath;

/// The validation options.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) algorithms: AlgorithmSet,
    pub(crate) issuers: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) leeway: u64,
    pub(crate) required: Required,
    pub(crate) typ: Option<String>,
    pub(crate) max_token_size: usize,
    /// The `token_type` claim a token must have when it has one.
    pub(crate) token_type: Option<String>,
    /// Required scopes and, for the 403 answer, the same joined by spaces.
    pub(crate) scopes: Option<(Vec<String>, Arc<str>)>,
    /// Where the roles are read from.
    pub(crate) roles_claim: ClaimPath,
}

/// Registered claims that must be present, as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Required(u8);

impl Required {
    /// In the order of [`reason::MISSING_CLAIM`].
    pub(crate) const NAMES: [&'static str; 8] =
        ["exp", "nbf", "iat", "iss", "aud", "sub", "jti", "sid"];

    pub(crate) fn with(self, name: &str) -> Option<Self> {
        let index = Self::NAMES.iter().position(|n| *n == name)?;
        Some(Required(self.0 | 1 << index))
    }

    fn missing(self, c: &RegisteredClaims) -> Option<AuthError> {
        let present = [
            c.exp.is_some(),
            c.nbf.is_some(),
            c.iat.is_some(),
            c.iss.is_some(),
            !c.aud.is_empty(),
            c.sub.is_some(),
            c.jti.is_some(),
            c.sid.is_some(),
        ];
        (0..Self::NAMES.len())
            .find(|i| self.0 & 1 << i != 0 && !present[*i])
            .map(|i| reason::MISSING_CLAIM[i].clone())
    }
}

impl Rules {
    /// Before anything else: the size cap, so no base64 or JSON work is spent on a huge token.
    pub(crate) fn check_size(&self, token: &[u8]) -> Result<(), AuthError> {
        if token.len() > self.max_token_size {
            return Err(reason::TOO_LARGE);
        }
        Ok(())
    }

    /// Before the key: `alg` among the allowed ones (never taken from the token, RFC 8725
    /// §3.1) and `typ` when one is expected (RFC 8725 §3.11).
    pub(crate) fn check_header(&self, header: &TokenHeader<'_>) -> Result<(), AuthError> {
        if !self.algorithms.contains(header.alg()) {
            return Err(reason::ALG_NOT_ALLOWED);
        }
        if let Some(expected) = &self.typ
            && !header.typ().is_some_and(|typ| typ_matches(typ, expected))
        {
            return Err(reason::TYPE_NOT_ACCEPTED);
        }
        Ok(())
    }

    /// The time window, with leeway: `exp` not passed, `nbf` reached (RFC 7519 §4.1.4–5).
    /// Shared by verification and by cache hits.
    pub(crate) fn check_time(&self, c: &RegisteredClaims, now: u64) -> Result<(), AuthError> {
        if c.exp
            .is_some_and(|exp| now >= exp.saturating_add(self.leeway))
        {
            return Err(reason::EXPIRED);
        }
        if c.nbf
            .is_some_and(|nbf| nbf > now.saturating_add(self.leeway))
        {
            return Err(reason::NOT_YET_VALID);
        }
        Ok(())
    }

    /// After the signature: required claims, time, token type, issuer, audience, scopes.
    pub(crate) fn check_claims(&self, c: &RegisteredClaims, now: u64) -> Result<(), AuthError> {
        if let Some(missing) = self.required.missing(c) {
            return Err(missing);
        }
        self.check_time(c, now)?;
        if let (Some(expected), Some(actual)) = (&self.token_type, &c.token_type)
            && expected != actual
        {
            return Err(reason::TYPE_NOT_ACCEPTED);
        }
        if !self.issuers.is_empty()
            && !c
                .iss
                .as_ref()
                .is_some_and(|iss| self.issuers.iter().any(|i| i == iss))
        {
            return Err(reason::ISSUER_NOT_ACCEPTED);
        }
        self.check_audience(c)?;
        self.check_scopes(c)
    }

    /// For an introspection answer (RFC 7662 §2.2): required claims, time, audience and
    /// scopes. Its `iss` is checked against the introspector's issuer instead, and its
    /// `token_type` is an OAuth token type (`Bearer`), not the JWT claim of that name.
    #[cfg(feature = "introspection")]
    pub(crate) fn check_introspected(
        &self,
        c: &RegisteredClaims,
        now: u64,
    ) -> Result<(), AuthError> {
        if let Some(missing) = self.required.missing(c) {
            return Err(missing);
        }
        self.check_time(c, now)?;
        self.check_audience(c)?;
        self.check_scopes(c)
    }

    /// RFC 7519 §4.1.3: a token naming audiences is refused by a service that is none of them.
    fn check_audience(&self, c: &RegisteredClaims) -> Result<(), AuthError> {
        let audience_ok = if self.audiences.is_empty() {
            c.aud.is_empty()
        } else {
            c.aud
                .iter()
                .any(|a| self.audiences.iter().any(|mine| mine == a))
        };
        if audience_ok {
            Ok(())
        } else {
            Err(reason::AUDIENCE_NOT_ACCEPTED)
        }
    }

    /// Every required scope granted, by `scope` or `scp` (RFC 6750 §3.1: else 403).
    fn check_scopes(&self, c: &RegisteredClaims) -> Result<(), AuthError> {
        let Some((needed, joined)) = &self.scopes else {
            return Ok(());
        };
        if needed.iter().all(|s| c.has_scope(s)) {
            Ok(())
        } else {
            Err(reason::LACKS_SCOPE.with_scope(Arc::clone(joined)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use jsonwebtoken::Algorithm;

    fn rules() -> Rules {
        Rules {
            algorithms: AlgorithmSet::one(Algorithm::HS256),
            issuers: vec![],
            audiences: vec![],
            leeway: 60,
            required: Required::default().with("exp").unwrap(),
            typ: None,
            max_token_size: 8192,
            token_type: Some("access".into()),
            scopes: None,
            roles_claim: ClaimPath::roles(),
        }
    }

    fn registered(json: &str) -> RegisteredClaims {
        serde_json::from_str(json).unwrap()
    }

    fn kind(r: Result<(), AuthError>) -> Option<ErrorKind> {
        r.err().map(|e| e.kind())
    }

    #[test]
    fn exp_edges_with_leeway() {
        let r = rules();
        let c = registered(r#"{"exp":1000}"#);
        assert_eq!(kind(r.check_claims(&c, 1059)), None);
        assert_eq!(kind(r.check_claims(&c, 1060)), Some(ErrorKind::Expired));
        let strict = Rules {
            leeway: 0,
            ..rules()
        };
        assert_eq!(kind(strict.check_claims(&c, 999)), None);
        assert_eq!(kind(strict.check_time(&c, 1000)), Some(ErrorKind::Expired));
    }

    #[test]
    fn nbf_edges_with_leeway() {
        let r = rules();
        let c = registered(r#"{"exp":5000,"nbf":1000}"#);
        assert_eq!(kind(r.check_time(&c, 940)), None);
        assert_eq!(kind(r.check_claims(&c, 939)), Some(ErrorKind::NotYetValid));
    }

    #[test]
    fn huge_times_saturate() {
        let c = registered(r#"{"exp":18446744073709551615,"nbf":18446744073709551615}"#);
        let r = Rules {
            leeway: u64::MAX,
            ..rules()
        };
        assert_eq!(kind(r.check_time(&c, u64::MAX - 1)), None);
    }

    #[test]
    fn required_claims() {
        let r = Rules {
            required: Required::default()
                .with("exp")
                .unwrap()
                .with("jti")
                .unwrap(),
            ..rules()
        };
        let e = r
            .check_claims(&registered(r#"{"exp":5000}"#), 0)
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.description()),
            (ErrorKind::MissingClaim, "token has no jti claim")
        );
        assert_eq!(
            kind(r.check_claims(&registered(r#"{"jti":"x"}"#), 0)),
            Some(ErrorKind::MissingClaim)
        );
        assert!(Required::default().with("bogus").is_none());
    }

    #[test]
    fn audience_rules() {
        let none = rules();
        let check = |r: &Rules, json| kind(r.check_claims(&registered(json), 0));
        assert_eq!(
            check(&none, r#"{"exp":9,"aud":"x"}"#),
            Some(ErrorKind::InvalidAudience)
        );
        assert_eq!(check(&none, r#"{"exp":9,"aud":[]}"#), None);
        let required = Rules {
            required: Required::default().with("aud").unwrap(),
            ..rules()
        };
        assert_eq!(
            check(&required, r#"{"exp":9,"aud":[]}"#),
            Some(ErrorKind::MissingClaim),
            "an empty array names no audience"
        );
        let api = Rules {
            audiences: vec!["api".into()],
            ..rules()
        };
        assert_eq!(check(&api, r#"{"exp":9,"aud":"api"}"#), None);
        assert_eq!(check(&api, r#"{"exp":9,"aud":["x","api"]}"#), None);
        assert_eq!(
            check(&api, r#"{"exp":9,"aud":["x"]}"#),
            Some(ErrorKind::InvalidAudience)
        );
        assert_eq!(
            check(&api, r#"{"exp":9}"#),
            Some(ErrorKind::InvalidAudience)
        );
    }

    #[test]
    fn token_type_rule_applies_only_when_the_claim_is_present() {
        let r = rules();
        let check = |r: &Rules, json| kind(r.check_claims(&registered(json), 0));
        assert_eq!(check(&r, r#"{"exp":9,"token_type":"access"}"#), None);
        assert_eq!(check(&r, r#"{"exp":9}"#), None);
        assert_eq!(
            check(&r, r#"{"exp":9,"token_type":"refresh"}"#),
            Some(ErrorKind::InvalidType)
        );
        let any = Rules {
            token_type: None,
            ..rules()
        };
        assert_eq!(check(&any, r#"{"exp":9,"token_type":"refresh"}"#), None);
    }

    #[test]
    fn issuer_rules() {
        let r = Rules {
            issuers: vec!["a".into(), "b".into()],
            ..rules()
        };
        let check = |json| kind(r.check_claims(&registered(json), 0));
        assert_eq!(check(r#"{"exp":9,"iss":"b"}"#), None);
        assert_eq!(
            check(r#"{"exp":9,"iss":"c"}"#),
            Some(ErrorKind::InvalidIssuer)
        );
        assert_eq!(check(r#"{"exp":9}"#), Some(ErrorKind::InvalidIssuer));
    }

    #[test]
    fn scopes_from_scope_or_scp() {
        let r = Rules {
            scopes: Some((vec!["read".into(), "admin".into()], "read admin".into())),
            ..rules()
        };
        let check = |json| r.check_claims(&registered(json), 0);
        assert!(check(r#"{"exp":9,"scope":"read admin"}"#).is_ok());
        assert!(check(r#"{"exp":9,"scp":["admin","read"]}"#).is_ok());
        assert!(check(r#"{"exp":9,"scp":"read admin"}"#).is_ok());
        assert!(check(r#"{"exp":9,"scope":"read","scp":["admin"]}"#).is_ok());
        let e = check(r#"{"exp":9,"scope":"read administrator"}"#).unwrap_err();
        assert_eq!(
            (e.kind(), e.required_scope()),
            (ErrorKind::InsufficientScope, Some("read admin"))
        );
        // A scope claim of another type grants nothing: 403, not an unreadable token.
        let e = check(r#"{"exp":9,"scope":7,"scp":{"read":true}}"#).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InsufficientScope);
    }
}
