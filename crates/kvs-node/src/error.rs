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
    Storage(#[from] kvs_store::persist::PersistError),
    /// Some other socket failure.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
