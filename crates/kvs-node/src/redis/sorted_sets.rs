//! Sorted-set commands: members are elements of an observed-remove set whose value is a score.
//! A score set by ZADD is last-writer-wins; ZINCRBY (and ZADD INCR) adds like a counter, so
//! concurrent ones on two nodes sum (see [`kvs_store::collection`]). ZPOPMIN and ZPOPMAX remove
//! what they picked here; a concurrent pop on another node may pick the same member
//! (at-least-once, as Active-Active documents).
//!
//! Reads walk each sorted set's score index, by (score, member), as Redis orders them. Ranges are
//! in [`super::sorted_ranges`], combinations in [`super::sorted_combine`].

use super::collections::{self, Change, NotIncremented};
use super::{bulk_cost, parse_int, Call, NOT_AN_INTEGER};
use bytes::Bytes;
use kvs_store::collection::element::Number;
use kvs_store::collection::{score_bytes, score_of, CollectionType};
use std::cmp::Ordering;

pub(super) const ZSET: CollectionType = CollectionType::SortedSet;
const NOT_A_FLOAT: &str = "ERR value is not a valid float";

/// A member and its score.
#[derive(Clone, Debug)]
pub struct Scored {
    /// The member.
    pub member: Bytes,
    /// Its score.
    pub score: f64,
}

pub(super) fn by_score(a: &Scored, b: &Scored) -> Ordering {
    a.score.total_cmp(&b.score).then_with(|| a.member.cmp(&b.member))
}

/// Parses a score as Redis does: a float, `inf`, `+inf` or `-inf`; never NaN.
pub fn parse_score(arg: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(arg).ok()?;
    match text.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    if text.is_empty() || text.trim() != text {
        return None;
    }
    text.parse::<f64>().ok().filter(|f| !f.is_nan())
}

/// The members of the sorted set at `key` in order; `None` once WRONGTYPE is answered.
pub fn sorted_members(call: &mut Call<'_, '_>, key: &[u8]) -> Option<Vec<Scored>> {
    ranked(call, key, false, |_| (0, usize::MAX))
}

/// Members of the sorted set at `key` in order (`rev`: highest first) from its score index:
/// `window` turns the set's size into how many to skip and how many to take. `None` once
/// WRONGTYPE is answered.
pub(super) fn ranked(
    call: &mut Call<'_, '_>,
    key: &[u8],
    rev: bool,
    window: impl FnOnce(usize) -> (usize, usize),
) -> Option<Vec<Scored>> {
    let Some(found) = collections::find(call, key, ZSET).ok()? else { return Some(Vec::new()) };
    let (skip, take) = window(found.len);
    let members = call.shell.store().scored(key, rev, skip, take);
    Some(members.into_iter().map(|(member, score)| Scored { member, score }).collect())
}

/// The skip and take of ranks `start..=stop` (negative: from the end) in a set of `len`.
pub(super) fn rank_window(start: i64, stop: i64, len: usize) -> (usize, usize) {
    let len = len as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    let stop = if stop < 0 { len + stop } else { stop.min(len - 1) };
    if start > stop || start >= len {
        (0, 0)
    } else {
        (start as usize, (stop - start + 1) as usize)
    }
}

/// The score of `member` at `key`; `Err` once WRONGTYPE is answered.
fn score(call: &mut Call<'_, '_>, key: &[u8], member: &[u8]) -> Result<Option<f64>, ()> {
    let found = collections::find(call, key, ZSET)?;
    Ok(found.and_then(|found| collections::value(call, key, &found, member)).map(|v| score_of(&v)))
}

/// Answers members (with scores when asked), within the reply bound.
pub(super) fn reply_scored(call: &mut Call<'_, '_>, members: &[Scored], with_scores: bool) {
    let cost: usize = members.iter().map(|m| bulk_cost(m.member.len()) + if with_scores { 40 } else { 0 }).sum();
    if call.reply_too_large(cost) {
        return;
    }
    let resp3 = call.reply.protocol() == kvs_proto::resp::Protocol::Resp3;
    call.reply.array(if with_scores && !resp3 { members.len() * 2 } else { members.len() });
    for m in members {
        if with_scores && resp3 {
            call.reply.array(2);
        }
        call.reply.bulk(&m.member);
        if with_scores {
            call.reply.double(m.score);
        }
    }
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`
pub fn zadd(call: &mut Call<'_, '_>) {
    let args = call.args;
    let key = args.get(1);
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) = (false, false, false, false, false, false);
    let mut i = 2;
    while i < args.len() {
        let flag = match args.get(i).to_ascii_uppercase().as_slice() {
            b"NX" => &mut nx,
            b"XX" => &mut xx,
            b"GT" => &mut gt,
            b"LT" => &mut lt,
            b"CH" => &mut ch,
            b"INCR" => &mut incr,
            _ => break,
        };
        *flag = true;
        i += 1;
    }
    let pairs: Vec<(&[u8], &[u8])> = args.iter().skip(i).step_by(2).zip(args.iter().skip(i + 1).step_by(2)).collect();
    if !(args.len() - i).is_multiple_of(2) || pairs.is_empty() {
        return call.reply.error("ERR syntax error");
    }
    if nx && xx {
        return call.reply.error("ERR XX and NX options at the same time are not compatible");
    }
    if (gt && lt) || ((gt || lt) && nx) {
        return call.reply.error("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if incr && pairs.len() > 1 {
        return call.reply.error("ERR INCR option supports a single increment-element pair");
    }
    let mut scored = Vec::with_capacity(pairs.len());
    for (score, member) in &pairs {
        let Some(score) = parse_score(score) else { return call.reply.error(NOT_A_FLOAT) };
        if !call.within_bounds(member, None) {
            return;
        }
        scored.push((*member, score));
    }
    if !call.within_bounds(key, None) {
        return;
    }
    if incr {
        let (member, delta) = scored[0];
        let Ok(current) = score(call, key, member) else { return };
        let allowed = match current {
            None => !xx,
            Some(now) => !nx && (!gt || now + delta > now) && (!lt || now + delta < now),
        };
        if !allowed {
            return call.reply.null();
        }
        return incrby(call, key, member, delta);
    }
    // The last score given for a member counts, as in Redis.
    if scored.len() > 1 {
        let mut seen = std::collections::HashSet::new();
        scored.reverse();
        scored.retain(|(member, _)| seen.insert(*member));
    }
    let members: Vec<&[u8]> = scored.iter().map(|(member, _)| *member).collect();
    let (mut added, mut changed) = (0, 0);
    // Each member's current score is read as its write is made, and decides it.
    let mut decide = |i: usize, seen: Option<&Bytes>| {
        let wanted = scored[i].1;
        let current = seen.map(|value| score_of(value));
        let write = match current {
            None => !xx,
            Some(now) => !nx && (!gt || wanted > now) && (!lt || wanted < now) && now != wanted,
        };
        if !write {
            return None;
        }
        match current {
            None => added += 1,
            Some(_) => changed += 1,
        }
        Some(Change::Add(score_bytes(wanted)))
    };
    if collections::write_decided(call, key, ZSET, &members, &mut decide).is_none() {
        return;
    }
    call.reply.integer(if ch { added + changed } else { added });
}

/// Adds `delta` to `member`'s score (ZINCRBY, ZADD INCR) and answers the new score.
fn incrby(call: &mut Call<'_, '_>, key: &[u8], member: &[u8], delta: f64) {
    let check = |before: Option<Option<Number>>| {
        let current = match before {
            None | Some(None) => 0.0,
            Some(Some(Number::Int(n))) => n as f64,
            Some(Some(Number::Float(f))) => f,
        };
        let sum = current + delta;
        if sum.is_nan() {
            Err(NotIncremented::NotANumber)
        } else {
            Ok(Number::Float(sum))
        }
    };
    match collections::increment(call, key, ZSET, member, (0, delta), check) {
        Some(Ok(Number::Float(score))) => call.reply.double(score),
        Some(Ok(Number::Int(score))) => call.reply.double(score as f64),
        Some(Err(_)) => call.reply.error("ERR resulting score is not a number (NaN)"),
        None => {}
    }
}

/// `ZINCRBY key increment member`
pub fn zincrby(call: &mut Call<'_, '_>) {
    let (key, member) = (call.args.get(1), call.args.get(3));
    let Some(delta) = parse_score(call.args.get(2)) else { return call.reply.error(NOT_A_FLOAT) };
    if call.within_bounds(key, None) && call.within_bounds(member, None) {
        incrby(call, key, member, delta);
    }
}

/// `ZSCORE key member`
pub fn zscore(call: &mut Call<'_, '_>) {
    let (key, member) = (call.args.get(1), call.args.get(2));
    match score(call, key, member) {
        Ok(Some(score)) => call.reply.double(score),
        Ok(None) => call.reply.null(),
        Err(()) => {}
    }
}

/// `ZMSCORE key member [member ...]`
pub fn zmscore(call: &mut Call<'_, '_>) {
    let key = call.args.get(1);
    let Ok(found) = collections::find(call, key, ZSET) else { return };
    let scores: Vec<Option<f64>> = call
        .args
        .iter()
        .skip(2)
        .map(|m| found.as_ref().and_then(|f| collections::value(call, key, f, m)).map(|v| score_of(&v)))
        .collect();
    call.reply.array(scores.len());
    for score in scores {
        match score {
            Some(score) => call.reply.double(score),
            None => call.reply.null(),
        }
    }
}

/// `ZCARD key`
pub fn zcard(call: &mut Call<'_, '_>) {
    collections::reply_len(call, ZSET);
}

/// `ZREM key member [member ...]`
pub fn zrem(call: &mut Call<'_, '_>) {
    let args = call.args;
    let members: std::collections::BTreeSet<&[u8]> = args.iter().skip(2).collect();
    let changes = members.iter().map(|m| (*m, Change::Remove)).collect();
    if let Some(before) = collections::write(call, args.get(1), ZSET, changes) {
        call.reply.integer(before.iter().filter(|seen| seen.is_some()).count() as i64);
    }
}

/// Removes `members` from the sorted set at `key`; answers how many (ZREMRANGEBY*).
pub(super) fn remove_members(call: &mut Call<'_, '_>, key: &[u8], members: &[Scored]) {
    if members.is_empty() {
        return call.reply.integer(0);
    }
    let changes = members.iter().map(|m| (&m.member[..], Change::Remove)).collect();
    if let Some(before) = collections::write(call, key, ZSET, changes) {
        call.reply.integer(before.iter().filter(|seen| seen.is_some()).count() as i64);
    }
}

fn pop(call: &mut Call<'_, '_>, max: bool) {
    let key = call.args.get(1);
    let Ok(count) = collections::pop_count(call) else { return };
    let Some(sorted) = ranked(call, key, max, |_| (0, count.unwrap_or(1))) else { return };
    if !sorted.is_empty() {
        let changes = sorted.iter().map(|m| (&m.member[..], Change::Remove)).collect();
        if collections::write(call, key, ZSET, changes).is_none() {
            return;
        }
    }
    let resp3 = call.reply.protocol() == kvs_proto::resp::Protocol::Resp3;
    if count.is_none() || !resp3 {
        // One pop, or RESP2: a flat array of member, score.
        call.reply.array(sorted.len() * 2);
        for m in &sorted {
            call.reply.bulk(&m.member);
            call.reply.double(m.score);
        }
    } else {
        reply_scored(call, &sorted, true);
    }
}

/// `ZPOPMIN key [count]`
pub fn zpopmin(call: &mut Call<'_, '_>) {
    pop(call, false);
}

/// `ZPOPMAX key [count]`
pub fn zpopmax(call: &mut Call<'_, '_>) {
    pop(call, true);
}

/// `ZRANDMEMBER key [count [WITHSCORES]]`
pub fn zrandmember(call: &mut Call<'_, '_>) {
    let key = call.args.get(1);
    let count = match call.args.len() {
        2 => None,
        3 | 4 => match parse_int(call.args.get(2)) {
            Some(count) => Some(count),
            None => return call.reply.error(NOT_AN_INTEGER),
        },
        _ => return call.reply.error("ERR syntax error"),
    };
    let with_scores = call.args.len() == 4;
    if with_scores && !call.args.get(3).eq_ignore_ascii_case(b"withscores") {
        return call.reply.error("ERR syntax error");
    }
    let Some(sorted) = sorted_members(call, key) else { return };
    let pairs: Vec<(Bytes, Bytes)> =
        sorted.into_iter().map(|m| (m.member, Bytes::from(kvs_proto::resp::format_double(m.score)))).collect();
    super::sets::reply_random(call, &pairs, count, with_scores);
}
