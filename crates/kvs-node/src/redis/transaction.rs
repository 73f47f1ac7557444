//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Commands after MULTI are checked and queued; EXEC runs them all while holding the core's
//! isolation lock for writing, so no other client's command runs in between and no reader sees
//! half of them, then pushes their writes to every peer as one unit, which each peer applies
//! under its own isolation lock. WATCH remembers the record each key held; EXEC aborts if any has
//! changed since, whoever changed it (a client here or a write replicated from a peer). Like NX,
//! it is a check on the node that runs the EXEC, not a cluster-wide lock.

use super::database_keys::KeySpec;
use super::Call;
use kvs_proto::resp::Args;
use kvs_proto::Stamp;
use kvs_store::Record;
use std::ops::Range;

/// Most commands one transaction may queue.
pub const MAX_QUEUED_COMMANDS: usize = 100_000;

/// Most argument bytes one transaction may queue: the size of the largest reply a node builds
/// by default (`--max-reply-bytes`), so EXEC's work stays of the order of one command's.
pub const MAX_QUEUED_BYTES: usize = 64 << 20;

/// Most keys one connection may watch.
pub const MAX_WATCHED_KEYS: usize = 100_000;

/// The error past either bound; the transaction is discarded.
pub const TOO_LONG: &str =
    "ERR transaction too long (at most 100000 commands and 64 MiB of arguments); transaction discarded";

/// One queued command, its arguments copied out of the connection's buffer.
#[derive(Debug)]
pub struct Queued {
    bytes: Vec<u8>,
    ranges: Vec<Range<usize>>,
    /// The command writes: EXEC reserves room in the log for each of its arguments.
    writes: bool,
    /// Where its keys are (its command's key spec).
    keys: KeySpec,
}

impl Queued {
    fn of(args: Args<'_>, writes: bool, keys: KeySpec) -> Queued {
        let (mut bytes, mut ranges) = (Vec::new(), Vec::with_capacity(args.len()));
        for arg in args.iter() {
            ranges.push(bytes.len()..bytes.len() + arg.len());
            bytes.extend_from_slice(arg);
        }
        Queued { bytes, ranges, writes, keys }
    }

    /// The command's arguments.
    pub fn args(&self) -> Args<'_> {
        Args::new(&self.bytes, &self.ranges)
    }
}

/// Whether the keys of the `queued` commands lie in more than one hash slot.
fn spans_slots(queued: &[Queued]) -> bool {
    use super::database_keys::{key_slots, several};
    several(queued.iter().flat_map(|command| key_slots(command.keys, &command.args()).collect::<Vec<_>>()))
}

/// What a watched key held: the write its record carries, whether it was live (an expiry
/// changes no write but does change the key), and how many element changes its collections had
/// seen (an HSET or RPUSH writes an element, not the key's header).
pub type Held = (Option<Stamp>, bool, u64);

fn held(call: &Call<'_, '_>, key: &[u8], now_ms: u64) -> Held {
    let store = call.shell.store();
    let record = store.get(key);
    let elements = match record.as_ref().is_some_and(Record::is_collection) {
        true => store.collection_changes(key),
        false => 0,
    };
    (record.as_ref().map(Record::stamp), record.is_some_and(|r| r.is_live_at(now_ms)), elements)
}

/// A connection's transaction state.
#[derive(Debug, Default)]
pub struct Transaction {
    /// Commands queued since MULTI; `None` outside MULTI.
    pub queued: Option<Vec<Queued>>,
    /// A command could not be queued: EXEC discards the transaction.
    pub failed: bool,
    /// Watched keys, with what each held when watched.
    pub watched: Vec<(Vec<u8>, Held)>,
    /// While EXEC runs, the writes made, pushed as one unit at the end.
    pub unit: Option<Vec<Record>>,
    /// Argument bytes queued.
    queued_bytes: usize,
    /// The queue passed a bound: it was freed, and nothing more is queued until EXEC or DISCARD.
    too_long: bool,
}

impl Transaction {
    /// Whether commands are being queued.
    pub fn is_open(&self) -> bool {
        self.queued.is_some()
    }

    /// Queues a command that passed its checks (`writes`: the command table says it writes;
    /// `keys`: where its keys are); past the bounds, frees what was queued, fails
    /// the transaction and returns false (and keeps returning false until EXEC or DISCARD).
    pub fn queue(&mut self, args: Args<'_>, writes: bool, keys: KeySpec) -> bool {
        let bytes: usize = args.iter().map(<[u8]>::len).sum();
        let queued = self.queued.get_or_insert_with(Vec::new);
        let fits = self.queued_bytes.saturating_add(bytes) <= MAX_QUEUED_BYTES && queued.len() < MAX_QUEUED_COMMANDS;
        if !fits || self.too_long {
            *queued = Vec::new();
            self.too_long = true;
            self.failed = true;
            return false;
        }
        self.queued_bytes += bytes;
        queued.push(Queued::of(args, writes, keys));
        true
    }

    /// Room in the log EXEC needs: a record per key argument of every queued write command.
    pub fn writes_queued(&self) -> usize {
        let queued = self.queued.iter().flatten();
        queued.filter(|q| q.writes).map(|q| q.ranges.len()).sum()
    }

    fn reset(&mut self) {
        self.queued = None;
        self.failed = false;
        self.queued_bytes = 0;
        self.too_long = false;
        self.watched = Vec::new();
    }
}

/// Commands that act on the transaction itself rather than being queued.
pub fn is_control(name: &str) -> bool {
    matches!(name, "exec" | "discard" | "multi" | "watch" | "unwatch" | "quit" | "reset")
}

/// `MULTI`
pub fn multi(call: &mut Call<'_, '_>) {
    if call.client.transaction.is_open() {
        return call.reply.error("ERR MULTI calls can not be nested");
    }
    let watched = std::mem::take(&mut call.client.transaction.watched);
    call.client.transaction.reset();
    call.client.transaction.watched = watched;
    call.client.transaction.queued = Some(Vec::new());
    call.reply.simple("OK");
}

/// `DISCARD`
pub fn discard(call: &mut Call<'_, '_>) {
    if !call.client.transaction.is_open() {
        return call.reply.error("ERR DISCARD without MULTI");
    }
    call.client.transaction.reset();
    call.reply.simple("OK");
}

/// `WATCH key [key ...]`
pub fn watch(call: &mut Call<'_, '_>) {
    if call.client.transaction.is_open() {
        return call.reply.error("ERR WATCH inside MULTI is not allowed");
    }
    if call.client.transaction.watched.len() + call.args.len() - 1 > MAX_WATCHED_KEYS {
        return call.reply.error("ERR too many watched keys (at most 100000 per connection)");
    }
    let now_ms = call.now_ms();
    for key in call.args.iter().skip(1) {
        let held = held(call, key, now_ms);
        call.client.transaction.watched.push((key.to_vec(), held));
    }
    call.reply.simple("OK");
}

/// `UNWATCH`
pub fn unwatch(call: &mut Call<'_, '_>) {
    call.client.transaction.watched.clear();
    call.reply.simple("OK");
}

/// `EXEC` outside MULTI. Inside MULTI the session runs EXEC itself with [`exec`], since only it
/// dispatches commands; this row describes EXEC to `COMMAND` and answers a stray one.
pub fn exec_without_multi(call: &mut Call<'_, '_>) {
    call.reply.error("ERR EXEC without MULTI");
}

/// `EXEC`: runs the queued commands with `run`, one reply each in an array; a nil array if a
/// watched key changed; EXECABORT if a command could not be queued.
pub fn exec(call: &mut Call<'_, '_>, run: fn(&mut Call<'_, '_>)) {
    let Some(queued) = call.client.transaction.queued.take() else {
        return call.reply.error("ERR EXEC without MULTI");
    };
    if call.client.transaction.failed {
        call.client.transaction.reset();
        return call.reply.error("EXECABORT Transaction discarded because of previous errors.");
    }
    let shell = call.shell;
    if shell.core.partitioned() && spans_slots(&queued) {
        // As Redis Cluster: a transaction's keys must all be in one slot, which its owners hold.
        call.client.transaction.reset();
        return call.reply.error(super::database_keys::CROSSSLOT);
    }
    let _alone = shell.core.isolation.write().unwrap_or_else(|p| p.into_inner());
    let now_ms = call.now_ms();
    let changed = call.client.transaction.watched.iter().any(|(key, then)| held(call, key, now_ms) != *then);
    call.client.transaction.reset();
    if changed {
        return call.reply.null_array();
    }
    call.client.transaction.unit = Some(Vec::new());
    call.reply.array(queued.len());
    for command in &queued {
        run(&mut call.with_args(command.args()));
    }
    let unit = call.client.transaction.unit.take().unwrap_or_default();
    shell.writes.push_unit(&shell.core, unit);
}
