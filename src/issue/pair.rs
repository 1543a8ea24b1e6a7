//! What the issuer hands out and how it fails: [`TokenPair`] and [`IssueError`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::AuthError;
use crate::revocation::StoreError;

/// An access token and a refresh token, serialized as the JSON body
/// djangorestframework-simplejwt returns (`access`, `refresh`), plus lifetimes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPair {
    /// The access token, sent as `Authorization: Bearer …`.
    pub access: String,
    /// The refresh token, exchanged for a new pair at the refresh endpoint.
    pub refresh: String,
    /// Always `"Bearer"`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
}

/// Why issuing, refreshing or revoking failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum IssueError {
    /// The token presented was refused (bad, expired, wrong type, revoked, reused): 401.
    Refused(AuthError),
    /// The caller's claims are not a JSON object, or use a name the issuer sets itself.
    InvalidClaims(String),
    /// The revocation store failed.
    Store(StoreError),
    /// Signing failed, or the system's random source did.
    Internal(String),
}

impl IssueError {
    /// The HTTP status to answer with: 401 when the client's token was refused, 503 when
    /// the revocation store is down, 500 otherwise.
    pub fn status(&self) -> http::StatusCode {
        match self {
            IssueError::Refused(e) => e.status(),
            IssueError::Store(_) => http::StatusCode::SERVICE_UNAVAILABLE,
            _ => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for IssueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssueError::Refused(e) => e.fmt(f),
            IssueError::InvalidClaims(why) => write!(f, "invalid claims: {why}"),
            IssueError::Store(e) => e.fmt(f),
            IssueError::Internal(why) => write!(f, "could not issue a token: {why}"),
        }
    }
}

impl std::error::Error for IssueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IssueError::Refused(e) => Some(e),
            IssueError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<AuthError> for IssueError {
    fn from(e: AuthError) -> Self {
        IssueError::Refused(e)
    }
}

impl From<StoreError> for IssueError {
    fn from(e: StoreError) -> Self {
        IssueError::Store(e)
    }
}
