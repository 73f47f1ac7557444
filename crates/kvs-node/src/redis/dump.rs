//! DUMP and RESTORE with a payload of kvs's own: a body, then a kind byte, the payload format's
//! version (u16, little-endian) and a CRC32 of everything before it (u32, little-endian), so a
//! payload damaged on the way, or made by another Redis, is refused as Redis refuses one. A
//! string's body is its value; a hash's, set's or sorted set's is its element count (u32) and
//! each element's name and value, each a u32 length and bytes (a set member's value is empty, a
//! sorted-set member's its score as a little-endian f64).
//!
//! RESTORE writes an ordinary versioned value (a counter's DUMP restores as its decimal value,
//! which INCR turns back into a counter), or a collection element by element, as its STORE
//! forms write one; REPLACE, ABSTTL, IDLETIME and FREQ are taken as Redis takes them (the last
//! two are checked and otherwise change nothing).

use super::{parse_int, Call};
use bytes::Bytes;
use kvs_store::collection::position::Position;
use kvs_store::collection::{type_byte, type_of_byte, CollectionType};
use kvs_store::local::Decision;

/// The payload format this code writes and reads.
const PAYLOAD_VERSION: u16 = 1;
/// A string's kind byte; a collection's is its type byte (`kvs_store::collection::type_byte`).
const KIND_STRING: u8 = 0;

/// What a payload holds.
#[derive(Debug, PartialEq)]
enum Dumped<'a> {
    /// A string's value.
    String(&'a [u8]),
    /// A collection's type and elements.
    Collection(CollectionType, Vec<(Bytes, Bytes)>),
}

/// The DUMP payload of a body of kind `kind`.
fn payload(kind: u8, body: Vec<u8>) -> Vec<u8> {
    let mut out = body;
    // The footer: kind, version, checksum.
    out.reserve(1 + 2 + 4);
    out.push(kind);
    out.extend_from_slice(&PAYLOAD_VERSION.to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The body of a collection's payload.
fn collection_body(elements: &[(Bytes, Bytes)]) -> Vec<u8> {
    let bytes: usize = elements.iter().map(|(n, v)| 8 + n.len() + v.len()).sum();
    let mut body = Vec::with_capacity(4 + bytes);
    body.extend_from_slice(&(elements.len() as u32).to_le_bytes());
    for (name, value) in elements {
        for part in [name, value] {
            body.extend_from_slice(&(part.len() as u32).to_le_bytes());
            body.extend_from_slice(part);
        }
    }
    body
}

/// The next `n` bytes of `body`, if it has them.
fn take<'a>(body: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, rest) = (body.get(..n)?, body.get(n..)?);
    *body = rest;
    Some(head)
}

/// The next u32-length-prefixed part of `body`.
fn part(body: &mut &[u8]) -> Option<Bytes> {
    let len = u32::from_le_bytes(take(body, 4)?.try_into().ok()?) as usize;
    Some(Bytes::copy_from_slice(take(body, len)?))
}

/// A collection body's elements, if well formed: every length inside the body, nothing after.
fn elements_of(mut body: &[u8]) -> Option<Vec<(Bytes, Bytes)>> {
    let count = u32::from_le_bytes(take(&mut body, 4)?.try_into().ok()?) as usize;
    // Each element takes at least 8 bytes: a count past that is a lie, not an allocation.
    let mut elements = Vec::with_capacity(count.min(body.len() / 8));
    for _ in 0..count {
        elements.push((part(&mut body)?, part(&mut body)?));
    }
    body.is_empty().then_some(elements)
}

/// What a payload holds, if it is one of ours, whole.
fn decode(payload: &[u8]) -> Option<Dumped<'_>> {
    let body_len = payload.len().checked_sub(4)?;
    let (body, crc) = payload.split_at(body_len);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return None;
    }
    let value_len = body.len().checked_sub(3)?;
    let (value, footer) = body.split_at(value_len);
    if u16::from_le_bytes([footer[1], footer[2]]) != PAYLOAD_VERSION {
        return None;
    }
    if footer[0] == KIND_STRING {
        return Some(Dumped::String(value));
    }
    let of = type_of_byte(footer[0])?;
    let elements = elements_of(value)?;
    // A list's element names are positions, which pushes read back and peers check.
    let positions = |elements: &[(Bytes, Bytes)]| elements.iter().all(|(name, _)| Position::from_bytes(name).is_ok());
    (of != CollectionType::List || positions(&elements)).then_some(Dumped::Collection(of, elements))
}

/// `DUMP key`
pub fn dump(call: &mut Call<'_, '_>) {
    let (key, now_ms) = (call.args.get(1), call.now_ms());
    if let Some(found) = call.shell.store().collection(key, now_ms) {
        let elements = super::collections::all(call, key, &found);
        let body = collection_body(&elements);
        if call.reply_too_large(body.len()) {
            return;
        }
        return call.reply.bulk(&payload(type_byte(found.header.of), body));
    }
    match call.shell.store().get_value(key, now_ms) {
        Some(value) => call.reply.bulk(&payload(KIND_STRING, value.to_vec())),
        None => call.reply.null(),
    }
}

/// `RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]`
pub fn restore(call: &mut Call<'_, '_>) {
    let key = call.args.get(1);
    let (mut replace, mut absolute) = (false, false);
    let mut i = 4;
    while i < call.args.len() {
        let option = call.args.get(i).to_ascii_uppercase();
        let argument = (i + 1 < call.args.len()).then(|| parse_int(call.args.get(i + 1)));
        match (option.as_slice(), argument) {
            (b"REPLACE", _) => replace = true,
            (b"ABSTTL", _) => absolute = true,
            (b"IDLETIME", Some(idle)) => {
                if idle.is_none_or(|idle| idle < 0) {
                    return call.reply.error("ERR Invalid IDLETIME value, must be >= 0");
                }
                i += 1;
            }
            (b"FREQ", Some(freq)) => {
                if freq.is_none_or(|freq| !(0..=255).contains(&freq)) {
                    return call.reply.error("ERR Invalid FREQ value, must be >= 0 and <= 255");
                }
                i += 1;
            }
            _ => return call.reply.error("ERR syntax error"),
        }
        i += 1;
    }
    let ttl = match parse_int(call.args.get(2)) {
        Some(ttl) if ttl >= 0 => ttl as u64,
        Some(_) => return call.reply.error("ERR Invalid TTL value, must be >= 0"),
        None => return call.reply.error(super::NOT_AN_INTEGER),
    };
    let Some(dumped) = decode(call.args.get(3)) else {
        return call.reply.error("ERR DUMP payload version or checksum are wrong");
    };
    let now_ms = call.now_ms();
    let deadline = match (ttl, absolute) {
        (0, _) => None,
        (at, true) => Some(at),
        (ms, false) => Some(now_ms.saturating_add(ms)),
    };
    let expired = deadline.is_some_and(|at| at <= now_ms);
    let value = match dumped {
        Dumped::String(value) => value,
        Dumped::Collection(of, elements) => return restore_collection(call, (of, elements), deadline, replace),
    };
    if !call.within_bounds(key, Some(value)) {
        return;
    }
    let restored = call.update(key, |local| match (local.live().is_some(), replace, expired) {
        (true, false, _) => Decision::Keep(false),
        // Already past its deadline: restored and gone at once, as in Redis.
        (true, true, true) => Decision::Write(local.value(None, None), true),
        (false, _, true) => Decision::Keep(true),
        _ => Decision::Write(local.value(Some(value), deadline), true),
    });
    match restored {
        Some(true) => call.reply.simple("OK"),
        Some(false) => call.reply.error("BUSYKEY Target key name already exists."),
        None => {}
    }
}

/// RESTORE of a collection: written as its STORE forms write one (what the key held replaced),
/// then given its deadline; one already past it is restored and gone at once, as in Redis.
fn restore_collection(
    call: &mut Call<'_, '_>,
    (of, elements): (CollectionType, Vec<(Bytes, Bytes)>),
    deadline: Option<u64>,
    replace: bool,
) {
    let key = call.args.get(1);
    if !call.within_bounds(key, None) || !elements.iter().all(|(name, value)| call.within_bounds(name, Some(value))) {
        return;
    }
    let now_ms = call.now_ms();
    if super::collections::type_name(call.shell.store(), key, now_ms) != "none" && !replace {
        return call.reply.error("BUSYKEY Target key name already exists.");
    }
    let expired = deadline.is_some_and(|at| at <= now_ms);
    let elements = if expired { Vec::new() } else { elements };
    if super::collections::store_members(call, key, of, elements).is_none() {
        return;
    }
    if let Some(deadline) = deadline.filter(|_| !expired) {
        let given = call.update(key, |local| match super::expire::with_deadline(local, Some(deadline)) {
            Some(record) => Decision::Write(record, ()),
            None => Decision::Keep(()),
        });
        if given.is_none() {
            return;
        }
    }
    call.reply.simple("OK");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_round_trips_and_any_damage_is_refused() {
        for value in [&b""[..], b"v", &[0xff; 300]] {
            assert_eq!(decode(&payload(KIND_STRING, value.to_vec())), Some(Dumped::String(value)));
        }
        let elements = vec![(Bytes::from_static(b"f"), Bytes::from_static(b"v")), (Bytes::new(), Bytes::new())];
        let hash = payload(type_byte(CollectionType::Hash), collection_body(&elements));
        assert_eq!(decode(&hash), Some(Dumped::Collection(CollectionType::Hash, elements)));
        for good in [payload(KIND_STRING, b"value".to_vec()), hash] {
            for i in 0..good.len() {
                let mut bad = good.clone();
                bad[i] ^= 1;
                assert_eq!(decode(&bad), None, "a flipped bit at {i}");
            }
            assert_eq!(decode(&good[..3]), None);
        }
        assert_eq!(decode(b""), None);
    }

    #[test]
    fn a_collection_body_whose_lengths_lie_is_refused_without_allocating_for_them() {
        let mut lying = u32::MAX.to_le_bytes().to_vec();
        lying.extend_from_slice(&[1, 0, 0, 0, b'f']);
        assert_eq!(elements_of(&lying), None);
        let mut past_end = 1u32.to_le_bytes().to_vec();
        past_end.extend_from_slice(&[9, 0, 0, 0, b'f']);
        assert_eq!(elements_of(&past_end), None);
        let mut trailing = collection_body(&[(Bytes::from_static(b"m"), Bytes::new())]);
        trailing.push(0);
        assert_eq!(elements_of(&trailing), None);
    }

    #[test]
    fn a_list_payload_must_name_its_elements_by_positions() {
        let list = type_byte(CollectionType::List);
        let at = Position::pushed(None, true, kvs_proto::NodeId(1), 1);
        let good = vec![(Bytes::copy_from_slice(at.as_bytes()), Bytes::from_static(b"v"))];
        assert!(decode(&payload(list, collection_body(&good))).is_some());
        let bad = vec![(Bytes::from_static(b"not a position"), Bytes::from_static(b"v"))];
        assert_eq!(decode(&payload(list, collection_body(&bad))), None);
    }
}
