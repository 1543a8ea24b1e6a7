//! axum extractors for the claims the layer put into the request (feature `axum`).

use std::any::type_name;
use std::fmt;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::claims::Claims;

/// `Claims<T>` was asked for but the request has none: the layer is missing from this
/// route, or runs in optional mode and the handler should take `Option<Claims<T>>`.
///
/// Answers 500, since it is a server configuration error, not the client's.
#[derive(Debug, Clone, Copy)]
pub struct MissingClaims {
    claims_type: &'static str,
}

impl MissingClaims {
    /// The status: 500 Internal Server Error.
    pub fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    /// The body text, naming the missing type and the layer that adds it.
    pub fn body_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for MissingClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Missing request extension `Claims<{}>`: is `JwtAuthLayer` applied to this route \
             (with the same claims type)? In optional mode, take `Option<Claims<_>>`.",
            self.claims_type
        )
    }
}

impl std::error::Error for MissingClaims {}

impl IntoResponse for MissingClaims {
    fn into_response(self) -> Response {
        (self.status(), self.body_text()).into_response()
    }
}

impl<T, S> FromRequestParts<S> for Claims<T>
where
    T: Send + Sync + 'static,
    S: Send + Sync,
{
    type Rejection = MissingClaims;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Claims<T>>()
            .cloned()
            .ok_or(MissingClaims {
                claims_type: type_name::<T>(),
            })
    }
}

impl<T, S> OptionalFromRequestParts<S> for Claims<T>
where
    T: Send + Sync + 'static,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Claims<T>>().cloned())
    }
}
