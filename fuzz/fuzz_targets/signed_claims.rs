//! Header and payload JSON from the input, signed with the real HMAC secret, so the
//! claims checks past the signature are reached: see `tower_jwt_auth_fuzz::signed_claims`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tower_jwt_auth_fuzz::signed_claims(data);
});
