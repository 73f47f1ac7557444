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
use std::cell::{Cell, RefCell};
use std::sync::Arc;

thread_local! {
    /// The command running on this thread, while a client's command runs.
    static COMMAND: Cell<Option<&'static str>> = const { Cell::new(None) };
    /// The last event the running command fired, so a command that writes several records of
    /// one key (a hash's fields) fires its event once.
    static LAST: RefCell<Option<(Vec<u8>, &'static str)>> = const { RefCell::new(None) };
}

/// Runs `f`, one client command named `command`, so that the changes it makes fire that
/// command's events.
pub fn during<R>(command: &'static str, f: impl FnOnce() -> R) -> R {
    /// Clears the command however `f` ends, a panic included.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            COMMAND.set(None);
            LAST.with_borrow_mut(|last| *last = None);
        }
    }
    COMMAND.set(Some(command));
    let _reset = Reset;
    f()
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
        let command = COMMAND.get();
        for event in events::events(command, record).into_iter().flatten() {
            let key = events::subject(record);
            let repeated = LAST.with_borrow_mut(|last| {
                let same = last.as_ref().is_some_and(|(k, name)| k == key && *name == event.name);
                if !same && command.is_some() {
                    *last = Some((key.to_vec(), event.name));
                }
                same
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
