//! [`JwtAuthLayer`]: wraps a service in [`JwtAuth`].

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use crate::key::StaticKey;
use crate::metadata::ResourceMetadata;
use crate::response::DefaultResponder;
use crate::service::JwtAuth;
use crate::shared::{LayerParts, Shared};
use crate::validator::Validator;

/// A tower layer that authenticates requests with a JWT and puts [`Claims<T>`] into their
/// extensions. Rejections are `Ok` responses, so it fits axum's infallible services.
///
/// `T` is your claims type, `R` the [`KeyResolver`](crate::KeyResolver), `E` the
/// [`ErrorResponder`](crate::ErrorResponder). Cloning is an `Arc` clone. Made by
/// [`JwtAuthLayer::builder`].
///
/// ```
/// use axum::{Router, routing::get};
/// use tower_jwt_auth::{Algorithm, Claims, JwtAuthLayer, StaticKey};
///
/// #[derive(Clone, serde::Deserialize)]
/// struct MyClaims { sub: String }
///
/// async fn me(claims: Claims<MyClaims>) -> String {
///     claims.sub.clone()
/// }
///
/// let auth = JwtAuthLayer::<MyClaims>::builder(StaticKey::hmac(Algorithm::HS256, &[7; 32])?)
///     .algorithms([Algorithm::HS256])
///     .build()?;
/// // `route_layer`: only matched routes are authenticated, unknown paths stay 404.
/// let app: Router = Router::new().route("/me", get(me)).route_layer(auth);
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
///
/// [`Claims<T>`]: crate::Claims
pub struct JwtAuthLayer<T, R = StaticKey, E = DefaultResponder> {
    shared: Arc<Shared<T, R, E>>,
    metadata: Option<ResourceMetadata>,
}

impl<T, R, E> JwtAuthLayer<T, R, E> {
    pub(crate) fn new(validator: Validator<T, R>, parts: LayerParts<T, E>) -> Self {
        JwtAuthLayer {
            shared: Arc::new(Shared {
                validator,
                options: parts.options,
                responder: parts.responder,
                challenge: Arc::new(parts.challenge),
                hook: parts.hook,
            }),
            metadata: parts.metadata,
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<T, R, E>> {
        &self.shared
    }

    /// The validator inside, to check tokens that do not come with a request.
    pub fn validator(&self) -> &Validator<T, R> {
        &self.shared.validator
    }

    /// The RFC 9728 protected resource metadata of what this layer protects, built from
    /// its configuration; `None` without a [`resource`](crate::JwtAuthBuilder::resource).
    pub fn resource_metadata(&self) -> Option<&ResourceMetadata> {
        self.metadata.as_ref()
    }
}

impl<S, T, R, E> Layer<S> for JwtAuthLayer<T, R, E> {
    type Service = JwtAuth<S, T, R, E>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtAuth::new(inner, Arc::clone(&self.shared))
    }
}

impl<T, R, E> Clone for JwtAuthLayer<T, R, E> {
    fn clone(&self) -> Self {
        JwtAuthLayer {
            shared: Arc::clone(&self.shared),
            metadata: self.metadata.clone(),
        }
    }
}

impl<T, R: fmt::Debug, E: fmt::Debug> fmt::Debug for JwtAuthLayer<T, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &*self.shared;
        f.debug_struct("JwtAuthLayer")
            .field("validator", &shared.validator)
            .field("options", &shared.options)
            .field("responder", &shared.responder)
            .finish()
    }
}
