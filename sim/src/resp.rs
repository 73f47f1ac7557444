//! The Redis protocol over simulated sockets, as far as the set and list workloads need it: one
//! command per connection (after ASKING, or again where an `-ASK` sends it), with a deadline,
//! and the replies their commands give.

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

/// Sends `args` to the node at `ip`, following an `-ASK` once as a Redis Cluster client does;
/// `None` if it failed or timed out.
pub async fn command(ip: IpAddr, args: &[&str]) -> Option<Reply> {
    let reply = exchange(ip, &[args]).await?;
    let asked = match &reply {
        Reply::Line(line) => line.strip_prefix("ASK ").and_then(|rest| rest.split(' ').nth(1)),
        _ => None,
    };
    match asked.and_then(|to| to.parse::<std::net::SocketAddr>().ok()) {
        Some(to) => exchange(to.ip(), &[&["ASKING"], args]).await,
        None => Some(reply),
    }
}

/// Sends `args` to the node at `ip` after ASKING, so it answers from what it holds even of a
/// slot it is still fetching: what the checks read.
pub async fn local(ip: IpAddr, args: &[&str]) -> Option<Reply> {
    exchange(ip, &[&["ASKING"], args]).await
}

/// Sends `commands` on one connection; the last one's reply.
async fn exchange(ip: IpAddr, commands: &[&[&str]]) -> Option<Reply> {
    let exchange = async {
        let mut stream = turmoil::net::TcpStream::connect((ip, REDIS_PORT)).await.ok()?;
        let mut request = Vec::new();
        for args in commands {
            request.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for arg in args.iter() {
                request.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
            }
        }
        stream.write_all(&request).await.ok()?;
        let mut received = Vec::new();
        let mut chunk = [0u8; 4096];
        let mut replies = Vec::new();
        loop {
            while let Some((reply, used)) = parse(&received) {
                received.drain(..used);
                replies.push(reply);
            }
            if replies.len() >= commands.len() {
                return replies.pop();
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
