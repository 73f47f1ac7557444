//! `cargo xtask flake-check [--runs N]`: the whole test suite, N times in a row, counting failures.
//!
//! A test that fails one run in twenty fails CI on some machine; this is how to find it before CI
//! does. Each run's failing tests are printed as they happen and tallied at the end.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Runs `cargo test --workspace` `runs` times; an error names every test that failed and how often.
pub fn run(workspace: &Path, runs: usize) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed_runs = 0;
    for round in 1..=runs {
        let started = Instant::now();
        let output = Command::new(&cargo)
            .current_dir(workspace)
            .args(["test", "--workspace", "--quiet"])
            .output()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let failed: Vec<&str> =
            stdout.lines().filter_map(|line| line.strip_prefix("test ")?.strip_suffix(" ... FAILED")).collect();
        let secs = started.elapsed().as_secs_f64();
        if output.status.success() {
            println!("run {round}/{runs}: ok ({secs:.0} s)");
            continue;
        }
        failed_runs += 1;
        if failed.is_empty() {
            // Not a test failure (a build error, a crashed harness): show what cargo said.
            eprintln!("{}", String::from_utf8_lossy(&output.stderr));
            *failures.entry("(cargo test itself failed)".into()).or_default() += 1;
        }
        for name in &failed {
            *failures.entry(name.to_string()).or_default() += 1;
        }
        println!("run {round}/{runs}: FAILED ({secs:.0} s): {}", failed.join(", "));
    }
    println!("{} of {runs} runs passed", runs - failed_runs);
    if failed_runs == 0 {
        return Ok(());
    }
    let tally: Vec<String> = failures.iter().map(|(name, n)| format!("{name} ({n}x)")).collect();
    Err(format!("{failed_runs} of {runs} runs failed: {}", tally.join(", ")))
}
