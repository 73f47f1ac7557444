//! `kvs-client <host> <port> <command>` (or `<host:port>`): talk to any kvs node from the shell.
//!
//! Exit codes: 0 success; 1 `get` found no value, or an export or import failed; 2 usage error;
//! 3 connection or protocol error; 4 the node refused the request (e.g. key too large); 5 `set
//! --wait N` wrote the key but fewer than N other nodes applied it in time.

mod backup;
mod cluster_layout;
mod watch;

use clap::{Parser, Subcommand};
use kvs_client::{Client, ClientError, StatusReport};
use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "kvs-client", version, about = "Talk to a kvs node.")]
struct Cli {
    /// Node host name or address (`host:port` also works, the port then left out).
    host: String,
    /// Node port.
    port: u16,
    /// More nodes to try, in order, when the first does not answer: `host:port,host:port`
    /// (with `--nodes`, `<host> <port>` may be left out).
    #[arg(long, global = true, value_delimiter = ',')]
    nodes: Vec<String>,
    /// Seconds to wait for the node before giving up.
    #[arg(long, default_value_t = 5.0, global = true)]
    timeout: f64,
    /// Log in as this user (a node with a users file); the password comes from `KVS_PASSWORD` or
    /// `--password-file`, never from the command line, where `ps` would show it.
    #[arg(long, global = true)]
    user: Option<String>,
    /// A file holding the password for `--user` (its first line).
    #[arg(long, global = true)]
    password_file: Option<std::path::PathBuf>,
    /// Talk TLS to the node, trusting the CA in `--cacert`.
    #[arg(long, global = true, requires = "cacert")]
    tls: bool,
    /// The CA certificate (PEM) that signed the node's certificate.
    #[arg(long, global = true)]
    cacert: Option<std::path::PathBuf>,
    /// This client's certificate (PEM), for a node that demands mutual TLS.
    #[arg(long = "cert", id = "tls_cert", global = true, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of `--cert`.
    #[arg(long = "key", id = "tls_key", global = true, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the node, its members and (some of) its keys.
    Status {
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// List at most this many keys.
        #[arg(long, default_value_t = 20)]
        keys: u32,
    },
    /// Ask the node to leave the cluster and exit.
    Shutdown,
    /// Print a key's value.
    Get {
        /// The key.
        key: String,
    },
    /// Write a key.
    Set {
        /// The key.
        key: String,
        /// The value; `-` reads it from stdin (for values beyond what a command line holds).
        value: String,
        /// Then wait until this many other nodes have applied it (or `--wait-timeout-ms`
        /// passes), print how many did, and exit 5 if fewer: so the write is known to survive
        /// the loss of the node that took it.
        #[arg(long, value_name = "N")]
        wait: Option<u32>,
        /// How long `--wait` waits at most.
        #[arg(long, default_value_t = 1000, requires = "wait")]
        wait_timeout_ms: u64,
    },
    /// Delete a key.
    Delete {
        /// The key.
        key: String,
    },
    /// Ask every member for its digest, key count and view of the members; print one line per
    /// member and a verdict (in sync, diverged, members disagree); exit 0 only when in sync.
    Check {
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print a key's entry on this node: value or tombstone, version and sequence number.
    Inspect {
        /// The key.
        key: String,
    },
    /// Save every live key (value and expiry) to FILE, in key order; an unfinished FILE from an
    /// interrupted export is resumed after its last complete key.
    Export {
        /// The backup file (format in docs/operations.md).
        file: std::path::PathBuf,
    },
    /// Load a backup into the cluster in batches, each key written like a `set` with its expiry;
    /// an interrupted import resumes where it stopped (FILE.import-progress says where).
    Import {
        /// The backup file.
        file: std::path::PathBuf,
    },
    /// Print every change to keys beginning with PREFIX (all keys without one) that the node
    /// applies, wherever it was written, one line each (or one JSON object with `--json`), until
    /// interrupted.
    Watch {
        /// The keys' prefix.
        prefix: Option<String>,
        /// Print one JSON object per change instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The layout of hash-slot owners: `plan` shows what a change would move, `apply` makes it
    /// the cluster's (see docs/partitioning.md).
    #[command(subcommand)]
    Cluster(cluster_layout::ClusterCommand),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(split_host_port(std::env::args().collect())) {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::ErrorKind;
            let unknown = matches!(error.kind(), ErrorKind::InvalidSubcommand | ErrorKind::UnknownArgument);
            let _ = error.print();
            if unknown {
                use clap::CommandFactory;
                let commands: Vec<String> = Cli::command()
                    .get_subcommands()
                    .filter(|c| c.get_name() != "help")
                    .map(|c| c.get_name().to_string())
                    .collect();
                eprintln!("kvs-client commands: {}", commands.join(", "));
            }
            return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("kvs-client: {error}");
            match error {
                ClientError::Server(_) | ClientError::Rejected(_) => ExitCode::from(4),
                _ => ExitCode::from(3),
            }
        }
    }
}

/// `check`: one line per member, then the verdict; exit 0 only when the cluster is in sync, 1
/// when it is not.
async fn check(seed: &str, options: &kvs_client::ClientOptions, json: bool) -> Result<ExitCode, ClientError> {
    let found = kvs_client::check::check_cluster(seed, options).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&found).expect("the check serializes"));
    } else {
        for node in &found.nodes {
            match (&node.status, &node.error) {
                (Some(status), _) => println!(
                    "{:<22} {}  keys {:>9}  tombstones {:>7}  digest {}  alive {}",
                    node.addr,
                    status.node_id,
                    status.key_count,
                    status.tombstone_count,
                    status.digest,
                    node.alive_view().map_or(0, |view| view.len())
                ),
                (None, error) => println!("{:<22} unreachable: {}", node.addr, error.as_deref().unwrap_or("no answer")),
            }
        }
        println!("{}", found.verdict.as_str());
    }
    Ok(if found.verdict == kvs_client::check::Verdict::InSync { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The value of `--nodes`, however it was written.
fn nodes_flag(args: &[String]) -> Option<&str> {
    let at = args.iter().position(|arg| arg == "--nodes" || arg.starts_with("--nodes="))?;
    match args[at].strip_prefix("--nodes=") {
        Some(value) => Some(value),
        None => args.get(at + 1).map(String::as_str),
    }
}

/// `kvs-client host:port …` read as `kvs-client host port …`: the first argument that is not a
/// flag is the host, and written `host:port` (`[v6]:port` for IPv6) without a port after it, it is
/// split in two.
fn split_host_port(mut args: Vec<String>) -> Vec<String> {
    const TAKES_VALUE: [&str; 7] = ["--timeout", "--user", "--password-file", "--cacert", "--cert", "--key", "--nodes"];
    let mut at = 1;
    while let Some(arg) = args.get(at) {
        match arg {
            _ if TAKES_VALUE.contains(&arg.as_str()) => at += 2,
            _ if arg.starts_with('-') => at += 1,
            _ => break,
        }
    }
    let subcommand = ["status", "check", "shutdown", "get", "set", "delete", "inspect", "help"];
    if args.get(at).is_some_and(|first| subcommand.contains(&first.as_str())) {
        // `--nodes a:1,b:2 get k`: the first of the nodes stands in for `<host> <port>`.
        if let Some(first) = nodes_flag(&args).and_then(|nodes| nodes.split(',').next().map(str::to_string)) {
            args.insert(at, first);
        }
    }
    let port_follows = args.get(at + 1).is_some_and(|next| next.parse::<u16>().is_ok());
    let split = args.get(at).filter(|_| !port_follows).and_then(|first| kvs_client::address::split_host_port(first));
    let Some((host, port)) = split.map(|(host, port)| (host.to_string(), port.to_string())) else {
        return args;
    };
    args.splice(at..=at, [host, port]);
    args
}

async fn run(cli: Cli) -> Result<ExitCode, ClientError> {
    let credentials = match credentials(&cli) {
        Ok(credentials) => credentials,
        Err(message) => {
            eprintln!("kvs-client: {message}");
            return Ok(ExitCode::from(2));
        }
    };
    let tls = match (&cli.tls, &cli.cacert) {
        (true, Some(ca)) => Some(kvs_client::ClientTls::load(ca, cli.tls_cert.as_deref().zip(cli.tls_key.as_deref()))?),
        _ => None,
    };
    let options = kvs_client::ClientOptions {
        timeout: std::time::Duration::from_secs_f64(cli.timeout.max(0.001)),
        credentials,
        tls,
        ..Default::default()
    };
    // A bare IPv6 address needs brackets before its port; a host name resolves when dialed.
    let addr = match cli.host.parse::<IpAddr>() {
        Ok(ip) => std::net::SocketAddr::new(ip, cli.port).to_string(),
        Err(_) => format!("{}:{}", cli.host, cli.port),
    };
    // The first node that answers serves the command.
    let mut seeds: Vec<String> = std::iter::once(addr).chain(cli.nodes.iter().cloned()).collect();
    seeds.dedup();
    let mut connected = None;
    for (i, seed) in seeds.iter().enumerate() {
        match Client::connect_with(seed, options.clone()).await {
            Ok(client) => {
                connected = Some((seed.clone(), client));
                break;
            }
            Err(error) if i + 1 == seeds.len() => return Err(error),
            Err(error) => eprintln!("kvs-client: {error}; trying the next node"),
        }
    }
    let Some((addr, mut client)) = connected else { return Err(ClientError::Closed) };
    if let Command::Check { json } = cli.command {
        drop(client);
        return check(&addr, &options, json).await;
    }
    match cli.command {
        Command::Check { .. } => unreachable!("answered above"),
        Command::Get { key } => match client.get(key).await? {
            Some(value) => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&value).and_then(|()| out.write_all(b"\n"));
            }
            None => {
                eprintln!("not found");
                return Ok(ExitCode::from(1));
            }
        },
        Command::Watch { prefix, json } => return watch::watch(client, prefix.unwrap_or_default(), json).await,
        Command::Cluster(command) => return cluster_layout::run(client, command).await,
        Command::Set { key, value, wait, wait_timeout_ms } => {
            let value = if value == "-" {
                let mut value = Vec::new();
                if let Err(error) = std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut value) {
                    eprintln!("kvs-client: cannot read the value from stdin: {error}");
                    return Ok(ExitCode::from(2));
                }
                value
            } else {
                value.into_bytes()
            };
            client.set(key, value).await?;
            match wait {
                None => println!("OK"),
                Some(wanted) => {
                    let copies = client.wait(wanted, std::time::Duration::from_millis(wait_timeout_ms)).await?;
                    println!("OK, applied by {copies} other node{}", if copies == 1 { "" } else { "s" });
                    if copies < wanted {
                        eprintln!("kvs-client: only {copies} of the {wanted} other nodes asked for applied it in time");
                        return Ok(ExitCode::from(5));
                    }
                }
            }
        }
        Command::Delete { key } => {
            client.delete(key).await?;
            println!("OK");
        }
        Command::Inspect { key } => match client.inspect(key).await? {
            Some(entry) => {
                let value = entry.value.as_deref().map_or("(deleted)".into(), String::from_utf8_lossy);
                let version = entry.version;
                println!("value    {value}");
                println!("version  wall_ms {} logical {} origin {}", version.wall_ms, version.logical, version.node);
                println!("seq      {}", entry.seq);
            }
            None => {
                eprintln!("not found");
                return Ok(ExitCode::from(1));
            }
        },
        Command::Export { file } => return Ok(backup::export(&mut client, &file).await),
        Command::Import { file } => return Ok(backup::import(&mut client, &file).await),
        Command::Shutdown => {
            client.shutdown().await?;
            println!("OK");
        }
        Command::Status { json, keys } => {
            let report = client.status(keys).await?;
            // A node of release 0.1.0 (protocol 7) has no versions to report.
            let versions = match client.versions().await {
                Ok(versions) => Some(versions),
                Err(kvs_client::ClientError::Unsupported { .. }) => None,
                Err(error) => return Err(error),
            };
            if json {
                let mut value = serde_json::to_value(&report).expect("status serializes");
                value["versions"] = serde_json::to_value(&versions).expect("versions serialize");
                println!("{}", serde_json::to_string_pretty(&value).expect("status serializes"));
            } else {
                print_status(&report, versions.as_ref());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The user and password to log in with: `--user`, and the password from `--password-file` or
/// `KVS_PASSWORD`.
fn credentials(cli: &Cli) -> Result<Option<kvs_client::Credentials>, String> {
    let Some(user) = &cli.user else { return Ok(None) };
    let password = match &cli.password_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("--password-file {}: {e}", path.display()))?
            .lines()
            .next()
            .unwrap_or("")
            .to_string(),
        None => {
            std::env::var("KVS_PASSWORD").map_err(|_| "--user needs KVS_PASSWORD or --password-file".to_string())?
        }
    };
    Ok(Some(kvs_client::Credentials { user: user.clone(), password }))
}

fn print_status(report: &StatusReport, versions: Option<&kvs_proto::VersionsReport>) {
    println!("node     {} at {}", report.node_id, report.addr);
    match versions {
        Some(v) => {
            let log = v.log_format_in_use.map_or_else(|| "no log".into(), |format| format!("log format {format}"));
            println!("release  {} (protocols {} to {}, {log})", v.release, v.protocols.0, v.protocols.1);
            let gates: Vec<String> =
                v.gates.iter().map(|g| format!("{} {}", g.name, if g.open { "open" } else { "closed" })).collect();
            println!("cluster  version {}; gates: {}", v.cluster_version, gates.join(", "));
        }
        None => println!("release  0.1.0 or older (protocol 7: no versions to report)"),
    }
    let speaks = |id: &str| {
        let known = versions.and_then(|v| v.members.iter().find(|(member, _)| member == id));
        known.and_then(|(_, speaks)| *speaks).map_or_else(String::new, |p| format!(", protocol {p}"))
    };
    println!("keys     {} live, {} tombstones", report.key_count, report.tombstone_count);
    println!("digest   {}", report.digest);
    println!("members  {}", report.members.len());
    for m in &report.members {
        let clock = m.clock_offset_ms.map_or_else(|| "clock not measured".into(), |ms| format!("clock {ms:+} ms"));
        let (addr, id, state, heard) = (&m.addr, &m.node_id, m.state.to_string(), m.last_heard_ms);
        let protocol = speaks(id);
        println!("  {addr:<22} {id}  {state:<8} last heard {heard} ms ago, {clock}{protocol}");
    }
    for problem in &report.problems {
        println!("PROBLEM  {problem}");
    }
    let more = if report.keys_truncated { " (more not shown)" } else { "" };
    println!("listed   {} keys{more}", report.keys.len());
    for key in &report.keys {
        println!("  {key}");
    }
}

#[cfg(test)]
mod tests {
    use super::split_host_port;

    fn split(line: &str) -> String {
        let args = std::iter::once("kvs-client").chain(line.split(' ')).map(String::from).collect();
        split_host_port(args)[1..].join(" ")
    }

    #[test]
    fn host_and_port_in_one_argument_are_split_and_everything_else_is_left_alone() {
        assert_eq!(split("127.0.0.1:1235 get k"), "127.0.0.1 1235 get k");
        assert_eq!(split("localhost:1235 status"), "localhost 1235 status");
        assert_eq!(split("[::1]:1235 status"), "::1 1235 status");
        assert_eq!(split("--timeout 2 db.example:7 get k"), "--timeout 2 db.example 7 get k");
        assert_eq!(split("--tls --cacert ca.pem 10.0.0.1:9 status"), "--tls --cacert ca.pem 10.0.0.1 9 status");
        assert_eq!(split("127.0.0.1 1235 get k"), "127.0.0.1 1235 get k");
        assert_eq!(split("::1 1235 get a:1"), "::1 1235 get a:1");
        assert_eq!(split("localhost 1235 set k:1 v"), "localhost 1235 set k:1 v");
        assert_eq!(split("--nodes a:1,b:2 get k"), "--nodes a:1,b:2 a 1 get k");
        assert_eq!(split("--nodes=a:1 status"), "--nodes=a:1 a 1 status");
        assert_eq!(split("c 3 --nodes a:1 get k"), "c 3 --nodes a:1 get k");
    }
}
