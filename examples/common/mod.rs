//! Infrastructure the example servers share: settings from the environment, logging, HTTP
//! layers, a sample token for trying them out, and graceful shutdown. Each example builds
//! its own `JwtAuthLayer` from these settings.

use std::env;
use std::error::Error;
use std::net::SocketAddr;

use jsonwebtoken::{EncodingKey, Header};
use tower_jwt_auth::{Algorithm, StaticKey};

/// Development secret: public, so only for trying the examples out.
const DEV_SECRET: &str = "dev-only-secret-change-me-0123456789abcdef";

/// The server's settings, from `PORT`, `JWT_SECRET`, `JWT_PUBLIC_KEY_FILE` +
/// `JWT_ALGORITHM`, `JWT_ISSUER` and `JWT_AUDIENCE`.
pub(crate) struct Config {
    pub(crate) addr: SocketAddr,
    pub(crate) algorithm: Algorithm,
    pub(crate) key: StaticKey,
    /// The HS256 secret, when that is the key: then a sample token can be minted.
    secret: Option<String>,
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Option<String>,
}

impl Config {
    pub(crate) fn from_env(default_port: u16) -> Result<Self, Box<dyn Error>> {
        let port = env::var("PORT")
            .map_or(Ok(default_port), |p| p.parse())
            .map_err(|e| format!("PORT: {e}"))?;
        let (key, algorithm, secret) = key_from_env()?;
        Ok(Config {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            algorithm,
            key,
            secret,
            issuer: env::var("JWT_ISSUER").ok(),
            audience: env::var("JWT_AUDIENCE").ok(),
        })
    }

    /// With the HS256 secret: a token this server accepts, valid for an hour.
    pub(crate) fn sample_token(
        &self,
        scope: &str,
    ) -> Result<Option<String>, jsonwebtoken::errors::Error> {
        self.sample_token_with(scope, |_| {})
    }

    /// A sample token whose claims `extra` may add to.
    pub(crate) fn sample_token_with(
        &self,
        scope: &str,
        extra: impl FnOnce(&mut serde_json::Value),
    ) -> Result<Option<String>, jsonwebtoken::errors::Error> {
        let Some(secret) = &self.secret else {
            return Ok(None);
        };
        // jsonwebtoken panics without a provider when both crypto backends are compiled in.
        tower_jwt_auth::install_crypto_provider();
        let now = jsonwebtoken::get_current_timestamp();
        let mut claims = serde_json::json!({
            "sub": "demo-user", "scope": scope, "iat": now, "exp": now + 3600,
        });
        if let Some(iss) = &self.issuer {
            claims["iss"] = iss.as_str().into();
        }
        if let Some(aud) = &self.audience {
            claims["aud"] = aud.as_str().into();
        }
        extra(&mut claims);
        let key = EncodingKey::from_secret(secret.as_bytes())?;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).map(Some)
    }
}

/// The verification key, and the HS256 secret when that is what is used.
fn key_from_env() -> Result<(StaticKey, Algorithm, Option<String>), Box<dyn Error>> {
    if let (Ok(path), Ok(alg)) = (env::var("JWT_PUBLIC_KEY_FILE"), env::var("JWT_ALGORITHM")) {
        let algorithm: Algorithm = alg
            .parse()
            .map_err(|_| format!("unknown JWT_ALGORITHM {alg}"))?;
        let pem = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
        return Ok((StaticKey::from_pem(algorithm, &pem)?, algorithm, None));
    }
    let secret = env::var("JWT_SECRET").unwrap_or_else(|_| {
        eprintln!("WARNING: JWT_SECRET is not set; using the public development secret.");
        DEV_SECRET.to_owned()
    });
    let key = StaticKey::hmac(Algorithm::HS256, secret.as_bytes())?;
    Ok((key, Algorithm::HS256, Some(secret)))
}

/// What every HTTP example wraps its router in: request tracing, and a 10 s timeout so a
/// stuck handler cannot hold a connection forever.
pub(crate) fn http_layers() -> (
    tower_http::trace::TraceLayer<
        tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    >,
    tower_http::timeout::TimeoutLayer,
) {
    (
        tower_http::trace::TraceLayer::new_for_http(),
        tower_http::timeout::TimeoutLayer::with_status_code(
            http::StatusCode::REQUEST_TIMEOUT,
            std::time::Duration::from_secs(10),
        ),
    )
}

/// Logs to stderr (stdout carries only the sample token, for scripts), filtered by
/// `RUST_LOG`; by default the crate's debug events say why each token was refused.
pub(crate) fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_jwt_auth=debug".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Resolves on Ctrl-C or SIGTERM (what orchestrators send), so in-flight requests finish.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => drop(sigterm.recv().await),
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received, draining connections");
}
