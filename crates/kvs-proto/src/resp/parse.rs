//! Parsing one client command (a RESP array of bulk strings, or an inline line) from a buffer.

use std::ops::Range;
use thiserror::Error;

/// Bounds on what one command may claim.
#[derive(Clone, Copy, Debug)]
pub struct RespLimits {
    /// Most arguments in one command.
    pub max_args: usize,
    /// Longest bulk string.
    pub max_bulk: usize,
    /// Longest inline command or length line.
    pub max_inline: usize,
}

impl Default for RespLimits {
    fn default() -> Self {
        RespLimits { max_args: 1024 * 1024, max_bulk: 16 * 1024 * 1024, max_inline: 64 * 1024 }
    }
}

/// A malformed command; the text is Redis's own wording, sent as `-ERR Protocol error: ...`.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("Protocol error: {0}")]
pub struct RespError(pub String);

fn error(message: impl Into<String>) -> RespError {
    RespError(message.into())
}

/// The arguments of one parsed command, as slices of the buffer it was parsed from.
#[derive(Clone, Copy, Debug)]
pub struct Args<'a> {
    buf: &'a [u8],
    ranges: &'a [Range<usize>],
}

impl<'a> Args<'a> {
    /// Pairs a buffer with ranges produced by [`parse_command`] on it.
    pub fn new(buf: &'a [u8], ranges: &'a [Range<usize>]) -> Self {
        Args { buf, ranges }
    }

    /// Number of arguments, the command name included.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether there are no arguments at all.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Argument `i` (0 is the command name).
    pub fn get(&self, i: usize) -> &'a [u8] {
        &self.buf[self.ranges[i].clone()]
    }

    /// Every argument in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.ranges.iter().map(|r| &self.buf[r.clone()])
    }
}

/// Parses one command at the start of `buf` into `args` (cleared first), from scratch.
///
/// Returns `Ok(Some(consumed))` for a whole command (`args` may be empty for a blank line or an
/// empty array, which Redis ignores), `Ok(None)` when more bytes are needed. A connection keeps a
/// [`CommandParser`] instead, which resumes where it stopped.
pub fn parse_command(buf: &[u8], limits: &RespLimits, args: &mut Vec<Vec<u8>>) -> Result<Option<usize>, RespError> {
    let mut parser = CommandParser::default();
    let parsed = parser.parse(buf, limits)?;
    args.clear();
    if let Some(used) = parsed {
        args.extend(parser.command(&buf[..used]).iter().map(<[u8]>::to_vec));
    }
    Ok(parsed)
}

/// A command parsed as its bytes arrive: an incomplete command is not parsed again from its
/// start on every read (a command of a million arguments trickled in would otherwise cost time
/// quadratic in its size), but resumed after the last whole argument, or line bytes scanned.
#[derive(Debug, Default)]
pub struct CommandParser {
    /// Argument ranges found so far, relative to the command's first byte.
    args: Vec<Range<usize>>,
    /// An array command's argument count, once its header line is read.
    count: Option<usize>,
    /// Where parsing resumes: after the last whole argument (array), or the bytes already
    /// searched for the end of the line (inline).
    pos: usize,
    /// An inline command's arguments with quotes and escapes resolved (then `args` index here).
    inline: Vec<u8>,
    /// Whether the command just returned was inline.
    was_inline: bool,
}

impl CommandParser {
    /// Parses, or goes on parsing, the command at the start of `buf`, which must begin at the
    /// same byte as on the previous call until a command is returned. `Ok(Some(consumed))`: a
    /// whole command, whose arguments [`CommandParser::args`] gives until the next call (which
    /// starts a new command).
    pub fn parse(&mut self, buf: &[u8], limits: &RespLimits) -> Result<Option<usize>, RespError> {
        self.was_inline = !matches!(buf.first(), None | Some(b'*'));
        let parsed = match buf.first() {
            None => Ok(None),
            Some(b'*') => self.parse_array(buf, limits),
            Some(_) => self.parse_inline(buf, limits),
        };
        if !matches!(parsed, Ok(None)) {
            // Done (or failed): the next call starts a new command.
            self.count = None;
            self.pos = 0;
        }
        parsed
    }

    /// The arguments of the command just returned, which `buf` (the bytes it was parsed from,
    /// starting at its first byte) holds, or, for an inline command, the parser itself.
    pub fn command<'a>(&'a self, buf: &'a [u8]) -> Args<'a> {
        if self.was_inline {
            Args::new(&self.inline, &self.args)
        } else {
            Args::new(buf, &self.args)
        }
    }

    fn parse_array(&mut self, buf: &[u8], limits: &RespLimits) -> Result<Option<usize>, RespError> {
        let count = match self.count {
            Some(count) => count,
            None => {
                self.args.clear();
                let Some(end) = line_end(buf, 1, 32, "mbulk count")? else {
                    return Ok(None);
                };
                let count = parse_number(&buf[1..end]).ok_or_else(|| error("invalid multibulk length"))?;
                if count > limits.max_args as i64 {
                    return Err(error("invalid multibulk length"));
                }
                self.pos = end + 2;
                let count = count.max(0) as usize;
                self.count = Some(count);
                count
            }
        };
        while self.args.len() < count {
            let pos = self.pos;
            let Some(&marker) = buf.get(pos) else {
                return Ok(None);
            };
            if marker != b'$' {
                return Err(error(format!("expected '$', got '{}'", marker as char)));
            }
            let Some(end) = line_end(buf, pos + 1, 32, "bulk count")? else {
                return Ok(None);
            };
            let len = parse_number(&buf[pos + 1..end]).ok_or_else(|| error("invalid bulk length"))?;
            if len < 0 || len as u64 > limits.max_bulk as u64 {
                return Err(error("invalid bulk length"));
            }
            let start = end + 2;
            let stop = start + len as usize;
            if buf.len() < stop + 2 {
                return Ok(None);
            }
            if &buf[stop..stop + 2] != b"\r\n" {
                return Err(error("bulk string not terminated by CRLF"));
            }
            self.args.push(start..stop);
            self.pos = stop + 2;
        }
        Ok(Some(self.pos))
    }

    fn parse_inline(&mut self, buf: &[u8], limits: &RespLimits) -> Result<Option<usize>, RespError> {
        self.args.clear();
        let window = &buf[..buf.len().min(limits.max_inline + 1)];
        let scanned = self.pos.min(window.len());
        let Some(newline) = window[scanned..].iter().position(|&b| b == b'\n').map(|i| scanned + i) else {
            self.pos = window.len();
            return if window.len() > limits.max_inline { Err(error("too big inline request")) } else { Ok(None) };
        };
        let line_stop = if newline > 0 && buf[newline - 1] == b'\r' { newline - 1 } else { newline };
        self.inline.clear();
        for arg in split_args(&buf[..line_stop])? {
            if self.args.len() == limits.max_args {
                return Err(error("too many arguments in inline request"));
            }
            let start = self.inline.len();
            self.inline.extend_from_slice(&arg);
            self.args.push(start..self.inline.len());
        }
        Ok(Some(newline + 1))
    }
}

/// Splits an inline command line into arguments as Redis's `sdssplitargs` does: runs of
/// non-space bytes, or "double-quoted" strings with C escapes (`\n`, `\xHH`, ...), or
/// 'single-quoted' strings where only `\'` is an escape. A closing quote must be followed by a
/// space or the end of the line.
fn split_args(line: &[u8]) -> Result<Vec<Vec<u8>>, RespError> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            return Ok(args);
        }
        let mut arg = Vec::new();
        match line[i] {
            quote @ (b'"' | b'\'') => i = quoted(line, i + 1, quote, &mut arg)?,
            _ => {
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    arg.push(line[i]);
                    i += 1;
                }
            }
        }
        args.push(arg);
    }
}

/// Reads a quoted argument whose body starts at `i` into `arg`; returns where it ends, past
/// the closing `quote`. Double quotes take C escapes, single quotes only `\'`.
fn quoted(line: &[u8], mut i: usize, quote: u8, arg: &mut Vec<u8>) -> Result<usize, RespError> {
    let double = quote == b'"';
    loop {
        match &line[i..] {
            [] => return Err(error("unbalanced quotes in request")),
            [b'\\', b'x', hi, lo, ..] if double && hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                let hex = |d: u8| (d as char).to_digit(16).expect("hex digit") as u8;
                arg.push(hex(*hi) << 4 | hex(*lo));
                i += 4;
            }
            [b'\\', escaped, ..] if double => {
                arg.push(match escaped {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 8,
                    b'a' => 7,
                    other => *other,
                });
                i += 2;
            }
            [b'\\', b'\'', ..] => {
                arg.push(b'\'');
                i += 2;
            }
            [closing, rest @ ..] if *closing == quote => {
                if rest.first().is_some_and(|b| !b.is_ascii_whitespace()) {
                    return Err(error("unbalanced quotes in request"));
                }
                return Ok(i + 1);
            }
            [byte, ..] => {
                arg.push(*byte);
                i += 1;
            }
        }
    }
}

/// Finds the `\r\n`-terminated line starting at `start`; returns the line's end (before `\r`).
fn line_end(buf: &[u8], start: usize, limit: usize, what: &str) -> Result<Option<usize>, RespError> {
    let window = &buf[start..buf.len().min(start + limit + 2)];
    match window.windows(2).position(|w| w == b"\r\n") {
        Some(offset) => Ok(Some(start + offset)),
        None if window.len() >= limit + 2 => Err(error(format!("too big {what} string"))),
        None => Ok(None),
    }
}

/// A signed decimal of at most 18 digits (plenty for any length), without going through `str`.
fn parse_number(digits: &[u8]) -> Option<i64> {
    let (negative, digits) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (d - b'0') as i64;
    }
    Some(if negative { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Parsed = Option<(Vec<Vec<u8>>, usize)>;

    fn parse(buf: &[u8]) -> Result<Parsed, RespError> {
        let mut args = Vec::new();
        Ok(parse_command(buf, &RespLimits::default(), &mut args)?.map(|used| (args, used)))
    }

    fn encode(args: &[Vec<u8>]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    #[test]
    fn parses_an_array_and_reports_what_it_used() {
        let buf = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n";
        assert_eq!(parse(buf).unwrap(), Some((vec![b"GET".to_vec(), b"k".to_vec()], 20)));
    }

    #[test]
    fn parses_inline_commands() {
        assert_eq!(parse(b"PING\r\n").unwrap(), Some((vec![b"PING".to_vec()], 6)));
        assert_eq!(parse(b"  set a  b\n").unwrap().unwrap().0, vec![b"set".to_vec(), b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(parse(b"\r\n").unwrap(), Some((vec![], 2)));
    }

    #[test]
    fn inline_commands_take_quotes_and_escapes_as_redis_does() {
        let args = |line: &str| parse(line.as_bytes()).unwrap().unwrap().0;
        assert_eq!(args("set \"a b\" 'c d'\r\n"), [b"set".to_vec(), b"a b".to_vec(), b"c d".to_vec()]);
        assert_eq!(args("x \"\\x41\\n\\\"\" 'it\\'s'\n"), [b"x".to_vec(), b"A\n\"".to_vec(), b"it's".to_vec()]);
        assert_eq!(args("  \"\"  \r\n"), [Vec::<u8>::new()]);
        for bad in ["set \"\"\"test-key\"\"\" v\r\n", "set \"open\r\n", "set 'x'y\r\n"] {
            assert_eq!(parse(bad.as_bytes()), Err(error("unbalanced quotes in request")), "{bad:?}");
        }
    }

    #[test]
    fn refuses_bad_and_huge_lengths_in_redis_words() {
        assert_eq!(parse(b"*x\r\n").unwrap_err().to_string(), "Protocol error: invalid multibulk length");
        assert_eq!(parse(b"*1\r\n$99999999999\r\n").unwrap_err().to_string(), "Protocol error: invalid bulk length");
        assert_eq!(parse(b"*1\r\n$-5\r\n").unwrap_err().to_string(), "Protocol error: invalid bulk length");
        assert_eq!(parse(b"*1\r\n:5\r\n").unwrap_err().to_string(), "Protocol error: expected '$', got ':'");
        assert_eq!(parse(b"*9999999999\r\n").unwrap_err().to_string(), "Protocol error: invalid multibulk length");
        assert!(parse(&[b'*'; 100]).is_err());
        assert!(parse(&vec![b'a'; 70 * 1024]).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&buf);
        }

        #[test]
        fn a_command_fed_in_pieces_parses_as_it_does_whole(
            args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..30),
            cuts in proptest::collection::vec(1usize..50, 1..40),
        ) {
            let whole = encode(&args);
            let mut parser = CommandParser::default();
            let mut end = 0;
            let mut parsed = None;
            for cut in cuts.iter().cycle() {
                end = (end + cut).min(whole.len());
                if let Some(used) = parser.parse(&whole[..end], &RespLimits::default()).unwrap() {
                    parsed = Some((parser.command(&whole[..used]).iter().map(<[u8]>::to_vec).collect::<Vec<_>>(), used));
                    break;
                }
                prop_assert!(end < whole.len(), "the whole command must parse");
            }
            prop_assert_eq!(parsed, Some((args.clone(), whole.len())));
        }

        #[test]
        fn every_prefix_of_a_command_asks_for_more(args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 1..5)) {
            let buf = encode(&args);
            for cut in 0..buf.len() {
                prop_assert_eq!(parse(&buf[..cut]).unwrap(), None);
            }
            prop_assert_eq!(parse(&buf).unwrap(), Some((args, buf.len())));
        }
    }
}
