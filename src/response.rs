//! How a refused request is answered: the [`ErrorResponder`] trait and its default,
//! RFC 6750 challenges for HTTP and trailers-only status for gRPC.

use std::fmt::Write as _;

use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::error::{AuthError, ConfigError};

/// Turns an [`AuthError`] into the response sent instead of calling the inner service.
///
/// The layer then puts the error into that response's extensions, whatever the responder.
/// Closures `Fn(&AuthError, &HeaderMap) -> Response<B>` are responders too.
///
/// ```
/// use http::{HeaderMap, Response};
/// use tower_jwt_auth::{AuthError, ErrorResponder};
///
/// // A JSON body for an axum API; status codes from the error.
/// let json = |error: &AuthError, _request: &HeaderMap| {
///     let body = format!(r#"{{"detail":"{error}"}}"#);
///     Response::builder()
///         .status(error.status())
///         .header("content-type", "application/json")
///         .body(axum::body::Body::from(body))
///         .unwrap()
/// };
/// fn takes<E: ErrorResponder<axum::body::Body>>(_: &E) {}
/// takes(&json);
/// ```
pub trait ErrorResponder<B>: Send + Sync + 'static {
    /// The response for `error`; `request` holds the refused request's headers.
    fn respond(&self, error: &AuthError, request: &HeaderMap) -> Response<B>;
}

impl<B, F> ErrorResponder<B> for F
where
    F: Fn(&AuthError, &HeaderMap) -> Response<B> + Send + Sync + 'static,
{
    fn respond(&self, error: &AuthError, request: &HeaderMap) -> Response<B> {
        self(error, request)
    }
}

/// The default answer, with an empty body:
///
/// - HTTP: the status from [`AuthError::status`] with
///   `WWW-Authenticate: Bearer realm="…", error="…", error_description="…"` (RFC 6750 §3),
///   plus `scope="…"` for a missing scope, or the `DPoP` challenge of RFC 9449 §7.1
///   (see [`DefaultResponder::challenges`]); 503 carries `Retry-After` instead.
/// - gRPC (`content-type: application/grpc…`): HTTP 200 with `grpc-status`
///   ([`AuthError::grpc_code`]) and a percent-encoded `grpc-message` in the headers.
#[derive(Debug, Clone)]
pub struct DefaultResponder {
    realm: Box<str>,
}

impl Default for DefaultResponder {
    fn default() -> Self {
        DefaultResponder {
            realm: "api".into(),
        }
    }
}

impl DefaultResponder {
    /// A responder whose challenges name `realm`: printable ASCII without `"` or `\`,
    /// so it can stand in a quoted string (RFC 9110 §5.6.4) as it is.
    pub fn with_realm(realm: impl Into<String>) -> Result<Self, ConfigError> {
        let realm = realm.into();
        if !realm
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        {
            return Err(ConfigError::InvalidRealm(realm));
        }
        Ok(DefaultResponder {
            realm: realm.into(),
        })
    }

    /// The first `WWW-Authenticate` challenge for an error, or `None` for 503.
    pub fn challenge(&self, error: &AuthError) -> Option<String> {
        self.challenges(error).into_iter().next()
    }

    /// Every `WWW-Authenticate` challenge for an error, each sent as its own header field;
    /// none for 503.
    ///
    /// The error's own challenge comes first: `Bearer` (RFC 6750 §3), or `DPoP` (RFC 9449
    /// §7.1, with `algs`) when the proof failed, the request used the `DPoP` scheme or the
    /// layer requires DPoP. A layer that accepts both adds a bare `DPoP` challenge after a
    /// `Bearer` one, so that clients learn DPoP is on offer. Each carries
    /// `resource_metadata` (RFC 9728 §5.1) when the layer has a resource URL.
    pub fn challenges(&self, error: &AuthError) -> Vec<String> {
        if error.retry_after().is_some() && error.error_code().is_none() {
            return Vec::new();
        }
        if error.dpop_challenge() {
            return vec![self.one_challenge(error, "DPoP", true)];
        }
        let mut challenges = vec![self.one_challenge(error, "Bearer", true)];
        if error.dpop_algorithms().is_some() {
            challenges.push(self.one_challenge(error, "DPoP", false));
        }
        challenges
    }

    /// One challenge of `scheme`; `with_error` adds the error's own parameters.
    fn one_challenge(&self, error: &AuthError, scheme: &str, with_error: bool) -> String {
        let mut value = format!("{scheme} realm=\"{}\"", self.realm);
        if with_error {
            if let Some(code) = error.error_code() {
                // Descriptions are static ASCII of our own, free of quotes and backslashes.
                let _ = write!(value, ", error=\"{code}\", error_description=\"{error}\"");
            }
            if let Some(scope) = error.required_scope() {
                let _ = write!(value, ", scope=\"{scope}\"");
            }
        }
        if scheme == "DPoP"
            && let Some(algs) = error.dpop_algorithms()
        {
            let _ = write!(value, ", algs=\"{algs}\"");
        }
        if let Some(url) = error.resource_metadata() {
            let _ = write!(value, ", resource_metadata=\"{url}\"");
        }
        value
    }
}

impl<B: Default> ErrorResponder<B> for DefaultResponder {
    fn respond(&self, error: &AuthError, request: &HeaderMap) -> Response<B> {
        if is_grpc(request) {
            return grpc_response(error);
        }
        let mut response = Response::new(B::default());
        *response.status_mut() = error.status();
        let headers = response.headers_mut();
        for challenge in self.challenges(error) {
            if let Ok(value) = HeaderValue::try_from(challenge) {
                headers.append(WWW_AUTHENTICATE, value);
            }
        }
        if let Some(after) = error.retry_after() {
            headers.insert(RETRY_AFTER, HeaderValue::from(after.as_secs().max(1)));
        }
        insert_dpop_nonce(headers, error);
        response
    }
}

/// Whether a request is gRPC: `content-type` `application/grpc` or `application/grpc+…`.
pub fn is_grpc(request: &HeaderMap) -> bool {
    request.get(CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.len() >= 16
            && v[..16].eq_ignore_ascii_case(b"application/grpc")
            && matches!(v.get(16), None | Some(b'+' | b';'))
    })
}

/// A trailers-only gRPC answer for an error: HTTP 200, `content-type: application/grpc`,
/// `grpc-status`, percent-encoded `grpc-message`, empty body. No tonic needed.
pub fn grpc_response<B: Default>(error: &AuthError) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(
        "grpc-status",
        HeaderValue::from(u16::from(error.grpc_code())),
    );
    if let Ok(message) = HeaderValue::try_from(percent_encode(&error.to_string())) {
        headers.insert("grpc-message", message);
    }
    insert_dpop_nonce(headers, error);
    response
}

/// `DPoP-Nonce` (RFC 9449 §9) when the error hands the client a nonce to retry with.
fn insert_dpop_nonce(headers: &mut HeaderMap, error: &AuthError) {
    if let Some(nonce) = error.dpop_nonce()
        && let Ok(value) = HeaderValue::try_from(nonce)
    {
        headers.insert("dpop-nonce", value);
    }
}

/// gRPC's percent-encoding of `grpc-message`: every byte outside `0x20..=0x7E`, and `%`.
fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for b in message.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::ErrorKind;

    fn respond(error: &AuthError, grpc: bool) -> Response<()> {
        let mut headers = HeaderMap::new();
        if grpc {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/grpc+proto"),
            );
        }
        DefaultResponder::default().respond(error, &headers)
    }

    fn header(r: &Response<()>, name: &str) -> Option<String> {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn missing_token_challenge_has_no_error() {
        let r = respond(&AuthError::new(ErrorKind::MissingToken), false);
        assert_eq!(r.status(), 401);
        assert_eq!(
            header(&r, "www-authenticate").unwrap(),
            r#"Bearer realm="api""#
        );
    }

    #[test]
    fn invalid_token_challenge() {
        let r = respond(&AuthError::new(ErrorKind::Expired), false);
        assert_eq!(r.status(), 401);
        assert_eq!(
            header(&r, "www-authenticate").unwrap(),
            r#"Bearer realm="api", error="invalid_token", error_description="token has expired""#
        );
    }

    #[test]
    fn insufficient_scope_names_the_scope() {
        let e = AuthError::new(ErrorKind::InsufficientScope).with_scope("admin");
        let r = respond(&e, false);
        assert_eq!(r.status(), 403);
        assert!(
            header(&r, "www-authenticate")
                .unwrap()
                .ends_with(r#", scope="admin""#)
        );
    }

    #[test]
    fn unavailable_has_retry_after() {
        let e = AuthError::new(ErrorKind::KeyUnavailable).with_retry_after(Duration::from_secs(7));
        let r = respond(&e, false);
        assert_eq!(r.status(), 503);
        assert_eq!(header(&r, "retry-after").unwrap(), "7");
        assert!(header(&r, "www-authenticate").is_none());
    }

    #[test]
    fn grpc_is_trailers_only() {
        let r = respond(&AuthError::new(ErrorKind::Expired), true);
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "grpc-status").unwrap(), "16");
        assert_eq!(header(&r, "grpc-message").unwrap(), "token has expired");
        assert_eq!(header(&r, "content-type").unwrap(), "application/grpc");
        let scope = AuthError::new(ErrorKind::InsufficientScope);
        assert_eq!(header(&respond(&scope, true), "grpc-status").unwrap(), "7");
        let down = AuthError::new(ErrorKind::KeyUnavailable);
        assert_eq!(header(&respond(&down, true), "grpc-status").unwrap(), "14");
    }

    #[test]
    fn grpc_detection() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_static(v));
            is_grpc(&h)
        };
        assert!(
            with("application/grpc") && with("application/grpc+json") && with("Application/GRPC")
        );
        assert!(!with("application/grpc-web") && !with("application/json"));
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(percent_encode("50% off\né"), "50%25 off%0A%C3%A9");
    }

    #[test]
    fn realm_that_cannot_be_quoted_is_a_config_error() {
        for realm in ["a\"b", "a\\b", "caf\u{e9}", "line\nbreak"] {
            assert!(matches!(
                DefaultResponder::with_realm(realm),
                Err(ConfigError::InvalidRealm(r)) if r == realm
            ));
        }
        assert!(DefaultResponder::with_realm("orders api").is_ok());
    }
}
