//! [`Front`]: a few hot tokens per thread, in front of the shared cache, each with claims
//! of the thread's own.
//!
//! A hit on the shared cache writes to memory that every thread hitting the same token
//! writes too: the shard's read lock and the claims' reference count. Two cores serving
//! one token then take turns on those cache lines, and two threads did no more work than
//! one. A thread that meets the same token again gets its own copy of the claims (decoded
//! again from the token, whose signature the shared entry vouches for) in a small table
//! only it touches; its hits then share nothing with other threads.
//!
//! The copy costs one more decoding of the payload, once per thread and token, and only
//! for a token met at least four times (stored in the shared cache on its second
//! acceptance, marked here on the thread's first shared hit, copied on its second). Memory:
//! [`SLOTS`] tokens and claims per thread that uses the cache.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

use thread_local::ThreadLocal;

use crate::claims::Claims;

/// Tokens held per thread: enough for the handful of hot tokens a service sees (its own
/// clients' service tokens), small enough to cost a few KiB per thread.
pub(crate) const SLOTS: usize = 8;

/// Every thread's table, created on its first lookup.
pub(crate) struct Front<T> {
    tables: ThreadLocal<RefCell<Table>>,
    _claims: PhantomData<fn() -> Claims<T>>,
}

/// The claims are held as `dyn Any` (always a `Claims<T>`): `ThreadLocal` needs its
/// contents `Send` where the type is declared, and a bound on `T` there would spread to
/// every public type that holds a cache.
struct Table {
    slots: [Slot; SLOTS],
}

enum Slot {
    Empty,
    /// A token with this hash was a shared hit once: the next shared hit copies it.
    Seen(u64),
    Held {
        token: Box<[u8]>,
        claims: Box<dyn Any + Send>,
    },
}

impl Default for Table {
    fn default() -> Self {
        Table {
            slots: std::array::from_fn(|_| Slot::Empty),
        }
    }
}

/// What this thread's table knows of a token.
pub(crate) enum Sighting<T> {
    /// Held: the thread's own claims.
    Held(Claims<T>),
    /// Met on a shared hit before: worth a copy.
    Again,
    /// Not met yet.
    New,
}

impl<T: Send + Sync + 'static> Front<T> {
    pub(crate) fn new() -> Self {
        Front {
            tables: ThreadLocal::new(),
            _claims: PhantomData,
        }
    }

    /// Looks the token up in this thread's table.
    pub(crate) fn get(&self, token: &[u8], hash: u64) -> Sighting<T> {
        let table = self.tables.get_or_default().borrow();
        match &table.slots[slot(hash)] {
            Slot::Held {
                token: held,
                claims,
            } if **held == *token => match claims.downcast_ref::<Claims<T>>() {
                Some(claims) => Sighting::Held(claims.clone()),
                None => Sighting::New,
            },
            Slot::Seen(seen) if *seen == hash => Sighting::Again,
            _ => Sighting::New,
        }
    }

    /// Marks a shared hit, so the next one is copied.
    pub(crate) fn mark(&self, hash: u64) {
        self.set(hash, Slot::Seen(hash));
    }

    /// Holds this thread's own copy of a token's claims.
    pub(crate) fn hold(&self, token: &[u8], hash: u64, claims: Claims<T>) {
        let (token, claims) = (token.into(), Box::new(claims));
        self.set(hash, Slot::Held { token, claims });
    }

    /// Forgets the token (a hit that failed its re-check), on this thread; other threads
    /// re-check their own copies on every hit.
    pub(crate) fn forget(&self, token: &[u8], hash: u64) {
        let here = match &self.tables.get_or_default().borrow().slots[slot(hash)] {
            Slot::Held { token: held, .. } => **held == *token,
            Slot::Seen(seen) => *seen == hash,
            Slot::Empty => false,
        };
        if here {
            self.set(hash, Slot::Empty);
        }
    }

    fn set(&self, hash: u64, slot_value: Slot) {
        let old = {
            let mut table = self.tables.get_or_default().borrow_mut();
            std::mem::replace(&mut table.slots[slot(hash)], slot_value)
        };
        // Dropped outside the borrow: a claims type's `Drop` may do anything.
        drop(old);
    }
}

fn slot(hash: u64) -> usize {
    (hash >> 58) as usize % SLOTS
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::Algorithm;

    use super::*;
    use crate::claims::RegisteredClaims;

    fn claims(n: u8) -> Claims<u8> {
        Claims::new(n, RegisteredClaims::default(), Algorithm::HS256, None)
    }

    #[test]
    fn seen_then_held_then_forgotten() {
        let front = Front::new();
        assert!(matches!(front.get(b"a.b.c", 7), Sighting::New));
        front.mark(7);
        assert!(matches!(front.get(b"a.b.c", 7), Sighting::Again));
        front.hold(b"a.b.c", 7, claims(1));
        assert!(matches!(front.get(b"a.b.c", 7), Sighting::Held(c) if *c == 1));
        // Same slot, another token: not this one's claims.
        assert!(matches!(front.get(b"a.b.d", 7), Sighting::New));
        front.forget(b"a.b.d", 7);
        assert!(matches!(front.get(b"a.b.c", 7), Sighting::Held(_)));
        front.forget(b"a.b.c", 7);
        assert!(matches!(front.get(b"a.b.c", 7), Sighting::New));
    }

    #[test]
    fn each_thread_has_its_own_table() {
        let front = Front::new();
        front.hold(b"a.b.c", 7, claims(1));
        std::thread::scope(|scope| {
            scope.spawn(|| assert!(matches!(front.get(b"a.b.c", 7), Sighting::New)));
        });
        assert!(matches!(front.get(b"a.b.c", 7), Sighting::Held(_)));
    }
}
