//! Arbitrary `Host` and `X-Forwarded-*` headers from trusted and untrusted peers, with a
//! DPoP proof: see `tower_jwt_auth_fuzz::forwarded_headers`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tower_jwt_auth_fuzz::forwarded_headers(data);
});
