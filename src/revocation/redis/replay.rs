//! Keys set once: what makes [`RedisRevocationStore`] a DPoP replay store (the
//! `ReplayStore` impl is in `dpop::replay`). A proof is spent by one
//! `SET {prefix}:dpop:{id} 1 NX EXAT <until>`, atomic across every instance on the same
//! Redis, under the command timeout. Unlike revocation checks, this is a round trip per
//! DPoP request: a proof must be spent where all instances see it at once.

use futures_util::future::{BoxFuture, FutureExt};

use super::{LATEST, RedisRevocationStore};
use crate::revocation::StoreError;

impl RedisRevocationStore {
    /// Sets the key of proof `id` until `until` unless it exists: `true` when this call
    /// set it, `false` when the proof was seen before.
    pub(crate) fn set_once(
        &self,
        id: &str,
        until: u64,
    ) -> BoxFuture<'static, Result<bool, StoreError>> {
        let shared = &self.shared;
        let mut set = redis::cmd("SET");
        set.arg(shared.keys.proof(id))
            .arg(1)
            .arg("NX")
            .arg("EXAT")
            .arg(until.min(LATEST));
        // `OK` when the key was set, nil when it existed.
        let answer = shared.query::<Option<String>>(set);
        async move { Ok(answer.await?.is_some()) }.boxed()
    }
}
