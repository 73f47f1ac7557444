//! What the Redis port keeps about its connections (its own state, not the shell's): how many are open, ids,
//! and each connection's address, name and kill switch (CLIENT LIST, CLIENT KILL); and the slow log.

use kvs_store::map::Map;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// One open connection, as CLIENT LIST shows it.
#[derive(Clone, Debug)]
pub struct Connected {
    /// The client's address.
    pub addr: SocketAddr,
    /// Our end of the connection.
    pub laddr: SocketAddr,
    /// Set by CLIENT SETNAME.
    pub name: Option<Vec<u8>>,
    /// The user it is logged in as.
    pub user: String,
    /// When it connected.
    pub since: Instant,
    /// Cancelled by CLIENT KILL: the connection closes after its current batch of commands.
    pub kill: CancellationToken,
    /// Set while it waits in a blocking command, and how CLIENT UNBLOCK ends the wait.
    pub unblock: Arc<Unblock>,
    /// The database it selected.
    pub db: u8,
    /// How many channels, patterns and shard channels it subscribes to.
    pub subscriptions: [usize; 3],
    /// Where its pub/sub messages and tracking invalidations wait (CLIENT TRACKING's REDIRECT
    /// finds a connection's here).
    pub mailbox: Arc<crate::pubsub::Mailbox>,
}

/// A connection's blocking command, as CLIENT UNBLOCK sees it.
#[derive(Debug, Default)]
pub struct Unblock {
    /// It waits in a blocking command now.
    pub blocked: AtomicBool,
    /// CLIENT UNBLOCK ... ERROR: end the wait with an error rather than as a timeout.
    pub with_error: AtomicBool,
    /// CLIENT UNBLOCK asked since the wait began: a list command blocked between its retries
    /// (when nothing awaits `notify`) reads it before it waits again.
    pub asked: AtomicBool,
    /// Woken by CLIENT UNBLOCK.
    pub notify: tokio::sync::Notify,
}

/// CLIENT PAUSE's state: until when commands wait (ms since the port opened; 0: no pause), and
/// whether only writes do. Atomics: every command reads them.
#[derive(Debug, Default)]
struct Pause {
    until_ms: AtomicU64,
    writes_only: AtomicBool,
    lifted: tokio::sync::Notify,
}

/// The Redis port's connection bookkeeping, and what it keeps about the commands they ran.
#[derive(Debug)]
pub struct RedisClients {
    open: AtomicU64,
    next_id: AtomicU64,
    connected: Mutex<Map<u64, Connected>>,
    /// SLOWLOG.
    pub slowlog: super::slowlog::SlowLog,
    /// LATENCY.
    pub latency: super::latency::LatencyMonitor,
    /// MONITOR.
    pub monitors: super::monitor::Monitors,
    /// What each command's time is read from (calibrated once, when the port opens).
    pub clock: quanta::Clock,
    /// When the port opened: CLIENT PAUSE's deadlines count from it.
    opened_at: Instant,
    pause: Pause,
    /// LASTSAVE: when SAVE or BGSAVE last compacted the log (or the node started), Unix seconds.
    last_save_s: AtomicU64,
}

impl RedisClients {
    /// The port's registry, with its run-time parameters as the flags set them.
    pub fn new(config: &crate::config::NodeConfig) -> Self {
        let clients = RedisClients::default();
        let (slower_than_us, max_len, latency_ms) = config.redis_monitoring;
        clients.slowlog.slower_than_us.store(slower_than_us, std::sync::atomic::Ordering::Relaxed);
        clients.slowlog.max_len.store(max_len, std::sync::atomic::Ordering::Relaxed);
        clients.latency.threshold_ms.store(latency_ms, std::sync::atomic::Ordering::Relaxed);
        clients
    }
}

impl Default for RedisClients {
    fn default() -> Self {
        let connected = Mutex::new(Map::default());
        let slowlog = Default::default();
        let last_save_s = AtomicU64::new(kvs_store::clock::wall_clock_ms() / 1000);
        RedisClients {
            open: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            connected,
            slowlog,
            latency: Default::default(),
            monitors: Default::default(),
            clock: quanta::Clock::new(),
            opened_at: Instant::now(),
            pause: Pause::default(),
            last_save_s,
        }
    }
}

/// Removes a connection from the registry when dropped.
pub struct Registration<'a> {
    clients: &'a RedisClients,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.clients.lock().remove(&self.id);
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
    /// Counts a Redis connection as open until the returned guard drops.
    pub fn opened(&self) -> OpenClient<'_> {
        self.open.fetch_add(1, Ordering::Relaxed);
        OpenClient(&self.open)
    }

    /// Open Redis connections.
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Map<u64, Connected>> {
        self.connected.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lists connection `id` until the returned guard drops.
    pub fn register(&self, id: u64, connected: Connected) -> Registration<'_> {
        self.lock().insert(id, connected);
        Registration { clients: self, id }
    }

    /// Changes what CLIENT LIST shows of connection `id`.
    pub fn update(&self, id: u64, change: impl FnOnce(&mut Connected)) {
        if let Some(connected) = self.lock().get_mut(&id) {
            change(connected);
        }
    }

    /// Connection `id`, if open.
    pub fn get(&self, id: u64) -> Option<Connected> {
        self.lock().get(&id).cloned()
    }

    /// Every open connection, by id.
    pub fn list(&self) -> Vec<(u64, Connected)> {
        let mut all: Vec<_> = self.lock().iter().map(|(id, c)| (*id, c.clone())).collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }

    /// Kills the connections `doomed` picks; returns how many.
    pub fn kill(&self, doomed: impl Fn(u64, &Connected) -> bool) -> usize {
        let connected = self.lock();
        let killed: Vec<_> = connected.iter().filter(|(id, c)| doomed(**id, c)).collect();
        for (_, c) in &killed {
            c.kill.cancel();
        }
        killed.len()
    }

    /// CLIENT PAUSE for `ms` (`writes_only`: WRITE mode): a pause already on lasts to the later
    /// end, and pauses everything if either does.
    pub fn pause(&self, ms: u64, writes_only: bool) {
        let until = self.opened_at.elapsed().as_millis() as u64 + ms;
        let active = self.pause.until_ms.load(Ordering::Relaxed) > self.opened_at.elapsed().as_millis() as u64;
        let writes_only = writes_only && (!active || self.pause.writes_only.load(Ordering::Relaxed));
        self.pause.writes_only.store(writes_only, Ordering::Relaxed);
        self.pause.until_ms.fetch_max(until.max(1), Ordering::Relaxed);
    }

    /// CLIENT UNPAUSE.
    pub fn unpause(&self) {
        self.pause.until_ms.store(0, Ordering::Relaxed);
        self.pause.lifted.notify_waiters();
    }

    /// Waits while a CLIENT PAUSE holds a command (`writes`: whether it writes) back.
    pub async fn paused(&self, writes: bool) {
        loop {
            let lifted = self.pause.lifted.notified();
            tokio::pin!(lifted);
            lifted.as_mut().enable();
            let until = self.pause.until_ms.load(Ordering::Relaxed);
            let now = self.opened_at.elapsed().as_millis() as u64;
            if until <= now {
                // Over: back to the one-load fast path (unless a new pause came in meanwhile).
                let _ = self.pause.until_ms.compare_exchange(until, 0, Ordering::Relaxed, Ordering::Relaxed);
                return;
            }
            if self.pause.writes_only.load(Ordering::Relaxed) && !writes {
                return;
            }
            let deadline = self.opened_at + std::time::Duration::from_millis(until);
            tokio::select! {
                _ = lifted => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    /// Whether any pause is on (one atomic load, for every command's fast path).
    pub fn any_pause(&self) -> bool {
        self.pause.until_ms.load(Ordering::Relaxed) != 0
    }

    /// LASTSAVE's answer.
    pub fn last_save_s(&self) -> u64 {
        self.last_save_s.load(Ordering::Relaxed)
    }

    /// A SAVE or BGSAVE compacted the log now.
    pub fn saved(&self) {
        self.last_save_s.store(kvs_store::clock::wall_clock_ms() / 1000, Ordering::Relaxed);
    }

    /// The id the next connection will get.
    pub fn next_id_peek(&self) -> u64 {
        self.next_id.load(Ordering::Relaxed)
    }

    /// A fresh id for `CLIENT ID`.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}
