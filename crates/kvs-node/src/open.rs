//! Opening the node's data: memory-only, or a data dir whose log is replayed first.
//!
//! Every run of a node writes under a fresh origin, never under the one a previous run used. A
//! write is pushed to peers before its log record is on disk, so a crash can lose a write locally
//! that peers already hold; had the next run resumed the old numbering, it would have given that
//! write's sequence number to a different write, and a peer whose cursor had passed it would never
//! ask for the second one. With a fresh origin a sequence number names one write forever: the old
//! origin's stream simply ends, and anti-entropy brings back whatever of it peers hold.

use crate::config::NodeConfig;
use crate::error::NodeError;
use kvs_proto::NodeId;
use kvs_store::log::data_dir::DataDir;
use kvs_store::log::recovery::recover;
use kvs_store::log::{Log, LogConfig};
use kvs_store::{HybridClock, Store};
use std::sync::Arc;
use tokio::time::Instant;

/// Everything about a node that survives a restart when it has a data dir.
pub struct OpenedData {
    /// The node's id: persisted in the data dir, random otherwise.
    pub id: NodeId,
    /// The store, already holding what the log replayed.
    pub store: Arc<Store>,
    /// A clock resumed past every version in the log, stamping this run's origin.
    pub clock: HybridClock,
    /// The log writer, when durable.
    pub log: Option<Log>,
    /// Holds the data dir's lock for the node's lifetime.
    pub dir: Option<DataDir>,
}

/// Opens the data as configured; a durable node has replayed its log when this returns.
pub fn open_data(config: &NodeConfig) -> Result<OpenedData, NodeError> {
    let store = Arc::new(Store::new());
    let Some(path) = &config.data_dir else {
        let id = config.node_id.unwrap_or_else(|| NodeId(rand::random()));
        // A memory-only node is new at every start, so its id can serve as its origin.
        let clock = HybridClock::new(id, config.max_clock_skew_ms);
        return Ok(OpenedData { id, store, clock, log: None, dir: None });
    };
    // `--node-id` names a new data dir's node (the simulator's nodes are named by their seed).
    let dir = DataDir::open(path, || config.node_id.unwrap_or_else(|| NodeId(rand::random())))?;
    let id = dir.node();
    let started = Instant::now();
    let recovered = recover(&dir.log_path(), &store, config.limits.max_frame_bytes)?;
    if let Some(damage) = &recovered.replay.damage {
        let reason = &damage.reason;
        tracing::warn!(node = %id, %reason, offset = damage.offset, dropped_bytes = recovered.dropped_bytes, "cut off a torn log tail");
    }
    tracing::info!(
        node = %id,
        entries = recovered.replay.entries,
        keys = store.live_count(),
        ms = started.elapsed().as_millis() as u64,
        "log replayed"
    );
    let origin = fresh_origin(&store, id);
    let clock = match recovered.replay.max_version {
        Some(last) => HybridClock::resume(origin, config.max_clock_skew_ms, last),
        None => HybridClock::new(origin, config.max_clock_skew_ms),
    };
    let wal_config = LogConfig {
        path: dir.log_path(),
        node: id,
        fsync: config.fsync,
        compact_after_bytes: config.compact_after_bytes,
        hold: config.faults.hold_log,
        format: log_format(dir.cluster_version()),
    };
    let file_format = Some(recovered.replay.format_version);
    let log = Log::start(wal_config, store.clone(), recovered.log_bytes, file_format)?;
    Ok(OpenedData { id, store, clock, log: Some(log), dir: Some(dir) })
}

/// The log format a node writes in a cluster at `cluster_version` (`None`: never recorded): the
/// newest whose gate is open, so every release a member could be rolled back to can still
/// replay the log.
pub(crate) fn log_format(cluster_version: Option<u32>) -> u32 {
    use kvs_proto::features::{LOG_FORMAT_4, LOG_FORMAT_6};
    use kvs_store::log::{FIRST_RELEASE_FORMAT_VERSION, FORMAT_VERSION, PREVIOUS_RELEASE_FORMAT_VERSION};
    match cluster_version {
        Some(version) if LOG_FORMAT_6.open_at(version) => FORMAT_VERSION,
        Some(version) if LOG_FORMAT_4.open_at(version) => PREVIOUS_RELEASE_FORMAT_VERSION,
        _ => FIRST_RELEASE_FORMAT_VERSION,
    }
}

/// An origin id no write this node knows of was made under.
fn fresh_origin(store: &Store, id: NodeId) -> NodeId {
    let mut draw = origin_source(store, id);
    loop {
        let origin = NodeId(draw());
        if !store.knows_origin(origin) {
            return origin;
        }
    }
}

/// Random origins.
#[cfg(not(feature = "sim"))]
fn origin_source(_: &Store, _: NodeId) -> impl FnMut() -> u64 {
    rand::random
}

/// Origins that follow from the seed, as everything in a simulated run must: drawn from the node
/// id, what it replayed and the simulated wall clock at start, which differ between its runs.
#[cfg(feature = "sim")]
fn origin_source(store: &Store, id: NodeId) -> impl FnMut() -> u64 {
    use rand::{Rng, SeedableRng};
    let seed = id.0 ^ (store.digest() as u64) ^ kvs_store::clock::wall_clock_ms().rotate_left(32);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    move || rng.random()
}
