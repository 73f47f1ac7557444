//! The transport seam: every socket the node opens goes through here.
//!
//! Built normally, these are tokio's TCP types. Built with the `sim` feature (only by the
//! simulator in `sim/`, never in the workspace), they are turmoil's simulated ones, so the same
//! shell code runs over a seeded network that partitions, delays and crashes hosts.

use crate::tls::Tls;
use std::io;
use std::net::SocketAddr;
use tokio_util::either::Either;

/// A listening socket.
#[cfg(not(feature = "sim"))]
pub type Listener = tokio::net::TcpListener;
/// One TCP connection.
#[cfg(not(feature = "sim"))]
pub type Tcp = tokio::net::TcpStream;
/// A listening socket (simulated).
#[cfg(feature = "sim")]
pub type Listener = turmoil::net::TcpListener;
/// One TCP connection (simulated).
#[cfg(feature = "sim")]
pub type Tcp = turmoil::net::TcpStream;

/// One connection as the protocols use it: plain TCP, or TLS over it.
pub type Stream = Either<Tcp, Box<tokio_rustls::TlsStream<Tcp>>>;

/// The value both ends of a TLS connection derive from its session (a TLS exporter, RFC 5705,
/// as RFC 9266 binds a channel), for peer proofs; `None` without TLS.
pub fn channel_binding(stream: &Stream) -> Option<[u8; 32]> {
    let Either::Right(tls) = stream else { return None };
    let mut value = [0u8; 32];
    let label = b"EXPORTER-kvs-peer-proof";
    let exported = match tls.as_ref() {
        tokio_rustls::TlsStream::Client(client) => client.get_ref().1.export_keying_material(&mut value, label, None),
        tokio_rustls::TlsStream::Server(server) => server.get_ref().1.export_keying_material(&mut value, label, None),
    }
    .is_ok();
    // Only before the handshake ends can exporting fail; a connection here has finished it.
    exported.then_some(value)
}

/// The first byte a plaintext connection holds, without taking it (`None` over TLS, or if the
/// other side closed first).
pub async fn peek_byte(stream: &mut Stream) -> io::Result<Option<u8>> {
    let Either::Left(tcp) = stream else { return Ok(None) };
    let mut first = [0u8; 1];
    let read = tcp.peek(&mut first).await?;
    Ok((read == 1).then_some(first[0]))
}

/// The TCP connection under a stream, for socket options and addresses.
pub fn socket(stream: &Stream) -> &Tcp {
    match stream {
        Either::Left(tcp) => tcp,
        Either::Right(tls) => tls.get_ref().0,
    }
}

/// Runs the server side of TLS on an accepted connection when the node has TLS.
pub async fn secure_accepted(tls: Option<&Tls>, tcp: Tcp) -> io::Result<Stream> {
    match tls {
        Some(tls) => Ok(Either::Right(Box::new(tls.accept(tcp).await?))),
        None => Ok(Either::Left(tcp)),
    }
}

/// Runs the client side of TLS on a connection dialed to `addr` when the node has TLS.
pub async fn secure_dialed(tls: Option<&Tls>, tcp: Tcp, addr: SocketAddr) -> io::Result<Stream> {
    match tls {
        Some(tls) => Ok(Either::Right(Box::new(tls.connect(addr.ip(), tcp).await?))),
        None => Ok(Either::Left(tcp)),
    }
}

/// Binds a listener.
pub async fn bind(addr: SocketAddr) -> io::Result<Listener> {
    // A simulated host listens on every address it has (turmoil binds no other way).
    #[cfg(feature = "sim")]
    let addr = SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), addr.port());
    Listener::bind(addr).await
}

/// The address a listener bound for `requested` is reached at (port 0 resolved).
pub fn bound_addr(listener: &Listener, requested: SocketAddr) -> io::Result<SocketAddr> {
    let port = listener.local_addr()?.port();
    Ok(SocketAddr::new(requested.ip(), port))
}

/// Dials a peer; Nagle is off because frames are already batched.
pub async fn connect(addr: SocketAddr) -> io::Result<Tcp> {
    let stream = Tcp::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Prepares an accepted connection the same way as a dialed one.
pub fn accepted(stream: &Tcp) -> io::Result<()> {
    stream.set_nodelay(true)
}

/// Prepares a connection between peers: when data we sent stays unacknowledged for `deadline`
/// (the peer is gone, or a partition swallows our packets), the kernel gives the connection up and
/// our next write fails, rather than retransmitting with backoff for many minutes.
pub fn peer_link(stream: &Tcp, deadline: std::time::Duration) {
    #[cfg(not(feature = "sim"))]
    if let Err(error) = socket2::SockRef::from(stream).set_tcp_user_timeout(Some(deadline)) {
        tracing::debug!(%error, "cannot set TCP_USER_TIMEOUT");
    }
    #[cfg(feature = "sim")]
    let _ = (stream, deadline);
}

/// Makes closing this connection discard unsent data and reset it, rather than keep sending.
pub fn abort(stream: &Stream) {
    // Linger zero: close sends RST at once and never blocks.
    #[cfg(not(feature = "sim"))]
    let _ = socket2::SockRef::from(socket(stream)).set_linger(Some(std::time::Duration::ZERO));
    #[cfg(feature = "sim")]
    let _ = stream;
}

/// Waits until every other task ready now has run: a connection calls it between running a
/// batch of commands and writing their replies, so replies go out once per runtime pass, as
/// Redis writes them once per event-loop pass. Writing at once woke a sleeping client per
/// batch, and at `-P 16` the wake-up (an interrupt to the client's core) cost more than the SETs
/// themselves: 1.6 against 1.1 µs of CPU a request (docs/performance.md).
pub async fn end_of_pass() {
    tokio::task::yield_now().await;
}
