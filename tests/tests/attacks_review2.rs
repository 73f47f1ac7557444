//! The second security review against real nodes: each test replays one probe from its table
//! (issue 23; the row number is in the test's name) and shows the node now holds. The first
//! review's probes are in `attacks.rs`; row 10, a node whose clock lags, is in `clock_skew.rs`
//! beside the node whose clock leads.

use kvs_client::{Client, ClientError, ClientOptions, Credentials, ErrorCode};
use kvs_proto::{MemberInfo, MemberState, NodeId, PeerMessage, View};
use kvs_tests::binaries::binary;
use kvs_tests::impostor::{wall_ms, Impostor};
use kvs_tests::netns::Network;
use kvs_tests::resp::{assert_error, eventually, run};
use kvs_tests::{wait_for_alive_members, wait_for_equal_digests, wait_until, NodeProcess, FAST_FAILURE_DETECTION};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONVERGE: Duration = Duration::from_secs(30);

/// The node's bound on a glob pattern (`kvs_store::glob::MAX_PATTERN_BYTES`).
const MAX_PATTERN_BYTES: usize = 4096;

#[tokio::test]
async fn row_1_a_member_lying_in_its_anti_entropy_answers_cannot_wipe_or_starve_a_node() {
    // The victim's data dir, so a restart shows what its log kept.
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let mut victim_args = vec!["--data-dir", &data_dir, "--fsync", "always"];
    victim_args.extend(FAST_FAILURE_DETECTION);
    let victim = NodeProcess::start(None, &victim_args);
    let honest = NodeProcess::start(Some(victim.addr), &FAST_FAILURE_DETECTION);
    let mut liar_args = vec!["--fault-lying-anti-entropy-ms", "1h"];
    liar_args.extend(FAST_FAILURE_DETECTION);
    let liar = NodeProcess::start(Some(victim.addr), &liar_args);
    let nodes = [victim, honest, liar];
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    let [victim, honest, liar] = nodes;
    let (mut on_victim, mut on_honest) = (victim.client().await, honest.client().await);
    for i in 0..300 {
        on_victim.set(format!("v{i}"), "x").await.unwrap();
        on_honest.set(format!("h{i}"), "x").await.unwrap();
    }
    victim.wait_for_value("h299", Some("x"), CONVERGE).await;
    // Asked in turn, the liar has answered twice: a resync demand, then absurd cursors for the
    // fresh request, and again a demand.
    wait_until("the victim to be told to resync twice", CONVERGE, || async {
        (victim.status().await.ok()?.replication.full_resyncs >= 2).then_some(())
    })
    .await;
    assert_eq!(victim.status().await.unwrap().key_count, 600, "nothing dropped");

    // A write the victim misses while frozen reaches it through anti-entropy all the same.
    victim.signal(libc::SIGSTOP);
    wait_until("the honest node to reset its connection to the frozen victim", CONVERGE, || async {
        (honest.status().await.ok()?.replication.peer_connections_reset >= 1).then_some(())
    })
    .await;
    on_honest.set("missed", "while frozen").await.unwrap();
    victim.signal(libc::SIGCONT);
    victim.wait_for_value("missed", Some("while frozen"), CONVERGE).await;
    wait_for_equal_digests(&[&victim, &honest], CONVERGE).await;
    drop(liar);

    let mut victim = victim;
    victim.restart(Some(honest.addr));
    assert_eq!(victim.status().await.unwrap().key_count, 601, "and its log still holds them");
}

#[tokio::test]
async fn row_12_debug_sleep_forever_is_clamped_and_the_connection_lives() {
    let node = NodeProcess::start_with_redis();
    let mut stream = std::net::TcpStream::connect(node.redis()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let started = Instant::now();
    stream.write_all(b"DEBUG SLEEP inf\r\nPING\r\n").unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 64];
    while !answer.ends_with(b"+PONG\r\n") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
    assert_eq!(answer, b"+OK\r\n+PONG\r\n");
    assert!(started.elapsed() < Duration::from_secs(15), "slept {:?}", started.elapsed());
}

#[tokio::test]
async fn row_12_an_import_refuses_bytes_after_the_end_mark() {
    let node = NodeProcess::start(None, &[]);
    node.client().await.set("k", "v").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backup");
    let path_text = path.display().to_string();
    let export =
        Command::new(binary("kvs-client")).arg(node.addr.to_string()).args(["export", &path_text]).output().unwrap();
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"junk").unwrap();
    let import =
        Command::new(binary("kvs-client")).arg(node.addr.to_string()).args(["import", &path_text]).output().unwrap();
    let stderr = String::from_utf8_lossy(&import.stderr);
    assert!(!import.status.success() && stderr.contains("bytes follow the end mark"), "{stderr}");
}

#[test]
fn row_12_check_data_dir_refuses_a_fifo_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("log");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let mut child = Command::new(binary("kvs-node"))
        .arg("check-data-dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("check-data-dir blocked on a FIFO");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not a regular file"), "{stderr}");
}

/// The node's resident memory, in bytes.
fn rss_bytes(node: &NodeProcess) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", node.pid())).unwrap();
    let kb = status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1));
    kb.and_then(|kb| kb.parse::<u64>().ok()).unwrap() * 1024
}

#[test]
fn row_5_a_transaction_queue_is_bounded_and_its_memory_given_back() {
    let node = NodeProcess::start_with_redis();
    let before = rss_bytes(&node);
    let c = &mut node.resp();
    let _: () = run(c, &["MULTI"]);
    let big = "x".repeat(8 << 20);
    let mut queued = 0;
    let refused = loop {
        assert!(queued < 60, "60 commands of 8 MiB were all queued");
        match redis::cmd("ECHO").arg(&big).query::<String>(c) {
            Ok(reply) => {
                assert_eq!(reply, "QUEUED");
                queued += 1;
            }
            Err(error) => break error.to_string(),
        }
    };
    assert!(refused.contains("transaction too long") && refused.contains("discarded"), "{refused}");
    assert_eq!(queued, 7, "seven fit in 64 MiB of arguments; an eighth ECHO and its 8 MiB do not");
    assert_error(c, &["ECHO", "small"], "transaction too long");
    assert_error(c, &["EXEC"], "Transaction discarded because of previous errors");
    assert_eq!(run::<String>(c, &["PING"]), "PONG", "the connection serves on");
    drop(std::mem::replace(c, node.resp()));
    eventually(CONVERGE, "the node to give back the queue's memory", || rss_bytes(&node) < before + (32 << 20));
}

#[test]
fn row_6_a_pattern_is_bounded_and_a_long_one_is_refused_not_matched() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    for i in 0..2_000 {
        let _: () = run(c, &["SET", &format!("key:{i}"), "v"]);
    }
    let huge = "*".repeat(4 << 20);
    assert_error(c, &["KEYS", &huge], "longer than the 4096 allowed");
    assert_error(c, &["SCAN", "0", "MATCH", &huge], "longer than the 4096 allowed");
    let longest = "*".repeat(MAX_PATTERN_BYTES);
    assert_eq!(run::<Vec<String>>(c, &["KEYS", &longest]).len(), 2_000);
    let backtracking = "*k".repeat(MAX_PATTERN_BYTES / 2);
    assert!(run::<Vec<String>>(c, &["KEYS", &backtracking]).is_empty());
    let _: () = run(c, &["SET", "after", "v"]);
    assert_eq!(run::<i64>(c, &["DBSIZE"]), 2_001);
}

/// A users file in `dir` holding `root`, an admin whose password `pw1` is stored as argon2id (made
/// by `kvs-node hash-password`).
fn argon2_users(dir: &std::path::Path) -> std::path::PathBuf {
    let mut hasher = Command::new(binary("kvs-node"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    hasher.stdin.take().unwrap().write_all(b"pw1\n").unwrap();
    let output = hasher.wait_with_output().unwrap();
    let hash = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success() && hash.starts_with("$argon2id$"), "{hash}");
    private_file(dir, "users", &format!("root admin {}", hash.trim()))
}

/// Writes `text` to `dir/name`, readable by its owner only (as secrets and users files must be).
fn private_file(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// Sends `commands` in one write on a fresh connection to `node`'s Redis port and reads every
/// reply line until the node closes the connection (or `limit` passes).
fn pipeline_until_closed(node: &NodeProcess, commands: &[u8], limit: Duration) -> Vec<String> {
    let mut stream = std::net::TcpStream::connect(node.redis()).unwrap();
    stream.set_read_timeout(Some(limit)).unwrap();
    // The node may close before taking it all: a failed write is part of the answer.
    let _ = stream.write_all(commands);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).lines().map(str::to_string).collect()
}

#[test]
fn row_7_password_guessing_is_cut_off_per_connection_and_slowed_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let users = argon2_users(dir.path());
    let node = NodeProcess::start(None, &["--users-file", users.to_str().unwrap(), "--redis-port", "0"]);
    let guesses: Vec<u8> = (0..20_000).flat_map(|i| format!("AUTH root guess{i}\r\n").into_bytes()).collect();
    let replies = pipeline_until_closed(&node, &guesses, Duration::from_secs(10));
    assert_eq!(replies.len(), 3, "three tries, then the connection is closed: {replies:?}");
    assert!(replies.iter().all(|r| r.starts_with("-WRONGPASS")), "{replies:?}");
    // Two more connections spend the address's burst of ten; then even the right password waits.
    for _ in 0..2 {
        pipeline_until_closed(&node, &guesses[..200], Duration::from_secs(10));
    }
    let mut c = node.resp();
    assert_error(&mut c, &["AUTH", "root", "again"], "invalid username-password pair");
    assert_error(&mut c, &["AUTH", "root", "pw1"], "too many failed logins from this address");
}

#[tokio::test]
async fn row_7_an_argon2id_password_logs_in_on_every_front_end() {
    let dir = tempfile::tempdir().unwrap();
    let users = argon2_users(dir.path());
    let flags = ["--users-file", users.to_str().unwrap(), "--redis-port", "0", "--http-port", "0"];
    let node = NodeProcess::start(None, &flags);
    let replies = pipeline_until_closed(&node, b"AUTH root pw1\r\nPING\r\nQUIT\r\n", Duration::from_secs(10));
    assert_eq!(replies, ["+OK", "+PONG", "+OK"]);
    let credentials = Some(Credentials { user: "root".into(), password: "pw1".into() });
    let options = ClientOptions { credentials, ..Default::default() };
    let mut client = Client::connect_with(&node.addr.to_string(), options).await.unwrap();
    client.set("k", "v").await.unwrap();
    assert_eq!(kvs_tests::http::get(&node.http_url("/status"), Some(("root", "pw1"))).status, 200);
    assert_eq!(kvs_tests::http::get(&node.http_url("/status"), Some(("root", "pw2"))).status, 401);
}

/// Runs `kvs-client <node> args` inside host `i` of `network`: whether it succeeded, and its stderr.
fn client_in(network: &Network, i: usize, node: SocketAddr, args: &[&str]) -> (bool, String) {
    let output = Command::new("ip")
        .args(["netns", "exec", network.host(i)])
        .arg(binary("kvs-client"))
        .args([node.ip().to_string(), node.port().to_string()])
        .args(["--timeout", "2"])
        .args(args)
        .output()
        .unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test]
async fn row_9_protected_mode_serves_loopback_only_until_told_otherwise() {
    let Some(network) = Network::create(2) else { return };
    let advertised = format!("{}:0", network.ip(0));
    let everywhere = SocketAddr::from(([0, 0, 0, 0], 0));
    // The default, said out loud: the namespace helper turns it off unless a test names it.
    let guarded = NodeProcess::start_in_netns(
        network.host(0),
        everywhere,
        None,
        &["--advertise-addr", &advertised, "--protected-mode", "yes"],
    );
    let port = guarded.addr.port();
    let (from_afar, loopback) = (SocketAddr::new(network.ip(0), port), SocketAddr::from(([127, 0, 0, 1], port)));
    let (served, stderr) = client_in(&network, 1, from_afar, &["set", "k", "v"]);
    assert!(!served && stderr.contains("protected mode") && stderr.contains("--protected-mode no"), "{stderr}");
    let (served, stderr) = client_in(&network, 0, loopback, &["set", "k", "v"]);
    assert!(served, "loopback is served: {stderr}");
    // A member from another host is refused at its hello just the same.
    let joining = NodeProcess::start_in_netns(
        network.host(1),
        SocketAddr::new(network.ip(1), 0),
        Some(from_afar),
        &["--join-timeout-ms", "3000"],
    );
    let mut joining = joining;
    assert!(!joining.wait_exit(CONVERGE).success(), "the join was refused");

    let open = NodeProcess::start_in_netns(
        network.host(0),
        everywhere,
        None,
        &["--advertise-addr", &advertised, "--protected-mode", "no"],
    );
    let (served, stderr) = client_in(&network, 1, SocketAddr::new(network.ip(0), open.addr.port()), &["set", "k", "v"]);
    assert!(served, "--protected-mode no serves every address: {stderr}");
}

/// Opens a connection to `addr` that asks for `/health` and keeps the connection
/// open; returns it with the status line it got.
fn keep_alive_health(addr: SocketAddr) -> (std::net::TcpStream, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(CONVERGE)).unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\nhost: kvs\r\n\r\n").unwrap();
    let mut head = [0u8; 12];
    let status = match stream.read_exact(&mut head) {
        Ok(()) => String::from_utf8_lossy(&head).into_owned(),
        Err(error) => error.to_string(),
    };
    (stream, status)
}

#[tokio::test]
async fn row_4_http_connections_share_the_budget_and_a_real_member_still_joins() {
    let mut flags = vec!["--http-port", "0", "--max-connections", "40"];
    flags.extend(FAST_FAILURE_DETECTION);
    let node = NodeProcess::start(None, &flags);
    let http: SocketAddr = node.http_url("/").trim_start_matches("http://").trim_end_matches('/').parse().unwrap();
    // 40 connections, 5 of them kept for peers: keep-alive clients of /health get the other 35.
    let held: Vec<_> = (0..60).map(|_| keep_alive_health(http)).collect();
    let served = held.iter().filter(|(_, status)| status == "HTTP/1.1 200").count();
    let refused = held.iter().filter(|(_, status)| status == "HTTP/1.1 503").count();
    assert_eq!((served, refused), (35, 25), "{:?}", held.iter().map(|(_, s)| s).collect::<Vec<_>>());
    // The peers' reserve stays free: a new member joins and replicates.
    let joining = NodeProcess::start(Some(node.addr), &FAST_FAILURE_DETECTION);
    let nodes = [node, joining];
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    drop(held);

    // A request whose headers come a byte every two seconds is cut off at the header deadline.
    let [node, _] = &nodes;
    let mut slow = std::net::TcpStream::connect(http).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let started = Instant::now();
    let closed = loop {
        assert!(started.elapsed() < CONVERGE, "the trickling connection was never closed");
        if slow.write_all(b"G").is_err() {
            break true;
        }
        let mut byte = [0u8; 1];
        match slow.read(&mut byte) {
            Ok(0) => break true,
            Ok(_) => break false,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break true,
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    assert!(closed, "answered a request never finished");
    assert!(node.status().await.is_ok());
}

#[tokio::test]
async fn row_8_a_table_full_of_fake_members_still_takes_a_real_one() {
    let mut flags = FAST_FAILURE_DETECTION.to_vec();
    flags.extend(["--max-members", "16"]);
    let victim = NodeProcess::start(None, &flags);
    let now = wall_ms();
    let fakes: Vec<(MemberInfo, u32)> = (0..2_000u64)
        .map(|i| {
            let addr = ([127, 0, 0, 2], 10_000 + i as u16).into();
            (MemberInfo { id: NodeId(0xfa4e_0000 + i), addr, generation: now, heartbeat: 0, left: false }, 0)
        })
        .collect();
    let mut impostor = Impostor::connect(victim.addr, 0xbad).await.unwrap();
    assert!(impostor.send(&PeerMessage::Gossip { view: View::Records(fakes), answer: false }).await);
    wait_until("the victim's table to fill with fakes", CONVERGE, || async {
        (victim.status().await.ok()?.members.len() >= 16).then_some(())
    })
    .await;
    let real = NodeProcess::start(Some(victim.addr), &flags);
    let real_addr = real.addr.to_string();
    wait_until("the victim to hold the real member alive", CONVERGE, || async {
        let status = victim.status().await.ok()?;
        status.members.iter().any(|m| m.addr == real_addr && m.state == MemberState::Alive).then_some(())
    })
    .await;
    real.client().await.set("k", "v").await.unwrap();
    victim.wait_for_value("k", Some("v"), CONVERGE).await;
}

/// A relay: whoever dials `listener` is connected, byte for byte, to `to`.
async fn relay(listener: tokio::net::TcpListener, to: SocketAddr) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

#[tokio::test]
async fn row_2_a_relay_between_two_members_gets_no_session() {
    let dir = tempfile::tempdir().unwrap();
    let secret = private_file(dir.path(), "secret", "the secret of this cluster\n");
    let flags = ["--cluster-secret-file", secret.to_str().unwrap()];
    let member = NodeProcess::start(None, &flags);
    // Whoever holds an address a node dials (a dead member's port, a fake member's address)
    // passes its hello and the proofs on to a real member.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relayed = listener.local_addr().unwrap();
    let relaying = tokio::spawn(relay(listener, member.addr));
    let mut dialer_flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
    dialer_flags.extend(["--join-timeout-ms".into(), "3000".into()]);
    let (code, stderr) = tokio::task::spawn_blocking(move || {
        let flags: Vec<&str> = dialer_flags.iter().map(String::as_str).collect();
        NodeProcess::failed_start_joining(relayed, &flags)
    })
    .await
    .unwrap();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("not this node"), "{stderr}");
    assert!(member.status().await.unwrap().replication.peer_hellos_refused >= 1);
    assert_eq!(member.status().await.unwrap().members.len(), 1, "nobody joined through the relay");
    relaying.abort();
}

/// Listens at `listener` and keeps every byte anyone sends it (a fake member, or whoever took a
/// dead member's port), answering nothing.
async fn record(listener: tokio::net::TcpListener, heard: std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    use tokio::io::AsyncReadExt;
    while let Ok((mut inbound, _)) = listener.accept().await {
        let heard = heard.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(Ok(n @ 1..)) = tokio::time::timeout(Duration::from_secs(5), inbound.read(&mut buf)).await {
                heard.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
    }
}

#[tokio::test]
async fn row_3_the_cluster_view_never_forwards_the_viewers_password() {
    let dir = tempfile::tempdir().unwrap();
    let private = |name: &str, text: &str| private_file(dir.path(), name, text).display().to_string();
    let (secret, users) =
        (private("secret", "the secret of this cluster\n"), private("users", "root admin hunter2pw\n"));
    let mut flags = vec!["--cluster-secret-file", &secret, "--users-file", &users, "--http-port", "0"];
    flags.extend(FAST_FAILURE_DETECTION);
    let first = NodeProcess::start(None, &flags);
    let second = NodeProcess::start(Some(first.addr), &flags);
    let mut doomed = NodeProcess::start(Some(first.addr), &flags);
    let nodes = [first, second];
    wait_until("three members", CONVERGE, || async {
        let credentials = Some(Credentials { user: "root".into(), password: "hunter2pw".into() });
        let options = ClientOptions { credentials, ..Default::default() };
        let status = Client::connect_with(&nodes[0].addr.to_string(), options).await.ok()?.status(0).await.ok()?;
        (status.members.len() == 3).then_some(())
    })
    .await;
    // The third member dies and someone else takes its port.
    let port = doomed.addr;
    doomed.kill();
    let listener = tokio::net::TcpListener::bind(port).await.unwrap();
    let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recording = tokio::spawn(record(listener, heard.clone()));

    let url = nodes[0].http_url("/cluster");
    let view =
        tokio::task::spawn_blocking(move || kvs_tests::http::get(&url, Some(("root", "hunter2pw")))).await.unwrap();
    assert_eq!(view.status, 200, "{}", view.body);
    let found: serde_json::Value = serde_json::from_str(&view.body).unwrap();
    let second = nodes[1].addr.to_string();
    let asked = found["nodes"].as_array().unwrap().iter().find(|n| n["addr"] == second.as_str()).cloned();
    assert!(asked.is_some_and(|n| n["status"]["node_id"].is_string()), "the live member was asked: {found}");
    let heard = heard.lock().unwrap().clone();
    assert!(!heard.is_empty(), "the view did ask at the dead member's address");
    assert!(!heard.windows(9).any(|w| w == b"hunter2pw"), "the password reached whoever holds the port");
    recording.abort();
}

/// A tmpfs of `bytes` mounted on a fresh directory, unmounted on drop; `None` (the test skips)
/// where mounting needs a root this process is not, unless `KVS_REQUIRE_NETNS` says the machine
/// must allow it (CI runs as root).
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(bytes: usize) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let size = format!("size={bytes}");
        let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", &size, "tmpfs"]).arg(dir.path()).output();
        match mounted {
            Ok(output) if output.status.success() => Some(SmallDisk(dir)),
            other => {
                assert!(std::env::var_os("KVS_REQUIRE_NETNS").is_none(), "mounting a tmpfs is required: {other:?}");
                eprintln!("SKIPPED: this test mounts a tmpfs, which needs root: {other:?}");
                None
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

#[tokio::test]
async fn row_11_no_write_waits_on_a_full_disk() {
    let Some(disk) = SmallDisk::mount(2 << 20) else { return };
    let data = disk.0.path().join("data");
    let ballast = disk.0.path().join("ballast");
    let data_dir = data.display().to_string();
    let args = ["--data-dir", &data_dir, "--fsync", "always"];
    let mut node = NodeProcess::start(None, &args);
    // Most of the disk taken by something else, to be given back later.
    std::fs::write(&ballast, vec![0u8; 1 << 20]).unwrap();
    let (mut writer, mut reader) = (node.client().await, node.client().await);
    let mut acknowledged = Vec::new();
    let in_flight = loop {
        let key = format!("k{}", acknowledged.len());
        let answer = tokio::time::timeout(Duration::from_secs(10), writer.set(key.clone(), vec![b'v'; 4096])).await;
        match answer.expect("a write waited for the disk") {
            Ok(_) => acknowledged.push(key),
            Err(ClientError::Server(reply)) => {
                assert_eq!(reply.code, ErrorCode::LogFailed, "{reply}");
                assert!(reply.message.contains("not durable"), "{reply}");
                break key;
            }
            Err(other) => panic!("{other}"),
        }
        assert!(acknowledged.len() < 1_000, "a 2 MiB disk took 4 MB");
    };
    // What readers may see meanwhile, as docs/how-it-works.md says: the write in flight is applied here.
    assert_eq!(reader.get(in_flight.clone()).await.unwrap().as_deref(), Some(&[b'v'; 4096][..]));
    let refused = writer.set("while full", "v").await.unwrap_err();
    assert!(matches!(&refused, ClientError::Server(r) if r.code == ErrorCode::LogFailed), "{refused}");

    // Space returns: writes are taken again, and the write in flight reaches the log.
    std::fs::remove_file(&ballast).unwrap();
    wait_until("writes to be accepted again", CONVERGE, || async { node.client().await.set("after", "v").await.ok() })
        .await;
    node.restart(None);
    let mut client = node.client().await;
    for key in acknowledged.iter().chain([&in_flight, &"after".to_string()]) {
        assert!(client.get(key.clone()).await.unwrap().is_some(), "{key} lost across the restart");
    }
    drop(node);
}
