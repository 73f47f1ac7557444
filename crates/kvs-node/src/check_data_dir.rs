//! `kvs-node check-data-dir DIR [--repair]`: the offline data dir check, for operators.

// `kvs-node check-data-dir` is a command line: printing its report is what it is for.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use kvs_proto::Limits;
use kvs_store::log::check::{check, repair};
use std::path::PathBuf;
use std::process::ExitCode;

/// `kvs-node check-data-dir DIR [--repair]`
#[derive(Debug, Parser)]
#[command(
    name = "kvs-node check-data-dir",
    about = "Reads a data dir offline and reports records, keys, the last good offset and any damage. \
             Exits 0 only when the data dir is sound."
)]
pub struct CheckArgs {
    /// The data dir (as given to `--data-dir`).
    pub dir: PathBuf,
    /// Cut the log at its first damage (the bytes after it are saved to `log.cut-at-<offset>`);
    /// the records after the damage are lost to the node. Never done without this flag.
    #[arg(long)]
    pub repair: bool,
    /// The `--max-frame-bytes` the node runs with.
    #[arg(long, default_value_t = Limits::DEFAULT_MAX_FRAME_BYTES)]
    pub max_frame_bytes: usize,
}

/// Runs the check (and the repair, if asked) and prints the report.
pub fn run(args: CheckArgs) -> ExitCode {
    if args.repair {
        match repair(&args.dir, args.max_frame_bytes) {
            Ok(Some(saved)) => println!("repaired: log cut at its first damage; the rest saved to {}", saved.display()),
            Ok(None) => println!("nothing to repair"),
            Err(error) => {
                eprintln!("kvs-node check-data-dir: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    match check(&args.dir, args.max_frame_bytes) {
        Ok(report) => {
            print!("{report}");
            if report.is_sound() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("kvs-node check-data-dir: {error}");
            ExitCode::FAILURE
        }
    }
}
