//! A server that speaks both of kvs's client protocols and does nothing else: no store, no
//! replication, no metrics. It reads requests, decodes them, and answers SET with OK and GET with
//! a canned value of the bench's size, batching replies per read as the node does, on a runtime
//! shaped like the node's (one worker thread fewer than the cores, at least one).
//!
//! It is the ceiling for any protocol change: what the node's own work (the store, the bookkeeping)
//! costs is gone, and only the kernel's, the runtime's and the framing's cost is left. If this
//! server answers native requests less than 1.2 times as fast as the node answers RESP, no native
//! protocol with the same system calls can.

use kvs_proto::encoding::decode_borrowed;
use kvs_proto::resp::{CommandParser, RespLimits};
use kvs_proto::{ClientRequest, ClientResponse, Connection, Hello, HelloReply, MemberInfo, NodeId};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest frame or command it accepts, in bytes.
const MAX_FRAME_BYTES: usize = 1 << 20;

/// Serves until killed; prints `native <port> resp <port>` on stdout once listening.
pub fn run(value_bytes: usize) -> Result<(), String> {
    // The node's runtime shape (see its main.rs): one less worker than the cores, and one worker
    // on the current-thread scheduler.
    let runtime = match std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1)) {
        1 => tokio::runtime::Builder::new_current_thread(),
        threads => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads);
            builder
        }
    }
    .enable_all()
    .build()
    .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let native = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let resp = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let port = |l: &TcpListener| l.local_addr().map(|a| a.port()).unwrap_or(0);
        println!("native {} resp {}", port(&native), port(&resp));
        let value = vec![b'x'; value_bytes];
        let resp_value: &'static [u8] = {
            let mut reply = format!("${value_bytes}\r\n").into_bytes();
            reply.extend_from_slice(&value);
            reply.extend_from_slice(b"\r\n");
            reply.leak()
        };
        let value: &'static [u8] = value.leak();
        let me = MemberInfo {
            id: NodeId(1),
            addr: native.local_addr().map_err(|e| e.to_string())?,
            generation: 1,
            heartbeat: 0,
            left: false,
        };
        tokio::spawn(async move {
            while let Ok((stream, _)) = resp.accept().await {
                tokio::spawn(serve_resp(stream, resp_value));
            }
        });
        while let Ok((stream, _)) = native.accept().await {
            tokio::spawn(serve_native(stream, me.clone(), value));
        }
        Ok(())
    })
}

/// The native protocol: hello, then every buffered request answered before one flush.
async fn serve_native(stream: TcpStream, me: MemberInfo, value: &'static [u8]) {
    let _ = stream.set_nodelay(true);
    let mut conn = Connection::new(stream, MAX_FRAME_BYTES);
    if !matches!(conn.recv::<Hello>().await, Ok(Some(_))) {
        return;
    }
    if conn.send(&HelloReply::Welcome { node: me, members: Vec::new() }).await.is_err() {
        return;
    }
    while let Ok(Some(frame)) = conn.recv_frame().await {
        // As the node serves: the first frame, then every whole one already buffered.
        if answer(&mut conn, &frame, value).is_err() {
            return;
        }
        drop(frame);
        let mut buffered = conn.take_buffered();
        while let Some(Ok(frame)) = buffered.next_body() {
            if answer(&mut conn, frame, value).is_err() {
                return;
            }
        }
        conn.give_back(buffered);
        if conn.flush().await.is_err() {
            return;
        }
    }
}

/// Queues the answer to one native request frame.
fn answer(conn: &mut Connection<TcpStream>, frame: &[u8], value: &'static [u8]) -> Result<(), ()> {
    let response = match decode_borrowed::<ClientRequest<&[u8]>>(frame) {
        Ok(ClientRequest::Get { .. }) => ClientResponse::Value(Some(value)),
        Ok(ClientRequest::MGet { keys }) => ClientResponse::Values(vec![Some(value); keys.len()]),
        Ok(_) => ClientResponse::Ok,
        Err(_) => return Err(()),
    };
    conn.queue(&response).map(drop).map_err(drop)
}

/// RESP: every complete command in the buffer (parsed by the node's own parser) answered, SET with
/// +OK and GET with the value, in one write.
async fn serve_resp(mut stream: TcpStream, value: &'static [u8]) {
    let _ = stream.set_nodelay(true);
    let (mut input, mut output) = (Vec::with_capacity(16 * 1024), Vec::with_capacity(16 * 1024));
    let (mut parser, limits) = (CommandParser::default(), RespLimits::default());
    loop {
        let mut consumed = 0;
        loop {
            let pending = &input[consumed..];
            let used = match parser.parse(pending, &limits) {
                Ok(Some(used)) => used,
                Ok(None) => break,
                Err(_) => return,
            };
            let args = parser.command(&pending[..used]);
            let get = !args.is_empty() && args.get(0).eq_ignore_ascii_case(b"GET");
            output.extend_from_slice(if get { value } else { b"+OK\r\n" });
            consumed += used;
        }
        input.drain(..consumed);
        if !output.is_empty() {
            if stream.write_all(&output).await.is_err() {
                return;
            }
            output.clear();
        }
        if input.len() > MAX_FRAME_BYTES {
            return;
        }
        input.reserve(16 * 1024);
        match stream.read_buf(&mut input).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// A running null server, killed on drop.
pub(super) struct NullServer {
    child: std::process::Child,
    /// Its native port.
    pub(super) native: SocketAddr,
    /// Its RESP port.
    pub(super) resp: SocketAddr,
}

impl NullServer {
    /// Starts one (this xtask binary, `null-server`) answering GETs with `value_bytes`-byte values.
    pub(super) fn start(value_bytes: usize) -> Result<NullServer, String> {
        use std::io::BufRead;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = std::process::Command::new(exe)
            .args(["null-server", "--value-bytes", &value_bytes.to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the null server: {e}"))?;
        super::rig::serve(child.id());
        let mut line = String::new();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        std::io::BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
        let ports: Vec<u16> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        let server = NullServer {
            child,
            native: SocketAddr::from(([127, 0, 0, 1], *ports.first().ok_or("no native port")?)),
            resp: SocketAddr::from(([127, 0, 0, 1], *ports.get(1).ok_or("no RESP port")?)),
        };
        Ok(server)
    }

    /// Its process id, for CPU time.
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for NullServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
