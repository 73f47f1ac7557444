//! The Redis protocol over simulated sockets, as far as the set workload needs it: one command
//! per connection, with a deadline, and the replies SADD, SREM, DEL and SMEMBERS give.

use std::net::IpAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The port every simulated node serves Redis on.
pub const REDIS_PORT: u16 = 6379;

/// How long one command may take before the workload gives up on it (it may still apply).
const DEADLINE: Duration = Duration::from_secs(1);

/// A reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+…` or `-…` (an error, kept as text).
    Line(String),
    /// `:n`.
    Int(i64),
    /// `$n` (`None`: `$-1`).
    Bulk(Option<Vec<u8>>),
    /// `*n`.
    Array(Vec<Reply>),
}

/// Sends `args` to the node at `ip`; `None` if it failed or timed out.
pub async fn command(ip: IpAddr, args: &[&str]) -> Option<Reply> {
    let exchange = async {
        let mut stream = turmoil::net::TcpStream::connect((ip, REDIS_PORT)).await.ok()?;
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
        }
        stream.write_all(&request).await.ok()?;
        let mut received = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some((reply, _)) = parse(&received) {
                return Some(reply);
            }
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            received.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(DEADLINE, exchange).await.ok()?
}

/// One whole reply at the start of `bytes` and its length; `None` while incomplete.
fn parse(bytes: &[u8]) -> Option<(Reply, usize)> {
    let end = bytes.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&bytes[1..end]).ok()?;
    let after = end + 2;
    match bytes.first()? {
        b'+' | b'-' => Some((Reply::Line(line.to_string()), after)),
        b':' => Some((Reply::Int(line.parse().ok()?), after)),
        b'$' => match line.parse::<i64>().ok()? {
            -1 => Some((Reply::Bulk(None), after)),
            len => {
                let len = len as usize;
                let data = bytes.get(after..after + len)?.to_vec();
                bytes.get(after + len..after + len + 2)?;
                Some((Reply::Bulk(Some(data)), after + len + 2))
            }
        },
        b'*' => {
            let count: i64 = line.parse().ok()?;
            let mut items = Vec::new();
            let mut at = after;
            for _ in 0..count.max(0) {
                let (item, used) = parse(&bytes[at..])?;
                items.push(item);
                at += used;
            }
            Some((Reply::Array(items), at))
        }
        _ => Some((Reply::Line(String::from_utf8_lossy(bytes).into_owned()), bytes.len())),
    }
}
