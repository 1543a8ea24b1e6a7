//! Per-route authorization over claims the layer already verified: a [`Requirement`]
//! (scopes, roles, a predicate, any-of / all-of trees) and the [`RequireLayer`] that
//! enforces one. Nothing here validates a token again.

mod service;

use std::fmt;
use std::sync::Arc;

pub use service::{Require, RequireLayer};

use crate::claims::Claims;
use crate::error::{AuthError, reason};
use crate::validator::ClaimCheck;

/// What a route needs of the verified claims: a scope, a role, a predicate, or any-of /
/// all-of combinations of those (the shape of Envoy's requirement trees). Cloning is an
/// `Arc` clone.
///
/// A refusal answers 403 `insufficient_scope` (gRPC 7). Its `scope="…"` parameter names
/// the scopes of the requirement that would suffice: all scopes of an all-of, the first
/// alternative of an any-of.
///
/// ```
/// use tower_jwt_auth::{Algorithm, Claims, RegisteredClaims, Requirement, Roles};
///
/// let mut registered = RegisteredClaims::default();
/// registered.roles = ["auditor"].into_iter().collect::<Roles>();
/// let claims = Claims::new((), registered, Algorithm::ES256, None);
///
/// let reports = Requirement::any_of([Requirement::role("auditor"), Requirement::scope("admin")]);
/// assert!(reports.is_met(&claims));
/// let admin = Requirement::all_of([Requirement::scope("admin"), Requirement::role("auditor")]);
/// assert!(!admin.is_met(&claims));
/// assert_eq!(admin.check(&claims).unwrap_err().required_scope(), Some("admin"));
/// ```
pub struct Requirement<T> {
    node: Arc<Node<T>>,
    /// The `scope` parameter of a refusal, worked out once.
    scope_hint: Option<Arc<str>>,
}

enum Node<T> {
    Scope(Box<str>),
    Role(Box<str>),
    Claims(ClaimCheck<T>),
    AllOf(Vec<Node<T>>),
    AnyOf(Vec<Node<T>>),
    /// A requirement also used elsewhere.
    Shared(Arc<Node<T>>),
}

impl<T> Requirement<T> {
    fn new(node: Node<T>) -> Self {
        let mut scopes = Vec::new();
        node.sufficient_scopes(&mut scopes);
        let scope_hint = (!scopes.is_empty()).then(|| Arc::from(scopes.join(" ")));
        Requirement {
            node: Arc::new(node),
            scope_hint,
        }
    }

    /// The token must grant `scope` (by `scope` or `scp`).
    pub fn scope(scope: impl Into<Box<str>>) -> Self {
        Self::new(Node::Scope(scope.into()))
    }

    /// The token must grant every one of `scopes`.
    pub fn scopes<S: Into<Box<str>>>(scopes: impl IntoIterator<Item = S>) -> Self {
        Self::new(Node::AllOf(
            scopes.into_iter().map(|s| Node::Scope(s.into())).collect(),
        ))
    }

    /// The token must grant `role`, read from the layer's
    /// [roles claim path](crate::JwtAuthBuilder::roles_claim).
    pub fn role(role: impl Into<Box<str>>) -> Self {
        Self::new(Node::Role(role.into()))
    }

    /// The token must grant at least one of `roles`.
    pub fn any_role<S: Into<Box<str>>>(roles: impl IntoIterator<Item = S>) -> Self {
        Self::new(Node::AnyOf(
            roles.into_iter().map(|r| Node::Role(r.into())).collect(),
        ))
    }

    /// `predicate` must return `true` for the claims (your type's fields included).
    pub fn claims(predicate: impl Fn(&Claims<T>) -> bool + Send + Sync + 'static) -> Self {
        Self::new(Node::Claims(Box::new(predicate)))
    }

    /// Every one of `requirements` must be met; an empty list is always met.
    pub fn all_of(requirements: impl IntoIterator<Item = Requirement<T>>) -> Self {
        Self::new(Node::AllOf(
            requirements.into_iter().map(Self::into_node).collect(),
        ))
    }

    /// At least one of `requirements` must be met; an empty list is never met.
    pub fn any_of(requirements: impl IntoIterator<Item = Requirement<T>>) -> Self {
        Self::new(Node::AnyOf(
            requirements.into_iter().map(Self::into_node).collect(),
        ))
    }

    /// The tree itself, for a parent; a requirement shared elsewhere is wrapped instead.
    fn into_node(self) -> Node<T> {
        match Arc::try_unwrap(self.node) {
            Ok(node) => node,
            Err(shared) => Node::Shared(shared),
        }
    }

    /// Whether `claims` meet the requirement.
    pub fn is_met(&self, claims: &Claims<T>) -> bool {
        self.node.is_met(claims)
    }

    /// `Ok` when `claims` meet the requirement, else the 403 the guard answers with.
    pub fn check(&self, claims: &Claims<T>) -> Result<(), AuthError> {
        if self.node.is_met(claims) {
            return Ok(());
        }
        let refusal = match self.node.first_leaf() {
            Some(Leaf::Role) => reason::LACKS_ROLE,
            Some(Leaf::Claims) => reason::CLAIM_CHECK_FAILED,
            Some(Leaf::Scope) | None => reason::LACKS_SCOPE,
        };
        Err(match &self.scope_hint {
            Some(scope) => refusal.with_scope(Arc::clone(scope)),
            None => refusal,
        })
    }
}

/// The kind of the first leaf, for the refusal's description.
enum Leaf {
    Scope,
    Role,
    Claims,
}

impl<T> Node<T> {
    fn is_met(&self, claims: &Claims<T>) -> bool {
        match self {
            Node::Scope(scope) => claims.has_scope(scope),
            Node::Role(role) => claims.has_role(role),
            Node::Claims(predicate) => predicate(claims),
            Node::AllOf(all) => all.iter().all(|n| n.is_met(claims)),
            Node::AnyOf(any) => any.iter().any(|n| n.is_met(claims)),
            Node::Shared(node) => node.is_met(claims),
        }
    }

    /// Scopes that would meet this node: all of an all-of's, the first alternative's of
    /// an any-of (RFC 6750 §3: the scope "necessary to access").
    fn sufficient_scopes<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Node::Scope(scope) => {
                if !out.contains(&&**scope) {
                    out.push(scope);
                }
            }
            Node::Role(_) | Node::Claims(_) => {}
            Node::AllOf(all) => all.iter().for_each(|n| n.sufficient_scopes(out)),
            Node::AnyOf(any) => {
                if let Some(first) = any.first() {
                    first.sufficient_scopes(out);
                }
            }
            Node::Shared(node) => node.sufficient_scopes(out),
        }
    }

    fn first_leaf(&self) -> Option<Leaf> {
        match self {
            Node::Scope(_) => Some(Leaf::Scope),
            Node::Role(_) => Some(Leaf::Role),
            Node::Claims(_) => Some(Leaf::Claims),
            Node::AllOf(children) | Node::AnyOf(children) => {
                children.iter().find_map(Node::first_leaf)
            }
            Node::Shared(node) => node.first_leaf(),
        }
    }
}

impl<T> Clone for Requirement<T> {
    fn clone(&self) -> Self {
        Requirement {
            node: Arc::clone(&self.node),
            scope_hint: self.scope_hint.clone(),
        }
    }
}

impl<T> fmt::Debug for Requirement<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.node, f)
    }
}

impl<T> fmt::Debug for Node<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Scope(scope) => write!(f, "scope({scope:?})"),
            Node::Role(role) => write!(f, "role({role:?})"),
            Node::Claims(_) => f.write_str("claims(..)"),
            Node::AllOf(all) => f.debug_tuple("all_of").field(all).finish(),
            Node::AnyOf(any) => f.debug_tuple("any_of").field(any).finish(),
            Node::Shared(node) => fmt::Debug::fmt(&**node, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::RegisteredClaims;
    use crate::error::ErrorKind;
    use jsonwebtoken::Algorithm;

    fn claims(scope: &str, roles: &[&str]) -> Claims<u32> {
        let registered: RegisteredClaims = serde_json::from_value(serde_json::json!({
            "scope": scope
        }))
        .unwrap();
        let mut registered = registered;
        registered.roles = roles.iter().copied().collect();
        Claims::new(7, registered, Algorithm::HS256, None)
    }

    #[test]
    fn leaves() {
        let c = claims("read admin", &["auditor"]);
        assert!(Requirement::scope("admin").is_met(&c));
        assert!(!Requirement::scope("adm").is_met(&c));
        assert!(Requirement::role("auditor").is_met(&c));
        assert!(!Requirement::role("Auditor").is_met(&c));
        assert!(Requirement::claims(|c: &Claims<u32>| **c == 7).is_met(&c));
        assert!(Requirement::scopes(["read", "admin"]).is_met(&c));
        assert!(!Requirement::scopes(["read", "write"]).is_met(&c));
        assert!(Requirement::any_role(["x", "auditor"]).is_met(&c));
    }

    #[test]
    fn trees_and_their_empty_cases() {
        let c = claims("read", &["auditor"]);
        let nested = Requirement::any_of([
            Requirement::all_of([Requirement::scope("admin"), Requirement::role("auditor")]),
            Requirement::all_of([Requirement::scope("read"), Requirement::role("auditor")]),
        ]);
        assert!(nested.is_met(&c));
        assert!(Requirement::<u32>::all_of([]).is_met(&c));
        assert!(!Requirement::<u32>::any_of([]).is_met(&c));
        // A requirement used in two trees keeps working in both.
        let shared = Requirement::role("auditor");
        let a = Requirement::all_of([shared.clone(), Requirement::scope("read")]);
        let b = Requirement::any_of([shared, Requirement::scope("none")]);
        assert!(a.is_met(&c) && b.is_met(&c));
    }

    #[test]
    fn refusals_name_sufficient_scopes() {
        let c = claims("", &[]);
        let e = Requirement::scopes(["read", "write"])
            .check(&c)
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.status().as_u16(), e.required_scope()),
            (ErrorKind::InsufficientScope, 403, Some("read write"))
        );
        let any = Requirement::any_of([Requirement::scope("admin"), Requirement::scope("root")]);
        assert_eq!(any.check(&c).unwrap_err().required_scope(), Some("admin"));
        let role = Requirement::<u32>::role("auditor").check(&c).unwrap_err();
        assert_eq!(
            (role.kind(), role.required_scope(), role.description()),
            (
                ErrorKind::InsufficientScope,
                None,
                "token lacks a required role"
            )
        );
        let pred = Requirement::claims(|_: &Claims<u32>| false)
            .check(&c)
            .unwrap_err();
        assert_eq!(pred.kind(), ErrorKind::ClaimCheckFailed);
        assert_eq!(pred.error_code(), Some("insufficient_scope"));
    }
}
