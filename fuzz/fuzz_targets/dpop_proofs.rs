//! DPoP proofs built from the input (or the input as a proof) through `JwtAuth`: see
//! `tower_jwt_auth_fuzz::dpop_proofs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tower_jwt_auth_fuzz::dpop_proofs(data);
});
