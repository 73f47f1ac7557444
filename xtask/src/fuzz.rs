//! `cargo xtask fuzz [--minutes M] [--target NAME]`: every fuzz target in `fuzz/`, in turn.
//!
//! The targets need cargo-fuzz and the nightly toolchain (libFuzzer's instrumentation); the rest of
//! the project stays on stable. Before running, each target's corpus gets seeds made by today's
//! encoders (valid frames, commands and logs), so mutation starts from inputs that go deep.

use kvs_proto::encoding::encode;
use kvs_proto::peer::ClockSample;
use kvs_proto::{
    ClientRequest, ClientResponse, Entry, Hello, MemberInfo, NodeId, PeerMessage, Pulse, Role, Version, View,
};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The targets in `fuzz/fuzz_targets`.
pub const TARGETS: [&str; 3] = ["wire_frames", "resp_commands", "log_replay"];

/// Runs every target (or one) for its share of `minutes`; an error names what crashed.
pub fn run(workspace: &Path, minutes: f64, only: Option<String>) -> Result<(), String> {
    let fuzz = workspace.join("fuzz");
    let version = Command::new("cargo").args(["+nightly", "fuzz", "--version"]).output();
    if !version.is_ok_and(|out| out.status.success()) {
        return Err("cargo-fuzz is not installed: `cargo install cargo-fuzz` (it runs on the nightly toolchain)".into());
    }
    let targets: Vec<&str> = TARGETS.iter().copied().filter(|t| only.as_deref().is_none_or(|o| o == *t)).collect();
    if targets.is_empty() {
        return Err(format!("no fuzz target {:?}; there are {}", only, TARGETS.join(", ")));
    }
    let each = Duration::from_secs_f64(minutes * 60.0 / targets.len() as f64).max(Duration::from_secs(1));
    let mut crashed = Vec::new();
    println!("{:<14} {:>14} {:>10}  result", "target", "executions", "exec/s");
    for target in targets {
        let corpus = fuzz.join("corpus").join(target);
        write_seeds(workspace, target, &corpus)?;
        let output = Command::new("cargo")
            .current_dir(&fuzz)
            .args(["+nightly", "fuzz", "run", target])
            .arg(&corpus)
            .args(["--", &format!("-max_total_time={}", each.as_secs()), "-print_final_stats=1"])
            .output()
            .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
        let log = String::from_utf8_lossy(&output.stderr);
        let stat = |name: &str| -> u64 {
            log.lines()
                .find_map(|line| line.strip_prefix(&format!("stat::{name}:")).and_then(|v| v.trim().parse().ok()))
                .unwrap_or(0)
        };
        let executions = stat("number_of_executed_units");
        let rate = executions as f64 / each.as_secs_f64();
        let result = if output.status.success() {
            "no crash".to_string()
        } else if executions == 0 {
            eprintln!("{log}");
            return Err(format!("cargo fuzz could not build or start {target}"));
        } else {
            crashed.push(target);
            let artifact =
                log.lines().find(|l| l.contains("Test unit written to")).unwrap_or("(see cargo fuzz output)");
            eprintln!("{log}");
            format!("CRASH: {artifact}")
        };
        println!("{target:<14} {executions:>14} {rate:>10.0}  {result}");
    }
    if crashed.is_empty() {
        Ok(())
    } else {
        Err(format!("crashes in {}; each becomes a regression test", crashed.join(", ")))
    }
}

/// Writes a target's seeds (made by today's encoders) into its corpus directory.
fn write_seeds(workspace: &Path, target: &str, corpus: &Path) -> Result<(), String> {
    std::fs::create_dir_all(corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
    let seeds: Vec<Vec<u8>> = match target {
        "wire_frames" => wire_seeds(),
        "resp_commands" => resp_seeds(),
        "log_replay" => {
            let mut logs: Vec<Vec<u8>> = ["data-dir-v0", "data-dir-v1", "data-dir-v5"]
                .iter()
                .map(|dir| std::fs::read(workspace.join("tests/fixtures").join(dir).join("log")))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("reading the fixture logs: {e}"))?;
            logs.push(collection_log());
            logs
        }
        other => return Err(format!("no seeds for {other}")),
    };
    for (i, seed) in seeds.iter().enumerate() {
        let path = corpus.join(format!("seed-{i}"));
        std::fs::write(&path, seed).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// One length-delimited frame around `message`'s encoding.
fn frame(message: &impl serde::Serialize) -> Vec<u8> {
    let body = encode(message).expect("seed messages encode");
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

fn wire_seeds() -> Vec<Vec<u8>> {
    let member =
        MemberInfo { id: NodeId(7), addr: ([127, 0, 0, 1], 1234).into(), generation: 3, heartbeat: 9, left: false };
    let version = Version { wall_ms: 1_700_000_000_000, logical: 2, node: NodeId(7) };
    let entry = |value: Option<&'static [u8]>| {
        (bytes::Bytes::from_static(b"key"), Entry::plain(value.map(bytes::Bytes::from_static), version, 5))
    };
    let cursors = vec![(NodeId(7), 5), (NodeId(8), 11)];
    let clock = ClockSample { sent_ms: 1_700_000_000_000, echo: Some((1_699_999_999_990, 1_700_000_000_001)) };
    let mut seeds = vec![
        frame(&Hello::new(Role::Client)),
        frame(&Hello::new(Role::Peer {
            member: member.clone(),
            origin: member.id,
            nonce: [0; 32],
            dialed: member.addr,
        })),
        frame(&ClientRequest::<bytes::Bytes>::Set { key: "k".into(), value: "v".into() }),
        frame(&ClientRequest::<bytes::Bytes>::Get { key: "k".into() }),
        frame(&ClientRequest::<bytes::Bytes>::Delete { key: "k".into() }),
        frame(&ClientRequest::<bytes::Bytes>::Status { max_keys: 20 }),
        frame(&ClientResponse::<bytes::Bytes>::Value(Some("v".into()))),
        frame(&ClientRequest::<bytes::Bytes>::MGet { keys: vec!["k".into(), "j".into()] }),
        frame(&ClientRequest::<bytes::Bytes>::MSet { pairs: vec![("k".into(), "v".into())] }),
        frame(&PeerMessage::<(bytes::Bytes, Entry)>::Gossip {
            view: View::Records(vec![(member.clone(), 120)]),
            answer: true,
        }),
        frame(&PeerMessage::<(bytes::Bytes, Entry)>::Gossip {
            view: View::Pulses { roster: 0x5eed, pulses: vec![Pulse { index: 0, heartbeat: 9, age_ms: 40 }] },
            answer: false,
        }),
        frame(&PeerMessage::<(bytes::Bytes, Entry)>::Ping { generation: 3, heartbeat: 9, clock }),
        frame(&PeerMessage::Entries { entries: vec![entry(Some(b"value")), entry(None)] }),
        frame(&PeerMessage::Entries { entries: collection_entries() }),
        frame(&PeerMessage::<(bytes::Bytes, Entry)>::AntiEntropyRequest {
            request: 7,
            cursors: cursors.clone(),
            fresh: false,
        }),
        frame(&PeerMessage::AntiEntropyEntries { request: 7, entries: vec![entry(Some(b"v"))] }),
        frame(&PeerMessage::<(bytes::Bytes, Entry)>::AntiEntropyDone { request: 7, cursors: cursors.clone() }),
        frame(&PeerMessage::<(bytes::Bytes, Entry)>::ResyncRequired { request: 7, cursors }),
        frame(&PeerMessage::<(bytes::Bytes, Entry)>::Leave { member }),
        frame(&PeerMessage::<(bytes::Bytes, Entry)>::Published {
            messages: vec![kvs_proto::Publication { channel: "news".into(), message: "hi".into(), shard: false }],
        }),
        frame(&PeerMessage::<(bytes::Bytes, Entry)>::SyncedAsk { want: 5 }),
        frame(&PeerMessage::<(bytes::Bytes, Entry)>::Synced { upto: 5 }),
        frame(&ClientRequest::<bytes::Bytes>::Wait { replicas: 2, timeout_ms: 100 }),
        frame(&ClientRequest::<bytes::Bytes>::Watch { prefix: "user:".into() }),
    ];
    // A whole session's worth in one input, as a socket delivers it.
    seeds.push(seeds[..6].concat());
    seeds
}

/// Records of every collection kind: an element added once, one added on two nodes and then
/// removed, one incremented, a sorted set's header after a DEL and an expiry, and a list's header
/// and element (named by its position).
fn collection_records() -> Vec<kvs_store::Record> {
    use kvs_proto::{NodeId, Stamp};
    use kvs_store::collection::element::ElementState;
    use kvs_store::collection::header::Header;
    use kvs_store::collection::{element_key, CollectionType};
    let stamp = |wall: u64, node: u64| Stamp {
        version: Version { wall_ms: 1_700_000_000_000 + wall, logical: 0, node: NodeId(node) },
        seq: wall,
    };
    let key = element_key(CollectionType::Hash, b"h", b"field");
    let added = ElementState::added(stamp(2, 1), bytes::Bytes::from_static(b"value"));
    let mut both = added.clone();
    both.merge(&ElementState::added(stamp(3, 2), bytes::Bytes::from_static(b"other")));
    let removed = both.removal(stamp(4, 3));
    let header = Header::new(CollectionType::Hash, stamp(1, 1), Vec::new());
    let counted = added.incremented(&header.visibility(), stamp(5, 2), 7, 0.5).expect("no overflow");
    let mut sorted = Header::new(CollectionType::SortedSet, stamp(1, 1), vec![(NodeId(1), 7)]).written(stamp(6, 2));
    sorted.expired_before = 1_700_000_000_003;
    let position = kvs_store::collection::position::Position::pushed(None, true, NodeId(1), 8);
    let list_element = element_key(CollectionType::List, b"l", position.as_bytes());
    let list = Header::new(CollectionType::List, stamp(7, 1), Vec::new());
    vec![
        kvs_store::Record::collection(b"l", &list, None),
        kvs_store::Record::element(&list_element, &ElementState::added(stamp(8, 1), bytes::Bytes::from_static(b"job"))),
        kvs_store::Record::collection(b"h", &header, None),
        kvs_store::Record::element(&key, &added),
        kvs_store::Record::element(&key, &both),
        kvs_store::Record::element(&key, &removed),
        kvs_store::Record::element(&key, &counted),
        kvs_store::Record::collection(b"z", &sorted, Some(1_700_000_000_099)),
    ]
}

/// [`collection_records`] as a peer sends them.
fn collection_entries() -> Vec<(bytes::Bytes, Entry)> {
    collection_records().iter().map(kvs_store::Record::to_keyed_entry).collect()
}

/// A log in today's format holding [`collection_records`].
fn collection_log() -> Vec<u8> {
    kvs_store::log::log_bytes(&collection_records())
}

fn resp_seeds() -> Vec<Vec<u8>> {
    [
        &b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"[..],
        b"HSET h f v g w\r\nZADD z GT CH 1.5 m\r\nSADD s a b\r\nZRANGE z 0 -1 BYSCORE LIMIT 0 1 WITHSCORES\r\n",
        b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*1\r\n$4\r\nPING\r\n",
        b"PING\r\nSET k v\r\nGET k\r\n",
        b"*0\r\n\r\n*-1\r\n",
        b"*2\r\n$4\r\nMGET\r\n$-1\r\n",
        b"SUBSCRIBE a b\r\nPSUBSCRIBE n*\r\nPING\r\nPUBLISH a hi\r\nSPUBLISH s x\r\nPUBSUB NUMSUB a\r\nUNSUBSCRIBE\r\n",
        b"HELLO 3\r\nCLIENT TRACKING on BCAST PREFIX a PREFIX b NOLOOP\r\nCONFIG SET notify-keyspace-events KEA\r\n",
        b"WAIT 1 0\r\nWAITAOF 0 1 10\r\nCLIENT CACHING yes\r\nCLIENT TRACKINGINFO\r\n",
        b"RPUSH l a b c\r\nLPUSH l z\r\nLINSERT l BEFORE b x\r\nLSET l -1 y\r\nLRANGE l 0 -1\r\nLPOS l a RANK -1 COUNT 0 MAXLEN 9\r\n",
        b"LMOVE l m LEFT RIGHT\r\nLMPOP 2 l m RIGHT COUNT 2\r\nLREM l -1 a\r\nLTRIM l 1 -2\r\nBLPOP l m 0.01\r\n",
    ]
    .iter()
    .map(|seed| seed.to_vec())
    .collect()
}
