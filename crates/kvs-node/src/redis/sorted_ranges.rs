//! Sorted-set ranges: ZRANGE and its options, the old range commands, ZRANGESTORE, ZCOUNT,
//! ZLEXCOUNT, ZRANK, ZREVRANK and the ZREMRANGEBY* commands, over the set's score index (see
//! [`super::sorted_sets`]).

use super::sorted_sets::parse_score;
use super::sorted_sets::{rank_window, ranked, remove_members, reply_scored, sorted_members, Scored, ZSET};
use super::{parse_int, Call, NOT_AN_INTEGER};
use kvs_store::collection::score_bytes;

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
pub(super) fn store_scored(call: &mut Call<'_, '_>, destination: &[u8], members: Vec<Scored>) {
    let len = members.len();
    let elements = members.into_iter().map(|m| (m.member, score_bytes(m.score))).collect();
    if super::collections::store_members(call, destination, ZSET, elements).is_some() {
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
