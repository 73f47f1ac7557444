//! `kvs-client export FILE` and `kvs-client import FILE`: the library's backup, with a progress
//! bar (rate and ETA) when stdout is a terminal and a summary line at the end.

use indicatif::{ProgressBar, ProgressStyle};
use kvs_client::backup::{self, BackupError, Progress, Summary};
use kvs_client::Client;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// A progress bar counting in `unit`, or a hidden one when stdout is not a terminal.
fn bar(total: u64, unit: &str) -> ProgressBar {
    if !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} · {{per_sec}} · ETA {{eta}}");
    let style = ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(total).with_style(style)
}

fn report(verb: &str, path: &Path, outcome: Result<Summary, BackupError>, started: Instant) -> ExitCode {
    match outcome {
        Ok(summary) => {
            let seconds = started.elapsed().as_secs_f64();
            let fresh = summary.entries - summary.resumed;
            let resumed = match summary.resumed {
                0 => String::new(),
                n => format!(" ({n} of them by an earlier run)"),
            };
            println!(
                "{verb} {} keys{resumed}, {} bytes, {}: {:.1} s, {:.0} keys/s",
                summary.entries,
                summary.bytes,
                path.display(),
                seconds,
                fresh as f64 / seconds.max(1e-9)
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("kvs-client: {error}");
            ExitCode::from(1)
        }
    }
}

/// Saves every live key of the node to `path` (resuming an unfinished file there).
pub async fn export(client: &mut Client, path: &Path) -> ExitCode {
    let started = Instant::now();
    let total = client.status(0).await.map_or(0, |status| status.key_count);
    let bar = bar(total, "keys");
    let outcome = backup::export(client, path, |done: Progress| bar.set_position(done.entries)).await;
    bar.finish_and_clear();
    report("exported", path, outcome, started)
}

/// Loads the backup at `path` (resuming where an interrupted import stopped).
pub async fn import(client: &mut Client, path: &Path) -> ExitCode {
    let started = Instant::now();
    let total = std::fs::metadata(path).map_or(0, |m| m.len());
    let bar = bar(total, "bytes");
    let outcome = backup::import(client, path, |done: Progress| bar.set_position(done.bytes)).await;
    bar.finish_and_clear();
    report("imported", path, outcome, started)
}
