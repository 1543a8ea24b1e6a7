//! The integration tests, one binary (one link) with a module per subject. The allocation
//! counter needs a global allocator of its own, so it is a separate binary (`tests/alloc.rs`).
//!
//! Tests that need an outside program (Python's PyJWT and grpcio, redis-server) are `#[ignore]`d under a
//! plain `cargo test`; `scripts/test` installs those programs and runs them too.

// The examples included by `examples` and `token_server` each bring their own `mod common`.
#![allow(clippy::duplicate_mod)]

mod support;

/// The fuzz targets' properties (`fuzz/src/lib.rs`), shared with `properties` (the proptest
/// smoke) and `fuzz_regressions` (minimised crashes and the seed corpora).
#[path = "../../fuzz/src/lib.rs"]
mod fuzz_checks;

mod attacks;
mod authz;
mod cache;
mod dpop;
mod examples;
mod fuzz_regressions;
mod grpc;
mod hooks;
mod http;
mod introspection;
mod jwks;
mod observe;
mod properties;
mod proxy;
mod redis_store;
mod revocation;
mod revocation_window;
mod service;
mod token_server;
mod vectors;
