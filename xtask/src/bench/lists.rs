//! `cargo xtask bench redis --lists-only`: lists under redis-benchmark against redis-server, one
//! kvs node and a 3-node cluster (pushes and pops, then reads of a filled list), and resident
//! memory per element for many small lists and one large one.

use super::rows::{command_rows, Target};

/// Elements of the list the read rows read.
const FILLED: usize = 10_000;

/// The write rows: pushes at both ends, then pops taking what they pushed.
pub(super) const WRITES: &[(&str, &[&str])] =
    &[("LPUSH", &["-t", "lpush"]), ("RPUSH", &["-t", "rpush"]), ("LPOP", &["-t", "lpop"]), ("RPOP", &["-t", "rpop"])];

/// The read rows on a filled list, and the memory rows.
pub(super) fn reads_and_memory(
    targets: &[Target],
    load: (usize, usize, usize),
    large_list: usize,
) -> Result<(), String> {
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
    super::collections::growth_rows(targets, ("small lists", "one large list", "element"), large, |key, range| {
        [b"RPUSH".to_vec(), key].into_iter().chain(range.map(|e| format!("e:{e:06}").into_bytes())).collect()
    })
}
