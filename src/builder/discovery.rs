//! The options that say how clients prove possession (DPoP, RFC 9449) and discover the
//! resource (RFC 9728), and what they build: the DPoP policy, the challenges' parameters
//! and the metadata document, all from one configuration so that they cannot drift.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;

use super::{JwtAuthBuilder, is_scope_token};
use crate::challenge::Challenge;
use crate::dpop::{self, DpopMode, DpopPolicy, MemoryReplayStore, Origin, ReplayStore};
use crate::error::ConfigError;
use crate::key::AlgorithmSet;
use crate::metadata::{Document, ResourceMetadata};
use crate::trusted_proxies::TrustedProxies;

/// DPoP and RFC 9728 options: how clients prove and discover.
pub(super) struct Discovery {
    mode: DpopMode,
    algorithms: AlgorithmSet,
    window: Duration,
    replay: Option<Arc<dyn ReplayStore>>,
    nonces: Option<(Vec<u8>, Duration)>,
    resource: Option<String>,
    proxies: Option<TrustedProxies>,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
}

impl Default for Discovery {
    fn default() -> Self {
        Discovery {
            mode: DpopMode::default(),
            algorithms: dpop::DEFAULT_ALGORITHMS.into_iter().collect(),
            window: Duration::from_secs(300),
            replay: None,
            nonces: None,
            resource: None,
            proxies: None,
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
        }
    }
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("mode", &self.mode)
            .field("algorithms", &self.algorithms)
            .field("window", &self.window)
            .field("replay", &self.replay.is_some())
            .field("nonces", &self.nonces.is_some())
            .field("resource", &self.resource)
            .field("proxies", &self.proxies)
            .field("authorization_servers", &self.authorization_servers)
            .field("scopes_supported", &self.scopes_supported)
            .finish()
    }
}

/// What the discovery options build.
pub(super) struct Discovered {
    pub(super) dpop: DpopPolicy,
    pub(super) challenge: Challenge,
    pub(super) metadata: Option<ResourceMetadata>,
}

impl<T, R, E> JwtAuthBuilder<T, R, E> {
    /// DPoP (RFC 9449): [`DpopMode::Disabled`], [`DpopMode::Allowed`] (bearer tokens work,
    /// a token bound to a key needs the `DPoP` scheme and a proof) or
    /// [`DpopMode::Required`]. See [`crate::dpop`]. Defaults to `Allowed`.
    pub fn dpop(mut self, mode: DpopMode) -> Self {
        self.discovery.mode = mode;
        self
    }

    /// The algorithms a DPoP proof may be signed with; HMAC ones fail the build
    /// ([`ConfigError::SymmetricDpopAlgorithm`]). Defaults to ES256, ES384, EdDSA, RS256,
    /// RS384, RS512, PS256, PS384 and PS512.
    pub fn dpop_algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.discovery.algorithms = algorithms.into_iter().collect();
        self
    }

    /// How far a proof's `iat` may be from now, before or after (whole seconds). A proof is
    /// remembered by the replay store until `iat` plus this. Defaults to 5 minutes.
    pub fn dpop_proof_window(mut self, window: Duration) -> Self {
        self.discovery.window = window;
        self
    }

    /// Where used proofs are remembered, so that each is accepted once. Defaults to a
    /// [`MemoryReplayStore`] of 100 000 proofs; with several instances, give them a shared
    /// store (`RedisRevocationStore` is one).
    pub fn dpop_replay_store(mut self, store: impl ReplayStore) -> Self {
        self.discovery.replay = Some(Arc::new(store));
        self
    }

    /// Server-provided nonces (RFC 9449 §9): every proof must carry a `nonce` this layer
    /// issued, else the answer is 401 `use_dpop_nonce` with a fresh one in `DPoP-Nonce`.
    /// Nonces are a MAC of the time window under `secret` (at least 32 bytes, else
    /// [`ConfigError::WeakHmacSecret`]): instances with the same secret share them with
    /// nothing stored. Each lasts from one to two `lifetime`s. Defaults to off.
    pub fn dpop_nonces(mut self, secret: impl AsRef<[u8]>, lifetime: Duration) -> Self {
        self.discovery.nonces = Some((secret.as_ref().to_vec(), lifetime));
        self
    }

    /// The resource's identifier (RFC 9728 `resource`): the absolute `https` (or `http`)
    /// URL clients reach it at, as seen from outside any proxy. DPoP proofs' `htu` is
    /// checked against it and the request's path; the layer's
    /// [`resource_metadata`](crate::JwtAuthLayer::resource_metadata) describes it, and 401
    /// challenges point at that document. A URL with query, fragment or userinfo fails the
    /// build ([`ConfigError::InvalidResource`]). Defaults to none: `htu` is then checked
    /// against the request's own `Host`, which a client chooses, and challenges carry no
    /// `resource_metadata`.
    pub fn resource(mut self, url: impl Into<String>) -> Self {
        self.discovery.resource = Some(url.into());
        self
    }

    /// The reverse proxies whose `X-Forwarded-Proto` and `X-Forwarded-Host` say which URL
    /// the client used, for DPoP's `htu` when no [`resource`](Self::resource) fixes it:
    /// behind nginx the request itself arrives over plain HTTP with the proxy's choice of
    /// `Host`. Only a request whose peer is one of `proxies` is read this way, and only
    /// the rightmost entry of each header (the one the nearest proxy wrote); from any other
    /// peer the headers are ignored, since a client can send them too. A trusted proxy's
    /// value that is not an `http(s)` scheme or a host matches no `htu`. RFC 7239
    /// `Forwarded` is not read. Defaults to none: `X-Forwarded-*` are never read.
    ///
    /// [`resource`](Self::resource), when set, is the stronger choice: one public URL,
    /// nothing taken from the request.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.discovery.proxies = Some(proxies);
        self
    }

    /// The authorization servers the metadata names (RFC 9728 `authorization_servers`),
    /// absolute `http(s)` URLs. Defaults to the accepted issuers.
    pub fn authorization_servers<S: Into<String>>(
        mut self,
        servers: impl IntoIterator<Item = S>,
    ) -> Self {
        self.discovery
            .authorization_servers
            .extend(servers.into_iter().map(Into::into));
        self
    }

    /// The scopes the metadata lists (RFC 9728 `scopes_supported`). Defaults to none listed.
    pub fn scopes_supported<S: Into<String>>(
        mut self,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        self.discovery
            .scopes_supported
            .extend(scopes.into_iter().map(Into::into));
        self
    }
}

impl Discovery {
    /// Checks the options and builds from them; `issuers` are the accepted ones (the
    /// default authorization servers), `bearer_header` whether the `Authorization` header
    /// is a token source.
    pub(super) fn build(
        self,
        issuers: &[String],
        bearer_header: bool,
    ) -> Result<Discovered, ConfigError> {
        let origin = self
            .resource
            .as_deref()
            .map(Origin::configured)
            .transpose()?;
        let dpop_on = self.mode != DpopMode::Disabled;
        if let Some(hmac) = self
            .algorithms
            .iter()
            .find(|alg| alg.family() == jsonwebtoken::AlgorithmFamily::Hmac)
        {
            return Err(ConfigError::SymmetricDpopAlgorithm(hmac));
        }
        if dpop_on && self.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        let dpop_algs: Vec<String> = if dpop_on {
            self.algorithms.iter().map(|a| format!("{a:?}")).collect()
        } else {
            Vec::new()
        };
        let challenge = Challenge {
            bearer: self.mode != DpopMode::Required,
            dpop_algs: dpop_on.then(|| dpop_algs.join(" ").into()),
            resource_metadata: origin.as_ref().map(|o| o.metadata_url().into()),
        };
        let metadata = match &origin {
            Some(origin) => {
                let servers = if self.authorization_servers.is_empty() {
                    issuers
                } else {
                    &self.authorization_servers
                };
                if let Some(bad) = servers.iter().find(|s| Origin::configured(s).is_err()) {
                    return Err(ConfigError::InvalidMetadata(bad.clone()));
                }
                if let Some(bad) = self.scopes_supported.iter().find(|s| !is_scope_token(s)) {
                    return Err(ConfigError::InvalidScope(bad.clone()));
                }
                let resource = origin.url();
                Some(ResourceMetadata::new(
                    &Document {
                        resource: &resource,
                        authorization_servers: servers,
                        scopes_supported: &self.scopes_supported,
                        bearer_methods_supported: if bearer_header { &["header"] } else { &[] },
                        dpop_signing_alg_values_supported: &dpop_algs,
                        dpop_bound_access_tokens_required: self.mode == DpopMode::Required,
                    },
                    origin.metadata_path(),
                    origin.metadata_url(),
                ))
            }
            None => None,
        };
        let nonces = match &self.nonces {
            Some((secret, _)) if secret.len() < 32 => {
                return Err(ConfigError::WeakHmacSecret {
                    algorithm: Algorithm::HS256,
                    len: secret.len(),
                    min: 32,
                });
            }
            Some((secret, lifetime)) => Some(dpop::Nonces::new(secret, lifetime.as_secs())),
            None => None,
        };
        let dpop = DpopPolicy::new(
            self.mode,
            self.algorithms,
            self.window.as_secs(),
            origin,
            self.proxies,
            nonces,
            self.replay
                .unwrap_or_else(|| Arc::new(MemoryReplayStore::default())),
        );
        Ok(Discovered {
            dpop,
            challenge,
            metadata,
        })
    }
}
