//! How a command runs in the database its connection selected, and how a client names one.
//!
//! A connection's keys are stored as its database's ([`kvs_store::databases`]): before a command
//! runs, the arguments its table row names as keys are rewritten to their stored form, so every
//! handler, the write path and replication see one keyspace; the commands that list keys (KEYS,
//! SCAN, RANDOMKEY) keep their database's and show them as its clients know them. In database 0
//! nothing is rewritten (the hot path costs a two-byte check per key: a key beginning with the
//! prefix of other databases' keys is refused there).
//!
//! Databases other than 0 wait for the cluster feature `databases`: a FLUSHDB of one of them is a
//! record protocol 8 cannot decode.

use super::{parse_int, Call, NOT_AN_INTEGER};
use kvs_proto::features::DATABASES;
use kvs_proto::resp::Args;
use kvs_store::databases;
use std::ops::Range;

/// A command's arguments with its keys in stored form: a buffer and the ranges of each argument.
pub(super) struct StoredArgs {
    buf: Vec<u8>,
    ranges: Vec<Range<usize>>,
}

impl StoredArgs {
    /// The arguments, to run the command with.
    pub(super) fn args(&self) -> Args<'_> {
        Args::new(&self.buf, &self.ranges)
    }
}

/// Where a command's keys are: its first, last (negative: from the end) and step, as its table
/// row and COMMAND give them, and the position of a key count the keys follow (0: none; ZUNION,
/// SINTERCARD and kin).
pub(super) type KeySpec = (i64, i64, i64, usize);

/// Where the keys of a command of key spec `keys` are among `args`.
pub(super) fn key_positions((first, last, step, numkeys_at): KeySpec, args: &Args<'_>) -> impl Iterator<Item = usize> {
    let argc = args.len();
    let first = first.max(0) as usize;
    let last = if last < 0 { argc as i64 + last } else { last };
    let step = step.max(1) as usize;
    let end = if first == 0 { 0 } else { (last.max(0) as usize + 1).min(argc) };
    let counted = match numkeys_at {
        0 => 0..0,
        at if at < argc => {
            let n = parse_int(args.get(at)).unwrap_or(0).clamp(0, argc as i64) as usize;
            at + 1..(at + 1 + n).min(argc)
        }
        _ => 0..0,
    };
    (first..end).step_by(step).chain(counted)
}

/// The arguments of a command with keys at `keys`, run in database `db`, keys rewritten; `None`
/// in database 0.
pub(super) fn stored_args(keys: KeySpec, args: &Args<'_>, db: u8) -> Option<StoredArgs> {
    if db == 0 || (keys.0 == 0 && keys.3 == 0) {
        return None;
    }
    let keys: Vec<usize> = key_positions(keys, args).collect();
    let mut stored = StoredArgs { buf: Vec::new(), ranges: Vec::with_capacity(args.len()) };
    for (i, arg) in args.iter().enumerate() {
        let start = stored.buf.len();
        if keys.contains(&i) {
            stored.buf.extend_from_slice(&databases::stored_key(db, arg));
        } else {
            stored.buf.extend_from_slice(arg);
        }
        stored.ranges.push(start..stored.buf.len());
    }
    Some(stored)
}

/// A key among a command's (at `keys`) that database 0 cannot take (it would read as another
/// database's).
pub(super) fn reserved_key<'a>(keys: KeySpec, args: &Args<'a>) -> Option<&'a [u8]> {
    match (keys.0, keys.1, keys.3) {
        (0, _, 0) => return None,
        // The common one-key command, without building the positions.
        (1, 1, 0) if args.len() > 1 => return Some(args.get(1)).filter(|key| databases::is_reserved(key)),
        _ => {}
    }
    key_positions(keys, args).map(|i| args.get(i)).find(|key| databases::is_reserved(key))
}

/// Whether a command's keys (at `keys`) lie in more than one hash slot: refused once the layout
/// partitions the key space, as Redis Cluster refuses them, since no node need hold them all.
pub(super) fn spans_slots(keys: KeySpec, args: &Args<'_>) -> bool {
    !matches!(keys, (0, _, _, 0) | (1, 1, _, 0)) && several(key_slots(keys, args))
}

/// The hash slots of a command's keys (at `keys`) among `args`.
pub(super) fn key_slots<'a>(keys: KeySpec, args: &'a Args<'_>) -> impl Iterator<Item = u16> + 'a {
    key_positions(keys, args).map(|i| kvs_proto::slot::slot_of(args.get(i)))
}

/// Whether `slots` names more than one slot.
pub(super) fn several(mut slots: impl Iterator<Item = u16>) -> bool {
    let first = slots.next();
    slots.any(|slot| Some(slot) != first)
}

/// Redis Cluster's answer to a command whose keys lie in more than one slot.
pub(super) const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";

/// The error for a key of database 0 that begins with the other databases' prefix.
pub(super) const RESERVED: &str =
    "ERR keys beginning with the bytes 0xFF 0xDB or 0xFF 0xEE are reserved (they store the keys of databases 1 and up, and collection elements)";

/// The database a client names, if this node has it and its gate allows it; else the error.
pub(super) fn database(call: &Call<'_, '_>, at: usize) -> Result<u8, &'static str> {
    let Some(db) = parse_int(call.args.get(at)) else {
        return Err(NOT_AN_INTEGER);
    };
    if !(0..call.shell.config.databases as i64).contains(&db) {
        return Err("ERR DB index is out of range");
    }
    if db != 0 && call.shell.core.partitioned() {
        return Err("ERR SELECT is not allowed in cluster mode");
    }
    if db != 0 && !call.shell.core.is_open(DATABASES) {
        return Err("ERR databases other than 0 need the cluster feature 'databases', which opens once every member speaks protocol 9 (kvs 0.3.0 or later)");
    }
    Ok(db as u8)
}
