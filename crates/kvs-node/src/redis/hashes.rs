//! Hash commands: fields are elements of an observed-remove map, each field's value the newest
//! surviving add's (see [`kvs_store::collection`]).

use super::collections::{self, Change, NotIncremented};
use super::{bulk_cost, parse_int, wrong_arity, Call};
use bytes::Bytes;
use kvs_store::collection::element::Number;
use kvs_store::collection::CollectionType;

const HASH: CollectionType = CollectionType::Hash;

/// `HSET key field value [field value ...]`: how many fields were new.
pub fn hset(call: &mut Call<'_, '_>) {
    if let Some(new) = set_fields(call, "hset") {
        call.reply.integer(new as i64);
    }
}

/// `HMSET key field value [field value ...]`
pub fn hmset(call: &mut Call<'_, '_>) {
    if set_fields(call, "hmset").is_some() {
        call.reply.simple("OK");
    }
}

/// Sets the field-value pairs after the key; how many fields were new, `None` once answered.
fn set_fields(call: &mut Call<'_, '_>, name: &str) -> Option<usize> {
    let args = call.args;
    if args.len() < 4 || !args.len().is_multiple_of(2) {
        wrong_arity(call.reply, name);
        return None;
    }
    let key = args.get(1);
    let pairs: Vec<(&[u8], &[u8])> = args.iter().skip(2).step_by(2).zip(args.iter().skip(3).step_by(2)).collect();
    if !call.within_bounds(key, None) || !pairs.iter().all(|(field, value)| call.within_bounds(field, Some(value))) {
        return None;
    }
    let changes = pairs.iter().map(|(field, value)| (*field, Change::Add(Bytes::copy_from_slice(value)))).collect();
    let before = collections::write(call, key, HASH, changes)?;
    Some(before.iter().filter(|seen| seen.is_none()).count())
}

/// `HSETNX key field value`
pub fn hsetnx(call: &mut Call<'_, '_>) {
    let (key, field, value) = (call.args.get(1), call.args.get(2), call.args.get(3));
    if !call.within_bounds(key, None) || !call.within_bounds(field, Some(value)) {
        return;
    }
    let mut decide =
        |_: usize, seen: Option<&Bytes>| seen.is_none().then(|| Change::Add(Bytes::copy_from_slice(value)));
    if let Some(before) = collections::write_decided(call, key, HASH, &[field], &mut decide) {
        call.reply.integer(i64::from(before[0].is_none()));
    }
}

/// `HGET key field`
pub fn hget(call: &mut Call<'_, '_>) {
    let (key, field) = (call.args.get(1), call.args.get(2));
    let Ok(found) = collections::find(call, key, HASH) else { return };
    let value = found.and_then(|found| collections::value(call, key, &found, field));
    call.reply.optional_bulk(value.as_deref());
}

/// `HMGET key field [field ...]`
pub fn hmget(call: &mut Call<'_, '_>) {
    let key = call.args.get(1);
    let Ok(found) = collections::find(call, key, HASH) else { return };
    let values: Vec<Option<Bytes>> = call
        .args
        .iter()
        .skip(2)
        .map(|field| found.as_ref().and_then(|found| collections::value(call, key, found, field)))
        .collect();
    if call.reply_too_large(values.iter().map(|v| bulk_cost(v.as_ref().map_or(0, Bytes::len))).sum()) {
        return;
    }
    call.reply.array(values.len());
    for value in &values {
        call.reply.optional_bulk(value.as_deref());
    }
}

/// `HDEL key field [field ...]`: how many were there.
pub fn hdel(call: &mut Call<'_, '_>) {
    let args = call.args;
    let key = args.get(1);
    let changes = args.iter().skip(2).map(|field| (field, Change::Remove)).collect();
    if let Some(before) = collections::write(call, key, HASH, changes) {
        call.reply.integer(before.iter().filter(|seen| seen.is_some()).count() as i64);
    }
}

/// `HLEN key`
pub fn hlen(call: &mut Call<'_, '_>) {
    collections::reply_len(call, HASH);
}

/// `HEXISTS key field`
pub fn hexists(call: &mut Call<'_, '_>) {
    collections::reply_contains(call, HASH);
}

/// `HSTRLEN key field`
pub fn hstrlen(call: &mut Call<'_, '_>) {
    let (key, field) = (call.args.get(1), call.args.get(2));
    let Ok(found) = collections::find(call, key, HASH) else { return };
    let value = found.and_then(|found| collections::value(call, key, &found, field));
    call.reply.integer(value.map_or(0, |v| v.len() as i64));
}

/// What HGETALL, HKEYS and HVALS list.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Listing {
    Both,
    Fields,
    Values,
}

fn list(call: &mut Call<'_, '_>, listing: Listing) {
    let key = call.args.get(1);
    let Ok(found) = collections::find(call, key, HASH) else { return };
    let pairs = found.map(|found| collections::all(call, key, &found)).unwrap_or_default();
    let cost: usize = pairs
        .iter()
        .map(|(field, value)| match listing {
            Listing::Both => bulk_cost(field.len()) + bulk_cost(value.len()),
            Listing::Fields => bulk_cost(field.len()),
            Listing::Values => bulk_cost(value.len()),
        })
        .sum();
    if call.reply_too_large(cost) {
        return;
    }
    match listing {
        Listing::Both => call.reply.map(pairs.len()),
        _ => call.reply.array(pairs.len()),
    }
    for (field, value) in &pairs {
        if listing != Listing::Values {
            call.reply.bulk(field);
        }
        if listing != Listing::Fields {
            call.reply.bulk(value);
        }
    }
}

/// `HGETALL key`
pub fn hgetall(call: &mut Call<'_, '_>) {
    list(call, Listing::Both);
}

/// `HKEYS key`
pub fn hkeys(call: &mut Call<'_, '_>) {
    list(call, Listing::Fields);
}

/// `HVALS key`
pub fn hvals(call: &mut Call<'_, '_>) {
    list(call, Listing::Values);
}

/// `HRANDFIELD key [count [WITHVALUES]]`
pub fn hrandfield(call: &mut Call<'_, '_>) {
    let key = call.args.get(1);
    let count = match call.args.len() {
        2 => None,
        3 | 4 => match parse_int(call.args.get(2)) {
            Some(count) => Some(count),
            None => return call.reply.error(super::NOT_AN_INTEGER),
        },
        _ => return call.reply.error("ERR syntax error"),
    };
    let with_values = call.args.len() == 4;
    if with_values && !call.args.get(3).eq_ignore_ascii_case(b"withvalues") {
        return call.reply.error("ERR syntax error");
    }
    let Ok(found) = collections::find(call, key, HASH) else { return };
    let pairs = found.map(|found| collections::all(call, key, &found)).unwrap_or_default();
    super::sets::reply_random(call, &pairs, count, with_values);
}

/// `HINCRBY key field increment`: concurrent increments on every node all count; an HSET newer
/// than the value they built on resets them.
pub fn hincrby(call: &mut Call<'_, '_>) {
    let (key, field) = (call.args.get(1), call.args.get(2));
    let Some(delta) = parse_int(call.args.get(3)) else {
        return call.reply.error(super::NOT_AN_INTEGER);
    };
    if !call.within_bounds(key, None) || !call.within_bounds(field, None) {
        return;
    }
    let check = |before: Option<Option<Number>>| match before {
        None => Ok(Number::Int(delta)),
        Some(Some(Number::Int(n))) => n.checked_add(delta).map(Number::Int).ok_or(NotIncremented::Overflow),
        Some(_) => Err(NotIncremented::NotANumber),
    };
    match collections::increment(call, key, HASH, field, (delta, 0.0), check) {
        Some(Ok(Number::Int(n))) => call.reply.integer(n),
        Some(Ok(Number::Float(_))) | Some(Err(NotIncremented::NotANumber)) => {
            call.reply.error("ERR hash value is not an integer")
        }
        Some(Err(NotIncremented::Overflow)) => call.reply.error("ERR increment or decrement would overflow"),
        None => {}
    }
}

/// `HINCRBYFLOAT key field increment`: as HINCRBY, in floating point.
pub fn hincrbyfloat(call: &mut Call<'_, '_>) {
    let (key, field) = (call.args.get(1), call.args.get(2));
    let Some(delta) = super::counters::parse_float(call.args.get(3)) else {
        return call.reply.error("ERR value is not a valid float");
    };
    if !call.within_bounds(key, None) || !call.within_bounds(field, None) {
        return;
    }
    let check = |before: Option<Option<Number>>| {
        let current = match before {
            None => 0.0,
            Some(Some(Number::Int(n))) => n as f64,
            Some(Some(Number::Float(f))) => f,
            Some(None) => return Err(NotIncremented::NotANumber),
        };
        let sum = current + delta;
        if sum.is_finite() {
            Ok(Number::Float(sum))
        } else {
            Err(NotIncremented::Overflow)
        }
    };
    match collections::increment(call, key, HASH, field, (0, delta), check) {
        Some(Ok(Number::Float(f))) => call.reply.bulk(kvs_store::collection::format_float(f).as_bytes()),
        Some(Ok(Number::Int(n))) => call.reply.bulk(n.to_string().as_bytes()),
        Some(Err(NotIncremented::NotANumber)) => call.reply.error("ERR hash value is not a float"),
        Some(Err(NotIncremented::Overflow)) => call.reply.error("ERR increment would produce NaN or Infinity"),
        None => {}
    }
}
