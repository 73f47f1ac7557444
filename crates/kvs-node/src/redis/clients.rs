//! What the Redis port keeps about its connections: where it listens, how many are open, ids.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The Redis port's connection bookkeeping.
#[derive(Debug)]
pub struct RedisClients {
    addr: OnceLock<SocketAddr>,
    open: AtomicU64,
    next_id: AtomicU64,
}

impl Default for RedisClients {
    fn default() -> Self {
        RedisClients { addr: OnceLock::new(), open: AtomicU64::new(0), next_id: AtomicU64::new(1) }
    }
}

/// Counts one open Redis connection while alive.
pub struct OpenClient<'a>(&'a AtomicU64);

impl Drop for OpenClient<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl RedisClients {
    /// Records where the Redis-protocol port listens.
    pub fn set_addr(&self, addr: SocketAddr) {
        let _ = self.addr.set(addr);
    }

    /// Where the Redis-protocol port listens, if enabled.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr.get().copied()
    }

    /// Counts a Redis connection as open until the returned guard drops.
    pub fn opened(&self) -> OpenClient<'_> {
        self.open.fetch_add(1, Ordering::Relaxed);
        OpenClient(&self.open)
    }

    /// Open Redis connections.
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// A fresh id for `CLIENT ID`.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}
