//! `cargo xtask bench anti-entropy`: pause node C, change k entries on A and B, resume C; measure the
//! time until all digests match and the anti-entropy bytes moved, against the size of the changes.
//! Also the size of one idle anti-entropy round with n keys in sync.

use super::load::{key, pipeline, sets};
use clap::Args;
use kvs_client::{MemberState, ReplicationStatus};
use kvs_tests::{start_chain, wait_for_alive_members, wait_for_equal_digests, wait_until, NodeProcess};
use std::time::{Duration, Instant};

/// Anti-entropy bench flags.
#[derive(Args, Debug)]
pub struct AntiEntropyArgs {
    /// Keys loaded before the pause (16-byte keys, 100-byte values).
    #[arg(long, default_value_t = 1_000_000)]
    keys: usize,
    /// Changes made while C is paused, half on A and half on B: 40% updates, 40% new keys, 20% deletes.
    #[arg(long, default_value_t = 100_000)]
    changes: usize,
}

const VALUE_BYTES: usize = 100;
const DEADLINE: Duration = Duration::from_secs(600);

async fn sync_of(node: &NodeProcess) -> Result<ReplicationStatus, String> {
    node.status().await.map(|s| s.replication).map_err(|e| format!("status of {}: {e}", node.addr))
}

/// Anti-entropy bytes sent and rounds completed, summed over the nodes.
async fn totals(nodes: &[&NodeProcess]) -> Result<(u64, u64), String> {
    let (mut bytes, mut rounds) = (0, 0);
    for node in nodes {
        let sync = sync_of(node).await?;
        bytes += sync.anti_entropy_bytes_sent;
        rounds += sync.anti_entropy_rounds;
    }
    Ok((bytes, rounds))
}

/// The changes one writer makes: commands, and their raw size (key and value bytes).
fn changes(first_new: usize, existing: std::ops::Range<usize>, count: usize) -> (Vec<Vec<Vec<u8>>>, usize) {
    let value = vec![b'u'; VALUE_BYTES];
    let mut commands = Vec::with_capacity(count);
    let mut raw = 0;
    let span = existing.len().max(1);
    for i in 0..count {
        // Spread updates and deletes over the loaded keys; new keys above them.
        let old = existing.start + (i * 7919) % span;
        let command = match i % 5 {
            0 | 1 => vec![b"SET".to_vec(), key(old), value.clone()],
            2 | 3 => vec![b"SET".to_vec(), key(first_new + i), value.clone()],
            _ => vec![b"DEL".to_vec(), key(old)],
        };
        raw += command[1..].iter().map(Vec::len).sum::<usize>();
        commands.push(command);
    }
    (commands, raw)
}

/// Runs the scenario and prints the figures.
pub async fn run(args: AntiEntropyArgs) -> Result<(), String> {
    let flags = [
        "--redis-port",
        "0",
        "--suspect-after-ms",
        "1000",
        "--dead-after-ms",
        "3000",
        "--peer-write-timeout-ms",
        "1000",
        "--hello-timeout-ms",
        "1000",
    ];
    let nodes = start_chain(3, &flags);
    wait_for_alive_members(&nodes, 3, Duration::from_secs(20)).await;
    let all: Vec<&NodeProcess> = nodes.iter().collect();
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);

    let started = Instant::now();
    pipeline(a.redis().port(), sets(0..args.keys, &[b'v'; VALUE_BYTES]))?;
    wait_for_equal_digests(&all, DEADLINE).await;
    println!("loaded {} keys on 3 nodes in {:.1} s", args.keys, started.elapsed().as_secs_f64());

    let (bytes0, rounds0) = totals(&all).await?;
    wait_until("ten idle rounds", DEADLINE, || async { (totals(&all).await.ok()?.1 >= rounds0 + 10).then_some(()) })
        .await;
    let (bytes1, rounds1) = totals(&all).await?;
    let idle = (bytes1 - bytes0) as f64 / (rounds1 - rounds0) as f64;
    println!("idle anti-entropy round with {} keys in sync: {idle:.0} bytes (request + completion)", args.keys);

    // C's counters cannot be read while it is paused; they do not move then either.
    let c_before = sync_of(c).await?;
    c.signal(libc::SIGSTOP);
    let half = args.changes / 2;
    let (on_a, raw_a) = changes(args.keys, 0..args.keys / 2, half);
    let (on_b, raw_b) = changes(args.keys + half, args.keys / 2..args.keys, args.changes - half);
    let raw = raw_a + raw_b;
    pipeline(a.redis().port(), on_a.into_iter())?;
    pipeline(b.redis().port(), on_b.into_iter())?;
    let c_addr = c.addr.to_string();
    for observer in [a, b] {
        // Dead means its connections to C are gone and redials fail: nothing is queued for C.
        wait_until("C to be seen dead", DEADLINE, || async {
            let status = observer.status().await.ok()?;
            (status.members.iter().find(|m| m.addr == c_addr)?.state == MemberState::Dead).then_some(())
        })
        .await;
    }
    let before = [sync_of(a).await?, sync_of(b).await?, c_before];
    c.signal(libc::SIGCONT);
    let resumed = Instant::now();
    wait_for_equal_digests(&all, DEADLINE).await;
    let caught_up = resumed.elapsed();
    let after = [sync_of(a).await?, sync_of(b).await?, sync_of(c).await?];

    let delta = |f: fn(&ReplicationStatus) -> u64| -> u64 { after.iter().zip(&before).map(|(x, y)| f(x) - f(y)).sum() };
    let ae_bytes = delta(|s| s.anti_entropy_bytes_sent);
    let applied = after[2].anti_entropy_entries_applied - before[2].anti_entropy_entries_applied;
    let pushed_to_c = after[2].push_bytes_received - before[2].push_bytes_received;
    println!(
        "changes while C was paused: {} ({} on A, {} on B), raw size {raw} bytes (keys + values)",
        args.changes,
        half,
        args.changes - half
    );
    println!("C caught up in {:.2} s after resuming", caught_up.as_secs_f64());
    println!(
        "anti-entropy bytes moved (all nodes): {ae_bytes} = {:.2}x the raw size; entries anti-entropy applied on C: {applied}",
        ae_bytes as f64 / raw as f64
    );
    println!("push bytes C still received from socket buffers after resuming: {pushed_to_c}");
    println!("full resyncs: {}", delta(|s| s.full_resyncs));
    Ok(())
}
