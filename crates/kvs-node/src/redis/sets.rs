//! Set commands: members are elements of an observed-remove set, add wins (see
//! [`kvs_store::collection`]). SPOP removes what it picked here; a concurrent SPOP on another
//! node may pick the same member (at-least-once, as Active-Active documents).

use super::collections::{self, Change};
use super::{bulk_cost, parse_int, Call, NOT_AN_INTEGER};
use bytes::Bytes;
use kvs_store::collection::CollectionType;
use rand::seq::IndexedRandom;
use rand::Rng;
use std::collections::BTreeSet;

const SET: CollectionType = CollectionType::Set;

/// `SADD key member [member ...]`: how many were new.
pub fn sadd(call: &mut Call<'_, '_>) {
    let args = call.args;
    let key = args.get(1);
    if !call.within_bounds(key, None) || !args.iter().skip(2).all(|member| call.within_bounds(member, None)) {
        return;
    }
    // A member added twice in one command counts once.
    let members: BTreeSet<&[u8]> = args.iter().skip(2).collect();
    let changes = members.iter().map(|member| (*member, Change::Add(Bytes::new()))).collect();
    if let Some(before) = collections::write(call, key, SET, changes) {
        call.reply.integer(before.iter().filter(|seen| seen.is_none()).count() as i64);
    }
}

/// `SREM key member [member ...]`: how many were there.
pub fn srem(call: &mut Call<'_, '_>) {
    let args = call.args;
    let members: BTreeSet<&[u8]> = args.iter().skip(2).collect();
    let changes = members.iter().map(|member| (*member, Change::Remove)).collect();
    if let Some(before) = collections::write(call, args.get(1), SET, changes) {
        call.reply.integer(before.iter().filter(|seen| seen.is_some()).count() as i64);
    }
}

/// The members of the set at `key` (empty when absent); `None` once WRONGTYPE is answered.
pub fn members_of(call: &mut Call<'_, '_>, key: &[u8]) -> Option<Vec<Bytes>> {
    let found = collections::find(call, key, SET).ok()?;
    Some(
        found
            .map(|found| collections::all(call, key, &found).into_iter().map(|(m, _)| m).collect())
            .unwrap_or_default(),
    )
}

/// Answers a set of members (RESP3 set, RESP2 array), within the reply bound.
fn reply_members(call: &mut Call<'_, '_>, members: &[Bytes]) {
    if call.reply_too_large(members.iter().map(|m| bulk_cost(m.len())).sum()) {
        return;
    }
    call.reply.set(members.len());
    for member in members {
        call.reply.bulk(member);
    }
}

/// `SMEMBERS key`
pub fn smembers(call: &mut Call<'_, '_>) {
    if let Some(members) = members_of(call, call.args.get(1)) {
        reply_members(call, &members);
    }
}

/// `SISMEMBER key member`
pub fn sismember(call: &mut Call<'_, '_>) {
    collections::reply_contains(call, SET);
}

/// `SMISMEMBER key member [member ...]`
pub fn smismember(call: &mut Call<'_, '_>) {
    let key = call.args.get(1);
    let Ok(found) = collections::find(call, key, SET) else { return };
    let answers: Vec<bool> = call
        .args
        .iter()
        .skip(2)
        .map(|member| found.as_ref().is_some_and(|found| collections::value(call, key, found, member).is_some()))
        .collect();
    call.reply.array(answers.len());
    for is in answers {
        call.reply.integer(i64::from(is));
    }
}

/// `SCARD key`
pub fn scard(call: &mut Call<'_, '_>) {
    collections::reply_len(call, SET);
}

/// `SRANDMEMBER key [count]`
pub fn srandmember(call: &mut Call<'_, '_>) {
    let key = call.args.get(1);
    let count = match call.args.len() {
        2 => None,
        3 => match parse_int(call.args.get(2)) {
            Some(count) => Some(count),
            None => return call.reply.error(NOT_AN_INTEGER),
        },
        _ => return call.reply.error("ERR syntax error"),
    };
    let Ok(found) = collections::find(call, key, SET) else { return };
    let len = found.map_or(0, |f| f.len);
    // Ranks drawn first, members read at them from the set's index: distinct ranks for a
    // positive count, any for a negative one (whose reply is bounded by its size).
    let mut rng = rand::rng();
    let ranks: Vec<usize> = match count {
        None => (len > 0).then(|| rng.random_range(0..len)).into_iter().collect(),
        Some(count) if count >= 0 => rand::seq::index::sample(&mut rng, len, (count as usize).min(len)).into_vec(),
        Some(count) => {
            if len > 0 && call.reply_too_large((count.unsigned_abs() as usize).saturating_mul(bulk_cost(0))) {
                return;
            }
            (0..if len == 0 { 0 } else { count.unsigned_abs() }).map(|_| rng.random_range(0..len)).collect()
        }
    };
    let members = call.shell.store().set_members_at(key, &ranks);
    // The index gives them in rank order; a pick with repeats gives each rank once.
    let by_rank: std::collections::BTreeMap<usize, Bytes> = {
        let mut unique: Vec<usize> = ranks.clone();
        unique.sort_unstable();
        unique.dedup();
        unique.into_iter().zip(members).collect()
    };
    let picked: Vec<Bytes> = ranks.iter().filter_map(|rank| by_rank.get(rank).cloned()).collect();
    match count {
        None => call.reply.optional_bulk(picked.first().map(|m| &m[..])),
        Some(_) => {
            if call.reply_too_large(picked.iter().map(|m| bulk_cost(m.len())).sum()) {
                return;
            }
            call.reply.array(picked.len());
            for member in &picked {
                call.reply.bulk(member);
            }
        }
    }
}

/// Answers SRANDMEMBER's or HRANDFIELD's pick from `pairs`: one (or nil) without a count; up to
/// `count` distinct ones for a positive count; `-count` with repeats for a negative one.
pub fn reply_random(call: &mut Call<'_, '_>, pairs: &[(Bytes, Bytes)], count: Option<i64>, with_values: bool) {
    let mut rng = rand::rng();
    let Some(count) = count else {
        let pick = pairs.get(rng.random_range(0..pairs.len().max(1))).map(|(name, _)| name.clone());
        return call.reply.optional_bulk(pick.as_deref());
    };
    let picks: Vec<&(Bytes, Bytes)> = if count >= 0 {
        let n = (count as usize).min(pairs.len());
        pairs.choose_multiple(&mut rng, n).collect()
    } else {
        let n = count.unsigned_abs();
        let each = pairs.iter().map(|(k, v)| bulk_cost(k.len()) + bulk_cost(v.len())).max().unwrap_or(0);
        if pairs.is_empty() {
            Vec::new()
        } else if call.reply_too_large((n as usize).saturating_mul(each)) {
            return;
        } else {
            (0..n).map(|_| &pairs[rng.random_range(0..pairs.len())]).collect()
        }
    };
    if call.reply_too_large(picks.iter().map(|(k, v)| bulk_cost(k.len()) + bulk_cost(v.len())).sum()) {
        return;
    }
    let resp3 = call.reply.protocol() == kvs_proto::resp::Protocol::Resp3;
    match (with_values, resp3) {
        (true, false) => call.reply.array(picks.len() * 2),
        _ => call.reply.array(picks.len()),
    }
    for (name, value) in picks {
        if with_values && resp3 {
            call.reply.array(2);
        }
        call.reply.bulk(name);
        if with_values {
            call.reply.bulk(value);
        }
    }
}

/// Members SPOP finds one search each; more, or a quarter of the set, are drawn as ranks and
/// read in one walk (the searches' repeats are checked against what was picked, a cost that
/// grows as the square of the count).
const POP_BY_SEARCH: usize = 16;

/// `wanted` distinct random members of the set at `key` (of `len` members seen) for SPOP: a
/// few, each found by a search at a random position; many, by ranks drawn at once and one walk.
fn pick_to_pop(call: &Call<'_, '_>, key: &[u8], wanted: usize, len: usize) -> Vec<Bytes> {
    let store = call.shell.store();
    let mut rng = rand::rng();
    if wanted > POP_BY_SEARCH || wanted.saturating_mul(4) > len {
        let ranks = rand::seq::index::sample(&mut rng, len, wanted).into_vec();
        return store.set_members_at(key, &ranks);
    }
    let mut picked: Vec<Bytes> = Vec::with_capacity(wanted);
    // Few enough that a repeat is rare; a bounded number of tries, then ranks for what is left.
    for _ in 0..wanted.saturating_mul(4) + 8 {
        if picked.len() == wanted {
            return picked;
        }
        match store.set_member_after(key, rng.random::<u64>()) {
            Some(member) if !picked.contains(&member) => picked.push(member),
            Some(_) => {}
            None => return picked,
        }
    }
    let ranks = rand::seq::index::sample(&mut rng, len, wanted).into_vec();
    for member in store.set_members_at(key, &ranks) {
        if picked.len() < wanted && !picked.contains(&member) {
            picked.push(member);
        }
    }
    picked
}

/// `SPOP key [count]`: removes and returns random members.
pub fn spop(call: &mut Call<'_, '_>) {
    let key = call.args.get(1);
    let Ok(count) = collections::pop_count(call) else { return };
    let Ok(found) = collections::find(call, key, SET) else { return };
    let len = found.map_or(0, |f| f.len);
    let picked = pick_to_pop(call, key, count.unwrap_or(1).min(len), len);
    if !picked.is_empty() {
        let changes = picked.iter().map(|m| (&m[..], Change::Remove)).collect();
        if collections::write(call, key, SET, changes).is_none() {
            return;
        }
    }
    match count {
        None => call.reply.optional_bulk(picked.first().map(|m| &m[..])),
        Some(_) => reply_members(call, &picked),
    }
}

/// `SMOVE source destination member`
pub fn smove(call: &mut Call<'_, '_>) {
    let (from, to, member) = (call.args.get(1), call.args.get(2), call.args.get(3));
    let Ok(source) = collections::find(call, from, SET) else { return };
    if collections::find(call, to, SET).is_err() {
        return;
    }
    let present = source.is_some_and(|found| collections::value(call, from, &found, member).is_some());
    if !present {
        return call.reply.integer(0);
    }
    if from != to {
        if collections::write(call, from, SET, vec![(member, Change::Remove)]).is_none() {
            return;
        }
        if collections::write(call, to, SET, vec![(member, Change::Add(Bytes::new()))]).is_none() {
            return;
        }
    }
    call.reply.integer(1);
}

/// How several sets combine.
#[derive(Clone, Copy)]
enum Combine {
    Inter,
    Union,
    Diff,
}

/// The sets at `keys` combined; `None` once WRONGTYPE is answered.
fn combine(call: &mut Call<'_, '_>, keys: &[&[u8]], how: Combine) -> Option<BTreeSet<Bytes>> {
    let mut sets = Vec::with_capacity(keys.len());
    for key in keys {
        sets.push(members_of(call, key)?.into_iter().collect::<BTreeSet<Bytes>>());
    }
    let mut sets = sets.into_iter();
    let first = sets.next().unwrap_or_default();
    Some(sets.fold(first, |acc, set| match how {
        Combine::Inter => acc.intersection(&set).cloned().collect(),
        Combine::Union => acc.union(&set).cloned().collect(),
        Combine::Diff => acc.difference(&set).cloned().collect(),
    }))
}

fn combine_reply(call: &mut Call<'_, '_>, how: Combine) {
    let keys: Vec<&[u8]> = call.args.iter().skip(1).collect();
    if let Some(result) = combine(call, &keys, how) {
        reply_members(call, &result.into_iter().collect::<Vec<_>>());
    }
}

/// Stores the combination of the sets after the destination in it; answers its size.
fn combine_store(call: &mut Call<'_, '_>, how: Combine) {
    let destination = call.args.get(1);
    let keys: Vec<&[u8]> = call.args.iter().skip(2).collect();
    let Some(result) = combine(call, &keys, how) else { return };
    if collections::store_members(call, destination, SET, result.iter().map(|m| (m.clone(), Bytes::new())).collect())
        .is_some()
    {
        call.reply.integer(result.len() as i64);
    }
}

/// `SINTER key [key ...]`
pub fn sinter(call: &mut Call<'_, '_>) {
    combine_reply(call, Combine::Inter);
}

/// `SUNION key [key ...]`
pub fn sunion(call: &mut Call<'_, '_>) {
    combine_reply(call, Combine::Union);
}

/// `SDIFF key [key ...]`
pub fn sdiff(call: &mut Call<'_, '_>) {
    combine_reply(call, Combine::Diff);
}

/// `SINTERSTORE destination key [key ...]`
pub fn sinterstore(call: &mut Call<'_, '_>) {
    combine_store(call, Combine::Inter);
}

/// `SUNIONSTORE destination key [key ...]`
pub fn sunionstore(call: &mut Call<'_, '_>) {
    combine_store(call, Combine::Union);
}

/// `SDIFFSTORE destination key [key ...]`
pub fn sdiffstore(call: &mut Call<'_, '_>) {
    combine_store(call, Combine::Diff);
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`
pub fn sintercard(call: &mut Call<'_, '_>) {
    let Some((keys, limit)) = numkeys_and_limit(call) else { return };
    if let Some(result) = combine(call, &keys, Combine::Inter) {
        let n = result.len();
        call.reply.integer(if limit == 0 { n } else { n.min(limit) } as i64);
    }
}

/// The keys and LIMIT of `CMD numkeys key [key ...] [LIMIT limit]`; `None` once answered.
pub fn numkeys_and_limit<'a>(call: &mut Call<'a, '_>) -> Option<(Vec<&'a [u8]>, usize)> {
    let args = call.args;
    let numkeys = match parse_int(args.get(1)) {
        Some(n) if n > 0 => n as usize,
        Some(_) => {
            call.reply.error("ERR numkeys should be greater than 0");
            return None;
        }
        None => {
            call.reply.error("ERR numkeys should be greater than 0");
            return None;
        }
    };
    if args.len() < 2 + numkeys {
        call.reply.error("ERR Number of keys can't be greater than number of args");
        return None;
    }
    let keys: Vec<&[u8]> = args.iter().skip(2).take(numkeys).collect();
    let mut limit = 0;
    let mut i = 2 + numkeys;
    while i < args.len() {
        if args.get(i).eq_ignore_ascii_case(b"LIMIT") && i + 1 < args.len() {
            match parse_int(args.get(i + 1)) {
                Some(n) if n >= 0 => limit = n as usize,
                _ => {
                    call.reply.error("ERR LIMIT can't be negative");
                    return None;
                }
            }
            i += 2;
        } else {
            call.reply.error("ERR syntax error");
            return None;
        }
    }
    Some((keys, limit))
}
