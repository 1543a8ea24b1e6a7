//! Which concurrent cache for the verified-token cache: `get` hit latency (one thread, and two
//! threads on one hot key or on two keys) and insert cost, for quick_cache, moka, mini-moka and
//! an `RwLock<HashMap>` baseline. 10 000 entries keyed by ~260-byte token-like strings; the
//! value is two `Arc`s, cloned on every hit, like the crate's `Entry`.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Barrier, RwLock};
use std::thread;
use std::time::Instant;

const ENTRIES: usize = 10_000;
const OPS: usize = 1_000_000;
const ROUNDS: usize = 5;

#[derive(Clone)]
struct Value {
    _claims: Arc<[u8; 64]>,
    _key: Arc<[u8; 32]>,
}

trait Candidate: Send + Sync {
    fn name(&self) -> &'static str;
    fn get(&self, key: &str) -> Option<Value>;
    fn insert(&self, key: &str, value: Value);
}

struct Quick(quick_cache::sync::Cache<Box<str>, Value>);
struct Moka(moka::sync::Cache<Box<str>, Value>);
struct MiniMoka(mini_moka::sync::Cache<Box<str>, Value>);
struct Locked(RwLock<HashMap<Box<str>, Value>>);

impl Candidate for Quick {
    fn name(&self) -> &'static str {
        "quick_cache 0.7 (sync::Cache)"
    }
    fn get(&self, key: &str) -> Option<Value> {
        self.0.get(key)
    }
    fn insert(&self, key: &str, value: Value) {
        self.0.insert(key.into(), value);
    }
}

impl Candidate for Moka {
    fn name(&self) -> &'static str {
        "moka 0.12 (sync::Cache)"
    }
    fn get(&self, key: &str) -> Option<Value> {
        self.0.get(key)
    }
    fn insert(&self, key: &str, value: Value) {
        self.0.insert(key.into(), value);
    }
}

impl Candidate for MiniMoka {
    fn name(&self) -> &'static str {
        "mini-moka 0.10 (sync::Cache) ¹"
    }
    fn get(&self, key: &str) -> Option<Value> {
        // `get` wants `Arc<K>: Borrow<Q>`, so no lookup by `&str`: the request only has the
        // header's `&str`, so each lookup first copies it into a `Box<str>`.
        let owned: Box<str> = key.into();
        self.0.get(&owned)
    }
    fn insert(&self, key: &str, value: Value) {
        self.0.insert(key.into(), value);
    }
}

impl Candidate for Locked {
    fn name(&self) -> &'static str {
        "std RwLock<HashMap> (unbounded baseline)"
    }
    fn get(&self, key: &str) -> Option<Value> {
        self.0.read().unwrap().get(key).cloned()
    }
    fn insert(&self, key: &str, value: Value) {
        self.0.write().unwrap().insert(key.into(), value);
    }
}

/// Token-like keys: a fixed header, a varying payload, a signature; about 260 bytes each.
fn keys() -> Vec<Box<str>> {
    let header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
    (0..ENTRIES)
        .map(|i| {
            let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut body = String::new();
            while body.len() < 180 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                body.push_str(&format!("{x:016x}"));
            }
            body.truncate(180);
            let sig = format!("{:043x}", x.wrapping_mul(31));
            format!("{header}.{body}.{}", &sig[..43]).into_boxed_str()
        })
        .collect()
}

fn value() -> Value {
    Value {
        _claims: Arc::new([7; 64]),
        _key: Arc::new([9; 32]),
    }
}

fn fresh(which: usize) -> Box<dyn Candidate> {
    let cap = 2 * ENTRIES;
    match which {
        0 => Box::new(Quick(quick_cache::sync::Cache::new(cap))),
        1 => Box::new(Moka(moka::sync::Cache::new(cap as u64))),
        2 => Box::new(MiniMoka(mini_moka::sync::Cache::new(cap as u64))),
        _ => Box::new(Locked(RwLock::new(HashMap::with_capacity(cap)))),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// ns per `get`, one thread cycling over all keys.
fn single(c: &dyn Candidate, keys: &[Box<str>]) -> f64 {
    let start = Instant::now();
    for i in 0..OPS {
        black_box(c.get(black_box(&keys[i % keys.len()])).expect("hit"));
    }
    start.elapsed().as_nanos() as f64 / OPS as f64
}

fn main() {
    let keys = keys();
    let avg = keys.iter().map(|k| k.len()).sum::<usize>() / keys.len();
    println!("{ENTRIES} entries, keys ~{avg} bytes, {OPS} ops/round, median of {ROUNDS} rounds\n");
    println!(
        "| cache | get, 1 thread (ns/op) | get, 2 threads same key (wall ns/op) | get, 2 threads different keys (wall ns/op) | insert (ns/op) |"
    );
    println!("|---|---:|---:|---:|---:|");
    for which in 0..4 {
        let mut inserts = Vec::new();
        let mut cache = fresh(which);
        for _ in 0..ROUNDS {
            cache = fresh(which);
            let start = Instant::now();
            for k in &keys {
                cache.insert(k, value());
            }
            inserts.push(start.elapsed().as_nanos() as f64 / ENTRIES as f64);
        }
        let c = &*cache;
        for k in &keys {
            c.get(k).expect("every key stays cached");
        }
        let one = median((0..ROUNDS).map(|_| single(c, &keys)).collect());
        let same = median((0..ROUNDS).map(|_| two(c, &keys, true)).collect());
        let diff = median((0..ROUNDS).map(|_| two(c, &keys, false)).collect());
        println!(
            "| {} | {one:.1} | {same:.1} | {diff:.1} | {:.1} |",
            c.name(),
            median(inserts)
        );
    }
}

/// Wall ns per `get` over both threads (2 × OPS gets); `same`: both on one key.
fn two(c: &dyn Candidate, keys: &[Box<str>], same: bool) -> f64 {
    let barrier = Barrier::new(3);
    let start = thread::scope(|s| {
        for t in 0..2 {
            let key: &str = if same { &keys[0] } else { &keys[t * 5000 + 1] };
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                for _ in 0..OPS {
                    black_box(c.get(black_box(key)).expect("hit"));
                }
            });
        }
        barrier.wait();
        Instant::now()
    });
    start.elapsed().as_nanos() as f64 / (2 * OPS) as f64
}
