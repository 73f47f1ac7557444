//! `kvs-sim`: kvs nodes' real shell and core code under turmoil's seeded, simulated network and
//! time, with faults throughout; run through `cargo xtask sim`.
//!
//! Why turmoil rather than madsim: turmoil simulates hosts, TCP and time under an ordinary tokio
//! runtime, so the node's code needs only its socket types swapped (`kvs-node`'s `sim` feature,
//! in `net.rs`); madsim replaces tokio itself, which every crate in the tree would have to follow.
//!
//! # Layout
//! - [`run`]: one seed: the hosts, the workload under faults, healing, convergence.
//! - [`check`]: what must hold afterwards.
//! - [`hosts`]: the simulated nodes' names and addresses.
//! - [`client`]: the native protocol over simulated sockets.
//! - [`resp`]: the Redis protocol over simulated sockets, for the set and list workloads.
//! - [`sets`]: the set workload's oracle for observed-remove sets.
//! - [`lists`]: the list workload's oracle for lists of position identifiers.
//! - [`layouts`]: the layout workload: applies under faults, one layout everywhere afterwards.

mod check;
mod client;
mod history;
mod holders;
mod hosts;
mod layouts;
mod lists;
mod ran_on;
mod resp;
mod run;
mod sets;

use clap::Parser;
use run::{run, RunOptions};
use std::process::ExitCode;
use std::time::Instant;

/// `kvs-sim --seeds N [--seed S] [--nodes K] [--plant-bug]`
#[derive(Parser)]
#[command(name = "kvs-sim", about = "kvs under simulated network and time, seeded, with faults")]
struct Args {
    /// How many seeds to run, from `--seed` up.
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// The first seed (alone, it reproduces one run).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Nodes per run (3 to 7); by default each seed picks.
    #[arg(long)]
    nodes: Option<usize>,
    /// Plant a real bug (a pushed write moves its origin's cursor over a gap): succeeds only if
    /// some seed's checks catch it.
    #[arg(long)]
    plant_bug: bool,
    /// Print every run's history, not only a failing one's (to compare two runs of one seed).
    #[arg(long)]
    history: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // The nodes' logs, when asked for (`RUST_LOG=warn cargo xtask sim ...`); silent by default.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    }
    let started = Instant::now();
    for seed in args.seed..args.seed + args.seeds {
        let nodes = args.nodes.unwrap_or(3 + (seed % 5) as usize).clamp(3, 7);
        let outcome = run(RunOptions { seed, nodes, plant_bug: args.plant_bug });
        if let (true, Ok(history)) = (args.history, &outcome) {
            println!("history of seed {seed}:");
            history.iter().for_each(|line| println!("  {line}"));
        }
        let Err((failure, history)) = outcome else { continue };
        println!("seed {seed} FAILED ({nodes} nodes): {failure}");
        println!("history of seed {seed}:");
        history.iter().for_each(|line| println!("  {line}"));
        let plant = if args.plant_bug { " --plant-bug" } else { "" };
        println!("reproduce: cargo xtask sim --seed {seed} --nodes {nodes}{plant}");
        if args.plant_bug {
            println!("the planted bug was caught by seed {seed}, {} seeds in", seed - args.seed + 1);
            return ExitCode::SUCCESS;
        }
        return ExitCode::FAILURE;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("{} seeds passed in {secs:.1} s ({:.2} s per seed)", args.seeds, secs / args.seeds as f64);
    if args.plant_bug {
        println!("the planted bug went unnoticed in {} seeds", args.seeds);
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
