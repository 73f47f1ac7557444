//! `cargo xtask <task>`: developer tasks that drive real node processes.
//!
//! # Layout
//! - [`cluster_test`]: the reference three-node scenario on ports 1234-1236, pass or fail.
//! - [`bench`]: throughput and replication-lag figures on a loopback cluster.
//! - [`flake_check`]: the whole test suite many times in a row, to catch tests that fail sometimes.
//! - [`fuzz`]: every cargo-fuzz target in `fuzz/`, with seeds, reporting executions and crashes.
//! - [`sim`]: the deterministic simulator in `sim/` (built outside the workspace).
//! - [`upgrade_test`]: a rolling upgrade from the previous release to this build, under load.
//! - [`redis_py`]: redis-py's own test suite against a node.

mod bench;
mod cluster_test;
mod flake_check;
mod fuzz;
mod redis_py;
mod sim;
mod upgrade_test;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "xtask", about = "kvs developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// The reference scenario: 3 nodes on 127.0.0.1:1234/1235/1236, set, get, status, shutdown.
    ClusterTest,
    /// A rolling upgrade, under load, from CHANGELOG.md's newest release (built from its commit)
    /// to this build.
    UpgradeTest,
    /// redis-py's own tests against a node: those listed in xtask/redis-py-passing.txt must pass.
    RedisPy {
        /// Run every test of the files instead, and report how many pass.
        #[arg(long)]
        all: bool,
        /// Like --all, and write the passing ones into the list.
        #[arg(long)]
        update: bool,
    },
    /// Benchmarks; prints figures for docs/performance.md.
    Bench(Box<bench::BenchArgs>),
    /// A server speaking both client protocols with no store behind it (`bench native` starts it).
    #[command(hide = true)]
    NullServer {
        /// Bytes in the value every GET returns.
        #[arg(long, default_value_t = 3)]
        value_bytes: usize,
    },
    /// Runs `cargo test --workspace` N times in a row and reports every failure.
    FlakeCheck {
        /// How many runs.
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
    /// The deterministic simulation: `--seeds N [--seed S] [--nodes K] [--plant-bug] [--history]`.
    #[command(disable_help_flag = true)]
    Sim {
        /// Passed to the simulator (`cargo xtask sim --help` lists them).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Runs the fuzz targets (cargo-fuzz on nightly) for M minutes in all, and reports.
    Fuzz {
        /// Minutes in all, shared equally among the targets.
        #[arg(long, default_value_t = 3.0)]
        minutes: f64,
        /// Only this target.
        #[arg(long)]
        target: Option<String>,
    },
}

/// The workspace root (xtask lives one level below it).
fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is inside the workspace").to_path_buf()
}

fn main() -> ExitCode {
    report(match Cli::parse().task {
        Task::ClusterTest => on_release_build(cluster_test::run()),
        Task::UpgradeTest => on_release_build(upgrade_test::run(workspace_root())),
        Task::RedisPy { all, update } => on_release_build(redis_py::run(workspace_root(), all, update)),
        Task::Bench(args) => on_release_build(bench::run(*args)),
        Task::NullServer { value_bytes } => bench::null_server::run(value_bytes),
        Task::FlakeCheck { runs } => flake_check::run(&workspace_root(), runs),
        Task::Fuzz { minutes, target } => fuzz::run(&workspace_root(), minutes, target),
        Task::Sim { args } => sim::run(&workspace_root(), &args),
    })
}

/// Builds the release binaries, then runs `task` against them.
fn on_release_build(task: impl std::future::Future<Output = Result<(), String>>) -> Result<(), String> {
    kvs_tests::binaries::use_release_build(&workspace_root())?;
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime").block_on(task)
}

fn report(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}
