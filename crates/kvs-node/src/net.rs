//! The transport seam: every socket the node opens goes through here.
//!
//! Keeping it to these types and two functions is what lets a simulator (e.g. turmoil) stand in
//! for the kernel's network later without touching protocol code.

use std::io;
use std::net::SocketAddr;

/// A listening socket.
pub type Listener = tokio::net::TcpListener;
/// One connection.
pub type Stream = tokio::net::TcpStream;

/// Binds a listener.
pub async fn bind(addr: SocketAddr) -> io::Result<Listener> {
    Listener::bind(addr).await
}

/// Dials a peer; Nagle is off because frames are already batched.
pub async fn connect(addr: SocketAddr) -> io::Result<Stream> {
    let stream = Stream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Prepares an accepted connection the same way as a dialed one.
pub fn accepted(stream: &Stream) -> io::Result<()> {
    stream.set_nodelay(true)
}

/// Prepares a connection between peers: when data we sent stays unacknowledged for `deadline`
/// (the peer is gone, or a partition swallows our packets), the kernel gives the connection up and
/// our next write fails, rather than retransmitting with backoff for many minutes.
pub fn peer_link(stream: &Stream, deadline: std::time::Duration) {
    if let Err(error) = socket2::SockRef::from(stream).set_tcp_user_timeout(Some(deadline)) {
        tracing::debug!(%error, "cannot set TCP_USER_TIMEOUT");
    }
}

/// Makes closing this connection discard unsent data and reset it, rather than keep sending.
pub fn abort(stream: &Stream) {
    // Linger zero: close sends RST at once and never blocks.
    let _ = socket2::SockRef::from(stream).set_linger(Some(std::time::Duration::ZERO));
}
