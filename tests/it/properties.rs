//! The fuzz targets' properties (fuzz/src/lib.rs, compiled in here) on proptest inputs that
//! are near-valid rather than random: tokens with JSON headers and an `alg` from a list,
//! claims around the configured rules, JWKS-like documents, `Cache-Control` directive
//! lists. A smoke for `cargo test`; the fuzz targets (fuzz/README.md) go much further.

use crate::fuzz_checks;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const FAR: u64 = 4_102_444_800;

/// 512 cases per property (about a second in all); `PROPTEST_CASES` overrides.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(512);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Adds `key: value` to the object when the value is not `Value::Null`.
fn put(object: &mut Map<String, Value>, key: &str, value: Value) {
    if !value.is_null() {
        object.insert(key.to_owned(), value);
    }
}

fn alg() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        "HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "EdDSA", "none", "hs256", "",
    ])
    .prop_map(Value::from)
}

fn header() -> impl Strategy<Value = Value> {
    let kid = prop::option::of(prop::sample::select(vec![
        "hmac", "rsa", "pss", "ec", "ed", "x",
    ]));
    let typ = prop::option::of(prop::sample::select(vec![
        "JWT",
        "at+jwt",
        "application/AT+JWT",
        "refresh",
    ]));
    (alg(), kid, typ, any::<bool>()).prop_map(|(alg, kid, typ, crit)| {
        let mut h = Map::new();
        put(&mut h, "alg", alg);
        put(&mut h, "kid", kid.map_or(Value::Null, Value::from));
        put(&mut h, "typ", typ.map_or(Value::Null, Value::from));
        if crit {
            h.insert("crit".into(), json!(["exp"]));
        }
        Value::Object(h)
    })
}

/// Claims around the rules of the signed-claims validators: times in the past, near now
/// and far ahead; the configured issuer, audience and scope, or others.
fn claims() -> impl Strategy<Value = Value> {
    let t = now() as i64;
    let time = prop_oneof![
        Just(Value::Null),
        Just(json!(FAR)),
        Just(json!(t - 3600)),
        (-90i64..90).prop_map(move |d| json!(t + d)),
        Just(json!(FAR as f64 + 0.5)),
        Just(json!(-1)),
        Just(json!("4102444800")),
    ];
    let iss = prop::sample::select(vec![
        Value::Null,
        json!("https://issuer.example"),
        json!("x"),
    ]);
    let aud = prop::sample::select(vec![
        Value::Null,
        json!("api"),
        json!(["x", "api"]),
        json!([]),
        json!("x"),
        json!(7),
    ]);
    let scope = prop::sample::select(vec![
        Value::Null,
        json!("read write"),
        json!("readonly"),
        json!(["read"]),
    ]);
    let token_type = prop::sample::select(vec![Value::Null, json!("access"), json!("refresh")]);
    let sub = prop::sample::select(vec![Value::Null, json!("ada"), json!(1)]);
    (
        time.clone(),
        time,
        iss,
        aud,
        scope,
        token_type,
        sub,
        any::<bool>(),
    )
        .prop_map(|(exp, nbf, iss, aud, scope, token_type, sub, scp)| {
            let mut c = Map::new();
            put(&mut c, "exp", exp);
            put(&mut c, "nbf", nbf);
            put(&mut c, "iss", iss);
            put(&mut c, "aud", aud);
            put(&mut c, if scp { "scp" } else { "scope" }, scope);
            put(&mut c, "token_type", token_type);
            put(&mut c, "sub", sub);
            Value::Object(c)
        })
}

fn segment() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{0,48}"
}

/// A compact JWS nobody signed with the validators' keys: JSON header and claims with a
/// random, empty or wrong-key signature, or three random base64url segments.
fn unsigned_token() -> impl Strategy<Value = String> {
    let json_token = (header(), claims(), segment(), 0..3u8).prop_map(|(h, c, sig, kind)| {
        let h = h.to_string();
        let c = c.to_string();
        match kind {
            0 => format!("{}.{}.{sig}", b64(h.as_bytes()), b64(c.as_bytes())),
            1 => format!("{}.{}.", b64(h.as_bytes()), b64(c.as_bytes())),
            // Signed with the secret's last byte changed: a wrong key.
            _ => {
                let token = fuzz_checks::sign_hs256(h.as_bytes(), c.as_bytes());
                let (input, _) = token.rsplit_once('.').unwrap();
                let mut wrong = fuzz_checks::SECRET.to_vec();
                *wrong.last_mut().unwrap() ^= 1;
                let key = jsonwebtoken::EncodingKey::from_secret(&wrong).unwrap();
                let sig = jsonwebtoken::crypto::sign(
                    input.as_bytes(),
                    &key,
                    jsonwebtoken::Algorithm::HS256,
                )
                .unwrap();
                format!("{input}.{sig}")
            }
        }
    });
    let random = (segment(), segment(), segment()).prop_map(|(a, b, c)| format!("{a}.{b}.{c}"));
    prop_oneof![3 => json_token, 1 => random]
}

const NAMES: u8 = 8;

/// One header record in `fuzz_checks::request_from_bytes`'s format.
fn header_record() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        unsigned_token().prop_map(String::into_bytes),
        prop::sample::select(vec![
            "",
            "POST",
            "https://app.example",
            "application/grpc",
            "application/json",
            "0",
            "5",
            "chunked",
            "Basic dXNlcjpwYXNz",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..24),
    ];
    (0..NAMES, 0..4u8, value).prop_map(|(name, prefix, mut value)| {
        value.truncate(255);
        let mut record = vec![name | prefix << 3, value.len() as u8];
        record.extend(value);
        record
    })
}

fn jwk() -> impl Strategy<Value = Value> {
    let kty = prop::sample::select(vec!["oct", "RSA", "EC", "OKP", "foo"]);
    let alg = prop::sample::select(vec![
        "", "HS256", "HS384", "HS512", "RS256", "PS512", "ES256", "ES384", "EdDSA", "RSA-OAEP",
    ]);
    let crv = prop::sample::select(vec!["P-256", "P-384", "P-521", "Ed25519", "X25519"]);
    let key_use = prop::sample::select(vec!["", "sig", "enc"]);
    let ops = prop::sample::select(vec![Value::Null, json!(["verify"]), json!(["sign"])]);
    let secret = prop::collection::vec(any::<u8>(), 0..80);
    let modulus_bytes = prop_oneof![Just(128usize), Just(255), Just(256), Just(384)];
    let kid = prop::option::of("[a-c]");
    (kty, alg, crv, key_use, ops, secret, modulus_bytes, kid).prop_map(
        |(kty, alg, crv, key_use, ops, secret, n_len, kid)| {
            let mut k = Map::new();
            k.insert("kty".into(), kty.into());
            if !alg.is_empty() {
                k.insert("alg".into(), alg.into());
            }
            if !key_use.is_empty() {
                k.insert("use".into(), key_use.into());
            }
            put(&mut k, "key_ops", ops);
            put(&mut k, "kid", kid.map_or(Value::Null, Value::from));
            match kty {
                "oct" => put(&mut k, "k", b64(&secret).into()),
                "RSA" => {
                    let mut n = vec![0xC5u8; n_len];
                    n[..secret.len().min(n_len)]
                        .copy_from_slice(&secret[..secret.len().min(n_len)]);
                    put(&mut k, "n", b64(&n).into());
                    put(&mut k, "e", "AQAB".into());
                }
                _ => {
                    put(&mut k, "crv", crv.into());
                    put(&mut k, "x", b64(&secret).into());
                    put(&mut k, "y", b64(&secret).into());
                }
            }
            Value::Object(k)
        },
    )
}

#[cfg(feature = "fuzzing")]
fn cache_control_value() -> impl Strategy<Value = String> {
    let directive = prop_oneof![
        prop::sample::select(vec![
            "no-store",
            "No-Cache",
            "no-cache=\"set-cookie, x\"",
            "public",
            "private=\"a, no-store\"",
            "must-revalidate",
            "max-age",
            "max-age=",
            "max-age=-1",
            "max-age=1.5",
            "max-age=\"60\"",
            "max-age=99999999999999999999",
            "x=\"\\\"\"",
            "x=\"unterminated",
        ])
        .prop_map(str::to_owned),
        (0u64..100_000).prop_map(|n| format!("max-age={n}")),
        (0u64..100).prop_map(|n| format!("s-maxage={n}")),
    ];
    let separator = prop::sample::select(vec![",", ", ", " ,", ",\t", ",,"]);
    prop::collection::vec((directive, separator), 0..5).prop_map(|parts| {
        parts
            .into_iter()
            .map(|(d, s)| format!("{d}{s}"))
            .collect::<String>()
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn request_headers_reach_the_inner_service_only_with_claims(
        first in any::<u8>(),
        records in prop::collection::vec(header_record(), 0..5),
    ) {
        let mut data = vec![first];
        data.extend(records.concat());
        fuzz_checks::request_headers(&data);
    }

    #[test]
    fn unsigned_tokens_are_never_accepted(token in unsigned_token()) {
        fuzz_checks::validator_tokens(token.as_bytes());
    }

    #[test]
    fn signed_tokens_are_accepted_only_when_valid(h in header(), c in claims()) {
        let mut data = h.to_string().into_bytes();
        data.push(0xFF);
        data.extend(c.to_string().into_bytes());
        fuzz_checks::signed_claims(&data);
    }

    #[test]
    fn jwks_keys_accepted_can_verify_and_are_strong(
        keys in prop::collection::vec(jwk(), 0..4),
    ) {
        fuzz_checks::jwks_documents(json!({ "keys": keys }).to_string().as_bytes());
        for key in &keys {
            fuzz_checks::jwks_documents(key.to_string().as_bytes());
        }
    }
}

#[cfg(feature = "fuzzing")]
proptest! {
    #![proptest_config(config())]

    #[test]
    fn cache_control_no_store_means_do_not_cache(value in cache_control_value()) {
        fuzz_checks::cache_control(value.as_bytes());
    }

    #[test]
    fn revocation_messages_parse_back_to_themselves(
        kind in prop::sample::select(vec!["r", "h", "x"]),
        number in prop::string::string_regex("[0-9]{0,22}(\\.[0-9]{1,3})?").unwrap(),
        rest in ".{0,40}",
    ) {
        fuzz_checks::revocation_messages(format!("{kind} {number} {rest}").as_bytes());
    }

    #[test]
    fn roles_are_what_the_json_tree_has_at_the_path(
        path in prop::sample::select(vec!["roles", "groups", "realm_access.roles", "a.b.c", "a..b"]),
        member in prop::sample::select(vec!["roles", "groups", "realm_access", "a", "b"]),
        value in prop::sample::select(vec![
            r#"["x","y"]"#, r#""one""#, "7", "null", r#"{"roles":["k"]}"#, r#"{"b":{"c":"d"}}"#,
            r#"[1,"z",[]]"#,
        ]),
        twice in any::<bool>(),
    ) {
        let extra = if twice { format!(r#","{member}":["dup"]"#) } else { String::new() };
        let payload = format!(r#"{{"{member}":{value}{extra}}}"#);
        fuzz_checks::claim_answers(format!("\0{path}\n{payload}").as_bytes());
    }

    #[test]
    fn introspection_answers_are_active_only_when_active_is_true(
        active in prop::sample::select(vec!["true", "false", r#""true""#, "1", "null"]),
        exp in prop::sample::select(vec!["", r#","exp":1764653000"#, r#","exp":"soon""#, r#","exp":-5"#]),
        twice in any::<bool>(),
    ) {
        let again = if twice { r#","active":false"# } else { "" };
        fuzz_checks::claim_answers(format!("\x01{{\"active\":{active}{exp}{again}}}").as_bytes());
    }

    #[test]
    fn dpop_proofs_are_accepted_exactly_when_the_rfc_says(
        choices in prop::collection::vec(any::<u8>(), 10),
        text in ".{0,24}",
    ) {
        let mut data = choices;
        data[0] &= 0x3f;
        data.extend_from_slice(text.as_bytes());
        fuzz_checks::dpop_proofs(&data);
    }

    #[test]
    fn dpop_proofs_from_json_are_accepted_only_when_the_rfc_says(
        typ in prop::sample::select(vec!["dpop+jwt", "Application/DPoP+JWT", "JWT", "dpop"]),
        alg in prop::sample::select(vec!["ES256", "ES384", "HS256", "none"]),
        extra in prop::sample::select(vec!["", r#","d":"$x""#, r#","kid":"k""#, r#","x":"$y""#]),
        htm in prop::sample::select(vec!["GET", "POST", "get"]),
        htu in prop::sample::select(vec![
            "https://api.example.test/orders",
            "https://api.example.test/orders?q=1",
            "https://api.example.test/orders/",
            "https://api.example.test/%6Frders",
            "https://user@api.example.test/orders",
            "http://api.example.test/orders",
        ]),
        iat in prop::sample::select(vec!["$iat", "\"$iat\"", "1", "$iat.5"]),
        jti in ".{0,8}",
        ath in prop::sample::select(vec!["$ath", "", "AAAA"]),
    ) {
        let header = format!(
            r#"{{"typ":"{typ}","alg":"{alg}","jwk":{{"kty":"EC","crv":"P-256","x":"$x","y":"$y"{extra}}}}}"#
        );
        let payload = format!(
            r#"{{"jti":{},"htm":"{htm}","htu":"{htu}","iat":{iat},"ath":"{ath}"}}"#,
            Value::from(jti),
        );
        let mut data = vec![0x40];
        data.extend_from_slice(header.as_bytes());
        data.push(0xff);
        data.extend_from_slice(payload.as_bytes());
        fuzz_checks::dpop_proofs(&data);
    }

    #[test]
    fn forwarded_headers_are_believed_from_trusted_peers_only(
        peer in 0u8..4,
        derived in any::<bool>(),
        host in prop::sample::select(vec!["api.example.test", "127.0.0.1:8001", "", "a b"]),
        proto in prop::sample::select(vec!["https", "http", "HTTPS", "ftp", "", "http, https"]),
        fwd_host in prop::sample::select(vec![
            "api.example.test", "API.example.test:8443", "evil.example, api.example.test",
            "u@api.example.test", "api.example.test:x", "", ",",
        ]),
        htu in prop::sample::select(vec![
            "https://api.example.test/orders", "http://api.example.test/orders",
            "https://api.example.test:8443/orders", "https://evil.example/orders", "",
        ]),
        forwarded_for in prop::collection::vec(
            prop::sample::select(vec!["198.51.100.4", "127.0.0.1", "::1", "unknown", "10.0.0.1:80", "1.1.1.1, 127.0.0.3"]),
            0..3,
        ),
    ) {
        let mut data = vec![peer, u8::from(derived)];
        let mut fields = vec![host, proto, fwd_host, htu];
        fields.extend(forwarded_for);
        data.extend_from_slice(fields.join("\n").as_bytes());
        let _accepted = fuzz_checks::forwarded_headers(&data);
    }
}
