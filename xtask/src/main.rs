//! `cargo xtask <task>`: developer tasks that drive real node processes.
//!
//! # Layout
//! - [`cluster_test`]: the reference three-node scenario on ports 1234-1236, pass or fail.
//! - [`bench`]: throughput and replication-lag figures on a loopback cluster.

mod bench;
mod cluster_test;

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
    /// Benchmarks; prints figures for the README's Performance section.
    Bench(bench::BenchArgs),
}

/// The workspace root (xtask lives one level below it).
fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is inside the workspace").to_path_buf()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = kvs_tests::binaries::use_release_build(&workspace_root()) {
        eprintln!("xtask: {error}");
        return ExitCode::FAILURE;
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let result = match cli.task {
        Task::ClusterTest => runtime.block_on(cluster_test::run()),
        Task::Bench(args) => runtime.block_on(bench::run(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}
