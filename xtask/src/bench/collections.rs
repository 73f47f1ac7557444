//! `cargo xtask bench redis --collections-only`: hashes, sets and sorted sets under
//! redis-benchmark against redis-server, one kvs node and a 3-node cluster (writes, then reads),
//! and resident memory per element for many small hashes and one large one.

use super::redis_tools::rss_bytes;
use super::rows::{command_rows, Target};

/// Members the write rows spread over (`-r`), so the read rows find a populated collection.
const SPREAD: &str = "10000";

/// Runs the collection rows and the memory rows.
pub(super) async fn run(
    targets: &[Target],
    load: (usize, usize, usize),
    large_hash_fields: usize,
) -> Result<(), String> {
    println!("collection writes (redis-benchmark's own tests, -r {SPREAD})");
    command_rows(
        targets,
        load,
        &[
            ("HSET", &["-r", SPREAD, "-t", "hset"]),
            ("SADD", &["-r", SPREAD, "-t", "sadd"]),
            ("ZADD", &["-r", SPREAD, "-t", "zadd"]),
            ("SPOP", &["-r", SPREAD, "-t", "spop"]),
            ("ZPOPMIN", &["-r", SPREAD, "-t", "zpopmin"]),
        ],
    )?;
    // Fill again what the pops emptied, then read.
    for target in targets {
        super::load::pipeline(target.port, fill_commands())?;
    }
    println!("collection reads");
    command_rows(
        targets,
        load,
        &[
            ("HGET", &["-r", SPREAD, "HGET", "myhash", "element:__rand_int__"]),
            ("SISMEMBER", &["-r", SPREAD, "SISMEMBER", "myset", "element:__rand_int__"]),
            ("ZSCORE", &["-r", SPREAD, "ZSCORE", "myzset", "element:__rand_int__"]),
            ("ZRANGE 10", &["ZRANGE", "myzset", "0", "9"]),
        ],
    )?;
    memory(targets, large_hash_fields)
}

/// 10,000 members in each of redis-benchmark's hash, set and sorted set.
fn fill_commands() -> impl Iterator<Item = Vec<Vec<u8>>> {
    (0..10_000).flat_map(|i| {
        let member = format!("element:{i:012}").into_bytes();
        [
            vec![b"HSET".to_vec(), b"myhash".to_vec(), member.clone(), b"xxx".to_vec()],
            vec![b"SADD".to_vec(), b"myset".to_vec(), member.clone()],
            vec![b"ZADD".to_vec(), b"myzset".to_vec(), i.to_string().into_bytes(), member],
        ]
    })
}

/// Resident memory per element: 10,000 hashes of 100 fields (Redis keeps them as listpacks), and
/// one hash of `large` fields (a hash table), on fresh keys of every server.
fn memory(targets: &[Target], large: usize) -> Result<(), String> {
    println!("memory: resident set growth per hash field (8-byte fields, 8-byte values)");
    for target in targets {
        let before = rss_bytes(target.pid);
        let small = (0..10_000).map(|h| {
            let mut command = vec![b"HSET".to_vec(), format!("small:{h:06}").into_bytes()];
            for f in 0..100 {
                command.push(format!("f:{f:06}").into_bytes());
                command.push(format!("v:{f:06}").into_bytes());
            }
            command
        });
        super::load::pipeline(target.port, small)?;
        let middle = rss_bytes(target.pid);
        let big = (0..large.div_ceil(100)).map(|batch| {
            let mut command = vec![b"HSET".to_vec(), b"large".to_vec()];
            for f in batch * 100..((batch + 1) * 100).min(large) {
                command.push(format!("f:{f:06}").into_bytes());
                command.push(format!("v:{f:06}").into_bytes());
            }
            command
        });
        super::load::pipeline(target.port, big)?;
        let after = rss_bytes(target.pid);
        println!(
            "{:<13} small hashes {:>7.1} bytes/field, one large hash {:>7.1} bytes/field",
            target.name,
            middle.saturating_sub(before) as f64 / 1_000_000.0,
            after.saturating_sub(middle) as f64 / large.max(1) as f64
        );
    }
    Ok(())
}
