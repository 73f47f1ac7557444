//! What hears of every change this node applies: keyspace notifications, client-side caching,
//! `kvs-client watch` and connections blocked on a list. The write path calls it for its
//! clients' writes, the records peers send and the keys it reclaims, so each sees every change,
//! wherever it was made, through one door.

use crate::keyspace_events::{events, KeyspaceEvents};
use crate::list_waiters::ListWaiters;
use crate::pubsub::Hub;
use crate::tracking::Tracking;
use crate::watchers::Watchers;
use kvs_store::record::Body;
use kvs_store::{databases, Record};
use std::sync::Arc;

/// The observers of changes.
#[derive(Debug)]
pub struct Observers {
    /// `notify-keyspace-events`.
    pub keyspace_events: KeyspaceEvents,
    /// CLIENT TRACKING.
    pub tracking: Tracking,
    /// `kvs-client watch`.
    pub watchers: Watchers,
    /// Connections blocked in BLPOP and kin.
    pub lists: ListWaiters,
}

impl Observers {
    /// Observers firing to `hub`'s subscribers, with the keyspace event classes and tracking
    /// table bound the node started with.
    pub fn new(hub: Arc<Hub>, (classes, max_tracked_keys): (u32, usize)) -> Self {
        let (tracking, watchers) = (Tracking::default(), Watchers::default());
        tracking.max_keys.store(max_tracked_keys, std::sync::atomic::Ordering::Relaxed);
        let keyspace_events = KeyspaceEvents::new(hub);
        keyspace_events.classes.set(classes);
        Observers { keyspace_events, tracking, watchers, lists: ListWaiters::default() }
    }

    /// A change one of this node's clients (or the node itself) made.
    pub fn local(&self, record: &Record) {
        self.keyspace_events.local(record);
        self.invalidate(record, crate::running::now().map(|running| running.client));
        self.watchers.changed(record, false);
        self.lists.changed(record);
    }

    /// Changes a peer sent, applied here.
    pub fn remote(&self, records: &[Record]) {
        self.keyspace_events.remote(records);
        for record in records {
            self.invalidate(record, None);
            self.watchers.changed(record, false);
            self.lists.changed(record);
        }
    }

    /// A key reclaimed after its deadline.
    pub fn expired(&self, record: &Record) {
        self.keyspace_events.expired(record);
        self.invalidate(record, None);
        self.watchers.changed(record, true);
    }

    fn invalidate(&self, record: &Record, by: Option<u64>) {
        if !self.tracking.any() {
            return;
        }
        match record.body() {
            Body::Flush => self.tracking.flushed(),
            _ => self.tracking.changed(databases::user_key(events::subject(record)), by),
        }
    }
}
