//! Arbitrary strings as a `Cache-Control` value for the JWKS resolver's TTL: see
//! `tower_jwt_auth_fuzz::cache_control`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_jwt_auth_fuzz::cache_control(data));
