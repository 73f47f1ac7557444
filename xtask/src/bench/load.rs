//! Pipelined RESP traffic for loading data fast: many commands per write, replies counted by line.

use std::io::{Read, Write};
use std::net::TcpStream;

/// Commands per pipelined batch.
const BATCH: usize = 1000;

/// Encodes one command as a RESP array of bulk strings.
pub(super) fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Sends every command (pipelined in batches) and checks each one-line reply is not an error.
pub fn pipeline(port: u16, commands: impl Iterator<Item = Vec<Vec<u8>>>) -> Result<usize, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect {port}: {e}"))?;
    let mut commands = commands.peekable();
    let (mut request, mut reply, mut sent) = (Vec::new(), Vec::new(), 0);
    while commands.peek().is_some() {
        request.clear();
        let mut count = 0;
        for command in commands.by_ref().take(BATCH) {
            let args: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
            encode(&mut request, &args);
            count += 1;
        }
        stream.write_all(&request).map_err(|e| e.to_string())?;
        // Every reply to SET or DEL is one line: count line ends.
        reply.clear();
        let mut buf = [0u8; 64 * 1024];
        while reply.iter().filter(|&&b| b == b'\n').count() < count {
            let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err(format!("port {port} closed the connection"));
            }
            reply.extend_from_slice(&buf[..n]);
        }
        if reply.contains(&b'-') {
            return Err(format!(
                "port {port} refused a command: {}",
                String::from_utf8_lossy(&reply[..200.min(reply.len())])
            ));
        }
        sent += count;
    }
    Ok(sent)
}

/// The bench's key for index `i`: 16 bytes.
pub fn key(i: usize) -> Vec<u8> {
    format!("key:{i:012}").into_bytes()
}

/// `SET key(i) value` for every `i` in `range`.
pub fn sets(range: std::ops::Range<usize>, value: &[u8]) -> impl Iterator<Item = Vec<Vec<u8>>> + '_ {
    range.map(move |i| vec![b"SET".to_vec(), key(i), value.to_vec()])
}
