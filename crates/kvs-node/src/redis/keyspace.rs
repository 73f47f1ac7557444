//! Commands on keys and values; writes go through the same path as native writes and replicate alike.

use super::{bulk_cost, parse_int, wrong_arity, Call};
use kvs_store::Store;
use kvs_store::{databases, glob};

/// `GET key`
pub fn get(call: &mut Call<'_, '_>) {
    let (key, now_ms) = (call.args.get(1), call.now_ms());
    let reply = &mut *call.reply;
    let hit = call.shell.store().with_value(key, now_ms, |value| {
        if value.is_some() {
            reply.optional_bulk(value);
        }
        value.is_some()
    });
    if !hit {
        // Looked at again only on a miss, so a hit costs one lookup.
        match call.shell.store().collection(key, now_ms) {
            Some(_) => return call.reply.error(super::collections::WRONGTYPE),
            None => call.reply.null(),
        }
    }
    call.client.lookups[usize::from(!hit)] += 1;
}

/// `MSET key value [key value ...]`
pub fn mset(call: &mut Call<'_, '_>) {
    if call.args.len().is_multiple_of(2) {
        return wrong_arity(call.reply, "mset");
    }
    let args = call.args;
    let pairs = || args.iter().skip(1).step_by(2).zip(args.iter().skip(2).step_by(2));
    for (key, value) in pairs() {
        if !call.within_bounds(key, Some(value)) {
            return;
        }
    }
    for (key, value) in pairs() {
        if !call.write(key, Some(value)) {
            return;
        }
    }
    call.reply.simple("OK");
}

/// `DEL key [key ...]`: writes a tombstone for each key, counts those that were live here.
pub fn del(call: &mut Call<'_, '_>) {
    let args = call.args;
    if !args.iter().skip(1).all(|key| call.within_bounds(key, None)) {
        return;
    }
    let mut removed = 0;
    for key in args.iter().skip(1) {
        let Some(was_live) = super::collections::delete_key(call, key) else { return };
        removed += was_live as i64;
    }
    call.reply.integer(removed);
}

/// `EXISTS key [key ...]`: repeated keys count each time, as in Redis; not a use of the keys
/// (their idle time goes on).
pub fn exists(call: &mut Call<'_, '_>) {
    let (store, now_ms) = (call.shell.store(), call.now_ms());
    let count =
        call.args.iter().skip(1).filter(|key| super::collections::type_name(store, key, now_ms) != "none").count();
    call.reply.integer(count as i64);
}

/// `MGET key [key ...]`
pub fn mget(call: &mut Call<'_, '_>) {
    let (store, now_ms) = (call.shell.store(), call.now_ms());
    let size: usize = call
        .args
        .iter()
        .skip(1)
        .map(|key| bulk_cost(store.with_value(key, now_ms, |v| v.map_or(0, <[u8]>::len))))
        .sum();
    if call.reply_too_large(size) {
        return;
    }
    call.reply.array(call.args.len() - 1);
    for key in call.args.iter().skip(1) {
        let reply = &mut *call.reply;
        let hit = call.shell.store().with_value(key, now_ms, |value| {
            reply.optional_bulk(value);
            value.is_some()
        });
        call.client.lookups[usize::from(!hit)] += 1;
    }
}

/// `STRLEN key`
pub fn strlen(call: &mut Call<'_, '_>) {
    let len = call.shell.store().with_value(call.args.get(1), call.now_ms(), |v| v.map_or(0, <[u8]>::len));
    call.reply.integer(len as i64);
}

/// `DBSIZE`
pub fn dbsize(call: &mut Call<'_, '_>) {
    let live = super::keys::live_key_count(call);
    call.reply.integer(live as i64);
}

/// `KEYS pattern`: walks the whole store, as in Redis.
pub fn keys(call: &mut Call<'_, '_>) {
    let (pattern, now_ms) = (call.args.get(1), call.now_ms());
    if call.pattern_too_long(pattern) {
        return;
    }
    let mut found = Vec::new();
    let (mut cursor, mut size) = (0, 0);
    loop {
        // A shard at a time, so a reply too large is refused before the whole keyspace is copied.
        let db = call.client.db;
        let in_db = |k: &[u8]| databases::database_of(k) == db && glob::matches(pattern, databases::user_key(k));
        let (next, keys) = call.shell.store().scan(cursor, 1, now_ms, in_db);
        size += keys.iter().map(|k| bulk_cost(k.len())).sum::<usize>();
        if call.reply_too_large(size) {
            return;
        }
        found.extend(keys);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    call.reply.array(found.len());
    for key in &found {
        call.reply.bulk(databases::user_key(key));
    }
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`
pub fn scan(call: &mut Call<'_, '_>) {
    let Some(cursor) = std::str::from_utf8(call.args.get(1)).ok().and_then(|s| s.parse::<u64>().ok()) else {
        return call.reply.error("ERR invalid cursor");
    };
    let (mut pattern, mut count, mut type_name) = (None, 10usize, None);
    let mut i = 2;
    while i < call.args.len() {
        let option = call.args.get(i);
        if i + 1 >= call.args.len() {
            return call.reply.error("ERR syntax error");
        }
        let value = call.args.get(i + 1);
        if option.eq_ignore_ascii_case(b"MATCH") {
            pattern = Some(value);
        } else if option.eq_ignore_ascii_case(b"COUNT") {
            match parse_int(value) {
                Some(n) if n >= 1 => count = n as usize,
                Some(_) => return call.reply.error("ERR syntax error"),
                None => return call.reply.error("ERR value is not an integer or out of range"),
            }
        } else if option.eq_ignore_ascii_case(b"TYPE") {
            type_name = Some(value.to_ascii_lowercase());
        } else {
            return call.reply.error("ERR syntax error");
        }
        i += 2;
    }
    if pattern.is_some_and(|p| call.pattern_too_long(p)) {
        return;
    }
    let db = call.client.db;
    let in_db =
        |k: &[u8]| databases::database_of(k) == db && pattern.is_none_or(|p| glob::matches(p, databases::user_key(k)));
    let (store, now_ms) = (call.shell.store(), call.now_ms());
    let (next, mut keys) =
        if Store::is_valid_cursor(cursor) { store.scan(cursor, count, now_ms, in_db) } else { (0, Vec::new()) };
    if let Some(wanted) = type_name {
        keys.retain(|key| super::collections::type_name(store, key, now_ms).as_bytes() == wanted);
    }
    if call.reply_too_large(keys.iter().map(|k| bulk_cost(k.len())).sum()) {
        return;
    }
    call.reply.array(2);
    call.reply.bulk(itoa::Buffer::new().format(next).as_bytes());
    call.reply.array(keys.len());
    for key in &keys {
        call.reply.bulk(databases::user_key(key));
    }
}
