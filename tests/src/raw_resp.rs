//! A bare RESP2/RESP3 connection for what the `redis` crate hides: push frames, a subscriber's
//! stream of messages, replies read one by one with a deadline.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One RESP value, every kind flattened to what a test compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resp {
    /// `+text`
    Simple(String),
    /// `-text`
    Error(String),
    /// `:n`
    Integer(i64),
    /// `$n` (lossy UTF-8), or `None` for a null
    Bulk(Option<String>),
    /// `*n` or `~n`
    Array(Vec<Resp>),
    /// `>n`: a RESP3 push
    Push(Vec<Resp>),
    /// `%n`, flattened to its keys and values in order
    Map(Vec<Resp>),
    /// `_`
    Null,
}

impl Resp {
    /// A bulk string's text (panics on anything else).
    pub fn text(&self) -> &str {
        match self {
            Resp::Bulk(Some(text)) | Resp::Simple(text) => text,
            other => panic!("not a string: {other:?}"),
        }
    }

    /// The elements of an array or a push, as text and integers, nested arrays flattened:
    /// `["message", "ch", "hi"]`, `["invalidate", "key"]`.
    pub fn words(&self) -> Vec<String> {
        let (Resp::Array(items) | Resp::Push(items) | Resp::Map(items)) = self else {
            panic!("not an array: {self:?}")
        };
        items
            .iter()
            .flat_map(|item| match item {
                Resp::Integer(n) => vec![n.to_string()],
                Resp::Bulk(None) | Resp::Null => vec!["(nil)".into()],
                Resp::Array(_) | Resp::Push(_) | Resp::Map(_) => item.words(),
                other => vec![other.text().to_string()],
            })
            .collect()
    }
}

/// A connection that writes commands and reads values one at a time.
pub struct RawResp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RawResp {
    /// Connects to the Redis port at `addr`; every read waits at most `timeout`.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> RawResp {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(timeout)).unwrap();
        RawResp { reader: BufReader::new(stream.try_clone().unwrap()), writer: stream }
    }

    /// How long each read may wait from now on.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.writer.set_read_timeout(Some(timeout)).unwrap();
    }

    /// Sends one command.
    pub fn send(&mut self, args: &[&str]) {
        let mut frame = format!("*{}\r\n", args.len());
        for arg in args {
            frame.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        self.writer.write_all(frame.as_bytes()).unwrap();
    }

    /// Sends one command and reads one value.
    pub fn call(&mut self, args: &[&str]) -> Resp {
        self.send(args);
        self.read()
    }

    /// Reads the next value, panicking if none comes within the timeout.
    pub fn read(&mut self) -> Resp {
        self.try_read().expect("a RESP value within the read timeout")
    }

    /// Reads the next value; `None` if nothing came within the timeout or the node closed.
    pub fn try_read(&mut self) -> Option<Resp> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        let line = line.trim_end_matches("\r\n");
        let (marker, rest) = line.split_at(1);
        let n = || rest.parse::<i64>().unwrap();
        Some(match marker {
            "+" => Resp::Simple(rest.into()),
            "-" => Resp::Error(rest.into()),
            ":" => Resp::Integer(n()),
            "_" => Resp::Null,
            "$" if n() < 0 => Resp::Bulk(None),
            "$" => {
                let mut body = vec![0; n() as usize + 2];
                self.reader.read_exact(&mut body).unwrap();
                body.truncate(body.len() - 2);
                Resp::Bulk(Some(String::from_utf8_lossy(&body).into_owned()))
            }
            "*" if n() < 0 => Resp::Null,
            "*" | "~" => Resp::Array(self.items(n() as usize)?),
            ">" => Resp::Push(self.items(n() as usize)?),
            "%" => Resp::Map(self.items(2 * n() as usize)?),
            other => panic!("unexpected RESP marker {other:?} in {line:?}"),
        })
    }

    fn items(&mut self, n: usize) -> Option<Vec<Resp>> {
        (0..n).map(|_| self.try_read()).collect()
    }
}
