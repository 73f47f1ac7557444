//! Sorted-set combinations: ZUNION, ZINTER, ZDIFF (WEIGHTS, AGGREGATE, WITHSCORES), their STORE
//! forms, and ZINTERCARD. A set given where a sorted set is expected counts each member with
//! score 1, as in Redis.

use super::sorted_ranges::store_scored;
use super::sorted_sets::{by_score, parse_score, reply_scored, sorted_members, Scored};
use super::{collections, parse_int, Call};
use bytes::Bytes;

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
