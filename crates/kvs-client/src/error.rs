//! Client-side failures.

use kvs_proto::{ErrorReply, ProtoError};
use thiserror::Error;

/// Everything a client call can fail with.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The node could not be reached.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address dialed.
        addr: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// The node did not answer within the deadline.
    #[error("timed out after {0:?} waiting for the node")]
    Timeout(std::time::Duration),
    /// Framing, decoding or socket failure on an open connection.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtoError),
    /// The node refused the connection's hello.
    #[error("node refused the connection: {0}")]
    Rejected(ErrorReply),
    /// The node answered the request with an error.
    #[error("node error: {0}")]
    Server(ErrorReply),
    /// The node closed the connection before answering.
    #[error("connection closed by the node")]
    Closed,
    /// The node answered with a response that does not fit the request.
    #[error("unexpected response: {0}")]
    Unexpected(String),
    /// What answered the hello is not a kvs node's native port (a Redis-protocol port, say, or,
    /// for a plaintext hello, a port that speaks TLS).
    #[error(
        "{addr} did not answer as a kvs node (is it a Redis-protocol port? kvs-client needs the node's main port{})",
        if *.plaintext { "; or does the node speak TLS? then pass --tls" } else { "" }
    )]
    NotKvs {
        /// The address dialed.
        addr: String,
        /// The hello went without TLS, so a TLS port would not have understood it either.
        plaintext: bool,
    },
    /// The request needs a newer protocol than the node speaks (it runs an older release).
    #[error("node {addr} speaks protocol {node}, and this request needs {needed} (a newer kvs release)")]
    Unsupported {
        /// The protocol the request needs.
        needed: u32,
        /// The protocol the connection speaks.
        node: u32,
        /// The node's address.
        addr: String,
    },
    /// TLS could not be set up (certificate files) or its handshake failed.
    #[error("TLS: {0}")]
    Tls(String),
}
