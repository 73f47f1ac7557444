//! `cargo xtask upgrade-test`: a rolling upgrade from the previous release to this build, with
//! real binaries, under load.
//!
//! The previous release is CHANGELOG.md's newest entry; it is built from the commit it was cut
//! from, in a git worktree under `target/upgrade-test/` that later runs reuse. Three nodes of it
//! serve a steady load of writes and reads (native through the failover client, and RESP); each
//! is shut down in turn and started again from this build on its own data dir and address (the
//! first one is also rolled back to the previous release and forward again, which the closed
//! gates allow). While any node runs the previous release, the upgraded nodes keep their cluster
//! version there: the new features (those of a protocol the previous release does not speak:
//! WAIT from 0.1.0, PFADD from 0.2.0) are refused and the log stays in the previous format.
//! Once all run this build, the cluster version rises on every node, the log moves to the new
//! format, WAIT counts both peers, and PFADDs made on every node all count. Then every acknowledged write must be on every node, the
//! nodes must agree, no stretch without a successful write may be longer than the slowest
//! restart (plus the client's failover), and the previous release must refuse the new log.

mod load;
mod release;

use kvs_tests::binaries::binary;
use kvs_tests::{wait_for_alive_members, wait_for_equal_digests, NodeProcess};
use load::{load, Seen};
use release::{build_release, previous_release, speaks, Speaks};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a node may take to rejoin, and the cluster to agree, before the test fails.
const CONVERGE: Duration = Duration::from_secs(60);

/// How long the load runs on the old cluster before the first node is replaced, and after the
/// last one is.
const STEADY: Duration = Duration::from_secs(2);

/// Slack allowed on top of the slowest restart for a writer to notice and fail over.
const FAILOVER_SLACK: Duration = Duration::from_secs(3);

fn free_addr() -> Result<SocketAddr, String> {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())
}

/// One node's place: the address and Redis port it keeps across the upgrade, and its data dir.
struct Slot {
    addr: SocketAddr,
    redis_port: u16,
    dir: tempfile::TempDir,
}

impl Slot {
    fn new() -> Result<Slot, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        Ok(Slot { addr: free_addr()?, redis_port: free_addr()?.port(), dir })
    }

    fn start(&self, program: &Path, bootstrap: Option<SocketAddr>) -> NodeProcess {
        let (dir, redis_port) = (self.dir.path().display().to_string(), self.redis_port.to_string());
        NodeProcess::start_program_on(program, self.addr, bootstrap, &["--data-dir", &dir, "--redis-port", &redis_port])
    }
}

/// Runs one command on the Redis port `port` (on a blocking thread: the load shares the runtime).
async fn resp(port: u16, args: &[&str]) -> Result<redis::Value, String> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).map_err(|e| e.to_string())?;
        let mut conn = client.get_connection_with_timeout(Duration::from_secs(5)).map_err(|e| e.to_string())?;
        let mut cmd = redis::cmd(&args[0]);
        for arg in &args[1..] {
            cmd.arg(arg);
        }
        cmd.query::<redis::Value>(&mut conn).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// The log format a data dir's log is in (its header's version field).
fn log_format(slot: &Slot) -> Result<u32, String> {
    let log = std::fs::read(slot.dir.path().join("log")).map_err(|e| format!("reading the log: {e}"))?;
    let field = log.get(8..12).ok_or("a log without a header")?;
    Ok(u32::from_le_bytes(field.try_into().expect("4 bytes")))
}

/// What an upgraded node shows while a member still runs the previous release (`old`): no gate
/// of a newer protocol open, WAIT refused if its gate is one of them, and the log still in a
/// format the previous release reads (so it can be rolled back).
async fn gates_still_closed(node: &NodeProcess, slot: &Slot, old: Speaks) -> Result<(), String> {
    let versions = node.client().await.versions().await.map_err(|e| format!("versions: {e}"))?;
    if versions.cluster_version > old.protocol || versions.gates.iter().any(|g| g.open && g.protocol > old.protocol) {
        return Err(format!("a gate opened while a member runs the previous release: {versions:?}"));
    }
    if kvs_proto::features::WAIT.protocol > old.protocol {
        match resp(slot.redis_port, &["WAIT", "1", "100"]).await {
            Err(error) if error.contains("needs the cluster feature 'wait'") => {}
            other => return Err(format!("WAIT before its gate opened answered {other:?}")),
        }
    }
    if kvs_proto::features::DATABASES.protocol > old.protocol {
        match resp(slot.redis_port, &["SELECT", "1"]).await {
            Err(error) if error.contains("need the cluster feature 'databases'") => {}
            other => return Err(format!("SELECT 1 before its gate opened answered {other:?}")),
        }
    }
    if kvs_proto::features::HYPERLOGLOG.protocol > old.protocol {
        match resp(slot.redis_port, &["PFADD", "visitors", "early"]).await {
            Err(error) if error.contains("needs the cluster feature 'hyperloglog'") => {}
            other => return Err(format!("PFADD before its gate opened answered {other:?}")),
        }
    }
    match log_format(slot)? {
        format if format <= old.log_format => Ok(()),
        format => {
            Err(format!("the log moved to format {format} while the previous release reads only {}", old.log_format))
        }
    }
}

/// Replaces `nodes[i]` by `program` on its slot, rejoining through the next slot; how long the
/// node was away.
async fn replace(nodes: &mut [NodeProcess], slots: &[Slot], i: usize, program: &Path) -> Result<Duration, String> {
    let started = Instant::now();
    nodes[i].client().await.shutdown().await.map_err(|e| format!("shutting node {i} down: {e}"))?;
    if !nodes[i].wait_exit(CONVERGE).success() {
        return Err(format!("node {i} did not exit cleanly"));
    }
    nodes[i] = slots[i].start(program, Some(slots[(i + 1) % slots.len()].addr));
    wait_for_alive_members(nodes, slots.len(), CONVERGE).await;
    Ok(started.elapsed())
}

/// Runs the upgrade from the previous release to this build.
pub async fn run(workspace: PathBuf) -> Result<(), String> {
    let changelog = std::fs::read_to_string(workspace.join("CHANGELOG.md")).map_err(|e| e.to_string())?;
    let release = previous_release(&changelog)?;
    let old = build_release(&workspace, &release)?.join("kvs-node");
    let new = binary("kvs-node");
    let version = |program: &Path| {
        let out = Command::new(program).arg("--version").output().map(|o| o.stdout).unwrap_or_default();
        String::from_utf8_lossy(&out).trim().to_string()
    };
    println!("from: {}\nto:   {}", version(&old), version(&new));
    let old_speaks = speaks(&version(&old))?;

    let slots = [Slot::new()?, Slot::new()?, Slot::new()?];
    let mut nodes = Vec::new();
    for (i, slot) in slots.iter().enumerate() {
        nodes.push(slot.start(&old, (i > 0).then(|| slots[0].addr)));
    }
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    println!("three nodes of release {} serve", release.version);

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let seeds = slots.iter().map(|s| s.addr.to_string()).collect();
    let redis_ports = slots.iter().map(|s| s.redis_port).collect();
    let load = tokio::spawn(load(seeds, redis_ports, stop.clone(), seen.clone()));
    tokio::time::sleep(STEADY).await;

    let mut slowest = Duration::ZERO;
    for i in 0..slots.len() {
        let took = replace(&mut nodes, &slots, i, &new).await?;
        slowest = slowest.max(took);
        println!("node {i} ({}) now runs this build; back in {} ms", slots[i].addr, took.as_millis());
        if i + 1 < slots.len() {
            gates_still_closed(&nodes[i], &slots[i], old_speaks).await?;
        }
        if i == 0 {
            // Before the gates open the way back is open too: the previous release on the same data.
            let took = replace(&mut nodes, &slots, i, &old).await?;
            let took_forward = replace(&mut nodes, &slots, i, &new).await?;
            slowest = slowest.max(took).max(took_forward);
            println!(
                "node 0 rolled back to release {} and forward again ({} + {} ms)",
                release.version,
                took.as_millis(),
                took_forward.as_millis()
            );
        }
    }
    let all_upgraded = Instant::now();
    for (node, slot) in nodes.iter().zip(&slots) {
        let versions = kvs_tests::wait_until("every gate to open", CONVERGE, || async {
            let versions = node.client().await.versions().await.ok()?;
            let newest = Some(kvs_store::log::FORMAT_VERSION);
            (versions.gates.iter().all(|g| g.open) && versions.log_format_in_use == newest).then_some(versions)
        })
        .await;
        if log_format(slot)? != kvs_store::log::FORMAT_VERSION {
            return Err(format!("{} still writes its log in format {}", node.addr, log_format(slot)?));
        }
        resp(slot.redis_port, &["SET", "waited", "yes"]).await?;
        resp(slot.redis_port, &["SELECT", "1"]).await?;
        // A type the previous release could not replicate, added on every node at once.
        resp(slot.redis_port, &["PFADD", "visitors", &node.addr.to_string()]).await?;
        match resp(slot.redis_port, &["WAIT", "2", "10000"]).await? {
            redis::Value::Int(2) => {}
            other => return Err(format!("WAIT 2 on {} answered {other:?}", node.addr)),
        }
        let format = kvs_store::log::FORMAT_VERSION;
        let after = all_upgraded.elapsed().as_millis();
        println!(
            "{}: cluster version {} (gates open within {after} ms of the last upgrade), log format {format}, WAIT 2 answers 2",
            node.addr, versions.cluster_version
        );
    }
    tokio::time::sleep(STEADY).await;
    stop.store(true, Ordering::Relaxed);
    load.await.map_err(|e| e.to_string())?;

    let refs: Vec<&NodeProcess> = nodes.iter().collect();
    wait_for_equal_digests(&refs, CONVERGE).await;
    for slot in &slots {
        match resp(slot.redis_port, &["PFCOUNT", "visitors"]).await? {
            redis::Value::Int(3) => {}
            other => return Err(format!("PFCOUNT of the PFADDs made on three nodes answered {other:?}")),
        }
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    for node in &nodes {
        let mut client = node.client().await;
        for chunk in seen.acknowledged.chunks(500) {
            let keys = chunk.iter().map(|(key, _)| bytes::Bytes::from(key.clone())).collect();
            let values = client.mget(keys).await.map_err(|e| format!("reading back from {}: {e}", node.addr))?;
            for ((key, value), found) in chunk.iter().zip(values) {
                if found.as_deref() != Some(value.as_bytes()) {
                    return Err(format!("{} lost the acknowledged write {key}={value} (holds {found:?})", node.addr));
                }
            }
        }
    }
    println!(
        "{} acknowledged writes on every node, {} reads, {} failed requests; longest stretch without a write {} ms, slowest restart {} ms",
        seen.acknowledged.len(),
        seen.reads,
        seen.failed,
        seen.longest_gap.as_millis(),
        slowest.as_millis()
    );
    if seen.acknowledged.is_empty() {
        return Err("the load acknowledged nothing".into());
    }
    if seen.longest_gap > slowest + FAILOVER_SLACK {
        return Err(format!(
            "writes stopped for {} ms, longer than the slowest restart ({} ms) and the failover",
            seen.longest_gap.as_millis(),
            slowest.as_millis()
        ));
    }
    for node in &mut nodes {
        node.client().await.shutdown().await.map_err(|e| e.to_string())?;
        node.wait_exit(CONVERGE);
    }
    if log_format(&slots[0])? > old_speaks.log_format {
        // Past the gates there is no way back: the previous release refuses the new log, untouched.
        let before = std::fs::read(slots[0].dir.path().join("log")).map_err(|e| e.to_string())?;
        let dir = slots[0].dir.path().display().to_string();
        let refused = Command::new(&old)
            .args([&slots[0].addr.ip().to_string(), "0", "--data-dir", &dir])
            .output()
            .map_err(|e| e.to_string())?;
        let said = String::from_utf8_lossy(&refused.stderr);
        if refused.status.success() || !said.contains("newer than this kvs") {
            return Err(format!("release {} on the upgraded log: {} {said}", release.version, refused.status));
        }
        if std::fs::read(slots[0].dir.path().join("log")).map_err(|e| e.to_string())? != before {
            return Err("the previous release changed a log it refused".into());
        }
        println!("release {} refuses the upgraded log: {}", release.version, said.lines().last().unwrap_or("").trim());
    }
    println!("upgrade-test PASSED: release {} → this build, no acknowledged write lost", release.version);
    Ok(())
}
