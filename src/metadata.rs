//! [`ResourceMetadata`]: the OAuth 2.0 protected resource metadata document (RFC 9728),
//! built from the same configuration the layer validates with, so that the two cannot
//! drift, and a tower service that serves it.

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use serde::Serialize;
use tower_service::Service;

/// The metadata of a protected resource (RFC 9728 §2), as the layer that protects it is
/// configured: made by [`JwtAuthLayer::resource_metadata`](crate::JwtAuthLayer::resource_metadata)
/// for a layer with a [`resource`](crate::JwtAuthBuilder::resource).
///
/// Serve it at [`path`](Self::path) without authentication; the layer's 401 challenges
/// point there with `resource_metadata="…"` (RFC 9728 §5.1).
///
/// ```
/// use axum::Router;
/// use tower_jwt_auth::{Algorithm, JwtAuthLayer, StaticKey};
///
/// let auth = JwtAuthLayer::<serde_json::Value>::builder(StaticKey::hmac(Algorithm::HS256, &[7; 32])?)
///     .algorithms([Algorithm::HS256])
///     .resource("https://api.example.com")
///     .authorization_servers(["https://auth.example.com"])
///     .build()?;
/// let metadata = auth.resource_metadata().expect("a resource is configured");
/// assert_eq!(metadata.path(), "/.well-known/oauth-protected-resource");
/// let document: serde_json::Value = serde_json::from_str(metadata.json()).unwrap();
/// assert_eq!(document["resource"], "https://api.example.com");
/// assert_eq!(document["authorization_servers"][0], "https://auth.example.com");
///
/// let app: Router = Router::new()
///     // ... routes behind `.route_layer(auth)` ...
///     .route_service(metadata.path(), metadata.service());
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct ResourceMetadata {
    inner: Arc<Inner>,
}

struct Inner {
    json: String,
    path: String,
    url: String,
}

/// The document's members (RFC 9728 §2), in the order the RFC lists them.
#[derive(Serialize)]
pub(crate) struct Document<'a> {
    pub(crate) resource: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(crate) authorization_servers: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(crate) scopes_supported: &'a [String],
    pub(crate) bearer_methods_supported: &'a [&'a str],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(crate) dpop_signing_alg_values_supported: &'a [String],
    pub(crate) dpop_bound_access_tokens_required: bool,
}

impl ResourceMetadata {
    /// The document for `resource`, served at `path` (whose full URL is `url`).
    pub(crate) fn new(document: &Document<'_>, path: String, url: String) -> Self {
        // Strings and booleans only: serialization cannot fail.
        let json = serde_json::to_string(document).unwrap_or_default();
        ResourceMetadata {
            inner: Arc::new(Inner { json, path, url }),
        }
    }

    /// The document, as JSON.
    pub fn json(&self) -> &str {
        &self.inner.json
    }

    /// Where to serve it (RFC 9728 §3.1): `/.well-known/oauth-protected-resource`, followed
    /// by the resource URL's path when it has one.
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// The document's full URL, as the challenges' `resource_metadata` gives it.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// A service answering `GET`/`HEAD` with the document (`application/json`, cacheable
    /// for an hour) and any other method with 405. It does not look at the path: route it.
    pub fn service(&self) -> ResourceMetadataService {
        ResourceMetadataService {
            metadata: self.clone(),
        }
    }
}

impl fmt::Debug for ResourceMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceMetadata")
            .field("url", &self.inner.url)
            .field("json", &self.inner.json)
            .finish()
    }
}

/// Serves a [`ResourceMetadata`] document; made by [`ResourceMetadata::service`].
#[derive(Debug, Clone)]
pub struct ResourceMetadataService {
    metadata: ResourceMetadata,
}

impl<B> Service<Request<B>> for ResourceMetadataService {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let method = request.method();
        let mut response = if method == Method::GET || method == Method::HEAD {
            let mut response = Response::new(self.metadata.json().to_owned());
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
            response
        } else {
            let mut response = Response::new(String::new());
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            response
        };
        if method == Method::HEAD {
            response.body_mut().clear();
        }
        ready(Ok(response))
    }
}
