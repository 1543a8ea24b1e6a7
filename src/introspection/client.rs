//! One RFC 7662 exchange: the form POST, the client authentication header, and the
//! reading of the answer. No cache and no sharing here: see `cache.rs` and `mod.rs`.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;

use super::{Active, Answer};
use crate::ConfigError;

/// Why an introspection gave no answer. The caller treats every one as an outage (503),
/// never as an inactive token: a broken endpoint must not turn into refusals that look
/// like the user's fault, nor into acceptances. Messages never hold the token or secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IntrospectError {
    /// No complete answer within the configured timeout.
    Timeout,
    /// The connection or the HTTP exchange failed.
    Transport(String),
    /// The endpoint answered with a status other than 200.
    Status(u16),
    /// The body was larger than the configured maximum.
    TooLarge,
    /// The body was not a JSON object.
    NotJson,
}

impl fmt::Display for IntrospectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntrospectError::Timeout => f.write_str("introspection timed out"),
            IntrospectError::Transport(e) => write!(f, "introspection failed: {e}"),
            IntrospectError::Status(code) => write!(f, "introspection answered HTTP {code}"),
            IntrospectError::TooLarge => f.write_str("introspection answer larger than the cap"),
            IntrospectError::NotJson => f.write_str("introspection answer is not a JSON object"),
        }
    }
}

impl StdError for IntrospectError {}

/// What the answer says about its own lifetime, for the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Exp {
    /// No `exp` member, or `null`.
    Absent,
    /// A numeric `exp`, in Unix seconds (fractions dropped, negatives as 0).
    At(u64),
    /// An `exp` that is not a number: nobody can tell how long the answer holds.
    Unusable,
}

/// An answer and its `exp`.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) answer: Answer,
    pub(super) exp: Exp,
}

/// How the resource server authenticates to the introspection endpoint, as configured.
#[derive(Clone)]
pub(super) enum ClientAuth {
    None,
    Basic { id: String, secret: String },
    Bearer(String),
}

impl fmt::Debug for ClientAuth {
    /// The client id (not a secret, RFC 6749 §2.2) and the kind; never a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientAuth::None => f.write_str("None"),
            ClientAuth::Basic { id, .. } => f
                .debug_struct("Basic")
                .field("client_id", id)
                .field("client_secret", &"<redacted>")
                .finish(),
            ClientAuth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// The endpoint, how to authenticate to it, and the bounds of one exchange.
pub(super) struct Client {
    http: reqwest::Client,
    pub(super) endpoint: Url,
    /// The `Authorization` value, marked sensitive; `None` for a public endpoint.
    auth: Option<HeaderValue>,
    timeout: Duration,
    max_size: usize,
}

/// What [`Client::new`] needs besides the endpoint and the credentials.
pub(super) struct Limits {
    pub(super) timeout: Duration,
    pub(super) max_size: usize,
    pub(super) allow_insecure_http: bool,
}

impl Client {
    /// Checks the endpoint (an absolute `https` URL, or `http` when allowed, without
    /// credentials or fragment), prepares the `Authorization` value once, and makes the
    /// default HTTP client (no redirects) unless one is given.
    pub(super) fn new(
        endpoint: &str,
        auth: &ClientAuth,
        http: Option<reqwest::Client>,
        limits: Limits,
    ) -> Result<Self, ConfigError> {
        let invalid = ConfigError::InvalidIntrospection;
        // The text may hold a password: never echo it.
        let url = Url::parse(endpoint)
            .map_err(|e| invalid(format!("the endpoint is not an absolute URL: {e}")))?;
        if !url.username().is_empty() || url.password().is_some() {
            let why = "the endpoint must not carry credentials: use client_basic";
            return Err(invalid(why.into()));
        }
        if url.fragment().is_some() {
            return Err(invalid("the endpoint must not have a fragment".into()));
        }
        match url.scheme() {
            "https" => {}
            "http" if limits.allow_insecure_http => {}
            "http" => {
                let why = format!("the endpoint {url} is plain http: https is required");
                return Err(invalid(why));
            }
            other => {
                return Err(invalid(format!(
                    "the endpoint scheme {other:?} is not https"
                )));
            }
        }
        let auth = match auth {
            ClientAuth::None => None,
            ClientAuth::Basic { id, secret } => Some(basic_auth(id, secret)),
            ClientAuth::Bearer(token) => Some(bearer_auth(token).ok_or_else(|| {
                invalid("the bearer credential is not a valid header value".into())
            })?),
        };
        let http = match http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| invalid(format!("the HTTP client could not be made: {e}")))?,
        };
        Ok(Client {
            http,
            endpoint: url,
            auth,
            timeout: limits.timeout,
            max_size: limits.max_size,
        })
    }

    /// How the client authenticates, for `Debug`.
    pub(super) fn auth_kind(&self) -> &'static str {
        match &self.auth {
            None => "none",
            Some(value) if value.as_bytes().starts_with(b"Basic ") => "basic",
            Some(_) => "bearer",
        }
    }

    /// POSTs `form` (from [`form_body`]) and reads the answer; the whole exchange is
    /// bounded by the timeout.
    pub(super) async fn introspect(&self, form: String) -> Result<Reply, IntrospectError> {
        tokio::time::timeout(self.timeout, self.exchange(form))
            .await
            .unwrap_or(Err(IntrospectError::Timeout))
    }

    async fn exchange(&self, form: String) -> Result<Reply, IntrospectError> {
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(form);
        if let Some(auth) = &self.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let mut response = request.send().await.map_err(transport)?;
        // An injected client may follow redirects: an answer from elsewhere is no answer.
        if response.url() != &self.endpoint {
            return Err(IntrospectError::Transport(
                "the answer came from another URL (redirect)".into(),
            ));
        }
        // RFC 7662 §2.2: the answer is a 200 with a JSON body; anything else is an error.
        if response.status() != http::StatusCode::OK {
            return Err(IntrospectError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|len| len > self.max_size as u64)
        {
            return Err(IntrospectError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > self.max_size {
                return Err(IntrospectError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        parse(body)
    }
}

/// reqwest's message with its causes ("connection refused" is a cause), which never hold
/// the body, so never the token.
fn transport(error: reqwest::Error) -> IntrospectError {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        message.push_str(": ");
        message.push_str(&e.to_string());
        cause = e.source();
    }
    IntrospectError::Transport(message)
}

/// The members this crate reads; every other member stays in the raw bytes. A duplicate
/// `active` or `exp` fails the parse: two answers in one are no answer.
#[derive(Deserialize)]
struct Members {
    active: Option<Value>,
    exp: Option<Value>,
}

/// Reads an answer: a JSON object, active only when `active` is the boolean `true`
/// (RFC 7662 §2.2 makes it REQUIRED; missing, `false`, `"true"`, `1`, `null` are not
/// active).
pub(super) fn parse(body: Vec<u8>) -> Result<Reply, IntrospectError> {
    // A derived struct would also accept a JSON array: insist on an object.
    let first = body
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    // JSON is UTF-8 (RFC 8259 §8.1); serde_json does not check the strings it skips.
    if first != Some(&b'{') || std::str::from_utf8(&body).is_err() {
        return Err(IntrospectError::NotJson);
    }
    let members: Members = serde_json::from_slice(&body).map_err(|_| IntrospectError::NotJson)?;
    if members.active != Some(Value::Bool(true)) {
        return Ok(Reply {
            answer: Answer::Inactive,
            exp: Exp::Absent,
        });
    }
    let exp = match members.exp {
        None => Exp::Absent,
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(secs), _) => Exp::At(secs),
            // Negative or fractional: `as` saturates (negatives and NaN to 0).
            (None, Some(secs)) => Exp::At(secs as u64),
            (None, None) => Exp::Unusable,
        },
        Some(_) => Exp::Unusable,
    };
    Ok(Reply {
        answer: Answer::Active(Active {
            json: Arc::from(body),
        }),
        exp,
    })
}

/// The request body: the token and the hint that it is an access token (RFC 7662 §2.1).
pub(super) fn form_body(token: &str) -> String {
    let mut body = String::with_capacity(token.len() + 40);
    body.push_str("token=");
    form_urlencode(token, &mut body);
    body.push_str("&token_type_hint=access_token");
    body
}

/// `Authorization: Basic` for a confidential client. RFC 6749 §2.3.1 (which RFC 7662 §2.1
/// points to) encodes the id and the secret each as `application/x-www-form-urlencoded`
/// before joining them with `:` and base64, so that a `:` in the id stays unambiguous.
fn basic_auth(client_id: &str, client_secret: &str) -> HeaderValue {
    let mut pair = String::new();
    form_urlencode(client_id, &mut pair);
    pair.push(':');
    form_urlencode(client_secret, &mut pair);
    let mut value = HeaderValue::try_from(format!("Basic {}", STANDARD.encode(pair)))
        .expect("base64 is a valid header value");
    value.set_sensitive(true);
    value
}

/// `Authorization: Bearer`, or `None` when the token cannot be a header value.
fn bearer_auth(token: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::try_from(format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// The `application/x-www-form-urlencoded` byte serializer (WHATWG URL §5.2): ASCII
/// alphanumerics and `*-._` stay, space becomes `+`, every other byte of the UTF-8 is `%XX`.
fn form_urlencode(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in text.as_bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xF)]));
            }
        }
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
