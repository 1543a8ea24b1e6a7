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
///
/// The issuer, the document's URL and its `jwks_uri` must pass [`fetch::check_url`]: a
/// `jwks_uri` may not go down to `http` from an `https` issuer.
pub(crate) async fn jwks_uri(
    client: &reqwest::Client,
    issuer: &str,
    timeout: Duration,
    allow_insecure_http: bool,
) -> Result<String, FetchError> {
    let issuer_url = fetch::parse_url(issuer)?;
    fetch::check_url(&issuer_url, false, allow_insecure_http)?;
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let fetched = fetch::get(client, &url, timeout, MAX_DOCUMENT, allow_insecure_http).await?;
    let config: Configuration = serde_json::from_slice(&fetched.body)
        .map_err(|e| FetchError::InvalidDocument(e.to_string()))?;
    if config.issuer != issuer {
        return Err(FetchError::IssuerMismatch {
            expected: issuer.to_owned(),
            found: config.issuer,
        });
    }
    let jwks_uri = fetch::parse_url(&config.jwks_uri)?;
    fetch::check_url(
        &jwks_uri,
        issuer_url.scheme() == "https",
        allow_insecure_http,
    )?;
    Ok(config.jwks_uri)
}
