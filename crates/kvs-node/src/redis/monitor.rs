//! MONITOR: every command this node's Redis port runs, as Redis prints it
//! (`+<seconds>.<micros> [0 <client address>] "arg" ...`), to the connections that asked.
//!
//! Lines go out through a bounded broadcast: a monitor that cannot keep up is disconnected rather
//! than buffering without limit, and a line shows at most 64 arguments of at most 1 KiB each
//! (the rest counted, as SLOWLOG counts it), so the backlog stays within 1024 lines of about
//! 64 KiB. With no monitor, a command pays one atomic load.

use crate::counted_broadcast::{CountedBroadcast, Listening};
use bytes::Bytes;
use kvs_proto::resp::Args;
use std::fmt::Write;

/// Lines a monitor may fall behind by before it is disconnected.
const BACKLOG: usize = 1024;
/// Arguments a line shows; the rest are counted.
const MAX_ARGS: usize = 64;
/// Bytes an argument shows; the rest are counted.
const MAX_ARG_BYTES: usize = 1024;

/// The monitors of one Redis port.
#[derive(Debug)]
pub struct Monitors(CountedBroadcast<Bytes>);

impl Default for Monitors {
    fn default() -> Self {
        Monitors(CountedBroadcast::new(BACKLOG))
    }
}

/// A connection in MONITOR mode, counted while it lasts; its `items` are the lines from when it
/// started watching.
pub type Watching<'a> = Listening<'a, Bytes>;

/// An argument as Redis's `sdscatrepr` quotes it.
fn quote(out: &mut String, arg: &[u8]) {
    out.push('"');
    for &b in arg {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            b if b.is_ascii_graphic() || b == b' ' => out.push(b as char),
            b => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
}

impl Monitors {
    /// Whether anyone watches (one atomic load).
    pub fn any(&self) -> bool {
        self.0.any()
    }

    /// Starts a monitor.
    pub fn watch(&self) -> Watching<'_> {
        self.0.listen()
    }

    /// Shows a command run at `wall_us` (µs since the epoch) by the client at `addr`; a password
    /// is never shown.
    pub fn feed(&self, wall_us: u64, addr: &str, args: &Args<'_>) {
        let mut line = format!("+{}.{:06} [0 {addr}]", wall_us / 1_000_000, wall_us % 1_000_000);
        let name = args.get(0);
        let secret = name.eq_ignore_ascii_case(b"AUTH") || name.eq_ignore_ascii_case(b"HELLO");
        for (i, arg) in args.iter().enumerate().take(MAX_ARGS) {
            line.push(' ');
            match secret && i > 0 {
                true => line.push_str("\"(redacted)\""),
                false => quote(&mut line, &arg[..arg.len().min(MAX_ARG_BYTES)]),
            }
            if arg.len() > MAX_ARG_BYTES && !(secret && i > 0) {
                let _ = write!(line, "... ({} more bytes)", arg.len() - MAX_ARG_BYTES);
            }
        }
        if args.len() > MAX_ARGS {
            let _ = write!(line, " ... ({} more arguments)", args.len() - MAX_ARGS);
        }
        line.push_str("\r\n");
        self.0.send(|| Bytes::from(line));
    }
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn a_line_is_bounded_whatever_the_command() {
        let monitors = super::Monitors::default();
        let mut watching = monitors.watch();
        let mut parser = kvs_proto::resp::CommandParser::default();
        let big = format!("SET k {}\r\n", "x".repeat(5000));
        let used = parser.parse(big.as_bytes(), &Default::default()).unwrap().unwrap();
        monitors.feed(1_500_000, "127.0.0.1:1", &parser.command(&big.as_bytes()[..used]));
        let line = watching.items.try_recv().unwrap();
        assert!(line.len() < 1200, "{}", line.len());
        assert!(String::from_utf8_lossy(&line).contains("... (3976 more bytes)"));
    }

    #[test]
    fn arguments_are_quoted_as_redis_quotes_them() {
        let mut out = String::new();
        quote(&mut out, b"a \"b\"\\\n\x01");
        assert_eq!(out, r#""a \"b\"\\\n\x01""#);
    }
}
