//! `cargo xtask bench scaling`: the same write load against clusters of growing size: throughput,
//! replication lag to every other node, and CPU per write on the writing node and on the others.

use super::redis_tools::{benchmark_one, cpu_seconds, median, require};
use clap::Args;
use kvs_tests::{start_chain, wait_for_alive_members, NodeProcess};
use std::time::Duration;

/// Scaling bench flags.
#[derive(Args, Debug)]
pub struct ScalingArgs {
    /// Cluster sizes to measure, in turn.
    #[arg(long, value_delimiter = ',', default_value = "3,5,7")]
    sizes: Vec<usize>,
    /// Rounds per size; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// SETs per redis-benchmark run (-n).
    #[arg(long, default_value_t = 500_000)]
    requests: usize,
    /// Parallel connections (-c).
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// Pipeline depth (-P).
    #[arg(long, default_value_t = 16)]
    pipeline: usize,
    /// Replication-lag samples per round.
    #[arg(long, default_value_t = 500)]
    lag_samples: usize,
}

/// One size's medians.
struct Row {
    size: usize,
    throughput: f64,
    writer_cpu: f64,
    replica_cpu: f64,
    lag_p50: f64,
    lag_p99: f64,
}

/// Runs every size and prints one row per size.
pub async fn run(args: ScalingArgs) -> Result<(), String> {
    require("redis-benchmark")?;
    let mut rows = Vec::new();
    for &size in &args.sizes {
        rows.push(measure(size, &args).await?);
    }
    println!(
        "redis-benchmark SET -d 100 -P {} -c {} -n {} on node A, {} rounds, medians; lag: SET on A until GET on every other node returns it",
        args.pipeline, args.clients, args.requests, args.rounds
    );
    println!(
        "{:<6} {:>12} {:>16} {:>20} {:>13} {:>13}",
        "nodes", "SETs/s", "A µs CPU/write", "others µs CPU/write", "lag p50 µs", "lag p99 µs"
    );
    for row in rows {
        println!(
            "{:<6} {:>12.0} {:>16.2} {:>20.2} {:>13.0} {:>13.0}",
            row.size, row.throughput, row.writer_cpu, row.replica_cpu, row.lag_p50, row.lag_p99
        );
    }
    Ok(())
}

async fn measure(size: usize, args: &ScalingArgs) -> Result<Row, String> {
    let nodes = start_chain(size, &["--redis-port", "0"]);
    wait_for_alive_members(&nodes, size, Duration::from_secs(30)).await;
    nodes.iter().for_each(|node| super::rig::serve(node.pid()));
    let test = ["-t", "set", "-r", "100000", "-d", "100"];
    let cpu_all = |nodes: &[NodeProcess]| nodes.iter().map(|n| cpu_seconds(n.pid())).collect::<Vec<_>>();
    let (mut throughput, mut writer, mut replica, mut p50, mut p99) = (vec![], vec![], vec![], vec![], vec![]);
    for round in 1..=args.rounds {
        let before = cpu_all(&nodes);
        let rps = benchmark_one(nodes[0].redis().port(), &test, args.requests, args.clients, args.pipeline)?;
        let used: Vec<f64> = cpu_all(&nodes).iter().zip(&before).map(|(after, before)| after - before).collect();
        let per_write = |seconds: f64| seconds * 1e6 / args.requests as f64;
        let others = used[1..].iter().sum::<f64>() / (size - 1) as f64;
        let readers: Vec<_> = nodes[1..].iter().map(NodeProcess::redis).collect();
        let lag = super::replication::lag(nodes[0].redis(), &readers, args.lag_samples)?.replicated;
        eprintln!(
            "{size} nodes, round {round}: {rps:.0} SETs/s, A {:.2} µs, others {:.2} µs CPU/write, lag p50 {} p99 {} µs",
            per_write(used[0]),
            per_write(others),
            lag.value_at_quantile(0.5),
            lag.value_at_quantile(0.99)
        );
        throughput.push(rps);
        writer.push(per_write(used[0]));
        replica.push(per_write(others));
        p50.push(lag.value_at_quantile(0.5) as f64);
        p99.push(lag.value_at_quantile(0.99) as f64);
    }
    Ok(Row {
        size,
        throughput: median(&mut throughput),
        writer_cpu: median(&mut writer),
        replica_cpu: median(&mut replica),
        lag_p50: median(&mut p50),
        lag_p99: median(&mut p99),
    })
}
