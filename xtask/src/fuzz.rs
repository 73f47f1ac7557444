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
        "log_replay" => ["data-dir-v0", "data-dir-v1"]
            .iter()
            .map(|dir| std::fs::read(workspace.join("tests/fixtures").join(dir).join("log")))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("reading the fixture logs: {e}"))?,
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
        frame(&PeerMessage::<(bytes::Bytes, Entry)>::AntiEntropyRequest {
            request: 7,
            cursors: cursors.clone(),
            fresh: false,
        }),
        frame(&PeerMessage::AntiEntropyEntries { request: 7, entries: vec![entry(Some(b"v"))] }),
        frame(&PeerMessage::<(bytes::Bytes, Entry)>::AntiEntropyDone { request: 7, cursors: cursors.clone() }),
        frame(&PeerMessage::<(bytes::Bytes, Entry)>::ResyncRequired { request: 7, cursors }),
        frame(&PeerMessage::<(bytes::Bytes, Entry)>::Leave { member }),
    ];
    // A whole session's worth in one input, as a socket delivers it.
    seeds.push(seeds[..6].concat());
    seeds
}

fn resp_seeds() -> Vec<Vec<u8>> {
    [
        &b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"[..],
        b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*1\r\n$4\r\nPING\r\n",
        b"PING\r\nSET k v\r\nGET k\r\n",
        b"*0\r\n\r\n*-1\r\n",
        b"*2\r\n$4\r\nMGET\r\n$-1\r\n",
    ]
    .iter()
    .map(|seed| seed.to_vec())
    .collect()
}
