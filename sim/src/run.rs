//! One seeded run: nodes, a workload under faults, healing, then the checks.

use crate::check::{check, Written};
use crate::client;
use crate::history::History;
use crate::hosts::{addr, host, PORT};
use kvs_node::{server, NodeArgs, NodeConfig};
use kvs_proto::{ClientRequest, ClientResponse};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// How long faults and traffic go on, in simulated time.
const FAULTS_FOR: Duration = Duration::from_secs(20);

/// How long the healed cluster gets to converge, in simulated time.
const CONVERGE_WITHIN: Duration = Duration::from_secs(60);

/// What a run is asked to do.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// The seed: the network, the faults and the workload all follow from it.
    pub seed: u64,
    /// Nodes in the cluster.
    pub nodes: usize,
    /// Plant the cursor-over-a-gap bug, to show the checks catch it.
    pub plant_bug: bool,
}

/// Crashes and restarts the client asks the simulation for (only the simulation can do them).
#[derive(Default)]
struct Requests {
    crash: Vec<String>,
    restart: Vec<String>,
}

/// Simulated wall time: the simulation's epoch plus elapsed simulated time.
fn simulated_wall_ms() -> u64 {
    turmoil::since_epoch().map_or(0, |d| d.as_millis() as u64)
}

/// Runs one seed; returns its history, or what failed and the history.
pub fn run(options: RunOptions) -> Result<Vec<String>, (String, Vec<String>)> {
    kvs_store::clock::set_wall_clock_source(simulated_wall_ms);
    if options.plant_bug {
        kvs_store::plant_cursor_gap_bug();
    }
    let mut rng = StdRng::seed_from_u64(options.seed);
    let history = History::default();
    let mut sim = turmoil::Builder::new();
    let sim = sim
        .rng_seed(options.seed)
        // A fixed epoch: wall-clock versions (and so digests) must follow from the seed alone.
        .epoch(std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
        .simulation_duration(Duration::from_secs(300))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(rng.random_range(2..40)));
    // The simulated disk keeps only what was fsynced when its host crashes, except that the
    // kernel may have written some pages back on its own, and a write cut short leaves whole
    // 64-byte blocks of it (a torn tail).
    sim.fs().sync_probability(0.05).block_size(64);
    let mut sim = sim.build();
    let n = options.nodes;
    // Some nodes keep their data on the simulated disk, each with its own fsync policy.
    let storage: Vec<Storage> = (0..n).map(|_| Storage::draw(&mut rng)).collect();
    // In some runs one member lies in every anti-entropy answer while faults go on (a resync
    // demand, then absurd cursors for everyone else's writes); in the end every node must still
    // hold every write. Drawn
    // apart from the rest, so the other faults of a seed stay what they were.
    let liar = {
        let mut draw = StdRng::seed_from_u64(options.seed ^ 0x11a2_5eed);
        draw.random_bool(0.25).then(|| draw.random_range(0..n))
    };
    // The last node joins a cluster that is already under traffic and faults.
    let late_join = Duration::from_millis(rng.random_range(1_000..15_000));
    for i in 0..n {
        let incarnation = Rc::new(RefCell::new(0u64));
        let storage = storage[i];
        let history = history.clone();
        let seed = options.seed;
        sim.host(host(i), move || {
            let incarnation = incarnation.clone();
            let history = history.clone();
            async move {
                *incarnation.borrow_mut() += 1;
                if i == n - 1 && *incarnation.borrow() == 1 {
                    tokio::time::sleep(late_join).await;
                }
                // A memory-only node must be new at every start: its id is also its origin.
                let id = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ ((i as u64) << 32) ^ *incarnation.borrow();
                // Each run of each node has its own wall clock, up to 25 s either way (so any two
                // stay within the 60 s skew bound); a restart may step it back.
                let skew_ms = StdRng::seed_from_u64(id).random_range(-25_000i64..=25_000);
                let me = addr(i);
                let mut args = vec!["kvs-node".to_string(), me.ip().to_string(), PORT.to_string()];
                if i > 0 || *incarnation.borrow() > 1 {
                    let bootstrap = addr(if i == 0 { 1 } else { i - 1 });
                    args.extend([bootstrap.ip().to_string(), PORT.to_string()]);
                }
                // The failure detection the real-process tests use, and anti-entropy every 300 ms.
                args.extend(kvs_tests::FAST_FAILURE_DETECTION.map(String::from));
                // Simulated hosts have no loopback addresses between them.
                args.push("--protected-mode=no".into());
                args.push(format!("--redis-port={}", crate::resp::REDIS_PORT));
                args.extend(["--anti-entropy-interval-ms".into(), "300".into(), format!("--node-id={id:x}")]);
                args.push(format!("--fault-clock-offset-ms={skew_ms}"));
                let mut faults = vec![format!("clock {:+.1} s", skew_ms as f64 / 1000.0)];
                let mut draw = StdRng::seed_from_u64(id ^ 0x5eed_f00d);
                if draw.random_bool(0.3) {
                    // An NTP-style correction while it runs: stepped back, staying within ±25 s.
                    let at = draw.random_range(500..15_000);
                    let to = draw.random_range(-25_000..=skew_ms);
                    args.push(format!("--fault-clock-step={at}:{}", to - skew_ms));
                    faults.push(format!(
                        "stepped back {:.1} s at {:.1} s",
                        (skew_ms - to) as f64 / 1000.0,
                        at as f64 / 1000.0
                    ));
                }
                if draw.random_bool(0.3) {
                    args.push("--fault-duplicate-messages".into());
                    faults.push("sends every peer message twice".into());
                }
                if liar == Some(i) {
                    // It lies while faults go on; once they stop the others must still fetch
                    // everything, however their cursors were lied to.
                    let lies_for = FAULTS_FOR.saturating_sub(turmoil::sim_elapsed().unwrap_or_default());
                    args.push(format!("--fault-lying-anti-entropy-ms={}", lies_for.as_millis()));
                    faults.push(format!("lies in anti-entropy answers for {:.1} s", lies_for.as_secs_f64()));
                }
                history.note(format!(
                    "{} starts (run {}, id {id:016x}): {}",
                    host(i),
                    incarnation.borrow(),
                    faults.join(", ")
                ));
                if let Storage::Durable(fsync) = storage {
                    // A small compaction threshold, so runs compact their logs too.
                    args.extend([
                        "--data-dir=/data".into(),
                        format!("--fsync={fsync}"),
                        "--compact-after-bytes=4096".into(),
                    ]);
                }
                let config = NodeConfig::try_from(<NodeArgs as clap::Parser>::parse_from(args))?;
                server::bind(config).await?.serve().await?;
                Ok(())
            }
        });
    }
    let requests = Rc::new(RefCell::new(Requests::default()));
    let outcome: Rc<RefCell<Option<Result<(), String>>>> = Rc::default();
    {
        let (history, requests, outcome) = (history.clone(), requests.clone(), outcome.clone());
        let workload_seed = rng.random();
        let storage = storage.clone();
        sim.client("client", async move {
            let result = workload(&storage, workload_seed, history, requests).await;
            *outcome.borrow_mut() = Some(result);
            Ok(())
        });
    }
    loop {
        match sim.step() {
            Ok(true) => break,
            Ok(false) => {}
            Err(error) => return Err((format!("simulation error: {error}"), history.lines())),
        }
        let mut pending = requests.borrow_mut();
        for name in pending.crash.drain(..) {
            sim.crash(name.as_str());
        }
        for name in pending.restart.drain(..) {
            sim.bounce(name.as_str());
        }
    }
    let result = outcome.borrow_mut().take();
    match result {
        Some(Ok(())) => Ok(history.lines()),
        Some(Err(failure)) => Err((failure, history.lines())),
        None => Err(("the workload never finished".into(), history.lines())),
    }
}

/// Writes and deletes on random nodes while the network partitions and nodes crash; then heals
/// everything, waits for convergence and checks.
async fn workload(
    storage: &[Storage],
    seed: u64,
    history: History,
    requests: Rc<RefCell<Requests>>,
) -> Result<(), String> {
    let n = storage.len();
    let mut rng = StdRng::seed_from_u64(seed);
    let kinds: Vec<String> = storage.iter().enumerate().map(|(i, s)| format!("{} {s}", host(i))).collect();
    history.note(format!("nodes: {}", kinds.join(", ")));
    wait_converged(n - 1, &history, Duration::from_secs(30)).await.map_err(|e| format!("never formed: {e}"))?;
    history.note(format!("cluster of {} formed; {} joins later", n - 1, host(n - 1)));
    let mut written = Written::default();
    let mut sets = crate::sets::SetOps::default();
    let mut lists = crate::lists::ListOps::default();
    let mut layouts = crate::layouts::LayoutOps::default();
    let durable: Vec<bool> = storage.iter().map(|s| matches!(s, Storage::Durable(_))).collect();
    // Nodes that may have lost what they acknowledged (for the set oracle).
    let mut forgetful: std::collections::BTreeSet<usize> = std::collections::BTreeSet::new();
    let mut crashed: Vec<usize> = Vec::new();
    let mut cut: Vec<(usize, usize, bool)> = Vec::new();
    let started = tokio::time::Instant::now();
    let mut op = 0u64;
    while started.elapsed() < FAULTS_FOR {
        match rng.random_range(0..100) {
            0..=3 if crashed.len() + 1 < n => {
                let victim = rng.random_range(0..n);
                if !crashed.contains(&victim) {
                    history.note(format!("crash {}", host(victim)));
                    requests.borrow_mut().crash.push(host(victim));
                    crashed.push(victim);
                    written.crashed(victim, storage[victim].keeps_acknowledged_writes());
                    if !storage[victim].keeps_acknowledged_writes() {
                        forgetful.insert(victim);
                    }
                }
            }
            4..=7 if !crashed.is_empty() => {
                let back = crashed.swap_remove(rng.random_range(0..crashed.len()));
                history.note(format!("restart {}", host(back)));
                requests.borrow_mut().restart.push(host(back));
            }
            8..=11 => {
                let (a, b) = (rng.random_range(0..n), rng.random_range(0..n));
                if a != b {
                    let one_way = rng.random_bool(0.3);
                    if one_way {
                        turmoil::partition_oneway(host(a), host(b));
                    } else {
                        turmoil::partition(host(a), host(b));
                    }
                    history.note(format!("cut {} {} {}", host(a), if one_way { "->" } else { "<->" }, host(b)));
                    cut.push((a, b, one_way));
                }
            }
            16..=17 if crashed.len() + 2 < n => {
                // A clean leave under traffic; the node rejoins (under a new id) when restarted.
                let leaving = rng.random_range(0..n);
                if !crashed.contains(&leaving) {
                    let answered = client::request(addr(leaving), ClientRequest::Shutdown).await.is_some();
                    history.note(format!("leave {}: {}", host(leaving), if answered { "ok" } else { "no answer" }));
                    // Gone either way (a node that did not answer may still be leaving): it is
                    // restarted like a crashed one, and what it acknowledged may not have spread.
                    requests.borrow_mut().crash.push(host(leaving));
                    crashed.push(leaving);
                    written.crashed(leaving, storage[leaving].keeps_acknowledged_writes());
                    if !storage[leaving].keeps_acknowledged_writes() {
                        forgetful.insert(leaving);
                    }
                }
            }
            18..=19 if n >= 3 => {
                // A bridge: two sides that only one node sees both of.
                let bridge = rng.random_range(0..n);
                let others: Vec<usize> = (0..n).filter(|&i| i != bridge).collect();
                let (left, right): (Vec<usize>, Vec<usize>) = others.iter().partition(|_| rng.random_bool(0.5));
                if !left.is_empty() && !right.is_empty() {
                    for &a in &left {
                        for &b in &right {
                            turmoil::partition(host(a), host(b));
                            cut.push((a, b, false));
                        }
                    }
                    let names = |side: &[usize]| side.iter().map(|&i| host(i)).collect::<Vec<_>>().join(" ");
                    history.note(format!("bridge: {} | {} | {}", names(&left), host(bridge), names(&right)));
                }
            }
            12..=15 if !cut.is_empty() => {
                let (a, b, one_way) = cut.swap_remove(rng.random_range(0..cut.len()));
                heal(a, b, one_way);
                history.note(format!("heal {} {} {}", host(a), if one_way { "->" } else { "<->" }, host(b)));
            }
            20..=34 => {
                let forwardable = !layouts.layouts().is_empty();
                crate::sets::operation(&mut rng, (n, forwardable), &mut sets, &history).await
            }
            50 if layouts.more() => crate::layouts::apply(&mut rng, n, &durable, &mut layouts, &history).await,
            35..=49 => {
                op += 1;
                let forwardable = !layouts.layouts().is_empty();
                crate::lists::operation(&mut rng, (n, op, forwardable), &mut lists, &history).await
            }
            _ => {
                // Few keys, so writes to one key from different nodes are concurrent often.
                let node = rng.random_range(0..n);
                let key = format!("k{}", rng.random_range(0..20));
                op += 1;
                let delete = rng.random_bool(0.15);
                let value = format!("v{op}");
                let request = if delete {
                    ClientRequest::Delete { key: key.clone().into() }
                } else {
                    ClientRequest::Set { key: key.clone().into(), value: value.clone().into() }
                };
                written.attempted(&key, (!delete).then(|| value.clone()));
                let acked = match client::request(addr(node), request).await {
                    Some(ClientResponse::Written(version)) => Some(version),
                    _ => None,
                };
                if let Some(version) = acked {
                    written.acknowledged(&key, (!delete).then_some(value.clone()), version, node);
                }
                let what = if delete { "delete".to_string() } else { format!("set {value}") };
                history.note(format!(
                    "{} {key} {what} on {}: {}",
                    "write",
                    host(node),
                    acked.map_or("no answer".to_string(), |v| format!("ok at {}.{}@{}", v.wall_ms, v.logical, v.node))
                ));
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(5..60))).await;
    }
    history.note("faults stop: heal every link, restart every crashed node");
    for (a, b, one_way) in cut.drain(..) {
        heal(a, b, one_way);
    }
    for back in crashed.drain(..) {
        requests.borrow_mut().restart.push(host(back));
    }
    // The layout first: which nodes must hold each key follows from the one they agree on.
    let layout = crate::layouts::check(n, &layouts, &history, CONVERGE_WITHIN).await?;
    let holders = crate::holders::Holders::of(layout.as_ref(), n, layouts.layouts()).await;
    if holders.partitioned() || layout.is_some() {
        // Under any layout a node may still be fetching slots it gained, and redirects their
        // reads meanwhile: the checks are repeated until they pass or the deadline.
        history.note("a layout is held: each key is checked on its slot's owners");
        return converge_partitioned(n, &holders, (&written, &sets, &lists), &forgetful, &history).await;
    }
    if let Err(failure) = wait_converged(n, &history, CONVERGE_WITHIN).await {
        crate::check::note_differences(&holders, &written, &history).await;
        sets.note_differences(&holders, &history).await;
        lists.note_differences(&holders, &history).await;
        note_cursors(n, &history).await;
        return Err(failure);
    }
    history.note("converged");
    check(&holders, &written, &history).await?;
    sets.check(&holders, &forgetful, &history).await?;
    lists.check(&holders, &forgetful, &history).await
}

/// Under a layout that partitions the keys no two nodes' digests need agree: once every node is
/// alive, the checks run until every key's holders agree and nothing acknowledged is missing
/// three rounds running, or the convergence deadline passes.
async fn converge_partitioned(
    n: usize,
    holders: &crate::holders::Holders,
    (written, sets, lists): (&Written, &crate::sets::SetOps, &crate::lists::ListOps),
    forgetful: &std::collections::BTreeSet<usize>,
    history: &History,
) -> Result<(), String> {
    wait_alive(n, history, CONVERGE_WITHIN).await?;
    let deadline = tokio::time::Instant::now() + CONVERGE_WITHIN;
    let quiet = History::default();
    // Agreement must hold for a few rounds running: a first moment of agreement may be two
    // owners that both still lack a write on its way to them.
    let mut agreed = 0;
    while agreed < 3 {
        let failed = match check(holders, written, &quiet).await {
            Ok(()) => match sets.check(holders, forgetful, &quiet).await {
                Ok(()) => lists.check(holders, forgetful, &quiet).await.err(),
                Err(failure) => Some(failure),
            },
            Err(failure) => Some(failure),
        };
        let Some(failure) = failed else {
            agreed += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        agreed = 0;
        if tokio::time::Instant::now() >= deadline {
            crate::check::note_differences(holders, written, history).await;
            sets.note_differences(holders, history).await;
            lists.note_differences(holders, history).await;
            note_cursors(n, history).await;
            return Err(format!("not converged within {CONVERGE_WITHIN:?}: {failure}"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    history.note("converged");
    check(holders, written, history).await?;
    sets.check(holders, forgetful, history).await?;
    lists.check(holders, forgetful, history).await
}

/// Where a simulated node keeps its data.
#[derive(Clone, Copy, Debug)]
pub enum Storage {
    /// In memory: a crash loses everything it held.
    Memory,
    /// In a data dir on the simulated disk, synced by this policy (`always`, `everysec`, `never`).
    Durable(&'static str),
}

impl Storage {
    fn draw(rng: &mut StdRng) -> Storage {
        match rng.random_range(0..5) {
            0 | 1 => Storage::Memory,
            2 => Storage::Durable("always"),
            3 => Storage::Durable("everysec"),
            _ => Storage::Durable("never"),
        }
    }

    /// Whether a write it acknowledged survives its crash: only an fsync before the reply
    /// promises that.
    fn keeps_acknowledged_writes(self) -> bool {
        matches!(self, Storage::Durable("always"))
    }
}

impl std::fmt::Display for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Storage::Memory => f.write_str("memory-only"),
            Storage::Durable(fsync) => write!(f, "durable (fsync {fsync})"),
        }
    }
}

fn heal(a: usize, b: usize, one_way: bool) {
    if one_way {
        turmoil::repair_oneway(host(a), host(b));
    } else {
        turmoil::repair(host(a), host(b));
    }
}

/// Notes every node's cursors, for a run that did not converge.
async fn note_cursors(n: usize, history: &History) {
    for i in 0..n {
        if let Some(status) = client::status(addr(i)).await {
            history.note(format!("{} ({}) cursors: {:?}", host(i), status.node_id, status.cursors));
        }
    }
}

/// Waits until nodes `0..n` each see `n` alive members.
async fn wait_alive(n: usize, history: &History, within: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        let mut alive = 0;
        for i in 0..n {
            if let Some(status) = client::status(addr(i)).await {
                let seen = status.members.iter().filter(|m| m.state == kvs_proto::MemberState::Alive).count();
                alive += usize::from(seen == n && status.members.len() == n);
            }
        }
        if alive == n {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    history.note("not every node sees every other alive");
    Err(format!("not every node saw every other alive within {within:?}"))
}

/// Waits until nodes `0..n` each see `n` alive members and all report one digest.
async fn wait_converged(n: usize, history: &History, within: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + within;
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        let mut digests = Vec::new();
        let mut views = Vec::new();
        for i in 0..n {
            match client::status(addr(i)).await {
                Some(status) => {
                    let alive = status.members.iter().filter(|m| m.state == kvs_proto::MemberState::Alive).count();
                    views.push(format!("{}: {alive} alive, {} keys, {}", host(i), status.key_count, status.digest));
                    if alive == n && status.members.len() == n {
                        digests.push(status.digest);
                    }
                }
                None => views.push(format!("{}: no answer", host(i))),
            }
        }
        if digests.len() == n && digests.windows(2).all(|w| w[0] == w[1]) {
            return Ok(());
        }
        last = views.join("; ");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    history.note(format!("not converged: {last}"));
    Err(format!("not converged within {within:?}: {last}"))
}
