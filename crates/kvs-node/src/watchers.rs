//! `kvs-client watch`: the changes this node applies, streamed to the native connections that
//! asked, each filtering by its prefix.
//!
//! One bounded broadcast of records for all of them: a watcher that falls more than
//! [`BACKLOG`] changes behind is told it fell behind and its stream ends, rather than the node
//! buffering for it. With nobody watching a change costs one atomic load.

use crate::counted_broadcast::{CountedBroadcast, Listening};
use crate::keyspace_events::events;
use bytes::Bytes;
use kvs_proto::Change;
use kvs_store::record::Body;
use kvs_store::{collection, Record};

/// Changes a watcher may fall behind by before its stream ends.
pub const BACKLOG: usize = 4096;

/// A change as watchers receive it: the record applied, or the record a deadline reclaimed.
#[derive(Clone, Debug)]
pub struct Noted {
    /// The record.
    pub record: Record,
    /// Whether the node reclaimed it after its deadline (`record` is what it held before).
    pub expired: bool,
}

/// The node's watchers.
#[derive(Debug)]
pub struct Watchers(CountedBroadcast<Noted>);

/// One watcher's stream of changes, from when it started.
pub type Watching<'a> = Listening<'a, Noted>;

impl Default for Watchers {
    fn default() -> Self {
        Watchers(CountedBroadcast::new(BACKLOG))
    }
}

impl Watchers {
    /// Starts a watcher; it sees every change from now on.
    pub fn watch(&self) -> Watching<'_> {
        self.0.listen()
    }

    /// `record` was applied here, or (`expired`) reclaimed after its deadline.
    pub fn changed(&self, record: &Record, expired: bool) {
        self.0.send(|| Noted { record: record.clone(), expired });
    }
}

/// What a watcher of `prefix` is shown of a change, if its key matches.
pub fn change(noted: &Noted, prefix: &[u8]) -> Option<Change> {
    let record = &noted.record;
    let key = events::subject(record);
    let flush = matches!(record.body(), Body::Flush);
    if !flush && !key.starts_with(prefix) {
        return None;
    }
    let event = match (flush, record.flushed_database()) {
        (true, None) => "flushall",
        (true, Some(_)) => "flushdb",
        _ if noted.expired => "expired",
        // A collection's header made for its first element shows as that element's change.
        _ => events::events(None, record).into_iter().flatten().next()?.name,
    };
    let (element, value) = match collection::split_element_key(record.key()) {
        Some((of, _, element)) => {
            let newest = record.element_state().and_then(|s| s.adds().max_by_key(|a| a.stamp.version).cloned());
            let value = newest.and_then(|add| match of {
                kvs_proto::CollectionType::Hash | kvs_proto::CollectionType::List => Some(add.value),
                kvs_proto::CollectionType::SortedSet => {
                    let score = collection::score_of(&add.value);
                    Some(Bytes::from(kvs_proto::resp::format_double(score)))
                }
                kvs_proto::CollectionType::Set => None,
            });
            (Some(Bytes::copy_from_slice(element)), value)
        }
        None if noted.expired => (None, None),
        None => (None, record.read_bytes().map(Bytes::from)),
    };
    let key = if flush { Bytes::new() } else { Bytes::copy_from_slice(key) };
    Some(Change { key, event: event.to_string(), element, value, version: record.version() })
}
