//! The rig a bench runs on: on a machine with at least two cores, every server process on core 0
//! and every load generator (this process, redis-benchmark, redis-cli) on core 1, so a ratio
//! compares servers and not where the scheduler put four processes on two shared cores.
//!
//! This process pins itself to the load core first, so everything it spawns starts there; each
//! server is moved to the server core once it is up ([`serve`]), with all its threads (threads
//! it makes later inherit the mask of the thread that makes them).

use std::process::Command;
use std::sync::OnceLock;

/// Where servers and load run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rig {
    /// Servers on `server`, load on `load`.
    Pinned { server: usize, load: usize },
    /// Wherever the scheduler puts them: one core, no `taskset`, or `--unpinned`.
    Unpinned,
}

static RIG: OnceLock<Rig> = OnceLock::new();

/// Chooses the rig once for this run and pins this process to the load core; says which.
pub(super) fn choose(unpinned: bool) -> Rig {
    *RIG.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let rig = if unpinned || cores < 2 || !taskset(&["-a", "-p", "-c", "1", &std::process::id().to_string()]) {
            Rig::Unpinned
        } else {
            Rig::Pinned { server: 0, load: 1 }
        };
        println!("{}", describe(rig));
        rig
    })
}

/// The rig as the figures' header states it.
pub(super) fn describe(rig: Rig) -> String {
    match rig {
        Rig::Pinned { server, load } => {
            format!("rig: every server process pinned to core {server}, the load generator to core {load} (taskset)")
        }
        Rig::Unpinned => "rig: unpinned (servers and load generator share every core)".into(),
    }
}

/// The rig chosen for this run (unpinned if none was).
pub(super) fn current() -> Rig {
    RIG.get().copied().unwrap_or(Rig::Unpinned)
}

/// Moves a server process, every thread of it, to the server core.
pub(super) fn serve(pid: u32) {
    if let Rig::Pinned { server, .. } = current() {
        if !taskset(&["-a", "-p", "-c", &server.to_string(), &pid.to_string()]) {
            eprintln!("warning: could not pin process {pid} to core {server}");
        }
    }
}

/// Runs `taskset` quietly; whether it succeeded.
fn taskset(args: &[&str]) -> bool {
    Command::new("taskset").args(args).output().is_ok_and(|out| out.status.success())
}
