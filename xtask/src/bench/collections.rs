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
    let fields = |range: std::ops::Range<usize>| range.flat_map(|f| [format!("f:{f:06}"), format!("v:{f:06}")]);
    growth_rows(targets, ("small hashes", "one large hash", "field"), large, |key, range| {
        [b"HSET".to_vec(), key].into_iter().chain(fields(range).map(String::into_bytes)).collect()
    })
}

/// Prints each target's resident set growth per element for 10,000 collections of 100 elements,
/// then for one collection of `large`, written by `command(key, elements)` in commands of 100
/// elements; `names` says what each part and an element are called.
pub(super) fn growth_rows(
    targets: &[Target],
    (small_name, large_name, element): (&str, &str, &str),
    large: usize,
    command: impl Fn(Vec<u8>, std::ops::Range<usize>) -> Vec<Vec<u8>>,
) -> Result<(), String> {
    for target in targets {
        let before = rss_bytes(target.pid);
        let small = (0..10_000).map(|c| command(format!("small:{c:06}").into_bytes(), 0..100));
        super::load::pipeline(target.port, small)?;
        let middle = rss_bytes(target.pid);
        let big = (0..large.div_ceil(100))
            .map(|batch| command(b"large".to_vec(), batch * 100..((batch + 1) * 100).min(large)));
        super::load::pipeline(target.port, big)?;
        let after = rss_bytes(target.pid);
        println!(
            "{:<13} {small_name} {:>7.1} bytes/{element}, {large_name} {:>7.1} bytes/{element}",
            target.name,
            middle.saturating_sub(before) as f64 / 1_000_000.0,
            after.saturating_sub(middle) as f64 / large.max(1) as f64
        );
    }
    Ok(())
}
