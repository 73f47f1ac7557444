//! INCR, DECR, INCRBY, DECRBY: increments that add up across nodes; and INCRBYFLOAT, which does
//! not (last writer wins; see docs/how-it-works.md for why).
//!
//! An increment changes this node's contribution to the key's counter
//! ([`kvs_store::local::Local::increment`]); every node sums the contributions, so increments
//! made on different nodes at once all count.

use super::{Call, NOT_AN_INTEGER};
use kvs_store::local::{Decision, IncrementError};

/// Adds `delta` to the key's counter, replying with the new value or Redis's error.
fn add(call: &mut Call<'_, '_>, delta: i64) {
    let key = call.args.get(1);
    if !call.within_bounds(key, None) {
        return;
    }
    let result = call.update(key, |local| match local.increment(delta) {
        Ok((record, value)) => Decision::Write(record, Ok(value)),
        Err(error) => Decision::Keep(Err(error)),
    });
    match result {
        Some(Ok(value)) => call.reply.integer(value),
        Some(Err(IncrementError::NotAnInteger)) => call.reply.error(NOT_AN_INTEGER),
        Some(Err(IncrementError::Overflow)) => call.reply.error("ERR increment or decrement would overflow"),
        Some(Err(IncrementError::WrongType)) => call.reply.error(&IncrementError::WrongType.to_string()),
        None => {}
    }
}

/// `INCR key`
pub fn incr(call: &mut Call<'_, '_>) {
    add(call, 1)
}

/// `DECR key`
pub fn decr(call: &mut Call<'_, '_>) {
    add(call, -1)
}

/// `INCRBY key increment`
pub fn incrby(call: &mut Call<'_, '_>) {
    match super::parse_int(call.args.get(2)) {
        Some(delta) => add(call, delta),
        None => call.reply.error(NOT_AN_INTEGER),
    }
}

/// `DECRBY key decrement`
pub fn decrby(call: &mut Call<'_, '_>) {
    match super::parse_int(call.args.get(2)).map(i64::checked_neg) {
        Some(Some(delta)) => add(call, delta),
        Some(None) => call.reply.error("ERR decrement would overflow"),
        None => call.reply.error(NOT_AN_INTEGER),
    }
}

/// Parses a float the way Redis does: no surrounding spaces, not NaN.
pub fn parse_float(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.is_empty() || text.trim() != text {
        return None;
    }
    text.parse::<f64>().ok().filter(|f| !f.is_nan())
}

/// Formats a float as Redis's INCRBYFLOAT does: shortest exact decimal, no exponent, no
/// negative zero.
pub fn format_float(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    format!("{value}")
}

/// `INCRBYFLOAT key increment`: a read-modify-write of a plain value, last writer wins. Keeps
/// the key's deadline.
pub fn incrbyfloat(call: &mut Call<'_, '_>) {
    let key = call.args.get(1);
    let Some(delta) = parse_float(call.args.get(2)) else {
        return call.reply.error("ERR value is not a valid float");
    };
    if !call.within_bounds(key, None) {
        return;
    }
    let result = call.update(key, |local| {
        let current = match local.bytes() {
            None => 0.0,
            Some(bytes) => match parse_float(&bytes) {
                Some(value) => value,
                None => return Decision::Keep(Err("ERR value is not a valid float")),
            },
        };
        let sum = current + delta;
        if !sum.is_finite() {
            return Decision::Keep(Err("ERR increment would produce NaN or Infinity"));
        }
        let text = format_float(sum);
        Decision::Write(local.value(Some(text.as_bytes()), local.deadline_ms()), Ok(text))
    });
    match result {
        Some(Ok(text)) => call.reply.bulk(text.as_bytes()),
        Some(Err(message)) => call.reply.error(message),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_and_print_as_redis_reads_and_prints_them() {
        assert_eq!(parse_float(b"1.5"), Some(1.5));
        assert_eq!(parse_float(b"5.0e3"), Some(5000.0));
        for bad in [&b" 1"[..], b"1 ", b"", b"nan", b"abc"] {
            assert_eq!(parse_float(bad), None, "{bad:?}");
        }
        assert_eq!(format_float(10.5 + 0.1), "10.6");
        assert_eq!(format_float(17179869184.0 + 1.5), "17179869185.5");
        assert_eq!(format_float(-0.0), "0");
        assert_eq!(format_float(5000.0), "5000");
    }
}
