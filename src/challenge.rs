//! What a refusal's `WWW-Authenticate` challenges say beyond the error itself, fixed when
//! the layer is built: whether Bearer and DPoP are accepted, with which proof algorithms,
//! and where the RFC 9728 metadata is.

/// The layer's challenge parameters, shared by every refusal it makes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Challenge {
    /// Bearer tokens are accepted (every DPoP mode but `Required`).
    pub(crate) bearer: bool,
    /// DPoP is accepted, with these proof algorithms (`algs`, space-separated).
    pub(crate) dpop_algs: Option<Box<str>>,
    /// `resource_metadata` (RFC 9728 §5.1), when a resource URL is configured.
    pub(crate) resource_metadata: Option<Box<str>>,
}

/// Whether a request used the `DPoP` authorization scheme.
pub(crate) fn used_dpop_scheme(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .any(|value| {
            let value = value.as_bytes();
            value.len() >= 4
                && value[..4].eq_ignore_ascii_case(b"dpop")
                && matches!(value.get(4), None | Some(b' '))
        })
}
