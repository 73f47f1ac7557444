//! SLOWLOG: the commands that ran for `slowlog-log-slower-than` µs or longer, newest first, at
//! most `slowlog-max-len` of them (both CONFIG SET-able, Redis's defaults), each with its
//! arguments (at most 32, each cut at 128 bytes, as Redis keeps them), time, duration and client.

use super::{help, parse_int, Call};
use kvs_proto::resp::Args;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Arguments kept per entry; the last of them says how many more there were.
const MAX_ARGS: usize = 32;
/// Bytes kept per argument; the rest is counted.
const MAX_ARG_BYTES: usize = 128;
/// Longest `slowlog-max-len` accepted: entries (at most 32 arguments of about 150 bytes each)
/// stay within about 50 MB whatever a client sets.
pub const MAX_LEN_LIMIT: usize = 10_000;

/// One slow command.
#[derive(Clone, Debug)]
struct Entry {
    id: u64,
    at_s: u64,
    took_us: u64,
    args: Vec<Vec<u8>>,
    client_addr: String,
    client_name: Vec<u8>,
}

/// The slow log.
#[derive(Debug)]
pub struct SlowLog {
    entries: Mutex<VecDeque<Entry>>,
    next_id: AtomicU64,
    /// `slowlog-log-slower-than`, µs (negative: off; 0: every command).
    pub slower_than_us: AtomicI64,
    /// `slowlog-max-len`.
    pub max_len: AtomicUsize,
}

impl Default for SlowLog {
    fn default() -> Self {
        SlowLog {
            entries: Mutex::default(),
            next_id: AtomicU64::new(0),
            slower_than_us: AtomicI64::new(10_000),
            max_len: AtomicUsize::new(128),
        }
    }
}

/// The arguments as an entry keeps them; a password is never kept.
fn kept_args(args: &Args<'_>) -> Vec<Vec<u8>> {
    let name = args.get(0);
    let secret = name.eq_ignore_ascii_case(b"AUTH") || name.eq_ignore_ascii_case(b"HELLO");
    let shown = args.len().min(if args.len() > MAX_ARGS { MAX_ARGS - 1 } else { MAX_ARGS });
    let mut kept: Vec<Vec<u8>> = args
        .iter()
        .take(shown)
        .enumerate()
        .map(|(i, arg)| match arg.len() {
            _ if secret && i > 0 => b"(redacted)".to_vec(),
            n if n > MAX_ARG_BYTES => {
                let mut cut = arg[..MAX_ARG_BYTES].to_vec();
                cut.extend_from_slice(format!("... ({} more bytes)", n - MAX_ARG_BYTES).as_bytes());
                cut
            }
            _ => arg.to_vec(),
        })
        .collect();
    if args.len() > shown {
        kept.push(format!("... ({} more arguments)", args.len() - shown).as_bytes().to_vec());
    }
    kept
}

impl SlowLog {
    /// Logs a command that took `took`, if that is slow enough (one atomic load otherwise).
    pub fn consider(&self, took: Duration, args: &Args<'_>, client_addr: impl FnOnce() -> String, name: &[u8]) {
        let threshold = self.slower_than_us.load(Ordering::Relaxed);
        let took_us = took.as_micros() as u64;
        if threshold < 0 || took_us < threshold as u64 {
            return;
        }
        let entry = Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            at_s: kvs_store::clock::wall_clock_ms() / 1000,
            took_us,
            args: kept_args(args),
            client_addr: client_addr(),
            client_name: name.to_vec(),
        };
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.push_front(entry);
        entries.truncate(self.max_len.load(Ordering::Relaxed));
    }

    /// Applies a new `slowlog-max-len` to what is kept.
    pub fn trim(&self) {
        let max = self.max_len.load(Ordering::Relaxed);
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).truncate(max);
    }

    fn reset(&self) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

const HELP: &[&str] = &[
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
];

/// `SLOWLOG GET [count] | LEN | RESET | HELP`
pub fn slowlog(call: &mut Call<'_, '_>) {
    let sub = call.args.get(1).to_ascii_uppercase();
    let log = &call.clients.slowlog;
    match (sub.as_slice(), call.args.len()) {
        (b"HELP", 2) => help::reply(call, "SLOWLOG", HELP),
        (b"LEN", 2) => {
            let len = log.entries.lock().unwrap_or_else(|p| p.into_inner()).len();
            call.reply.integer(len as i64)
        }
        (b"RESET", 2) => {
            log.reset();
            call.reply.simple("OK")
        }
        (b"GET", 2 | 3) => {
            let count = match call.args.len() {
                2 => 10,
                _ => match parse_int(call.args.get(2)) {
                    Some(-1) => i64::MAX,
                    Some(n) if n >= 0 => n,
                    _ => return call.reply.error("ERR count should be greater than or equal to -1"),
                },
            };
            let entries: Vec<Entry> = {
                let entries = log.entries.lock().unwrap_or_else(|p| p.into_inner());
                entries.iter().take(count.min(MAX_LEN_LIMIT as i64) as usize).cloned().collect()
            };
            call.reply.array(entries.len());
            for entry in entries {
                call.reply.array(6);
                call.reply.integer(entry.id as i64);
                call.reply.integer(entry.at_s as i64);
                call.reply.integer(entry.took_us as i64);
                call.reply.array(entry.args.len());
                for arg in &entry.args {
                    call.reply.bulk(arg);
                }
                call.reply.bulk(entry.client_addr.as_bytes());
                call.reply.bulk(&entry.client_name);
            }
        }
        _ => help::unknown_subcommand(call, "SLOWLOG"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_are_kept_shortened_and_passwords_never() {
        let mut parser = kvs_proto::resp::CommandParser::default();
        let mut command = |line: &[u8]| {
            let used = parser.parse(line, &Default::default()).unwrap().unwrap();
            kept_args(&parser.command(&line[..used]))
        };
        let long = format!("SET k {}\r\n", "x".repeat(200));
        let kept = command(long.as_bytes());
        assert_eq!(kept[2].len(), MAX_ARG_BYTES + "... (72 more bytes)".len());
        let many = format!("MSET {}\r\n", (0..40).map(|i| i.to_string()).collect::<Vec<_>>().join(" "));
        let kept = command(many.as_bytes());
        assert_eq!(kept.len(), MAX_ARGS);
        assert_eq!(kept[MAX_ARGS - 1], b"... (10 more arguments)");
        assert_eq!(
            command(b"AUTH user secret\r\n"),
            vec![b"AUTH".to_vec(), b"(redacted)".to_vec(), b"(redacted)".to_vec()]
        );
    }
}
