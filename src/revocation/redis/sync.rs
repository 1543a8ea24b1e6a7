//! Keeping the local view current: subscribe, load the index, then follow the published
//! revocations and this instance's own heartbeats; after any break, do it all again.

use std::sync::Weak;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::aio::PubSubStream;
use redis::{Client, Msg};

use super::Shared;
use super::view::now_ms;
use crate::revocation::StoreError;

/// Revoked ids read per command when loading the index.
const PAGE: usize = 10_000;

/// Waits between reconnection attempts, doubling from the first to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(2));

/// Subscribes first, then loads every live revocation: one made during the load arrives
/// on the subscription, so none falls between the two. The view is then complete as of
/// the moment the load began.
pub(super) async fn connect(shared: &Shared, client: &Client) -> Result<PubSubStream, StoreError> {
    let mut pubsub = shared.within(client.get_async_pubsub()).await?;
    shared
        .within(pubsub.subscribe(&shared.keys.channel))
        .await?;
    let started = now_ms();
    load(shared, started / 1000).await?;
    shared.view.complete_at(started, now_ms());
    Ok(pubsub.into_on_message())
}

/// Every revocation in the index that lasts past `now`, a page at a time.
async fn load(shared: &Shared, now: u64) -> Result<(), StoreError> {
    for page in 0.. {
        let mut cmd = redis::cmd("ZRANGE");
        cmd.arg(&shared.keys.index)
            .arg(format!("({now}"))
            .arg("+inf")
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(page * PAGE)
            .arg(PAGE)
            .arg("WITHSCORES");
        let members: Vec<String> = shared.query(cmd).await?;
        for pair in members.chunks_exact(2) {
            if let Some(until) = parse_score(&pair[1]) {
                shared.view.insert(&pair[0], until, now);
            }
        }
        if members.len() < 2 * PAGE {
            break;
        }
    }
    Ok(())
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
                follow(&weak, stream).await;
            }
            let Some(shared) = weak.upgrade() else { return };
            match connect(&shared, &client).await {
                Ok(resubscribed) => {
                    #[cfg(feature = "tracing")]
                    tracing::info!("redis revocations: resubscribed and resynchronised");
                    stream = Some(resubscribed);
                    backoff = BACKOFF.0;
                }
                Err(_error) => {
                    #[cfg(feature = "tracing")]
                    tracing::warn!(error = %_error, "redis revocations: reconnect failed");
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
/// store is dropped.
async fn follow(weak: &Weak<Shared>, mut stream: PubSubStream) {
    let Some(every) = weak.upgrade().map(|shared| shared.heartbeat) else {
        return;
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_heard = Instant::now();
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
                if last_heard.elapsed() > shared.heartbeat * 3 + shared.timeout {
                    break;
                }
                tokio::spawn(shared.publish_heartbeat());
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
            shared.view.complete_at(sent_ms, now_ms());
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
    /// `h <instance> <ms>`: an instance's heartbeat, sent at Unix millisecond `sent_ms`.
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
