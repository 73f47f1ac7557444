//! CLUSTER KEYSLOT, COUNTKEYSINSLOT and GETKEYSINSLOT against real nodes: the slot of a key as
//! Redis Cluster computes it, and what a slot holds on a node that learned its keys by
//! replication (issue 30's first step; see docs/partitioning.md).

use kvs_tests::resp::{assert_error, eventually, run};
use kvs_tests::{start_chain, wait_for_equal_digests, wait_for_open_gates, NodeProcess};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(30);

#[test]
fn keyslot_is_redis_clusters() {
    let node = NodeProcess::start(None, &["--redis-port", "0"]);
    let c = &mut node.resp();
    // redis-server 7's own answers.
    assert_eq!(run::<i64>(c, &["CLUSTER", "KEYSLOT", "foo"]), 12182);
    assert_eq!(run::<i64>(c, &["CLUSTER", "KEYSLOT", "123456789"]), 12739);
    assert_eq!(run::<i64>(c, &["CLUSTER", "KEYSLOT", ""]), 0);
    let tagged = run::<i64>(c, &["CLUSTER", "KEYSLOT", "{user1000}.following"]);
    assert_eq!(tagged, run::<i64>(c, &["CLUSTER", "KEYSLOT", "user1000"]));
    assert_eq!(run::<i64>(c, &["CLUSTER", "KEYSLOT", "foo{}{bar}"]), 8363, "an empty tag is no tag");
    assert_error(c, &["CLUSTER", "KEYSLOT"], "wrong number of arguments for 'cluster|keyslot' command");
    assert_error(c, &["CLUSTER", "COUNTKEYSINSLOT", "16384"], "Invalid slot");
    assert_error(c, &["CLUSTER", "COUNTKEYSINSLOT", "-1"], "Invalid slot");
    assert_error(c, &["CLUSTER", "COUNTKEYSINSLOT", "x"], "value is not an integer");
    assert_error(c, &["CLUSTER", "GETKEYSINSLOT", "1", "-1"], "Invalid slot or number of keys");
    // Until the key space is partitioned the node answers as redis-server outside cluster mode.
    assert_error(c, &["CLUSTER", "SLOTS"], "cluster support disabled");
    let help: Vec<String> = run(c, &["CLUSTER", "HELP"]);
    assert!(help.iter().any(|line| line.starts_with("GETKEYSINSLOT")), "{help:?}");
}

#[tokio::test]
async fn a_slot_holds_the_keys_that_hash_to_it_on_every_node() {
    let nodes = start_chain(2, &["--redis-port", "0"]);
    // A database other than 0 waits for its feature gate.
    wait_for_open_gates(&nodes, CONVERGE).await;
    let (writer, reader) = (&mut nodes[0].resp(), &mut nodes[1].resp());
    // Four live keys of one slot, by their tag: two strings, a counter and a hash of three
    // fields (one key, not four); an expired key and a key of another database in the same slot
    // are not counted in database 0.
    let _: () = run(writer, &["MSET", "{u7}:name", "ada", "{u7}:mail", "a@example.org"]);
    let _: i64 = run(writer, &["INCR", "{u7}:visits"]);
    let _: i64 = run(writer, &["HSET", "{u7}:profile", "a", "1", "b", "2", "c", "3"]);
    let _: () = run(writer, &["SET", "{u7}:gone", "x", "PX", "1"]);
    let _: () = run(writer, &["SELECT", "3"]);
    let _: () = run(writer, &["SET", "{u7}:other-db", "x"]);
    let _: () = run(writer, &["SELECT", "0"]);
    // A key of another slot is not counted.
    let _: () = run(writer, &["SET", "{u8}:name", "bob"]);
    wait_for_equal_digests(&nodes.iter().collect::<Vec<_>>(), CONVERGE).await;

    let slot = run::<i64>(reader, &["CLUSTER", "KEYSLOT", "u7"]).to_string();
    eventually(CONVERGE, "the expired key to be gone from its slot", || {
        run::<i64>(reader, &["CLUSTER", "COUNTKEYSINSLOT", &slot]) == 4
    });
    let mut keys: Vec<String> = run(reader, &["CLUSTER", "GETKEYSINSLOT", &slot, "100"]);
    keys.sort();
    assert_eq!(keys, ["{u7}:mail", "{u7}:name", "{u7}:profile", "{u7}:visits"]);
    let two: Vec<String> = run(reader, &["CLUSTER", "GETKEYSINSLOT", &slot, "2"]);
    assert_eq!(two.len(), 2, "the count bounds the answer");
    assert!(two.iter().all(|key| keys.contains(key)), "{two:?}");

    // The selected database's keys, as its clients name them.
    let _: () = run(reader, &["SELECT", "3"]);
    assert_eq!(run::<i64>(reader, &["CLUSTER", "COUNTKEYSINSLOT", &slot]), 1);
    assert_eq!(run::<Vec<String>>(reader, &["CLUSTER", "GETKEYSINSLOT", &slot, "10"]), ["{u7}:other-db"]);

    // Removing keys empties their slot.
    let _: () = run(reader, &["SELECT", "0"]);
    let _: i64 = run(writer, &["DEL", "{u7}:name", "{u7}:mail", "{u7}:visits", "{u7}:profile"]);
    eventually(CONVERGE, "the deletes to reach the other node", || {
        run::<i64>(reader, &["CLUSTER", "COUNTKEYSINSLOT", &slot]) == 0
    });
    assert!(run::<Vec<String>>(reader, &["CLUSTER", "GETKEYSINSLOT", &slot, "10"]).is_empty());
}
