//! Which events a change fires: by the command that made it on this node, or, for a change that
//! arrived from a peer (or was made by no command), by what its record holds.
//!
//! A peer sends records, not commands, so a replicated change fires the event its record implies:
//! a value `set` (and `expire` when it has a deadline), a delete `del`, a counter `incrby`, an
//! eviction `evicted`, an element `hset`/`hdel`, `sadd`/`srem` or `zadd`/`zrem` as it is present or
//! removed, a collection's header `expire` or `del`. A command's own node fires the event Redis
//! fires for that command (`append`, `rename_from`, `zincr`, …).

use super::classes::{EVICTED, GENERIC, HASH, LIST, SET, STRING, ZSET};
use kvs_proto::CollectionType;
use kvs_store::record::Body;
use kvs_store::Record;

/// What the node's own eviction of a key runs as (see `crate::running`): its change is
/// `evicted` whatever record it writes.
pub const EVICTING: &str = "(eviction)";

/// One event: its class (a `notify-keyspace-events` bit) and name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Its class.
    pub class: u32,
    /// Its name, as Redis spells it.
    pub name: &'static str,
}

const fn event(class: u32, name: &'static str) -> Event {
    Event { class, name }
}

/// The key a record's events name (stored form: a database's prefix kept): a collection's own
/// key for its elements.
pub fn subject(record: &Record) -> &[u8] {
    match kvs_store::collection::split_element_key(record.key()) {
        Some((_, collection, _)) => collection,
        None => record.key(),
    }
}

/// What a record does to its key, as far as events go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    /// A value, counter or HyperLogLog written, or an element added.
    Written,
    /// A key deleted, an element removed, a collection cleared.
    Removed,
    /// A collection's header given a deadline.
    Expiring,
    /// A collection's header created: its elements fire the events.
    Created,
    /// A flush: no key event.
    Nothing,
}

fn change_of(record: &Record) -> Change {
    match record.body() {
        Body::Tombstone => Change::Removed,
        Body::Flush => Change::Nothing,
        Body::Value(_) | Body::Counter(_) | Body::Hll(_) => Change::Written,
        Body::Element => match record.element_state().is_some_and(|state| state.is_present()) {
            true => Change::Written,
            false => Change::Removed,
        },
        Body::Collection => match record.header() {
            _ if record.deadline_ms().is_some() => Change::Expiring,
            Some(header) if header.base == record.stamp() => Change::Created,
            _ => Change::Removed,
        },
    }
}

/// The events of `record`, made by `command` on this node (`None`: from a peer, or by no command).
pub fn events(command: Option<&'static str>, record: &Record) -> [Option<Event>; 2] {
    if record.is_evicted() {
        return [Some(event(EVICTED, "evicted")), None];
    }
    let change = change_of(record);
    if matches!(change, Change::Nothing) {
        return [None, None];
    }
    if let Some(found) = command.and_then(|command| by_command(command, record, change)) {
        return found;
    }
    [inferred(record, change), expiring(record, change)]
}

/// `expire` beside a written value's own event, when it has a deadline.
fn expiring(record: &Record, change: Change) -> Option<Event> {
    (change == Change::Written && record.deadline_ms().is_some() && !record.is_element())
        .then_some(event(GENERIC, "expire"))
}

/// The event a record implies, whoever made it.
fn inferred(record: &Record, change: Change) -> Option<Event> {
    let collection = kvs_store::collection::split_element_key(record.key()).map(|(of, _, _)| of);
    Some(match (change, record.body(), collection) {
        (Change::Expiring, ..) => event(GENERIC, "expire"),
        (Change::Created, ..) | (Change::Nothing, ..) => return None,
        (Change::Removed, _, None) => event(GENERIC, "del"),
        (Change::Written, Body::Counter(_), None) => event(STRING, "incrby"),
        (Change::Written, Body::Hll(_), None) => event(STRING, "pfadd"),
        (Change::Written, _, None) => event(STRING, "set"),
        (change, _, Some(of)) => element_event(of, change == Change::Written),
    })
}

fn element_event(of: CollectionType, added: bool) -> Event {
    match (of, added) {
        (CollectionType::Hash, true) => event(HASH, "hset"),
        (CollectionType::Hash, false) => event(HASH, "hdel"),
        (CollectionType::Set, true) => event(SET, "sadd"),
        (CollectionType::Set, false) => event(SET, "srem"),
        (CollectionType::SortedSet, true) => event(ZSET, "zadd"),
        (CollectionType::SortedSet, false) => event(ZSET, "zrem"),
        // A peer's list element says neither which end nor which command: an element appeared
        // somewhere, or went.
        (CollectionType::List, true) => event(LIST, "linsert"),
        (CollectionType::List, false) => event(LIST, "lrem"),
    }
}

/// The event Redis fires for `command` on a key it changed this way; `None` for a command
/// this table leaves to the record.
fn by_command(command: &'static str, record: &Record, change: Change) -> Option<[Option<Event>; 2]> {
    let removed = change == Change::Removed;
    let one = |class, name| Some([Some(event(class, name)), None]);
    match command {
        "set" | "setnx" | "setex" | "psetex" | "getset" | "mset" | "msetnx" => {
            Some([Some(event(STRING, "set")), expiring(record, change)])
        }
        EVICTING => one(EVICTED, "evicted"),
        "append" => one(STRING, "append"),
        "setrange" => one(STRING, "setrange"),
        "incr" | "incrby" => one(STRING, "incrby"),
        "decr" | "decrby" => one(STRING, "decrby"),
        "incrbyfloat" => one(STRING, "incrbyfloat"),
        "setbit" | "bitfield" => one(STRING, "setbit"),
        "bitop" if !removed => one(STRING, "set"),
        "pfadd" | "pfmerge" => one(STRING, "pfadd"),
        "del" | "unlink" | "getdel" => one(GENERIC, "del"),
        "expire" | "pexpire" | "expireat" | "pexpireat" if !removed => one(GENERIC, "expire"),
        "persist" => one(GENERIC, "persist"),
        "getex" if !removed => one(GENERIC, if record.deadline_ms().is_some() { "expire" } else { "persist" }),
        "rename" | "renamenx" => one(GENERIC, if removed { "rename_from" } else { "rename_to" }),
        "move" => one(GENERIC, if removed { "move_from" } else { "move_to" }),
        "copy" if !removed => one(GENERIC, "copy_to"),
        "restore" if !removed => one(GENERIC, "restore"),
        "hset" | "hmset" | "hsetnx" => one(HASH, "hset"),
        "hdel" => one(HASH, "hdel"),
        "hincrby" => one(HASH, "hincrby"),
        "hincrbyfloat" => one(HASH, "hincrbyfloat"),
        "sadd" => one(SET, "sadd"),
        "srem" => one(SET, "srem"),
        "spop" => one(SET, "spop"),
        "smove" => one(SET, if removed { "srem" } else { "sadd" }),
        "sinterstore" | "sunionstore" | "sdiffstore" if !removed => one(SET, command),
        "zadd" => one(ZSET, "zadd"),
        "zincrby" => one(ZSET, "zincr"),
        "zrem" => one(ZSET, "zrem"),
        "zremrangebyrank" | "zremrangebyscore" | "zremrangebylex" | "zpopmin" | "zpopmax" => one(ZSET, command),
        "zunionstore" | "zinterstore" | "zdiffstore" | "zrangestore" if !removed => one(ZSET, command),
        // List commands write under the name of the end they work on (see `crate::running::as_command`).
        "lpush" | "rpush" | "lpop" | "rpop" | "linsert" | "lset" | "lrem" | "ltrim" => one(LIST, command),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_proto::{NodeId, Stamp, Version};

    fn stamp(seq: u64) -> Stamp {
        Stamp { version: Version { wall_ms: 1_000 + seq, logical: 0, node: NodeId(1) }, seq }
    }

    fn names(events: [Option<Event>; 2]) -> Vec<&'static str> {
        events.into_iter().flatten().map(|e| e.name).collect()
    }

    #[test]
    fn a_replicated_record_fires_what_it_holds() {
        let value = Record::plain(b"k", Some(b"v"), stamp(1), None);
        let expiring = Record::plain(b"k", Some(b"v"), stamp(2), Some(5_000));
        let deleted = Record::plain(b"k", None, stamp(3), None);
        let evicted = Record::evicted(b"k", value.version(), stamp(4));
        assert_eq!(names(events(None, &value)), ["set"]);
        assert_eq!(names(events(None, &expiring)), ["set", "expire"]);
        assert_eq!(names(events(None, &deleted)), ["del"]);
        assert_eq!(names(events(None, &evicted)), ["evicted"]);
        assert_eq!(names(events(None, &Record::flush(stamp(5), None))), Vec::<&str>::new());
    }

    #[test]
    fn a_command_fires_its_own_name_on_its_node() {
        let value = Record::plain(b"k", Some(b"v"), stamp(1), None);
        let expiring = Record::plain(b"k", Some(b"v"), stamp(2), Some(5_000));
        let deleted = Record::plain(b"k", None, stamp(3), None);
        assert_eq!(names(events(Some("append"), &value)), ["append"]);
        assert_eq!(names(events(Some("expire"), &expiring)), ["expire"]);
        assert_eq!(names(events(Some("setex"), &expiring)), ["set", "expire"]);
        assert_eq!(names(events(Some("rename"), &deleted)), ["rename_from"]);
        assert_eq!(names(events(Some("rename"), &value)), ["rename_to"]);
        // An EXPIRE with a deadline already past deletes: `del`, by the record.
        assert_eq!(names(events(Some("expire"), &deleted)), ["del"]);
        // Whatever the command, an eviction it caused is `evicted`.
        let evicted = Record::evicted(b"k", value.version(), stamp(4));
        assert_eq!(names(events(Some("set"), &evicted)), ["evicted"]);
    }

    #[test]
    fn a_list_element_fires_its_command_here_and_what_it_holds_elsewhere() {
        use kvs_store::collection::element::ElementState;
        use kvs_store::collection::{element_key, position::Position};
        let at = Position::pushed(None, true, NodeId(1), 1);
        let key = element_key(CollectionType::List, b"l", at.as_bytes());
        let added = ElementState::added(stamp(1), bytes::Bytes::from_static(b"v"));
        let pushed = Record::element(&key, &added);
        let popped = Record::element(&key, &added.removal(stamp(2)));
        assert_eq!(names(events(Some("rpush"), &pushed)), ["rpush"]);
        assert_eq!(names(events(Some("lpop"), &popped)), ["lpop"]);
        assert_eq!(names(events(None, &pushed)), ["linsert"]);
        assert_eq!(names(events(None, &popped)), ["lrem"]);
    }
}
