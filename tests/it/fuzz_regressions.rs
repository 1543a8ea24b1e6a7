//! Crashes found by the fuzz targets (fuzz/README.md), each minimised with `cargo fuzz tmin`
//! and fed through the same property as its target (fuzz/src/lib.rs, compiled in here);
//! and every committed seed, replayed through its target's property.

use crate::fuzz_checks;

use std::path::Path;

/// F1, found by `jwks_documents` within seconds. `KeySet::from_jwks_json` documents that
/// "the document itself must be a JSON object with `keys`" (RFC 7517 §5: a JWK Set is a JSON
/// object), but serde's derived `Document` also accepts the sequence form of a struct, so
/// the JSON array `[[]]` (hex `5b5b5d5d`) is taken as a key set with no keys, and
/// `[[{…a JWK…}]]` as a key set holding that key. Location: `src/key/key_set.rs`,
/// `KeySet::from_jwks_json_where` (the `serde_json::from_str::<Document>` call); remote key
/// sets go through it too. Fixed: the document is read through `json::from_object` (an
/// object or nothing), and a member of `keys` that is not an object is skipped.
#[test]
fn jwks_document_that_is_an_array_is_refused() {
    fuzz_checks::jwks_documents(b"[[]]");
}

/// F2, found by `signed_claims` in under a minute. RFC 7515 §5.2 step 4: the decoded header
/// must be "a UTF-8-encoded representation of a completely valid JSON object". A header
/// whose `alg`/`kid`/`typ` are fine but whose other members hold bytes that are not UTF-8 is
/// accepted: serde_json skips the members it ignores without checking their UTF-8. Input
/// (header `0xFF` payload, minimised with `cargo fuzz tmin`), hex
/// `7b22616c67223a224853323536222c22223a22bd227dff7b22657870223a323035313232323430307d`:
/// header `{"alg":"HS256","":"\xBD"}`, payload `{"exp":2051222400}`. Only a holder of the key
/// can sign such a header, so this is conformance rather than a bypass. Location:
/// `src/json.rs`, `from_object` (used by `TokenHeader::parse` in `src/header.rs` and for the
/// registered claims in `src/validate.rs`): `serde_json::from_slice` without a UTF-8 check
/// of the whole input; the claims have the same gap when `T` ignores a member. Fixed:
/// `from_object` checks the whole text is UTF-8 before serde reads it (header and claims).
#[test]
fn signed_header_that_is_not_utf8_is_refused() {
    let mut data = br#"{"alg":"HS256","":""#.to_vec();
    data.push(0xBD);
    data.extend_from_slice(br#""}"#);
    data.push(0xFF);
    data.extend_from_slice(br#"{"exp":2051222400}"#);
    fuzz_checks::signed_claims(&data);
}

/// F3, found by `request_headers` within a minute. With the preflight pass-through on, an
/// `OPTIONS` request with `Origin`, `Access-Control-Request-Method`, `Content-Length: 0` and
/// a second `Content-Length` that is not zero reaches the inner service without claims: the
/// check reads only the first `Content-Length`. RFC 9112 §6.3 makes differing values a
/// framing error, and DESIGN.md says the pass-through never passes a request that could
/// carry a body. hyper refuses such HTTP/1 requests before the layer, but the layer takes
/// any `http::Request`. Input (minimised with `cargo fuzz tmin`), hex `82030004000601307ec9`:
/// layer with the pass-through on, `OPTIONS`, `origin: ""`, `access-control-request-method:
/// ""`, `content-length: 0`, `content-length: Bearer eyJ…` (the harness's valid-token prefix).
/// Location: `src/service.rs`, `is_bodiless_preflight` (`headers.get(CONTENT_LENGTH)`).
/// Fixed: every `Content-Length` must be `0`.
#[test]
fn preflight_with_a_second_content_length_is_authenticated() {
    fuzz_checks::request_headers(&[0x82, 0x03, 0x00, 0x04, 0x00, 0x06, 0x01, 0x30, 0x7e, 0xc9]);
    // The same, readable: `content-length: 0` then `content-length: 5`.
    fuzz_checks::request_headers(&[
        0x82, 0x03, 0x00, 0x04, 0x00, 0x06, 0x01, b'0', 0x06, 0x01, b'5',
    ]);
}

/// Found by `claim_answers` in its first seconds: roles were read from a payload that is a
/// complete JSON object followed by more bytes (the validator had refused such a payload
/// before reading roles, so no token was affected).
/// Found by `claim_answers` next: an introspection answer with bytes that are not UTF-8 in
/// a member nobody reads was active (serde_json does not check the strings it skips). The
/// claims decoded from it afterwards were refused, so no request was accepted; such a
/// body is now not JSON (503).
#[cfg(feature = "fuzzing")]
#[test]
fn an_introspection_answer_that_is_not_utf8_is_not_json() {
    fuzz_checks::claim_answers(b"\x01{\"active\":true,\"sub\":\"ar\x83eso\",\"exp\":1764653000}");
}

/// The same for roles: bytes that are not UTF-8 in another member.
#[cfg(feature = "fuzzing")]
#[test]
fn roles_from_a_payload_that_is_not_utf8_are_none() {
    fuzz_checks::claim_answers(b"\0roles\n{\"sub\":\"\xd9a\",\"roles\":[\"Reports.R\"]}");
}

#[cfg(feature = "fuzzing")]
#[test]
fn roles_after_a_complete_object_and_trailing_bytes_are_none() {
    fuzz_checks::claim_answers(
        b"\0roles\n{\"roles\":[1,\"a\",null,[\"b\"],{\"c\":1},\"d\"]}l,[\"b\"],{\"c\":1},\"d\"]}",
    );
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-"))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", folder.display());
    files
        .iter()
        .map(|path| std::fs::read(path).unwrap())
        .collect()
}

fn seed(target: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
        .join(format!("seed-{name}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// F4, found by `dpop_proofs` after about 80 s; fixed (`htu::explicit_port`). RFC
/// 9449 §4.3 check 9: `htu` must be the request's URI (after RFC 3986 §6.2 normalisation).
/// A proof whose `htu` has a port that is not a port (RFC 3986 §3.2.3: `port = *DIGIT`),
/// such as `https://api.example.test:x/orders`, `:443)a`, `:+443`, `:-443` or `:65536`, is
/// accepted for `https://api.example.test/orders`: such an `htu` is not a URI at all.
/// Found as `HTTPS://api.example.test:443)a/../orders`. Location: `src/dpop/htu.rs`,
/// `parse_absolute`: `authority.port_u16().unwrap_or(scheme.default_port())`, where
/// `http`'s `port_u16` is `None` both without a port and for one that does not parse as a
/// `u16` (and `http::Uri` lets such an authority through). A port that is present must be
/// digits only (an empty one is the default, §6.2.3); the configured resource URL goes
/// through the same function.
#[test]
fn proof_with_an_htu_port_that_is_not_a_port_is_refused() {
    for htu in [
        "https://api.example.test:x/orders",
        "HTTPS://api.example.test:443)a/../orders",
        "https://api.example.test:+443/orders",
        "https://api.example.test:-443/orders",
        "https://api.example.test:65536/orders",
    ] {
        // Chosen members, all valid but `htu`, given as free text.
        let mut data = vec![0, 0, 0, 0, 0, 0, 6, 0, 0, 0];
        data.extend_from_slice(htu.as_bytes());
        assert!(!fuzz_checks::dpop_proofs(&data), "{htu}");
    }
}

#[test]
fn request_headers_seeds_hold() {
    seeds("request_headers").iter().for_each(|s| {
        fuzz_checks::request_headers(s);
    });
    // The harness is not vacuous: a valid token reaches the inner service, with claims.
    assert!(fuzz_checks::request_headers(&seed(
        "request_headers",
        "valid-bearer"
    )));
    assert!(fuzz_checks::request_headers(&seed(
        "request_headers",
        "valid-bearer-wide"
    )));
    assert!(!fuzz_checks::request_headers(&seed(
        "request_headers",
        "preflight"
    )));
}

#[test]
fn validator_tokens_seeds_hold() {
    seeds("validator_tokens")
        .iter()
        .for_each(|s| fuzz_checks::validator_tokens(s));
}

#[test]
fn signed_claims_seeds_hold() {
    seeds("signed_claims").iter().for_each(|s| {
        fuzz_checks::signed_claims(s);
    });
    // The harness reaches the accepting path of both validators: the plain one (leeway 0,
    // no audience) and the configured one (typ, iss, aud, scope, sub).
    assert_eq!(
        fuzz_checks::signed_claims(&seed("signed_claims", "valid")),
        1
    );
    assert_eq!(
        fuzz_checks::signed_claims(&seed("signed_claims", "configured")),
        1
    );
    assert_eq!(
        fuzz_checks::signed_claims(&seed("signed_claims", "expired")),
        0
    );
}

#[test]
fn jwks_documents_seeds_hold() {
    seeds("jwks_documents")
        .iter()
        .for_each(|s| fuzz_checks::jwks_documents(s));
}

#[cfg(feature = "fuzzing")]
#[test]
fn cache_control_seeds_hold() {
    seeds("cache_control")
        .iter()
        .for_each(|s| fuzz_checks::cache_control(s));
}

#[cfg(feature = "fuzzing")]
#[test]
fn revocation_messages_seeds_hold() {
    seeds("revocation_messages")
        .iter()
        .for_each(|s| fuzz_checks::revocation_messages(s));
}

#[cfg(feature = "fuzzing")]
#[test]
fn claim_answers_seeds_hold() {
    let seeds = seeds("claim_answers");
    assert_eq!(seeds.len(), 16);
    seeds.iter().for_each(|s| fuzz_checks::claim_answers(s));
}

#[test]
fn dpop_proofs_seeds_hold() {
    seeds("dpop_proofs").iter().for_each(|s| {
        fuzz_checks::dpop_proofs(s);
    });
    assert!(fuzz_checks::dpop_proofs(&seed("dpop_proofs", "valid")));
    assert!(fuzz_checks::dpop_proofs(&seed(
        "dpop_proofs",
        "valid-query-in-htu"
    )));
    assert!(!fuzz_checks::dpop_proofs(&seed("dpop_proofs", "wrong-htm")));
    assert!(!fuzz_checks::dpop_proofs(&seed("dpop_proofs", "private-d")));
    // A valid proof, by a key the token is not bound to (RFC 9449 §7.1).
    assert!(!fuzz_checks::dpop_proofs(&seed(
        "dpop_proofs",
        "bound-to-other-key"
    )));
    // §4.3 check 1: exactly one `DPoP` header.
    assert!(!fuzz_checks::dpop_proofs(&seed(
        "dpop_proofs",
        "two-proofs"
    )));
    assert!(!fuzz_checks::dpop_proofs(&seed("dpop_proofs", "no-proof")));
    // Header and payload JSON from the input, signed by the bound key.
    assert!(fuzz_checks::dpop_proofs(&seed("dpop_proofs", "json-valid")));
    assert!(!fuzz_checks::dpop_proofs(&seed("dpop_proofs", "json-crit")));
    assert!(!fuzz_checks::dpop_proofs(&seed(
        "dpop_proofs",
        "json-private-d"
    )));
    assert!(!fuzz_checks::dpop_proofs(&seed(
        "dpop_proofs",
        "json-iat-string"
    )));
}

#[test]
fn forwarded_headers_seeds_hold() {
    seeds("forwarded_headers").iter().for_each(|s| {
        fuzz_checks::forwarded_headers(s);
    });
    let accepted = |name| fuzz_checks::forwarded_headers(&seed("forwarded_headers", name));
    // The proxy's public URL, built or given; the request's own Host from a client.
    for name in [
        "trusted",
        "trusted-derived",
        "trusted-appended",
        "untrusted-own-host",
    ] {
        assert!(accepted(name), "{name}");
    }
    // A client's invented host, a scheme or host that is not one.
    for name in [
        "untrusted-spoof",
        "trusted-ftp",
        "trusted-userinfo",
        "trusted-bad-port",
    ] {
        assert!(!accepted(name), "{name}");
    }
}
