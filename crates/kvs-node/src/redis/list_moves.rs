//! List commands that take from one of several lists or move between two, and their blocking
//! forms. A blocking command that finds every list empty asks its session to wait (see
//! [`ListBlock`]): the session registers the keys with `crate::list_waiters`, which a push
//! applied here (by a client, or from a peer) wakes, and runs the command again; inside EXEC, or
//! once the wait timed out or CLIENT UNBLOCK ended it, the command answers null instead.

use super::collections;
use super::lists::{pop_values, push_values, reply_values, End, LIST};
use super::{parse_int, Call, NOT_AN_INTEGER};
use crate::list_waiters::Waiting;
use bytes::Bytes;
use kvs_store::databases::user_key;
use std::time::Duration;
use tokio::time::Instant;

/// A connection's blocking list command, between its runs.
#[derive(Debug, Default)]
pub struct ListBlock {
    /// Set by the command when it found nothing to take: the keys to wait on, and for how long
    /// (`None`: until woken).
    pub request: Option<(Vec<Bytes>, Option<Duration>)>,
    /// While it waits: its registration and when the wait ends.
    pub waiting: Option<(Waiting, Option<Instant>)>,
    /// The wait ended with nothing taken: by its timeout or CLIENT UNBLOCK (false), or by CLIENT
    /// UNBLOCK ... ERROR (true). The next run answers accordingly.
    pub ended: Option<bool>,
}

/// What a blocking command answers once its wait ended with nothing: null, or CLIENT UNBLOCK's
/// error. Otherwise (not ended, not in EXEC) asks the session to wait on `keys`.
fn block_or_null(call: &mut Call<'_, '_>, keys: Vec<Bytes>, timeout: Option<Duration>, null_array: bool) {
    let in_exec = call.client.transaction.unit.is_some();
    match call.client.list_block.ended {
        Some(true) => call.reply.error("UNBLOCKED client unblocked via CLIENT UNBLOCK"),
        Some(false) => null(call, null_array),
        None if in_exec => null(call, null_array),
        None => call.client.list_block.request = Some((keys, timeout)),
    }
}

fn null(call: &mut Call<'_, '_>, array: bool) {
    match array {
        true => call.reply.null_array(),
        false => call.reply.null(),
    }
}

/// A blocking command's timeout in seconds (a float; 0: none); `Err` once answered.
fn parse_timeout(call: &mut Call<'_, '_>, arg: &[u8]) -> Result<Option<Duration>, ()> {
    let seconds = std::str::from_utf8(arg).ok().and_then(|s| s.parse::<f64>().ok()).filter(|s| s.is_finite());
    match seconds {
        Some(seconds) if seconds < 0.0 => {
            call.reply.error("ERR timeout is negative");
            Err(())
        }
        Some(0.0) => Ok(None),
        Some(seconds) => match Duration::try_from_secs_f64(seconds) {
            Ok(timeout) if timeout < Duration::from_secs(u32::MAX as u64) => Ok(Some(timeout)),
            _ => {
                call.reply.error("ERR timeout is out of range");
                Err(())
            }
        },
        None => {
            call.reply.error("ERR timeout is not a float or out of range");
            Err(())
        }
    }
}

/// Moves one element from `from` of `source` to `to` of `destination`: the value, `Ok(None)`
/// when the source is empty, `Err` once an error is answered. Both sides are one unit for peers.
fn move_one(
    call: &mut Call<'_, '_>,
    source: &[u8],
    destination: &[u8],
    (from, to): (End, End),
) -> Result<Option<Bytes>, ()> {
    if !collections::gate_open(call) || !call.within_bounds(destination, None) {
        return Err(());
    }
    let Some(found) = collections::find(call, source, LIST)? else { return Ok(None) };
    // A destination of another type is refused before anything is taken.
    let target = collections::find(call, destination, LIST)?;
    collections::one_unit(call, true, |call| {
        let Some(value) = pop_values(call, source, &found, from, 1).ok_or(())?.pop() else { return Ok(None) };
        let target = match source == destination {
            true => collections::find(call, destination, LIST)?,
            false => target,
        };
        push_values(call, destination, target.as_ref(), to, std::slice::from_ref(&value)).ok_or(())?;
        Ok(Some(value))
    })
}

/// The ends of `LMOVE`'s arguments at `at` and `at + 1`; `None` once answered.
fn ends(call: &mut Call<'_, '_>, at: usize) -> Option<(End, End)> {
    match (End::parse(call.args.get(at)), End::parse(call.args.get(at + 1))) {
        (Some(from), Some(to)) => Some((from, to)),
        _ => {
            call.reply.error("ERR syntax error");
            None
        }
    }
}

fn lmove_with(call: &mut Call<'_, '_>, (from, to): (End, End), timeout: Option<Option<Duration>>) {
    let (source, destination) = (call.args.get(1), call.args.get(2));
    match move_one(call, source, destination, (from, to)) {
        Err(()) => {}
        Ok(Some(value)) => call.reply.bulk(&value),
        Ok(None) => match timeout {
            Some(timeout) => block_or_null(call, vec![Bytes::copy_from_slice(source)], timeout, false),
            None => call.reply.null(),
        },
    }
}

/// `LMOVE source destination LEFT|RIGHT LEFT|RIGHT`
pub fn lmove(call: &mut Call<'_, '_>) {
    let Some(ends) = ends(call, 3) else { return };
    lmove_with(call, ends, None);
}

/// `RPOPLPUSH source destination`
pub fn rpoplpush(call: &mut Call<'_, '_>) {
    lmove_with(call, (End::Right, End::Left), None);
}

/// `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout`
pub fn blmove(call: &mut Call<'_, '_>) {
    let Some(ends) = ends(call, 3) else { return };
    let Ok(timeout) = parse_timeout(call, call.args.get(5)) else { return };
    lmove_with(call, ends, Some(timeout));
}

/// `BRPOPLPUSH source destination timeout`
pub fn brpoplpush(call: &mut Call<'_, '_>) {
    let Ok(timeout) = parse_timeout(call, call.args.get(3)) else { return };
    lmove_with(call, (End::Right, End::Left), Some(timeout));
}

/// Pops up to `count` from `end` of the first of `keys` that holds a list: the key and values,
/// `Ok(None)` when all are empty, `Err` once an error (WRONGTYPE) is answered.
fn pop_first(
    call: &mut Call<'_, '_>,
    keys: &[Bytes],
    end: End,
    count: usize,
) -> Result<Option<(Bytes, Vec<Bytes>)>, ()> {
    for key in keys {
        if let Some(found) = collections::find(call, key, LIST)? {
            let values = pop_values(call, key, &found, end, count).ok_or(())?;
            return Ok(Some((key.clone(), values)));
        }
    }
    Ok(None)
}

fn bpop(call: &mut Call<'_, '_>, end: End) {
    let args = call.args;
    let Ok(timeout) = parse_timeout(call, args.get(args.len() - 1)) else { return };
    let keys: Vec<Bytes> = args.iter().skip(1).take(args.len() - 2).map(Bytes::copy_from_slice).collect();
    match pop_first(call, &keys, end, 1) {
        Err(()) => {}
        Ok(Some((key, values))) => {
            call.reply.array(2);
            call.reply.bulk(user_key(&key));
            call.reply.bulk(values.first().map_or(&[][..], |v| &v[..]));
        }
        Ok(None) => block_or_null(call, keys, timeout, true),
    }
}

/// `BLPOP key [key ...] timeout`
pub fn blpop(call: &mut Call<'_, '_>) {
    bpop(call, End::Left);
}

/// `BRPOP key [key ...] timeout`
pub fn brpop(call: &mut Call<'_, '_>) {
    bpop(call, End::Right);
}

/// LMPOP's arguments from `at` (the key count): keys, end and count; `None` once answered.
fn mpop_args(call: &mut Call<'_, '_>, at: usize) -> Option<(Vec<Bytes>, End, usize)> {
    let args = call.args;
    let numkeys = match parse_int(args.get(at)) {
        Some(n) if n > 0 && (n as usize) < args.len() => n as usize,
        Some(n) if n > 0 => {
            call.reply.error("ERR syntax error");
            return None;
        }
        Some(_) => {
            call.reply.error("ERR numkeys should be greater than 0");
            return None;
        }
        None => {
            call.reply.error(NOT_AN_INTEGER);
            return None;
        }
    };
    let keys: Vec<Bytes> = args.iter().skip(at + 1).take(numkeys).map(Bytes::copy_from_slice).collect();
    let rest = at + 1 + numkeys;
    let Some(end) = (rest < args.len()).then(|| End::parse(args.get(rest))).flatten() else {
        call.reply.error("ERR syntax error");
        return None;
    };
    let count = match args.len() - rest {
        1 => 1,
        3 if args.get(rest + 1).eq_ignore_ascii_case(b"COUNT") => match parse_int(args.get(rest + 2)) {
            Some(count) if count > 0 => count as usize,
            _ => {
                call.reply.error("ERR count should be greater than 0");
                return None;
            }
        },
        _ => {
            call.reply.error("ERR syntax error");
            return None;
        }
    };
    Some((keys, end, count))
}

fn mpop(call: &mut Call<'_, '_>, keys_at: usize, timeout: Option<Option<Duration>>) {
    let Some((keys, end, count)) = mpop_args(call, keys_at) else { return };
    match pop_first(call, &keys, end, count) {
        Err(()) => {}
        Ok(Some((key, values))) => {
            call.reply.array(2);
            call.reply.bulk(user_key(&key));
            reply_values(call, &values);
        }
        Ok(None) => match timeout {
            Some(timeout) => block_or_null(call, keys, timeout, true),
            None => call.reply.null_array(),
        },
    }
}

/// `LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]`
pub fn lmpop(call: &mut Call<'_, '_>) {
    mpop(call, 1, None);
}

/// `BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]`
pub fn blmpop(call: &mut Call<'_, '_>) {
    let Ok(timeout) = parse_timeout(call, call.args.get(1)) else { return };
    mpop(call, 2, Some(timeout));
}
