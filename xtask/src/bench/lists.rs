//! `cargo xtask bench redis --lists-only`: lists under redis-benchmark against redis-server, one
//! kvs node and a 3-node cluster (pushes and pops, then reads of a filled list), and resident
//! memory per element for many small lists and one large one.

use super::redis_tools::rss_bytes;
use super::rows::{command_rows, Target};

/// Elements of the list the read rows read.
const FILLED: usize = 10_000;

/// Runs the list rows and the memory rows.
pub(super) fn run(targets: &[Target], load: (usize, usize, usize), large_list: usize) -> Result<(), String> {
    println!("list writes (redis-benchmark's own tests)");
    command_rows(
        targets,
        load,
        &[
            ("LPUSH", &["-t", "lpush"]),
            ("RPUSH", &["-t", "rpush"]),
            ("LPOP", &["-t", "lpop"]),
            ("RPOP", &["-t", "rpop"]),
        ],
    )?;
    for target in targets {
        let fill = (0..FILLED / 100).map(|batch| {
            let mut command = vec![b"RPUSH".to_vec(), b"filled".to_vec()];
            command.extend((batch * 100..(batch + 1) * 100).map(|i| format!("element:{i:06}").into_bytes()));
            command
        });
        super::load::pipeline(target.port, fill)?;
    }
    println!("list reads (a list of {FILLED} elements)");
    command_rows(
        targets,
        load,
        &[
            ("LRANGE 100", &["LRANGE", "filled", "0", "99"]),
            ("LINDEX 0", &["LINDEX", "filled", "0"]),
            ("LLEN", &["LLEN", "filled"]),
        ],
    )?;
    memory(targets, large_list)
}

/// Resident memory per element: 10,000 lists of 100 elements (Redis packs each in one listpack
/// node of its quicklist), and one list of `large` elements, on fresh keys of every server.
fn memory(targets: &[Target], large: usize) -> Result<(), String> {
    println!("memory: resident set growth per list element (8-byte elements)");
    for target in targets {
        let before = rss_bytes(target.pid);
        let small = (0..10_000).map(|l| {
            let mut command = vec![b"RPUSH".to_vec(), format!("small:{l:06}").into_bytes()];
            command.extend((0..100).map(|e| format!("e:{e:06}").into_bytes()));
            command
        });
        super::load::pipeline(target.port, small)?;
        let middle = rss_bytes(target.pid);
        let big = (0..large.div_ceil(100)).map(|batch| {
            let mut command = vec![b"RPUSH".to_vec(), b"large".to_vec()];
            command.extend((batch * 100..((batch + 1) * 100).min(large)).map(|e| format!("e:{e:06}").into_bytes()));
            command
        });
        super::load::pipeline(target.port, big)?;
        let after = rss_bytes(target.pid);
        println!(
            "{:<13} small lists {:>7.1} bytes/element, one large list {:>7.1} bytes/element",
            target.name,
            middle.saturating_sub(before) as f64 / 1_000_000.0,
            after.saturating_sub(middle) as f64 / large.max(1) as f64
        );
    }
    Ok(())
}
