//! Keeping the local view current: subscribe, load the index, then follow the published
//! revocations and this instance's own heartbeats; after any break, do it all again.

use std::sync::Weak;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::aio::PubSubStream;
use redis::{Client, Msg, Value};

use super::Shared;
use super::view::now_ms;
use crate::revocation::StoreError;

/// Members asked for per `ZSCAN` step when loading the index.
const PAGE: usize = 10_000;

/// Waits between reconnection attempts, doubling from the first to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(2));

/// A subscription that ended sooner than this after it was made counts as a failed
/// attempt (backoff), so one that breaks at once cannot spin on reloads.
const SHORTEST_HEALTHY: Duration = Duration::from_secs(5);

/// How often the index is read again while subscribed, in case a message was lost (a
/// Redis Cluster failover can drop messages in flight).
const RELOAD_EVERY: Duration = Duration::from_secs(300);

/// Subscribes first, then loads every live revocation: one made during the load arrives
/// on the subscription, so none falls between the two. The view is then complete as of
/// the moment the load began.
pub(super) async fn connect(shared: &Shared, client: &Client) -> Result<PubSubStream, StoreError> {
    let mut pubsub = shared.within(client.get_async_pubsub()).await?;
    shared
        .within(pubsub.subscribe(&shared.keys.channel))
        .await?;
    let started = shared.view.mono_ms();
    load(shared).await?;
    shared.view.complete_at(started);
    Ok(pubsub.into_on_message())
}

/// Every revocation in the index that is still live. `ZSCAN`, not ranges by offset: a
/// write's pruning between two pages would shift the members and skip some, while a scan
/// returns every member present from its start to its end.
async fn load(shared: &Shared) -> Result<(), StoreError> {
    let mut cursor = "0".to_owned();
    loop {
        let mut cmd = redis::cmd("ZSCAN");
        cmd.arg(&shared.keys.index)
            .arg(&cursor)
            .arg("COUNT")
            .arg(PAGE);
        let reply: Vec<Value> = shared.query(cmd).await?;
        let [next, members] = <[Value; 2]>::try_from(reply).map_err(|_| malformed())?;
        let mut flat = Vec::new();
        flatten(members, &mut flat);
        let now = now_ms() / 1000;
        for pair in flat.chunks_exact(2) {
            if let Some(until) = parse_score(&pair[1]) {
                shared.view.insert(&pair[0], until, now);
            }
        }
        cursor = text(next).ok_or_else(malformed)?;
        if cursor == "0" {
            return Ok(());
        }
    }
}

/// The strings of a reply, nested arrays (RESP3's member/score pairs) flattened.
fn flatten(value: Value, out: &mut Vec<String>) {
    match value {
        Value::Array(items) => items.into_iter().for_each(|item| flatten(item, out)),
        other => out.extend(text(other)),
    }
}

fn text(value: Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        Value::SimpleString(s) => Some(s),
        Value::Int(n) => Some(n.to_string()),
        Value::Double(d) => Some(d.to_string()),
        _ => None,
    }
}

fn malformed() -> StoreError {
    StoreError::new(std::io::Error::other(
        "ZSCAN answered something else than a scan",
    ))
}

/// A score as Redis prints it (an integer, or a double for a hand-written one).
fn parse_score(score: &str) -> Option<u64> {
    score.parse::<u64>().ok().or_else(|| {
        let value: f64 = score.parse().ok()?;
        // Rounded up: a revocation lasts at least as long as it was written for.
        (value.is_finite() && value >= 0.0).then(|| value.ceil() as u64)
    })
}

/// Follows the subscription while the store lives; reconnects and resynchronises after
/// every break, with backoff.
pub(super) fn spawn(weak: Weak<Shared>, client: Client, stream: PubSubStream) {
    tokio::spawn(async move {
        let mut stream = Some(stream);
        let mut backoff = BACKOFF.0;
        loop {
            if let Some(stream) = stream.take() {
                let since = Instant::now();
                follow(&weak, stream).await;
                if since.elapsed() >= SHORTEST_HEALTHY {
                    backoff = BACKOFF.0;
                } else {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF.1);
                }
            }
            let Some(shared) = weak.upgrade() else { return };
            shared.view.recheck();
            match connect(&shared, &client).await {
                Ok(resubscribed) => {
                    #[cfg(feature = "tracing")]
                    tracing::info!("redis revocations: resubscribed and resynchronised");
                    stream = Some(resubscribed);
                }
                Err(_error) => {
                    #[cfg(feature = "tracing")]
                    tracing::warn!(error = %_error, "redis revocations: reconnect failed");
                    shared.view.recheck();
                    drop(shared);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF.1);
                }
            }
        }
    });
}

/// Applies published revocations and heartbeats; returns when the subscription ends, goes
/// silent (no heartbeat of ours came back in three intervals plus a timeout), or the
/// store is dropped. Every heartbeat interval it also rechecks the view's bound, and now
/// and then reads the whole index again.
async fn follow(weak: &Weak<Shared>, mut stream: PubSubStream) {
    let Some(every) = weak.upgrade().map(|shared| shared.heartbeat) else {
        return;
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_heard = Instant::now();
    let mut last_reload = Instant::now();
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else { break };
                let Some(shared) = weak.upgrade() else { return };
                if apply(&shared, &message) {
                    last_heard = Instant::now();
                }
            }
            _ = tick.tick() => {
                let Some(shared) = weak.upgrade() else { return };
                shared.view.recheck();
                let silent = shared.heartbeat.saturating_mul(3).saturating_add(shared.timeout);
                if last_heard.elapsed() > silent {
                    break;
                }
                tokio::spawn(shared.publish_heartbeat());
                if last_reload.elapsed() >= RELOAD_EVERY {
                    last_reload = Instant::now();
                    if load(&shared).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
    #[cfg(feature = "tracing")]
    tracing::warn!("redis revocations: subscription lost; reconnecting");
}

/// One published message, applied. Returns whether it was this instance's own heartbeat,
/// which proves that the view holds everything published before it was sent.
fn apply(shared: &Shared, message: &Msg) -> bool {
    match parse_message(message.get_payload_bytes()) {
        Some(Message::Revoked { id, until }) => {
            shared.view.insert(id, until, now_ms() / 1000);
            false
        }
        Some(Message::Heartbeat { instance, sent_ms }) if instance == shared.instance => {
            shared.view.complete_at(sent_ms);
            true
        }
        _ => false,
    }
}

/// What the channel carries.
#[cfg_attr(not(feature = "fuzzing"), allow(unreachable_pub))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// `r <until> <id>`: `id` revoked until the Unix second `until`.
    Revoked {
        /// The revoked id (`jti:…`, `sid:…`); may hold spaces.
        id: &'a str,
        /// Whole seconds, rounded up from a fractional score.
        until: u64,
    },
    /// `h <instance> <ms>`: an instance's heartbeat, sent at `sent_ms` on its own
    /// monotonic clock (only the sender reads it).
    Heartbeat {
        /// The sender's random id.
        instance: &'a str,
        /// When it was sent.
        sent_ms: u64,
    },
}

/// Reads one message; `None` for anything else (not UTF-8, unknown kind, bad number,
/// empty id): such messages are ignored, never applied.
#[cfg_attr(not(feature = "fuzzing"), allow(unreachable_pub))]
pub fn parse_message(payload: &[u8]) -> Option<Message<'_>> {
    let payload = std::str::from_utf8(payload).ok()?;
    let mut parts = payload.splitn(3, ' ');
    match (parts.next()?, parts.next()?, parts.next()?) {
        ("r", until, id) if !id.is_empty() => Some(Message::Revoked {
            id,
            until: parse_score(until)?,
        }),
        ("h", instance, sent_ms) if !instance.is_empty() && is_digits(sent_ms) => {
            Some(Message::Heartbeat {
                instance,
                sent_ms: sent_ms.parse().ok()?,
            })
        }
        _ => None,
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_parse_as_whole_seconds_rounded_up() {
        assert_eq!(parse_score("1764653000"), Some(1_764_653_000));
        assert_eq!(parse_score("1.5"), Some(2));
        assert_eq!(parse_score("inf"), None);
        assert_eq!(parse_score("-3"), None);
        assert_eq!(parse_score("x"), None);
    }

    #[test]
    fn messages_parse_or_are_ignored() {
        assert_eq!(
            parse_message(b"r 1764653000 sid:a b"),
            Some(Message::Revoked {
                id: "sid:a b",
                until: 1_764_653_000
            })
        );
        assert_eq!(
            parse_message(b"h 0a1b 1764653000123"),
            Some(Message::Heartbeat {
                instance: "0a1b",
                sent_ms: 1_764_653_000_123
            })
        );
        for ignored in [
            &b"r 5 "[..],
            b"r x sid:a",
            b"h  12",
            b"h me +12",
            b"h me 99999999999999999999999",
            b"q 1 2",
            b"r 1",
            b"\xff 1 2",
            b"",
        ] {
            assert_eq!(parse_message(ignored), None, "{ignored:?}");
        }
    }
}
