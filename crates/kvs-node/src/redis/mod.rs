//! The Redis-protocol port (`--redis-port`): RESP2/RESP3 clients on the same store and replication.
//!
//! - [`clients`]: where the port listens, open connections, client ids.
//! - [`session`]: one connection: read, parse every complete command in place, answer all in one write.
//! - [`table`]: the one registry of commands: name, arity, flags and handler; `COMMAND` itself.
//! - [`docs`]: what `COMMAND DOCS` says of each command.
//! - [`keyspace`]: GET, SET, DEL, EXISTS, MGET, MSET, STRLEN, KEYS, SCAN, DBSIZE.
//! - [`strings`]: SET's options, SETNX, SETEX, GETSET, GETDEL, GETEX, APPEND, SETRANGE, GETRANGE.
//! - [`lcs`]: the LCS command.
//! - [`bits`]: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO.
//! - [`counters`]: INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT.
//! - [`databases`]: SELECT, MOVE, SWAPDB.
//! - [`database_keys`]: running a command in the selected database (its keys rewritten).
//! - [`collections`]: what hash, set and sorted-set commands share, behind the gate `collections`.
//! - [`hashes`]: HSET and the other hash commands.
//! - [`sets`]: SADD and the other set commands.
//! - [`sorted_sets`]: ZADD and the other sorted-set commands; [`sorted_ranges`] their ranges,
//!   [`sorted_combine`] their unions, intersections and differences.
//! - [`hyperloglog`]: PFADD, PFCOUNT, PFMERGE, PFDEBUG GETREG, behind the gate `hyperloglog`.
//! - [`expire`]: EXPIRE and its kin, TTL and its kin, PERSIST.
//! - [`keys`]: FLUSHALL, RENAME, COPY, RANDOMKEY, TYPE, TOUCH, OBJECT.
//! - [`dump`]: DUMP and RESTORE, with a payload of kvs's own.
//! - [`debug`]: the DEBUG subcommands Redis's tests use.
//! - [`forward`]: a command of a slot served elsewhere, run by an owner for a plain client;
//!   [`forwarded`]: such commands run here for other members.
//! - [`transaction`]: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//! - [`blocking_commands`]: SAVE, WAIT and WAITAOF, which block their connection.
//! - [`wait`]: WAIT, behind the cluster feature gate `wait`.
//! - [`connection`]: PING, ECHO, SELECT, HELLO, QUIT, RESET.
//! - [`client_command`]: CLIENT and its subcommands.
//! - [`tracking`]: CLIENT TRACKING and the other client-side caching subcommands.
//! - [`info`]: INFO, every section Redis 7 has.
//! - [`config`]: CONFIG GET, SET, RESETSTAT, REWRITE.
//! - [`config_rewrite`]: CONFIG REWRITE's edit of the `--config` file, comments kept.
//! - [`server`]: TIME, ROLE, LASTSAVE, BGSAVE, BGREWRITEAOF.
//! - [`slowlog`]: SLOWLOG, and the commands it keeps.
//! - [`latency`]: LATENCY, the latency monitor.
//! - [`memory`]: MEMORY USAGE, STATS, DOCTOR.
//! - [`monitor`]: MONITOR's feed of every command run; [`monitor_mode`]: a connection watching it.
//! - [`pubsub`]: SUBSCRIBE and its kin, PUBLISH, SPUBLISH, PUBSUB, across the cluster.
//! - [`help`]: the HELP subcommands and the error that points to them.

pub mod bits;
pub mod blocking_commands;
pub mod client_command;
pub mod clients;
pub mod cluster;
pub mod cluster_topology;
pub mod collection_scan;
pub mod collections;
pub mod config;
pub mod config_rewrite;
pub mod connection;
pub mod counters;
pub mod database_keys;
pub mod databases;
pub mod debug;
pub mod docs;
pub mod dump;
pub mod expire;
pub mod forward;
pub mod forwarded;
pub mod hashes;
pub mod help;
pub mod hyperloglog;
pub mod info;
pub mod keys;
pub mod keyspace;
pub mod latency;
pub mod lcs;
pub mod list_edits;
pub mod list_moves;
mod list_wait;
pub mod lists;
pub mod memory;
pub mod monitor;
pub mod monitor_mode;
pub mod pubsub;
pub mod server;
pub mod session;
pub mod sets;
pub mod slowlog;
pub mod sorted_combine;
pub mod sorted_ranges;
pub mod sorted_sets;
pub mod strings;
pub mod table;
pub mod tracking;
pub mod transaction;
pub mod wait;

use crate::batch_clock::BatchClock;
use crate::credentials::Access;
use kvs_proto::resp::{Args, Protocol, Reply};
use kvs_store::local::{Decision, Local};
use kvs_store::log::{Durable, Room};

/// Per-connection state the commands read and change.
#[derive(Debug)]
pub struct ClientState {
    /// Unique per node, as `CLIENT ID` reports.
    pub id: u64,
    /// Set by `CLIENT SETNAME` or `HELLO ... SETNAME`.
    pub name: Option<Vec<u8>>,
    /// RESP2 until `HELLO 3`.
    pub protocol: Protocol,
    /// Set by `QUIT`: close after this reply.
    pub quit: bool,
    /// The user this connection is logged in as and what it may do (`None`: not logged in, on a
    /// node with a users file; without one, every connection is an admin).
    pub user: Option<(String, Access)>,
    /// MULTI/EXEC/WATCH state.
    pub transaction: transaction::Transaction,
    /// Where the connection comes from, for slowing down an address that keeps failing to log in.
    pub source: std::net::IpAddr,
    /// Failed logins on this connection; at [`connection::MAX_FAILED_LOGINS`] it is closed.
    pub failed_logins: u32,
    /// How CLIENT UNBLOCK reaches this connection's blocking command.
    pub unblock: std::sync::Arc<clients::Unblock>,
    /// CLIENT REPLY: whether replies are sent.
    pub replies: Replies,
    /// Set by MONITOR: after this batch the connection only watches.
    pub monitor: bool,
    /// The database SELECT chose (0 until then).
    pub db: u8,
    /// Set by ASKING, for its next command: a client an `-ASK` sent here is served here, even
    /// from a slot this node is still fetching (as Redis serves it at a slot's importing node).
    pub asking: bool,
    /// It showed it follows `-MOVED` and `-ASK` (see [`forward`]): it gets them rather than
    /// having its commands forwarded.
    pub follows_redirects: bool,
    /// Whether its current command may be forwarded to an owner, and where.
    pub forward: forward::Forward,
    /// Where its forwarded commands of each slot last ran.
    pub sticky: forward::Sticky,
    /// CLIENT NO-TOUCH ON: its reads do not count as uses of the keys (for LRU and LFU).
    pub no_touch: bool,
    /// Reads of keys since the last batch (found, not found), for INFO's keyspace_hits/_misses.
    pub lookups: [u64; 2],
    /// What it subscribes to, once it ran a SUBSCRIBE of any kind.
    pub pubsub: Option<pubsub::Subscriptions>,
    /// CLIENT TRACKING: how it tracks, if it does.
    pub tracking: Option<crate::tracking::Mode>,
    /// CLIENT CACHING YES or NO, for its next command.
    pub caching: Option<bool>,
    /// Where its pub/sub messages and tracking invalidations wait to be sent.
    pub mailbox: std::sync::Arc<crate::pubsub::Mailbox>,
    /// BLPOP and kin: what it waits on between runs.
    pub list_block: list_moves::ListBlock,
}

impl ClientState {
    /// A new connection's state, numbered `id`, logged in as `user` (see [`ClientState::user`]):
    /// RESP2, database 0, nothing subscribed, tracked or queued.
    pub fn new(
        id: u64,
        user: Option<(String, Access)>,
        source: std::net::IpAddr,
        unblock: std::sync::Arc<clients::Unblock>,
        mailbox: std::sync::Arc<crate::pubsub::Mailbox>,
    ) -> Self {
        ClientState {
            id,
            name: None,
            protocol: Protocol::Resp2,
            quit: false,
            user,
            transaction: Default::default(),
            source,
            failed_logins: 0,
            unblock,
            replies: Default::default(),
            monitor: false,
            db: 0,
            asking: false,
            follows_redirects: false,
            forward: Default::default(),
            sticky: Default::default(),
            no_touch: false,
            lookups: [0; 2],
            pubsub: None,
            tracking: None,
            caching: None,
            mailbox,
            list_block: Default::default(),
        }
    }
}

/// CLIENT REPLY's modes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Replies {
    /// Every reply is sent.
    #[default]
    On,
    /// None is.
    Off,
    /// Not this command's (CLIENT REPLY SKIP), nor the next one's.
    SkipThisAndNext,
    /// Not the next one's.
    SkipNext,
}

/// What every command handler receives.
pub struct Call<'a, 'r> {
    /// The node served.
    pub shell: &'a crate::shell::Shell,
    /// The command's arguments, name first.
    pub args: Args<'a>,
    /// The connection's state.
    pub client: &'a mut ClientState,
    /// Every connection of the Redis port (CLIENT LIST, CLIENT KILL, INFO clients).
    pub clients: &'a clients::RedisClients,
    /// Where the reply goes.
    pub reply: &'a mut Reply<'r>,
    /// Writes to await (under `--fsync always`) before the batch's replies go out.
    pub durable: &'a mut Vec<Durable>,
    /// Room reserved in the log's queue for this command's writes.
    pub room: &'a mut Room,
    /// When the command runs.
    pub clock: &'a BatchClock,
}

impl<'r> Call<'_, 'r> {
    /// The same call with other arguments: a command EXEC runs from its queue, or one whose keys
    /// were rewritten for the selected database.
    pub fn with_args<'b>(&'b mut self, args: Args<'b>) -> Call<'b, 'r> {
        Call {
            shell: self.shell,
            args,
            client: &mut *self.client,
            clients: self.clients,
            reply: &mut *self.reply,
            durable: &mut *self.durable,
            room: &mut *self.room,
            clock: self.clock,
        }
    }
}

impl Call<'_, '_> {
    /// Writes through the node; when the write is refused replies with an error and returns false.
    pub fn write(&mut self, key: &[u8], value: Option<&[u8]>) -> bool {
        self.update(key, |local| Decision::Write(local.value(value, None), ())).is_some()
    }
}

impl Call<'_, '_> {
    /// The node's wall clock (Unix milliseconds): when this command runs, for expiry.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms(self.shell)
    }

    /// Runs a command on one key through the node's write path (see
    /// [`kvs_store::Replica::update`]); when the write is refused replies with an error and
    /// returns `None`.
    pub fn update<T>(&mut self, key: &[u8], decide: impl FnOnce(&Local<'_>) -> Decision<T>) -> Option<T> {
        let now_ms = self.now_ms();
        match self.shell.update(key, now_ms, self.room, self.client.transaction.unit.as_mut(), decide) {
            Ok((written, answer)) => {
                self.durable.extend(written.and_then(|w| w.durable));
                Some(answer)
            }
            Err(error) => {
                self.reply.error(&format!("ERR {error}"));
                None
            }
        }
    }

    /// Checks a key and optional value against the node's bounds, replying with an error if over.
    pub fn within_bounds(&mut self, key: &[u8], value: Option<&[u8]>) -> bool {
        let limits = self.shell.config.limits;
        if key.len() > limits.max_key_bytes {
            self.reply.error(&format!("ERR key of {} bytes exceeds the limit of {}", key.len(), limits.max_key_bytes));
            return false;
        }
        if let Some(value) = value.filter(|v| v.len() > limits.max_value_bytes) {
            let message = format!("ERR value of {} bytes exceeds the limit of {}", value.len(), limits.max_value_bytes);
            self.reply.error(&message);
            return false;
        }
        true
    }

    /// Refuses a reply of `bytes` past `--max-reply-bytes` with an error; true if refused. Checked
    /// before a large reply is built, so no command can make the node allocate without bound.
    pub fn reply_too_large(&mut self, bytes: usize) -> bool {
        let max = self.shell.config.max_reply_bytes;
        if bytes <= max {
            return false;
        }
        self.reply.error(&format!("ERR reply of {bytes} bytes or more would exceed --max-reply-bytes ({max})"));
        true
    }

    /// Refuses a glob pattern longer than [`kvs_store::glob::MAX_PATTERN_BYTES`] with an error;
    /// true if refused.
    pub fn pattern_too_long(&mut self, pattern: &[u8]) -> bool {
        let max = kvs_store::glob::MAX_PATTERN_BYTES;
        if pattern.len() <= max {
            return false;
        }
        self.reply.error(&format!("ERR pattern of {} bytes is longer than the {max} allowed", pattern.len()));
        true
    }
}

/// Bytes a bulk string of `len` takes in a reply, framing included.
pub fn bulk_cost(len: usize) -> usize {
    len + 16
}

/// Redis's wording for a wrong argument count.
pub fn wrong_arity(reply: &mut Reply<'_>, name: &str) {
    reply.error(&format!("ERR wrong number of arguments for '{}' command", name.to_ascii_lowercase()));
}

/// Parses a decimal integer argument the way Redis does.
pub fn parse_int(arg: &[u8]) -> Option<i64> {
    kvs_store::local::parse_integer(arg)
}

/// Redis's reply to an argument that is not an integer.
pub const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
