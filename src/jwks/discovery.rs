//! OpenID Connect discovery: the issuer's `/.well-known/openid-configuration` names its JWKS.

use std::time::Duration;

use serde::Deserialize;

use super::fetch::{self, FetchError};

/// The size cap for a discovery document.
const MAX_DOCUMENT: usize = 256 * 1024;

#[derive(Deserialize)]
struct Configuration {
    issuer: String,
    jwks_uri: String,
}

/// The `jwks_uri` of `issuer`, after checking that the document names exactly that issuer
/// (OpenID Connect Discovery 1.0 §4.3).
pub(crate) async fn jwks_uri(
    client: &reqwest::Client,
    issuer: &str,
    timeout: Duration,
) -> Result<String, FetchError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let fetched = fetch::get(client, &url, timeout, MAX_DOCUMENT).await?;
    let config: Configuration = serde_json::from_slice(&fetched.body)
        .map_err(|e| FetchError::InvalidDocument(e.to_string()))?;
    if config.issuer != issuer {
        return Err(FetchError::IssuerMismatch {
            expected: issuer.to_owned(),
            found: config.issuer,
        });
    }
    Ok(config.jwks_uri)
}
