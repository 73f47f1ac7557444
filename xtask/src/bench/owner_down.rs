//! `cargo xtask bench owner-down`: what a cluster under a layout pays while an owner is down.
//! Three durable kvs nodes with two owners a slot; redis-benchmark loads them as a plain client of
//! the first node with every node up, then again once another is killed and the others hold it
//! down. The two writes in three whose slot the dead node owns are then also sent to the slot's
//! stand-in, which keeps each as a hint on disk (docs/partitioning.md, "Owners that are down");
//! the row says how many were kept and what each request cost the live nodes. Not cluster mode:
//! redis-benchmark then puts each node's keys under one hash tag, one slot a node, so a round's
//! hints would be none, half or all of the writes as those slots fall.

use super::partition::{apply, wait_cluster_ok, ClusterLoad};
use super::redis_tools::{benchmark_with, cpu_seconds, median, require};
use kvs_tests::layouts::cluster_info_field;
use kvs_tests::{wait_for_open_gates, NodeProcess, FAST_FAILURE_DETECTION};
use std::time::{Duration, Instant};

/// One load's figures: SETs and GETs a second, CPU time of the live nodes per request, and the
/// hints the stand-ins kept.
#[derive(Clone, Copy, Default)]
struct Figures {
    sets: f64,
    gets: f64,
    cpu_us: f64,
    hints: u64,
}

/// Runs the rounds and prints a row for every node up and for one down.
pub async fn run(args: ClusterLoad) -> Result<(), String> {
    require("redis-benchmark")?;
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        let dirs: Vec<tempfile::TempDir> =
            (0..3).map(|_| tempfile::tempdir()).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
        let mut nodes: Vec<NodeProcess> = Vec::new();
        for dir in &dirs {
            let mut flags = vec!["--redis-port", "0", "--data-dir", dir.path().to_str().unwrap_or_default()];
            flags.extend(FAST_FAILURE_DETECTION);
            nodes.push(NodeProcess::start(nodes.first().map(|n| n.addr), &flags));
        }
        wait_for_open_gates(&nodes, Duration::from_secs(30)).await;
        nodes.iter().for_each(|node| super::rig::serve(node.pid()));
        apply(&nodes[0], 2)?;
        for node in &nodes {
            wait_cluster_ok(node.redis().port())?;
        }
        let all_up = load(&nodes.iter().collect::<Vec<_>>(), &args)?;
        nodes[1].kill();
        let live = [&nodes[0], &nodes[2]];
        for node in live {
            wait_field(node, "kvs_owners_down", 1)?;
            wait_cluster_ok(node.redis().port())?;
        }
        let one_down = load(&live, &args)?;
        for (name, figures) in [("all up", &all_up), ("one down", &one_down)] {
            eprintln!(
                "round {round}, {name}: {:.0} SET/s {:.0} GET/s {:.2} µs CPU/request, {} hints kept",
                figures.sets, figures.gets, figures.cpu_us, figures.hints
            );
        }
        up.push(all_up);
        down.push(one_down);
    }
    println!(
        "redis-benchmark -t set,get {} against one node, three durable nodes with two owners a slot, {} rounds, medians ({})",
        args.flags(),
        args.rounds,
        super::rig::describe(super::rig::current())
    );
    println!("{:<28} {:>10} {:>10} {:>20} {:>12}", "cluster", "SET/s", "GET/s", "µs CPU/request (live)", "hints kept");
    let pick = |rows: &[Figures], f: fn(&Figures) -> f64| median(&mut rows.iter().map(f).collect::<Vec<_>>());
    for (name, rows) in [("every node up", &up), ("one owner down (hints kept)", &down)] {
        let (sets, gets, cpu) = (pick(rows, |f| f.sets), pick(rows, |f| f.gets), pick(rows, |f| f.cpu_us));
        let hints = pick(rows, |f| f.hints as f64);
        println!("{name:<28} {sets:>10.0} {gets:>10.0} {cpu:>20.2} {hints:>12.0}");
    }
    let ratio = |f: fn(&Figures) -> f64| {
        let mut r: Vec<f64> = down.iter().zip(&up).map(|(d, u)| f(d) / f(u)).collect();
        let (low, high) = (r.iter().copied().fold(f64::MAX, f64::min), r.iter().copied().fold(0.0, f64::max));
        format!("{:.2} ({low:.2}–{high:.2})", median(&mut r))
    };
    println!(
        "one down / all up: SET {}, GET {}, CPU/request {}",
        ratio(|f| f.sets),
        ratio(|f| f.gets),
        ratio(|f| f.cpu_us)
    );
    Ok(())
}

/// Loads the `live` nodes once with SETs then GETs, as a plain client of the first.
fn load(live: &[&NodeProcess], args: &ClusterLoad) -> Result<Figures, String> {
    let cpu = || live.iter().map(|n| cpu_seconds(n.pid())).sum::<f64>();
    let hints = || live.iter().map(|n| cluster_info_field(n, "kvs_hints_kept").unwrap_or(0)).sum::<u64>();
    let (cpu_before, hints_before) = (cpu(), hints());
    let extra = vec!["-r".to_string(), args.requests.to_string()];
    let port = live[0].redis().port();
    let (sets, gets) = benchmark_with(port, &extra, args.requests, args.clients, args.pipeline, args.data)?;
    let cpu_us = (cpu() - cpu_before) * 1e6 / (2 * args.requests) as f64;
    Ok(Figures { sets, gets, cpu_us, hints: hints() - hints_before })
}

/// Waits until INFO's cluster section of `node` gives `name` the value `want`.
fn wait_field(node: &NodeProcess, name: &str, want: u64) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while cluster_info_field(node, name) != Some(want) {
        if Instant::now() > deadline {
            return Err(format!("{name} never reached {want} on {}", node.addr));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
