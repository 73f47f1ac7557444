//! The command table: the one registry of commands. A row holds each command's name, arity,
//! flags and key positions (what `COMMAND` reports) and its handler, so a command cannot be
//! listed without being served, nor served without being listed.

use super::{
    bits, client_command, cluster, collection_scan, config, connection, counters, databases, debug, dump, expire,
    hashes, hyperloglog, info, keys, keyspace, latency, lcs, list_edits, list_moves, lists, memory, pubsub, server,
    sets, slowlog, sorted_combine, sorted_ranges, sorted_sets, strings, transaction, wait, Call,
};
use crate::credentials::Access;
use kvs_proto::resp::Reply;

/// What runs a command: writes exactly one reply.
pub type Handler = fn(&mut Call<'_, '_>);

/// One command: how `COMMAND` describes it, and what runs it.
pub struct CommandSpec {
    /// Lower-case name.
    pub name: &'static str,
    /// Redis arity: `n` exactly n arguments (name included), `-n` at least n.
    pub arity: i64,
    /// Redis command flags.
    pub flags: &'static [&'static str],
    /// Position of the first key argument (0: none).
    pub first_key: i64,
    /// Position of the last key argument (-1: the last argument).
    pub last_key: i64,
    /// Step between key arguments.
    pub step: i64,
    /// Position of a key count the keys follow (0: none): ZUNION, SINTERCARD and kin.
    pub numkeys_at: usize,
    /// Runs it.
    pub handler: Handler,
    /// What a user must be allowed to run it (from its flags, read once rather than per call).
    access: Access,
    /// Whether it may write (the `write` flag).
    pub writes: bool,
    /// Whether it runs without logging in (the `no_auth` flag).
    pub no_auth: bool,
    /// Whether it may grow the data (the `denyoom` flag): refused with -OOM when the node is
    /// over its memory limit and cannot evict.
    pub grows: bool,
    /// Whether it runs alone, as EXEC does: a collection write, which may write a header and
    /// several elements that no reader may see half of.
    pub alone: bool,
    /// Whether it reads several keys or elements (it holds the isolation lock for reading, so it
    /// never sees half of an EXEC or a collection write).
    pub reads_several: bool,
    /// Whether it works on strings only: on a collection it answers WRONGTYPE (GET, the INCR
    /// family and SET, the hot ones, check for themselves or replace any type).
    pub strings_only: bool,
}

/// Commands on strings that answer WRONGTYPE on a collection (see [`CommandSpec::strings_only`]).
#[rustfmt::skip]
const STRINGS_ONLY: &[&str] = &[
    "append", "setrange", "getrange", "substr", "strlen", "getset", "getdel", "getex", "setbit", "getbit", "bitcount",
    "bitpos", "bitfield", "bitfield_ro", "lcs", "pfadd", "pfcount", "pfmerge", "incrbyfloat",
];

/// Collection writes that may write several records (see [`CommandSpec::alone`]).
#[rustfmt::skip]
const ALONE: &[&str] = &[
    "hset", "hsetnx", "hmset", "hdel", "hincrby", "hincrbyfloat", "sadd", "srem", "spop", "smove", "sinterstore",
    "sunionstore", "sdiffstore", "zadd", "zincrby", "zrem", "zremrangebyrank", "zremrangebyscore", "zremrangebylex",
    "zpopmin", "zpopmax", "zrangestore", "zunionstore", "zinterstore", "zdiffstore", "rename", "renamenx", "copy",
    "move", "lpush", "rpush", "lpushx", "rpushx", "lpop", "rpop", "lset", "linsert", "lrem", "ltrim", "lmove",
    "rpoplpush", "lmpop", "blpop", "brpop", "blmove", "brpoplpush", "blmpop",
];

/// Reads of several keys or collection elements (see [`CommandSpec::reads_several`]).
#[rustfmt::skip]
const READS_SEVERAL: &[&str] = &[
    "mget", "exists", "touch", "hgetall", "hkeys", "hvals", "hmget", "hlen", "hrandfield", "hscan", "smembers",
    "smismember", "scard", "srandmember", "sinter", "sintercard", "sunion", "sdiff", "sscan", "zmscore", "zcard",
    "zcount", "zlexcount", "zrank", "zrevrank", "zrange", "zrangebyscore", "zrevrangebyscore", "zrangebylex",
    "zrevrangebylex", "zrevrange", "zrandmember", "zunion", "zinter", "zdiff", "zintercard", "zscan", "lrange",
    "lindex", "lpos",
];

const fn spec(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    (first_key, last_key, step): (i64, i64, i64),
    handler: Handler,
) -> CommandSpec {
    let writes = has_flag(flags, "write");
    let access = if has_flag(flags, "admin") {
        Access::Admin
    } else if writes {
        Access::Write
    } else {
        Access::Read
    };
    let no_auth = has_flag(flags, "no_auth");
    let grows = has_flag(flags, "denyoom");
    let alone = has_flag(ALONE, name);
    let reads_several = has_flag(READS_SEVERAL, name);
    let strings_only = has_flag(STRINGS_ONLY, name);
    CommandSpec {
        name,
        arity,
        flags,
        first_key,
        last_key,
        step,
        numkeys_at: 0,
        handler,
        access,
        writes,
        no_auth,
        grows,
        alone,
        reads_several,
        strings_only,
    }
}

/// A row whose keys follow a key count at `at` (besides any its key spec names).
const fn counted(mut row: CommandSpec, at: usize) -> CommandSpec {
    row.numkeys_at = at;
    row
}

/// Whether `flags` holds `flag` (a `const fn`, so the table is built at compile time); also
/// whether a list of names holds one.
const fn has_flag(flags: &[&str], flag: &str) -> bool {
    let mut i = 0;
    while i < flags.len() {
        if same_bytes(flags[i].as_bytes(), flag.as_bytes()) {
            return true;
        }
        i += 1;
    }
    false
}

const fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Every command the Redis port answers (names at most `MAX_NAME` bytes, lower case).
pub static COMMANDS: &[CommandSpec] = &[
    spec("get", 2, &["readonly", "fast"], (1, 1, 1), keyspace::get),
    spec("set", -3, &["write", "denyoom"], (1, 1, 1), strings::set),
    spec("setnx", 3, &["write", "denyoom", "fast"], (1, 1, 1), strings::setnx),
    spec("setex", 4, &["write", "denyoom"], (1, 1, 1), strings::setex),
    spec("psetex", 4, &["write", "denyoom"], (1, 1, 1), strings::psetex),
    spec("getset", 3, &["write", "denyoom", "fast"], (1, 1, 1), strings::getset),
    spec("getdel", 2, &["write", "fast"], (1, 1, 1), strings::getdel),
    spec("getex", -2, &["write", "fast"], (1, 1, 1), strings::getex),
    spec("append", 3, &["write", "denyoom", "fast"], (1, 1, 1), strings::append),
    spec("setrange", 4, &["write", "denyoom"], (1, 1, 1), strings::setrange),
    spec("getrange", 4, &["readonly"], (1, 1, 1), strings::getrange),
    spec("substr", 4, &["readonly"], (1, 1, 1), strings::getrange),
    spec("msetnx", -3, &["write", "denyoom"], (1, -1, 2), strings::msetnx),
    spec("lcs", -3, &["readonly"], (1, 2, 1), lcs::lcs),
    spec("setbit", 4, &["write", "denyoom"], (1, 1, 1), bits::setbit),
    spec("getbit", 3, &["readonly", "fast"], (1, 1, 1), bits::getbit),
    spec("bitcount", -2, &["readonly"], (1, 1, 1), bits::bitcount),
    spec("bitpos", -3, &["readonly"], (1, 1, 1), bits::bitpos),
    spec("bitop", -4, &["write", "denyoom"], (2, -1, 1), bits::bitop),
    spec("bitfield", -2, &["write", "denyoom"], (1, 1, 1), bits::bitfield),
    spec("bitfield_ro", -2, &["readonly", "fast"], (1, 1, 1), bits::bitfield_ro),
    spec("pfadd", -2, &["write", "denyoom", "fast"], (1, 1, 1), hyperloglog::pfadd),
    spec("pfcount", -2, &["readonly"], (1, -1, 1), hyperloglog::pfcount),
    spec("pfmerge", -2, &["write", "denyoom"], (1, -1, 1), hyperloglog::pfmerge),
    spec("pfdebug", 3, &["readonly", "admin"], (2, 2, 1), hyperloglog::pfdebug),
    spec("hset", -4, &["write", "denyoom", "fast"], (1, 1, 1), hashes::hset),
    spec("hsetnx", 4, &["write", "denyoom", "fast"], (1, 1, 1), hashes::hsetnx),
    spec("hmset", -4, &["write", "denyoom", "fast"], (1, 1, 1), hashes::hmset),
    spec("hget", 3, &["readonly", "fast"], (1, 1, 1), hashes::hget),
    spec("hmget", -3, &["readonly", "fast"], (1, 1, 1), hashes::hmget),
    spec("hgetall", 2, &["readonly"], (1, 1, 1), hashes::hgetall),
    spec("hkeys", 2, &["readonly"], (1, 1, 1), hashes::hkeys),
    spec("hvals", 2, &["readonly"], (1, 1, 1), hashes::hvals),
    spec("hlen", 2, &["readonly", "fast"], (1, 1, 1), hashes::hlen),
    spec("hexists", 3, &["readonly", "fast"], (1, 1, 1), hashes::hexists),
    spec("hdel", -3, &["write", "fast"], (1, 1, 1), hashes::hdel),
    spec("hincrby", 4, &["write", "denyoom", "fast"], (1, 1, 1), hashes::hincrby),
    spec("hincrbyfloat", 4, &["write", "denyoom", "fast"], (1, 1, 1), hashes::hincrbyfloat),
    spec("hstrlen", 3, &["readonly", "fast"], (1, 1, 1), hashes::hstrlen),
    spec("hrandfield", -2, &["readonly"], (1, 1, 1), hashes::hrandfield),
    spec("hscan", -3, &["readonly"], (1, 1, 1), collection_scan::hscan),
    spec("sadd", -3, &["write", "denyoom", "fast"], (1, 1, 1), sets::sadd),
    spec("srem", -3, &["write", "fast"], (1, 1, 1), sets::srem),
    spec("smembers", 2, &["readonly"], (1, 1, 1), sets::smembers),
    spec("sismember", 3, &["readonly", "fast"], (1, 1, 1), sets::sismember),
    spec("smismember", -3, &["readonly", "fast"], (1, 1, 1), sets::smismember),
    spec("scard", 2, &["readonly", "fast"], (1, 1, 1), sets::scard),
    spec("spop", -2, &["write", "fast"], (1, 1, 1), sets::spop),
    spec("srandmember", -2, &["readonly"], (1, 1, 1), sets::srandmember),
    spec("smove", 4, &["write", "fast"], (1, 2, 1), sets::smove),
    spec("sinter", -2, &["readonly"], (1, -1, 1), sets::sinter),
    counted(spec("sintercard", -3, &["readonly"], (0, 0, 0), sets::sintercard), 1),
    spec("sinterstore", -3, &["write", "denyoom"], (1, -1, 1), sets::sinterstore),
    spec("sunion", -2, &["readonly"], (1, -1, 1), sets::sunion),
    spec("sunionstore", -3, &["write", "denyoom"], (1, -1, 1), sets::sunionstore),
    spec("sdiff", -2, &["readonly"], (1, -1, 1), sets::sdiff),
    spec("sdiffstore", -3, &["write", "denyoom"], (1, -1, 1), sets::sdiffstore),
    spec("sscan", -3, &["readonly"], (1, 1, 1), collection_scan::sscan),
    spec("lpush", -3, &["write", "denyoom", "fast"], (1, 1, 1), lists::lpush),
    spec("rpush", -3, &["write", "denyoom", "fast"], (1, 1, 1), lists::rpush),
    spec("lpushx", -3, &["write", "denyoom", "fast"], (1, 1, 1), lists::lpushx),
    spec("rpushx", -3, &["write", "denyoom", "fast"], (1, 1, 1), lists::rpushx),
    spec("lpop", -2, &["write", "fast"], (1, 1, 1), lists::lpop),
    spec("rpop", -2, &["write", "fast"], (1, 1, 1), lists::rpop),
    spec("llen", 2, &["readonly", "fast"], (1, 1, 1), lists::llen),
    spec("lrange", 4, &["readonly"], (1, 1, 1), lists::lrange),
    spec("lindex", 3, &["readonly"], (1, 1, 1), lists::lindex),
    spec("lset", 4, &["write", "denyoom"], (1, 1, 1), list_edits::lset),
    spec("linsert", 5, &["write", "denyoom"], (1, 1, 1), list_edits::linsert),
    spec("lrem", 4, &["write"], (1, 1, 1), list_edits::lrem),
    spec("ltrim", 4, &["write"], (1, 1, 1), list_edits::ltrim),
    spec("lpos", -3, &["readonly"], (1, 1, 1), list_edits::lpos),
    spec("lmove", 5, &["write", "denyoom"], (1, 2, 1), list_moves::lmove),
    spec("rpoplpush", 3, &["write", "denyoom"], (1, 2, 1), list_moves::rpoplpush),
    counted(spec("lmpop", -4, &["write"], (0, 0, 0), list_moves::lmpop), 1),
    spec("blpop", -3, &["write", "blocking"], (1, -2, 1), list_moves::blpop),
    spec("brpop", -3, &["write", "blocking"], (1, -2, 1), list_moves::brpop),
    spec("blmove", 6, &["write", "denyoom", "blocking"], (1, 2, 1), list_moves::blmove),
    spec("brpoplpush", 4, &["write", "denyoom", "blocking"], (1, 2, 1), list_moves::brpoplpush),
    counted(spec("blmpop", -5, &["write", "blocking"], (0, 0, 0), list_moves::blmpop), 2),
    spec("zadd", -4, &["write", "denyoom", "fast"], (1, 1, 1), sorted_sets::zadd),
    spec("zincrby", 4, &["write", "denyoom", "fast"], (1, 1, 1), sorted_sets::zincrby),
    spec("zscore", 3, &["readonly", "fast"], (1, 1, 1), sorted_sets::zscore),
    spec("zmscore", -3, &["readonly", "fast"], (1, 1, 1), sorted_sets::zmscore),
    spec("zcard", 2, &["readonly", "fast"], (1, 1, 1), sorted_sets::zcard),
    spec("zcount", 4, &["readonly", "fast"], (1, 1, 1), sorted_ranges::zcount),
    spec("zlexcount", 4, &["readonly", "fast"], (1, 1, 1), sorted_ranges::zlexcount),
    spec("zrank", -3, &["readonly", "fast"], (1, 1, 1), sorted_ranges::zrank),
    spec("zrevrank", -3, &["readonly", "fast"], (1, 1, 1), sorted_ranges::zrevrank),
    spec("zrange", -4, &["readonly"], (1, 1, 1), sorted_ranges::zrange),
    spec("zrangestore", -5, &["write", "denyoom"], (1, 2, 1), sorted_ranges::zrangestore),
    spec("zrangebyscore", -4, &["readonly"], (1, 1, 1), sorted_ranges::zrangebyscore),
    spec("zrevrangebyscore", -4, &["readonly"], (1, 1, 1), sorted_ranges::zrevrangebyscore),
    spec("zrangebylex", -4, &["readonly"], (1, 1, 1), sorted_ranges::zrangebylex),
    spec("zrevrangebylex", -4, &["readonly"], (1, 1, 1), sorted_ranges::zrevrangebylex),
    spec("zrevrange", -4, &["readonly"], (1, 1, 1), sorted_ranges::zrevrange),
    spec("zrem", -3, &["write", "fast"], (1, 1, 1), sorted_sets::zrem),
    spec("zremrangebyrank", 4, &["write"], (1, 1, 1), sorted_ranges::zremrangebyrank),
    spec("zremrangebyscore", 4, &["write"], (1, 1, 1), sorted_ranges::zremrangebyscore),
    spec("zremrangebylex", 4, &["write"], (1, 1, 1), sorted_ranges::zremrangebylex),
    spec("zpopmin", -2, &["write", "fast"], (1, 1, 1), sorted_sets::zpopmin),
    spec("zpopmax", -2, &["write", "fast"], (1, 1, 1), sorted_sets::zpopmax),
    spec("zrandmember", -2, &["readonly"], (1, 1, 1), sorted_sets::zrandmember),
    counted(spec("zunion", -3, &["readonly"], (0, 0, 0), sorted_combine::zunion), 1),
    counted(spec("zinter", -3, &["readonly"], (0, 0, 0), sorted_combine::zinter), 1),
    counted(spec("zdiff", -3, &["readonly"], (0, 0, 0), sorted_combine::zdiff), 1),
    counted(spec("zunionstore", -4, &["write", "denyoom"], (1, 1, 1), sorted_combine::zunionstore), 2),
    counted(spec("zinterstore", -4, &["write", "denyoom"], (1, 1, 1), sorted_combine::zinterstore), 2),
    counted(spec("zdiffstore", -4, &["write", "denyoom"], (1, 1, 1), sorted_combine::zdiffstore), 2),
    counted(spec("zintercard", -3, &["readonly"], (0, 0, 0), sorted_combine::zintercard), 1),
    spec("zscan", -3, &["readonly"], (1, 1, 1), collection_scan::zscan),
    spec("dump", 2, &["readonly"], (1, 1, 1), dump::dump),
    spec("restore", -4, &["write", "denyoom"], (1, 1, 1), dump::restore),
    spec("incr", 2, &["write", "denyoom", "fast"], (1, 1, 1), counters::incr),
    spec("decr", 2, &["write", "denyoom", "fast"], (1, 1, 1), counters::decr),
    spec("incrby", 3, &["write", "denyoom", "fast"], (1, 1, 1), counters::incrby),
    spec("decrby", 3, &["write", "denyoom", "fast"], (1, 1, 1), counters::decrby),
    spec("incrbyfloat", 3, &["write", "denyoom", "fast"], (1, 1, 1), counters::incrbyfloat),
    spec("expire", -3, &["write", "fast"], (1, 1, 1), expire::expire),
    spec("pexpire", -3, &["write", "fast"], (1, 1, 1), expire::pexpire),
    spec("expireat", -3, &["write", "fast"], (1, 1, 1), expire::expireat),
    spec("pexpireat", -3, &["write", "fast"], (1, 1, 1), expire::pexpireat),
    spec("ttl", 2, &["readonly", "fast"], (1, 1, 1), expire::ttl),
    spec("pttl", 2, &["readonly", "fast"], (1, 1, 1), expire::pttl),
    spec("expiretime", 2, &["readonly", "fast"], (1, 1, 1), expire::expiretime),
    spec("pexpiretime", 2, &["readonly", "fast"], (1, 1, 1), expire::pexpiretime),
    spec("persist", 2, &["write", "fast"], (1, 1, 1), expire::persist),
    spec("flushall", -1, &["write"], (0, 0, 0), keys::flushall),
    spec("flushdb", -1, &["write"], (0, 0, 0), keys::flushdb),
    spec("move", 3, &["write", "fast"], (1, 1, 1), databases::move_key),
    spec("swapdb", 3, &["write", "fast"], (0, 0, 0), databases::swapdb),
    spec("rename", 3, &["write"], (1, 2, 1), keys::rename),
    spec("renamenx", 3, &["write", "fast"], (1, 2, 1), keys::renamenx),
    spec("copy", -3, &["write", "denyoom"], (1, 2, 1), keys::copy),
    spec("randomkey", 1, &["readonly"], (0, 0, 0), keys::randomkey),
    spec("type", 2, &["readonly", "fast"], (1, 1, 1), keys::type_of),
    spec("touch", -2, &["readonly", "fast"], (1, -1, 1), keys::touch),
    spec("unlink", -2, &["write", "fast"], (1, -1, 1), keyspace::del),
    spec("object", -2, &["readonly"], (2, 2, 1), keys::object),
    spec("wait", 3, &["noscript"], (0, 0, 0), wait::wait_in_transaction),
    spec("waitaof", 4, &["noscript"], (0, 0, 0), wait::waitaof_in_transaction),
    spec("multi", 1, &["noscript", "loading", "stale", "fast", "allow_busy"], (0, 0, 0), transaction::multi),
    spec("exec", 1, &["noscript", "loading", "stale", "skip_slowlog"], (0, 0, 0), transaction::exec_without_multi),
    spec("discard", 1, &["noscript", "loading", "stale", "fast", "allow_busy"], (0, 0, 0), transaction::discard),
    spec("watch", -2, &["noscript", "loading", "stale", "fast", "allow_busy"], (1, -1, 1), transaction::watch),
    spec("unwatch", 1, &["noscript", "loading", "stale", "fast", "allow_busy"], (0, 0, 0), transaction::unwatch),
    spec("debug", -2, &["admin", "noscript", "loading", "stale"], (0, 0, 0), debug::debug),
    spec("del", -2, &["write"], (1, -1, 1), keyspace::del),
    spec("exists", -2, &["readonly", "fast"], (1, -1, 1), keyspace::exists),
    spec("mget", -2, &["readonly", "fast"], (1, -1, 1), keyspace::mget),
    spec("mset", -3, &["write", "denyoom"], (1, -1, 2), keyspace::mset),
    spec("strlen", 2, &["readonly", "fast"], (1, 1, 1), keyspace::strlen),
    spec("keys", 2, &["readonly"], (0, 0, 0), keyspace::keys),
    spec("scan", -2, &["readonly"], (0, 0, 0), keyspace::scan),
    spec("dbsize", 1, &["readonly", "fast"], (0, 0, 0), keyspace::dbsize),
    spec("ping", -1, &["fast", "stale"], (0, 0, 0), connection::ping),
    spec("echo", 2, &["fast"], (0, 0, 0), connection::echo),
    spec("select", 2, &["loading", "stale", "fast"], (0, 0, 0), databases::select),
    spec("hello", -1, &["noscript", "loading", "stale", "fast", "no_auth"], (0, 0, 0), connection::hello),
    spec("auth", -2, &["noscript", "loading", "stale", "fast", "no_auth"], (0, 0, 0), connection::auth),
    spec("quit", -1, &["allow_busy", "fast", "no_auth"], (0, 0, 0), connection::quit),
    spec("client", -2, &["admin", "noscript", "loading", "stale"], (0, 0, 0), client_command::client),
    spec("info", -1, &["loading", "stale"], (0, 0, 0), info::info),
    spec("command", -1, &["loading", "stale"], (0, 0, 0), command),
    spec("config", -2, &["admin", "noscript", "loading", "stale"], (0, 0, 0), config::config),
    spec("slowlog", -2, &["admin", "loading", "stale"], (0, 0, 0), slowlog::slowlog),
    spec("latency", -2, &["admin", "noscript", "loading", "stale"], (0, 0, 0), latency::latency),
    spec("memory", -2, &["readonly"], (2, 2, 1), memory::memory),
    spec("cluster", -2, &["loading", "stale"], (0, 0, 0), cluster::cluster),
    spec("readonly", 1, &["loading", "stale", "fast"], (0, 0, 0), cluster::connection_mode),
    spec("readwrite", 1, &["loading", "stale", "fast"], (0, 0, 0), cluster::connection_mode),
    spec("asking", 1, &["fast"], (0, 0, 0), cluster::connection_mode),
    spec("reset", 1, &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"], (0, 0, 0), connection::reset),
    spec("time", 1, &["loading", "stale", "fast"], (0, 0, 0), server::time),
    spec("subscribe", -2, &["pubsub", "noscript", "loading", "stale"], (0, 0, 0), pubsub::subscribe),
    spec("psubscribe", -2, &["pubsub", "noscript", "loading", "stale"], (0, 0, 0), pubsub::psubscribe),
    spec("ssubscribe", -2, &["pubsub", "noscript", "loading", "stale"], (0, 0, 0), pubsub::ssubscribe),
    spec("unsubscribe", -1, &["pubsub", "noscript", "loading", "stale"], (0, 0, 0), pubsub::unsubscribe),
    spec("punsubscribe", -1, &["pubsub", "noscript", "loading", "stale"], (0, 0, 0), pubsub::punsubscribe),
    spec("sunsubscribe", -1, &["pubsub", "noscript", "loading", "stale"], (0, 0, 0), pubsub::sunsubscribe),
    spec("publish", 3, &["pubsub", "loading", "stale", "fast"], (0, 0, 0), pubsub::publish),
    spec("spublish", 3, &["pubsub", "loading", "stale", "fast"], (0, 0, 0), pubsub::spublish),
    spec("pubsub", -2, &["pubsub", "loading", "stale"], (0, 0, 0), pubsub::pubsub),
    spec("monitor", 1, &["admin", "noscript", "loading", "stale"], (0, 0, 0), server::monitor),
    spec("role", 1, &["noscript", "loading", "stale", "fast"], (0, 0, 0), server::role),
    spec("lastsave", 1, &["loading", "stale", "fast"], (0, 0, 0), server::lastsave),
    spec("save", 1, &["admin", "noscript", "no_async_loading", "no_multi"], (0, 0, 0), server::save),
    spec("bgsave", -1, &["admin", "noscript"], (0, 0, 0), server::bgsave),
    spec("bgrewriteaof", 1, &["admin", "noscript", "no_async_loading"], (0, 0, 0), server::bgrewriteaof),
];

/// Longest command name.
const MAX_NAME: usize = 16;

/// The table's rows by name length, so a lookup compares only names of the right length (a
/// handful), byte by byte, with no hashing and no call to `memcmp`.
static BY_LENGTH: std::sync::LazyLock<[Vec<&'static CommandSpec>; MAX_NAME + 1]> = std::sync::LazyLock::new(|| {
    let mut by_length: [Vec<&'static CommandSpec>; MAX_NAME + 1] = Default::default();
    for spec in COMMANDS {
        by_length[spec.name.len()].push(spec);
    }
    by_length
});

/// A command's row number in [`COMMANDS`] (a static, so every row has one address).
pub fn position(spec: &CommandSpec) -> usize {
    let offset = spec as *const CommandSpec as usize - COMMANDS.as_ptr() as usize;
    let row = offset / size_of::<CommandSpec>();
    debug_assert!(std::ptr::eq(&COMMANDS[row], spec), "a row of the table");
    row
}

/// Looks a command up by name, ignoring case.
pub fn find(name: &[u8]) -> Option<&'static CommandSpec> {
    let candidates = BY_LENGTH.get(name.len())?;
    candidates.iter().copied().find(|c| c.name.bytes().zip(name).all(|(a, b)| a == b.to_ascii_lowercase()))
}

impl CommandSpec {
    /// Where its keys are: first, last (negative: from the end) and step.
    pub fn keys(&self) -> (i64, i64, i64, usize) {
        (self.first_key, self.last_key, self.step, self.numkeys_at)
    }

    /// What a user must be allowed to run this command: its `write` and `admin` flags say.
    pub fn needs(&self) -> Access {
        self.access
    }

    /// Whether `argc` arguments (name included) fit this command's arity.
    pub fn accepts(&self, argc: usize) -> bool {
        let argc = argc as i64;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }
}

fn write_spec(reply: &mut Reply<'_>, spec: &CommandSpec) {
    reply.array(6);
    reply.bulk(spec.name.as_bytes());
    reply.integer(spec.arity);
    reply.array(spec.flags.len());
    for flag in spec.flags {
        reply.simple(flag);
    }
    reply.integer(spec.first_key);
    reply.integer(spec.last_key);
    reply.integer(spec.step);
}

/// `COMMAND`, `COMMAND COUNT`, `COMMAND INFO name ...`, `COMMAND DOCS [name ...]`
pub fn command(call: &mut Call<'_, '_>) {
    if call.args.len() == 1 {
        call.reply.array(COMMANDS.len());
        for spec in COMMANDS {
            write_spec(call.reply, spec);
        }
        return;
    }
    let sub = call.args.get(1);
    if sub.eq_ignore_ascii_case(b"COUNT") {
        call.reply.integer(COMMANDS.len() as i64);
    } else if sub.eq_ignore_ascii_case(b"INFO") {
        call.reply.array(call.args.len() - 2);
        for name in call.args.iter().skip(2) {
            match find(name) {
                Some(spec) => write_spec(call.reply, spec),
                None => call.reply.null(),
            }
        }
    } else if sub.eq_ignore_ascii_case(b"DOCS") {
        let named: Vec<&CommandSpec> = if call.args.len() == 2 {
            COMMANDS.iter().collect()
        } else {
            call.args.iter().skip(2).filter_map(find).collect()
        };
        call.reply.map(named.len());
        for spec in named {
            let (summary, group, since) = super::docs::doc(spec.name).unwrap_or(("", "generic", ""));
            call.reply.bulk(spec.name.as_bytes());
            call.reply.map(3);
            for (field, value) in [("summary", summary), ("since", since), ("group", group)] {
                call.reply.bulk(field.as_bytes());
                call.reply.bulk(value.as_bytes());
            }
        }
    } else if sub.eq_ignore_ascii_case(b"LIST") {
        command_list(call);
    } else if sub.eq_ignore_ascii_case(b"GETKEYS") || sub.eq_ignore_ascii_case(b"GETKEYSANDFLAGS") {
        command_getkeys(call, sub.eq_ignore_ascii_case(b"GETKEYSANDFLAGS"));
    } else if sub.eq_ignore_ascii_case(b"HELP") && call.args.len() == 2 {
        super::help::reply(call, "COMMAND", COMMAND_HELP);
    } else {
        super::help::unknown_subcommand(call, "COMMAND");
    }
}

const COMMAND_HELP: &[&str] = &[
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
];

/// `COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]`
fn command_list(call: &mut Call<'_, '_>) {
    let names: Vec<&str> = match call.args.len() {
        2 => COMMANDS.iter().map(|spec| spec.name).collect(),
        5 if call.args.get(2).eq_ignore_ascii_case(b"FILTERBY") => {
            let (filter, value) = (call.args.get(3).to_ascii_uppercase(), call.args.get(4).to_ascii_lowercase());
            match filter.as_slice() {
                // kvs loads no modules.
                b"MODULE" => Vec::new(),
                b"ACLCAT" => COMMANDS.iter().filter(|spec| in_category(spec, &value)).map(|spec| spec.name).collect(),
                b"PATTERN" => COMMANDS
                    .iter()
                    .filter(|spec| kvs_store::glob::matches(&value, spec.name.as_bytes()))
                    .map(|spec| spec.name)
                    .collect(),
                _ => return call.reply.error("ERR syntax error"),
            }
        }
        _ => return call.reply.error("ERR syntax error"),
    };
    call.reply.array(names.len());
    for name in names {
        call.reply.bulk(name.as_bytes());
    }
}

/// Whether `spec` is in the ACL category `category` (the ones its flags and group decide).
fn in_category(spec: &CommandSpec, category: &[u8]) -> bool {
    let group = super::docs::doc(spec.name).map_or("generic", |(_, group, _)| group);
    match category {
        b"read" => !spec.writes && spec.first_key > 0,
        b"write" => spec.writes,
        b"admin" | b"dangerous" => spec.access == Access::Admin,
        b"fast" => spec.flags.contains(&"fast"),
        b"slow" => !spec.flags.contains(&"fast"),
        b"keyspace" => group == "generic",
        other => group.as_bytes() == other,
    }
}

/// The positions of `spec`'s keys among `argc` arguments (name included).
fn key_positions(spec: &CommandSpec, argc: usize) -> Vec<usize> {
    if spec.first_key <= 0 {
        return Vec::new();
    }
    let last = if spec.last_key < 0 { argc as i64 + spec.last_key } else { spec.last_key.min(argc as i64 - 1) };
    (spec.first_key..=last).step_by(spec.step.max(1) as usize).map(|i| i as usize).collect()
}

/// `COMMAND GETKEYS command [arg ...]` and `COMMAND GETKEYSANDFLAGS ...`
fn command_getkeys(call: &mut Call<'_, '_>, with_flags: bool) {
    if call.args.len() < 3 {
        return super::help::unknown_subcommand(call, "COMMAND");
    }
    let Some(spec) = find(call.args.get(2)) else {
        return call.reply.error("ERR Invalid command specified");
    };
    let argc = call.args.len() - 2;
    if !spec.accepts(argc) {
        return call.reply.error("ERR Invalid number of arguments specified for command");
    }
    let keys = key_positions(spec, argc);
    if keys.is_empty() {
        return call.reply.error("ERR The command has no key arguments");
    }
    call.reply.array(keys.len());
    for position in keys {
        let key = call.args.get(position + 2);
        if with_flags {
            call.reply.array(2);
            call.reply.bulk(key);
            call.reply.array(1);
            call.reply.simple(if spec.writes { "RW" } else { "RO" });
        } else {
            call.reply.bulk(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_found_by_its_name_in_any_case() {
        for spec in COMMANDS {
            assert!(spec.name.len() <= MAX_NAME && spec.name == spec.name.to_ascii_lowercase(), "{}", spec.name);
            assert_eq!(find(spec.name.to_ascii_uppercase().as_bytes()).map(|s| s.name), Some(spec.name));
        }
        assert!(find(b"no-such-command").is_none());
        assert!(find(b"a-name-far-longer-than-any-command").is_none());
    }
}
