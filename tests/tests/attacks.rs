//! An outsider on the network against real nodes: each test replays one probe from the security
//! issue's table (its row number is in the test's name) and shows the node now refuses it and
//! keeps serving with its data.

use kvs_proto::peer::{Cursors, KeyedEntry};
use kvs_proto::{Entry, MemberInfo, NodeId, PeerMessage, Version, View};
use kvs_tests::impostor::{wall_ms, Impostor};
use kvs_tests::{wait_for_alive_members, wait_until, NodeProcess, FAST_FAILURE_DETECTION};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(30);

/// Waits until `node` has refused at least `n` peer messages (or entries in them).
async fn wait_for_refusals(node: &NodeProcess, n: u64) {
    wait_until(&format!("{} to refuse {n} peer messages", node.addr), CONVERGE, || async {
        (node.status().await.ok()?.replication.peer_messages_refused >= n).then_some(())
    })
    .await;
}

fn entry(key: &str, value: Vec<u8>, version: Version) -> KeyedEntry {
    (key.to_string().into(), Entry::plain(Some(value.into()), version, 1))
}

#[tokio::test]
async fn row_2_an_unsolicited_resync_demand_drops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    // Durable writes: the restart below is a kill, and what it checks is the log's, not the page cache's.
    let mut node = NodeProcess::start(None, &["--data-dir", &data_dir, "--fsync", "always"]);
    let mut client = node.client().await;
    for i in 0..500 {
        client.set(format!("k{i}"), "v").await.unwrap();
    }
    let origin = client.inspect("k0").await.unwrap().unwrap().version.node;
    let mut impostor = Impostor::connect(node.addr, 0xbad).await.unwrap();
    let seen_everything: Cursors = vec![(origin, 1 << 50)];
    assert!(impostor.send(&PeerMessage::ResyncRequired { request: 1, cursors: seen_everything }).await);
    wait_for_refusals(&node, 1).await;
    assert_eq!(node.status().await.unwrap().key_count, 500);
    node.restart(None);
    assert_eq!(node.status().await.unwrap().key_count, 500, "and the log still holds them");
}

#[tokio::test]
async fn row_3_unsolicited_cursors_do_not_stop_a_node_fetching_what_it_missed() {
    let nodes = kvs_tests::start_chain(2, &FAST_FAILURE_DETECTION);
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    let [a, b] = &nodes[..] else { unreachable!() };
    let b_origin = b.client().await.set("before", "v").await.unwrap().node;
    let mut impostor = Impostor::connect(a.addr, 0xbad).await.unwrap();
    let absurd: Cursors = vec![(b_origin, 1_000_000_000_000_000)];
    assert!(impostor.send(&PeerMessage::AntiEntropyDone { request: 1, cursors: absurd }).await);
    wait_for_refusals(a, 1).await;
    // A misses a push while frozen; only anti-entropy can bring it the write afterwards.
    a.signal(libc::SIGSTOP);
    wait_until("b to reset its connection to the frozen a", CONVERGE, || async {
        (b.status().await.ok()?.replication.peer_connections_reset >= 1).then_some(())
    })
    .await;
    b.client().await.set("missed", "while frozen").await.unwrap();
    a.signal(libc::SIGCONT);
    a.wait_for_value("missed", Some("while frozen"), CONVERGE).await;
}

#[tokio::test]
async fn row_4_a_forged_leave_with_a_huge_generation_does_not_stop_replication() {
    let nodes = kvs_tests::start_chain(2, &FAST_FAILURE_DETECTION);
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    let [a, b] = &nodes[..] else { unreachable!() };
    let b_status = b.status().await.unwrap();
    let b_id = NodeId(u64::from_str_radix(&b_status.node_id, 16).unwrap());
    let forged = MemberInfo { id: b_id, addr: b.addr, generation: u64::MAX - 1, heartbeat: 0, left: true };
    let mut impostor = Impostor::connect(a.addr, 0xbad).await.unwrap();
    let gossip = PeerMessage::Gossip { view: View::Records(vec![(forged.clone(), 0)]), answer: true };
    assert!(impostor.send(&gossip).await);
    assert!(impostor.send(&PeerMessage::Leave { member: forged }).await);
    a.client().await.set("after", "the forgery").await.unwrap();
    b.wait_for_value("after", Some("the forgery"), CONVERGE).await;
    let status = a.status().await.unwrap();
    let seen = status.members.iter().find(|m| m.addr == b.addr.to_string()).unwrap();
    assert_eq!(seen.state, kvs_proto::MemberState::Alive, "{status:?}");
}

#[tokio::test]
async fn row_5_twenty_thousand_fake_members_are_capped_and_then_forgotten() {
    let mut flags = FAST_FAILURE_DETECTION.to_vec();
    flags.extend(["--max-members", "16", "--reap-after-ms", "4000"]);
    let nodes = kvs_tests::start_chain(2, &flags);
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    let [a, b] = &nodes[..] else { unreachable!() };
    let now = wall_ms();
    let fakes: Vec<MemberInfo> = (0..20_000u64)
        .map(|i| MemberInfo {
            id: NodeId(0xfa4e_0000 + i),
            addr: ([127, 0, 0, 2], 10_000 + (i % 50_000) as u16).into(),
            generation: now,
            heartbeat: 0,
            left: false,
        })
        .collect();
    let mut impostor = Impostor::connect(a.addr, 0xbad).await.unwrap();
    let view = View::Records(fakes.into_iter().map(|info| (info, 0)).collect());
    assert!(impostor.send(&PeerMessage::Gossip { view, answer: true }).await);
    wait_until("a to take the fake members in", CONVERGE, || async {
        (a.status().await.ok()?.members.len() > 2).then_some(())
    })
    .await;
    assert!(a.status().await.unwrap().members.len() <= 16, "capped at --max-members");
    // Reads stay fast, and the fakes (never heard from again) are forgotten after the reap period.
    let started = std::time::Instant::now();
    a.client().await.set("k", "v").await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    b.wait_for_value("k", Some("v"), CONVERGE).await;
}

#[tokio::test]
async fn row_10_an_entry_with_a_forged_origin_is_refused() {
    let nodes = kvs_tests::start_chain(2, &FAST_FAILURE_DETECTION);
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    let [a, b] = &nodes[..] else { unreachable!() };
    let b_version = b.client().await.set("k", "acknowledged on b").await.unwrap();
    a.wait_for_value("k", Some("acknowledged on b"), CONVERGE).await;
    let ahead = Version { wall_ms: wall_ms() + 59_000, logical: 0, node: b_version.node };
    let mut impostor = Impostor::connect(a.addr, 0xbad).await.unwrap();
    let forged = PeerMessage::Entries { entries: vec![entry("k", b"forged".to_vec(), ahead)] };
    assert!(impostor.send(&forged).await);
    wait_for_refusals(a, 1).await;
    for node in &nodes {
        assert_eq!(node.get("k").await.unwrap().as_deref(), Some(&b"acknowledged on b"[..]));
    }
}

#[tokio::test]
async fn row_11_a_value_over_the_client_bound_is_refused_on_the_peer_path_too() {
    let node = NodeProcess::start(None, &[]);
    let mut impostor = Impostor::connect(node.addr, 0xbad).await.unwrap();
    let own = Version { wall_ms: wall_ms(), logical: 0, node: impostor.id };
    let big = PeerMessage::Entries { entries: vec![entry("big", vec![b'v'; 9 << 20], own)] };
    assert!(impostor.send(&big).await);
    wait_for_refusals(&node, 1).await;
    assert_eq!(node.get("big").await.unwrap(), None);
    // A node joining later is not fed anything it would refuse.
    let joiner = NodeProcess::start(Some(node.addr), &[]);
    node.client().await.set("small", "ok").await.unwrap();
    joiner.wait_for_value("small", Some("ok"), CONVERGE).await;
}

#[tokio::test]
async fn row_6_a_status_asking_for_four_billion_keys_lists_at_most_ten_thousand() {
    let node = NodeProcess::start(None, &[]);
    let mut client = node.client().await;
    for i in 0..20 {
        client.set(format!("k{i}"), "v").await.unwrap();
    }
    let status = client.status(u32::MAX).await.unwrap();
    assert_eq!((status.keys.len(), status.keys_truncated), (20, false));
    assert_eq!(client.get("k0").await.unwrap().as_deref(), Some(&b"v"[..]));
}

/// The node's CPU time so far (user + system), from /proc.
fn cpu_time(node: &NodeProcess) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", node.pid())).unwrap();
    // Fields after the command name (which may hold spaces) start at the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

/// Sends one RESP command on a raw socket and reads its reply's first line.
fn resp_command(stream: &mut std::net::TcpStream, args: &[&[u8]]) -> String {
    use std::io::{BufRead, Write};
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    stream.write_all(&out).unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stream).read_line(&mut line).unwrap();
    line
}

#[tokio::test]
async fn row_7_an_mget_whose_reply_would_pass_the_bound_is_refused_not_built() {
    let node = NodeProcess::start(None, &["--redis-port", "0"]);
    let mut stream = std::net::TcpStream::connect(node.redis()).unwrap();
    let big = vec![b'v'; 8 << 20];
    assert_eq!(resp_command(&mut stream, &[b"SET", b"big", &big]), "+OK\r\n");
    let mut args: Vec<&[u8]> = vec![b"MGET"];
    args.extend(std::iter::repeat_n(&b"big"[..], 400));
    let reply = resp_command(&mut stream, &args);
    assert!(reply.starts_with("-ERR reply of") && reply.contains("--max-reply-bytes"), "{reply}");
    assert_eq!(resp_command(&mut stream, &[b"STRLEN", b"big"]), ":8388608\r\n", "the connection serves on");
}

#[tokio::test]
async fn row_12_an_incomplete_command_trickled_in_is_not_parsed_again_from_its_start() {
    use std::io::Write;
    let node = NodeProcess::start(None, &["--redis-port", "0"]);
    let mut stream = std::net::TcpStream::connect(node.redis()).unwrap();
    // 4 MiB of one-byte arguments in 4,096 pieces: parsed from the start on every read, that is up
    // to a billion argument headers (seconds of CPU); resumed, half a million.
    let args = 4 << 20 >> 3;
    let mut command = format!("*{}\r\n", args + 1).into_bytes();
    command.extend((0..args).flat_map(|_| *b"$1\r\nx\r\n"));
    let before = cpu_time(&node);
    for piece in command.chunks(command.len() / 4096) {
        stream.write_all(piece).unwrap();
        stream.flush().unwrap();
        std::thread::yield_now();
    }
    // The last argument completes the command; its reply shows the node has read it all.
    stream.write_all(b"$1\r\ny\r\n").unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(&mut stream), &mut line).unwrap();
    assert!(line.starts_with("-ERR unknown command 'x'"), "{line}");
    let spent = cpu_time(&node) - before;
    assert!(spent < Duration::from_secs(2), "{spent:?} of CPU for a 4 MiB request");
}

#[tokio::test]
async fn row_8_idle_connections_cannot_keep_a_member_out_and_are_closed_when_idle() {
    use std::io::Write;
    let flags = ["--max-connections", "64", "--idle-timeout-ms", "3000", "--redis-port", "0"];
    let node = NodeProcess::start(None, &flags);
    // Every client slot taken: idle native clients after their hello, and unfinished RESP SETs.
    let mut held = Vec::new();
    for _ in 0..40 {
        held.push(node.client().await);
    }
    let mut unfinished = Vec::new();
    for _ in 0..40 {
        let mut stream = std::net::TcpStream::connect(node.redis()).unwrap();
        stream.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nunfinished").unwrap();
        unfinished.push(stream);
    }
    // A new member still joins: peers have a reserve clients cannot take.
    let joiner = NodeProcess::start(Some(node.addr), &[]);
    wait_for_alive_members(std::slice::from_ref(&joiner), 2, CONVERGE).await;
    // A client is told plainly that there is no room, rather than left hanging...
    let refused = kvs_client::Client::connect(&node.addr.to_string()).await;
    match refused {
        Err(kvs_client::ClientError::Rejected(reply)) => {
            assert_eq!(reply.code, kvs_proto::ErrorCode::TooManyConnections, "{reply}");
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
    // ...and gets in once the idle ones are closed.
    wait_until("the idle connections to be closed", CONVERGE, || async { node.status().await.ok() }).await;
    drop((held, unfinished));
}

#[tokio::test]
async fn row_9_idle_sockets_under_a_low_descriptor_limit_cannot_break_the_log() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let flags = ["--data-dir", &data_dir, "--redis-port", "0", "--compact-after-bytes", "65536"];
    let node = NodeProcess::start_with(([127, 0, 0, 1], 0).into(), None, &flags, |command| {
        // SAFETY: only calls setrlimit, which is async-signal-safe, between fork and exec.
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit { rlim_cur: 256, rlim_max: 256 };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    // 250 idle sockets: with what else the node holds open, more descriptors than it has. It
    // accepts only what its budget leaves room for; the rest wait in the listen backlog (128).
    let mut writer = std::net::TcpStream::connect(node.redis()).unwrap();
    let idle: Vec<_> = (0..250).map(|_| std::net::TcpStream::connect(node.redis()).unwrap()).collect();
    let value = vec![b'v'; 1000];
    for i in 0..200 {
        let key = format!("k{i}");
        assert_eq!(resp_command(&mut writer, &[b"SET", key.as_bytes(), &value]), "+OK\r\n");
    }
    // The log compacts (it needs a descriptor for the new file) and still writes. The compaction
    // runs on the log's writer thread after the writes that grew the log: waited for, not assumed.
    let mut persistence = || {
        use std::io::{Read, Write};
        writer.write_all(b"*2\r\n$4\r\nINFO\r\n$11\r\npersistence\r\n").unwrap();
        let mut buf = vec![0u8; 4096];
        let n = writer.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let mut info = String::new();
    kvs_tests::resp::eventually(CONVERGE, "a compaction to finish", || {
        info = persistence();
        !info.contains("aof_rewrites:0")
    });
    assert!(info.contains("aof_last_write_status:ok"), "{info}");
    drop(idle);
}

#[tokio::test]
async fn row_13_a_symlink_planted_in_the_data_dir_is_refused_and_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let data_dir = dir.display().to_string();
    let mut node = NodeProcess::start(None, &["--data-dir", &data_dir]);
    node.client().await.set("k", "v").await.unwrap();
    node.kill();
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for file in ["log", "node-id", "LOCK"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    // A `log` pointing at another file is refused, and that file is left alone.
    let victim = parent.path().join("victim");
    std::fs::write(&victim, b"not a log, and not kvs's to truncate").unwrap();
    std::fs::remove_file(dir.join("log")).unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("log")).unwrap();
    let (code, stderr) = NodeProcess::failed_start(node.addr, &["--data-dir", &data_dir]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("symbolic link"), "{stderr}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"not a log, and not kvs's to truncate");
}
