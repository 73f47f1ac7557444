//! Client-side caching (CLIENT TRACKING) across the cluster: a connection that read a key on this
//! node is told when the key changes, whichever node the change was made on.
//!
//! Invalidations follow changes, not commands: every change this node applies (its clients'
//! writes, a peer's records, a key it reclaims after its deadline, a flush) reaches
//! [`Tracking::changed`] from the write path, so a write on node C invalidates a key a client read
//! on node B as soon as B applies it. In the default mode the node remembers which connections
//! read which keys (forgetting a key once it is invalidated, as Redis does) in a table bounded by
//! `tracking-table-max-keys`: past it, keys are invalidated early to make room. In BCAST mode
//! a connection hears of every key under its prefixes and the node remembers nothing per key.

use crate::pubsub::{Delivery, Mailbox};
use bytes::Bytes;
use kvs_store::map::Map;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

/// `tracking-table-max-keys`' default, as Redis's.
pub const DEFAULT_MAX_KEYS: usize = 1_000_000;

/// How one connection tracks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mode {
    /// The connection its invalidations go to (0: itself).
    pub redirect: u64,
    /// BCAST: every key under `prefixes` (all keys without one), not the keys it read.
    pub bcast: bool,
    /// BCAST's prefixes.
    pub prefixes: Vec<Bytes>,
    /// OPTIN: only reads after CLIENT CACHING YES are remembered.
    pub optin: bool,
    /// OPTOUT: reads are remembered unless after CLIENT CACHING NO.
    pub optout: bool,
    /// NOLOOP: not told of its own changes.
    pub noloop: bool,
}

/// A tracking connection: its mode and where its notices go.
#[derive(Debug)]
struct Tracker {
    mode: Mode,
    /// Where its invalidations go: its own mailbox or the one it redirects to. Weak, so that
    /// when that connection closes the tracker learns its redirect broke.
    target: Weak<Mailbox>,
    /// Its own mailbox, for the notice that its redirect broke.
    own: Arc<Mailbox>,
}

impl Tracker {
    fn send(&self, key: Option<Bytes>) {
        match self.target.upgrade() {
            Some(target) => {
                target.put(Delivery::Invalidate(key));
            }
            None => {
                self.own.put(Delivery::RedirectBroken(self.mode.redirect));
            }
        }
    }

    /// Whether a change to `key` by `by` is news to this tracker.
    fn wants(&self, id: u64, key: &[u8], by: Option<u64>) -> bool {
        !(self.mode.noloop && by == Some(id))
            && (!self.mode.bcast
                || self.mode.prefixes.is_empty()
                || self.mode.prefixes.iter().any(|p| key.starts_with(p)))
    }
}

/// Every tracking connection of this node and the keys they read.
#[derive(Debug)]
pub struct Tracking {
    trackers: RwLock<Map<u64, Tracker>>,
    /// Keys read by trackers in the default mode (as clients name them), each with who read it.
    keys: Mutex<Map<Bytes, Vec<u64>>>,
    /// Trackers, so that a change costs one load while there are none.
    active: AtomicUsize,
    /// Trackers in BCAST mode.
    broadcasting: AtomicUsize,
    /// `tracking-table-max-keys` (0: no limit).
    pub max_keys: AtomicUsize,
}

impl Default for Tracking {
    fn default() -> Self {
        Tracking {
            trackers: RwLock::default(),
            keys: Mutex::default(),
            active: AtomicUsize::new(0),
            broadcasting: AtomicUsize::new(0),
            max_keys: AtomicUsize::new(DEFAULT_MAX_KEYS),
        }
    }
}

impl Tracking {
    fn trackers(&self) -> std::sync::RwLockReadGuard<'_, Map<u64, Tracker>> {
        self.trackers.read().unwrap_or_else(|p| p.into_inner())
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, Map<Bytes, Vec<u64>>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connection `client` (with mailbox `own`) tracks in `mode`, its notices going to `target`.
    pub fn start(&self, client: u64, mode: Mode, own: &Arc<Mailbox>, target: &Arc<Mailbox>) {
        let bcast = mode.bcast;
        let tracker = Tracker { mode, target: Arc::downgrade(target), own: own.clone() };
        let mut trackers = self.trackers.write().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = trackers.insert(client, tracker) {
            self.broadcasting.fetch_sub(usize::from(old.mode.bcast), Ordering::Relaxed);
        } else {
            self.active.fetch_add(1, Ordering::Relaxed);
        }
        self.broadcasting.fetch_add(usize::from(bcast), Ordering::Relaxed);
    }

    /// Connection `client` stops tracking (CLIENT TRACKING OFF, or it closed). The keys it read
    /// stay in the table until they change or are pushed out: removing them would mean a walk.
    pub fn stop(&self, client: u64) {
        let mut trackers = self.trackers.write().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = trackers.remove(&client) {
            self.active.fetch_sub(1, Ordering::Relaxed);
            self.broadcasting.fetch_sub(usize::from(old.mode.bcast), Ordering::Relaxed);
        }
    }

    /// Connection `client` read `keys` (as it names them): tell it when they change.
    pub fn remember<'k>(&self, client: u64, keys: impl Iterator<Item = &'k [u8]>) {
        let max = self.max_keys.load(Ordering::Relaxed);
        let mut table = self.keys();
        let mut pushed_out = Vec::new();
        for key in keys {
            if let Some(readers) = table.get_mut(key) {
                if !readers.contains(&client) {
                    readers.push(client);
                }
                continue;
            }
            if max > 0 && table.len() >= max {
                // Make room: the first key the table yields is invalidated now rather than later.
                if let Some(oldest) = table.keys().next().cloned() {
                    let readers = table.remove(&oldest).unwrap_or_default();
                    pushed_out.push((oldest, readers));
                }
            }
            table.insert(Bytes::copy_from_slice(key), vec![client]);
        }
        drop(table);
        let trackers = self.trackers();
        for (key, readers) in pushed_out {
            for tracker in readers.iter().filter_map(|id| trackers.get(id)) {
                tracker.send(Some(key.clone()));
            }
        }
    }

    /// Whether any connection tracks (one atomic load): what a change checks before naming its key.
    pub fn any(&self) -> bool {
        self.active.load(Ordering::Relaxed) > 0
    }

    /// `key` (as clients name it) changed on this node, by connection `by` if one of its clients
    /// made the change here.
    pub fn changed(&self, key: &[u8], by: Option<u64>) {
        if self.active.load(Ordering::Relaxed) == 0 {
            return;
        }
        let readers = self.keys().remove(key);
        let broadcasting = self.broadcasting.load(Ordering::Relaxed) > 0;
        if readers.is_none() && !broadcasting {
            return;
        }
        let trackers = self.trackers();
        let key = Bytes::copy_from_slice(key);
        for id in readers.iter().flatten() {
            match trackers.get(id) {
                Some(tracker) if !tracker.mode.bcast && tracker.wants(*id, &key, by) => tracker.send(Some(key.clone())),
                _ => {}
            }
        }
        if broadcasting {
            for (id, tracker) in trackers.iter().filter(|(_, t)| t.mode.bcast) {
                if tracker.wants(*id, &key, by) {
                    tracker.send(Some(key.clone()));
                }
            }
        }
    }

    /// Every key may have changed (FLUSHALL, FLUSHDB): every tracker is told so at once.
    pub fn flushed(&self) {
        if self.active.load(Ordering::Relaxed) == 0 {
            return;
        }
        self.keys().clear();
        for tracker in self.trackers().values() {
            tracker.send(None);
        }
    }

    /// Whether connection `client`'s redirect target is gone.
    pub fn redirect_broken(&self, client: u64) -> bool {
        self.trackers().get(&client).is_some_and(|t| t.mode.redirect != 0 && t.target.strong_count() == 0)
    }

    /// Tracking connections, keys remembered and BCAST prefixes (INFO).
    pub fn counts(&self) -> (usize, usize, usize) {
        let trackers = self.trackers();
        let prefixes = trackers.values().map(|t| t.mode.prefixes.len()).sum();
        (trackers.len(), self.keys().len(), prefixes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(mailbox: &Mailbox) -> Vec<Delivery> {
        let mut out = Vec::new();
        mailbox.take(&mut out).unwrap();
        out
    }

    fn key(k: &'static str) -> Delivery {
        Delivery::Invalidate(Some(Bytes::from_static(k.as_bytes())))
    }

    #[test]
    fn a_reader_hears_once_of_a_key_it_read_then_forgets_it() {
        let tracking = Tracking::default();
        let own = Arc::new(Mailbox::default());
        tracking.start(1, Mode::default(), &own, &own);
        tracking.remember(1, [&b"a"[..]].into_iter());
        tracking.changed(b"b", None);
        tracking.changed(b"a", None);
        tracking.changed(b"a", None);
        assert_eq!(taken(&own), vec![key("a")]);
    }

    #[test]
    fn bcast_prefixes_noloop_and_a_broken_redirect() {
        let tracking = Tracking::default();
        let (own, target) = (Arc::new(Mailbox::default()), Arc::new(Mailbox::default()));
        let mode = Mode {
            redirect: 7,
            bcast: true,
            prefixes: vec![Bytes::from_static(b"user:")],
            noloop: true,
            ..Mode::default()
        };
        tracking.start(1, mode, &own, &target);
        tracking.changed(b"user:1", Some(2));
        tracking.changed(b"user:2", Some(1));
        tracking.changed(b"order:1", None);
        assert_eq!(taken(&target), vec![key("user:1")], "not its own change, nor another prefix's");
        drop(target);
        tracking.changed(b"user:3", None);
        assert_eq!(taken(&own), vec![Delivery::RedirectBroken(7)]);
        assert!(tracking.redirect_broken(1));
    }

    #[test]
    fn the_table_is_bounded_by_invalidating_early() {
        let tracking = Tracking::default();
        tracking.max_keys.store(2, Ordering::Relaxed);
        let own = Arc::new(Mailbox::default());
        tracking.start(1, Mode::default(), &own, &own);
        tracking.remember(1, [&b"a"[..], b"b", b"c"].into_iter());
        assert_eq!(tracking.counts().1, 2);
        assert_eq!(taken(&own).len(), 1, "one key was pushed out, and its reader told");
        tracking.flushed();
        assert_eq!(taken(&own), vec![Delivery::Invalidate(None)]);
        assert_eq!(tracking.counts().1, 0);
    }
}
