//! Arbitrary payloads on the Redis store's pub/sub channel: see
//! `tower_jwt_auth_fuzz::revocation_messages`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_jwt_auth_fuzz::revocation_messages(data));
