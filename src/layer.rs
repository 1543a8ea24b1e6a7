//! [`JwtAuthLayer`]: wraps a service in [`JwtAuth`].

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use crate::builder::JwtAuthBuilder;
use crate::key::{KeyResolver, StaticKey};
use crate::response::DefaultResponder;
use crate::service::JwtAuth;
use crate::source::TokenSource;
use crate::validate::Validator;

/// A tower layer that authenticates requests with a JWT and puts [`Claims<T>`] into their
/// extensions. Rejections are `Ok` responses, so it fits axum's infallible services.
///
/// `T` is your claims type, `R` the [`KeyResolver`], `E` the
/// [`ErrorResponder`](crate::ErrorResponder). Cloning is an `Arc` clone.
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
/// let app: Router = Router::new().route("/me", get(me)).layer(auth);
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
///
/// [`Claims<T>`]: crate::Claims
pub struct JwtAuthLayer<T, R = StaticKey, E = DefaultResponder> {
    shared: Arc<Shared<T, R, E>>,
}

/// What every service made by one layer shares.
pub(crate) struct Shared<T, R, E> {
    pub(crate) validator: Validator<T, R>,
    pub(crate) options: LayerOptions,
    pub(crate) responder: E,
}

/// The layer's own options, beside validation.
#[derive(Debug, Clone)]
pub(crate) struct LayerOptions {
    pub(crate) sources: Vec<TokenSource>,
    pub(crate) optional: bool,
    pub(crate) cors_preflight: bool,
}

impl Default for LayerOptions {
    fn default() -> Self {
        LayerOptions {
            sources: vec![TokenSource::bearer()],
            optional: false,
            cors_preflight: false,
        }
    }
}

impl<T> JwtAuthLayer<T> {
    /// Starts configuring a layer for claims of type `T` with keys from `resolver`.
    pub fn builder<R: KeyResolver>(resolver: R) -> JwtAuthBuilder<T, R> {
        JwtAuthBuilder::new(resolver)
    }
}

impl<T, R, E> JwtAuthLayer<T, R, E> {
    pub(crate) fn from_parts(
        validator: Validator<T, R>,
        options: LayerOptions,
        responder: E,
    ) -> Self {
        JwtAuthLayer {
            shared: Arc::new(Shared {
                validator,
                options,
                responder,
            }),
        }
    }

    /// The validator inside, to check tokens that do not come with a request.
    pub fn validator(&self) -> &Validator<T, R> {
        &self.shared.validator
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
        }
    }
}

impl<T, R: fmt::Debug, E: fmt::Debug> fmt::Debug for JwtAuthLayer<T, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

impl<T, R: fmt::Debug, E: fmt::Debug> fmt::Debug for Shared<T, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuth")
            .field("validator", &self.validator)
            .field("options", &self.options)
            .field("responder", &self.responder)
            .finish()
    }
}
