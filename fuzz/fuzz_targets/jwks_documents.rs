//! Arbitrary bytes as a JWKS document and as one JWK: see
//! `tower_jwt_auth_fuzz::jwks_documents`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_jwt_auth_fuzz::jwks_documents(data));
