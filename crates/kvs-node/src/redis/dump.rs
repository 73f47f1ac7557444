//! DUMP and RESTORE with a payload of kvs's own: a value's bytes, then a kind byte, the payload
//! format's version (u16, little-endian) and a CRC32 of everything before it (u32, little-endian),
//! so a payload damaged on the way, or made by another Redis, is refused as Redis refuses one.
//!
//! RESTORE writes an ordinary versioned value (a counter's DUMP restores as its decimal value,
//! which INCR turns back into a counter); REPLACE, ABSTTL, IDLETIME and FREQ are taken as Redis
//! takes them (the last two are checked and otherwise change nothing: kvs keeps no access times).

use super::{parse_int, Call};
use kvs_store::local::Decision;

/// The payload format this code writes and reads.
const PAYLOAD_VERSION: u16 = 1;
/// The only kind of value there is yet: a string.
const KIND_STRING: u8 = 0;
/// Kind, version and checksum.
const FOOTER_BYTES: usize = 1 + 2 + 4;

/// The DUMP payload of `value`.
fn payload(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + FOOTER_BYTES);
    out.extend_from_slice(value);
    out.push(KIND_STRING);
    out.extend_from_slice(&PAYLOAD_VERSION.to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The value a payload holds, if it is one of ours, whole.
fn value_of(payload: &[u8]) -> Option<&[u8]> {
    let body_len = payload.len().checked_sub(4)?;
    let (body, crc) = payload.split_at(body_len);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return None;
    }
    let value_len = body.len().checked_sub(3)?;
    let (value, footer) = body.split_at(value_len);
    (footer[0] == KIND_STRING && u16::from_le_bytes([footer[1], footer[2]]) == PAYLOAD_VERSION).then_some(value)
}

/// `DUMP key`
pub fn dump(call: &mut Call<'_, '_>) {
    let now_ms = call.now_ms();
    match call.shell.store().get_value(call.args.get(1), now_ms) {
        Some(value) => call.reply.bulk(&payload(&value)),
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
    let Some(value) = value_of(call.args.get(3)) else {
        return call.reply.error("ERR DUMP payload version or checksum are wrong");
    };
    if !call.within_bounds(key, Some(value)) {
        return;
    }
    let now_ms = call.now_ms();
    let deadline = match (ttl, absolute) {
        (0, _) => None,
        (at, true) => Some(at),
        (ms, false) => Some(now_ms.saturating_add(ms)),
    };
    let expired = deadline.is_some_and(|at| at <= now_ms);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_round_trips_and_any_damage_is_refused() {
        for value in [&b""[..], b"v", &[0xff; 300]] {
            assert_eq!(value_of(&payload(value)), Some(value));
        }
        let good = payload(b"value");
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 1;
            assert_eq!(value_of(&bad), None, "a flipped bit at {i}");
        }
        assert_eq!(value_of(&good[..3]), None);
        assert_eq!(value_of(b""), None);
    }
}
