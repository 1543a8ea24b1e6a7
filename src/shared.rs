//! What every service made by one layer shares: the validator, the layer's own options and
//! the responder, and the one way a refusal becomes a response.

use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, Response};

use crate::challenge::{Challenge, used_dpop_scheme};
use crate::error::AuthError;
use crate::hook::Hook;
use crate::metadata::ResourceMetadata;
use crate::response::ErrorResponder;
use crate::source::TokenSource;
use crate::validator::Validator;

/// Shared, behind one `Arc`, by a layer and all its services.
pub(crate) struct Shared<T, R, E> {
    pub(crate) validator: Validator<T, R>,
    pub(crate) options: LayerOptions,
    pub(crate) responder: E,
    /// What every refusal's challenge says about the schemes accepted.
    pub(crate) challenge: Arc<Challenge>,
    /// Your step after verification, if any.
    pub(crate) hook: Option<Hook<T>>,
}

/// What the builder hands the layer beside the validator.
pub(crate) struct LayerParts<T, E> {
    pub(crate) options: LayerOptions,
    pub(crate) responder: E,
    pub(crate) challenge: Challenge,
    pub(crate) metadata: Option<ResourceMetadata>,
    pub(crate) hook: Option<Hook<T>>,
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

impl<T, R, E> Shared<T, R, E> {
    /// The responder's answer, with the error in its extensions for outer layers.
    pub(crate) fn refuse<B>(&self, error: AuthError, headers: &HeaderMap) -> Response<B>
    where
        E: ErrorResponder<B>,
    {
        let error = error.with_challenge(&self.challenge, used_dpop_scheme(headers));
        let mut response = self.responder.respond(&error, headers);
        response.extensions_mut().insert(error);
        response
    }
}

impl<T, R: fmt::Debug, E: fmt::Debug> fmt::Debug for Shared<T, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("validator", &self.validator)
            .field("options", &self.options)
            .field("responder", &self.responder)
            .field("hook", &self.hook.is_some())
            .finish()
    }
}
