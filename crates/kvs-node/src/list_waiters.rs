//! Connections blocked in BLPOP and kin, by the lists they wait on, in the order they began to
//! wait. An element added to a list here, by one of this node's clients or by a peer's record,
//! wakes the connection that has waited on that list longest, which then runs its command again.
//! When a connection's wait ends (it took something, timed out, or went), the next one on each of
//! its lists is woken in turn: so a push of several elements serves the waiting clients one after
//! another, longest waiting first, as Redis serves them, and no element is left behind by a
//! client that went away. A push made on any node thus wakes a client blocked on any other, once
//! it is applied there.

use bytes::Bytes;
use kvs_store::collection::{split_element_key, CollectionType, ELEMENT_PREFIX};
use kvs_store::map::Map;
use kvs_store::Record;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Every blocked connection's wake-up, by the stored key of each list it waits on.
#[derive(Debug, Default)]
pub struct ListWaiters {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_key: Mutex<Map<Bytes, Vec<Arc<Notify>>>>,
    /// Registrations held, so a write checks one atomic while nobody waits.
    count: AtomicUsize,
}

/// One connection's registration: woken by a push to any of its lists; gone when dropped.
#[derive(Debug)]
pub struct Waiting {
    inner: Arc<Inner>,
    keys: Vec<Bytes>,
    notify: Arc<Notify>,
}

impl Waiting {
    /// Resolves once a list it waits on was pushed to since it was made or last resolved.
    pub async fn pushed(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut by_key = self.inner.by_key.lock().unwrap_or_else(|p| p.into_inner());
        for key in &self.keys {
            if let Some(waiting) = by_key.get_mut(key) {
                waiting.retain(|n| !Arc::ptr_eq(n, &self.notify));
                // What it was woken for may be there still (it took from another of its lists,
                // or took fewer than were pushed, or left): the next one looks.
                match waiting.first() {
                    Some(next) => next.notify_one(),
                    None => drop(by_key.remove(key)),
                }
            }
        }
        self.inner.count.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ListWaiters {
    /// Registers a connection waiting on the lists at `keys` (stored keys).
    pub fn wait_on(&self, keys: Vec<Bytes>) -> Waiting {
        let notify = Arc::new(Notify::new());
        let mut by_key = self.inner.by_key.lock().unwrap_or_else(|p| p.into_inner());
        for key in &keys {
            let waiting = by_key.entry(key.clone()).or_default();
            if !waiting.iter().any(|n| Arc::ptr_eq(n, &notify)) {
                waiting.push(notify.clone());
            }
        }
        self.inner.count.fetch_add(1, Ordering::Relaxed);
        Waiting { inner: self.inner.clone(), keys, notify }
    }

    /// A change applied here: a list element added wakes the connection waiting on its list
    /// longest.
    pub fn changed(&self, record: &Record) {
        if self.inner.count.load(Ordering::Relaxed) == 0 || !is_list_element(record.key()) {
            return;
        }
        if !record.element_state().is_some_and(|state| state.is_present()) {
            return;
        }
        let Some((_, list, _)) = split_element_key(record.key()) else { return };
        let by_key = self.inner.by_key.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(first) = by_key.get(list).and_then(|waiting| waiting.first()) {
            first.notify_one();
        }
    }
}

/// Whether `key` is a list element's stored key (its type byte follows the element prefix).
fn is_list_element(key: &[u8]) -> bool {
    key.len() > 2 && key[..2] == ELEMENT_PREFIX && key[2] == kvs_store::collection::type_byte(CollectionType::List)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_proto::{NodeId, Stamp, Version};
    use kvs_store::collection::element::ElementState;
    use kvs_store::collection::element_key;
    use kvs_store::collection::position::Position;

    fn pushed(list: &[u8], seq: u64) -> Record {
        let stamp = Stamp { version: Version { wall_ms: 1, logical: 0, node: NodeId(1) }, seq };
        let at = Position::pushed(None, true, NodeId(1), seq);
        let key = element_key(CollectionType::List, list, at.as_bytes());
        Record::element(&key, &ElementState::added(stamp, Bytes::from_static(b"v")))
    }

    #[tokio::test]
    async fn a_push_wakes_the_longest_waiting_and_its_end_wakes_the_next() {
        let waiters = ListWaiters::default();
        let key = || vec![Bytes::from_static(b"q")];
        let (first, second) = (waiters.wait_on(key()), waiters.wait_on(key()));
        waiters.changed(&pushed(b"q", 1));
        assert!(std::pin::pin!(first.notify.notified()).enable(), "the longest waiting is woken");
        assert!(!std::pin::pin!(second.notify.notified()).enable(), "the next waits its turn");
        drop(first);
        assert!(std::pin::pin!(second.notify.notified()).enable(), "then the next is");
    }

    #[tokio::test]
    async fn a_push_wakes_the_waiters_of_its_list_only() {
        let waiters = ListWaiters::default();
        let (a, b) = (waiters.wait_on(vec![Bytes::from_static(b"a")]), waiters.wait_on(vec![Bytes::from_static(b"b")]));
        waiters.changed(&pushed(b"a", 1));
        tokio::time::timeout(std::time::Duration::from_secs(5), a.pushed()).await.expect("woken");
        let b_woken = std::pin::pin!(b.notify.notified()).enable();
        assert!(!b_woken, "another list's waiter sleeps on");
        drop((a, b));
        assert_eq!(waiters.inner.count.load(Ordering::Relaxed), 0);
        assert!(waiters.inner.by_key.lock().unwrap().is_empty(), "dropped registrations leave nothing");
    }
}
