//! `cargo xtask bench [native|redis|…]`: figures for docs/performance.md.
//!
//! - [`native`]: the native port against the RESP port of one node, in redis-benchmark's shape.
//! - [`redis`]: redis-benchmark against redis-server and kvs, alternating, with ratios and memory per key.
//! - [`collections`]: hash, set and sorted-set rows against redis-server, and memory per element.
//! - [`lists`]: list rows against redis-server, and memory per element.
//! - [`redis_tools`]: redis-server, redis-benchmark runs, and a process's CPU time and memory.
//! - [`rows`]: redis-benchmark tests against several servers, alternating, as ratio rows.
//! - [`replication`]: a Redis primary with two replicas, and replication lag measured alike for both.
//! - [`scaling`]: one write load against clusters of 3, 5 and 7 nodes.
//! - [`partition`]: three nodes with N owners a slot against a three-primary Redis Cluster.
//! - [`add_node`]: a fourth node added under load, against Redis Cluster's add-node + rebalance.
//! - [`forward`]: a plain client of one node, its commands forwarded to owners, against a
//!   client that routes by itself.
//! - [`owner_down`]: what a cluster under a layout pays while an owner is down (hints kept).
//! - [`gossip`]: idle traffic per node as the cluster grows, and how soon a killed member is noticed.
//! - [`secured`]: the same over TLS against redis-server over TLS, and with clients logged in.
//! - [`anti_entropy`]: how many bytes and how long anti-entropy needs to bring a paused node back, against what changed.
//! - [`durability`]: write throughput per fsync mode, restart time, disk bytes per key.
//! - [`redis_aof`]: redis-server with its AOF, durability's peer.
//! - [`backup`]: `kvs-client export`/`import` against `redis-cli --rdb`/`--pipe`.
//! - [`pubsub`]: messages/s and publish-to-receive latency across two nodes against redis-server.
//! - [`null_server`]: both client protocols and nothing else, the ceiling for `native`.
//! - [`load`]: pipelined RESP loading shared by the benches.
//! - [`rig`]: servers pinned to one core and the load generator to another.
//! - [`counters`]: cycles and instructions of the servers, where `perf stat` can count them.

pub mod add_node;
pub mod anti_entropy;
pub mod backup;
pub mod cluster_load;
pub mod collections;
pub mod counters;
pub mod durability;
pub mod forward;
pub mod gossip;
pub mod lists;
pub mod load;
pub mod native;
pub mod null_server;
pub mod owner_down;
pub mod partition;
pub mod plot;
pub mod pubsub;
pub mod redis;
pub mod redis_aof;
pub mod redis_tools;
pub mod replication;
pub mod rig;
pub mod rows;
pub mod scaling;
pub mod secured;

use clap::{Args, Subcommand};

/// Which benchmark to run.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    kind: Option<BenchKind>,
    /// Flags of the native bench, which runs when no kind is named.
    #[command(flatten)]
    native: native::NativeArgs,
    /// Let servers and load generator share every core (the default pins servers to core 0 and
    /// the load generator to core 1 where there are two cores; see docs/performance.md).
    #[arg(long, global = true)]
    unpinned: bool,
    /// Draw each table's rounds to this SVG file (a run's later tables to FILE-2.svg, …): kvs
    /// and its peer side by side, as ratios to the peer's median.
    #[arg(long, global = true, value_name = "FILE.svg")]
    plot: Option<std::path::PathBuf>,
}

#[derive(Subcommand, Debug)]
enum BenchKind {
    /// Native protocol against RESP on one node, in redis-benchmark's shape (the default).
    Native(native::NativeArgs),
    /// Redis protocol: kvs against redis-server under redis-benchmark, and memory per key.
    Redis(redis::RedisArgs),
    /// Anti-entropy: bytes and time to bring a paused node back, and idle round size.
    AntiEntropy(anti_entropy::AntiEntropyArgs),
    /// Durability: write throughput per fsync mode, restart time, disk bytes per key.
    Durability(durability::DurabilityArgs),
    /// Scaling: one write load against clusters of growing size.
    Scaling(scaling::ScalingArgs),
    /// Partition: three nodes with N owners a slot against a Redis Cluster of three primaries.
    Partition(partition::PartitionArgs),
    /// Add-node: a fourth node joins under load, against redis-cli --cluster add-node + rebalance.
    AddNode(add_node::AddNodeArgs),
    /// Forward: a plain client of one node under a layout, against one that routes by itself.
    Forward(partition::ClusterLoad),
    /// Owner-down: a cluster with two owners a slot with every node up, then with one down.
    OwnerDown(partition::ClusterLoad),
    /// Gossip: idle traffic per node as the cluster grows, and failure detection times.
    Gossip(gossip::GossipArgs),
    /// Backup: export and import rates against redis-cli --rdb and --pipe.
    Backup(backup::BackupArgs),
    /// Pub/sub: messages/s and latency, publisher and subscriber on two nodes, against redis-server.
    Pubsub(pubsub::PubSubArgs),
}

/// Runs the chosen benchmark.
pub async fn run(args: BenchArgs) -> Result<(), String> {
    rig::choose(args.unpinned);
    plot::plot_to(args.plot);
    match args.kind {
        None => native::run(args.native).await,
        Some(BenchKind::Native(args)) => native::run(args).await,
        Some(BenchKind::Redis(args)) => redis::run(args).await,
        Some(BenchKind::AntiEntropy(args)) => anti_entropy::run(args).await,
        Some(BenchKind::Durability(args)) => durability::run(args).await,
        Some(BenchKind::Scaling(args)) => scaling::run(args).await,
        Some(BenchKind::Partition(args)) => partition::run(args).await,
        Some(BenchKind::AddNode(args)) => add_node::run(args).await,
        Some(BenchKind::Forward(args)) => forward::run(args).await,
        Some(BenchKind::OwnerDown(args)) => owner_down::run(args).await,
        Some(BenchKind::Gossip(args)) => gossip::run(args).await,
        Some(BenchKind::Backup(args)) => backup::run(args).await,
        Some(BenchKind::Pubsub(args)) => pubsub::run(args).await,
    }
}
