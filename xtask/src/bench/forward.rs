//! `cargo xtask bench forward`: what a hop costs a client that does not follow redirects. Three
//! kvs nodes with one owner a slot; redis-benchmark loads them in cluster mode (it routes each
//! key to its owner) and as a plain client of one node (two keys in three belong to another
//! node, which runs them for it), alternating on the same cluster, each round a fresh one.

use super::partition::{start_kvs, ClusterLoad};
use super::redis_tools::{benchmark_with, cpu_seconds, median, require};
use kvs_tests::NodeProcess;

/// One load's figures: SETs and GETs a second, and CPU time of every node per request.
#[derive(Clone, Copy, Default)]
struct Figures {
    sets: f64,
    gets: f64,
    cpu_us: f64,
}

/// Runs the rounds and prints a row per way of reaching the cluster.
pub async fn run(args: ClusterLoad) -> Result<(), String> {
    require("redis-benchmark")?;
    let (mut routed, mut plain) = (Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        let nodes = start_kvs(1).await?;
        // Alternating which goes first, so neither always meets a warmer cluster.
        let order = if round % 2 == 1 { [true, false] } else { [false, true] };
        for cluster in order {
            let figures = load(&nodes, cluster, &args)?;
            eprintln!(
                "round {round}, {}: {:.0} SET/s {:.0} GET/s {:.2} µs CPU/request",
                if cluster { "routed" } else { "plain" },
                figures.sets,
                figures.gets,
                figures.cpu_us
            );
            if cluster { &mut routed } else { &mut plain }.push(figures);
        }
    }
    println!(
        "redis-benchmark -t set,get {}, three nodes with one owner a slot, {} rounds, medians ({})",
        args.flags(),
        args.rounds,
        super::rig::describe(super::rig::current())
    );
    println!("{:<34} {:>10} {:>10} {:>14}", "client", "SET/s", "GET/s", "µs CPU/request");
    let pick = |rows: &[Figures], f: fn(&Figures) -> f64| median(&mut rows.iter().map(f).collect::<Vec<_>>());
    for (name, rows) in
        [("cluster mode (routes by CLUSTER SLOTS)", &routed), ("plain, one node (2/3 forwarded)", &plain)]
    {
        let (sets, gets, cpu) = (pick(rows, |f| f.sets), pick(rows, |f| f.gets), pick(rows, |f| f.cpu_us));
        println!("{name:<34} {sets:>10.0} {gets:>10.0} {cpu:>14.2}");
    }
    let ratios = |f: fn(&Figures) -> f64| {
        let mut r: Vec<f64> = plain.iter().zip(&routed).map(|(p, c)| f(p) / f(c)).collect();
        let (low, high) = (r.iter().copied().fold(f64::MAX, f64::min), r.iter().copied().fold(0.0, f64::max));
        format!("{:.2} ({low:.2}–{high:.2})", median(&mut r))
    };
    println!("plain / routed: SET {}, GET {}", ratios(|f| f.sets), ratios(|f| f.gets));
    Ok(())
}

/// Loads `nodes` once with SETs then GETs, in cluster mode or as a plain client of the first.
fn load(nodes: &[NodeProcess], cluster: bool, args: &ClusterLoad) -> Result<Figures, String> {
    let cpu = || nodes.iter().map(|n| cpu_seconds(n.pid())).sum::<f64>();
    let before = cpu();
    let mut extra = vec!["-r".to_string(), args.requests.to_string()];
    if cluster {
        extra.push("--cluster".into());
    }
    let port = nodes[0].redis().port();
    let (sets, gets) = benchmark_with(port, &extra, args.requests, args.clients, args.pipeline, args.data)?;
    Ok(Figures { sets, gets, cpu_us: (cpu() - before) * 1e6 / (2 * args.requests) as f64 })
}
