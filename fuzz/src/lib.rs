//! The properties the fuzz targets check, one public function per target. Each takes
//! arbitrary bytes and panics when a property fails; libFuzzer reports the panic as a crash.
//!
//! The same file is compiled into the crate's own tests (`tests/it/properties.rs` for the
//! proptest smoke, `tests/it/fuzz_regressions.rs` for minimised crashes) through `#[path]`, so
//! it uses only crates that are dev-dependencies of `tower-jwt-auth` as well, and no
//! `crate::` paths. The properties are written from the specifications (RFC 6750, 7515,
//! 7517, 7518, 7519, 9111) and DESIGN.md, not from the code under test.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{AlgorithmFamily, EncodingKey};
use serde_json::Value;
use tower::util::ServiceFn;
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_jwt_auth::{
    Algorithm, AlgorithmSet, AuthError, Claims, DefaultResponder, JwtAuth, JwtAuthLayer,
    KeyResolver, KeySet, StaticKey, TokenHeader, TokenSource, Validator, VerificationKey,
};

/// The tests' HMAC secret (`tests/it/support`'s `SECRET_A`): 64 bytes, enough for HS512.
pub const SECRET: &[u8] = b"test-secret-a-0123456789abcdef0123456789abcdef0123456789abcdef!!";

const RSA_PUB: &[u8] = include_bytes!("../../tests/keys/rsa_a.pub");
const P256_PUB: &[u8] = include_bytes!("../../tests/keys/p256_a.pub");
const ED25519_PUB: &[u8] = include_bytes!("../../tests/keys/ed25519_a.pub");

/// Runs a future to completion on a current-thread runtime built once per thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime builds");
    }
    RUNTIME.with(|runtime| runtime.block_on(future))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An RFC 7519 NumericDate as this crate documents it: a non-negative number, a fraction
/// rounded down.
fn numeric_date(value: &Value) -> Option<u64> {
    if let Some(n) = value.as_u64() {
        return Some(n);
    }
    let f = value.as_f64()?;
    (f.is_finite() && f >= 0.0 && f < u64::MAX as f64).then_some(f as u64)
}

fn build<R: KeyResolver>(resolver: R) -> Validator<Value, R> {
    Validator::<Value>::builder(resolver)
        .algorithms(AlgorithmSet::all().iter())
        .build_validator()
        .expect("the validator builds")
}

// ---------------------------------------------------------------------------------------
// (a) request_headers: a request through the layer.
// ---------------------------------------------------------------------------------------

/// The inner service answers with a status no rejection uses.
const INNER_STATUS: StatusCode = StatusCode::IM_A_TEAPOT;

/// Put by the inner service into its response: it was reached, and whether the request
/// it saw carried `Claims`.
#[derive(Debug, Clone, Copy)]
struct InnerSaw {
    claims: bool,
}

type InnerFn = fn(Request<()>) -> Ready<Result<Response<()>, Infallible>>;
type Auth = JwtAuth<ServiceFn<InnerFn>, Value, StaticKey, DefaultResponder>;

fn inner(request: Request<()>) -> Ready<Result<Response<()>, Infallible>> {
    let claims = request.extensions().get::<Claims<Value>>().is_some();
    let mut response = Response::new(());
    *response.status_mut() = INNER_STATUS;
    response.extensions_mut().insert(InnerSaw { claims });
    ready(Ok(response))
}

const METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::OPTIONS,
    Method::PUT,
    Method::DELETE,
    Method::HEAD,
];

const HEADER_NAMES: [&str; 8] = [
    "authorization",
    "cookie",
    "content-type",
    "origin",
    "access-control-request-method",
    "x-api-token",
    "content-length",
    "transfer-encoding",
];

/// Layer configurations: the defaults, and every source with the preflight pass-through on.
const STRICT: usize = 0;
const WIDE: usize = 1;

struct Layers {
    services: [Auth; 2],
    /// A token the layers accept (HS256, `exp` in 2100), for the fuzzer to mutate around.
    valid_token: String,
}

static LAYERS: LazyLock<Layers> = LazyLock::new(|| {
    let key = || StaticKey::hmac(Algorithm::HS256, SECRET).expect("the secret is long enough");
    let strict = JwtAuthLayer::<Value>::builder(key())
        .algorithms([Algorithm::HS256])
        .build()
        .expect("the default layer builds");
    let wide = JwtAuthLayer::<Value>::builder(key())
        .algorithms([Algorithm::HS256])
        .token_sources([
            TokenSource::bearer(),
            TokenSource::cookie("access_token"),
            TokenSource::header(HeaderName::from_static("x-api-token")),
        ])
        .allow_cors_preflight(true)
        .cache(false)
        .build()
        .expect("the wide layer builds");
    let service: ServiceFn<InnerFn> = service_fn(inner as InnerFn);
    Layers {
        services: [strict.layer(service), wide.layer(service)],
        valid_token: sign_hs256(
            br#"{"alg":"HS256","typ":"JWT"}"#,
            br#"{"sub":"fuzz","exp":4102444800}"#,
        ),
    }
});

/// Decodes a request: byte 0 picks the method (low 7 bits) and the layer (top bit); then
/// `[selector, length, value…]` records add headers. The selector's low 3 bits name the
/// header; bits 3–4 prefix the value with nothing, `Bearer `, `access_token=`, or
/// `Bearer <a valid token>`. Values that are not valid header bytes are skipped.
pub fn request_from_bytes(data: &[u8]) -> (usize, Request<()>) {
    let (first, mut rest) = data.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
    let mut request = Request::new(());
    *request.method_mut() = METHODS[usize::from(first & 0x7f) % METHODS.len()].clone();
    *request.uri_mut() = http::Uri::from_static("/resource");
    let config = usize::from(first >> 7);
    while let [selector, len, tail @ ..] = rest {
        let (value, next) = tail.split_at(usize::from(*len).min(tail.len()));
        rest = next;
        let name = HEADER_NAMES[usize::from(selector & 0x07)];
        let mut bytes = match (selector >> 3) & 0x03 {
            0 => Vec::new(),
            1 => b"Bearer ".to_vec(),
            2 => b"access_token=".to_vec(),
            _ => format!("Bearer {}", LAYERS.valid_token).into_bytes(),
        };
        bytes.extend_from_slice(value);
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            request
                .headers_mut()
                .append(HeaderName::from_static(name), value);
        }
    }
    (config, request)
}

/// A CORS preflight that carries nothing (DESIGN.md: the pass-through "never passes gRPC or
/// a request with a body"): `OPTIONS` with `Origin` and `Access-Control-Request-Method`,
/// no `Content-Type`, no `Transfer-Encoding`, and every `Content-Length` zero (RFC 9112
/// §6.3: differing `Content-Length` values make the framing an error, not "no body").
fn is_bodiless_preflight(method: &Method, headers: &HeaderMap) -> bool {
    let no_body = headers
        .get_all("content-length")
        .iter()
        .all(|v| v.as_bytes() == b"0");
    method == Method::OPTIONS
        && headers.contains_key("origin")
        && headers.contains_key("access-control-request-method")
        && !headers.contains_key("content-type")
        && !headers.contains_key("transfer-encoding")
        && no_body
}

/// gRPC's `content-type`: `application/grpc`, alone or followed by `+format` (gRPC over
/// HTTP/2, "Content-Type") or `;parameters`.
fn is_grpc(headers: &HeaderMap) -> bool {
    headers.get("content-type").is_some_and(|v| {
        let v = v.as_bytes();
        v.get(..16)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"application/grpc"))
            && matches!(v.get(16), None | Some(b'+' | b';'))
    })
}

/// (a) A request through `JwtAuth`: never panics; the inner service is reached only with
/// `Claims` in the request (or, where the layer allows it, by a bodiless CORS preflight);
/// every rejection is an RFC 6750 status (or a gRPC trailers-only answer) with the
/// `AuthError` in its extensions. Returns whether the inner service was reached.
pub fn request_headers(data: &[u8]) -> bool {
    let (config, request) = request_from_bytes(data);
    let method = request.method().clone();
    let headers = request.headers().clone();
    let mut service = LAYERS.services[config].clone();
    let response = block_on(async move { service.ready().await?.call(request).await });
    let response = match response {
        Ok(response) => response,
        Err(never) => match never {},
    };
    match response.extensions().get::<InnerSaw>() {
        Some(saw) => {
            assert_eq!(response.status(), INNER_STATUS);
            let preflight_allowed = config == WIDE && is_bodiless_preflight(&method, &headers);
            assert!(
                saw.claims || preflight_allowed,
                "the inner service was reached without claims: layer {config}, {method} {headers:?}"
            );
            true
        }
        None => {
            assert!(
                response.extensions().get::<AuthError>().is_some(),
                "a rejection carries its AuthError: {method} {headers:?}"
            );
            let status = response.status().as_u16();
            if is_grpc(&headers) {
                assert_eq!(
                    status, 200,
                    "gRPC rejections are trailers-only: {headers:?}"
                );
                assert!(response.headers().contains_key("grpc-status"));
            } else {
                assert!(
                    matches!(status, 400 | 401 | 403 | 503),
                    "rejection status {status}: {method} {headers:?}"
                );
            }
            false
        }
    }
}

// ---------------------------------------------------------------------------------------
// (b) validator_tokens: arbitrary token strings; signed_claims: real HMAC signatures.
// ---------------------------------------------------------------------------------------

struct TokenValidators {
    statics: [(&'static str, Validator<Value>); 4],
    set: Validator<Value, KeySet>,
}

static TOKEN_VALIDATORS: LazyLock<TokenValidators> = LazyLock::new(|| {
    let pem = |alg, pem| VerificationKey::from_pem(alg, pem).expect("the test key loads");
    let hmac = || VerificationKey::hmac(Algorithm::HS256, SECRET).expect("the secret is long");
    TokenValidators {
        statics: [
            ("HS256", build(StaticKey::new(hmac()))),
            (
                "RS256",
                build(StaticKey::new(pem(Algorithm::RS256, RSA_PUB))),
            ),
            (
                "ES256",
                build(StaticKey::new(pem(Algorithm::ES256, P256_PUB))),
            ),
            (
                "EdDSA",
                build(StaticKey::new(pem(Algorithm::EdDSA, ED25519_PUB))),
            ),
        ],
        set: build(KeySet::new([
            hmac().with_kid("hmac"),
            pem(Algorithm::RS256, RSA_PUB).with_kid("rsa"),
            pem(Algorithm::PS384, RSA_PUB).with_kid("pss"),
            pem(Algorithm::ES256, P256_PUB).with_kid("ec"),
            pem(Algorithm::EdDSA, ED25519_PUB).with_kid("ed"),
        ])),
    }
});

// `error_description` never echoes the token (DESIGN.md): `AuthError::description` is a
// `&'static str`, so the type already guarantees it and no check is needed here.
fn assert_refused(name: &str, token: &str, result: Result<Claims<Value>, AuthError>) {
    if let Ok(claims) = result {
        panic!("{name} accepted a token nobody signed: {token:?} -> {claims:?}");
    }
}

/// (b) Arbitrary bytes as a token through HMAC, RSA, P-256, Ed25519 and key-set
/// validators: never panics, never accepted (the fuzzer cannot sign with the test keys).
pub fn validator_tokens(data: &[u8]) {
    let token = String::from_utf8_lossy(data);
    let validators = &*TOKEN_VALIDATORS;
    for (name, validator) in &validators.statics {
        assert_refused(name, &token, block_on(validator.validate(&token)));
    }
    assert_refused("KeySet", &token, block_on(validators.set.validate(&token)));
}

static ENCODING_KEY: LazyLock<EncodingKey> = LazyLock::new(|| {
    tower_jwt_auth::install_crypto_provider();
    EncodingKey::from_secret(SECRET).expect("the secret is a key")
});

/// `b64(header).b64(payload).b64(HMAC-SHA256(SECRET, signing input))` (RFC 7515 §3.1).
pub fn sign_hs256(header: &[u8], payload: &[u8]) -> String {
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    let signature = jsonwebtoken::crypto::sign(token.as_bytes(), &ENCODING_KEY, Algorithm::HS256)
        .expect("HMAC signs anything");
    token.push('.');
    token.push_str(&signature);
    token
}

/// What a signed-claims validator was configured with, for checking what it accepted.
struct SignedRules {
    leeway: u64,
    issuer: Option<&'static str>,
    audience: Option<&'static str>,
    typ: Option<&'static str>,
    scope: Option<&'static str>,
    sub_required: bool,
}

const PLAIN: SignedRules = SignedRules {
    leeway: 0,
    issuer: None,
    audience: None,
    typ: None,
    scope: None,
    sub_required: false,
};

const CONFIGURED: SignedRules = SignedRules {
    leeway: 60,
    issuer: Some("https://issuer.example"),
    audience: Some("api"),
    typ: Some("at+jwt"),
    scope: Some("read"),
    sub_required: true,
};

static SIGNED_VALIDATORS: LazyLock<[(SignedRules, Validator<Value>); 2]> = LazyLock::new(|| {
    let key = || StaticKey::hmac(Algorithm::HS256, SECRET).expect("the secret is long enough");
    let plain = Validator::<Value>::builder(key())
        .algorithms(AlgorithmSet::all().iter())
        .leeway(std::time::Duration::ZERO)
        .cache(false)
        .build_validator()
        .expect("the plain validator builds");
    let configured = Validator::<Value>::builder(key())
        .algorithms([Algorithm::HS256, Algorithm::HS384])
        .issuer(CONFIGURED.issuer.unwrap_or_default())
        .audience(CONFIGURED.audience.unwrap_or_default())
        .expected_typ(CONFIGURED.typ.unwrap_or_default())
        .required_scopes(CONFIGURED.scope)
        .required_claims(["exp", "sub"])
        .build_validator()
        .expect("the configured validator builds");
    [(PLAIN, plain), (CONFIGURED, configured)]
});

/// Splits the input at the first `0xFF` (never part of UTF-8 JSON) into header and payload.
pub fn split_header_payload(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, b"{}"),
    }
}

/// (b, structured) Header JSON and payload JSON from the input, base64url-encoded and
/// signed with the real secret, so that everything past the signature is reached. Never
/// panics; a token is accepted only when its header is UTF-8 JSON saying HS256 and its
/// claims are valid. Returns how many of the validators accepted it.
pub fn signed_claims(data: &[u8]) -> usize {
    let (header, payload) = split_header_payload(data);
    let validators = &*SIGNED_VALIDATORS;
    let token = sign_hs256(header, payload);
    let mut accepted = 0;
    for (rules, validator) in validators {
        let before = now();
        let result = block_on(validator.validate(&token));
        let after = now();
        if let Ok(claims) = result {
            // RFC 7515 §5.2 step 4: the header must be UTF-8 JSON, every member of it.
            assert!(
                std::str::from_utf8(header).is_ok(),
                "accepted a header that is not UTF-8: {header:?}"
            );
            check_accepted(rules, header, payload, &claims, before, after);
            accepted += 1;
        }
    }
    accepted
}

/// The header members the checks read. Deserialized rather than read as a `Value`: JSON
/// allows numbers that `Value` cannot hold (`1E800`; RFC 8259 §6 lets a parser limit them),
/// and such a number in a member nobody reads does not make the header invalid.
#[derive(serde::Deserialize)]
struct HeaderView {
    alg: Option<String>,
    typ: Option<String>,
    crit: Option<serde::de::IgnoredAny>,
}

/// What must hold of a token a validator accepted. The claims are read with
/// `serde_json::Value` (as the validators' claims type is), which keeps the last of
/// duplicate members, as RFC 7519 §4 allows.
fn check_accepted(
    rules: &SignedRules,
    header: &[u8],
    payload: &[u8],
    claims: &Claims<Value>,
    before: u64,
    after: u64,
) {
    assert_eq!(
        header.iter().find(|b| !b.is_ascii_whitespace()),
        Some(&b'{'),
        "an accepted header is a JSON object"
    );
    let header: HeaderView = serde_json::from_slice(header).expect("an accepted header is JSON");
    assert_eq!(header.alg.as_deref(), Some("HS256"));
    assert!(header.crit.is_none(), "RFC 7515 §4.1.11: crit is refused");
    if let Some(expected) = rules.typ {
        let typ = header.typ.as_deref().unwrap_or("");
        let strip = |s: &str| -> String {
            let s = s.to_ascii_lowercase();
            s.strip_prefix("application/")
                .map_or(s.clone(), str::to_owned)
        };
        assert_eq!(strip(typ), strip(expected), "RFC 7515 §4.1.9: typ");
    }

    let json: Value = serde_json::from_slice(payload).expect("accepted claims are JSON");
    assert_eq!(claims.custom(), &json, "the claims are the payload");
    let payload = json.as_object().expect("accepted claims are an object");
    let exp = payload
        .get("exp")
        .and_then(numeric_date)
        .expect("an accepted token has a numeric exp");
    assert!(
        exp.saturating_add(rules.leeway) > before,
        "accepted a token that expired at {exp} (now {before})"
    );
    assert_eq!(claims.registered().exp, Some(exp));
    if let Some(nbf) = payload.get("nbf") {
        let nbf = numeric_date(nbf).expect("an accepted nbf is a NumericDate");
        assert!(
            nbf <= after.saturating_add(rules.leeway),
            "accepted before nbf"
        );
    }
    if let Some(token_type) = payload.get("token_type") {
        assert_eq!(
            token_type.as_str(),
            Some("access"),
            "a refresh token was accepted"
        );
    }
    if let Some(issuer) = rules.issuer {
        assert_eq!(payload.get("iss").and_then(Value::as_str), Some(issuer));
    }
    // RFC 7519 §4.1.3: with no audience configured, a token naming one is refused.
    let audiences: Vec<&str> = match payload.get("aud") {
        None => Vec::new(),
        Some(Value::String(one)) => vec![one],
        Some(Value::Array(many)) => many
            .iter()
            .map(|a| a.as_str().expect("aud strings"))
            .collect(),
        Some(other) => panic!("an accepted aud is a string or an array: {other}"),
    };
    match rules.audience {
        None => assert!(audiences.is_empty(), "accepted a token for {audiences:?}"),
        Some(mine) => assert!(
            audiences.contains(&mine),
            "accepted a token for {audiences:?}"
        ),
    }
    if let Some(scope) = rules.scope {
        let spaced = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .is_some_and(|s| s.split(' ').any(|g| g == scope))
        };
        let listed = payload
            .get("scp")
            .and_then(Value::as_array)
            .is_some_and(|all| all.iter().any(|g| g.as_str() == Some(scope)));
        assert!(
            spaced(payload.get("scope")) || spaced(payload.get("scp")) || listed,
            "accepted a token without scope {scope}"
        );
    }
    if rules.sub_required {
        assert!(
            payload.get("sub").is_some_and(Value::is_string),
            "sub is required"
        );
    }
}

// ---------------------------------------------------------------------------------------
// (c) jwks_documents: key sets and single keys.
// ---------------------------------------------------------------------------------------

/// RFC 7518 §3.2: an HMAC key at least as long as the hash output.
fn hmac_min_len(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

fn modulus_bits(n: &str) -> usize {
    let bytes = URL_SAFE_NO_PAD.decode(n).unwrap_or_default();
    match bytes.iter().position(|b| *b != 0) {
        Some(first) => (bytes.len() - first) * 8 - bytes[first].leading_zeros() as usize,
        None => 0,
    }
}

/// What must hold of any key accepted from a JWK: it can verify something, an HMAC key is
/// long enough for every algorithm it is bound to, and it is bound to its own family only.
fn check_key(key: &VerificationKey, jwk: Option<&Jwk>) {
    let algorithms = key.algorithms();
    assert!(!algorithms.is_empty(), "a key with no algorithm: {key:?}");
    let hmac = AlgorithmSet::family(AlgorithmFamily::Hmac);
    if key.is_symmetric() {
        assert_eq!(algorithms.intersection(hmac), algorithms, "{key:?}");
        let len = key.decoding_key().try_get_as_bytes().map_or(0, <[u8]>::len);
        assert!(len >= 32, "an HMAC key of {len} bytes was accepted");
        for alg in algorithms.iter() {
            assert!(len >= hmac_min_len(alg), "{alg:?} with {len}-byte secret");
        }
    } else {
        assert!(algorithms.intersection(hmac).is_empty(), "{key:?}");
    }
    let Some(jwk) = jwk else { return };
    assert!(
        matches!(
            jwk.common.public_key_use,
            None | Some(PublicKeyUse::Signature)
        ),
        "RFC 7517 §4.2: a key not for signatures was accepted"
    );
    if let Some(ops) = &jwk.common.key_operations {
        assert!(ops.iter().any(|op| matches!(op, KeyOperations::Verify)));
    }
    if jwk.common.key_algorithm.is_some() {
        assert_eq!(algorithms.iter().count(), 1, "bound to the JWK's alg");
    }
    assert_eq!(key.kid(), jwk.common.key_id.as_deref());
    match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let bits = modulus_bits(&rsa.n);
            assert!(bits >= 2048, "an RSA key of {bits} bits was accepted");
        }
        AlgorithmParameters::EllipticCurve(ec) => {
            assert!(matches!(
                ec.curve,
                EllipticCurve::P256 | EllipticCurve::P384
            ));
        }
        AlgorithmParameters::OctetKey(_) => assert!(key.is_symmetric()),
        _ => {}
    }
}

/// (c) Arbitrary bytes as a JWKS document and as a single JWK: never panics; a document is
/// accepted only when it is a JSON object with a `keys` array (RFC 7517 §5, and
/// `KeySet::from_jwks_json`'s own documentation); every key accepted passes [`check_key`];
/// the set holds no more keys than the document.
pub fn jwks_documents(data: &[u8]) {
    if let Ok(jwk) = serde_json::from_slice::<Jwk>(data)
        && let Ok(key) = VerificationKey::from_jwk(&jwk)
    {
        check_key(&key, Some(&jwk));
    }
    let text = String::from_utf8_lossy(data);
    let Ok(set) = KeySet::from_jwks_json(&text) else {
        return;
    };
    let object = text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{');
    // Read as a struct, not a `Value`: see `HeaderView` on numbers `Value` cannot hold.
    #[derive(serde::Deserialize)]
    struct JwksView {
        keys: Vec<Value>,
    }
    assert!(
        object,
        "accepted a JWKS document that is not an object with keys: {text:?}"
    );
    let keys = serde_json::from_str::<JwksView>(&text)
        .expect("an accepted JWKS parses")
        .keys;
    assert!(set.len() <= keys.len(), "more keys than the document has");
    for value in keys {
        if let Ok(jwk) = serde_json::from_value::<Jwk>(value.clone())
            && let Ok(key) = VerificationKey::from_jwk(&jwk)
        {
            check_key(&key, Some(&jwk));
        }
        if let Some(key) = value
            .get("kid")
            .and_then(Value::as_str)
            .and_then(|k| set.get(k))
        {
            check_key(key, None);
        }
    }
    for alg in AlgorithmSet::all().iter() {
        if let Some(key) = set.find(&TokenHeader::new(alg, None)) {
            check_key(key, None);
            assert!(
                key.algorithms().contains(alg),
                "found a key that cannot verify {alg:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// (d) cache_control: `Cache-Control` field values.
// ---------------------------------------------------------------------------------------

/// The elements of a field value split at commas outside quoted strings (RFC 9110 §5.6.1,
/// §5.6.4: `\` escapes inside quotes; an unterminated quote runs to the end).
fn elements(value: &str) -> Vec<&str> {
    let (mut out, mut start) = (Vec::new(), 0);
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == ',' && !quoted {
            out.push(&value[start..i]);
            start = i + 1;
        }
    }
    out.push(&value[start..]);
    out
}

fn ows_trim(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

fn directive(element: &str) -> (&str, Option<&str>) {
    match element.split_once('=') {
        Some((name, argument)) => (ows_trim(name), Some(ows_trim(argument))),
        None => (ows_trim(element), None),
    }
}

/// Whether the value holds a `no-store` or `no-cache` directive (RFC 9111 §5.2.2.4,
/// §5.2.2.5), with or without an argument.
pub fn forbids_caching(value: &str) -> bool {
    elements(value).into_iter().any(|element| {
        let (name, _) = directive(element);
        name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache")
    })
}

/// The answer `cache_control_max_age` documents, for values simple enough to read without
/// quoting rules (visible ASCII, spaces and tabs, no `"` or `\`); `None` for other values.
fn expected_max_age(value: &str) -> Option<Option<std::time::Duration>> {
    let simple = value
        .bytes()
        .all(|b| (b.is_ascii_graphic() || b == b' ' || b == b'\t') && b != b'"' && b != b'\\');
    if !simple {
        return None;
    }
    if forbids_caching(value) {
        return Some(Some(std::time::Duration::ZERO));
    }
    const CAP: u64 = 1 << 31; // RFC 9111 §1.2.2
    let shortest = elements(value)
        .into_iter()
        .filter_map(|element| match directive(element) {
            (name, Some(digits))
                if name.eq_ignore_ascii_case("max-age")
                    && !digits.is_empty()
                    && digits.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(digits.parse::<u64>().unwrap_or(CAP).min(CAP))
            }
            _ => None,
        })
        .min();
    Some(shortest.map(std::time::Duration::from_secs))
}

/// (d) A `Cache-Control` value: never panics; `no-store`/`no-cache` anywhere means "do not
/// cache" (`Some(Duration::ZERO)`); a `max-age` is at most 2^31 s; simple values get exactly
/// the documented answer.
#[cfg(feature = "fuzzing")]
pub fn cache_control(data: &[u8]) {
    let value = String::from_utf8_lossy(data);
    let got = tower_jwt_auth::jwks::cache_control_max_age(&value);
    if let Some(age) = got {
        assert!(
            age.as_secs() <= 1 << 31,
            "max-age {age:?} over 2^31 s for {value:?}"
        );
    }
    if forbids_caching(&value) {
        assert_eq!(
            got,
            Some(std::time::Duration::ZERO),
            "{value:?} forbids caching"
        );
    }
    if let Some(expected) = expected_max_age(&value) {
        assert_eq!(got, expected, "for {value:?}");
    }
}

/// (e) A message on the Redis store's pub/sub channel: never panics; what parses is what
/// was sent (a revocation or heartbeat printed again parses to the same), and a
/// well-formed `r <seconds> <id>` is always read as that revocation.
#[cfg(feature = "fuzzing")]
pub fn revocation_messages(data: &[u8]) {
    use tower_jwt_auth::revocation::redis::{Message, parse_message};
    let parsed = parse_message(data);
    match parsed {
        Some(Message::Revoked { id, until }) => {
            assert!(data.starts_with(b"r ") && !id.is_empty(), "{data:?}");
            let again = format!("r {until} {id}");
            assert_eq!(parse_message(again.as_bytes()), parsed);
        }
        Some(Message::Heartbeat { instance, sent_ms }) => {
            assert!(
                data.starts_with(b"h ") && !instance.contains(' '),
                "{data:?}"
            );
            let again = format!("h {instance} {sent_ms}");
            assert_eq!(parse_message(again.as_bytes()), parsed);
        }
        None => {}
    }
    // Built from the input: any seconds and any non-empty id make a revocation.
    let seconds = data
        .iter()
        .fold(0u64, |n, b| n.wrapping_mul(31).wrapping_add(u64::from(*b)));
    let id = String::from_utf8_lossy(data);
    if !id.is_empty() {
        let message = format!("r {seconds} {id}");
        assert_eq!(
            parse_message(message.as_bytes()),
            Some(Message::Revoked {
                id: &id,
                until: seconds
            }),
            "{message:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// (f) dpop_proofs: DPoP proofs (RFC 9449 §4.3) through the layer.
// ---------------------------------------------------------------------------------------

/// Where the layer says it is, and the URI every fuzzed request is for.
const DPOP_RESOURCE: &str = "https://api.example.test";
const DPOP_HTU: &str = "https://api.example.test/orders";
/// The proof window of the layer: RFC 9449 §4.3 check 11.
const DPOP_WINDOW: i64 = 300;

const P256_KEY: &[u8] = include_bytes!("../../tests/keys/p256_a.key");
const P256_B_KEY: &[u8] = include_bytes!("../../tests/keys/p256_b.key");

/// Accepts every proof as new: replay is tested on loopback (`tests/it/dpop.rs`); here a
/// store that remembered millions of fuzzed proofs would only fill up (the bounded
/// `MemoryReplayStore` then answers 503).
struct AcceptEveryProof;

impl tower_jwt_auth::dpop::ReplayStore for AcceptEveryProof {
    fn first_use(
        &self,
        _: &str,
        _: u64,
    ) -> futures_util::future::BoxFuture<
        'static,
        Result<bool, tower_jwt_auth::revocation::StoreError>,
    > {
        Box::pin(ready(Ok(true)))
    }

    fn first_use_now(
        &self,
        _: &str,
        _: u64,
    ) -> Option<Result<bool, tower_jwt_auth::revocation::StoreError>> {
        Some(Ok(true))
    }
}

struct DpopFixture {
    service: Auth,
    /// The proof key (p256_a): its private key and its public JWK.
    key: EncodingKey,
    jwk: Value,
    /// Another P-256 key (p256_b): its JWK in a proof signed by `key`, or a proof really
    /// signed by it (a valid proof, but not by the key the token is bound to).
    other_key: EncodingKey,
    other_jwk: Value,
    /// An access token bound to `jwk` (`cnf.jkt`), HS256, `exp` in 2100.
    token: String,
    /// `jwk`'s RFC 7638 thumbprint: the token's `cnf.jkt`.
    jkt: String,
    ath: String,
}

/// What the inner service saw of a DPoP request: `Claims::dpop_thumbprint`.
#[derive(Debug, Clone)]
struct DpopSaw(Option<String>);

fn dpop_inner(request: Request<()>) -> Ready<Result<Response<()>, Infallible>> {
    let claims = request.extensions().get::<Claims<Value>>();
    let mut response = Response::new(());
    *response.status_mut() = INNER_STATUS;
    response.extensions_mut().insert(InnerSaw {
        claims: claims.is_some(),
    });
    response.extensions_mut().insert(DpopSaw(
        claims.and_then(|c| c.dpop_thumbprint().map(str::to_owned)),
    ));
    ready(Ok(response))
}

/// RFC 7638 over a public EC JWK, and `ath`: written here from the RFCs, not the crate's.
fn sha256_b64(data: &[u8]) -> String {
    use sha2::Digest;
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(data))
}

fn ec_jwk(pem: &[u8]) -> Value {
    let key = EncodingKey::from_ec_pem(pem).expect("a P-256 key");
    let jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).expect("its JWK");
    let jwk = serde_json::to_value(jwk).expect("a JWK serializes");
    serde_json::json!({ "kty": "EC", "crv": jwk["crv"], "x": jwk["x"], "y": jwk["y"] })
}

static DPOP: LazyLock<DpopFixture> = LazyLock::new(|| {
    tower_jwt_auth::install_crypto_provider();
    let layer = JwtAuthLayer::<Value>::builder(
        StaticKey::hmac(Algorithm::HS256, SECRET).expect("the secret is long enough"),
    )
    .algorithms([Algorithm::HS256])
    .dpop(tower_jwt_auth::dpop::DpopMode::Allowed)
    .resource(DPOP_RESOURCE)
    .dpop_replay_store(AcceptEveryProof)
    .build()
    .expect("the DPoP layer builds");
    let jwk = ec_jwk(P256_KEY);
    // RFC 7638 §3.2: the required members in lexicographic order, no whitespace.
    let canonical = format!(
        r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
        jwk["crv"], jwk["x"], jwk["y"]
    );
    let jkt = sha256_b64(canonical.as_bytes());
    let claims = serde_json::json!({
        "sub": "fuzz", "exp": 4_102_444_800u64, "cnf": { "jkt": jkt },
    });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET).expect("an HMAC key"),
    )
    .expect("the token signs");
    DpopFixture {
        service: layer.layer(service_fn(dpop_inner as InnerFn)),
        key: EncodingKey::from_ec_pem(P256_KEY).expect("a P-256 key"),
        other_key: EncodingKey::from_ec_pem(P256_B_KEY).expect("a P-256 key"),
        other_jwk: ec_jwk(P256_B_KEY),
        ath: sha256_b64(token.as_bytes()),
        jwk,
        jkt,
        token,
    }
});

/// A `jti` no other execution of this process used.
fn next_jti() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("fuzz-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A value the fuzzer chose for a member: one of a few that mean something here, or text
/// from the input, or absent.
fn pick<'a>(choice: u8, meaningful: &[&'a str], text: &'a str) -> Option<Value> {
    match usize::from(choice) % (meaningful.len() + 2) {
        n if n < meaningful.len() => Some(Value::from(meaningful[n])),
        n if n == meaningful.len() => Some(Value::from(text)),
        _ => None,
    }
}

/// RFC 7515 §4.1.9: `typ` is a media type, compared case-insensitively, whose
/// `application/` prefix may be left out; RFC 9449 §4.2 asks for `dpop+jwt`.
fn typ_is_dpop(typ: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    typ == "dpop+jwt" || typ == "application/dpop+jwt"
}

/// RFC 3986 §6.2.2.1–6.2.2.2: `%XX` of an unreserved character decoded, others in upper case.
fn decode_unreserved(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let hex = rest
            .as_bytes()
            .get(1..3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
        match hex {
            Some(hex) if c == '%' => {
                let hex = std::str::from_utf8(hex).expect("hex digits are ASCII");
                let value = u8::from_str_radix(hex, 16).expect("two hex digits");
                if value.is_ascii_alphanumeric() || b"-._~".contains(&value) {
                    out.push(char::from(value));
                } else {
                    out.push('%');
                    out.push_str(&hex.to_ascii_uppercase());
                }
                rest = &rest[3..];
            }
            _ => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// RFC 3986 §5.2.4, as written there.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path.to_owned();
    let mut output = String::new();
    let pop = |output: &mut String| {
        let cut = output.rfind('/').unwrap_or(0);
        output.truncate(cut);
    };
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../").or(input.strip_prefix("./")) {
            input = rest.to_owned();
        } else if input.starts_with("/./") || input == "/." {
            input = format!("/{}", &input[input.len().min(3)..]);
        } else if input.starts_with("/../") || input == "/.." {
            input = format!("/{}", &input[input.len().min(4)..]);
            pop(&mut output);
        } else if input == "." || input == ".." {
            input.clear();
        } else {
            let first = input.chars().next().map_or(1, char::len_utf8);
            let end = input[first..].find('/').map_or(input.len(), |i| i + first);
            output.push_str(&input[..end]);
            input = input[end..].to_owned();
        }
    }
    output
}

/// RFC 9449 §4.3 check 9: whether `htu` names `DPOP_HTU`, query and fragment left out,
/// after the normalisations of RFC 3986 §6.2.2 and §6.2.3 (case of scheme and host,
/// percent-encoding, dot segments, the default port, an empty path). No userinfo: that is
/// another URI.
fn htu_names_orders(htu: &str) -> bool {
    let end = htu.find(['?', '#']).unwrap_or(htu.len());
    let Some((scheme, rest)) = htu[..end].split_once("://") else {
        return false;
    };
    let (authority, path) = rest
        .find('/')
        .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let (host, port) = authority.rsplit_once(':').unwrap_or((authority, "443"));
    let port_ok = port.is_empty()
        || (port.bytes().all(|b| b.is_ascii_digit()) && port.trim_start_matches('0') == "443");
    scheme.eq_ignore_ascii_case("https")
        && !authority.contains(['@', '[', ']'])
        && port_ok
        && decode_unreserved(host).eq_ignore_ascii_case("api.example.test")
        && remove_dot_segments(&decode_unreserved(path)) == "/orders"
}

/// The members a JWK may hold only for a private or symmetric key (RFC 7518 §6.2.2, §6.3.2,
/// §6.4.1; RFC 8037 §2): RFC 9449 §4.3 check 7 refuses them.
const PRIVATE_JWK_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What the oracle knows of a proof, before the answer.
enum DpopCheck {
    /// Accepted exactly when this says.
    Exactly(bool),
    /// Accepted only if this says (the RFC allows refusing more, e.g. a URI spelled
    /// otherwise, or the clock decides).
    AtMost(bool),
    /// Header and payload JSON the input gave, re-checked once the answer is in.
    Json { header: Vec<u8>, payload: Vec<u8> },
}

struct DpopCase {
    proof: Vec<u8>,
    check: DpopCheck,
    /// The proof's key may not be the one the token is bound to: then `invalid_token`
    /// (RFC 9449 §7.1, "Invalid DPoP key binding") is a fair refusal too.
    other_key: bool,
}

fn sign_proof(key: &EncodingKey, header: &[u8], payload: &[u8]) -> Vec<u8> {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = jsonwebtoken::crypto::sign(signing_input.as_bytes(), key, Algorithm::ES256)
        .expect("ES256 signs");
    format!("{signing_input}.{signature}").into_bytes()
}

/// Every `pattern` in `data` replaced by `with`.
fn replace_bytes(data: &[u8], pattern: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(pattern) {
            out.extend_from_slice(with);
            i += pattern.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

/// Shape `0x40`: `header JSON 0xFF payload JSON` from the input, signed with the bound key.
/// `$x`, `$y` become the key's coordinates, `$ath` the token's hash, `$iat` now and `$jti`
/// a fresh id, so that the fuzzer can stay close to a valid proof.
fn signed_json_case(fixture: &DpopFixture, rest: &[u8], now: u64) -> DpopCase {
    let (header, payload) = match rest.iter().position(|&b| b == 0xFF) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let fill = |json: &[u8]| {
        let str_of = |v: &Value| v.as_str().unwrap_or_default().as_bytes().to_vec();
        [
            (&b"$x"[..], str_of(&fixture.jwk["x"])),
            (b"$y", str_of(&fixture.jwk["y"])),
            (b"$ath", fixture.ath.as_bytes().to_vec()),
            (b"$iat", now.to_string().into_bytes()),
            (b"$jti", next_jti().into_bytes()),
        ]
        .iter()
        .fold(json.to_vec(), |json, (pattern, with)| {
            replace_bytes(&json, pattern, with)
        })
    };
    let (header, payload) = (fill(header), fill(payload));
    let bound_key = serde_json::from_slice::<Value>(&header).is_ok_and(|h| {
        ["kty", "crv", "x", "y"]
            .iter()
            .all(|m| h["jwk"].get(m).is_some() && h["jwk"][m] == fixture.jwk[m])
    });
    DpopCase {
        proof: sign_proof(&fixture.key, &header, &payload),
        check: DpopCheck::Json { header, payload },
        other_key: !bound_key,
    }
}

/// RFC 9449 §4.3 checks 3–12 on proof JSON that was signed with the bound key, as the RFC
/// words them: whether a layer may accept it, `now_range` being the clock during the call.
/// A header or payload that is not a JSON object (UTF-8, RFC 8259) is refused; duplicate
/// member names are read as their last (RFC 7515 §4, RFC 7519 §4), or may be refused.
fn json_proof_may_pass(
    fixture: &DpopFixture,
    header: &[u8],
    payload: &[u8],
    now_range: (u64, u64),
) -> bool {
    let (Ok(Value::Object(header)), Ok(Value::Object(payload))) = (
        serde_json::from_slice::<Value>(header),
        serde_json::from_slice::<Value>(payload),
    ) else {
        return false;
    };
    let text = |map: &serde_json::Map<String, Value>, name: &str| {
        map.get(name).and_then(Value::as_str).map(str::to_owned)
    };
    let jwk_ok = header
        .get("jwk")
        .and_then(Value::as_object)
        .is_some_and(|jwk| {
            text(jwk, "kty").as_deref() == Some("EC")
                && text(jwk, "crv").as_deref() == Some("P-256")
                && jwk.get("x") == Some(&fixture.jwk["x"])
                && jwk.get("y") == Some(&fixture.jwk["y"])
                && PRIVATE_JWK_MEMBERS.iter().all(|m| !jwk.contains_key(*m))
        });
    let iat_ok = payload
        .get("iat")
        .and_then(Value::as_f64)
        .is_some_and(|iat| {
            iat >= now_range.0 as f64 - DPOP_WINDOW as f64 - 1.0
                && iat <= now_range.1 as f64 + DPOP_WINDOW as f64 + 1.0
        });
    // RFC 7515 §4.1.11: no extension is understood here, and the registered names may not
    // be listed.
    !header.contains_key("crit")
        && text(&header, "typ").is_some_and(|t| typ_is_dpop(&t))
        && text(&header, "alg").as_deref() == Some("ES256")
        && jwk_ok
        && text(&payload, "jti").is_some_and(|j| !j.is_empty())
        && text(&payload, "htm").as_deref() == Some("GET")
        && text(&payload, "htu").is_some_and(|u| htu_names_orders(&u))
        && iat_ok
        && text(&payload, "ath").as_deref() == Some(fixture.ath.as_str())
}

/// Shape `0x00`: a proof whose members the next 9 bytes choose (`typ`, `alg`, `jwk`, `jti`,
/// `htm`, `htu`, `iat` offset, `iat` present, `ath`), the rest of the input as free text.
fn chosen_members_case(fixture: &DpopFixture, rest: &[u8], now: u64) -> DpopCase {
    let (choices, text) = if rest.len() >= 9 {
        rest.split_at(9)
    } else {
        (&[0u8; 9][..], rest)
    };
    let text = String::from_utf8_lossy(text);
    let typ = pick(
        choices[0],
        &["dpop+jwt", "application/dpop+jwt", "JWT"],
        &text,
    );
    let alg = pick(choices[1], &["ES256", "HS256", "none", "ES384"], &text);
    // The key in the header, and the key that signs.
    let (jwk, signer, jwk_ok, other_key) = match choices[2] % 5 {
        0 => (Some(fixture.jwk.clone()), &fixture.key, true, false),
        1 => (Some(fixture.other_jwk.clone()), &fixture.key, false, true),
        2 => {
            let mut private = fixture.jwk.clone();
            private["d"] = Value::from(text.as_ref());
            (Some(private), &fixture.key, false, false)
        }
        3 => (None, &fixture.key, false, false),
        // A proof valid in itself, by a key the token is not bound to (RFC 9449 §7.1).
        _ => (
            Some(fixture.other_jwk.clone()),
            &fixture.other_key,
            false,
            true,
        ),
    };
    let jti = match choices[3] % 3 {
        0 => Some(Value::from(next_jti())),
        1 => Some(Value::from("")),
        _ => None,
    };
    let htm = pick(choices[4], &["GET", "POST", "get"], &text);
    // Free text as `htu` may be another spelling of the URI (RFC 3986 §6.2): RFC 9449 §4.3
    // only says servers SHOULD normalise, so such a proof may be refused.
    let htu_is_text = usize::from(choices[5]) % 8 == 6;
    let htu = pick(
        choices[5],
        &[
            DPOP_HTU,
            "https://api.example.test/orders?page=2#top",
            "https://API.example.test:443/orders",
            "http://api.example.test/orders",
            "https://api.example.test/orders/",
            "https://evil.example.test/orders",
        ],
        &text,
    );
    // Seconds from now, in steps of 10: -1280 ..= 1270.
    let offset = i64::from(choices[6] as i8) * 10;
    let iat = (choices[7] % 4 != 3).then(|| now as i64 + offset);
    let ath = match choices[8] % 3 {
        0 => Some(Value::from(fixture.ath.as_str())),
        1 => Some(Value::from(text.as_ref())),
        _ => None,
    };
    let members = |pairs: [(&str, Option<Value>); 5]| {
        let map: serde_json::Map<String, Value> = pairs
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_owned(), value?)))
            .collect();
        Value::Object(map).to_string()
    };
    let header = members([
        ("typ", typ.clone()),
        ("alg", alg.clone()),
        ("jwk", jwk),
        ("crit", None),
        ("kid", None),
    ]);
    let payload = members([
        ("jti", jti.clone()),
        ("htm", htm.clone()),
        ("htu", htu.clone()),
        ("iat", iat.map(Value::from)),
        ("ath", ath.clone()),
    ]);
    let str_of = |v: &Option<Value>| v.as_ref().and_then(Value::as_str).map(str::to_owned);
    let htu_ok = str_of(&htu).is_some_and(|u| htu_names_orders(&u));
    let others_ok = str_of(&typ).is_some_and(|t| typ_is_dpop(&t))
        && str_of(&alg).as_deref() == Some("ES256")
        && jwk_ok
        && str_of(&jti).is_some_and(|j| !j.is_empty())
        && str_of(&htm).as_deref() == Some("GET")
        && iat.is_some()
        && str_of(&ath).as_deref() == Some(fixture.ath.as_str());
    let iat_ok = offset.abs() <= DPOP_WINDOW;
    // Near the window's edge, or for a URI given as free text, the answer is not forced.
    let near_edge = iat.is_some() && (offset.abs() - DPOP_WINDOW).abs() <= 5;
    let check = if near_edge || htu_is_text {
        DpopCheck::AtMost(others_ok && htu_ok && iat_ok)
    } else {
        DpopCheck::Exactly(others_ok && htu_ok && iat_ok)
    };
    DpopCase {
        proof: sign_proof(signer, header.as_bytes(), payload.as_bytes()),
        check,
        other_key,
    }
}

/// `GET /orders` with `Authorization: DPoP <bound token>` and a proof made from `data`,
/// through a layer with DPoP allowed: never panics; accepted (the inner service reached,
/// with claims whose `dpop_thumbprint` is the bound key's) only when the proof passes every
/// check of RFC 9449 §4.3 as written in the RFC, and always when it clearly does; otherwise
/// 401 with one `DPoP` challenge, `error="invalid_dpop_proof"` (or `invalid_token` for a
/// proof by another key than the bound one). Returns whether it was accepted.
///
/// Byte 0 chooses the shape: the rest of the input is the proof itself (`0x80`), or header
/// and payload JSON signed with the bound key (`0x40`, see `signed_json_case`), or a proof
/// whose members the input chooses (neither, see `chosen_members_case`). Its low two bits:
/// the proof in one `DPoP` header (0, 2), in two (1), or none (3): RFC 9449 §4.3 check 1
/// refuses the last two.
pub fn dpop_proofs(data: &[u8]) -> bool {
    let fixture = &*DPOP;
    let (shape, rest) = data.split_first().map_or((0, &[][..]), |(s, r)| (*s, r));
    let before = now();
    let mut case = if shape & 0x80 != 0 {
        DpopCase {
            proof: rest.to_vec(),
            check: DpopCheck::Exactly(false),
            other_key: false,
        }
    } else if shape & 0x40 != 0 {
        signed_json_case(fixture, rest, before)
    } else {
        chosen_members_case(fixture, rest, before)
    };
    let copies = match shape & 0x03 {
        1 => 2,
        3 => 0,
        _ => 1,
    };
    if copies != 1 {
        case.check = DpopCheck::Exactly(false);
    }
    let Ok(proof) = HeaderValue::from_bytes(&case.proof) else {
        return false;
    };
    let mut request = Request::get("/orders")
        .header("authorization", format!("DPoP {}", fixture.token))
        .body(())
        .expect("the request builds");
    for _ in 0..copies {
        request.headers_mut().append("dpop", proof.clone());
    }
    let mut service = fixture.service.clone();
    let response = block_on(async { service.ready().await.expect("ready").call(request).await })
        .expect("infallible");
    let after = now();
    let reached = response
        .extensions()
        .get::<InnerSaw>()
        .is_some_and(|saw| saw.claims);
    let (may, must) = match &case.check {
        DpopCheck::Exactly(accepted) => (*accepted, *accepted),
        DpopCheck::AtMost(accepted) => (*accepted, false),
        DpopCheck::Json { header, payload } => (
            json_proof_may_pass(fixture, header, payload, (before, after)),
            false,
        ),
    };
    let proof = String::from_utf8_lossy(&case.proof);
    let shown = || match &case.check {
        DpopCheck::Json { header, payload } => format!(
            "header {:?}, payload {:?}",
            String::from_utf8_lossy(header),
            String::from_utf8_lossy(payload)
        ),
        _ => format!("proof {proof:?}"),
    };
    if reached {
        assert!(may, "accepted, RFC 9449 §4.3 refuses: {}", shown());
        let thumbprint = response.extensions().get::<DpopSaw>().map(|s| s.0.clone());
        assert_eq!(
            thumbprint,
            Some(Some(fixture.jkt.clone())),
            "Claims::dpop_thumbprint: {}",
            shown()
        );
        return true;
    }
    assert!(
        !must,
        "refused, RFC 9449 §4.3 accepts: {}; {:?}",
        shown(),
        response.headers()
    );
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "{}; {:?}",
        shown(),
        response.headers()
    );
    let challenges: Vec<_> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .collect();
    assert_eq!(challenges.len(), 1, "{challenges:?}");
    let challenge = challenges[0].as_bytes();
    let has = |needle: &[u8]| challenge.windows(needle.len()).any(|w| w == needle);
    assert!(
        challenge.starts_with(b"DPoP ")
            && (has(br#"error="invalid_dpop_proof""#)
                || case.other_key && has(br#"error="invalid_token""#)),
        "{challenges:?}: {}",
        shown()
    );
    false
}

/// The reference reading of `bytes` as a JSON tree: `Ok(None)` when it is not JSON, and
/// `Err(())` when it is JSON with a number too large for an `f64` (`1e400`), which a tree
/// cannot hold but the readers, like every derived struct, skip where they ignore it.
#[cfg(feature = "fuzzing")]
fn json_tree<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<Option<T>, ()> {
    match serde_json::from_slice(bytes) {
        Ok(tree) => Ok(Some(tree)),
        Err(e) if e.to_string().contains("number out of range") => Err(()),
        Err(_) => Ok(None),
    }
}

/// `claim_answers`: the two new readers of claims that come from outside, as pure
/// functions. The first byte picks one.
///
/// - Roles (`read_roles`): `path \n payload`. Properties: an empty path segment is refused;
///   roles found equal those a JSON tree gives at that path (a string → itself, an array →
///   its strings); a payload that is not JSON grants none.
/// - Introspection answers (`introspection::parse_answer`): an answer is active only if the
///   body is a JSON object whose `active` is the boolean `true`, and its `exp` is that
///   object's; a body that is not an object is never active.
#[cfg(feature = "fuzzing")]
pub fn claim_answers(data: &[u8]) {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let split = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        let (path, payload) = (&rest[..split], rest.get(split + 1..).unwrap_or(&[]));
        let Ok(path) = std::str::from_utf8(path) else {
            return;
        };
        let roles = tower_jwt_auth::read_roles(path, payload);
        if path.split('.').any(str::is_empty) {
            assert_eq!(roles, None, "{path:?}");
            return;
        }
        let roles = roles.expect("a path without empty segments is accepted");
        let Ok(tree) = json_tree::<serde_json::Value>(payload) else {
            return; // a number serde_json skips but cannot hold (see `json_tree`)
        };
        let Some(tree) = tree else {
            assert!(
                roles.is_empty(),
                "roles from a payload that is not JSON: {roles:?}"
            );
            return;
        };
        if roles.is_empty() {
            // None found, or a key on the path given twice (the tree keeps the last).
            return;
        }
        let mut at = &tree;
        for segment in path.split('.') {
            at = at
                .get(segment)
                .expect("roles found where the tree has nothing");
        }
        let expected: Vec<String> = match at {
            serde_json::Value::String(one) => vec![one.clone()],
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            other => panic!("roles from {other}"),
        };
        assert_eq!(roles, expected, "{path:?}");
    } else {
        let answer = tower_jwt_auth::introspection::parse_answer(rest);
        let Ok(tree) = json_tree::<serde_json::Map<String, serde_json::Value>>(rest) else {
            return;
        };
        match (answer, tree) {
            (Some((true, exp)), Some(object)) => {
                assert_eq!(object.get("active"), Some(&serde_json::Value::Bool(true)));
                if let Some(secs) = object.get("exp").and_then(serde_json::Value::as_u64) {
                    assert_eq!(exp, Some(secs));
                }
            }
            (Some((true, _)), None) => panic!("active, but not a JSON object"),
            (Some((false, _)), Some(object)) => {
                // Inactive while the tree says true only if `active` came twice.
                if object.get("active") == Some(&serde_json::Value::Bool(true)) {
                    let text = String::from_utf8_lossy(rest);
                    assert!(text.matches("active").count() >= 2, "{text}");
                }
            }
            (Some((false, _)), None) | (None, _) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// forwarded_headers: X-Forwarded-* believed from trusted proxies only
// ---------------------------------------------------------------------------------------------

/// 127.0.0.0/8 and ::1 are the trusted proxies; the peer is an `IpAddr` in the extensions.
fn fuzz_proxies() -> tower_jwt_auth::TrustedProxies {
    tower_jwt_auth::TrustedProxies::new(["127.0.0.0/8", "::1"], |extensions| {
        extensions.get::<std::net::IpAddr>().copied()
    })
    .expect("valid networks")
}

static FORWARDED_SERVICE: LazyLock<Auth> = LazyLock::new(|| {
    tower_jwt_auth::install_crypto_provider();
    JwtAuthLayer::<Value>::builder(
        StaticKey::hmac(Algorithm::HS256, SECRET).expect("the secret is long enough"),
    )
    .algorithms([Algorithm::HS256])
    .trusted_proxies(fuzz_proxies())
    .dpop_replay_store(AcceptEveryProof)
    .build()
    .expect("the layer builds")
    .layer(service_fn(dpop_inner as InnerFn))
});

/// The client address by the rule `TrustedProxies::client_addr` documents: the peer,
/// unless it is a trusted proxy; then `X-Forwarded-For` read right to left up to the first
/// entry that is not a trusted proxy; an unreadable entry on the way means unknown.
fn expected_client(
    peer: Option<std::net::IpAddr>,
    trusted: impl Fn(std::net::IpAddr) -> bool,
    forwarded_for: &[&[u8]],
) -> Option<std::net::IpAddr> {
    let peer = peer?;
    if !trusted(peer) {
        return Some(peer);
    }
    let mut client = peer;
    for line in forwarded_for.iter().rev() {
        let line = std::str::from_utf8(line).ok()?;
        if !line.is_ascii() {
            return None;
        }
        for entry in line.rsplit(',') {
            let entry = entry.trim();
            client = entry
                .parse::<std::net::IpAddr>()
                .or_else(|_| entry.parse::<std::net::SocketAddr>().map(|s| s.ip()))
                .ok()?
                .to_canonical();
            if !trusted(client) {
                return Some(client);
            }
        }
    }
    Some(client)
}

/// Arbitrary `Host`, `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Forwarded-For` values
/// from a trusted, an untrusted or an unknown peer, with a DPoP proof for an `htu` the
/// input chooses (or builds from the forwarded values). Never panics, and:
/// - `client_addr` is exactly the documented rule;
/// - from a peer that is not trusted, the layer answers exactly as it does with every
///   `X-Forwarded-*` header removed;
/// - a proof is accepted from a trusted peer only for the host the proxy forwarded (the
///   rightmost `X-Forwarded-Host` entry, else `Host`), and never when the rightmost
///   `X-Forwarded-Proto` entry is neither `http` nor `https`.
///
/// Byte 0 picks the peer (127.0.0.1, ::ffff:127.0.0.2, 192.0.2.1, none); byte 1's bit 0
/// builds `htu` from the forwarded values instead of taking it from the input. The rest,
/// split at `\n`: Host, X-Forwarded-Proto, X-Forwarded-Host, `htu`, then one
/// X-Forwarded-For line per remaining field. An empty field sends no header. Returns
/// whether the request reached the inner service.
pub fn forwarded_headers(data: &[u8]) -> bool {
    use std::net::IpAddr;
    let (peer_choice, flags, rest) = match data {
        [peer_choice, flags, rest @ ..] => (*peer_choice, *flags, rest),
        _ => (0, 0, data),
    };
    let peer: Option<IpAddr> = match peer_choice % 4 {
        0 => Some([127, 0, 0, 1].into()),
        1 => Some("::ffff:127.0.0.2".parse().expect("an address")),
        2 => Some([192, 0, 2, 1].into()),
        _ => None,
    };
    let fields: Vec<&[u8]> = rest.split(|&b| b == b'\n').collect();
    let field = |i: usize| fields.get(i).copied().filter(|f| !f.is_empty());
    let (host, proto, fwd_host) = (field(0), field(1), field(2));
    let forwarded_for: Vec<&[u8]> = fields
        .iter()
        .skip(4)
        .copied()
        .filter(|f| !f.is_empty())
        .collect();

    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: Option<&[u8]>| {
        if let Some(value) = value.and_then(|v| HeaderValue::from_bytes(v).ok()) {
            headers.append(name, value);
        }
    };
    put("host", host);
    put("x-forwarded-proto", proto);
    put("x-forwarded-host", fwd_host);
    for line in &forwarded_for {
        put("x-forwarded-for", Some(line));
    }
    let sent_for: Vec<&[u8]> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();

    // client_addr, against the documented rule.
    let proxies = fuzz_proxies();
    let mut extensions = http::Extensions::new();
    if let Some(peer) = peer {
        extensions.insert(peer);
    }
    let trusted = |ip: IpAddr| {
        let ip = ip.to_canonical();
        ip == IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])
            || matches!(ip, IpAddr::V4(v4) if v4.octets()[0] == 127)
    };
    assert_eq!(
        proxies.client_addr(&headers, &extensions),
        expected_client(peer, trusted, &sent_for),
        "client_addr"
    );

    // The layer, with a proof for `htu`.
    let text = |v: Option<&[u8]>| v.map(|v| String::from_utf8_lossy(v).into_owned());
    let htu = if flags & 1 == 1 {
        format!(
            "{}://{}/orders",
            text(proto).unwrap_or_default(),
            text(fwd_host).unwrap_or_default()
        )
    } else {
        text(field(3)).unwrap_or_default()
    };
    let fixture = &*DPOP;
    let payload = serde_json::json!({
        "jti": next_jti(), "htm": "GET", "htu": htu, "iat": now(), "ath": fixture.ath,
    });
    let header = serde_json::json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": fixture.jwk });
    let proof = sign_proof(
        &fixture.key,
        header.to_string().as_bytes(),
        payload.to_string().as_bytes(),
    );
    let call = |headers: &HeaderMap| {
        let mut request = Request::get("/orders")
            .header("authorization", format!("DPoP {}", fixture.token))
            .header(
                "dpop",
                HeaderValue::from_bytes(&proof).expect("a proof is ASCII"),
            )
            .body(())
            .expect("the request builds");
        request.headers_mut().extend(headers.clone());
        if let Some(peer) = peer {
            request.extensions_mut().insert(peer);
        }
        let mut service = FORWARDED_SERVICE.clone();
        let response =
            block_on(async { service.ready().await.expect("ready").call(request).await })
                .expect("infallible");
        response.status()
    };
    let status = call(&headers);
    assert!(
        status == INNER_STATUS || status == StatusCode::UNAUTHORIZED,
        "unexpected status {status}"
    );
    let peer_trusted = peer.is_some_and(trusted);
    if !peer_trusted {
        let mut plain = headers.clone();
        for name in ["x-forwarded-proto", "x-forwarded-host", "x-forwarded-for"] {
            plain.remove(name);
        }
        assert_eq!(
            status,
            call(&plain),
            "forwarded headers from an untrusted peer mattered"
        );
        return status == INNER_STATUS;
    }
    if status != INNER_STATUS {
        return false;
    }
    let rightmost = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(|v| v.trim().to_owned())
    };
    if let Some(proto) = rightmost("x-forwarded-proto") {
        assert!(
            proto.eq_ignore_ascii_case("http") || proto.eq_ignore_ascii_case("https"),
            "accepted with X-Forwarded-Proto {proto:?}"
        );
    }
    let expected_host = rightmost("x-forwarded-host")
        .or_else(|| {
            headers
                .get("host")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .and_then(|authority| authority.parse::<http::uri::Authority>().ok())
        .map(|authority| authority.host().to_ascii_lowercase());
    let htu_host = htu
        .split(['?', '#'])
        .next()
        .and_then(|u| u.parse::<http::Uri>().ok())
        .and_then(|u| u.host().map(str::to_ascii_lowercase));
    assert!(
        expected_host.is_some() && htu_host == expected_host,
        "accepted htu {htu:?} for forwarded host {expected_host:?}"
    );
    true
}
