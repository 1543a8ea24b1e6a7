//! The options beside token validation proper: where roles are read, the hook that runs
//! after verification, and opaque tokens checked by introspection.

use std::future::Future;

use http::Extensions;

use super::JwtAuthBuilder;
use crate::claims::Claims;
use crate::error::{AuthError, ConfigError};
use crate::hook::{Hook, hook};
#[cfg(feature = "introspection")]
use crate::introspection::Introspector;
use crate::roles::ClaimPath;
use crate::validator::Introspectors;

/// Roles, hook and introspection options.
pub(super) struct Extras<T> {
    roles_claim: Option<String>,
    hook: Option<Hook<T>>,
    #[cfg(feature = "introspection")]
    introspectors: Vec<Introspector>,
}

impl<T> Default for Extras<T> {
    fn default() -> Self {
        Extras {
            roles_claim: None,
            hook: None,
            #[cfg(feature = "introspection")]
            introspectors: Vec::new(),
        }
    }
}

impl<T> std::fmt::Debug for Extras<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extras")
            .field("roles_claim", &self.roles_claim)
            .field("hook", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

/// What these options build.
pub(super) struct Built<T> {
    pub(super) roles_claim: ClaimPath,
    pub(super) hook: Option<Hook<T>>,
    pub(super) introspectors: Introspectors,
}

impl<T> Extras<T> {
    pub(super) fn build(self) -> Result<Built<T>, ConfigError> {
        let roles_claim = match &self.roles_claim {
            Some(path) => ClaimPath::parse(path)?,
            None => ClaimPath::roles(),
        };
        Ok(Built {
            roles_claim,
            hook: self.hook,
            #[cfg(feature = "introspection")]
            introspectors: self.introspectors.into(),
            #[cfg(not(feature = "introspection"))]
            introspectors: (),
        })
    }
}

impl<T, R, E> JwtAuthBuilder<T, R, E> {
    /// Where [`Claims::roles`] and [`Requirement::role`](crate::Requirement::role) read
    /// roles: a dotted path of object keys (`roles`, the default and Entra's;
    /// `realm_access.roles` or `resource_access.<client>.roles` for Keycloak; `groups`).
    /// The value there may be a string (one role) or an array (its strings). A path with
    /// an empty segment fails [`build`](Self::build).
    pub fn roles_claim(mut self, path: impl Into<String>) -> Self {
        self.extras.roles_claim = Some(path.into());
        self
    }

    /// An async hook run after a token is verified (cache hits included) and before the
    /// inner service, like ASP.NET's `OnTokenValidated`. It may enrich the request: the
    /// extensions it returns are added to the request's (a user record, say). Or it
    /// refuses: [`AuthError::refused`] answers 401, [`AuthError::forbidden`] 403 and
    /// [`AuthError::unavailable`] 503, each with the layer's usual challenge.
    ///
    /// ```
    /// use tower_jwt_auth::{Algorithm, AuthError, Claims, JwtAuthLayer, StaticKey};
    ///
    /// #[derive(Clone, serde::Deserialize)]
    /// struct MyClaims { sub: String }
    /// #[derive(Clone)]
    /// struct User { name: String }
    ///
    /// let auth = JwtAuthLayer::<MyClaims>::builder(StaticKey::hmac(Algorithm::HS256, &[7; 32])?)
    ///     .algorithms([Algorithm::HS256])
    ///     .on_validated(|claims: Claims<MyClaims>| async move {
    ///         if claims.sub == "mallory" {
    ///             return Err(AuthError::refused("user is disabled"));
    ///         }
    ///         let mut found = http::Extensions::new();
    ///         found.insert(User { name: claims.sub.to_uppercase() });
    ///         Ok(found)
    ///     })
    ///     .build()?;
    /// # Ok::<(), tower_jwt_auth::ConfigError>(())
    /// ```
    pub fn on_validated<F, Fut>(mut self, on_validated: F) -> Self
    where
        F: Fn(Claims<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Extensions, AuthError>> + Send + 'static,
    {
        self.extras.hook = Some(hook(on_validated));
        self
    }

    /// Opaque (non-JWT) tokens are checked by RFC 7662 introspection at `introspector`
    /// (feature `introspection`), beside the JWTs the resolver's keys verify: one layer
    /// accepts both. A token that is not three dot-separated parts goes to the endpoints
    /// in the order added, until one says it is active; its answer must name that
    /// endpoint's issuer (or none), and then meets the same rules as a JWT's claims
    /// (required claims, time, audience, scopes, claim checks, DPoP binding `cnf.jkt`,
    /// revocation, the hook). Inactive → 401; an endpoint that cannot be asked, and no
    /// other saying active → 503.
    ///
    /// ```
    /// use tower_jwt_auth::introspection::Introspector;
    /// use tower_jwt_auth::{Algorithm, JwtAuthLayer, StaticKey};
    ///
    /// let introspector = Introspector::builder("https://id.example/oauth2/introspect", "https://id.example/")
    ///     .client_basic("orders-api", "its secret")
    ///     .build()?;
    /// let auth = JwtAuthLayer::<serde_json::Value>::builder(StaticKey::hmac(Algorithm::HS256, &[7; 32])?)
    ///     .algorithms([Algorithm::HS256])
    ///     .introspection(introspector)
    ///     .build()?;
    /// # Ok::<(), tower_jwt_auth::ConfigError>(())
    /// ```
    #[cfg(feature = "introspection")]
    pub fn introspection(mut self, introspector: Introspector) -> Self {
        self.extras.introspectors.push(introspector);
        self
    }
}
