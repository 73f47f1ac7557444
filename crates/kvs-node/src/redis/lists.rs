//! List commands that push, pop and read. A list is a sequence CRDT of position identifiers
//! (see [`kvs_store::collection::position`]): each element is an element of the collection named
//! by its position, whose bytes sort in list order, so the collection's order index walks the
//! list. A push takes a position past the end it pushes to; two nodes pushing at once both keep
//! their elements, ordered alike everywhere by their writers' tags. A pop removes the element
//! it saw (observed remove); a pop on another node at the same time may take the same one
//! (at-least-once, as Active-Active documents).

use super::collections::{self, Change};
use super::{bulk_cost, parse_int, Call, NOT_AN_INTEGER};
use crate::running;
use bytes::Bytes;
use kvs_store::collection::position::Position;
use kvs_store::collection::CollectionType;
use kvs_store::store::Found;

/// The collection type of every command here.
pub const LIST: CollectionType = CollectionType::List;

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The head (LPUSH, LPOP, LEFT).
    Left,
    /// The tail (RPUSH, RPOP, RIGHT).
    Right,
}

impl End {
    /// The end `LEFT` or `RIGHT` names (any case).
    pub fn parse(arg: &[u8]) -> Option<End> {
        match arg.to_ascii_uppercase().as_slice() {
            b"LEFT" => Some(End::Left),
            b"RIGHT" => Some(End::Right),
            _ => None,
        }
    }

    /// The event name of a pop from it.
    fn pop_event(self) -> &'static str {
        match self {
            End::Left => "lpop",
            End::Right => "rpop",
        }
    }

    /// The event name of a push to it.
    fn push_event(self) -> &'static str {
        match self {
            End::Left => "lpush",
            End::Right => "rpush",
        }
    }
}

/// Elements of the list `found` at `key` with their names (positions), from `end`, after
/// skipping `skip`, at most `take`.
pub fn read(call: &Call<'_, '_>, key: &[u8], found: &Found, end: End, skip: usize, take: usize) -> Vec<(Bytes, Bytes)> {
    call.shell.store().list_elements(key, &found.header, end == End::Right, skip, take)
}

/// Elements `start..=stop` (in range, `stop` below its length) of the list `found` at `key`,
/// walked from the nearer end.
pub fn range(call: &Call<'_, '_>, key: &[u8], found: &Found, start: usize, stop: usize) -> Vec<(Bytes, Bytes)> {
    let (end, skip) = nearer_end(found, start, stop);
    let mut elements = read(call, key, found, end, skip, stop - start + 1);
    if end == End::Right {
        elements.reverse();
    }
    elements
}

/// Which end `start..=stop` of the list `found` is nearer, and how many to skip from it.
fn nearer_end(found: &Found, start: usize, stop: usize) -> (End, usize) {
    let from_tail = found.len - 1 - stop;
    match start <= from_tail {
        true => (End::Left, start),
        false => (End::Right, from_tail),
    }
}

/// An index counted from the tail when negative, as Redis takes it, among `len` elements.
pub fn index_in(index: i64, len: usize) -> Option<usize> {
    let index = if index < 0 { index + len as i64 } else { index };
    (0..len as i64).contains(&index).then_some(index as usize)
}

/// LRANGE's and LTRIM's `start stop` among `len` elements: the indices they keep, if any.
pub fn span(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (start + len).max(0) } else { start };
    let stop = if stop < 0 { stop + len } else { stop.min(len - 1) };
    (start <= stop && start < len).then_some((start as usize, stop as usize))
}

/// Positions for `count` pushes to `end` of a list whose element at that end is `outermost`:
/// each past the one before, tagged with this node's next sequence numbers (the command runs
/// alone and writes at least `count` records, see `Core::next_seq`).
fn pushed_positions(call: &Call<'_, '_>, outermost: Option<&[u8]>, end: End, count: usize) -> Vec<Position> {
    let core = &call.shell.core;
    let (origin, first_seq) = (core.origin(), core.next_seq());
    let mut last = outermost.and_then(|name| Position::from_bytes(name).ok());
    (0..count as u64)
        .map(|i| {
            let at = Position::pushed(last.as_ref(), end == End::Right, origin, first_seq + i);
            last = Some(at.clone());
            at
        })
        .collect()
}

/// Pushes `values` to `end` of the list at `key` (`found`: the list it holds, if any), in order:
/// the new length, `None` once an error is answered.
pub fn push_values(
    call: &mut Call<'_, '_>,
    key: &[u8],
    found: Option<&Found>,
    end: End,
    values: &[Bytes],
) -> Option<usize> {
    let outermost = found.and_then(|found| read(call, key, found, end, 0, 1).pop()).map(|(name, _)| name);
    let positions = pushed_positions(call, outermost.as_deref(), end, values.len());
    let changes = positions.iter().zip(values).map(|(at, value)| (at.as_bytes(), Change::Add(value.clone()))).collect();
    running::as_command(end.push_event(), || collections::write(call, key, LIST, changes))?;
    Some(found.map_or(0, |f| f.len) + values.len())
}

/// Takes up to `count` elements from `end` of the list `found` at `key`: their values, `None`
/// once an error is answered.
pub fn pop_values(call: &mut Call<'_, '_>, key: &[u8], found: &Found, end: End, count: usize) -> Option<Vec<Bytes>> {
    let taken = read(call, key, found, end, 0, count);
    let changes = taken.iter().map(|(name, _)| (&name[..], Change::Remove)).collect();
    running::as_command(end.pop_event(), || collections::write(call, key, LIST, changes))?;
    Some(taken.into_iter().map(|(_, value)| value).collect())
}

/// Answers values as an array, within the reply bound.
pub fn reply_values(call: &mut Call<'_, '_>, values: &[impl AsRef<[u8]>]) {
    if call.reply_too_large(values.iter().map(|v| bulk_cost(v.as_ref().len())).sum()) {
        return;
    }
    call.reply.array(values.len());
    for value in values {
        call.reply.bulk(value.as_ref());
    }
}

fn push(call: &mut Call<'_, '_>, end: End, only_existing: bool) {
    let args = call.args;
    let key = args.get(1);
    if !args.iter().skip(2).all(|value| call.within_bounds(key, Some(value))) || !collections::gate_open(call) {
        return;
    }
    let Ok(found) = collections::find(call, key, LIST) else { return };
    if only_existing && found.is_none() {
        return call.reply.integer(0);
    }
    let values: Vec<Bytes> = args.iter().skip(2).map(Bytes::copy_from_slice).collect();
    if let Some(len) = push_values(call, key, found.as_ref(), end, &values) {
        call.reply.integer(len as i64);
    }
}

/// `LPUSH key element [element ...]`: the length after.
pub fn lpush(call: &mut Call<'_, '_>) {
    push(call, End::Left, false);
}

/// `RPUSH key element [element ...]`
pub fn rpush(call: &mut Call<'_, '_>) {
    push(call, End::Right, false);
}

/// `LPUSHX key element [element ...]`: only onto a list that exists.
pub fn lpushx(call: &mut Call<'_, '_>) {
    push(call, End::Left, true);
}

/// `RPUSHX key element [element ...]`
pub fn rpushx(call: &mut Call<'_, '_>) {
    push(call, End::Right, true);
}

fn pop(call: &mut Call<'_, '_>, end: End) {
    let key = call.args.get(1);
    let Ok(count) = collections::pop_count(call) else { return };
    let Ok(found) = collections::find(call, key, LIST) else { return };
    let Some(found) = found else {
        return match count {
            Some(_) => call.reply.null_array(),
            None => call.reply.null(),
        };
    };
    let Some(values) = pop_values(call, key, &found, end, count.unwrap_or(1)) else { return };
    match count {
        Some(_) => reply_values(call, &values),
        None => call.reply.optional_bulk(values.first().map(|v| &v[..])),
    }
}

/// `LPOP key [count]`
pub fn lpop(call: &mut Call<'_, '_>) {
    pop(call, End::Left);
}

/// `RPOP key [count]`
pub fn rpop(call: &mut Call<'_, '_>) {
    pop(call, End::Right);
}

/// `LLEN key`
pub fn llen(call: &mut Call<'_, '_>) {
    collections::reply_len(call, LIST);
}

/// `LRANGE key start stop`
pub fn lrange(call: &mut Call<'_, '_>) {
    let key = call.args.get(1);
    let (Some(start), Some(stop)) = (parse_int(call.args.get(2)), parse_int(call.args.get(3))) else {
        return call.reply.error(NOT_AN_INTEGER);
    };
    let Ok(found) = collections::find(call, key, LIST) else { return };
    let Some((found, (start, stop))) = found.as_ref().and_then(|f| Some((f, span(start, stop, f.len)?))) else {
        return call.reply.array(0);
    };
    // Bounded before it is read: an element is at least a bulk header.
    let count = stop - start + 1;
    if call.reply_too_large(count.saturating_mul(bulk_cost(0))) {
        return;
    }
    // Walked from the nearer end, values only, in one buffer.
    let (end, skip) = nearer_end(found, start, stop);
    let packed = call.shell.store().list_values(key, &found.header, end == End::Right, skip, count);
    let mut values: Vec<&[u8]> = packed.iter().collect();
    if end == End::Right {
        values.reverse();
    }
    reply_values(call, &values);
}

/// `LINDEX key index`
pub fn lindex(call: &mut Call<'_, '_>) {
    let key = call.args.get(1);
    let Some(index) = parse_int(call.args.get(2)) else { return call.reply.error(NOT_AN_INTEGER) };
    let Ok(found) = collections::find(call, key, LIST) else { return };
    let value = found
        .as_ref()
        .and_then(|f| Some((f, index_in(index, f.len)?)))
        .and_then(|(found, at)| range(call, key, found, at, at).pop().map(|(_, value)| value));
    call.reply.optional_bulk(value.as_deref());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_indices_follow_redis() {
        assert_eq!(span(0, -1, 3), Some((0, 2)));
        assert_eq!(span(-100, 100, 3), Some((0, 2)));
        assert_eq!(span(2, 1, 3), None);
        assert_eq!(span(3, 5, 3), None);
        assert_eq!(span(-2, -1, 3), Some((1, 2)));
        assert_eq!(span(0, -4, 3), None);
        assert_eq!(span(0, 0, 0), None);
        assert_eq!(index_in(-1, 3), Some(2));
        assert_eq!(index_in(3, 3), None);
        assert_eq!(index_in(-4, 3), None);
    }
}
