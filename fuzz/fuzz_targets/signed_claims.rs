//! Header and payload JSON from the input, signed with the real HMAC secret, so the
//! claims checks past the signature are reached: see `tower_jwt_auth_fuzz::signed_claims`.
//! Until finding F2 (a header with invalid UTF-8 is accepted) is fixed, the target skips
//! that one property; its regression test checks it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tower_jwt_auth_fuzz::signed_claims_skipping_f2(data);
});
