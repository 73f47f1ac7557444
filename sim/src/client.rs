//! The native protocol spoken over simulated sockets: one request per connection, with a deadline.

use kvs_proto::{ClientRequest, ClientResponse, Connection, Entry, Hello, HelloReply, Role, StatusReport};
use std::net::SocketAddr;
use std::time::Duration;

/// How long one request may take before the workload gives up on it (it may still apply).
const DEADLINE: Duration = Duration::from_secs(1);

/// Sends `request` to the node at `addr`; `None` if it failed or timed out.
pub async fn request(addr: SocketAddr, request: ClientRequest) -> Option<ClientResponse> {
    let exchange = async {
        let stream = turmoil::net::TcpStream::connect(addr).await.ok()?;
        let mut conn = Connection::new(stream, 16 << 20);
        conn.send(&Hello::new(Role::Client)).await.ok()?;
        match conn.recv::<HelloReply>().await.ok()?? {
            HelloReply::Welcome { .. } => {}
            HelloReply::Rejected(_) | HelloReply::Challenge { .. } => return None,
        }
        conn.send(&request).await.ok()?;
        conn.recv::<ClientResponse>().await.ok()?
    };
    tokio::time::timeout(DEADLINE, exchange).await.ok()?
}

/// A node's status, if it answers.
pub async fn status(addr: SocketAddr) -> Option<StatusReport> {
    match request(addr, ClientRequest::Status { max_keys: 0 }).await? {
        ClientResponse::Status(report) => Some(*report),
        _ => None,
    }
}

/// A key's entry on one node (value or tombstone, with its version): `Some(None)` when it holds
/// nothing for the key.
pub async fn inspect(addr: SocketAddr, key: &str) -> Option<Option<Entry>> {
    inspect_bytes(addr, key.as_bytes()).await
}

/// A stored key's entry on one node (an element's or a header's too).
pub async fn inspect_bytes(addr: SocketAddr, key: &[u8]) -> Option<Option<Entry>> {
    match request(addr, ClientRequest::Inspect { key: bytes::Bytes::copy_from_slice(key) }).await? {
        ClientResponse::Entry(entry) => Some(entry),
        _ => None,
    }
}
