//! Arbitrary bytes as a token through HMAC, RSA, P-256, Ed25519 and key-set validators:
//! see `tower_jwt_auth_fuzz::validator_tokens`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_jwt_auth_fuzz::validator_tokens(data));
