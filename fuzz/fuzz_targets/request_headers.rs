//! A request built from the input (method, headers from a fixed list, arbitrary values)
//! through `JwtAuth`: see `tower_jwt_auth_fuzz::request_headers`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tower_jwt_auth_fuzz::request_headers(data);
});
