//! `cargo xtask sim [--seeds N] [--seed S] [--nodes K] [--plant-bug] [--history]`: the simulator.
//!
//! The simulator (`sim/`) builds kvs-node with simulated sockets, which must never reach the
//! real binaries, so it lives outside the workspace with a target directory of its own. It is
//! built with `--cfg tokio_unstable`, which lets turmoil seed tokio's scheduler: with the seed
//! fixing the network, the faults, the workload, every hash map's order and the wall clock, a
//! seed replays the same run.

use std::path::Path;
use std::process::Command;

/// Builds the simulator and runs it with `args`.
pub fn run(workspace: &Path, args: &[String]) -> Result<(), String> {
    let target = workspace.join("target").join("sim");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .current_dir(workspace.join("sim"))
        .env("RUSTFLAGS", "--cfg tokio_unstable")
        .env("CARGO_TARGET_DIR", &target)
        .args(["build", "--release", "--quiet"])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !built.success() {
        return Err("building the simulator failed".into());
    }
    let status = Command::new(target.join("release").join("kvs-sim"))
        .args(args)
        .status()
        .map_err(|e| format!("cannot run the simulator: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("the simulation failed (see above)".into())
    }
}
