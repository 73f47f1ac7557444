//! HSCAN, SSCAN and ZSCAN: one step of a walk over a collection in the order of its index, the
//! cursor a position in it (see `kvs_store::collection::order`), so every element present from
//! the first step to the last is returned, and COUNT sets how much one step reads.

use super::collections;
use super::{bulk_cost, parse_int, Call, NOT_AN_INTEGER};
use kvs_store::collection::{score_of, CollectionType};
use kvs_store::glob;

/// Elements a step reads by default, as in Redis.
const DEFAULT_COUNT: usize = 10;

/// The parsed arguments of `HSCAN|SSCAN|ZSCAN key cursor [MATCH pattern] [COUNT count]`.
struct ScanArgs<'a> {
    cursor: u64,
    pattern: Option<&'a [u8]>,
    count: usize,
}

/// Parses the arguments; `None` once an error is answered.
fn scan_args<'a>(call: &mut Call<'a, '_>) -> Option<ScanArgs<'a>> {
    let args = call.args;
    let Some(cursor) = std::str::from_utf8(args.get(2)).ok().and_then(|s| s.parse::<u64>().ok()) else {
        call.reply.error("ERR invalid cursor");
        return None;
    };
    let (mut pattern, mut count) = (None, DEFAULT_COUNT);
    let mut i = 3;
    while i < args.len() {
        if i + 1 >= args.len() {
            call.reply.error("ERR syntax error");
            return None;
        }
        let (option, value) = (args.get(i), args.get(i + 1));
        if option.eq_ignore_ascii_case(b"MATCH") {
            pattern = Some(value);
        } else if option.eq_ignore_ascii_case(b"COUNT") {
            match parse_int(value) {
                // What a step reads is bounded by the collection, and its reply by the reply
                // bound, so a large COUNT costs no more than the collection.
                Some(n) if n >= 1 => count = usize::try_from(n).unwrap_or(usize::MAX),
                Some(_) => {
                    call.reply.error("ERR syntax error");
                    return None;
                }
                None => {
                    call.reply.error(NOT_AN_INTEGER);
                    return None;
                }
            }
        } else {
            call.reply.error("ERR syntax error");
            return None;
        }
        i += 2;
    }
    if pattern.is_some_and(|p| call.pattern_too_long(p)) {
        return None;
    }
    Some(ScanArgs { cursor, pattern, count })
}

/// One step over the collection of type `of` at `call`'s key: the next cursor and the elements
/// matching the pattern, with their values (hash fields) or scores (sorted-set members).
fn scan(call: &mut Call<'_, '_>, of: CollectionType) {
    let key = call.args.get(1);
    let Some(ScanArgs { cursor, pattern, count }) = scan_args(call) else { return };
    let Ok(found) = collections::find(call, key, of) else { return };
    let (elements, next) = match found {
        Some(found) => call.shell.store().scan_elements(of, key, &found.header, cursor, count),
        None => (Vec::new(), 0),
    };
    let matching: Vec<_> = elements
        .into_iter()
        .filter(|(name, _)| pattern.is_none_or(|p| glob::matches(p, name)))
        .map(|(name, value)| match of {
            CollectionType::SortedSet => (name, Some(kvs_proto::resp::format_double(score_of(&value)).into_bytes())),
            CollectionType::Hash | CollectionType::List => (name, Some(value.to_vec())),
            CollectionType::Set => (name, None),
        })
        .collect();
    let cost: usize =
        matching.iter().map(|(n, v)| bulk_cost(n.len()) + v.as_ref().map_or(0, |v| bulk_cost(v.len()))).sum();
    if call.reply_too_large(cost) {
        return;
    }
    call.reply.array(2);
    call.reply.bulk(next.to_string().as_bytes());
    let with_values = of != CollectionType::Set;
    call.reply.array(matching.len() * if with_values { 2 } else { 1 });
    for (name, value) in matching {
        call.reply.bulk(&name);
        if let Some(value) = value {
            call.reply.bulk(&value);
        }
    }
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count]`.
pub fn hscan(call: &mut Call<'_, '_>) {
    scan(call, CollectionType::Hash);
}

/// `SSCAN key cursor [MATCH pattern] [COUNT count]`.
pub fn sscan(call: &mut Call<'_, '_>) {
    scan(call, CollectionType::Set);
}

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`.
pub fn zscan(call: &mut Call<'_, '_>) {
    scan(call, CollectionType::SortedSet);
}
