//! `kvs-node`: parse flags, start the node, print where it listens, serve until shut down; or,
//! as `kvs-node check-data-dir DIR`, check a data dir offline; or, as `kvs-node hash-password`,
//! make a users file's argon2id line.

#![deny(unsafe_code)]

use clap::Parser;
use kvs_node::{check_data_dir, server};
use kvs_node::{NodeArgs, NodeConfig};
use std::io::Write;
use std::process::ExitCode;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

/// `kvs-node hash-password`: reads a password from the first line of stdin (never from the
/// command line, where `ps` would show it) and prints its argon2id string for a users file.
/// `kvs-node hash-password`: takes no arguments, so `--help` and strays are clap's to answer.
#[derive(clap::Parser)]
#[command(
    name = "kvs-node hash-password",
    about = "Reads a password (one line, no spaces) on stdin and prints its argon2id hash for a users file."
)]
struct HashPasswordArgs {}

fn hash_password() -> ExitCode {
    let HashPasswordArgs {} = HashPasswordArgs::parse_from(std::env::args().skip(1));
    let mut line = String::new();
    if let Err(error) = std::io::stdin().read_line(&mut line) {
        eprintln!("kvs-node hash-password: cannot read stdin: {error}");
        return ExitCode::FAILURE;
    }
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() || password.contains(char::is_whitespace) {
        eprintln!("kvs-node hash-password: give a password without spaces on stdin (a users file splits on spaces)");
        return ExitCode::FAILURE;
    }
    match kvs_node::users::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("kvs-node hash-password: {error}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        // A log line that cannot be written (stderr on a full disk) is lost; the default would
        // report that with eprintln!, which panics when stderr fails, and take the node down.
        .log_internal_errors(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match std::env::args().nth(1).as_deref() {
        Some("check-data-dir") => {
            return check_data_dir::run(check_data_dir::CheckArgs::parse_from(std::env::args().skip(1)))
        }
        Some("hash-password") => return hash_password(),
        _ => {}
    }
    let argv = kvs_node::config::split_addresses(std::env::args_os().collect());
    let argv = match kvs_node::config_file::merge(argv) {
        Ok(argv) => argv,
        Err(error) => {
            eprintln!("kvs-node: {error}");
            return ExitCode::from(2);
        }
    };
    let args = NodeArgs::parse_from(argv);
    #[cfg(feature = "fault")]
    if args.faults.fault_cursor_skips_gaps {
        kvs_store::plant_cursor_gap_bug();
    }
    // Each unpark starts a runtime pass: the first local write of a pass goes to idle peers
    // from the writing session itself (see `outbox`).
    let runtime = match args.worker_threads() {
        // One worker: the current-thread scheduler runs woken tasks in the order their events
        // arrived. The multi-thread one runs the last task woken first (its LIFO slot), so a
        // replica could answer a GET that arrived after a push before applying the push.
        1 => tokio::runtime::Builder::new_current_thread(),
        threads => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads);
            builder
        }
    }
    .on_thread_unpark(kvs_node::outbox::new_pass)
    .enable_all()
    .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(run(args)),
        Err(error) => Err(kvs_node::NodeError::Io(error)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Not eprintln!: a failing stderr must not turn a clean exit code into a panic.
            let _ = writeln!(std::io::stderr(), "kvs-node: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: NodeArgs) -> Result<(), kvs_node::NodeError> {
    // A file-size limit must surface as a write error (and refused writes), not kill the process:
    // a handler of our own replaces the default action (terminate), and stays installed for the
    // process's life, before the log is opened.
    let _file_too_large = signal(SignalKind::from_raw(libc::SIGXFSZ))?;
    let config = NodeConfig::try_from(args)?;
    let bound = server::bind(config).await?;
    let shutdown = bound.shutdown_handle();
    // Handlers go in before the address is printed: whoever reads it may signal us at once.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    // The first line on stdout: tests and scripts read the real address from it (port 0
    // included). A second says when the node has joined through its bootstrap node.
    println!("{}", bound.banner());
    let mut joining = bound.join_state();
    tokio::spawn(async move {
        if let Ok(state) = joining.wait_for(|state| matches!(state, kvs_node::JoinState::Joined { .. })).await {
            if let kvs_node::JoinState::Joined { through, members } = &*state {
                // Whoever read the first line may have closed the pipe since: not an error.
                let _ = writeln!(std::io::stdout(), "joined the cluster through {through}: {members} members");
            }
        }
    });
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("signal received");
        shutdown.begin();
    });
    bound.serve().await
}
