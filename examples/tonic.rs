//! A tonic gRPC server behind `JwtAuthLayer`: the standard health service
//! (`grpc.health.v1.Health`) and `demo.Identity/WhoAmI`, an RPC that answers with the
//! caller's `sub` and scopes, read from the claims the layer put into the request.
//!
//! ```text
//! cargo run --example tonic
//! grpcurl -plaintext -H "authorization: Bearer <token>" 127.0.0.1:50051 grpc.health.v1.Health/Check
//! ```
//!
//! With the HS256 secret, a sample token valid for one hour is printed at start.
//!
//! Environment:
//! - `PORT` (default 50051): listens on `127.0.0.1:$PORT`.
//! - `JWT_SECRET`: the HS256 secret, at least 32 bytes. A development default is used (with
//!   a warning) when it is unset; never run that in production.
//! - `JWT_PUBLIC_KEY_FILE` + `JWT_ALGORITHM` (RS*, PS*, ES*, EdDSA): verify with that PEM
//!   public key instead of the secret.
//! - `JWT_ISSUER`, `JWT_AUDIENCE`: when set, tokens must carry that `iss` / `aud`.
//! - `RUST_LOG` (default `info,tower_jwt_auth=debug`: says why each token was refused).

#[allow(dead_code)] // the HTTP layers are for the HTTP examples
mod common;

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tonic::Status;
use tonic::body::Body;
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tower_http::trace::{DefaultMakeSpan, DefaultOnFailure, TraceLayer};
use tower_jwt_auth::{Claims, JwtAuthLayer};
use tracing::Level;

/// What a token carries beyond the registered claims.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct AppClaims {
    pub(crate) sub: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_tracing();
    let config = common::Config::from_env(50051)?;

    let mut auth =
        JwtAuthLayer::<AppClaims>::builder(config.key.clone()).algorithms([config.algorithm]);
    if let Some(issuer) = &config.issuer {
        auth = auth.issuer(issuer);
    }
    if let Some(audience) = &config.audience {
        auth = auth.audience(audience);
    }
    let auth = auth.build()?;

    let addr = config.addr;
    if let Some(token) = config.sample_token("read")? {
        println!("Sample token (valid for one hour):\n{token}\n");
        println!(
            "Try:\n  grpcurl -plaintext -H \"authorization: Bearer {token}\" {addr} grpc.health.v1.Health/Check\n"
        );
    }

    // "" is the whole server in the health protocol: what load balancers probe.
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;

    tracing::info!(%addr, algorithm = ?config.algorithm, "listening");
    Server::builder()
        // A stuck handler must not hold its stream forever.
        .timeout(Duration::from_secs(30))
        // Outside the auth layer, so refused calls are logged too; at WARN, since a bad
        // token is the client's fault, not a server error.
        .layer(
            TraceLayer::new_for_grpc()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_failure(DefaultOnFailure::new().level(Level::WARN)),
        )
        .layer(auth)
        .add_service(health)
        .add_service(IdentityServer)
        .serve_with_shutdown(addr, common::shutdown_signal())
        .await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// The messages of `demo.Identity`, written out with prost's derive (no `protoc` needed):
///
/// ```proto
/// service Identity { rpc WhoAmI(WhoAmIRequest) returns (WhoAmIReply); }
/// message WhoAmIRequest {}
/// message WhoAmIReply { string sub = 1; repeated string scopes = 2; }
/// ```
pub(crate) mod identity {
    /// `WhoAmI` takes nothing.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct WhoAmIRequest {}

    /// Who the token says the caller is.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct WhoAmIReply {
        #[prost(string, tag = "1")]
        pub(crate) sub: String,
        #[prost(string, repeated, tag = "2")]
        pub(crate) scopes: Vec<String>,
    }

    /// The RPC's path.
    pub(crate) const WHO_AM_I: &str = "/demo.Identity/WhoAmI";
}

/// `WhoAmI`: the claims are in the request's extensions, put there by the layer. A call
/// without them never gets here; `internal` would mean the layer is missing.
struct WhoAmI;

impl UnaryService<identity::WhoAmIRequest> for WhoAmI {
    type Response = identity::WhoAmIReply;
    type Future = Ready<Result<tonic::Response<Self::Response>, Status>>;

    fn call(&mut self, request: tonic::Request<identity::WhoAmIRequest>) -> Self::Future {
        let reply = match request.extensions().get::<Claims<AppClaims>>() {
            Some(claims) => Ok(tonic::Response::new(identity::WhoAmIReply {
                sub: claims.sub.clone(),
                scopes: claims.scopes().map(str::to_owned).collect(),
            })),
            None => Err(Status::internal("no claims: is JwtAuthLayer in front?")),
        };
        ready(reply)
    }
}

/// The `demo.Identity` service, routed by hand as tonic's generated servers do.
#[derive(Debug, Clone)]
pub(crate) struct IdentityServer;

impl NamedService for IdentityServer {
    const NAME: &'static str = "demo.Identity";
}

impl tower::Service<http::Request<Body>> for IdentityServer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if request.uri().path() != identity::WHO_AM_I {
            return Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) });
        }
        Box::pin(async move {
            let mut grpc = Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.unary(WhoAmI, request).await)
        })
    }
}
