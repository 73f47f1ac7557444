//! Commands on the keyspace as a whole or on keys as names: FLUSHALL, FLUSHDB, RENAME, RENAMENX,
//! COPY, RANDOMKEY, TYPE, TOUCH, OBJECT.
//!
//! FLUSHALL is a replicated, versioned clear: every record older than it disappears on every
//! node, including records that reach a node later from a peer that had not seen it. RENAME and
//! COPY are a write of the destination then (RENAME) a delete of the source, each an ordinary
//! versioned write.

use super::Call;
use kvs_store::local::Decision;
use kvs_store::Store;

/// `FLUSHALL [ASYNC|SYNC]`: every database.
pub fn flushall(call: &mut Call<'_, '_>) {
    flush(call, None)
}

/// `FLUSHDB [ASYNC|SYNC]`: the selected database. Until the gate `databases` opens (and only
/// database 0 can hold keys) it is a FLUSHALL, which every peer can decode.
pub fn flushdb(call: &mut Call<'_, '_>) {
    let database = call.shell.core.is_open(kvs_proto::features::DATABASES).then_some(call.client.db);
    flush(call, database)
}

/// A replicated flush of `database` (`None`: all).
fn flush(call: &mut Call<'_, '_>, database: Option<u8>) {
    let valid = match call.args.len() {
        1 => true,
        2 => [b"ASYNC".as_slice(), b"SYNC"].iter().any(|o| call.args.get(1).eq_ignore_ascii_case(o)),
        _ => false,
    };
    if !valid {
        return call.reply.error("ERR syntax error");
    }
    match call.shell.flush(call.now_ms(), database, call.room, call.client.transaction.unit.as_mut()) {
        Ok(written) => {
            call.durable.extend(written.durable);
            call.reply.simple("OK");
        }
        Err(error) => call.reply.error(&format!("ERR {error}")),
    }
}

/// Copies `from` to `to` (`replace`: even if `to` exists); with `delete_source`, then deletes
/// `from`. Returns whether it copied, or `None` when it replied with an error; `Some(None)` when
/// the source does not exist.
pub(super) fn copy_key(
    call: &mut Call<'_, '_>,
    from: &[u8],
    to: &[u8],
    replace: bool,
    delete_source: bool,
) -> Option<Option<bool>> {
    if !call.within_bounds(from, None) || !call.within_bounds(to, None) {
        return None;
    }
    let now_ms = call.now_ms();
    if let Some(found) = call.shell.store().collection(from, now_ms) {
        if from == to {
            return Some(Some(!delete_source || replace));
        }
        return copy_collection(call, (from, &found), to, replace, delete_source);
    }
    let Some(source) = call.shell.store().get_live(from, now_ms).filter(|r| !r.is_collection()) else {
        return Some(None);
    };
    if from == to {
        return Some(Some(!delete_source || replace));
    }
    let Some(value) = source.read_bytes() else {
        return Some(None);
    };
    let deadline = source.deadline_ms();
    let copied = call.update(to, |local| {
        if local.live().is_some() && !replace {
            return Decision::Keep(false);
        }
        Decision::Write(local.value(Some(&value), deadline), true)
    })?;
    if copied && delete_source {
        call.update(from, |local| Decision::Write(local.value(None, None), ()))?;
    }
    Some(Some(copied))
}

/// [`copy_key`] of a collection: its elements written at `to` (what `to` held replaced), its
/// deadline kept.
fn copy_collection(
    call: &mut Call<'_, '_>,
    (from, found): (&[u8], &kvs_store::store::Found),
    to: &[u8],
    replace: bool,
    delete_source: bool,
) -> Option<Option<bool>> {
    let taken = super::collections::type_name(call.shell.store(), to, call.now_ms()) != "none";
    if taken && !replace {
        return Some(Some(false));
    }
    let elements = super::collections::all(call, from, found);
    super::collections::store_members(call, to, found.header.of, elements)?;
    if let Some(deadline) = found.deadline_ms {
        call.update(to, |local| match super::expire::with_deadline(local, Some(deadline)) {
            Some(record) => Decision::Write(record, ()),
            None => Decision::Keep(()),
        })?;
    }
    if delete_source {
        super::collections::delete_key(call, from)?;
    }
    Some(Some(true))
}

/// `RENAME key newkey`
pub fn rename(call: &mut Call<'_, '_>) {
    let (from, to) = (call.args.get(1), call.args.get(2));
    match copy_key(call, from, to, true, true) {
        Some(Some(_)) => call.reply.simple("OK"),
        Some(None) => call.reply.error("ERR no such key"),
        None => {}
    }
}

/// `RENAMENX key newkey`: 1 if renamed, 0 if `newkey` exists.
pub fn renamenx(call: &mut Call<'_, '_>) {
    let (from, to) = (call.args.get(1), call.args.get(2));
    match copy_key(call, from, to, false, true) {
        Some(Some(renamed)) => call.reply.integer((renamed && from != to) as i64),
        Some(None) => call.reply.error("ERR no such key"),
        None => {}
    }
}

/// `COPY source destination [DB 0] [REPLACE]`: 1 if copied.
pub fn copy(call: &mut Call<'_, '_>) {
    let (mut replace, mut into) = (false, call.client.db);
    let mut i = 3;
    while i < call.args.len() {
        let option = call.args.get(i);
        if option.eq_ignore_ascii_case(b"REPLACE") {
            replace = true;
        } else if option.eq_ignore_ascii_case(b"DB") && i + 1 < call.args.len() {
            i += 1;
            match super::database_keys::database(call, i) {
                Ok(db) => into = db,
                Err(error) => return call.reply.error(error),
            }
        } else {
            return call.reply.error("ERR syntax error");
        }
        i += 1;
    }
    let from = call.args.get(1);
    let to = kvs_store::databases::stored_key(into, kvs_store::databases::user_key(call.args.get(2))).into_owned();
    if from == to.as_slice() {
        return call.reply.error("ERR source and destination objects are the same");
    }
    match copy_key(call, from, &to, replace, false) {
        Some(Some(copied)) => call.reply.integer(copied as i64),
        Some(None) => call.reply.integer(0),
        None => {}
    }
}

/// `RANDOMKEY`: a live key from a shard picked at random, or nil.
pub fn randomkey(call: &mut Call<'_, '_>) {
    let now_ms = call.now_ms();
    let store = call.shell.store();
    let start = rand::random_range(0..kvs_store::store::SHARDS as u64);
    let (mut cursor, mut wrapped) = (start, false);
    loop {
        let db = call.client.db;
        let (next, keys) = store.scan(cursor, 1, now_ms, |k| kvs_store::databases::database_of(k) == db);
        if !keys.is_empty() {
            return call.reply.bulk(kvs_store::databases::user_key(&keys[rand::random_range(0..keys.len())]));
        }
        if next == 0 && (wrapped || start == 0) {
            return call.reply.null();
        }
        (cursor, wrapped) = if next == 0 { (0, true) } else { (next, wrapped) };
        if wrapped && cursor >= start {
            return call.reply.null();
        }
    }
}

/// `TYPE key`: `string` or `none`.
pub fn type_of(call: &mut Call<'_, '_>) {
    let name = super::collections::type_name(call.shell.store(), call.args.get(1), call.now_ms());
    call.reply.simple(name);
}

/// `TOUCH key [key ...]`: how many exist.
pub fn touch(call: &mut Call<'_, '_>) {
    let now_ms = call.now_ms();
    let store = call.shell.store();
    let count = call.args.iter().skip(1).filter(|key| store.touch(key, now_ms)).count();
    call.reply.integer(count as i64);
}

/// The encoding Redis would report for a value: `int`, `embstr` or `raw`.
pub fn encoding_of(value: &[u8]) -> &'static str {
    if value.len() <= 20 && kvs_store::local::parse_integer(value).is_some() {
        "int"
    } else if value.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}

/// `OBJECT ENCODING|REFCOUNT|IDLETIME|FREQ|HELP key`
pub fn object(call: &mut Call<'_, '_>) {
    let sub = call.args.get(1).to_ascii_uppercase();
    if sub == b"HELP" && call.args.len() == 2 {
        let lines = [
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ];
        return super::help::reply(call, "OBJECT", &lines);
    }
    if call.args.len() != 3 {
        return super::help::unknown_subcommand(call, "OBJECT");
    }
    // OBJECT does not count as a use of the key, as in Redis.
    let now_ms = call.now_ms();
    let key = call.args.get(2);
    let collection = call.shell.store().collection(key, now_ms);
    let Some(record) = call.shell.store().get_live(key, now_ms).filter(|r| !r.is_collection() || collection.is_some())
    else {
        return call.reply.null();
    };
    kvs_store::access::tick(now_ms);
    let state = record.access_state();
    let lfu = kvs_store::access::tracking() == kvs_store::access::Tracking::Frequency;
    const ADJUST: &str =
        "Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
    match sub.as_slice() {
        b"ENCODING" => {
            let encoding = match &collection {
                Some(found) => super::collections::encoding_of(call, key, found),
                None => encoding_of(&record.read_bytes().unwrap_or_default()),
            };
            call.reply.bulk(encoding.as_bytes())
        }
        b"REFCOUNT" => call.reply.integer(1),
        b"IDLETIME" if lfu => {
            call.reply.error(&format!("ERR An LFU maxmemory policy is selected, idle time not tracked. {ADJUST}"))
        }
        b"IDLETIME" => call.reply.integer(kvs_store::access::idle_seconds(state) as i64),
        b"FREQ" if lfu => call.reply.integer(i64::from(kvs_store::access::frequency(state))),
        b"FREQ" => call
            .reply
            .error(&format!("ERR An LFU maxmemory policy is not selected, access frequency not tracked. {ADJUST}")),
        _ => super::help::unknown_subcommand(call, "OBJECT"),
    }
}

/// Live keys now, reclaiming what expired first unless active expiry is paused (then, as in
/// Redis, expired keys not yet touched still count).
pub fn live_key_count(call: &Call<'_, '_>) -> u64 {
    let store: &Store = call.shell.store();
    if call.shell.active_expiry.load(std::sync::atomic::Ordering::Relaxed) {
        store.expire_due(call.now_ms());
    }
    store.live_count_in(call.client.db)
}
