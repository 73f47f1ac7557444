//! Errors that stop a node from starting or serving.

use thiserror::Error;

/// Why a node could not start or keep running.
#[derive(Debug, Error)]
pub enum NodeError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// The flags contradict each other.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The data dir or its log cannot be used.
    #[error(transparent)]
    Log(#[from] kvs_store::log::LogError),
    /// Some other socket failure.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The bootstrap node could not be joined within `--join-timeout-ms`.
    #[error("could not join the cluster through {bootstrap} within {waited:?}: {last_error}")]
    JoinTimeout {
        /// The bootstrap address.
        bootstrap: std::net::SocketAddr,
        /// How long it tried.
        waited: std::time::Duration,
        /// Why the last attempt failed.
        last_error: String,
    },
}

/// Why a client write was refused (and not acknowledged).
#[derive(Debug, Error)]
pub enum WriteRefused {
    /// The log failed; the node cannot make writes durable.
    #[error(transparent)]
    Log(#[from] kvs_store::log::LogError),
    /// This node's clock is off from its peers' by more than the skew bound, so they would refuse
    /// the write.
    #[error("{0}")]
    ClockSkew(String),
}
