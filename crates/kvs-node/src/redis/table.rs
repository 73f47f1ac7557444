//! The command table: what each command is called, how many arguments it takes, how it is flagged.

/// One command as `COMMAND` describes it.
#[derive(Debug)]
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
}

const fn spec(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    first_key: i64,
    last_key: i64,
    step: i64,
) -> CommandSpec {
    CommandSpec { name, arity, flags, first_key, last_key, step }
}

/// Every command the Redis port answers.
pub const COMMANDS: &[CommandSpec] = &[
    spec("get", 2, &["readonly", "fast"], 1, 1, 1),
    spec("set", -3, &["write", "denyoom"], 1, 1, 1),
    spec("del", -2, &["write"], 1, -1, 1),
    spec("exists", -2, &["readonly", "fast"], 1, -1, 1),
    spec("mget", -2, &["readonly", "fast"], 1, -1, 1),
    spec("mset", -3, &["write", "denyoom"], 1, -1, 2),
    spec("strlen", 2, &["readonly", "fast"], 1, 1, 1),
    spec("keys", 2, &["readonly"], 0, 0, 0),
    spec("scan", -2, &["readonly"], 0, 0, 0),
    spec("dbsize", 1, &["readonly", "fast"], 0, 0, 0),
    spec("ping", -1, &["fast", "stale"], 0, 0, 0),
    spec("echo", 2, &["fast"], 0, 0, 0),
    spec("select", 2, &["loading", "stale", "fast"], 0, 0, 0),
    spec("hello", -1, &["noscript", "loading", "stale", "fast"], 0, 0, 0),
    spec("quit", -1, &["allow_busy", "fast"], 0, 0, 0),
    spec("client", -2, &["admin", "noscript", "loading", "stale"], 0, 0, 0),
    spec("info", -1, &["loading", "stale"], 0, 0, 0),
    spec("command", -1, &["loading", "stale"], 0, 0, 0),
    spec("config", -2, &["admin", "noscript", "loading", "stale"], 0, 0, 0),
    spec("bgrewriteaof", 1, &["admin", "noscript", "no_async_loading"], 0, 0, 0),
];

/// Looks a command up by name, ignoring case.
pub fn find(name: &[u8]) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
}

impl CommandSpec {
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
