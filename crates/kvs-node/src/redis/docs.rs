//! What `COMMAND DOCS` says of each command: a one-line summary, its group and the Redis
//! version that introduced it (what redis-cli shows as hints).

/// Summary, group and first Redis version of every command the port serves.
const DOCS: &[(&str, &str, &str, &str)] = &[
    ("get", "Returns the string value of a key.", "string", "1.0.0"),
    (
        "set",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        "string",
        "1.0.0",
    ),
    ("setnx", "Set the string value of a key only when the key doesn't exist.", "string", "1.0.0"),
    (
        "setex",
        "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
        "string",
        "2.0.0",
    ),
    ("psetex", "Sets both string value and expiration time in milliseconds of a key.", "string", "2.6.0"),
    ("getset", "Returns the previous string value of a key after setting it to a new value.", "string", "1.0.0"),
    ("getdel", "Returns the string value of a key after deleting the key.", "string", "6.2.0"),
    ("getex", "Returns the string value of a key after setting its expiration time.", "string", "6.2.0"),
    ("append", "Appends a string to the value of a key. Creates the key if it doesn't exist.", "string", "2.0.0"),
    ("setrange", "Overwrites a part of a string value with another by an offset.", "string", "2.2.0"),
    ("getrange", "Returns a substring of the string stored at a key.", "string", "2.4.0"),
    ("substr", "Returns a substring from a string value.", "string", "1.0.0"),
    (
        "msetnx",
        "Atomically modifies the string values of one or more keys only when all keys don't exist.",
        "string",
        "1.0.1",
    ),
    ("lcs", "Finds the longest common substring.", "string", "7.0.0"),
    ("setbit", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", "bitmap", "2.2.0"),
    ("getbit", "Returns a bit value by offset.", "bitmap", "2.2.0"),
    ("bitcount", "Counts the number of set bits (population counting) in a string.", "bitmap", "2.6.0"),
    ("bitpos", "Finds the first set (1) or clear (0) bit in a string.", "bitmap", "2.8.7"),
    ("bitop", "Performs bitwise operations on multiple strings, and stores the result.", "bitmap", "2.6.0"),
    ("bitfield", "Performs arbitrary bitfield integer operations on strings.", "bitmap", "3.2.0"),
    ("bitfield_ro", "Performs arbitrary read-only bitfield integer operations on strings.", "bitmap", "6.0.0"),
    ("pfadd", "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.", "hyperloglog", "2.8.9"),
    ("pfcount", "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).", "hyperloglog", "2.8.9"),
    ("pfmerge", "Merges one or more HyperLogLog values into a single key.", "hyperloglog", "2.8.9"),
    ("pfdebug", "Internal commands for debugging HyperLogLog values.", "hyperloglog", "2.8.9"),
    ("dump", "Returns a serialized representation of the value stored at a key.", "generic", "2.6.0"),
    ("restore", "Creates a key from the serialized representation of a value.", "generic", "2.6.0"),
    ("incr", "Increments the integer value of a key by one.", "string", "1.0.0"),
    ("decr", "Decrements the integer value of a key by one.", "string", "1.0.0"),
    ("incrby", "Increments the integer value of a key by a number.", "string", "1.0.0"),
    ("decrby", "Decrements a number from the integer value of a key.", "string", "1.0.0"),
    ("incrbyfloat", "Increment the floating point value of a key by a number.", "string", "2.6.0"),
    ("expire", "Sets the expiration time of a key in seconds.", "generic", "1.0.0"),
    ("pexpire", "Sets the expiration time of a key in milliseconds.", "generic", "2.6.0"),
    ("expireat", "Sets the expiration time of a key to a Unix timestamp.", "generic", "1.2.0"),
    ("pexpireat", "Sets the expiration time of a key to a Unix milliseconds timestamp.", "generic", "2.6.0"),
    ("ttl", "Returns the expiration time in seconds of a key.", "generic", "1.0.0"),
    ("pttl", "Returns the expiration time in milliseconds of a key.", "generic", "2.6.0"),
    ("expiretime", "Returns the expiration time of a key as a Unix timestamp.", "generic", "7.0.0"),
    ("pexpiretime", "Returns the expiration time of a key as a Unix milliseconds timestamp.", "generic", "7.0.0"),
    ("persist", "Removes the expiration time of a key.", "generic", "2.2.0"),
    ("flushall", "Removes all keys from all databases.", "server", "1.0.0"),
    ("flushdb", "Remove all keys from the current database.", "server", "1.0.0"),
    ("rename", "Renames a key and overwrites the destination.", "generic", "1.0.0"),
    ("renamenx", "Renames a key only when the target key name doesn't exist.", "generic", "1.0.0"),
    ("copy", "Copies the value of a key to a new key.", "generic", "6.2.0"),
    ("randomkey", "Returns a random key name from the database.", "generic", "1.0.0"),
    ("move", "Moves a key to another database.", "generic", "1.0.0"),
    ("swapdb", "Swaps two Redis databases.", "server", "4.0.0"),
    ("type", "Determines the type of value stored at a key.", "generic", "1.0.0"),
    (
        "touch",
        "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
        "generic",
        "3.2.1",
    ),
    ("unlink", "Asynchronously deletes one or more keys.", "generic", "4.0.0"),
    ("object", "A container for object introspection commands.", "generic", "2.2.3"),
    ("wait", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.", "generic", "3.0.0"),
    ("multi", "Starts a transaction.", "transactions", "1.2.0"),
    ("exec", "Executes all commands in a transaction.", "transactions", "1.2.0"),
    ("discard", "Discards a transaction.", "transactions", "2.0.0"),
    ("watch", "Monitors changes to keys to determine the execution of a transaction.", "transactions", "2.2.0"),
    ("unwatch", "Forgets about watched keys of a transaction.", "transactions", "2.2.0"),
    ("debug", "A container for debugging commands.", "server", "1.0.0"),
    ("del", "Deletes one or more keys.", "generic", "1.0.0"),
    ("exists", "Determines whether one or more keys exist.", "generic", "1.0.0"),
    ("mget", "Atomically returns the string values of one or more keys.", "string", "1.0.0"),
    ("mset", "Atomically creates or modifies the string values of one or more keys.", "string", "1.0.1"),
    ("strlen", "Returns the length of a string value.", "string", "2.2.0"),
    ("keys", "Returns all key names that match a pattern.", "generic", "1.0.0"),
    ("scan", "Iterates over the key names in the database.", "generic", "2.8.0"),
    ("dbsize", "Returns the number of keys in the database.", "server", "1.0.0"),
    ("ping", "Returns the server's liveliness response.", "connection", "1.0.0"),
    ("echo", "Returns the given string.", "connection", "1.0.0"),
    ("select", "Changes the selected database.", "connection", "1.0.0"),
    ("hello", "Handshakes with the Redis server.", "connection", "6.0.0"),
    ("auth", "Authenticates the connection.", "connection", "1.0.0"),
    ("quit", "Closes the connection.", "connection", "1.0.0"),
    ("client", "A container for client connection commands.", "connection", "2.4.0"),
    ("info", "Returns information and statistics about the server.", "server", "1.0.0"),
    ("command", "Returns detailed information about all commands.", "server", "2.8.13"),
    ("config", "A container for server configuration commands.", "server", "2.0.0"),
    ("latency", "A container for latency diagnostics commands.", "server", "2.8.13"),
    ("memory", "A container for memory diagnostics commands.", "server", "4.0.0"),
    ("reset", "Resets the connection.", "connection", "6.2.0"),
    ("slowlog", "A container for slow log commands.", "server", "2.2.12"),
    ("time", "Returns the server time.", "server", "2.6.0"),
    ("monitor", "Listens for all requests received by the server in real-time.", "server", "1.0.0"),
    ("role", "Returns the replication role.", "server", "2.8.12"),
    ("lastsave", "Returns the Unix timestamp of the last successful save to disk.", "server", "1.0.0"),
    ("save", "Synchronously saves the database(s) to disk.", "server", "1.0.0"),
    ("bgsave", "Asynchronously saves the database(s) to disk.", "server", "1.0.0"),
    ("bgrewriteaof", "Asynchronously rewrites the append-only file to disk.", "server", "1.0.0"),
];

/// The summary, group and first version of a command, by its lower-case name.
pub fn doc(name: &str) -> Option<(&'static str, &'static str, &'static str)> {
    DOCS.iter().find(|(n, ..)| *n == name).map(|(_, summary, group, since)| (*summary, *group, *since))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::table::COMMANDS;

    #[test]
    fn every_command_served_is_documented() {
        for spec in COMMANDS {
            assert!(doc(spec.name).is_some(), "{} has no COMMAND DOCS entry", spec.name);
        }
        assert_eq!(DOCS.len(), COMMANDS.len(), "a documented command is not served");
    }
}
