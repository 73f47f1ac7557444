//! A connection in MONITOR mode: what it is sent (see [`super::monitor`]) and the only commands
//! it may still send, QUIT and RESET.

use super::clients::RedisClients;
use crate::config::CLIENT_WRITE_TIMEOUT;
use crate::net;
use crate::shell::Shell;
use bytes::{Buf, BytesMut};
use kvs_proto::resp::{CommandParser, RespLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// A connection in MONITOR mode: sends it every command the port runs until it says QUIT (or
/// closes, falls behind, is killed, or the node stops): false; or RESET: true, and it is an
/// ordinary connection again. Anything else it sends is refused.
pub async fn watch(
    shell: &Shell,
    clients: &RedisClients,
    stream: &mut net::Stream,
    (input, parser, limits): (&mut BytesMut, &mut CommandParser, &RespLimits),
    kill: &CancellationToken,
) -> bool {
    let mut watching = clients.monitors.watch();
    loop {
        let mut answer = Vec::new();
        tokio::select! {
            _ = shell.shutdown_started() => return false,
            _ = kill.cancelled() => return false,
            line = watching.items.recv() => match line {
                Ok(line) => answer.extend_from_slice(&line),
                // Fell behind the bounded backlog: disconnected rather than buffered for.
                Err(_) => return false,
            },
            read = stream.read_buf(input) => {
                if !matches!(read, Ok(n) if n > 0) {
                    return false;
                }
                while let Ok(Some(used)) = parser.parse(input, limits) {
                    let args = parser.command(&input[..used]);
                    let name = args.get(0).to_ascii_uppercase();
                    input.advance(used);
                    match name.as_slice() {
                        b"QUIT" => {
                            let _ = stream.write_all(b"+OK\r\n").await;
                            return false;
                        }
                        b"RESET" => {
                            return stream.write_all(b"+RESET\r\n").await.is_ok();
                        }
                        _ => answer.extend_from_slice(b"-ERR only QUIT and RESET are allowed in MONITOR mode\r\n"),
                    }
                }
                if input.len() > limits.max_inline + limits.max_bulk {
                    return false;
                }
            }
        }
        if !answer.is_empty()
            && !matches!(tokio::time::timeout(CLIENT_WRITE_TIMEOUT, stream.write_all(&answer)).await, Ok(Ok(())))
        {
            return false;
        }
    }
}
