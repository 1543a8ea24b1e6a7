//! Roles read from arbitrary payloads at arbitrary claim paths, and arbitrary
//! introspection answer bodies: see `tower_jwt_auth_fuzz::claim_answers`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_jwt_auth_fuzz::claim_answers(data));
