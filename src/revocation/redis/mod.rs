//! [`RedisRevocationStore`]: revocations and session families shared by every instance
//! through Redis, checked locally.
//!
//! Writes (logout, blacklist, rotation) are one Lua script each, atomic on one key, under
//! a timeout. Checks never leave the process: each instance keeps a local view of the
//! revoked ids, loaded at start and after every reconnect and kept current by a pub/sub
//! subscription, with a heartbeat that proves the view recent.

mod replay;
mod scripts;
mod sync;
mod view;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt, ready};
use redis::aio::{ConnectionLike, ConnectionManagerConfig};
use redis::{Client, Cmd, FromRedisValue, RedisError};

use super::{REUSED, RevocationStore, Rotation, StoreError};
use scripts::Keys;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use sync::{Message, parse_message};
use view::{View, now_ms};

/// The latest expiry written to Redis, 9999-12-31T23:59:59Z: later ones (a saturated
/// lifetime) would not fit `EXAT` and would fail every write.
const LATEST: u64 = 253_402_300_799;

/// Revocations in Redis, for many instances behind a load balancer.
///
/// - **Checks are local.** [`any_revoked`](RevocationStore::any_revoked) reads this
///   instance's view: a read lock and a hash lookup, no round trip. The view is loaded at
///   start, kept current through pub/sub (a revocation on one instance reaches the others
///   within milliseconds on a LAN), and reloaded after every reconnect.
/// - **Staleness is bounded.** Every [`heartbeat`](RedisRevocationStoreBuilder::heartbeat)
///   the store publishes a heartbeat and waits to hear it back over its subscription; one
///   heard proves the view holds everything published before it. When none has come back
///   for [`max_staleness`](RedisRevocationStoreBuilder::max_staleness) (default 15 s),
///   checks fail (the layer answers 503) until the view is resynchronised.
/// - **Writes go to Redis first**, under [`command_timeout`](RedisRevocationStoreBuilder::command_timeout)
///   (default 1 s): while Redis is unreachable they fail and the caller answers 503;
///   nothing is half-written.
/// - **Storage.** One key per session that has refreshed (`{prefix}:session:{sid}`,
///   hash-tagged, expiring with its newest refresh token), and one sorted set of explicit
///   revocations (`{prefix}:revoked`, members scored by the second they last until, pruned
///   at every write, the key expiring with its last member). Refreshing adds nothing.
///
/// Keep Redis persistent (`appendonly yes`): a Redis that restarts empty forgets every
/// revocation. Give it `maxmemory-policy noeviction`, so that a full Redis refuses writes
/// (503) instead of evicting live revocations.
///
/// ```no_run
/// use tower_jwt_auth::revocation::RedisRevocationStore;
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisRevocationStore::connect("redis://127.0.0.1:6379/").await?;
/// // Give `store` to `TokenIssuer::builder(…).revocation_store(…)`; the issuer's
/// // `layer_builder()` shares it with the layer.
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisRevocationStore {
    shared: Arc<Shared>,
}

/// Options of a [`RedisRevocationStore`].
pub struct RedisRevocationStoreBuilder {
    client: Client,
    commands: Option<Box<dyn Commands>>,
    prefix: String,
    command_timeout: Duration,
    max_staleness: Duration,
    heartbeat: Duration,
}

/// What the store and its subscription task share.
struct Shared {
    commands: Box<dyn Commands>,
    view: View,
    keys: Keys,
    timeout: Duration,
    heartbeat: Duration,
    /// Tells this instance's heartbeats from the others'.
    instance: String,
}

/// A connection that runs one command: whatever the user gave (a cluster connection, a
/// pooled one), type-erased.
trait Commands: Send + Sync + 'static {
    fn run(&self, cmd: Cmd) -> BoxFuture<'static, Result<redis::Value, RedisError>>;
}

impl<C: ConnectionLike + Clone + Send + Sync + 'static> Commands for C {
    fn run(&self, cmd: Cmd) -> BoxFuture<'static, Result<redis::Value, RedisError>> {
        let mut connection = self.clone();
        async move { cmd.query_async(&mut connection).await }.boxed()
    }
}

/// Redis did not answer within the command timeout.
#[derive(Debug)]
struct TimedOut(Duration);

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redis did not answer within {:?}", self.0)
    }
}

impl std::error::Error for TimedOut {}

/// The prefix would break the keys' hash tags.
#[derive(Debug)]
struct BadPrefix;

impl fmt::Display for BadPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the key prefix must be non-empty and free of `{` and `}`")
    }
}

impl std::error::Error for BadPrefix {}

impl Shared {
    /// `future` under the command timeout.
    async fn within<T>(
        &self,
        future: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, future).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(StoreError::new(error)),
            Err(_) => Err(StoreError::new(TimedOut(self.timeout))),
        }
    }

    /// Runs `cmd` under the timeout and converts its answer.
    fn query<T: FromRedisValue + Send + 'static>(
        &self,
        cmd: Cmd,
    ) -> impl Future<Output = Result<T, StoreError>> + Send + 'static {
        let answer = self.commands.run(cmd);
        let timeout = self.timeout;
        async move {
            let value = match tokio::time::timeout(timeout, answer).await {
                Ok(Ok(value)) => value,
                Ok(Err(error)) => return Err(StoreError::new(error)),
                Err(_) => return Err(StoreError::new(TimedOut(timeout))),
            };
            T::from_redis_value(value).map_err(|e| StoreError::new(RedisError::from(e)))
        }
    }

    /// Publishes `h <instance> <monotonic ms>`, from the index's node, for this instance's
    /// subscription to hear back.
    fn publish_heartbeat(&self) -> impl Future<Output = ()> + Send + 'static {
        let message = format!("h {} {}", self.instance, self.view.mono_ms());
        let args = [self.keys.channel.as_str(), message.as_str()];
        let sent = self.query::<i64>(eval(scripts::HEARTBEAT, &self.keys.index, &args));
        async move {
            if let Err(_error) = sent.await {
                #[cfg(feature = "tracing")]
                tracing::debug!(error = %_error, "redis revocations: heartbeat not sent");
            }
        }
    }
}

fn eval(script: &str, key: &str, args: &[&str]) -> Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(1).arg(key);
    for arg in args {
        cmd.arg(*arg);
    }
    cmd
}

impl RedisRevocationStore {
    /// A store on the Redis at `url` with the default options: a
    /// [`ConnectionManager`](redis::aio::ConnectionManager)
    /// (reconnecting) for commands and a subscription from the same client.
    ///
    /// Fails when Redis cannot be reached, or its revocations loaded, within the command
    /// timeout.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = Client::open(url).map_err(StoreError::new)?;
        Self::builder(client).build().await
    }

    /// Options for a store whose subscription connects through `client`. On Redis
    /// Cluster, any one node's client will do (messages reach every node); give the
    /// cluster connection to [`connection`](RedisRevocationStoreBuilder::connection).
    pub fn builder(client: Client) -> RedisRevocationStoreBuilder {
        RedisRevocationStoreBuilder {
            client,
            commands: None,
            prefix: "tjwt".to_owned(),
            command_timeout: Duration::from_secs(1),
            max_staleness: Duration::from_secs(15),
            heartbeat: Duration::from_secs(1),
        }
    }

    /// The local view's answer, if it is recent enough to give one.
    fn check(&self, ids: &[&str]) -> Result<bool, StoreError> {
        let view = &self.shared.view;
        view.any_revoked(ids, now_ms()).map_err(StoreError::new)
    }

    /// How many revocations this instance's local view holds.
    pub fn local_revocations(&self) -> usize {
        self.shared.view.len()
    }
}

impl RedisRevocationStoreBuilder {
    /// The connection commands go through: a cluster connection
    /// (`redis::cluster_async::ClusterConnection`), a pooled one, or a
    /// [`ConnectionManager`](redis::aio::ConnectionManager) of your own. Defaults to a `ConnectionManager` from the
    /// builder's client, with the command timeout as its connect and response timeouts.
    pub fn connection(
        mut self,
        connection: impl ConnectionLike + Clone + Send + Sync + 'static,
    ) -> Self {
        self.commands = Some(Box::new(connection));
        self
    }

    /// What every key and the channel start with. Defaults to `tjwt`; must not contain
    /// `{` or `}` (the session keys' hash tags).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The longest any command may take; a write that times out fails (503). Defaults to
    /// 1 second.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// How long checks keep answering from a view that could not be confirmed recent
    /// (Redis unreachable); after that they fail closed (503) until it is resynchronised.
    /// Defaults to 15 seconds.
    pub fn max_staleness(mut self, staleness: Duration) -> Self {
        self.max_staleness = staleness;
        self
    }

    /// How often the view is confirmed recent, by a heartbeat published and heard back.
    /// Defaults to 1 second; keep it well under the staleness bound.
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every.max(Duration::from_millis(10));
        self
    }

    /// Connects, subscribes, loads the live revocations, and starts following them (a
    /// task on the current tokio runtime, ending when the last clone of the store is
    /// dropped).
    pub async fn build(self) -> Result<RedisRevocationStore, StoreError> {
        if self.prefix.is_empty() || self.prefix.contains(['{', '}']) {
            return Err(StoreError::new(BadPrefix));
        }
        let timeout = self.command_timeout;
        let commands = match self.commands {
            Some(commands) => commands,
            None => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1);
                let manager = self.client.get_connection_manager_with_config(config);
                let manager = tokio::time::timeout(timeout, manager)
                    .await
                    .map_err(|_| StoreError::new(TimedOut(timeout)))?
                    .map_err(StoreError::new)?;
                Box::new(manager)
            }
        };
        let shared = Arc::new(Shared {
            commands,
            view: View::new(self.max_staleness),
            keys: Keys::new(&self.prefix),
            timeout,
            heartbeat: self.heartbeat,
            instance: instance_id()?,
        });
        let stream = sync::connect(&shared, &self.client).await?;
        sync::spawn(Arc::downgrade(&shared), self.client, stream);
        Ok(RedisRevocationStore { shared })
    }
}

/// 64 random bits, hex.
fn instance_id() -> Result<String, StoreError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::new(std::io::Error::other(e.to_string())))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl RevocationStore for RedisRevocationStore {
    fn revoke(&self, id: &str, expires_at: u64) -> BoxFuture<'static, Result<bool, StoreError>> {
        let expires_at = expires_at.min(LATEST);
        let now = now_ms() / 1000;
        if expires_at <= now {
            return ready(Ok(true)).boxed();
        }
        let shared = Arc::clone(&self.shared);
        let (until, now_arg) = (expires_at.to_string(), now.to_string());
        let args = [id, until.as_str(), now_arg.as_str(), &shared.keys.channel];
        let written = shared.query::<i64>(eval(scripts::REVOKE, &shared.keys.index, &args));
        let id = id.to_owned();
        async move {
            let newly = written.await? == 1;
            // In force here at once, before the message comes back.
            shared.view.insert(&id, expires_at, now);
            Ok(newly)
        }
        .boxed()
    }

    fn any_revoked(&self, ids: &[&str]) -> BoxFuture<'static, Result<bool, StoreError>> {
        ready(self.check(ids)).boxed()
    }

    fn revoked_now(&self, ids: &[&str]) -> Option<Result<bool, StoreError>> {
        Some(self.check(ids))
    }

    fn rotate(
        &self,
        sid: &str,
        presented: &str,
        next: &str,
        expires_at: u64,
    ) -> BoxFuture<'static, Result<Rotation, StoreError>> {
        let expires_at = expires_at.min(LATEST);
        let shared = &self.shared;
        let until = expires_at.to_string();
        let args = [presented, next, until.as_str(), REUSED];
        let rotated = shared.query::<i64>(eval(scripts::ROTATE, &shared.keys.session(sid), &args));
        async move {
            Ok(match rotated.await? {
                1 => Rotation::Rotated,
                _ => Rotation::Reused,
            })
        }
        .boxed()
    }

    fn close_session(
        &self,
        sid: &str,
        expires_at: u64,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        let shared = &self.shared;
        let until = expires_at.min(LATEST).to_string();
        let args = [until.as_str(), REUSED];
        let closed = shared.query::<i64>(eval(scripts::CLOSE, &shared.keys.session(sid), &args));
        async move { closed.await.map(drop) }.boxed()
    }
}

impl fmt::Debug for RedisRevocationStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.shared;
        f.debug_struct("RedisRevocationStore")
            .field("keys", &shared.keys)
            .field("command_timeout", &shared.timeout)
            .field("heartbeat", &shared.heartbeat)
            .field("local_revocations", &shared.view.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RedisRevocationStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRevocationStoreBuilder")
            .field("prefix", &self.prefix)
            .field("command_timeout", &self.command_timeout)
            .field("max_staleness", &self.max_staleness)
            .field("heartbeat", &self.heartbeat)
            .finish_non_exhaustive()
    }
}
