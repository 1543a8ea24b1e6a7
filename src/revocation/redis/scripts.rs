//! The store's keys and its two Lua scripts. Each script touches one key (and publishes),
//! so it runs atomically on one node, standalone or Redis Cluster.

/// Records a revocation in the index (a sorted set scored by the Unix second it lasts
/// until), drops the members whose time has passed, lets the index key itself expire
/// with its last member, and publishes the revocation to every instance.
///
/// KEYS[1] the index; ARGV: id, until, now, channel. Returns 1 when newly revoked.
pub(super) const REVOKE: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local before = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if redis.call('EXPIRETIME', KEYS[1]) < tonumber(expiry) then
  redis.call('EXPIREAT', KEYS[1], expiry)
end
redis.call('PUBLISH', ARGV[4], 'r ' .. expiry .. ' ' .. ARGV[1])
if before then return 0 else return 1 end
";

/// Compare-and-set of a session's current refresh token. No entry: the session never
/// refreshed, so the presented token is its login's and rotates. The current one:
/// rotates. Anything else (an older token, or a session closed by logout or blacklist) is
/// reuse: the entry is marked, so that the current token is refused too. The entry lasts
/// as long as the newest token could, never less than it did.
///
/// KEYS[1] the session's key; ARGV: presented, next, until, the reuse mark. Returns 1
/// when rotated, 0 on reuse.
pub(super) const ROTATE: &str = r"
local current = redis.call('GET', KEYS[1])
local expiry = math.max(redis.call('EXPIRETIME', KEYS[1]), tonumber(ARGV[3]))
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EXAT', expiry)
  return 1
end
redis.call('SET', KEYS[1], ARGV[4], 'EXAT', expiry)
return 0
";

/// Closes a session to refreshes (logout, a blacklisted refresh token): its entry gets
/// the reuse mark, atomically with respect to rotations, so that a refresh racing with
/// the revocation on another instance cannot rotate past it.
///
/// KEYS[1] the session's key; ARGV: until, the reuse mark.
pub(super) const CLOSE: &str = r"
local expiry = math.max(redis.call('EXPIRETIME', KEYS[1]), tonumber(ARGV[1]))
redis.call('SET', KEYS[1], ARGV[2], 'EXAT', expiry)
return 1
";

/// Publishes a heartbeat from the node that holds the index (KEYS[1]): on Redis Cluster
/// that is where every revocation is published from, so a heartbeat heard back comes
/// after every revocation published before it (one node's messages stay in order).
///
/// KEYS[1] the index; ARGV: channel, message.
pub(super) const HEARTBEAT: &str = r"
return redis.call('PUBLISH', ARGV[1], ARGV[2])
";

/// The names under one prefix.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    /// The sorted set of revoked ids.
    pub(super) index: String,
    /// Where revocations and heartbeats are published.
    pub(super) channel: String,
    prefix: String,
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        Keys {
            index: format!("{prefix}:revoked"),
            channel: format!("{prefix}:revocations"),
            prefix: prefix.to_owned(),
        }
    }

    /// A session's key, hash-tagged by its `sid` so that everything about one session
    /// lands on one Redis Cluster slot.
    pub(super) fn session(&self, sid: &str) -> String {
        format!("{}:session:{{{sid}}}", self.prefix)
    }

    /// A spent DPoP proof's key; the id is base64url, so it needs no escaping.
    pub(super) fn proof(&self, id: &str) -> String {
        format!("{}:dpop:{{{id}}}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_key_is_hash_tagged_by_its_sid() {
        let keys = Keys::new("app");
        assert_eq!(keys.session("abc"), "app:session:{abc}");
        assert_eq!(keys.index, "app:revoked");
        assert_eq!(keys.channel, "app:revocations");
    }
}
