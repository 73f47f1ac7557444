//! What the hash, set and sorted-set commands share: finding a collection by its key (or
//! answering WRONGTYPE), and writing to one as a unit: the header when one is made, then a
//! record per element changed, each its own local write.
//!
//! The writes are behind the cluster feature gate `collections`: element and header records are
//! kinds protocol 8 cannot decode.

use super::Call;
use bytes::Bytes;
use kvs_proto::features::COLLECTIONS;
use kvs_store::collection::element::Number;
use kvs_store::collection::header::Header;
use kvs_store::collection::{element_key, CollectionType};
use kvs_store::local::{Decision, ForAdd, WrongType};
use kvs_store::store::Found;

/// Redis's answer to a command on a key of another type.
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// Whether the gate is open; otherwise answers the error.
pub fn gate_open(call: &mut Call<'_, '_>) -> bool {
    let core = &call.shell.core;
    if core.is_open(COLLECTIONS) {
        return true;
    }
    let command = String::from_utf8_lossy(call.args.get(0)).to_uppercase();
    let message = format!("ERR {}", COLLECTIONS.closed_message(&command, core.cluster_version()));
    call.reply.error(&message);
    false
}

/// The collection of type `of` at `key`: `Ok(None)` when the key holds nothing, `Err` (answered
/// with WRONGTYPE) when it holds another type.
pub fn find(call: &mut Call<'_, '_>, key: &[u8], of: CollectionType) -> Result<Option<Found>, ()> {
    let now_ms = call.now_ms();
    let store = call.shell.store();
    match store.collection_used(key, now_ms) {
        Some(found) if found.header.of == of => Ok(Some(found)),
        Some(_) => {
            call.reply.error(WRONGTYPE);
            Err(())
        }
        None if store.get_live(key, now_ms).is_some_and(|r| !r.is_collection()) => {
            call.reply.error(WRONGTYPE);
            Err(())
        }
        None => Ok(None),
    }
}

/// What a write does to one element.
pub enum Change {
    /// Adds it (or sets its value).
    Add(Bytes),
    /// Removes it.
    Remove,
}

/// Changes elements of the collection of type `of` at `key`, as one unit: makes the header if
/// an add needs one, then each element's change. Returns each element's value as seen before
/// its change; `None` once an error is answered (WRONGTYPE, a refused write).
pub fn write(
    call: &mut Call<'_, '_>,
    key: &[u8],
    of: CollectionType,
    changes: Vec<(&[u8], Change)>,
) -> Option<Vec<Option<Bytes>>> {
    let (elements, mut changes): (Vec<&[u8]>, Vec<Option<Change>>) =
        changes.into_iter().map(|(element, change)| (element, Some(change))).unzip();
    write_decided(call, key, of, &elements, &mut |i, _| changes[i].take())
}

/// What a write decides for its `i`-th element given the value seen before (`None`: not
/// there): the change to make, or none.
pub type Decide<'d> = dyn FnMut(usize, Option<&Bytes>) -> Option<Change> + 'd;

/// [`write`] with each element's change decided on the value it holds, read as the change is
/// made (ZADD's NX, XX, GT and LT), so nothing is read twice.
pub fn write_decided(
    call: &mut Call<'_, '_>,
    key: &[u8],
    of: CollectionType,
    elements: &[&[u8]],
    decide: &mut Decide<'_>,
) -> Option<Vec<Option<Bytes>>> {
    if !gate_open(call) {
        return None;
    }
    let held = find(call, key, of).ok()?.map(|found| found.header);
    // With no live collection nothing is seen: every decision is known before any write, and
    // with it whether a header must be made.
    let mut planned: Option<Vec<Option<Change>>> =
        held.is_none().then(|| (0..elements.len()).map(|i| decide(i, None)).collect());
    let makes_header = planned.iter().flatten().any(|change| matches!(change, Some(Change::Add(_))));
    let writes = planned.as_ref().map_or(elements.len(), |p| p.iter().flatten().count());
    // The command runs alone (see `CommandSpec::alone`), and peers apply what it wrote as one
    // unit: a header it makes and its elements, or several elements.
    one_unit(call, writes + usize::from(makes_header) > 1, |call| match &mut planned {
        Some(planned) => write_in_unit(call, key, of, elements, (held, makes_header), &mut |i, _| planned[i].take()),
        None => write_in_unit(call, key, of, elements, (held, false), decide),
    })
}

/// Runs `f`, whose writes peers apply as one unit when `several` (it may write more than one
/// record), unless it runs inside a unit already (EXEC's, or a command's own).
pub fn one_unit<T>(call: &mut Call<'_, '_>, several: bool, f: impl FnOnce(&mut Call<'_, '_>) -> T) -> T {
    let own_unit = call.client.transaction.unit.is_none() && several;
    if own_unit {
        call.client.transaction.unit = Some(Vec::new());
    }
    let result = f(call);
    if own_unit {
        let unit = call.client.transaction.unit.take().unwrap_or_default();
        let shell = call.shell;
        shell.writes.push_unit(&shell.core, unit);
    }
    result
}

/// The header a write works under: `held`, the live collection's, or one made first when
/// `make` (the write adds and the key holds no live collection of type `of`); `None` when the
/// key holds nothing and the write only removes; `Err` once an error is answered.
fn header_for(
    call: &mut Call<'_, '_>,
    key: &[u8],
    of: CollectionType,
    held: Option<Header>,
    make: bool,
) -> Result<Option<Header>, ()> {
    if !make {
        return Ok(held);
    }
    let made = call.update(key, |local| match local.header_for_add(of) {
        Err(WrongType) => Decision::Keep(Err(WrongType)),
        Ok(ForAdd::Made(record, header)) => Decision::Write(record, Ok(header)),
        Ok(ForAdd::Held(header)) => Decision::Keep(Ok(header)),
    });
    match made {
        None => Err(()),
        Some(Err(WrongType)) => {
            call.reply.error(WRONGTYPE);
            Err(())
        }
        Some(Ok(header)) => Ok(Some(header)),
    }
}

fn write_in_unit(
    call: &mut Call<'_, '_>,
    key: &[u8],
    of: CollectionType,
    elements: &[&[u8]],
    (held, make): (Option<Header>, bool),
    decide: &mut Decide<'_>,
) -> Option<Vec<Option<Bytes>>> {
    let Some(header) = header_for(call, key, of, held, make).ok()? else {
        // Removing from a key that holds nothing changes nothing.
        return Some(elements.iter().map(|_| None).collect());
    };
    let mut before = Vec::with_capacity(elements.len());
    for (i, element) in elements.iter().enumerate() {
        let at = element_key(of, key, element);
        let seen = call.update(&at, |local| {
            let seen = local.element_seen(Some(&header));
            match decide(i, seen.as_ref()) {
                Some(Change::Add(value)) => Decision::Write(local.element_added(value), seen),
                Some(Change::Remove) => match seen.is_some().then(|| local.element_removed()).flatten() {
                    Some(record) => Decision::Write(record, seen),
                    None => Decision::Keep(seen),
                },
                None => Decision::Keep(seen),
            }
        })?;
        before.push(seen);
    }
    Some(before)
}

/// Why an increment of an element's number was refused.
pub enum NotIncremented {
    /// The value is no number of the kind the command increments.
    NotANumber,
    /// The result would leave the range.
    Overflow,
}

/// Increments the number of `element` of the collection `of` at `key` by `int` and `float`
/// (HINCRBY, HINCRBYFLOAT, ZINCRBY), making the collection if needed: each node's increments
/// count. `check` sees the number before (`None` for a new element, else `Some(None)` when it
/// is no number) and gives the number after, or why not. `None` once an error is answered.
pub fn increment(
    call: &mut Call<'_, '_>,
    key: &[u8],
    of: CollectionType,
    element: &[u8],
    (int, float): (i64, f64),
    check: impl FnOnce(Option<Option<Number>>) -> Result<Number, NotIncremented>,
) -> Option<Result<Number, NotIncremented>> {
    if !gate_open(call) {
        return None;
    }
    let held = find(call, key, of).ok()?.map(|found| found.header);
    let make = held.is_none();
    one_unit(call, make, |call| {
        let header = header_for(call, key, of, held, make).ok()??;
        let at = element_key(of, key, element);
        call.update(&at, |local| match check(local.element_number(&header)) {
            Err(why) => Decision::Keep(Err(why)),
            Ok(after) => match local.element_incremented(&header, int, float) {
                Some(record) => Decision::Write(record, Ok(after)),
                None => Decision::Keep(Err(NotIncremented::Overflow)),
            },
        })
    })
}

/// Deletes the collection `found` at `key` (DEL, UNLINK): every add seen here is gone, an add
/// made meanwhile on another node survives. `None` once an error is answered.
pub fn delete(call: &mut Call<'_, '_>, key: &[u8], found: &Found) -> Option<()> {
    call.update(key, |local| Decision::Write(local.collection_cleared(found), ()))
}

/// Answers how many elements the collection of type `of` at the first argument has (HLEN,
/// SCARD, ZCARD).
pub fn reply_len(call: &mut Call<'_, '_>, of: CollectionType) {
    let key = call.args.get(1);
    if let Ok(found) = find(call, key, of) {
        call.reply.integer(found.map_or(0, |f| f.len as i64));
    }
}

/// Answers whether the element named by the second argument is in the collection of type `of`
/// at the first (HEXISTS, SISMEMBER).
pub fn reply_contains(call: &mut Call<'_, '_>, of: CollectionType) {
    let (key, element) = (call.args.get(1), call.args.get(2));
    let Ok(found) = find(call, key, of) else { return };
    let is = found.is_some_and(|found| value(call, key, &found, element).is_some());
    call.reply.integer(i64::from(is));
}

/// The elements of `found` at `key`, with values, in element order.
pub fn all(call: &Call<'_, '_>, key: &[u8], found: &Found) -> Vec<(Bytes, Bytes)> {
    call.shell.store().elements(found.header.of, key, &found.header)
}

/// The value of `element` of `found` at `key`, if it is seen.
pub fn value(call: &Call<'_, '_>, key: &[u8], found: &Found, element: &[u8]) -> Option<Bytes> {
    call.shell.store().element_value(found.header.of, key, element, &found.header)
}

/// What TYPE answers for `key` at `now_ms`.
pub fn type_name(store: &kvs_store::Store, key: &[u8], now_ms: u64) -> &'static str {
    if let Some(found) = store.collection(key, now_ms) {
        return found.header.of.name();
    }
    match store.get_live(key, now_ms) {
        Some(record) if !record.is_collection() => "string",
        _ => "none",
    }
}

/// The encoding Redis 7.0 would report for a collection of this size and these elements (its
/// thresholds' defaults): listpack for a small hash or sorted set, intset for a small set of
/// integers, else hashtable or skiplist. kvs keeps every collection one way; this tells a
/// client what Redis would use.
pub fn encoding_of(call: &Call<'_, '_>, key: &[u8], found: &Found) -> &'static str {
    let small = |max_len: usize, max_bytes: usize| {
        found.len <= max_len && all(call, key, found).iter().all(|(n, v)| n.len() <= max_bytes && v.len() <= max_bytes)
    };
    match found.header.of {
        CollectionType::Hash | CollectionType::List if small(128, 64) => "listpack",
        CollectionType::Hash => "hashtable",
        CollectionType::Set
            if found.len <= 512
                && all(call, key, found).iter().all(|(m, _)| kvs_store::local::parse_integer(m).is_some()) =>
        {
            "intset"
        }
        CollectionType::Set => "hashtable",
        CollectionType::SortedSet if small(128, 64) => "listpack",
        CollectionType::SortedSet => "skiplist",
        CollectionType::List => "quicklist",
    }
}

/// The count of `SPOP|ZPOPMIN|ZPOPMAX key [count]`: `None` without one; `Err` once an error is
/// answered.
pub fn pop_count(call: &mut Call<'_, '_>) -> Result<Option<usize>, ()> {
    match call.args.len() {
        2 => Ok(None),
        3 => match super::parse_int(call.args.get(2)) {
            Some(count) if count >= 0 => Ok(Some(count as usize)),
            _ => {
                call.reply.error("ERR value is out of range, must be positive");
                Err(())
            }
        },
        _ => {
            call.reply.error("ERR syntax error");
            Err(())
        }
    }
}

/// Deletes what `key` holds: a collection by clearing what this node holds of it (an add made
/// meanwhile elsewhere survives), anything else by a tombstone, written even when absent here
/// (it also beats an older write still in flight). Whether it was live; `None` once an error
/// is answered.
pub fn delete_key(call: &mut Call<'_, '_>, key: &[u8]) -> Option<bool> {
    if let Some(found) = call.shell.store().collection(key, call.now_ms()) {
        return delete(call, key, &found).map(|()| true);
    }
    call.update(key, |local| Decision::Write(local.value(None, None), local.live().is_some()))
}

/// Replaces whatever `destination` holds with a collection of type `of` holding `elements`
/// (nothing, when empty): the STORE forms.
pub fn store_members(
    call: &mut Call<'_, '_>,
    destination: &[u8],
    of: CollectionType,
    elements: Vec<(Bytes, Bytes)>,
) -> Option<()> {
    if !gate_open(call) || !call.within_bounds(destination, None) {
        return None;
    }
    delete_key(call, destination)?;
    if elements.is_empty() {
        return Some(());
    }
    let changes = elements.iter().map(|(name, value)| (&name[..], Change::Add(value.clone()))).collect();
    write(call, destination, of, changes).map(drop)
}
