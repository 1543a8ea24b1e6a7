//! Entries that live until a Unix second, with an expiry index: the revoked ids of the
//! memory store and of the Redis store's local view, and the memory store's session
//! families.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// `id → (until, value)`, each entry alive while `now < until`. Expired entries are
/// dropped a few at a time from an index ordered by expiry, never by a scan.
#[derive(Debug)]
pub(crate) struct Table<V> {
    live: HashMap<Arc<str>, (u64, V)>,
    by_expiry: BTreeSet<(u64, Arc<str>)>,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Table {
            live: HashMap::new(),
            by_expiry: BTreeSet::new(),
        }
    }
}

impl<V> Table<V> {
    /// The entry of `id` if it is alive at `now`.
    pub(crate) fn get(&self, id: &str, now: u64) -> Option<&V> {
        match self.live.get(id) {
            Some((until, value)) if *until > now => Some(value),
            _ => None,
        }
    }

    /// Whether any of `ids` is alive at `now`.
    pub(crate) fn any_alive(&self, ids: &[&str], now: u64) -> bool {
        ids.iter().any(|id| self.get(id, now).is_some())
    }

    /// How many entries are held (expired ones included until a write drops them).
    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }

    /// Drops every entry whose time has passed, visiting only those.
    pub(crate) fn drop_expired(&mut self, now: u64) {
        while let Some((until, _)) = self.by_expiry.first()
            && *until <= now
        {
            if let Some((_, id)) = self.by_expiry.pop_first() {
                self.live.remove(&id);
            }
        }
    }

    /// Sets `id` to `value` until `until`, replacing what it held. Returns whether `id`
    /// was alive before.
    pub(crate) fn set(&mut self, id: &str, until: u64, value: V, now: u64) -> bool {
        match self.live.get_key_value(id) {
            Some((key, (old_until, _))) => {
                let (key, old_until) = (Arc::clone(key), *old_until);
                self.by_expiry.remove(&(old_until, Arc::clone(&key)));
                self.by_expiry.insert((until, Arc::clone(&key)));
                self.live.insert(key, (until, value));
                old_until > now
            }
            None => {
                let key: Arc<str> = id.into();
                self.by_expiry.insert((until, Arc::clone(&key)));
                self.live.insert(key, (until, value));
                false
            }
        }
    }

    /// Sets `id` to `value` until `until` or its current expiry, whichever is later.
    /// Returns whether `id` was alive before.
    pub(crate) fn extend(&mut self, id: &str, until: u64, value: V, now: u64) -> bool {
        let until = match self.live.get(id) {
            Some((old_until, _)) => until.max(*old_until),
            None => until,
        };
        self.set(id, until, value, now)
    }

    #[cfg(test)]
    pub(crate) fn until(&self, id: &str) -> Option<u64> {
        self.live.get(id).map(|(until, _)| *until)
    }

    #[cfg(test)]
    pub(crate) fn index_len(&self) -> usize {
        self.by_expiry.len()
    }

    #[cfg(test)]
    pub(crate) fn first_expiry(&self) -> Option<u64> {
        self.by_expiry.first().map(|(until, _)| *until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_until_their_second_and_extend_keeps_the_later() {
        let mut table = Table::default();
        assert!(!table.extend("a", 300, (), 100));
        assert!(table.extend("a", 200, (), 100));
        assert_eq!(table.until("a"), Some(300));
        assert!(table.extend("a", 500, (), 100));
        assert_eq!(table.until("a"), Some(500));
        assert_eq!(table.index_len(), 1, "one index entry per id");
        assert!(table.get("a", 499).is_some());
        assert!(table.get("a", 500).is_none());
        assert!(!table.any_alive(&["b", "a"], 500));
    }

    #[test]
    fn dropping_expired_entries_visits_only_those() {
        let mut table = Table::default();
        for i in 0..1000u64 {
            table.set(&format!("id{i}"), 200 + i, (), 100);
        }
        // Until 700 means gone at 700: ids 0..=500 go, 499 stay in expiry order.
        table.drop_expired(700);
        assert_eq!(table.len(), 499);
        assert_eq!(table.index_len(), 499);
        assert_eq!(table.first_expiry(), Some(701));
    }

    #[test]
    fn set_replaces_the_value_and_the_expiry() {
        let mut table = Table::default();
        table.set("s", 300, "one", 100);
        assert!(table.set("s", 250, "two", 100));
        assert_eq!(table.get("s", 100), Some(&"two"));
        assert_eq!(table.until("s"), Some(250));
        assert_eq!(table.index_len(), 1);
    }
}
