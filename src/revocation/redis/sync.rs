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
    shared.within(pubsub.subscribe(&shared.keys.channel)).await?;
    let started = now_ms();
    load(shared, started / 1000).await?;
    shared.view.complete_at(started);
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

/// One published message: `r <until> <id>` is a revocation, `h <instance> <ms>` a
/// heartbeat. Returns whether it was this instance's own heartbeat, which proves that the
/// view holds everything published before it was sent.
fn apply(shared: &Shared, message: &Msg) -> bool {
    let Ok(payload) = std::str::from_utf8(message.get_payload_bytes()) else {
        return false;
    };
    let mut parts = payload.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("r"), Some(until), Some(id)) => {
            if let Some(until) = parse_score(until) {
                shared.view.insert(id, until, now_ms() / 1000);
            }
            false
        }
        (Some("h"), Some(instance), Some(sent_ms)) if instance == shared.instance => {
            match sent_ms.parse() {
                Ok(sent_ms) => {
                    shared.view.complete_at(sent_ms);
                    true
                }
                Err(_) => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_score;

    #[test]
    fn scores_parse_as_whole_seconds_rounded_up() {
        assert_eq!(parse_score("1764653000"), Some(1_764_653_000));
        assert_eq!(parse_score("1.5"), Some(2));
        assert_eq!(parse_score("inf"), None);
        assert_eq!(parse_score("-3"), None);
        assert_eq!(parse_score("x"), None);
    }
}
