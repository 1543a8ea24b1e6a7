//! Arbitrary bytes as a JWKS document and as one JWK: see
//! `tower_jwt_auth_fuzz::jwks_documents`. Until finding F1 (a JSON array accepted as a JWKS
//! document) is fixed, the target skips that one property; its regression test checks it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_jwt_auth_fuzz::jwks_documents_skipping_f1(data));
