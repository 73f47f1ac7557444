//! SELECT, MOVE, SWAPDB, and how a command runs in the database its connection selected.
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

use super::table::CommandSpec;
use super::{parse_int, Call, NOT_AN_INTEGER};
use kvs_proto::features::DATABASES;
use kvs_proto::resp::Args;
use kvs_store::databases::{self, stored_key, user_key};
use kvs_store::local::Decision;
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

/// Where `spec`'s keys are among `argc` arguments (its first, last and step, as COMMAND shows).
fn key_positions(spec: &CommandSpec, argc: usize) -> impl Iterator<Item = usize> {
    let first = spec.first_key.max(0) as usize;
    let last = if spec.last_key < 0 { argc as i64 + spec.last_key } else { spec.last_key };
    let step = spec.step.max(1) as usize;
    let end = if first == 0 { 0 } else { (last.max(0) as usize + 1).min(argc) };
    (first..end).step_by(step)
}

/// The arguments of `spec` run in database `db`, keys rewritten; `None` in database 0.
pub(super) fn stored_args(spec: &CommandSpec, args: &Args<'_>, db: u8) -> Option<StoredArgs> {
    if db == 0 || spec.first_key == 0 {
        return None;
    }
    let keys: Vec<usize> = key_positions(spec, args.len()).collect();
    let mut stored = StoredArgs { buf: Vec::new(), ranges: Vec::with_capacity(args.len()) };
    for (i, arg) in args.iter().enumerate() {
        let start = stored.buf.len();
        if keys.contains(&i) {
            stored.buf.extend_from_slice(&stored_key(db, arg));
        } else {
            stored.buf.extend_from_slice(arg);
        }
        stored.ranges.push(start..stored.buf.len());
    }
    Some(stored)
}

/// A key among `spec`'s that database 0 cannot take (it would read as another database's).
pub(super) fn reserved_key<'a>(spec: &CommandSpec, args: &Args<'a>) -> Option<&'a [u8]> {
    match (spec.first_key, spec.last_key) {
        (0, _) => return None,
        // The common one-key command, without building the positions.
        (1, 1) if args.len() > 1 => return Some(args.get(1)).filter(|key| databases::is_reserved(key)),
        _ => {}
    }
    key_positions(spec, args.len()).map(|i| args.get(i)).find(|key| databases::is_reserved(key))
}

/// The error for a key of database 0 that begins with the other databases' prefix.
pub(super) const RESERVED: &str =
    "ERR keys beginning with the bytes 0xFF 0xDB are reserved (they store the keys of databases 1 and up)";

/// The database a client names, if this node has it and its gate allows it; else the error.
pub(super) fn database(call: &Call<'_, '_>, at: usize) -> Result<u8, &'static str> {
    let Some(db) = parse_int(call.args.get(at)) else {
        return Err(NOT_AN_INTEGER);
    };
    if !(0..call.shell.config.databases as i64).contains(&db) {
        return Err("ERR DB index is out of range");
    }
    if db != 0 && !call.shell.core.is_open(DATABASES) {
        return Err("ERR databases other than 0 need the cluster feature 'databases', which opens once every member speaks protocol 9 (kvs 0.3.0 or later)");
    }
    Ok(db as u8)
}

/// `SELECT index`
pub fn select(call: &mut Call<'_, '_>) {
    match database(call, 1) {
        Ok(db) => {
            call.client.db = db;
            call.clients.update(call.client.id, |c| c.db = db);
            call.reply.simple("OK")
        }
        Err(error) => call.reply.error(error),
    }
}

/// `MOVE key db`: the key copied to `db` (unless it exists there) and deleted here.
pub fn move_key(call: &mut Call<'_, '_>) {
    let to = match database(call, 2) {
        Ok(to) => to,
        Err(error) => return call.reply.error(error),
    };
    if to == call.client.db {
        return call.reply.error("ERR source and destination objects are the same");
    }
    let from = call.args.get(1).to_vec();
    let target = stored_key(to, user_key(&from)).into_owned();
    match super::keys::copy_key(call, &from, &target, false, true) {
        Some(Some(moved)) => call.reply.integer(moved as i64),
        Some(None) => call.reply.integer(0),
        None => {}
    }
}

/// A key's value and deadline as SWAPDB found it (`None`: absent).
type Found = Option<(Vec<u8>, Option<u64>)>;

/// Keys SWAPDB rewrites at most: it is a replicated write of every key of both databases.
const SWAPDB_MAX_KEYS: usize = 100_000;

/// `SWAPDB index1 index2`: every key of each database written into the other, as one unit.
///
/// Redis swaps two pointers; in a cluster where every node takes writes there is no pointer to
/// swap everywhere at once, so each key is rewritten (its value and deadline) in one transaction
/// unit that every node applies whole. A write made meanwhile on another node to one of these
/// keys wins or loses against the rewrite by version, as any write does.
pub fn swapdb(call: &mut Call<'_, '_>) {
    let (a, b) = match (database(call, 1), database(call, 2)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(error), _) | (_, Err(error)) => return call.reply.error(error),
    };
    if a == b {
        return call.reply.simple("OK");
    }
    let shell = call.shell;
    // Alone, as EXEC runs (inside EXEC it already is): no reader sees half a swap.
    let own_unit = call.client.transaction.unit.is_none();
    let _alone = own_unit.then(|| shell.core.isolation.write().unwrap_or_else(|p| p.into_inner()));
    let now_ms = call.now_ms();
    let held = |db: u8| {
        let (mut cursor, mut keys) = (0, Vec::new());
        loop {
            let (next, found) = shell.store().scan(cursor, usize::MAX, now_ms, |k| databases::database_of(k) == db);
            keys.extend(found);
            if next == 0 || keys.len() > SWAPDB_MAX_KEYS {
                return keys;
            }
            cursor = next;
        }
    };
    let (in_a, in_b) = (held(a), held(b));
    if in_a.len() + in_b.len() > SWAPDB_MAX_KEYS {
        return call.reply.error(&format!(
            "ERR SWAPDB rewrites every key of both databases; these hold more than {SWAPDB_MAX_KEYS} (use MOVE or a new database)"
        ));
    }
    let snapshot =
        |stored: &[u8]| shell.store().get_live(stored, now_ms).and_then(|r| Some((r.read_bytes()?, r.deadline_ms())));
    let mut writes: Vec<(Vec<u8>, Found)> = Vec::new();
    for key in in_a.iter().chain(&in_b) {
        let user = user_key(key);
        for (to, from) in [(a, b), (b, a)] {
            let target = stored_key(to, user).into_owned();
            if writes.iter().all(|(k, _)| *k != target) {
                writes.push((target, snapshot(&stored_key(from, user))));
            }
        }
    }
    if own_unit {
        call.client.transaction.unit = Some(Vec::new());
    }
    let mut refused = false;
    for (key, value) in &writes {
        let (value, deadline) = match value {
            Some((value, deadline)) => (Some(value.as_slice()), *deadline),
            None => (None, None),
        };
        if call.update(key, |local| Decision::Write(local.value(value, deadline), ())).is_none() {
            refused = true;
            break;
        }
    }
    if own_unit {
        let unit = call.client.transaction.unit.take().unwrap_or_default();
        shell.writes.push_unit(&shell.core, unit);
    }
    if !refused {
        call.reply.simple("OK");
    }
}
