//! What hears of every change this node applies: keyspace notifications and client-side
//! caching. The write path calls it for its clients' writes, the records peers send and the keys
//! it reclaims, so both see every change, wherever it was made, through one door.

use crate::keyspace_events::{events, KeyspaceEvents};
use crate::pubsub::Hub;
use crate::tracking::Tracking;
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
}

impl Observers {
    /// Observers firing to `hub`'s subscribers.
    pub fn new(hub: Arc<Hub>) -> Self {
        Observers { keyspace_events: KeyspaceEvents::new(hub), tracking: Tracking::default() }
    }

    /// A change one of this node's clients (or the node itself) made.
    pub fn local(&self, record: &Record) {
        self.keyspace_events.local(record);
        self.invalidate(record, crate::running::now().map(|running| running.client));
    }

    /// Changes a peer sent, applied here.
    pub fn remote(&self, records: &[Record]) {
        self.keyspace_events.remote(records);
        for record in records {
            self.invalidate(record, None);
        }
    }

    /// A key reclaimed after its deadline.
    pub fn expired(&self, record: &Record) {
        self.keyspace_events.expired(record);
        self.invalidate(record, None);
    }

    fn invalidate(&self, record: &Record, by: Option<u64>) {
        match record.body() {
            Body::Flush => self.tracking.flushed(),
            _ => self.tracking.changed(databases::user_key(events::subject(record)), by),
        }
    }
}
