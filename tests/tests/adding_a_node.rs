//! A fourth node added to a partitioned cluster while clients write and read (issue 30;
//! docs/partitioning.md, "Moving slots" and "What a client sees"): Redis Cluster clients, and a
//! plain client of one node whose commands of others' slots are forwarded, keep writing and
//! reading through `cluster apply` with no failed request, no read of a key written before the
//! move misses it, and the new node ends up holding its share, each old owner only its own.

use kvs_proto::layout::Layout;
use kvs_proto::slot::slot_of;
use kvs_tests::layouts::held_layout;
use kvs_tests::wait::wait_until;
use kvs_tests::{start_chain, wait_for_alive_members, wait_for_open_gates, NodeProcess};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(60);
/// Keys written before the fourth node arrives, `key:{i}` = i.
const KEYS: usize = 600;
/// Writers through Redis Cluster clients; one more writes through a plain client of one node.
const WRITERS: usize = 4;
const FLAGS: &[&str] = &["--redis-port", "0"];

/// A Redis Cluster client of `nodes`.
fn cluster_client(nodes: &[NodeProcess]) -> redis::cluster::ClusterConnection {
    let urls: Vec<String> = nodes.iter().map(|n| format!("redis://{}", n.redis())).collect();
    redis::cluster::ClusterClient::new(urls).unwrap().get_connection().unwrap()
}

/// How many of `keys` each node owns under `layout`, in the order of `nodes`.
fn owned(layout: &Layout, nodes: &[NodeProcess], keys: &[String]) -> Vec<u64> {
    let table = layout.table();
    let owns = |node: &NodeProcess, key: &String| {
        let id = layout.members.iter().find(|m| m.addr == node.addr).expect("a member").node;
        table[usize::from(slot_of(key.as_bytes()))].contains(&id)
    };
    nodes.iter().map(|node| keys.iter().filter(|key| owns(node, key)).count() as u64).collect()
}

/// Waits until every node holds a layout of `members` members and exactly the `keys` it owns
/// under it; returns the counts.
async fn settle(nodes: &[NodeProcess], members: usize, keys: &[String], what: &str) -> Vec<u64> {
    wait_until(what, CONVERGE, || async {
        let mut counts = Vec::new();
        let mut layouts = Vec::new();
        for node in nodes {
            counts.push(node.status().await.ok()?.key_count);
            layouts.push(held_layout(node).await?);
        }
        let held = layouts.pop()?;
        let agreed = held.members.len() == members && layouts.iter().all(|other| other.version == held.version);
        (agreed && counts == owned(&held, nodes, keys)).then_some(counts)
    })
    .await
}

/// Clients writing and reading until told to stop: what they did and every error they met.
struct Load {
    stop: Arc<AtomicBool>,
    written: Arc<AtomicUsize>,
    read: Arc<AtomicUsize>,
    errors: Arc<Mutex<Vec<String>>>,
    threads: Vec<JoinHandle<usize>>,
}

impl Load {
    /// `WRITERS` clients each writing `w{t}:{i}` = i for i = 0, 1, …, through its own Redis
    /// Cluster client; one more doing so through a plain client of the first node, reading each
    /// key back after writing it; and one reading the keys written before, through a Redis
    /// Cluster client.
    fn start(nodes: &[NodeProcess]) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let (written, read) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        for t in 0..=WRITERS {
            let mut client: Box<dyn redis::ConnectionLike + Send> = match t {
                WRITERS => Box::new(nodes[0].resp()),
                _ => Box::new(cluster_client(nodes)),
            };
            let (stop, written, errors) = (stop.clone(), written.clone(), errors.clone());
            threads.push(std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("w{t}:{i}");
                    match redis::cmd("SET").arg(&key).arg(i).query::<()>(client.as_mut()) {
                        Ok(()) if t < WRITERS => {}
                        Ok(()) => match redis::cmd("GET").arg(&key).query::<Option<usize>>(client.as_mut()) {
                            Ok(Some(value)) if value == i => {}
                            answer => errors.lock().unwrap().push(format!("GET {key} after writing it: {answer:?}")),
                        },
                        Err(e) => {
                            errors.lock().unwrap().push(format!("SET {key}: {e}"));
                            continue;
                        }
                    }
                    written.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
                i
            }));
        }
        let (mut client, stop_reads, reads, read_errors) =
            (cluster_client(nodes), stop.clone(), read.clone(), errors.clone());
        threads.push(std::thread::spawn(move || {
            let mut j = 0;
            while !stop_reads.load(Ordering::Relaxed) {
                let key = format!("key:{}", j % KEYS);
                match redis::cmd("GET").arg(&key).query::<Option<usize>>(&mut client) {
                    Ok(Some(value)) if value == j % KEYS => {
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                    answer => read_errors.lock().unwrap().push(format!("GET {key}: {answer:?}")),
                }
                j += 7;
            }
            0
        }));
        Load { stop, written, read, errors, threads }
    }

    /// Waits until the clients wrote `writes` more keys and read `reads` more.
    async fn progress(&self, writes: usize, reads: usize, what: &str) {
        let (w, r) = (self.written.load(Ordering::Relaxed) + writes, self.read.load(Ordering::Relaxed) + reads);
        wait_until(what, CONVERGE, || async {
            (self.written.load(Ordering::Relaxed) >= w && self.read.load(Ordering::Relaxed) >= r).then_some(())
        })
        .await;
    }

    /// Stops the clients; returns the keys written, and every error met.
    fn stop(self) -> (Vec<String>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let counts: Vec<usize> = self.threads.into_iter().map(|t| t.join().unwrap()).collect();
        let keys = (0..=WRITERS).flat_map(|t| (0..counts[t]).map(move |i| format!("w{t}:{i}"))).collect();
        let errors = std::mem::take(&mut *self.errors.lock().unwrap());
        (keys, errors)
    }
}

#[tokio::test]
async fn a_node_added_under_load_gets_its_share_with_no_failed_request() {
    let mut nodes = start_chain(3, FLAGS);
    wait_for_open_gates(&nodes, CONVERGE).await;
    let applied = nodes[0].cli(&["cluster", "apply", "--replication-factor", "2"]);
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let before: Vec<String> = (0..KEYS).map(|i| format!("key:{i}")).collect();
    settle(&nodes, 3, &[], "the layout to reach every node").await;
    let mut client = cluster_client(&nodes);
    for (i, key) in before.iter().enumerate() {
        let () = redis::cmd("SET").arg(key).arg(i).query(&mut client).unwrap();
    }
    settle(&nodes, 3, &before, "each node to hold its keys").await;

    let load = Load::start(&nodes);
    load.progress(200, 50, "the clients to write and read").await;
    nodes.push(NodeProcess::start(Some(nodes[0].addr), FLAGS));
    wait_for_alive_members(&nodes, 4, CONVERGE).await;
    wait_for_open_gates(&nodes, CONVERGE).await;
    let applied = nodes[0].cli(&["cluster", "apply", "--replication-factor", "2"]);
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    // The new node fetches its share of what was written before, while the clients go on.
    let share = wait_until("the fourth node to fetch its share", CONVERGE, || async {
        let held = held_layout(&nodes[3]).await.filter(|layout| layout.members.len() == 4)?;
        let wanted = owned(&held, &nodes, &before)[3];
        let count = nodes[3].status().await.ok()?.key_count;
        (wanted > 0 && count >= wanted).then_some(wanted)
    })
    .await;
    assert!((KEYS as u64 * 35 / 100..=KEYS as u64 * 65 / 100).contains(&share), "about half the keys: {share}");
    load.progress(200, 50, "the clients to go on after the move").await;
    let (written, errors) = load.stop();
    assert!(errors.is_empty(), "{} failed requests, the first: {:?}", errors.len(), &errors[..errors.len().min(5)]);

    // Each node ends up with exactly the keys it owns, and every key reads back.
    let all: Vec<String> = before.iter().chain(&written).cloned().collect();
    let counts = settle(&nodes, 4, &all, "each node to hold only the keys of its slots").await;
    assert_eq!(counts.iter().sum::<u64>(), 2 * all.len() as u64, "two copies of every key: {counts:?}");
    let mut client = cluster_client(&nodes);
    for key in &all {
        let value: Option<String> = redis::cmd("GET").arg(key).query(&mut client).unwrap();
        let expected = key.rsplit(':').next().unwrap();
        assert_eq!(value.as_deref(), Some(expected), "{key}");
    }
}
