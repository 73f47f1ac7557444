//! HyperLogLogs, mirroring Redis 7.0's `unit/hyperloglog.tcl` where it does not test Redis's own
//! encodings' internals; and what the nodes of a cluster converge on when PFADDs race.

use kvs_tests::resp::{assert_error, eventually, run};
use kvs_tests::{start_chain, wait_for_alive_members, wait_for_equal_digests, wait_for_open_gates, NodeProcess};
use redis::Connection;
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(30);

fn node() -> (NodeProcess, Connection) {
    let node = NodeProcess::start(None, &["--redis-port", "0"]);
    let c = node.resp();
    (node, c)
}

fn pfadd(c: &mut Connection, key: &str, elements: &[String]) -> i64 {
    redis::cmd("PFADD").arg(key).arg(elements).query(c).unwrap()
}

fn elements(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:{i}")).collect()
}

#[test]
fn pfadd_reports_whether_a_register_rose_and_pfcount_is_exact_for_small_sets() {
    let (_node, c) = &mut node();
    // "PFADD without arguments creates an HLL value", "Approximated cardinality after creation is zero"
    assert_eq!(run::<i64>(c, &["PFADD", "hll"]), 1);
    assert_eq!(run::<i64>(c, &["EXISTS", "hll"]), 1);
    assert_eq!(run::<i64>(c, &["PFCOUNT", "hll"]), 0);
    // "PFADD returns 1 when at least 1 reg was modified", "... 0 when no reg was modified"
    assert_eq!(run::<i64>(c, &["PFADD", "hll", "a", "b", "c"]), 1);
    assert_eq!(run::<i64>(c, &["PFADD", "hll", "a", "b", "c"]), 0);
    // "PFADD works with empty string (regression)"
    assert_eq!(run::<i64>(c, &["PFADD", "hll", ""]), 1);
    // "PFCOUNT returns approximated cardinality of set"
    let _: i64 = run(c, &["DEL", "hll"]);
    let _: i64 = pfadd(c, "hll", &elements("x", 5));
    assert_eq!(run::<i64>(c, &["PFCOUNT", "hll"]), 5);
    let _: i64 = pfadd(c, "hll", &elements("y", 5));
    assert_eq!(run::<i64>(c, &["PFCOUNT", "hll"]), 10);
    assert_eq!(run::<String>(c, &["TYPE", "hll"]), "string");
}

#[test]
fn the_error_rate_is_within_bounds() {
    let (_node, c) = &mut node();
    // "HyperLogLog error rate within bounds": Redis allows 5% per 1,000 steps.
    let mut added = 0;
    for batch in 0..20 {
        let _: i64 = pfadd(c, "hll", &elements(&format!("b{batch}"), 1000));
        added += 1000;
        let count: i64 = run(c, &["PFCOUNT", "hll"]);
        let error = (count - added).abs() as f64 / added as f64;
        assert!(error < 0.05, "{count} for {added}");
    }
}

#[test]
fn pf_commands_refuse_what_is_not_a_hyperloglog() {
    let (_node, c) = &mut node();
    // "PFADD, PFCOUNT, PFMERGE type checking works"
    let _: () = run(c, &["SET", "foo", "bar"]);
    let wrong = "Key is not a valid HyperLogLog string value.";
    assert_error(c, &["PFADD", "foo", "1"], wrong);
    assert_error(c, &["PFCOUNT", "foo"], wrong);
    assert_error(c, &["PFMERGE", "bar", "foo"], wrong);
    assert_error(c, &["PFMERGE", "foo", "bar"], wrong);
    // A counter is a string of digits to Redis, and no HyperLogLog either.
    let _: i64 = run(c, &["INCR", "n"]);
    assert_error(c, &["PFADD", "n", "1"], wrong);
    assert_eq!(run::<String>(c, &["GET", "foo"]), "bar", "the value is left alone");
}

#[test]
fn pfmerge_makes_the_union_and_pfcount_of_many_keys_counts_it() {
    let (_node, c) = &mut node();
    // "PFMERGE results on the cardinality of union of sets"
    let _: i64 = pfadd(c, "hll1", &["a", "b", "c"].map(String::from));
    let _: i64 = pfadd(c, "hll2", &["b", "c", "d"].map(String::from));
    let _: i64 = pfadd(c, "hll3", &["c", "d", "e"].map(String::from));
    let _: () = run(c, &["PFMERGE", "hll", "hll1", "hll2", "hll3"]);
    assert_eq!(run::<i64>(c, &["PFCOUNT", "hll"]), 5);
    // "PFCOUNT multiple-keys merge returns cardinality of union"
    assert_eq!(run::<i64>(c, &["PFCOUNT", "hll1", "hll2", "hll3"]), 5);
    assert_eq!(run::<i64>(c, &["PFCOUNT", "hll1", "missing"]), 3);
    // "PFMERGE on missing source keys will create an empty destkey"
    let _: () = run(c, &["PFMERGE", "empty", "nothing", "none"]);
    assert_eq!((run::<i64>(c, &["EXISTS", "empty"]), run::<i64>(c, &["PFCOUNT", "empty"])), (1, 0));
    // "PFMERGE with one non-empty input key, dest key is actually one of the source keys"
    let _: () = run(c, &["PFMERGE", "hll1", "hll1"]);
    assert_eq!(run::<i64>(c, &["PFCOUNT", "hll1"]), 3);
}

#[test]
fn a_hyperloglog_reads_as_redis_string_and_such_a_string_is_one() {
    let (_node, c) = &mut node();
    let _: i64 = pfadd(c, "hll", &elements("e", 300));
    let text: Vec<u8> = run(c, &["GET", "hll"]);
    assert_eq!((&text[..4], text.len()), (&b"HYLL"[..], 12_304), "Redis's dense encoding");
    // Copied as a string (SET, or DUMP and RESTORE), it is the same HyperLogLog.
    let _: () = redis::cmd("SET").arg("copy").arg(&text).query(c).unwrap();
    let dumped: Vec<u8> = run(c, &["DUMP", "hll"]);
    let _: () = redis::cmd("RESTORE").arg("restored").arg(0).arg(&dumped).query(c).unwrap();
    let count: i64 = run(c, &["PFCOUNT", "hll"]);
    assert_eq!(run::<i64>(c, &["PFCOUNT", "copy"]), count);
    assert_eq!(run::<i64>(c, &["PFCOUNT", "restored"]), count);
    assert_eq!(pfadd(c, "copy", &elements("more", 50)), 1);
    assert!(run::<i64>(c, &["PFCOUNT", "copy"]) > count);
    // "PFDEBUG GETREG returns the HyperLogLog raw registers"
    let registers: Vec<i64> = run(c, &["PFDEBUG", "GETREG", "hll"]);
    assert_eq!(registers.len(), 16_384);
    assert!(registers.iter().filter(|r| **r > 0).count() > 250);
    // It expires like any key.
    let _: i64 = run(c, &["PEXPIRE", "hll", "1"]);
    eventually(CONVERGE, "hll to expire", || run::<i64>(c, &["EXISTS", "hll"]) == 0);
    assert_eq!(pfadd(c, "hll", &elements("e", 3)), 1);
    assert_eq!(run::<i64>(c, &["PFCOUNT", "hll"]), 3);
}

/// Waits until PFCOUNT of `key` is `want` on every node, and every node's string is the same.
fn wait_everywhere(nodes: &[NodeProcess], key: &str, want: i64) {
    let strings = || nodes.iter().map(|node| run::<Vec<u8>>(&mut node.resp(), &["GET", key])).collect::<Vec<_>>();
    eventually(CONVERGE, &format!("PFCOUNT {key} = {want} and one string on every node"), || {
        nodes.iter().all(|node| run::<i64>(&mut node.resp(), &["PFCOUNT", key]) == want)
            && strings().windows(2).all(|w| w[0] == w[1])
    });
}

#[tokio::test]
async fn concurrent_pfadds_on_every_node_all_count() {
    let nodes = start_chain(3, &["--redis-port", "0"]);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    wait_for_open_gates(&nodes, CONVERGE).await;
    std::thread::scope(|scope| {
        for (i, node) in nodes.iter().enumerate() {
            scope.spawn(move || {
                let c = &mut node.resp();
                for batch in 0..20 {
                    // Each node's own elements, and elements every node adds.
                    let _: i64 = pfadd(c, "visitors", &elements(&format!("n{i}b{batch}"), 50));
                    let _: i64 = pfadd(c, "visitors", &elements(&format!("shared{batch}"), 20));
                }
            });
        }
    });
    // The same elements added on one node make the sketch every node must end with.
    let reference = &mut nodes[0].resp();
    for i in 0..3 {
        for batch in 0..20 {
            let _: i64 = pfadd(reference, "reference", &elements(&format!("n{i}b{batch}"), 50));
            let _: i64 = pfadd(reference, "reference", &elements(&format!("shared{batch}"), 20));
        }
    }
    let want: i64 = run(reference, &["PFCOUNT", "reference"]);
    assert!((want - 3_400).abs() < 170, "{want}");
    eventually(CONVERGE, "node 0 to have every PFADD", || run::<i64>(reference, &["PFCOUNT", "visitors"]) == want);
    wait_everywhere(&nodes, "visitors", want);
    let reference_string: Vec<u8> = run(reference, &["GET", "reference"]);
    assert_eq!(run::<Vec<u8>>(reference, &["GET", "visitors"]), reference_string, "the same registers");
    wait_for_equal_digests(&nodes.iter().collect::<Vec<_>>(), CONVERGE).await;
}

#[tokio::test]
async fn a_paused_node_catches_up_with_what_it_missed() {
    let nodes = start_chain(3, &["--redis-port", "0"]);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    wait_for_open_gates(&nodes, CONVERGE).await;
    let _: i64 = pfadd(&mut nodes[0].resp(), "seen", &elements("before", 10));
    wait_everywhere(&nodes, "seen", 10);
    nodes[2].signal(libc::SIGSTOP);
    let _: i64 = pfadd(&mut nodes[0].resp(), "seen", &elements("on a", 10));
    let _: i64 = pfadd(&mut nodes[1].resp(), "seen", &elements("on b", 10));
    nodes[2].signal(libc::SIGCONT);
    wait_everywhere(&nodes, "seen", 30);
    // A DEL that saw the HyperLogLog removes it everywhere; a PFADD after it starts a new one.
    let _: i64 = run(&mut nodes[1].resp(), &["DEL", "seen"]);
    let c = &mut nodes[2].resp();
    eventually(CONVERGE, "the DEL to reach node 2", || run::<i64>(c, &["EXISTS", "seen"]) == 0);
    let _: i64 = pfadd(c, "seen", &elements("after", 4));
    wait_everywhere(&nodes, "seen", 4);
    wait_for_equal_digests(&nodes.iter().collect::<Vec<_>>(), CONVERGE).await;
}
