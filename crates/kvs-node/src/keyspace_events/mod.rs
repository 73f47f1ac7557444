//! Keyspace notifications (`notify-keyspace-events`): the `__keyspace@<db>__:<key>` and
//! `__keyevent@<db>__:<event>` channels, fired on every node where a change is applied.
//!
//! A node fires events for the changes it applies, whether one of its clients made them or a
//! peer sent them, and for the keys it reclaims after their deadline; each node by its own
//! setting, to its own subscribers (the events are not forwarded, since every node fires its
//! own). See [`events`] for which event a change fires.

pub mod classes;
pub mod events;

use crate::pubsub::Hub;
use bytes::{BufMut, Bytes, BytesMut};
use classes::{Classes, EXPIRED, KEYEVENT, KEYSPACE};
use events::Event;
use kvs_proto::Publication;
use kvs_store::{databases, Record};
use std::cell::RefCell;
use std::sync::Arc;

thread_local! {
    /// The last event a command fired (its run, key and event), so a command that writes several
    /// records of one key (a hash's fields) fires its event once.
    static LAST: RefCell<Option<(u64, Vec<u8>, &'static str)>> = const { RefCell::new(None) };
}

/// A node's keyspace notifications: its setting, and the subscribers it fires to.
#[derive(Debug)]
pub struct KeyspaceEvents {
    /// `notify-keyspace-events`.
    pub classes: Classes,
    hub: Arc<Hub>,
}

impl KeyspaceEvents {
    /// Notifications to `hub`'s subscribers, off until configured.
    pub fn new(hub: Arc<Hub>) -> Self {
        KeyspaceEvents { classes: Classes::default(), hub }
    }

    fn off(&self) -> bool {
        self.classes.get() & (KEYSPACE | KEYEVENT) == 0
    }

    /// A change made on this node (by the running command, if any).
    pub fn local(&self, record: &Record) {
        if self.off() {
            return;
        }
        let running = crate::running::now();
        for event in events::events(running.map(|r| r.command), record).into_iter().flatten() {
            let key = events::subject(record);
            let repeated = running.is_some_and(|running| {
                LAST.with_borrow_mut(|last| {
                    let same = last
                        .as_ref()
                        .is_some_and(|(run, k, name)| *run == running.run && k == key && *name == event.name);
                    *last = Some((running.run, key.to_vec(), event.name));
                    same
                })
            });
            if !repeated {
                self.fire(key, event);
            }
        }
    }

    /// Changes a peer sent, applied here: a run of records of one key with one event fires once.
    pub fn remote(&self, records: &[Record]) {
        if self.off() {
            return;
        }
        let mut last: Option<(&[u8], &str)> = None;
        for record in records {
            let key = events::subject(record);
            for event in events::events(None, record).into_iter().flatten() {
                if last != Some((key, event.name)) {
                    self.fire(key, event);
                    last = Some((key, event.name));
                }
            }
        }
    }

    /// A key reclaimed after its deadline.
    pub fn expired(&self, record: &Record) {
        if !self.off() {
            self.fire(events::subject(record), Event { class: EXPIRED, name: "expired" });
        }
    }

    /// Publishes `event` on `stored` (a key in its stored form) to this node's subscribers.
    fn fire(&self, stored: &[u8], event: Event) {
        if !self.classes.publishes(event.class) {
            return;
        }
        let flags = self.classes.get();
        let (db, key) = (databases::database_of(stored), databases::user_key(stored));
        let key = Bytes::copy_from_slice(key);
        let name = Bytes::from_static(event.name.as_bytes());
        if flags & KEYSPACE != 0 {
            let channel = channel("__keyspace@", db, &key);
            self.hub.deliver(&Publication { channel, message: name.clone(), shard: false });
        }
        if flags & KEYEVENT != 0 {
            let channel = channel("__keyevent@", db, &name);
            self.hub.deliver(&Publication { channel, message: key, shard: false });
        }
    }
}

/// `<prefix><db>__:<suffix>`.
fn channel(prefix: &str, db: u8, suffix: &[u8]) -> Bytes {
    let mut channel = BytesMut::with_capacity(prefix.len() + 6 + suffix.len());
    channel.put_slice(prefix.as_bytes());
    channel.put_slice(db.to_string().as_bytes());
    channel.put_slice(b"__:");
    channel.put_slice(suffix);
    channel.freeze()
}
