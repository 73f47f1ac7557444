//! Bitmaps on strings: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO, as
//! Redis 7.0 answers them (bit 0 is the most significant bit of the first byte).
//!
//! A write (SETBIT, BITFIELD's SET and INCRBY, BITOP's destination) rewrites the whole string
//! through the write path, like APPEND and SETRANGE: concurrent writes to one key on two nodes
//! converge on the last writer's string (LWW on the hybrid clock), so a bit set concurrently on
//! another node may be lost. A bitwise merge would need a value kind of its own; for a set of flags
//! written from several nodes, use a set or separate keys.

use super::{parse_int, Call, NOT_AN_INTEGER};
use kvs_store::local::Decision;

/// Largest bit offset Redis accepts (a 512 MB string); a node's value bound is the tighter limit.
const MAX_BIT_OFFSET: i64 = (512 * 1024 * 1024 * 8) - 1;

/// The bit offset argument, or Redis's error.
fn bit_offset(arg: &[u8]) -> Result<u64, &'static str> {
    match parse_int(arg) {
        Some(offset) if (0..=MAX_BIT_OFFSET).contains(&offset) => Ok(offset as u64),
        _ => Err("ERR bit offset is not an integer or out of range"),
    }
}

fn get_bit(bytes: &[u8], bit: u64) -> u8 {
    let byte = (bit / 8) as usize;
    bytes.get(byte).map_or(0, |b| (b >> (7 - bit % 8)) & 1)
}

fn set_bit(bytes: &mut Vec<u8>, bit: u64, on: bool) {
    let byte = (bit / 8) as usize;
    if bytes.len() <= byte {
        bytes.resize(byte + 1, 0);
    }
    let mask = 1 << (7 - bit % 8);
    if on {
        bytes[byte] |= mask;
    } else {
        bytes[byte] &= !mask;
    }
}

/// Whether a string of `bytes` bytes fits the node's value bound; replies with Redis's error if not.
fn fits(call: &mut Call<'_, '_>, bytes: u64) -> bool {
    if bytes > call.shell.config.limits.max_value_bytes as u64 {
        call.reply.error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        return false;
    }
    true
}

/// `SETBIT key offset value`: the bit's old value.
pub fn setbit(call: &mut Call<'_, '_>) {
    let key = call.args.get(1);
    let offset = match bit_offset(call.args.get(2)) {
        Ok(offset) => offset,
        Err(error) => return call.reply.error(error),
    };
    let on = match call.args.get(3) {
        b"1" => true,
        b"0" => false,
        _ => return call.reply.error("ERR bit is not an integer or out of range"),
    };
    if !call.within_bounds(key, None) || !fits(call, offset / 8 + 1) {
        return;
    }
    let old = call.update(key, |local| {
        let mut value = local.bytes().unwrap_or_default();
        let old = get_bit(&value, offset);
        if old == u8::from(on) && value.len() as u64 > offset / 8 {
            return Decision::Keep(old);
        }
        set_bit(&mut value, offset, on);
        Decision::Write(local.value(Some(&value), local.deadline_ms()), old)
    });
    if let Some(old) = old {
        call.reply.integer(i64::from(old));
    }
}

/// `GETBIT key offset`
pub fn getbit(call: &mut Call<'_, '_>) {
    let offset = match bit_offset(call.args.get(2)) {
        Ok(offset) => offset,
        Err(error) => return call.reply.error(error),
    };
    let now_ms = call.now_ms();
    let bit =
        call.shell.store().with_value(call.args.get(1), now_ms, |value| get_bit(value.unwrap_or_default(), offset));
    call.reply.integer(i64::from(bit));
}

/// A range of a string given in bytes or bits, negative ends counting from the end; `None` when
/// it holds nothing. Returns the inclusive bit range.
fn bit_range(len_bytes: usize, start: i64, end: i64, in_bits: bool) -> Option<(u64, u64)> {
    let total = if in_bits { len_bytes as i64 * 8 } else { len_bytes as i64 };
    let clamp = |i: i64| if i < 0 { (total + i).max(0) } else { i };
    let (start, end) = (clamp(start), clamp(end).min(total - 1));
    if total == 0 || start > end {
        return None;
    }
    Some(if in_bits { (start as u64, end as u64) } else { (start as u64 * 8, end as u64 * 8 + 7) })
}

/// The optional `start end [BYTE|BIT]` of BITCOUNT and BITPOS, from argument `at`: the range, and
/// whether an end was given; `Err` with the reply when the arguments are wrong.
fn range_args(call: &Call<'_, '_>, at: usize) -> Result<(Option<i64>, Option<i64>, bool), &'static str> {
    let argc = call.args.len();
    let number = |i: usize| parse_int(call.args.get(i)).ok_or(NOT_AN_INTEGER);
    let start = if argc > at { Some(number(at)?) } else { None };
    let end = if argc > at + 1 { Some(number(at + 1)?) } else { None };
    let in_bits = match argc {
        n if n > at + 3 => return Err("ERR syntax error"),
        n if n == at + 3 => match call.args.get(at + 2).to_ascii_uppercase().as_slice() {
            b"BIT" => true,
            b"BYTE" => false,
            _ => return Err("ERR syntax error"),
        },
        _ => false,
    };
    Ok((start, end, in_bits))
}

/// `BITCOUNT key [start end [BYTE|BIT]]`
pub fn bitcount(call: &mut Call<'_, '_>) {
    let (start, end, in_bits) = match range_args(call, 2) {
        Ok(args) => args,
        Err(error) => return call.reply.error(error),
    };
    if start.is_some() && end.is_none() {
        return call.reply.error("ERR syntax error");
    }
    let now_ms = call.now_ms();
    let count = call.shell.store().with_value(call.args.get(1), now_ms, |value| {
        let value = value.unwrap_or_default();
        let Some((first, last)) = bit_range(value.len(), start.unwrap_or(0), end.unwrap_or(-1), in_bits) else {
            return 0;
        };
        (first..=last).map(|bit| u64::from(get_bit(value, bit))).sum::<u64>()
    });
    call.reply.integer(count as i64);
}

/// `BITPOS key bit [start [end [BYTE|BIT]]]`
pub fn bitpos(call: &mut Call<'_, '_>) {
    let wanted = match call.args.get(2) {
        b"1" => 1,
        b"0" => 0,
        _ => return call.reply.error("ERR The bit argument must be 1 or 0."),
    };
    let (start, end, in_bits) = match range_args(call, 3) {
        Ok(args) => args,
        Err(error) => return call.reply.error(error),
    };
    let now_ms = call.now_ms();
    let position = call.shell.store().with_value(call.args.get(1), now_ms, |value| {
        let Some(value) = value else { return if wanted == 1 { -1 } else { 0 } };
        let Some((first, last)) = bit_range(value.len(), start.unwrap_or(0), end.unwrap_or(-1), in_bits) else {
            return -1;
        };
        match (first..=last).find(|&bit| get_bit(value, bit) == wanted) {
            Some(bit) => bit as i64,
            // Looking for a clear bit with no end given: the string continues with zeros.
            None if wanted == 0 && end.is_none() => value.len() as i64 * 8,
            None => -1,
        }
    });
    call.reply.integer(position);
}

/// `BITOP AND|OR|XOR|NOT destkey key [key ...]`: the destination's length.
pub fn bitop(call: &mut Call<'_, '_>) {
    let op = call.args.get(1).to_ascii_uppercase();
    if !matches!(op.as_slice(), b"AND" | b"OR" | b"XOR" | b"NOT") {
        return call.reply.error("ERR syntax error");
    }
    if op == b"NOT" && call.args.len() != 4 {
        return call.reply.error("ERR BITOP NOT must be called with a single source key.");
    }
    let dest = call.args.get(2);
    let now_ms = call.now_ms();
    let sources: Vec<Vec<u8>> = call
        .args
        .iter()
        .skip(3)
        .map(|key| call.shell.store().get_value(key, now_ms).map(|v| v.to_vec()).unwrap_or_default())
        .collect();
    let len = sources.iter().map(Vec::len).max().unwrap_or(0);
    let result: Vec<u8> = (0..len)
        .map(|i| {
            let mut bytes = sources.iter().map(|s| s.get(i).copied().unwrap_or(0));
            let first = bytes.next().unwrap_or(0);
            match op.as_slice() {
                b"AND" => bytes.fold(first, |a, b| a & b),
                b"OR" => bytes.fold(first, |a, b| a | b),
                b"XOR" => bytes.fold(first, |a, b| a ^ b),
                _ => !first,
            }
        })
        .collect();
    if !call.within_bounds(dest, Some(&result)) {
        return;
    }
    let written = call.update(dest, |local| match (result.is_empty(), local.bytes().is_some()) {
        // An empty result deletes the destination, as in Redis.
        (true, true) => Decision::Write(local.value(None, None), ()),
        (true, false) => Decision::Keep(()),
        (false, _) => Decision::Write(local.value(Some(&result), None), ()),
    });
    if written.is_some() {
        call.reply.integer(len as i64);
    }
}

/// What BITFIELD does when a SET or INCRBY leaves the field's range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// A field's type: signed or not, and its width in bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Field {
    signed: bool,
    bits: u32,
}

/// One BITFIELD operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Get(Field, u64),
    Set(Field, u64, i64, Overflow),
    IncrBy(Field, u64, i64, Overflow),
}

fn field_type(arg: &[u8]) -> Option<Field> {
    let (sign, width) = arg.split_first()?;
    let signed = match sign.to_ascii_lowercase() {
        b'i' => true,
        b'u' => false,
        _ => return None,
    };
    let bits: u32 = std::str::from_utf8(width).ok()?.parse().ok()?;
    let max = if signed { 64 } else { 63 };
    (1..=max).contains(&bits).then_some(Field { signed, bits })
}

/// A field's offset: a bit number, or `#n` for the n-th field of this width.
fn field_offset(arg: &[u8], field: Field) -> Option<u64> {
    let (multiply, number) = match arg.strip_prefix(b"#") {
        Some(rest) => (true, rest),
        None => (false, arg),
    };
    let n = parse_int(number).filter(|&n| n >= 0)? as u64;
    let offset = if multiply { n.checked_mul(u64::from(field.bits))? } else { n };
    (offset + u64::from(field.bits) <= MAX_BIT_OFFSET as u64 + 1).then_some(offset)
}

const BAD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";

fn parse_ops(call: &Call<'_, '_>, read_only: bool) -> Result<Vec<Op>, &'static str> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut i = 2;
    let argc = call.args.len();
    while i < argc {
        let word = call.args.get(i).to_ascii_uppercase();
        let needs = match word.as_slice() {
            b"GET" => 2,
            b"SET" | b"INCRBY" => 3,
            b"OVERFLOW" => 1,
            _ => return Err("ERR syntax error"),
        };
        if i + needs >= argc {
            return Err("ERR syntax error");
        }
        if word.as_slice() == b"OVERFLOW" {
            overflow = match call.args.get(i + 1).to_ascii_uppercase().as_slice() {
                b"WRAP" => Overflow::Wrap,
                b"SAT" => Overflow::Sat,
                b"FAIL" => Overflow::Fail,
                _ => return Err("ERR Invalid OVERFLOW type specified"),
            };
            i += 2;
            continue;
        }
        if read_only && word.as_slice() != b"GET" {
            return Err("ERR BITFIELD_RO only supports the GET subcommand");
        }
        let field = field_type(call.args.get(i + 1)).ok_or(BAD_TYPE)?;
        let offset = field_offset(call.args.get(i + 2), field).ok_or(BAD_OFFSET)?;
        ops.push(match word.as_slice() {
            b"GET" => Op::Get(field, offset),
            _ => {
                let value = parse_int(call.args.get(i + 3)).ok_or(NOT_AN_INTEGER)?;
                if word.as_slice() == b"SET" {
                    Op::Set(field, offset, value, overflow)
                } else {
                    Op::IncrBy(field, offset, value, overflow)
                }
            }
        });
        i += needs + 1;
    }
    Ok(ops)
}

/// The field's value at `offset`, sign-extended for a signed field.
fn read_field(bytes: &[u8], field: Field, offset: u64) -> i64 {
    let raw = (0..u64::from(field.bits)).fold(0u64, |v, i| (v << 1) | u64::from(get_bit(bytes, offset + i)));
    if field.signed && field.bits < 64 && raw >> (field.bits - 1) & 1 == 1 {
        (raw | (u64::MAX << field.bits)) as i64
    } else {
        raw as i64
    }
}

fn write_field(bytes: &mut Vec<u8>, field: Field, offset: u64, value: i64) {
    let raw = value as u64;
    for i in 0..u64::from(field.bits) {
        let bit = (raw >> (u64::from(field.bits) - 1 - i)) & 1;
        set_bit(bytes, offset + i, bit == 1);
    }
}

/// `value` brought into the field's range by `overflow`; `None` when it fails.
fn in_range(field: Field, value: i128, overflow: Overflow) -> Option<i64> {
    let (min, max): (i128, i128) = if field.signed {
        (-(1i128 << (field.bits - 1)), (1i128 << (field.bits - 1)) - 1)
    } else {
        (0, (1i128 << field.bits) - 1)
    };
    if (min..=max).contains(&value) {
        return Some(value as i64);
    }
    match overflow {
        Overflow::Fail => None,
        Overflow::Sat => Some(if value > max { max } else { min } as i64),
        Overflow::Wrap => {
            let span = 1i128 << field.bits;
            let wrapped = value.rem_euclid(span);
            Some(if field.signed && wrapped > max { wrapped - span } else { wrapped } as i64)
        }
    }
}

/// Runs `ops` on `bytes`: each one's answer (`None`: a failed overflow), and whether any wrote.
fn run_ops(bytes: &mut Vec<u8>, ops: &[Op]) -> (Vec<Option<i64>>, bool) {
    let mut wrote = false;
    let answers = ops
        .iter()
        .map(|op| match *op {
            Op::Get(field, offset) => Some(read_field(bytes, field, offset)),
            Op::Set(field, offset, value, overflow) => {
                let old = read_field(bytes, field, offset);
                let new = in_range(field, i128::from(value), overflow)?;
                write_field(bytes, field, offset, new);
                wrote = true;
                Some(old)
            }
            Op::IncrBy(field, offset, delta, overflow) => {
                let old = read_field(bytes, field, offset);
                let new = in_range(field, i128::from(old) + i128::from(delta), overflow)?;
                write_field(bytes, field, offset, new);
                wrote = true;
                Some(new)
            }
        })
        .collect();
    (answers, wrote)
}

/// The bytes a string must have for every field `ops` touch.
fn needed_bytes(ops: &[Op]) -> u64 {
    let end = |field: Field, offset: u64| (offset + u64::from(field.bits)).div_ceil(8);
    ops.iter()
        .map(|op| match *op {
            Op::Get(..) => 0,
            Op::Set(field, offset, ..) | Op::IncrBy(field, offset, ..) => end(field, offset),
        })
        .max()
        .unwrap_or(0)
}

fn reply_answers(call: &mut Call<'_, '_>, answers: Vec<Option<i64>>) {
    call.reply.array(answers.len());
    for answer in answers {
        match answer {
            Some(value) => call.reply.integer(value),
            None => call.reply.null(),
        }
    }
}

/// `BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset increment]
/// [OVERFLOW WRAP|SAT|FAIL] ...`
pub fn bitfield(call: &mut Call<'_, '_>) {
    let ops = match parse_ops(call, false) {
        Ok(ops) => ops,
        Err(error) => return call.reply.error(error),
    };
    let key = call.args.get(1);
    if ops.iter().all(|op| matches!(op, Op::Get(..))) {
        return read_only(call, &ops);
    }
    if !call.within_bounds(key, None) || !fits(call, needed_bytes(&ops)) {
        return;
    }
    let answers = call.update(key, |local| {
        let mut value = local.bytes().unwrap_or_default();
        let (answers, wrote) = run_ops(&mut value, &ops);
        match wrote {
            true => Decision::Write(local.value(Some(&value), local.deadline_ms()), answers),
            false => Decision::Keep(answers),
        }
    });
    if let Some(answers) = answers {
        reply_answers(call, answers);
    }
}

/// `BITFIELD_RO key [GET type offset] ...`
pub fn bitfield_ro(call: &mut Call<'_, '_>) {
    match parse_ops(call, true) {
        Ok(ops) => read_only(call, &ops),
        Err(error) => call.reply.error(error),
    }
}

fn read_only(call: &mut Call<'_, '_>, ops: &[Op]) {
    let now_ms = call.now_ms();
    let mut value = call.shell.store().get_value(call.args.get(1), now_ms).map(|v| v.to_vec()).unwrap_or_default();
    let (answers, _) = run_ops(&mut value, ops);
    reply_answers(call, answers);
}

#[cfg(test)]
mod tests {
    use super::*;

    const U8: Field = Field { signed: false, bits: 8 };
    const I8: Field = Field { signed: true, bits: 8 };

    #[test]
    fn fields_read_and_write_across_byte_boundaries() {
        let mut bytes = Vec::new();
        write_field(&mut bytes, Field { signed: false, bits: 5 }, 6, 0b10111);
        assert_eq!(bytes, vec![0b0000_0010, 0b1110_0000]);
        assert_eq!(read_field(&bytes, Field { signed: false, bits: 5 }, 6), 0b10111);
        assert_eq!(read_field(&bytes, Field { signed: true, bits: 5 }, 6), 0b10111 - 32);
        write_field(&mut bytes, Field { signed: true, bits: 64 }, 0, -2);
        assert_eq!(read_field(&bytes, Field { signed: true, bits: 64 }, 0), -2);
    }

    #[test]
    fn overflow_wraps_saturates_or_fails_as_redis_does() {
        assert_eq!(in_range(U8, 256, Overflow::Wrap), Some(0));
        assert_eq!(in_range(U8, -1, Overflow::Wrap), Some(255));
        assert_eq!(in_range(U8, 300, Overflow::Sat), Some(255));
        assert_eq!(in_range(U8, -5, Overflow::Sat), Some(0));
        assert_eq!(in_range(I8, 128, Overflow::Wrap), Some(-128));
        assert_eq!(in_range(I8, -129, Overflow::Sat), Some(-128));
        assert_eq!(in_range(I8, 200, Overflow::Fail), None);
        let i64_field = Field { signed: true, bits: 64 };
        assert_eq!(in_range(i64_field, i128::from(i64::MAX) + 1, Overflow::Wrap), Some(i64::MIN));
    }

    #[test]
    fn ranges_count_from_either_end_in_bytes_or_bits() {
        assert_eq!(bit_range(3, 0, -1, false), Some((0, 23)));
        assert_eq!(bit_range(3, 1, 1, false), Some((8, 15)));
        assert_eq!(bit_range(3, -2, -1, true), Some((22, 23)));
        assert_eq!(bit_range(3, 2, 1, false), None);
        assert_eq!(bit_range(0, 0, -1, false), None);
        assert_eq!(bit_range(3, -100, 100, false), Some((0, 23)));
    }
}
