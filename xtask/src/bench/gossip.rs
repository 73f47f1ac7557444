//! `cargo xtask bench gossip`: what an idle cluster sends to stay one, as it grows, and how soon
//! every node notices a member killed.
//!
//! Both figures are taken from outside the node, so a build from an earlier commit can be measured
//! by the same tool in the same run (`--baseline DIR`): bytes sent per node are the kernel's own
//! count (`ss`'s `bytes_sent` of every TCP socket of the process), and member states are read with
//! that build's own `kvs-client status --json`.

use clap::Args;
use kvs_tests::NodeProcess;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Gossip bench flags.
#[derive(Args, Debug)]
pub struct GossipArgs {
    /// Cluster sizes, in turn.
    #[arg(long, value_delimiter = ',', default_value = "3,6,12,24")]
    sizes: Vec<usize>,
    /// Seconds of idle traffic counted per size.
    #[arg(long, default_value_t = 10)]
    idle_secs: u64,
    /// Members killed one after another per size, each timed until every other node holds it dead.
    #[arg(long, default_value_t = 2)]
    kills: usize,
    /// Also measure another build: a directory holding its `kvs-node` and `kvs-client` (for
    /// example an earlier commit's `target/release`).
    #[arg(long)]
    baseline: Option<PathBuf>,
}

/// One build at one size.
struct Row {
    build: &'static str,
    size: usize,
    /// Bytes per second sent by each node while idle.
    per_node: Vec<f64>,
    /// Per kill: seconds until the first and the last other node held the victim suspect, then dead.
    kills: Vec<Detection>,
}

struct Detection {
    suspect: (f64, f64),
    dead: (f64, f64),
}

/// Runs every size on this build (and the baseline, if given) and prints a table.
pub async fn run(args: GossipArgs) -> Result<(), String> {
    kvs_tests::binaries::binary("kvs-node");
    let ours = kvs_tests::binaries::binary("kvs-client").parent().map(Path::to_path_buf).ok_or("no build dir")?;
    let mut builds = vec![("this", ours)];
    if let Some(dir) = &args.baseline {
        builds.push(("baseline", dir.clone()));
    }
    let mut rows = Vec::new();
    for &size in &args.sizes {
        for (name, dir) in &builds {
            rows.push(measure(name, dir, size, &args)?);
        }
    }
    println!(
        "idle: bytes sent per node per second over {} s (kernel count, ss); kill -9 of a member: seconds until the first / last other node held it suspect, then dead (status polled every ~100 ms)",
        args.idle_secs
    );
    println!(
        "{:<9} {:>5} {:>12} {:>14} {:>13} {:>24} {:>24}",
        "build", "nodes", "all B/s", "per node B/s", "max node B/s", "suspect s (first/last)", "dead s (first/last)"
    );
    for row in rows {
        let all: f64 = row.per_node.iter().sum();
        let max = row.per_node.iter().copied().fold(0.0, f64::max);
        let kill = |pick: fn(&Detection) -> (f64, f64)| {
            row.kills.iter().map(pick).map(|(a, b)| format!("{a:.1}/{b:.1}")).collect::<Vec<_>>().join(" ")
        };
        println!(
            "{:<9} {:>5} {:>12.0} {:>14.0} {:>13.0} {:>24} {:>24}",
            row.build,
            row.size,
            all,
            all / row.size as f64,
            max,
            kill(|d| d.suspect),
            kill(|d| d.dead)
        );
    }
    Ok(())
}

fn measure(build: &'static str, dir: &Path, size: usize, args: &GossipArgs) -> Result<Row, String> {
    let program = dir.join("kvs-node");
    let mut nodes: Vec<NodeProcess> = Vec::with_capacity(size);
    for _ in 0..size {
        let bootstrap = nodes.last().map(|n| n.addr);
        nodes.push(NodeProcess::start_program(&program, bootstrap, &[]));
    }
    let client = dir.join("kvs-client");
    let everyone: Vec<&NodeProcess> = nodes.iter().collect();
    wait(&format!("{build}: {size} nodes to see each other alive"), Duration::from_secs(60), || {
        all_alive(&client, &everyone, size)
    })?;
    let pids: Vec<u32> = nodes.iter().map(NodeProcess::pid).collect();
    let before = bytes_sent(&pids)?;
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(args.idle_secs));
    let after = bytes_sent(&pids)?;
    let secs = started.elapsed().as_secs_f64();
    let per_node = pids.iter().map(|pid| (after[pid] - before[pid]) as f64 / secs).collect();
    if !all_alive(&client, &everyone, size) {
        eprintln!("{build}, {size} nodes: a member was not alive everywhere after the idle period");
    }
    let mut kills = Vec::new();
    for kill in 0..args.kills.min(size - 1) {
        let victim = nodes.len() / 2;
        let mut dead = nodes.remove(victim);
        let victim_addr = dead.addr.to_string();
        let observers: Vec<&NodeProcess> = nodes.iter().collect();
        dead.kill();
        let detection = detect(&client, &observers, &victim_addr)?;
        eprintln!(
            "{build}, {size} nodes, kill {}: suspect {:.2}-{:.2} s, dead {:.2}-{:.2} s",
            kill + 1,
            detection.suspect.0,
            detection.suspect.1,
            detection.dead.0,
            detection.dead.1
        );
        kills.push(detection);
    }
    Ok(Row { build, size, per_node, kills })
}

/// Polls every observer until each holds `victim` dead; when each first said suspect and dead.
fn detect(client: &Path, observers: &[&NodeProcess], victim: &str) -> Result<Detection, String> {
    let killed = Instant::now();
    let (mut suspect, mut dead) = (vec![None; observers.len()], vec![None; observers.len()]);
    while dead.iter().any(Option::is_none) {
        if killed.elapsed() > Duration::from_secs(60) {
            return Err(format!("{victim} was not dead everywhere a minute after it was killed"));
        }
        let states = poll(client, observers);
        let at = killed.elapsed().as_secs_f64();
        for (i, status) in states.iter().enumerate() {
            let Some(state) = status.as_ref().and_then(|s| state_of(s, victim)) else { continue };
            if state != "alive" && suspect[i].is_none() {
                suspect[i] = Some(at);
            }
            if (state == "dead" || state == "left") && dead[i].is_none() {
                dead[i] = Some(at);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let span = |times: Vec<Option<f64>>| {
        let times: Vec<f64> = times.into_iter().flatten().collect();
        (times.iter().copied().fold(f64::MAX, f64::min), times.iter().copied().fold(0.0, f64::max))
    };
    Ok(Detection { suspect: span(suspect), dead: span(dead) })
}

/// Every node's status, asked in parallel.
fn poll(client: &Path, nodes: &[&NodeProcess]) -> Vec<Option<Value>> {
    std::thread::scope(|scope| {
        let asks: Vec<_> = nodes.iter().map(|node| scope.spawn(move || status(client, node))).collect();
        asks.into_iter().map(|ask| ask.join().ok().flatten()).collect()
    })
}

fn all_alive(client: &Path, nodes: &[&NodeProcess], size: usize) -> bool {
    poll(client, nodes).iter().all(|status| {
        let Some(members) = status.as_ref().and_then(|s| s["members"].as_array()) else { return false };
        members.len() == size && members.iter().all(|m| m["state"] == "alive")
    })
}

/// `kvs-client <ip> <port> status --json` of that build.
fn status(client: &Path, node: &NodeProcess) -> Option<Value> {
    let output = Command::new(client)
        .args([&node.addr.ip().to_string(), &node.addr.port().to_string(), "status", "--json"])
        .output()
        .ok()?;
    serde_json::from_slice(&output.stdout).ok()
}

fn state_of(status: &Value, addr: &str) -> Option<String> {
    let member = status["members"].as_array()?.iter().find(|m| m["addr"] == addr)?;
    member["state"].as_str().map(str::to_string)
}

/// Bytes sent so far on every established TCP socket, summed per process, from `ss -tinp`.
fn bytes_sent(pids: &[u32]) -> Result<HashMap<u32, u64>, String> {
    let output = Command::new("ss")
        .args(["-tinpH", "state", "established"])
        .output()
        .map_err(|e| format!("cannot run ss (iproute2): {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut sent: HashMap<u32, u64> = pids.iter().map(|&pid| (pid, 0)).collect();
    let mut owner = None;
    for line in text.lines() {
        if let Some(at) = line.find("pid=") {
            let digits: String = line[at + 4..].chars().take_while(char::is_ascii_digit).collect();
            owner = digits.parse::<u32>().ok().filter(|pid| sent.contains_key(pid));
        } else if let Some(pid) = owner.take() {
            let bytes = line.split_whitespace().find_map(|word| word.strip_prefix("bytes_sent:"));
            *sent.entry(pid).or_default() += bytes.and_then(|b| b.parse().ok()).unwrap_or(0);
        }
    }
    Ok(sent)
}

fn wait(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}
