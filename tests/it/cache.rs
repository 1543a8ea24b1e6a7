//! The verified-token cache: hits skip verification, and a hit is still refused when the
//! token has expired, has been revoked, or its key has left the resolver's key set.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::*;
use serde::{Deserialize, Deserializer};
use serde_json::json;
use tower_jwt_auth::issue::{SigningKey, TokenIssuer};
use tower_jwt_auth::{Algorithm, ErrorKind, KeySet, StaticKey, Validator, VerificationKey};

/// How often `Counted` was deserialized: once per full verification, never on a hit.
static DESERIALIZED: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, Clone)]
struct Counted {
    sub: String,
}

impl<'de> Deserialize<'de> for Counted {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            sub: String,
        }
        DESERIALIZED.fetch_add(1, Ordering::SeqCst);
        Raw::deserialize(deserializer).map(|raw| Counted { sub: raw.sub })
    }
}

fn hs256_validator(cache: bool, limits: Option<(usize, u64)>) -> Validator<Counted> {
    let mut builder =
        Validator::<Counted>::builder(StaticKey::new(verification_key(Algorithm::HS256, Pair::A)))
            .algorithms([Algorithm::HS256])
            .cache(cache);
    if let Some((entries, bytes)) = limits {
        builder = builder.cache_limits(entries, bytes);
    }
    builder.build_validator().unwrap()
}

/// The counting checks share one static counter, so they run in one test.
#[tokio::test]
async fn hits_skip_verification_misses_and_cache_off_do_not() {
    let token = mint(Algorithm::HS256, Pair::A, &claims(json!({ "sub": "ada" })));

    let cached = hs256_validator(true, None);
    let before = DESERIALIZED.load(Ordering::SeqCst);
    for _ in 0..10 {
        assert_eq!(cached.validate(&token).await.unwrap().sub, "ada");
    }
    assert_eq!(
        DESERIALIZED.load(Ordering::SeqCst) - before,
        3,
        "two verifications (a token is stored on its second), then hits; the thread's \
         second shared hit decodes claims of its own (no signature), the rest decode nothing"
    );
    // Another thread makes its own copy on its own second shared hit, and only then.
    let before = DESERIALIZED.load(Ordering::SeqCst);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for _ in 0..5 {
                let claims = futures_util::FutureExt::now_or_never(cached.validate(&token))
                    .expect("a static key answers at once")
                    .unwrap();
                assert_eq!(claims.sub, "ada");
            }
        });
    });
    assert_eq!(DESERIALIZED.load(Ordering::SeqCst) - before, 1);

    let uncached = hs256_validator(false, None);
    let before = DESERIALIZED.load(Ordering::SeqCst);
    for _ in 0..5 {
        uncached.validate(&token).await.unwrap();
    }
    assert_eq!(
        DESERIALIZED.load(Ordering::SeqCst) - before,
        5,
        "cache off: every time"
    );

    // A flood of distinct valid tokens through a tiny cache: all accepted, and the cache
    // stays bounded: validating them all again, at most a cache's worth are hits. (The
    // first round stores none of them: a token is stored on its second verification.)
    let tiny = hs256_validator(true, Some((8, 1 << 20)));
    let flood: Vec<String> = (0..200)
        .map(|i| {
            mint(
                Algorithm::HS256,
                Pair::A,
                &claims(json!({ "sub": format!("u{i}") })),
            )
        })
        .collect();
    for (i, other) in flood.iter().enumerate() {
        assert_eq!(tiny.validate(other).await.unwrap().sub, format!("u{i}"));
    }
    let before = DESERIALIZED.load(Ordering::SeqCst);
    for other in &flood {
        tiny.validate(other).await.unwrap();
    }
    let verified_again = DESERIALIZED.load(Ordering::SeqCst) - before;
    assert!(
        verified_again >= 200 - 16,
        "only {} of 200 were verified again",
        verified_again
    );

    // A rejected token is never cached: a claim-check failure stays a failure.
    let strict =
        Validator::<Counted>::builder(StaticKey::new(verification_key(Algorithm::HS256, Pair::A)))
            .algorithms([Algorithm::HS256])
            .check_claims(|c| c.sub != "ada")
            .build_validator()
            .unwrap();
    for _ in 0..3 {
        let err = strict.validate(&token).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ClaimCheckFailed);
    }
}

/// Claim checks read state that changes: a user disabled after their token was cached is
/// refused on the next request, a cache hit included, and accepted again once re-enabled.
#[tokio::test]
async fn claim_checks_run_on_cache_hits() {
    use std::sync::{Arc, RwLock};
    let disabled: Arc<RwLock<Vec<String>>> = Arc::default();
    let list = Arc::clone(&disabled);
    let validator =
        Validator::<Counted>::builder(StaticKey::new(verification_key(Algorithm::HS256, Pair::A)))
            .algorithms([Algorithm::HS256])
            .check_claims(move |c| !list.read().unwrap().contains(&c.sub))
            .build_validator()
            .unwrap();
    let token = mint(Algorithm::HS256, Pair::A, &claims(json!({ "sub": "eve" })));
    assert_eq!(validator.validate(&token).await.unwrap().sub, "eve");
    assert_eq!(validator.validate(&token).await.unwrap().sub, "eve");
    disabled.write().unwrap().push("eve".into());
    let err = validator.validate(&token).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ClaimCheckFailed);
    assert_eq!(err.status(), 403);
    disabled.write().unwrap().clear();
    assert_eq!(validator.validate(&token).await.unwrap().sub, "eve");
}

#[tokio::test]
async fn expired_token_is_refused_on_a_hit() {
    let validator = Validator::<TestClaims>::builder(StaticKey::new(verification_key(
        Algorithm::HS256,
        Pair::A,
    )))
    .algorithms([Algorithm::HS256])
    .leeway(Duration::ZERO)
    .build_validator()
    .unwrap();
    let token = mint(
        Algorithm::HS256,
        Pair::A,
        &json!({ "sub": "ada", "exp": now() + 2 }),
    );
    validator.validate(&token).await.unwrap();
    validator.validate(&token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        validator.validate(&token).await.unwrap_err().kind(),
        ErrorKind::Expired
    );
}

#[tokio::test]
async fn revoked_token_is_refused_on_a_hit() {
    let pem = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/keys/p256_a.key"
    ))
    .unwrap();
    let issuer = TokenIssuer::builder(SigningKey::from_pem(Algorithm::ES256, &pem).unwrap())
        .build()
        .unwrap();
    let validator = issuer
        .layer_builder::<TestClaims>()
        .build()
        .unwrap()
        .validator()
        .clone();
    let pair = issuer.issue("ada", &()).unwrap();
    validator.validate(&pair.access).await.unwrap();
    validator.validate(&pair.access).await.unwrap(); // stored: the next one is a hit
    issuer.revoke(&pair.access).await.unwrap();
    assert_eq!(
        validator.validate(&pair.access).await.unwrap_err().kind(),
        ErrorKind::Revoked
    );
}

#[tokio::test]
async fn a_key_that_left_the_key_set_invalidates_its_entries() {
    // A resolver whose key set can change: a closure over a swappable KeySet.
    let set = std::sync::Arc::new(std::sync::RwLock::new(KeySet::new([verification_key(
        Algorithm::ES256,
        Pair::A,
    )
    .with_kid("a")])));
    let current = set.clone();
    let resolver = move |header: &tower_jwt_auth::TokenHeader<'_>| {
        let found = current.read().unwrap().find(header).cloned();
        std::future::ready(found.ok_or_else(tower_jwt_auth::KeyError::not_found))
    };
    let validator = Validator::<TestClaims>::builder(resolver)
        .algorithms([Algorithm::ES256])
        .build_validator()
        .unwrap();
    let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
    header.kid = Some("a".into());
    let token = mint_with_header(header, Pair::A, &claims(json!({})));
    validator.validate(&token).await.unwrap();
    validator.validate(&token).await.unwrap(); // stored: the next one is a hit

    // Rotated out: only key "b" remains.
    let b: VerificationKey = verification_key(Algorithm::ES256, Pair::B).with_kid("b");
    *set.write().unwrap() = KeySet::new([b]);
    assert_eq!(
        validator.validate(&token).await.unwrap_err().kind(),
        ErrorKind::UnknownKey
    );

    // The same key material back under the same kid, but a new key object: the entry is
    // not trusted blindly, the token is verified again and accepted.
    *set.write().unwrap() =
        KeySet::new([verification_key(Algorithm::ES256, Pair::A).with_kid("a")]);
    assert_eq!(validator.validate(&token).await.unwrap().sub, "alice");
}
