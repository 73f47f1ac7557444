//! List commands that change or search elements inside a list: LSET (last writer wins on that
//! element), LINSERT (a position between two neighbours), LREM and LTRIM (each removes the
//! elements it saw), LPOS.

use super::collections::{self, Change};
use super::lists::{index_in, range, read, span, End, LIST};
use super::{parse_int, Call, NOT_AN_INTEGER};
use crate::running;
use bytes::Bytes;
use kvs_store::collection::position::Position;

/// `LSET key index element`: the element at the index takes the value; a concurrent LSET of it
/// elsewhere and this one resolve by version, the later wins.
pub fn lset(call: &mut Call<'_, '_>) {
    let args = call.args;
    let (key, value) = (args.get(1), args.get(3));
    let Some(index) = parse_int(args.get(2)) else { return call.reply.error(NOT_AN_INTEGER) };
    if !call.within_bounds(key, Some(value)) || !collections::gate_open(call) {
        return;
    }
    let Ok(found) = collections::find(call, key, LIST) else { return };
    let Some(found) = found else { return call.reply.error("ERR no such key") };
    let Some(at) = index_in(index, found.len) else { return call.reply.error("ERR index out of range") };
    let Some((name, _)) = range(call, key, &found, at, at).pop() else {
        return call.reply.error("ERR index out of range");
    };
    let changes = vec![(&name[..], Change::Add(Bytes::copy_from_slice(value)))];
    if running::as_command("lset", || collections::write(call, key, LIST, changes)).is_some() {
        call.reply.simple("OK");
    }
}

/// `LINSERT key BEFORE|AFTER pivot element`: the length after, -1 without the pivot, 0 without
/// the list.
pub fn linsert(call: &mut Call<'_, '_>) {
    let args = call.args;
    let (key, pivot, value) = (args.get(1), args.get(3), args.get(4));
    let before = match args.get(2).to_ascii_uppercase().as_slice() {
        b"BEFORE" => true,
        b"AFTER" => false,
        _ => return call.reply.error("ERR syntax error"),
    };
    if !call.within_bounds(key, Some(value)) || !collections::gate_open(call) {
        return;
    }
    let Ok(found) = collections::find(call, key, LIST) else { return };
    let Some(found) = found else { return call.reply.integer(0) };
    let all = read(call, key, &found, End::Left, 0, usize::MAX);
    let Some(at) = all.iter().position(|(_, held)| held[..] == *pivot) else { return call.reply.integer(-1) };
    let (low, high) = if before { (at.checked_sub(1), Some(at)) } else { (Some(at), Some(at + 1)) };
    let position_at =
        |i: Option<usize>| i.and_then(|i| all.get(i)).and_then(|(name, _)| Position::from_bytes(name).ok());
    let core = &call.shell.core;
    let inserted =
        Position::between(position_at(low).as_ref(), position_at(high).as_ref(), core.origin(), core.next_seq());
    let changes = vec![(inserted.as_bytes(), Change::Add(Bytes::copy_from_slice(value)))];
    if running::as_command("linsert", || collections::write(call, key, LIST, changes)).is_some() {
        call.reply.integer(found.len as i64 + 1);
    }
}

/// `LREM key count element`: removes the first `count` elements equal to it (from the tail when
/// negative, all when 0); how many.
pub fn lrem(call: &mut Call<'_, '_>) {
    let args = call.args;
    let (key, value) = (args.get(1), args.get(3));
    let Some(count) = parse_int(args.get(2)) else { return call.reply.error(NOT_AN_INTEGER) };
    let Ok(found) = collections::find(call, key, LIST) else { return };
    let Some(found) = found else { return call.reply.integer(0) };
    let end = if count < 0 { End::Right } else { End::Left };
    let limit = if count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
    let all = read(call, key, &found, end, 0, usize::MAX);
    let matching: Vec<&Bytes> =
        all.iter().filter(|(_, held)| held[..] == *value).map(|(name, _)| name).take(limit).collect();
    let removed = matching.len();
    let changes = matching.into_iter().map(|name| (&name[..], Change::Remove)).collect();
    if running::as_command("lrem", || collections::write(call, key, LIST, changes)).is_some() {
        call.reply.integer(removed as i64);
    }
}

/// `LTRIM key start stop`: removes every element outside the range.
pub fn ltrim(call: &mut Call<'_, '_>) {
    let args = call.args;
    let key = args.get(1);
    let (Some(start), Some(stop)) = (parse_int(args.get(2)), parse_int(args.get(3))) else {
        return call.reply.error(NOT_AN_INTEGER);
    };
    let Ok(found) = collections::find(call, key, LIST) else { return };
    let Some(found) = found else { return call.reply.simple("OK") };
    let (head, tail) = match span(start, stop, found.len) {
        Some((start, stop)) => (start, found.len - 1 - stop),
        None => (found.len, 0),
    };
    let mut gone = read(call, key, &found, End::Left, 0, head);
    gone.extend(read(call, key, &found, End::Right, 0, tail));
    let changes = gone.iter().map(|(name, _)| (&name[..], Change::Remove)).collect();
    if running::as_command("ltrim", || collections::write(call, key, LIST, changes)).is_some() {
        call.reply.simple("OK");
    }
}

/// LPOS's options: which match to start from (negative: from the tail), how many to return
/// (`None`: one, as a plain reply; 0: all), how many elements to compare at most (0: all).
struct LposOptions {
    rank: i64,
    count: Option<usize>,
    max_len: usize,
}

fn lpos_options(call: &mut Call<'_, '_>) -> Option<LposOptions> {
    let mut options = LposOptions { rank: 1, count: None, max_len: 0 };
    let args = call.args;
    let mut i = 3;
    while i < args.len() {
        let Some(number) = (i + 1 < args.len()).then(|| parse_int(args.get(i + 1))) else {
            call.reply.error("ERR syntax error");
            return None;
        };
        let Some(number) = number else {
            call.reply.error(NOT_AN_INTEGER);
            return None;
        };
        match args.get(i).to_ascii_uppercase().as_slice() {
            b"RANK" if number == 0 || number == i64::MIN => {
                call.reply.error(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... \
                     or use negative to start from the end of the list",
                );
                return None;
            }
            b"RANK" => options.rank = number,
            b"COUNT" | b"MAXLEN" if number < 0 => {
                let what = if args.get(i).eq_ignore_ascii_case(b"COUNT") { "COUNT" } else { "MAXLEN" };
                call.reply.error(&format!("ERR {what} can't be negative"));
                return None;
            }
            b"COUNT" => options.count = Some(number as usize),
            b"MAXLEN" => options.max_len = number as usize,
            _ => {
                call.reply.error("ERR syntax error");
                return None;
            }
        }
        i += 2;
    }
    Some(options)
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`: the indices of matches.
pub fn lpos(call: &mut Call<'_, '_>) {
    let (key, wanted) = (call.args.get(1), call.args.get(2));
    let Some(options) = lpos_options(call) else { return };
    let Ok(found) = collections::find(call, key, LIST) else { return };
    let (end, skip) = match options.rank {
        rank if rank < 0 => (End::Right, (rank.unsigned_abs() - 1) as usize),
        rank => (End::Left, (rank - 1) as usize),
    };
    let compared = if options.max_len == 0 { usize::MAX } else { options.max_len };
    let len = found.as_ref().map_or(0, |f| f.len);
    let elements = found.as_ref().map(|f| read(call, key, f, end, 0, compared)).unwrap_or_default();
    let wanted_count = match options.count {
        None => 1,
        Some(0) => usize::MAX,
        Some(count) => count,
    };
    let indices: Vec<i64> = elements
        .iter()
        .enumerate()
        .filter(|(_, (_, held))| held[..] == *wanted)
        .skip(skip)
        .take(wanted_count)
        .map(|(i, _)| if end == End::Right { (len - 1 - i) as i64 } else { i as i64 })
        .collect();
    match options.count {
        None => match indices.first() {
            Some(&index) => call.reply.integer(index),
            None => call.reply.null(),
        },
        Some(_) => {
            call.reply.array(indices.len());
            for index in indices {
                call.reply.integer(index);
            }
        }
    }
}
