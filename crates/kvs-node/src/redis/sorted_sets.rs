//! Sorted-set commands: members are elements of an observed-remove set whose value is a score.
//! A score set by ZADD is last-writer-wins; ZINCRBY (and ZADD INCR) adds like a counter, so
//! concurrent ones on two nodes sum (see [`kvs_store::collection`]). ZPOPMIN and ZPOPMAX remove
//! what they picked here; a concurrent pop on another node may pick the same member
//! (at-least-once, as Active-Active documents).
//!
//! Reads sort the members they see by (score, member), as Redis orders them.

use super::collections::{self, Change, NotIncremented};
use super::{bulk_cost, parse_int, Call, NOT_AN_INTEGER};
use bytes::Bytes;
use kvs_store::collection::element::Number;
use kvs_store::collection::{score_bytes, score_of, CollectionType};
use std::cmp::Ordering;

const ZSET: CollectionType = CollectionType::SortedSet;
const NOT_A_FLOAT: &str = "ERR value is not a valid float";

/// A member and its score.
#[derive(Clone, Debug)]
pub struct Scored {
    /// The member.
    pub member: Bytes,
    /// Its score.
    pub score: f64,
}

fn by_score(a: &Scored, b: &Scored) -> Ordering {
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
fn ranked(
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
fn rank_window(start: i64, stop: i64, len: usize) -> (usize, usize) {
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
fn reply_scored(call: &mut Call<'_, '_>, members: &[Scored], with_scores: bool) {
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
    let Some(found) = collections::find(call, key, ZSET).ok() else { return };
    let mut changes = Vec::new();
    let (mut added, mut changed) = (0, 0);
    let mut seen = std::collections::HashSet::new();
    for (member, wanted) in scored.iter().rev() {
        // The last score given for a member counts, as in Redis.
        if !seen.insert(*member) {
            continue;
        }
        let current = found.as_ref().and_then(|f| collections::value(call, key, f, member)).map(|v| score_of(&v));
        let write = match current {
            None => !xx,
            Some(now) => !nx && (!gt || *wanted > now) && (!lt || *wanted < now) && now != *wanted,
        };
        if write {
            if current.is_none() {
                added += 1;
            } else {
                changed += 1;
            }
            changes.push((*member, Change::Add(score_bytes(*wanted))));
        }
    }
    if !changes.is_empty() && collections::write(call, key, ZSET, changes).is_none() {
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
    let key = call.args.get(1);
    if let Ok(found) = collections::find(call, key, ZSET) {
        call.reply.integer(found.map_or(0, |f| f.len as i64));
    }
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
fn remove_members(call: &mut Call<'_, '_>, key: &[u8], members: &[Scored]) {
    if members.is_empty() {
        return call.reply.integer(0);
    }
    let changes = members.iter().map(|m| (&m.member[..], Change::Remove)).collect();
    if let Some(before) = collections::write(call, key, ZSET, changes) {
        call.reply.integer(before.iter().filter(|seen| seen.is_some()).count() as i64);
    }
}

/// One end of a score range: the score, and whether it is excluded.
#[derive(Clone, Copy, Debug)]
pub struct ScoreBound {
    value: f64,
    exclusive: bool,
}

fn parse_score_bound(arg: &[u8]) -> Option<ScoreBound> {
    match arg.strip_prefix(b"(") {
        Some(rest) => Some(ScoreBound { value: parse_score(rest)?, exclusive: true }),
        None => Some(ScoreBound { value: parse_score(arg)?, exclusive: false }),
    }
}

fn above(score: f64, min: ScoreBound) -> bool {
    if min.exclusive {
        score > min.value
    } else {
        score >= min.value
    }
}

fn below(score: f64, max: ScoreBound) -> bool {
    if max.exclusive {
        score < max.value
    } else {
        score <= max.value
    }
}

/// One end of a lexicographic range.
#[derive(Clone, Debug)]
enum LexBound {
    Min,
    Max,
    Inclusive(Vec<u8>),
    Exclusive(Vec<u8>),
}

fn parse_lex_bound(arg: &[u8]) -> Option<LexBound> {
    match arg {
        b"-" => Some(LexBound::Min),
        b"+" => Some(LexBound::Max),
        [b'[', rest @ ..] => Some(LexBound::Inclusive(rest.to_vec())),
        [b'(', rest @ ..] => Some(LexBound::Exclusive(rest.to_vec())),
        _ => None,
    }
}

fn lex_above(member: &[u8], min: &LexBound) -> bool {
    match min {
        LexBound::Min => true,
        LexBound::Max => false,
        LexBound::Inclusive(v) => member >= &v[..],
        LexBound::Exclusive(v) => member > &v[..],
    }
}

fn lex_below(member: &[u8], max: &LexBound) -> bool {
    match max {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::Inclusive(v) => member <= &v[..],
        LexBound::Exclusive(v) => member < &v[..],
    }
}

/// How ZRANGE picks members.
enum By {
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

/// The members of `sorted` a range picks, in the order it lists them (`rev`: highest first),
/// after `limit` (offset, count; a negative count: all).
fn pick(sorted: Vec<Scored>, by: &By, rev: bool, limit: Option<(i64, i64)>) -> Vec<Scored> {
    let mut members = sorted;
    if rev {
        members.reverse();
    }
    let picked: Vec<Scored> = match by {
        By::Rank(start, stop) => {
            let (skip, take) = rank_window(*start, *stop, members.len());
            members.into_iter().skip(skip).take(take).collect()
        }
        By::Score(min, max) => members.into_iter().filter(|m| above(m.score, *min) && below(m.score, *max)).collect(),
        By::Lex(min, max) => {
            members.into_iter().filter(|m| lex_above(&m.member, min) && lex_below(&m.member, max)).collect()
        }
    };
    match limit {
        Some((offset, count)) if offset >= 0 => {
            let taken = picked.into_iter().skip(offset as usize);
            if count < 0 {
                taken.collect()
            } else {
                taken.take(count as usize).collect()
            }
        }
        Some(_) => Vec::new(),
        None => picked,
    }
}

/// The offset and count of a `LIMIT offset count` at argument `at`; `None` once answered.
fn parse_limit(call: &mut Call<'_, '_>, at: usize) -> Option<(i64, i64)> {
    match (parse_int(call.args.get(at + 1)), parse_int(call.args.get(at + 2))) {
        (Some(offset), Some(count)) => Some((offset, count)),
        _ => {
            call.reply.error(NOT_AN_INTEGER);
            None
        }
    }
}

/// Parses `min max` of a range `by` kind (`rev`: given as `max min`).
fn parse_by(call: &mut Call<'_, '_>, kind: &[u8], first: &[u8], second: &[u8], rev: bool) -> Option<By> {
    let (low, high) = if rev { (second, first) } else { (first, second) };
    match kind {
        b"RANK" => match (parse_int(first), parse_int(second)) {
            (Some(start), Some(stop)) => Some(By::Rank(start, stop)),
            _ => {
                call.reply.error(NOT_AN_INTEGER);
                None
            }
        },
        b"SCORE" => match (parse_score_bound(low), parse_score_bound(high)) {
            (Some(min), Some(max)) => Some(By::Score(min, max)),
            _ => {
                call.reply.error("ERR min or max is not a float");
                None
            }
        },
        _ => match (parse_lex_bound(low), parse_lex_bound(high)) {
            (Some(min), Some(max)) => Some(By::Lex(min, max)),
            _ => {
                call.reply.error("ERR min or max not valid string range item");
                None
            }
        },
    }
}

/// `ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`, and
/// `ZRANGESTORE dst src …` when `store` names the destination's position.
fn range_command(call: &mut Call<'_, '_>, store: bool) {
    let args = call.args;
    let at = usize::from(store);
    let (key, first, second) = (args.get(1 + at), args.get(2 + at), args.get(3 + at));
    let (mut kind, mut rev, mut limit, mut with_scores) = (&b"RANK"[..], false, None, false);
    let mut i = 4 + at;
    while i < args.len() {
        let option = args.get(i).to_ascii_uppercase();
        match option.as_slice() {
            b"BYSCORE" => kind = b"SCORE",
            b"BYLEX" => kind = b"LEX",
            b"REV" => rev = true,
            b"WITHSCORES" if !store => with_scores = true,
            b"LIMIT" if i + 2 < args.len() => {
                let Some(given) = parse_limit(call, i) else { return };
                limit = Some(given);
                i += 2;
            }
            _ => return call.reply.error("ERR syntax error"),
        }
        i += 1;
    }
    if limit.is_some() && kind == b"RANK" {
        return call
            .reply
            .error("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
    }
    if with_scores && kind == b"LEX" {
        return call.reply.error("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    let Some(by) = parse_by(call, kind, first, second, rev) else { return };
    list_range(call, key, by, rev, limit, with_scores, store.then(|| args.get(1)));
}

fn list_range(
    call: &mut Call<'_, '_>,
    key: &[u8],
    by: By,
    rev: bool,
    limit: Option<(i64, i64)>,
    with_scores: bool,
    store: Option<&[u8]>,
) {
    let picked = match by {
        // A rank range reads only the members it lists.
        By::Rank(start, stop) => {
            let Some(members) = ranked(call, key, rev, |len| rank_window(start, stop, len)) else { return };
            members
        }
        _ => {
            let Some(sorted) = sorted_members(call, key) else { return };
            pick(sorted, &by, rev, limit)
        }
    };
    match store {
        Some(destination) => store_scored(call, destination, picked),
        None => reply_scored(call, &picked, with_scores),
    }
}

/// Replaces `destination` with a sorted set of `members`; answers its size.
fn store_scored(call: &mut Call<'_, '_>, destination: &[u8], members: Vec<Scored>) {
    let len = members.len();
    let elements = members.into_iter().map(|m| (m.member, score_bytes(m.score))).collect();
    if super::sets::store_members(call, destination, ZSET, elements).is_some() {
        call.reply.integer(len as i64);
    }
}

/// `ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`
pub fn zrange(call: &mut Call<'_, '_>) {
    range_command(call, false);
}

/// `ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]`
pub fn zrangestore(call: &mut Call<'_, '_>) {
    range_command(call, true);
}

/// The old range commands: `kind` and `rev` fixed, WITHSCORES and LIMIT as options.
fn old_range(call: &mut Call<'_, '_>, kind: &[u8], rev: bool) {
    let args = call.args;
    let (key, first, second) = (args.get(1), args.get(2), args.get(3));
    let (mut limit, mut with_scores) = (None, false);
    let mut i = 4;
    while i < args.len() {
        let option = args.get(i).to_ascii_uppercase();
        match option.as_slice() {
            b"WITHSCORES" if kind != b"LEX" => with_scores = true,
            b"LIMIT" if kind != b"RANK" && i + 2 < args.len() => {
                let Some(given) = parse_limit(call, i) else { return };
                limit = Some(given);
                i += 2;
            }
            _ => return call.reply.error("ERR syntax error"),
        }
        i += 1;
    }
    let Some(by) = parse_by(call, kind, first, second, rev) else { return };
    list_range(call, key, by, rev, limit, with_scores, None);
}

/// `ZREVRANGE key start stop [WITHSCORES]`
pub fn zrevrange(call: &mut Call<'_, '_>) {
    old_range(call, b"RANK", true);
}

/// `ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]`
pub fn zrangebyscore(call: &mut Call<'_, '_>) {
    old_range(call, b"SCORE", false);
}

/// `ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]`
pub fn zrevrangebyscore(call: &mut Call<'_, '_>) {
    old_range(call, b"SCORE", true);
}

/// `ZRANGEBYLEX key min max [LIMIT offset count]`
pub fn zrangebylex(call: &mut Call<'_, '_>) {
    old_range(call, b"LEX", false);
}

/// `ZREVRANGEBYLEX key max min [LIMIT offset count]`
pub fn zrevrangebylex(call: &mut Call<'_, '_>) {
    old_range(call, b"LEX", true);
}

/// `ZCOUNT key min max`
pub fn zcount(call: &mut Call<'_, '_>) {
    let (key, min, max) = (call.args.get(1), call.args.get(2), call.args.get(3));
    let Some(by) = parse_by(call, b"SCORE", min, max, false) else { return };
    if let Some(sorted) = sorted_members(call, key) {
        call.reply.integer(pick(sorted, &by, false, None).len() as i64);
    }
}

/// `ZLEXCOUNT key min max`
pub fn zlexcount(call: &mut Call<'_, '_>) {
    let (key, min, max) = (call.args.get(1), call.args.get(2), call.args.get(3));
    let Some(by) = parse_by(call, b"LEX", min, max, false) else { return };
    if let Some(sorted) = sorted_members(call, key) {
        call.reply.integer(pick(sorted, &by, false, None).len() as i64);
    }
}

fn rank(call: &mut Call<'_, '_>, rev: bool) {
    let (key, member) = (call.args.get(1), call.args.get(2));
    let with_score = match call.args.len() {
        3 => false,
        4 if call.args.get(3).eq_ignore_ascii_case(b"WITHSCORE") => true,
        _ => return call.reply.error("ERR syntax error"),
    };
    let Some(mut sorted) = sorted_members(call, key) else { return };
    if rev {
        sorted.reverse();
    }
    match sorted.iter().position(|m| m.member == member) {
        Some(at) if with_score => {
            call.reply.array(2);
            call.reply.integer(at as i64);
            call.reply.double(sorted[at].score);
        }
        Some(at) => call.reply.integer(at as i64),
        None if with_score => call.reply.null_array(),
        None => call.reply.null(),
    }
}

/// `ZRANK key member [WITHSCORE]`
pub fn zrank(call: &mut Call<'_, '_>) {
    rank(call, false);
}

/// `ZREVRANK key member [WITHSCORE]`
pub fn zrevrank(call: &mut Call<'_, '_>) {
    rank(call, true);
}

fn remove_range(call: &mut Call<'_, '_>, kind: &[u8]) {
    let (key, first, second) = (call.args.get(1), call.args.get(2), call.args.get(3));
    let Some(by) = parse_by(call, kind, first, second, false) else { return };
    let Some(sorted) = sorted_members(call, key) else { return };
    let picked = pick(sorted, &by, false, None);
    remove_members(call, key, &picked);
}

/// `ZREMRANGEBYRANK key start stop`
pub fn zremrangebyrank(call: &mut Call<'_, '_>) {
    remove_range(call, b"RANK");
}

/// `ZREMRANGEBYSCORE key min max`
pub fn zremrangebyscore(call: &mut Call<'_, '_>) {
    remove_range(call, b"SCORE");
}

/// `ZREMRANGEBYLEX key min max`
pub fn zremrangebylex(call: &mut Call<'_, '_>) {
    remove_range(call, b"LEX");
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

/// How ZUNION, ZINTER and ZDIFF combine.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Combine {
    Union,
    Inter,
    Diff,
}

/// How scores of one member in several sets combine.
#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// The combination of the sets of `numkeys key [key ...] [WEIGHTS …] [AGGREGATE …]
/// [WITHSCORES]` starting at argument `from`; with whether WITHSCORES was given. `None` once
/// an error is answered.
fn combine(call: &mut Call<'_, '_>, how: Combine, from: usize, store: bool) -> Option<(Vec<Scored>, bool)> {
    let args = call.args;
    let numkeys = match parse_int(args.get(from)) {
        Some(n) if n > 0 => n as usize,
        _ => {
            let name = String::from_utf8_lossy(args.get(0)).to_ascii_lowercase();
            call.reply.error(&format!("ERR at least 1 input key is needed for '{name}' command"));
            return None;
        }
    };
    if args.len() < from + 1 + numkeys {
        call.reply.error("ERR syntax error");
        return None;
    }
    let keys: Vec<&[u8]> = args.iter().skip(from + 1).take(numkeys).collect();
    let (mut weights, mut aggregate, mut with_scores) = (vec![1.0; numkeys], Aggregate::Sum, false);
    let mut i = from + 1 + numkeys;
    while i < args.len() {
        let option = args.get(i).to_ascii_uppercase();
        match option.as_slice() {
            b"WEIGHTS" if how != Combine::Diff && i + numkeys < args.len() => {
                for (w, weight) in weights.iter_mut().enumerate() {
                    match parse_score(args.get(i + 1 + w)) {
                        Some(value) => *weight = value,
                        None => {
                            call.reply.error("ERR weight value is not a float");
                            return None;
                        }
                    }
                }
                i += numkeys;
            }
            b"AGGREGATE" if how != Combine::Diff && i + 1 < args.len() => {
                aggregate = match args.get(i + 1).to_ascii_uppercase().as_slice() {
                    b"SUM" => Aggregate::Sum,
                    b"MIN" => Aggregate::Min,
                    b"MAX" => Aggregate::Max,
                    _ => {
                        call.reply.error("ERR syntax error");
                        return None;
                    }
                };
                i += 1;
            }
            b"WITHSCORES" if !store => with_scores = true,
            _ => {
                call.reply.error("ERR syntax error");
                return None;
            }
        }
        i += 1;
    }
    let mut sets: Vec<std::collections::BTreeMap<Bytes, f64>> = Vec::with_capacity(numkeys);
    for (key, weight) in keys.iter().zip(&weights) {
        // A set given where a sorted set is expected counts each member with score 1, as in Redis.
        let members = match collections::type_name(call.shell.store(), key, call.now_ms()) {
            "set" => super::sets::members_of(call, key)?.into_iter().map(|m| (m, *weight)).collect(),
            _ => sorted_members(call, key)?.into_iter().map(|m| (m.member, nan_to_zero(m.score * weight))).collect(),
        };
        sets.push(members);
    }
    let mut sets = sets.into_iter();
    let mut result = sets.next().unwrap_or_default();
    for set in sets {
        match how {
            Combine::Union => {
                for (member, score) in set {
                    result
                        .entry(member)
                        .and_modify(|held| *held = aggregated(aggregate, *held, score))
                        .or_insert(score);
                }
            }
            Combine::Inter => {
                result.retain(|member, _| set.contains_key(member));
                for (member, held) in result.iter_mut() {
                    *held = aggregated(aggregate, *held, set[member]);
                }
            }
            Combine::Diff => result.retain(|member, _| !set.contains_key(member)),
        }
    }
    let mut members: Vec<Scored> = result.into_iter().map(|(member, score)| Scored { member, score }).collect();
    members.sort_by(by_score);
    Some((members, with_scores))
}

/// inf * 0 is NaN in IEEE arithmetic; Redis counts it as 0.
fn nan_to_zero(score: f64) -> f64 {
    if score.is_nan() {
        0.0
    } else {
        score
    }
}

fn aggregated(how: Aggregate, a: f64, b: f64) -> f64 {
    match how {
        Aggregate::Sum => nan_to_zero(a + b),
        Aggregate::Min => a.min(b),
        Aggregate::Max => a.max(b),
    }
}

fn combine_reply(call: &mut Call<'_, '_>, how: Combine) {
    if let Some((members, with_scores)) = combine(call, how, 1, false) {
        reply_scored(call, &members, with_scores);
    }
}

fn combine_store(call: &mut Call<'_, '_>, how: Combine) {
    let destination = call.args.get(1);
    if let Some((members, _)) = combine(call, how, 2, true) {
        store_scored(call, destination, members);
    }
}

/// `ZUNION numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`
pub fn zunion(call: &mut Call<'_, '_>) {
    combine_reply(call, Combine::Union);
}

/// `ZINTER numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`
pub fn zinter(call: &mut Call<'_, '_>) {
    combine_reply(call, Combine::Inter);
}

/// `ZDIFF numkeys key [key ...] [WITHSCORES]`
pub fn zdiff(call: &mut Call<'_, '_>) {
    combine_reply(call, Combine::Diff);
}

/// `ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS …] [AGGREGATE …]`
pub fn zunionstore(call: &mut Call<'_, '_>) {
    combine_store(call, Combine::Union);
}

/// `ZINTERSTORE destination numkeys key [key ...] [WEIGHTS …] [AGGREGATE …]`
pub fn zinterstore(call: &mut Call<'_, '_>) {
    combine_store(call, Combine::Inter);
}

/// `ZDIFFSTORE destination numkeys key [key ...]`
pub fn zdiffstore(call: &mut Call<'_, '_>) {
    combine_store(call, Combine::Diff);
}

/// `ZINTERCARD numkeys key [key ...] [LIMIT limit]`
pub fn zintercard(call: &mut Call<'_, '_>) {
    let Some((keys, limit)) = super::sets::numkeys_and_limit(call) else { return };
    let mut result: Option<std::collections::BTreeSet<Bytes>> = None;
    for key in keys {
        let Some(members) = sorted_members(call, key) else { return };
        let set: std::collections::BTreeSet<Bytes> = members.into_iter().map(|m| m.member).collect();
        result = Some(match result {
            None => set,
            Some(held) => held.intersection(&set).cloned().collect(),
        });
    }
    let n = result.map_or(0, |r| r.len());
    call.reply.integer(if limit == 0 { n } else { n.min(limit) } as i64);
}

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`: the whole sorted set in one step.
pub fn zscan(call: &mut Call<'_, '_>) {
    let key = call.args.get(1);
    let Some(pattern) = super::sets::scan_options(call) else { return };
    let Some(sorted) = sorted_members(call, key) else { return };
    let pairs: Vec<(Bytes, Bytes)> =
        sorted.into_iter().map(|m| (m.member, Bytes::from(kvs_proto::resp::format_double(m.score)))).collect();
    super::sets::reply_scan(call, &pairs, pattern, true);
}
