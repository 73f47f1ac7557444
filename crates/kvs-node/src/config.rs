//! Node flags and configuration.

use crate::credentials::ClusterSecret;
use crate::error::NodeError;
use crate::faults::Faults;
use crate::flag_values::{parse_bytes, parse_memory, parse_ms, parse_size, parse_yes_no};
use crate::tls::Tls;
use crate::users::Users;
use clap::Parser;
use kvs_proto::{Limits, NodeId};
use kvs_store::log::FsyncPolicy;
use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// What `kvs-node --version` prints: the release, the wire protocol it speaks and the log format
/// it writes, which are what decide whether two builds can run in one cluster and on one data dir.
fn version_line() -> &'static str {
    static LINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LINE.get_or_init(|| {
        format!(
            "{} (wire protocols {} to {}, log format {}; format {} or {} until the cluster opens the log-format-{} gate)",
            env!("CARGO_PKG_VERSION"),
            kvs_proto::OLDEST_PROTOCOL_VERSION,
            kvs_proto::PROTOCOL_VERSION,
            kvs_store::log::FORMAT_VERSION,
            kvs_store::log::PREVIOUS_RELEASE_FORMAT_VERSION,
            kvs_store::log::FIRST_RELEASE_FORMAT_VERSION,
            kvs_store::log::FORMAT_VERSION,
        )
    })
}

/// The command line with each leading `host:port` argument (before the first flag) split in
/// two, so `kvs-node 127.0.0.1:1234 127.0.0.1:1235` reads as the four positionals it stands for.
pub fn split_addresses(argv: Vec<OsString>) -> Vec<OsString> {
    let mut split = Vec::with_capacity(argv.len() + 2);
    let mut positional = true;
    for (i, arg) in argv.into_iter().enumerate() {
        positional &= i == 0 || !arg.to_string_lossy().starts_with('-');
        match arg.to_str().and_then(kvs_client::address::split_host_port) {
            Some((host, port)) if positional && i > 0 => split.extend([host.into(), port.into()]),
            _ => split.push(arg),
        }
    }
    split
}

/// An `<ip>` argument: an IP address, or a host name such as `localhost` resolved to one.
fn host_ip(text: &str) -> Result<IpAddr, String> {
    kvs_client::address::resolve_ip(text)
}

/// `kvs-node <ip> <port> [<bootstrap ip> <bootstrap port>] [flags]`
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kvs-node",
    version = version_line(),
    about = "A kvs storage node: every node holds every key.",
    after_help = "Durations take a number of ms or units (500ms, 6s, 24h); sizes a number of bytes or units (64KiB, 16MiB).\nLogs go to stderr, filtered by RUST_LOG (default info; e.g. RUST_LOG=kvs_node=debug).\n`kvs-node check-data-dir DIR [--repair]` checks a data dir offline (see its --help)."
)]
pub struct NodeArgs {
    /// Address to listen on (and advertise to peers, unless `--advertise-addr` says otherwise):
    /// an IP address or a host name such as `localhost`; `<ip>:<port>` in one argument works too.
    #[arg(value_parser = host_ip)]
    pub ip: IpAddr,
    /// Port to listen on (0 picks a free one; the chosen address is printed on stdout).
    pub port: u16,
    /// Address of any running member to join through (an IP address or a host name).
    #[arg(value_parser = host_ip)]
    pub bootstrap_ip: Option<IpAddr>,
    /// Port of that member.
    #[arg(requires = "bootstrap_ip")]
    pub bootstrap_port: Option<u16>,
    /// The address peers and clients reach this node at, `IP:PORT`, when it is not the one it
    /// listens on (behind 0.0.0.0, a container or NAT); port 0 means the port it listens on.
    /// Required when listening on an unspecified address such as 0.0.0.0.
    #[arg(long, help_heading = "Network")]
    pub advertise_addr: Option<SocketAddr>,
    /// Read flags from this TOML file, each flag a key without its dashes (`dead-after-ms =
    /// 6000`; the arguments as `ip`, `port`, `bootstrap-ip`, `bootstrap-port`); flags given here
    /// override the file.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// Give up joining through the bootstrap node after this long, in ms, and exit with an error
    /// (0: keep retrying, with backoff, for as long as it takes).
    #[arg(long, default_value = "0s", value_parser = parse_ms, help_heading = "Membership")]
    pub join_timeout_ms: u64,
    /// Also serve the Redis protocol (RESP2/RESP3) on this port of the same address (0: any free port).
    #[arg(long, help_heading = "Network")]
    pub redis_port: Option<u16>,
    /// Under a layout, who gets `-MOVED`/`-ASK` for a key this node does not serve: `aware`, the
    /// connections that showed they follow redirects (CLUSTER SLOTS/SHARDS/NODES, READONLY,
    /// READWRITE, ASKING, CLIENT CAPA redirect), the others' commands being run by an owner for
    /// them; `always`, every connection, as Redis Cluster does.
    #[arg(long, default_value = "aware", value_parser = ["aware", "always"], help_heading = "Network")]
    pub redis_redirect: String,
    /// Serve the HTTP admin port on this port of the same address (0: any free port): the cluster
    /// page at /, /metrics (Prometheus), /health, /ready and /status. With --users-file, every
    /// view but /health and /ready asks for HTTP Basic credentials of a user in it.
    #[arg(long, help_heading = "Network")]
    pub http_port: Option<u16>,
    /// Runtime worker threads; 0 picks one less than the available cores (at least one), leaving
    /// a core for the kernel's network work and co-located processes. One worker runs tokio's
    /// current-thread scheduler, which runs woken tasks in the order their events arrived.
    #[arg(long, default_value_t = 0, help_heading = "Network")]
    pub threads: usize,
    /// Keep data here and survive restarts (memory-only without it). One node per directory.
    #[arg(long, help_heading = "Storage")]
    pub data_dir: Option<std::path::PathBuf>,
    /// When writes reach the disk: always (before the reply; concurrent writes share an fsync),
    /// everysec, or never.
    #[arg(long, default_value_t = FsyncPolicy::EverySec, help_heading = "Storage")]
    pub fsync: FsyncPolicy,
    /// Compact the log once it reaches this many bytes and twice its size after the last compaction.
    #[arg(long, default_value = "64MiB", value_parser = parse_bytes, help_heading = "Storage")]
    pub compact_after_bytes: u64,
    /// Under a layout, the most bytes of writes this node keeps as hints for owners that are
    /// down, as their stand-in (in the data dir's hints/, else in memory); past it, hints are
    /// refused (the writes' other copies remain).
    #[arg(long, default_value = "64MiB", value_parser = parse_bytes, help_heading = "Storage")]
    pub max_hint_bytes: u64,
    /// Largest frame accepted on any connection, in bytes.
    #[arg(long, default_value = "16MiB", value_parser = parse_size, help_heading = "Limits")]
    pub max_frame_bytes: usize,
    /// Largest key accepted, in bytes.
    #[arg(long, default_value = "64KiB", value_parser = parse_size, help_heading = "Limits")]
    pub max_key_bytes: usize,
    /// Largest value accepted, in bytes.
    #[arg(long, default_value = "8MiB", value_parser = parse_size, help_heading = "Limits")]
    pub max_value_bytes: usize,
    /// How often this node bumps its heartbeat and gossips membership with one peer, in ms.
    #[arg(long, default_value = "200ms", value_parser = parse_ms, help_heading = "Membership")]
    pub gossip_interval_ms: u64,
    /// Silence after which a member is suspect, in ms.
    #[arg(long, default_value = "2s", value_parser = parse_ms, help_heading = "Membership")]
    pub suspect_after_ms: u64,
    /// Silence after which a member is dead, in ms.
    #[arg(long, default_value = "6s", value_parser = parse_ms, help_heading = "Membership")]
    pub dead_after_ms: u64,
    /// Members dead or departed this long are forgotten, in ms; a member that comes
    /// back later rejoins as new.
    #[arg(long, default_value = "1h", value_parser = parse_ms, help_heading = "Membership")]
    pub reap_after_ms: u64,
    /// Most members the cluster may have, this node included; records of more are ignored.
    #[arg(long, default_value_t = 1_024, help_heading = "Membership")]
    pub max_members: usize,
    /// How often this node asks a peer (in turn) for what it lacks (anti-entropy), in ms.
    #[arg(long, default_value = "1s", value_parser = parse_ms, help_heading = "Membership")]
    pub anti_entropy_interval_ms: u64,
    /// How long a delete's tombstone is kept before it is purged, in ms. A node away
    /// longer than this resynchronizes fully when it returns.
    #[arg(long, default_value = "24h", value_parser = parse_ms, help_heading = "Storage")]
    pub tombstone_grace_ms: u64,
    /// How long an eviction's tombstone is kept before it is purged, in ms (at most
    /// --tombstone-grace-ms): short, so a node evicting under --maxmemory is not filled with
    /// tombstones. A node away longer than this resynchronizes fully when it returns.
    #[arg(long, default_value = "10m", value_parser = parse_ms, help_heading = "Storage")]
    pub eviction_grace_ms: u64,
    /// How long one frame write to a peer may block before the connection is dropped and redialed, in ms.
    #[arg(long, default_value = "5s", value_parser = parse_ms, help_heading = "Network")]
    pub peer_write_timeout_ms: u64,
    /// How long a new connection may take to send its hello, in ms.
    #[arg(long, default_value = "5s", value_parser = parse_ms, help_heading = "Network")]
    pub hello_timeout_ms: u64,
    /// Remote versions further ahead of our wall clock than this are refused, in ms.
    #[arg(long, default_value = "60s", value_parser = parse_ms, help_heading = "Limits")]
    pub max_clock_skew_ms: u64,
    /// Writes buffered for pushing to peers; a peer that falls further behind gets the rest by anti-entropy.
    #[arg(long, default_value_t = 65_536, help_heading = "Membership")]
    pub push_queue: usize,
    /// Simultaneous connections accepted across all listeners, further ones wait; lowered to fit
    /// the file descriptor limit (raised to its hard limit at start), and an eighth (up to 256)
    /// kept for peers.
    #[arg(long, default_value_t = 4_096, help_heading = "Network")]
    pub max_connections: usize,
    /// Most bytes of live data (keys, values and each key's overhead) the node holds, as
    /// Redis's `maxmemory` (0: no limit); past it writes evict keys by --maxmemory-policy or are
    /// refused with -OOM. Settable at run time with CONFIG SET maxmemory.
    #[arg(long, default_value = "0", value_parser = parse_memory, help_heading = "Limits")]
    pub maxmemory: u64,
    /// What a write past --maxmemory does: noeviction (refuse it with -OOM), allkeys-lru,
    /// allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu, volatile-random or volatile-ttl
    /// (evict such keys until the data fits), as in Redis.
    #[arg(long, default_value = "noeviction", value_parser = crate::memory_limit::Policy::parse, help_heading = "Limits")]
    pub maxmemory_policy: crate::memory_limit::Policy,
    /// Numbered databases the Redis port serves (SELECT 0 to N-1), 1 to 256, as Redis's
    /// `databases`.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256), help_heading = "Limits")]
    pub databases: u16,
    /// Commands slower than this many microseconds go to the slow log (SLOWLOG; negative: none,
    /// 0: every command), as Redis's `slowlog-log-slower-than`.
    #[arg(long, default_value_t = 10_000, allow_negative_numbers = true, help_heading = "Redis port")]
    pub slowlog_log_slower_than: i64,
    /// Entries the slow log keeps, at most 10,000, as Redis's `slowlog-max-len`.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(0..=10_000), help_heading = "Redis port")]
    pub slowlog_max_len: u64,
    /// Keyspace notifications to publish, in Redis's letters (`KEA`: every event on both channel
    /// families; empty: none), as Redis's `notify-keyspace-events`.
    #[arg(long, default_value = "", value_parser = parse_keyspace_events, help_heading = "Redis port")]
    pub notify_keyspace_events: u32,
    /// Keys the node remembers for CLIENT TRACKING at most (0: no limit); past it, keys are
    /// invalidated early to make room, as Redis's `tracking-table-max-keys`.
    #[arg(long, default_value_t = crate::tracking::DEFAULT_MAX_KEYS, help_heading = "Redis port")]
    pub tracking_table_max_keys: usize,
    /// Commands slower than this many milliseconds are latency events (LATENCY; 0: off), as
    /// Redis's `latency-monitor-threshold`.
    #[arg(long, default_value_t = 0, help_heading = "Redis port")]
    pub latency_monitor_threshold: u64,
    /// Keys an eviction samples to choose the one to evict, as Redis's `maxmemory-samples`.
    #[arg(long, default_value_t = 5, help_heading = "Limits")]
    pub maxmemory_samples: u32,
    /// Close a client connection idle this long, in ms (0: never, as Redis's `timeout 0`).
    #[arg(long, default_value = "0s", value_parser = parse_ms, help_heading = "Network")]
    pub idle_timeout_ms: u64,
    /// Largest reply one command may produce, in bytes (MGET, KEYS, SCAN); past it the command
    /// gets an error instead.
    #[arg(long, default_value = "64MiB", value_parser = parse_size, help_heading = "Limits")]
    pub max_reply_bytes: usize,
    /// A file holding the cluster secret (mode 600): peers then prove they hold it before they are
    /// let in, and nodes with different secrets never merge.
    #[arg(long, help_heading = "Security")]
    pub cluster_secret_file: Option<std::path::PathBuf>,
    /// A file of users (mode 600), one `<name> <role> <password>` a line, role read, write or
    /// admin, password plain or `sha256:<hex>`: clients must then log in (native hello, RESP AUTH).
    #[arg(long, help_heading = "Security")]
    pub users_file: Option<std::path::PathBuf>,
    /// TLS on every listener and every connection to a peer: this node's certificate chain (PEM),
    /// with its IP addresses among its names.
    #[arg(long, requires = "tls_key_file", help_heading = "Security")]
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// The private key (PEM) of `--tls-cert-file`.
    #[arg(long, requires = "tls_cert_file", help_heading = "Security")]
    pub tls_key_file: Option<std::path::PathBuf>,
    /// Mutual TLS: every connection, client or peer, must present a certificate this CA (PEM)
    /// signed; peers' certificates are verified against it.
    #[arg(long, requires = "tls_cert_file", help_heading = "Security")]
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// With neither --cluster-secret-file nor --users-file, serve loopback only (refuse clients
    /// and peers from other addresses, saying which flag to set), as Redis's protected mode; `no`
    /// serves every address without either, trusting the network.
    #[arg(long, default_value = "yes", value_parser = parse_yes_no, action = clap::ArgAction::Set, help_heading = "Security")]
    pub protected_mode: bool,
    /// For simulations: the node's id, in hex, instead of a random one: a memory-only node's (it
    /// must still be new at every start, since a memory-only node's id is also its origin), or a
    /// new data dir's (a data dir that already holds an id keeps it).
    #[arg(long, hide = true, value_parser = parse_node_id)]
    pub node_id: Option<NodeId>,
    /// How often the node samples its counters for the cluster page's charts, which show the
    /// last ten minutes (tests shorten it).
    #[arg(long, hide = true, default_value = "5s", value_parser = parse_ms)]
    pub history_step_ms: u64,
    /// Fault injection, for tests and the simulator: flags only a build with the `fault` feature
    /// has (see [`crate::faults::FaultArgs`]).
    #[cfg(feature = "fault")]
    #[command(flatten)]
    pub faults: crate::faults::FaultArgs,
}

/// Everything a node needs to run, checked for consistency.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where to listen (port may be 0).
    pub listen: SocketAddr,
    /// The address advertised to peers, if not the one listened on (its port 0: the bound port).
    pub advertise: Option<SocketAddr>,
    /// Where to serve the Redis protocol, if at all.
    pub redis_listen: Option<SocketAddr>,
    /// Run a command of a slot served elsewhere on an owner for a Redis connection that does not
    /// follow redirects (`--redis-redirect aware`).
    pub forward_plain_clients: bool,
    /// Where the HTTP admin port listens, if it is served.
    pub http_listen: Option<SocketAddr>,
    /// A member to join through, if any.
    pub bootstrap: Option<SocketAddr>,
    /// How long joining through the bootstrap node may take before the node gives up.
    pub join_timeout: Option<Duration>,
    /// Frame, key and value bounds.
    pub limits: Limits,
    /// Heartbeat and gossip period.
    pub gossip_interval: Duration,
    /// How often each peer connection carries a ping: a quarter of the dead-after time (the
    /// silence after which the other end closes it).
    pub ping_interval: Duration,
    /// Silence before suspect.
    pub suspect_after: Duration,
    /// Silence before dead.
    pub dead_after: Duration,
    /// Silence before a dead or departed member is forgotten.
    pub reap_after: Duration,
    /// Most members, this node included.
    pub max_members: usize,
    /// Where data persists, if anywhere.
    pub data_dir: Option<std::path::PathBuf>,
    /// When writes reach the disk.
    pub fsync: FsyncPolicy,
    /// Log size that triggers a compaction.
    pub compact_after_bytes: u64,
    /// The most bytes of hints kept for owners that are down.
    pub max_hint_bytes: usize,
    /// Anti-entropy period.
    pub anti_entropy_interval: Duration,
    /// Tombstone lifetime.
    pub tombstone_grace: Duration,
    /// An eviction's tombstone's lifetime (at most `tombstone_grace`).
    pub eviction_grace: Duration,
    /// Deadline for a connection's hello.
    pub hello_timeout: Duration,
    /// Bound on how far ahead a remote version may be.
    pub max_clock_skew_ms: u64,
    /// Capacity of the push log.
    pub push_queue: usize,
    /// Connection cap.
    pub max_connections: usize,
    /// How long a client connection may idle, if bounded.
    pub idle_timeout: Option<Duration>,
    /// How often the node samples itself for the cluster page's charts.
    pub history_step: Duration,
    /// Numbered databases served.
    pub databases: u16,
    /// The Redis port's run-time parameters at start: slow log threshold (µs) and length,
    /// latency threshold (ms).
    pub redis_monitoring: (i64, usize, u64),
    /// `--notify-keyspace-events` (classes) and `--tracking-table-max-keys` at start.
    pub observers: (u32, usize),
    /// The file `--config` named, which CONFIG REWRITE rewrites.
    pub config_file: Option<std::path::PathBuf>,
    /// The memory limit at start (`--maxmemory`, policy and samples).
    pub memory_limit: (u64, crate::memory_limit::Policy, u32),
    /// Largest reply one command may produce.
    pub max_reply_bytes: usize,
    /// Deadline for one frame write to a peer before the connection is dropped and redialed.
    pub peer_write_timeout: Duration,
    /// Upper bound on the bytes of entries put in one push frame.
    pub max_batch_bytes: usize,
    /// How long shutdown waits for tasks to finish.
    pub shutdown_grace: Duration,
    /// Simulation-only: the id of a memory-only node or a new data dir (see `--node-id`).
    pub node_id: Option<NodeId>,
    /// What fault injection asks of this node: nothing, unless built with the `fault` feature.
    pub faults: Faults,
    /// Whether to serve loopback only, for want of a secret and users (`--protected-mode`).
    pub protected_mode: bool,
    /// The cluster secret, when peers must prove they hold it.
    pub cluster_secret: Option<ClusterSecret>,
    /// The users clients log in as, when they must.
    pub users: Option<Users>,
    /// TLS, when on.
    pub tls: Option<Tls>,
}

/// How long a client may leave its replies unread before it is disconnected: until then it has
/// at most one reply batch queued at the node (the rest waits in its socket), as Redis's
/// client-output-buffer-limit bounds what a client that does not read can cost.
pub const CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Waits for `read` unless the connection idles past `idle` (`--idle-timeout-ms`); `None` then.
pub async fn unless_idle<T>(idle: Option<Duration>, read: impl std::future::Future<Output = T>) -> Option<T> {
    match idle {
        Some(limit) => tokio::time::timeout(limit, read).await.ok(),
        None => Some(read.await),
    }
}

/// `--notify-keyspace-events`: Redis's class letters.
fn parse_keyspace_events(text: &str) -> Result<u32, String> {
    crate::keyspace_events::classes::parse(text).ok_or_else(|| "unknown class; use letters of Ag$lshzxeKEtmdn".into())
}

fn parse_node_id(hex: &str) -> Result<NodeId, String> {
    u64::from_str_radix(hex, 16).map(NodeId).map_err(|e| format!("not a hex node id: {e}"))
}

/// Room left in a frame for everything but one entry's key and value.
const FRAME_OVERHEAD_BYTES: usize = 1024;

impl NodeArgs {
    /// The worker thread count `--threads` asks for, with 0 resolved against this machine.
    pub fn worker_threads(&self) -> usize {
        if self.threads > 0 {
            return self.threads;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        cores.saturating_sub(1).max(1)
    }
}

/// What a node in protected mode tells a connection from beyond loopback before closing it.
pub const PROTECTED_MODE_REFUSAL: &str = "kvs-node is in protected mode: with neither --cluster-secret-file nor --users-file it serves loopback only; set them (docs/security.md) or start it with --protected-mode no";

impl NodeConfig {
    /// Whether a connection from `source` is refused for protected mode.
    pub fn refuses_in_protected_mode(&self, source: std::net::IpAddr) -> bool {
        self.protected_mode && !source.to_canonical().is_loopback()
    }
}

impl TryFrom<NodeArgs> for NodeConfig {
    type Error = NodeError;

    fn try_from(args: NodeArgs) -> Result<Self, NodeError> {
        let limits = Limits {
            max_frame_bytes: args.max_frame_bytes,
            max_key_bytes: args.max_key_bytes,
            max_value_bytes: args.max_value_bytes,
        };
        if limits.max_key_bytes + limits.max_value_bytes + FRAME_OVERHEAD_BYTES > limits.max_frame_bytes {
            return Err(NodeError::Config(format!(
                "--max-frame-bytes {} must exceed --max-key-bytes + --max-value-bytes + {FRAME_OVERHEAD_BYTES}",
                limits.max_frame_bytes
            )));
        }
        if limits.max_frame_bytes > kvs_store::MAX_RECORD_BYTES {
            return Err(NodeError::Config(format!(
                "--max-frame-bytes {} exceeds what a record holds ({} bytes)",
                limits.max_frame_bytes,
                kvs_store::MAX_RECORD_BYTES
            )));
        }
        if args.reap_after_ms <= args.dead_after_ms {
            return Err(NodeError::Config("--reap-after-ms must exceed --dead-after-ms".into()));
        }
        if args.max_members < 2 {
            return Err(NodeError::Config("--max-members must be at least 2".into()));
        }
        match args.advertise_addr {
            None if args.ip.is_unspecified() => {
                return Err(NodeError::Config(format!(
                    "listening on {} needs --advertise-addr IP:PORT: peers would dial {0}, which is their own host",
                    args.ip
                )))
            }
            Some(advertised) if advertised.ip().is_unspecified() => {
                return Err(NodeError::Config(format!(
                    "--advertise-addr {advertised} is not an address peers can dial"
                )))
            }
            _ => {}
        }
        if args.suspect_after_ms >= args.dead_after_ms {
            return Err(NodeError::Config("--suspect-after-ms must be below --dead-after-ms".into()));
        }
        if args.gossip_interval_ms == 0 || args.anti_entropy_interval_ms == 0 || args.push_queue == 0 {
            return Err(NodeError::Config("intervals and --push-queue must be positive".into()));
        }
        let bootstrap = match (args.bootstrap_ip, args.bootstrap_port) {
            (Some(ip), Some(port)) => Some(SocketAddr::new(ip, port)),
            (None, None) => None,
            _ => return Err(NodeError::Config("give both <bootstrap ip> and <bootstrap port>".into())),
        };
        Ok(NodeConfig {
            listen: SocketAddr::new(args.ip, args.port),
            advertise: args.advertise_addr,
            redis_listen: args.redis_port.map(|port| SocketAddr::new(args.ip, port)),
            forward_plain_clients: args.redis_redirect == "aware",
            http_listen: args.http_port.map(|port| SocketAddr::new(args.ip, port)),
            bootstrap,
            join_timeout: (args.join_timeout_ms > 0).then(|| Duration::from_millis(args.join_timeout_ms)),
            limits,
            gossip_interval: Duration::from_millis(args.gossip_interval_ms),
            ping_interval: Duration::from_millis((args.dead_after_ms / 4).max(1)),
            suspect_after: Duration::from_millis(args.suspect_after_ms),
            dead_after: Duration::from_millis(args.dead_after_ms),
            reap_after: Duration::from_millis(args.reap_after_ms),
            max_members: args.max_members,
            data_dir: args.data_dir,
            fsync: args.fsync,
            compact_after_bytes: args.compact_after_bytes,
            max_hint_bytes: usize::try_from(args.max_hint_bytes).unwrap_or(usize::MAX),
            anti_entropy_interval: Duration::from_millis(args.anti_entropy_interval_ms),
            tombstone_grace: Duration::from_millis(args.tombstone_grace_ms),
            eviction_grace: Duration::from_millis(args.eviction_grace_ms.min(args.tombstone_grace_ms)),
            hello_timeout: Duration::from_millis(args.hello_timeout_ms),
            max_clock_skew_ms: args.max_clock_skew_ms,
            push_queue: args.push_queue,
            max_connections: args.max_connections.max(1),
            idle_timeout: (args.idle_timeout_ms > 0).then(|| Duration::from_millis(args.idle_timeout_ms)),
            history_step: Duration::from_millis(args.history_step_ms.max(1)),
            databases: args.databases,
            redis_monitoring: (
                args.slowlog_log_slower_than,
                args.slowlog_max_len as usize,
                args.latency_monitor_threshold,
            ),
            observers: (args.notify_keyspace_events, args.tracking_table_max_keys),
            config_file: args.config.clone(),
            memory_limit: (args.maxmemory, args.maxmemory_policy, args.maxmemory_samples.clamp(1, 64)),
            max_reply_bytes: args.max_reply_bytes,
            peer_write_timeout: Duration::from_millis(args.peer_write_timeout_ms),
            max_batch_bytes: (limits.max_frame_bytes / 4).clamp(64 * 1024, 256 * 1024),
            shutdown_grace: Duration::from_secs(3),
            node_id: args.node_id,
            #[cfg(feature = "fault")]
            faults: Faults::from(&args.faults),
            #[cfg(not(feature = "fault"))]
            faults: Faults::default(),
            protected_mode: args.protected_mode && args.cluster_secret_file.is_none() && args.users_file.is_none(),
            cluster_secret: args.cluster_secret_file.as_deref().map(ClusterSecret::load).transpose()?,
            users: args.users_file.as_deref().map(Users::load).transpose()?,
            tls: match (&args.tls_cert_file, &args.tls_key_file) {
                (Some(cert), Some(key)) => Some(Tls::load(cert, key, args.tls_ca_file.as_deref())?),
                _ => None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_take_host_names_and_host_port_in_one_argument() {
        let argv = ["kvs-node", "localhost:7000", "127.0.0.1:7001", "--advertise-addr", "127.0.0.1:7000"];
        let args = NodeArgs::parse_from(split_addresses(argv.iter().map(OsString::from).collect()));
        let config = NodeConfig::try_from(args).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(config.bootstrap.map(|b| b.to_string()).as_deref(), Some("127.0.0.1:7001"));
        assert_eq!(config.advertise.map(|a| a.to_string()).as_deref(), Some("127.0.0.1:7000"), "a flag's value stays");
        let args = NodeArgs::parse_from(["kvs-node", "127.0.0.1", "7000", "localhost", "7001"]);
        assert_eq!(args.bootstrap_ip.map(|ip| ip.is_loopback()), Some(true));
        let refused = NodeArgs::try_parse_from(["kvs-node", "no such host.invalid", "7000"]).unwrap_err();
        assert!(refused.to_string().contains("cannot resolve"), "{refused}");
    }

    #[test]
    fn duration_and_size_flags_take_units() {
        let args =
            NodeArgs::parse_from(["kvs-node", "127.0.0.1", "0", "--dead-after-ms", "9s", "--max-key-bytes", "1KiB"]);
        assert_eq!((args.dead_after_ms, args.max_key_bytes, args.suspect_after_ms), (9_000, 1_024, 2_000));
        let defaults = NodeArgs::parse_from(["kvs-node", "127.0.0.1", "0"]);
        assert_eq!(
            (defaults.tombstone_grace_ms, defaults.max_frame_bytes),
            (86_400_000, Limits::DEFAULT_MAX_FRAME_BYTES)
        );
    }
}
