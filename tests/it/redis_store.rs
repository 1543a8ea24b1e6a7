//! `RedisRevocationStore` against real `redis-server` processes: two instances sharing
//! revocations and sessions, propagation latency, keys per session, Redis paused and
//! restarted, and a 3-master Redis Cluster.

use std::time::{Duration, Instant};

use crate::support::now;
use crate::support::redis_server::{RedisCluster, RedisServer};
use tower_jwt_auth::revocation::{RedisRevocationStore, RevocationStore, Rotation};

/// Short enough that the outage tests finish in seconds.
const TIMEOUT: Duration = Duration::from_millis(500);
const STALENESS: Duration = Duration::from_secs(3);
const HEARTBEAT: Duration = Duration::from_millis(200);

async fn store_on(server: &RedisServer) -> RedisRevocationStore {
    RedisRevocationStore::builder(server.client())
        .command_timeout(TIMEOUT)
        .max_staleness(STALENESS)
        .heartbeat(HEARTBEAT)
        .build()
        .await
        .expect("a store on the test redis")
}

/// Polls `check` every millisecond until it holds, for at most `limit`; how long it took.
async fn until_true(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

async fn revoked(store: &RedisRevocationStore, id: &str) -> Result<bool, String> {
    store.any_revoked(&[id]).await.map_err(|e| e.to_string())
}

#[tokio::test]
#[ignore = "needs redis-server; run scripts/test"]
async fn a_revocation_on_one_instance_holds_on_the_other_and_at_start() {
    let server = RedisServer::start();
    let (a, b) = (store_on(&server).await, store_on(&server).await);
    let far = now() + 3600;
    assert!(a.revoke("sid:s1", far).await.unwrap(), "newly revoked");
    assert!(!b.revoke("sid:s1", far).await.unwrap(), "already revoked");
    // In force on A at once; on B as soon as the message arrives.
    assert_eq!(revoked(&a, "sid:s1").await, Ok(true));
    let seen = until_true(Duration::from_secs(5), async || {
        revoked(&b, "sid:s1").await == Ok(true)
    });
    assert!(seen.await.is_some(), "B never saw A's revocation");
    assert_eq!(revoked(&b, "sid:other").await, Ok(false));
    // The layer's per-request check is answered in place, from the view.
    assert!(matches!(b.revoked_now(&["sid:s1"]), Some(Ok(true))));
    assert!(matches!(b.revoked_now(&["sid:other"]), Some(Ok(false))));
    // An instance started later loads it.
    let c = store_on(&server).await;
    assert_eq!(revoked(&c, "sid:s1").await, Ok(true));
    assert_eq!(c.local_revocations(), 1);
    // An expiry past what Redis can hold (a saturated lifetime) is kept as long as it can.
    assert!(a.revoke("sid:forever", u64::MAX).await.unwrap());
    assert_eq!(
        a.rotate("f", "r0", "r1", u64::MAX).await.unwrap(),
        Rotation::Rotated
    );
    assert_eq!(
        server.cli(&["EXPIRETIME", "tjwt:session:{f}"]),
        "253402300799"
    );
    // One that has expired is neither loaded nor kept in Redis.
    a.revoke("jti:brief", now() + 1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    a.revoke("jti:later", far).await.unwrap();
    let members = server.cli(&["ZRANGE", "tjwt:revoked", "0", "-1"]);
    let mut members: Vec<&str> = members.lines().collect();
    members.sort_unstable();
    assert_eq!(members, ["jti:later", "sid:forever", "sid:s1"]);
    let d = store_on(&server).await;
    assert_eq!(revoked(&d, "jti:brief").await, Ok(false));
    assert_eq!(d.local_revocations(), 3);
    // The index expires with its last member.
    let ttl: u64 = server.cli(&["EXPIRETIME", "tjwt:revoked"]).parse().unwrap();
    assert_eq!(ttl, 253_402_300_799);
}

#[tokio::test]
#[ignore = "needs redis-server; run scripts/test"]
async fn rotation_is_one_compare_and_set_across_instances() {
    let server = RedisServer::start();
    let (a, b) = (store_on(&server).await, store_on(&server).await);
    let far = now() + 3600;
    assert_eq!(
        a.rotate("s", "r0", "r1", far).await.unwrap(),
        Rotation::Rotated
    );
    assert_eq!(
        b.rotate("s", "r1", "r2", far).await.unwrap(),
        Rotation::Rotated
    );
    // r1 again, on A: reuse, and the session's current r2 is dead too.
    assert_eq!(
        a.rotate("s", "r1", "r3", far).await.unwrap(),
        Rotation::Reused
    );
    assert_eq!(
        b.rotate("s", "r2", "r3", far).await.unwrap(),
        Rotation::Reused
    );
    let key = "tjwt:session:{s}";
    assert_eq!(server.cli(&["GET", key]), "!reused");
    let expires: u64 = server.cli(&["EXPIRETIME", key]).parse().unwrap();
    assert_eq!(
        expires, far,
        "the mark lasts as long as the newest token could"
    );
    // The mark is for good: the current token is refused, however often presented.
    assert_eq!(
        a.rotate("s", "r2", "r4", far).await.unwrap(),
        Rotation::Reused
    );
    // Racing refreshes with one token: exactly one rotates.
    let (x, y) = tokio::join!(
        a.rotate("t", "q0", "qa", far),
        b.rotate("t", "q0", "qb", far)
    );
    let mut outcomes = [x.unwrap(), y.unwrap()];
    outcomes.sort_by_key(|o| *o == Rotation::Reused);
    assert_eq!(outcomes, [Rotation::Rotated, Rotation::Reused]);
}

#[tokio::test]
#[ignore = "needs redis-server; run scripts/test"]
async fn propagation_latency_over_thirty_sessions() {
    let server = RedisServer::start();
    let (a, b) = (store_on(&server).await, store_on(&server).await);
    let mut latencies = Vec::new();
    for i in 0..30 {
        let id = format!("sid:latency-{i}");
        let start = Instant::now();
        a.revoke(&id, now() + 600).await.unwrap();
        let seen = until_true(Duration::from_secs(5), async || {
            revoked(&b, &id).await == Ok(true)
        })
        .await;
        assert!(seen.is_some(), "session {i} never reached B");
        latencies.push(start.elapsed());
    }
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let p95 = latencies[latencies.len() * 95 / 100];
    let max = latencies[latencies.len() - 1];
    eprintln!("redis propagation A→B over 30 sessions: p50 {p50:?}, p95 {p95:?}, max {max:?}");
    assert!(p95 <= Duration::from_millis(100), "p95 {p95:?}");
}

#[tokio::test]
#[ignore = "needs redis-server; run scripts/test"]
async fn a_paused_redis_fails_writes_in_time_and_reads_close_after_the_bound() {
    let server = RedisServer::start();
    let store = store_on(&server).await;
    store.revoke("sid:before", now() + 600).await.unwrap();
    server.pause();
    let paused = Instant::now();
    // Writes fail within the command timeout: nothing waits on a stopped Redis.
    let start = Instant::now();
    let write = store.revoke("sid:during", now() + 600).await;
    assert!(write.is_err(), "a write with Redis stopped: {write:?}");
    assert!(start.elapsed() < TIMEOUT * 3, "took {:?}", start.elapsed());
    let start = Instant::now();
    assert!(store.rotate("s", "r0", "r1", now() + 600).await.is_err());
    assert!(start.elapsed() < TIMEOUT * 3, "took {:?}", start.elapsed());
    // Reads answer from the view inside the bound, then fail closed.
    assert_eq!(revoked(&store, "sid:before").await, Ok(true));
    assert_eq!(revoked(&store, "sid:other").await, Ok(false));
    let closed = until_true(Duration::from_secs(10), async || {
        revoked(&store, "sid:other").await.is_err()
    })
    .await
    .expect("reads fail closed once the view is too old");
    let closed_after = paused.elapsed();
    assert!(
        closed_after >= STALENESS - HEARTBEAT,
        "closed after {closed_after:?}"
    );
    let error = revoked(&store, "sid:before").await.unwrap_err();
    assert!(error.contains("behind"), "{error}");
    assert!(matches!(store.revoked_now(&["sid:before"]), Some(Err(_))));
    server.resume();
    // Back without a restart of the store: resynchronised, and what was revoked before holds.
    let back = until_true(Duration::from_secs(15), async || {
        revoked(&store, "sid:other").await.is_ok()
    })
    .await
    .expect("reads resume after Redis does");
    eprintln!(
        "redis paused: reads closed after {closed_after:?} ({closed:?} polling), reopened {back:?} after SIGCONT"
    );
    assert_eq!(revoked(&store, "sid:before").await, Ok(true));
    // The write that timed out was sent before Redis stopped: Redis may still run it on
    // resuming (whole, being one script). A late revocation fails closed; either way the
    // caller was told 503.
    assert!(store.revoke("sid:after", now() + 600).await.unwrap());
}

#[tokio::test]
#[ignore = "needs redis-server; run scripts/test"]
async fn a_restarted_redis_keeps_its_revocations_and_the_store_resumes() {
    let mut server = RedisServer::start();
    let (a, b) = (store_on(&server).await, store_on(&server).await);
    a.revoke("sid:kept", now() + 600).await.unwrap();
    assert_eq!(
        a.rotate("s", "r0", "r1", now() + 600).await.unwrap(),
        Rotation::Rotated
    );
    server.restart();
    let resumed = until_true(Duration::from_secs(15), async || {
        a.revoke("sid:new", now() + 600).await.is_ok()
    })
    .await
    .expect("writes resume after the restart");
    eprintln!("redis restarted: writes resumed after {resumed:?}");
    let seen = until_true(Duration::from_secs(15), async || {
        revoked(&b, "sid:new").await == Ok(true)
    });
    assert!(
        seen.await.is_some(),
        "B resubscribed and saw the new revocation"
    );
    // Append-only file: the revocation and the session's generation came back.
    assert_eq!(revoked(&b, "sid:kept").await, Ok(true));
    let fresh = store_on(&server).await;
    assert_eq!(revoked(&fresh, "sid:kept").await, Ok(true));
    assert_eq!(
        fresh.rotate("s", "r0", "x", now() + 600).await.unwrap(),
        Rotation::Reused
    );
}

#[tokio::test]
#[ignore = "needs redis-server; run scripts/test"]
async fn a_prefix_separates_services_and_braces_are_refused() {
    let server = RedisServer::start();
    let store = |prefix: &str| {
        RedisRevocationStore::builder(server.client())
            .prefix(prefix)
            .command_timeout(TIMEOUT)
            .build()
    };
    let (one, two) = (store("one").await.unwrap(), store("two").await.unwrap());
    one.revoke("sid:x", now() + 600).await.unwrap();
    one.rotate("s", "r0", "r1", now() + 600).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(revoked(&two, "sid:x").await, Ok(false));
    assert_eq!(
        two.rotate("s", "r5", "r6", now() + 600).await.unwrap(),
        Rotation::Rotated
    );
    let mut keys: Vec<String> = server
        .cli(&["KEYS", "*"])
        .lines()
        .map(str::to_owned)
        .collect();
    keys.sort();
    assert_eq!(keys, ["one:revoked", "one:session:{s}", "two:session:{s}"]);
    for bad in ["", "a{b", "x}"] {
        assert!(store(bad).await.is_err(), "prefix {bad:?}");
    }
}

#[tokio::test]
#[ignore = "needs redis-server; run scripts/test"]
async fn the_store_works_on_a_three_master_cluster() {
    let cluster = RedisCluster::start();
    let cluster_client = redis::cluster::ClusterClient::new(cluster.urls()).unwrap();
    let on_node = async |node: usize| {
        let connection = cluster_client.get_async_connection().await.unwrap();
        let client = redis::Client::open(cluster.urls()[node].as_str()).unwrap();
        RedisRevocationStore::builder(client)
            .connection(connection)
            .command_timeout(Duration::from_secs(1))
            .build()
            .await
            .expect("a store on the cluster")
    };
    // A and B subscribe through different nodes.
    let (a, b) = (on_node(0).await, on_node(1).await);
    let far = now() + 3600;
    assert!(a.revoke("sid:c1", far).await.unwrap());
    let seen = until_true(Duration::from_secs(5), async || {
        revoked(&b, "sid:c1").await == Ok(true)
    });
    assert!(
        seen.await.is_some(),
        "B never saw A's revocation across the cluster"
    );
    // Forty sessions rotate, reuse is caught across instances, and their keys spread over
    // the masters.
    for i in 0..40 {
        let sid = format!("session-{i}");
        assert_eq!(
            a.rotate(&sid, "r0", "r1", far).await.unwrap(),
            Rotation::Rotated
        );
        assert_eq!(
            b.rotate(&sid, "r1", "r2", far).await.unwrap(),
            Rotation::Rotated
        );
        assert_eq!(
            a.rotate(&sid, "r0", "x", far).await.unwrap(),
            Rotation::Reused
        );
    }
    let per_node: Vec<u64> = cluster
        .nodes
        .iter()
        .map(|node| node.cli(&["DBSIZE"]).parse().unwrap())
        .collect();
    assert_eq!(
        per_node.iter().sum::<u64>(),
        41,
        "40 sessions and the index: {per_node:?}"
    );
    assert!(
        per_node.iter().filter(|n| **n > 0).count() >= 2,
        "{per_node:?}"
    );
    // A store started now loads the index from whichever node holds it.
    let c = on_node(2).await;
    assert_eq!(revoked(&c, "sid:c1").await, Ok(true));
}

#[tokio::test]
#[ignore = "needs redis-server; run scripts/test"]
async fn forged_and_garbled_messages_on_the_channel_cannot_keep_a_stale_view_open() {
    use futures_util::StreamExt;
    let server = RedisServer::start();
    let store = store_on(&server).await;
    // Whoever can subscribe learns the store's instance id from its heartbeats.
    let mut listener = server.client().get_async_pubsub().await.unwrap();
    listener.subscribe("tjwt:revocations").await.unwrap();
    let heartbeat: String = listener
        .on_message()
        .next()
        .await
        .unwrap()
        .get_payload()
        .unwrap();
    let instance = heartbeat.split(' ').nth(1).unwrap().to_owned();
    let far_future = format!("h {instance} {}", u64::MAX / 2);
    for payload in [
        far_future.as_str(),
        "garbage",
        "r notanumber sid:x",
        "h  1",
        "r 5",
        "\u{fffd}",
    ] {
        server.cli(&["PUBLISH", "tjwt:revocations", payload]);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        revoked(&store, "sid:x").await,
        Ok(false),
        "garbage is ignored"
    );
    // A forged revocation is applied: anyone who can publish could also write the index,
    // so Redis is the trust boundary; a forgery can only refuse more.
    server.cli(&[
        "PUBLISH",
        "tjwt:revocations",
        &format!("r {} sid:forged", now() + 60),
    ]);
    let applied = until_true(Duration::from_secs(5), async || {
        revoked(&store, "sid:forged").await == Ok(true)
    });
    assert!(applied.await.is_some());
    // The future heartbeat counted as "now", not as the year 292 million: once Redis goes
    // silent the view still closes after the bound.
    server.pause();
    let closed = until_true(STALENESS * 3, async || {
        revoked(&store, "sid:other").await.is_err()
    });
    assert!(
        closed.await.is_some(),
        "a forged heartbeat kept the view open"
    );
    server.resume();
}

#[tokio::test]
#[ignore = "needs redis-server; run scripts/test"]
async fn a_closed_session_cannot_rotate_on_any_instance() {
    let server = RedisServer::start();
    let (a, b) = (store_on(&server).await, store_on(&server).await);
    let far = now() + 3600;
    assert_eq!(
        b.rotate("s", "r0", "r1", far).await.unwrap(),
        Rotation::Rotated
    );
    // Logout on A; B refreshes with the current token at once. Whether or not B's view has
    // heard, the compare-and-set in Redis refuses it.
    a.close_session("s", far).await.unwrap();
    assert_eq!(
        b.rotate("s", "r1", "r2", far).await.unwrap(),
        Rotation::Reused
    );
    // A session closed before it ever refreshed cannot start rotating either.
    a.close_session("fresh", far).await.unwrap();
    assert_eq!(
        b.rotate("fresh", "q0", "q1", far).await.unwrap(),
        Rotation::Reused
    );
    // Closing never shortens the session's entry.
    b.rotate("long", "x0", "x1", far + 100).await.unwrap();
    a.close_session("long", far).await.unwrap();
    let expires: u64 = server
        .cli(&["EXPIRETIME", "tjwt:session:{long}"])
        .parse()
        .unwrap();
    assert_eq!(expires, far + 100);
}

#[tokio::test]
#[ignore = "needs redis-server; run scripts/test"]
async fn a_large_index_is_loaded_whole() {
    let server = RedisServer::start();
    // 25 000 live revocations and 500 expired ones, written straight into the index.
    let script = "for i=1,25000 do redis.call('ZADD', KEYS[1], ARGV[1], 'sid:live-'..i) end \
                  for i=1,500 do redis.call('ZADD', KEYS[1], 1, 'sid:gone-'..i) end return 1";
    let far = (now() + 3600).to_string();
    server.cli(&["EVAL", script, "1", "tjwt:revoked", &far]);
    let store = store_on(&server).await;
    assert_eq!(store.local_revocations(), 25_000);
    assert_eq!(revoked(&store, "sid:live-1").await, Ok(true));
    assert_eq!(revoked(&store, "sid:live-25000").await, Ok(true));
    assert_eq!(revoked(&store, "sid:gone-1").await, Ok(false));
}
