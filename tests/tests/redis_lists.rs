//! Lists on the Redis port, mirroring Redis 7.0's `unit/type/list.tcl` where it does not test
//! Redis's own encodings; and what no Redis test checks: a client blocked on one node wakes for a
//! push made on another, and pushes and pops made on different nodes at once converge.

use kvs_tests::raw_resp::{RawResp, Resp};
use kvs_tests::resp::{assert_error, eventually, run};
use kvs_tests::{start_chain, wait_for_alive_members, wait_for_equal_digests, wait_for_open_gates, NodeProcess};
use redis::Connection;
use std::time::Duration;

const READ: Duration = Duration::from_secs(10);
const CONVERGE: Duration = Duration::from_secs(30);
const WRONGTYPE: &str = "WRONGTYPE: Operation against a key holding the wrong kind of value";

fn node() -> (NodeProcess, Connection) {
    let node = NodeProcess::start_with_redis();
    let c = node.resp();
    (node, c)
}

fn range(c: &mut Connection, key: &str) -> Vec<String> {
    run(c, &["LRANGE", key, "0", "-1"])
}

fn words(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Waits until the node counts `n` blocked clients (INFO clients), as Redis's tests do before
/// they push.
fn wait_for_blocked(c: &mut Connection, n: usize) {
    eventually(READ, &format!("{n} blocked clients"), || {
        let info: String = run(c, &["INFO", "clients"]);
        info.contains(&format!("blocked_clients:{n}\r\n"))
    });
}

#[test]
fn pushes_pops_and_reads_follow_redis() {
    let (_node, c) = &mut node();
    // "LPUSH, RPUSH, LLENGTH, LINDEX, LPOP - ziplist"
    assert_eq!(run::<i64>(c, &["LPUSH", "l1", "aa"]), 1);
    assert_eq!(run::<i64>(c, &["RPUSH", "l1", "bb"]), 2);
    assert_eq!(run::<i64>(c, &["RPUSH", "l1", "cc"]), 3);
    assert_eq!(run::<i64>(c, &["LLEN", "l1"]), 3);
    assert_eq!(run::<Vec<String>>(c, &["LRANGE", "l1", "0", "-1"]), ["aa", "bb", "cc"]);
    assert_eq!(run::<String>(c, &["LINDEX", "l1", "1"]), "bb");
    assert_eq!(run::<String>(c, &["LINDEX", "l1", "-1"]), "cc");
    assert_eq!(run::<Option<String>>(c, &["LINDEX", "l1", "3"]), None);
    assert_eq!(run::<String>(c, &["RPOP", "l1"]), "cc");
    assert_eq!(run::<String>(c, &["LPOP", "l1"]), "aa");
    // "R/LPOP with the optional count argument"
    assert_eq!(run::<i64>(c, &["LPUSH", "count", "aa", "bb", "cc", "dd", "ee", "ff", "gg"]), 7);
    assert_eq!(run::<Vec<String>>(c, &["LPOP", "count", "0"]), Vec::<String>::new());
    assert_eq!(run::<Vec<String>>(c, &["LPOP", "count", "2"]), ["gg", "ff"]);
    assert_eq!(run::<Vec<String>>(c, &["RPOP", "count", "2"]), ["aa", "bb"]);
    assert_eq!(run::<Vec<String>>(c, &["RPOP", "count", "123"]), ["cc", "dd", "ee"]);
    assert_eq!(run::<i64>(c, &["EXISTS", "count"]), 0, "an emptied list is no key");
    assert_eq!(run::<Option<Vec<String>>>(c, &["LPOP", "count", "1"]), None);
    assert_error(c, &["LPOP", "forbarqaz", "-123"], "value is out of range");
    // "Variadic RPUSH/LPUSH", "LRANGE basics", "LRANGE out of range indexes including the full list"
    assert_eq!(run::<i64>(c, &["LPUSH", "v", "a", "b", "c", "d"]), 4);
    assert_eq!(run::<i64>(c, &["RPUSH", "v", "0", "1", "2", "3"]), 8);
    assert_eq!(range(c, "v"), ["d", "c", "b", "a", "0", "1", "2", "3"]);
    assert_eq!(run::<Vec<String>>(c, &["LRANGE", "v", "1", "-2"]), ["c", "b", "a", "0", "1", "2"]);
    assert_eq!(run::<Vec<String>>(c, &["LRANGE", "v", "-3", "-1"]), ["1", "2", "3"]);
    assert_eq!(run::<Vec<String>>(c, &["LRANGE", "v", "-100", "100"]).len(), 8);
    assert_eq!(run::<Vec<String>>(c, &["LRANGE", "v", "5", "1"]), Vec::<String>::new());
    assert_eq!(run::<Vec<String>>(c, &["LRANGE", "nosuchkey", "0", "1"]), Vec::<String>::new());
    // "LPUSHX, RPUSHX - generic", "LPUSHX, RPUSHX - ziplist"
    assert_eq!(run::<i64>(c, &["LPUSHX", "xlist", "a"]), 0);
    assert_eq!(run::<i64>(c, &["EXISTS", "xlist"]), 0);
    assert_eq!(run::<i64>(c, &["RPUSH", "xlist", "a", "c"]), 2);
    assert_eq!(run::<i64>(c, &["RPUSHX", "xlist", "d"]), 3);
    assert_eq!(run::<i64>(c, &["LPUSHX", "xlist", "b", "z"]), 5);
    assert_eq!(range(c, "xlist"), ["z", "b", "a", "c", "d"]);
    // "LPUSH against non-list value error", "Check type / encoding"
    let _: () = run(c, &["SET", "str", "x"]);
    assert_error(c, &["LPUSH", "str", "a"], WRONGTYPE);
    assert_error(c, &["LRANGE", "str", "0", "-1"], WRONGTYPE);
    assert_eq!(run::<String>(c, &["TYPE", "xlist"]), "list");
    // "DEL a list"
    assert_eq!(run::<i64>(c, &["DEL", "xlist"]), 1);
    assert_eq!((run::<i64>(c, &["EXISTS", "xlist"]), run::<i64>(c, &["LLEN", "xlist"])), (0, 0));
}

#[test]
fn edits_inside_a_list_follow_redis() {
    let (_node, c) = &mut node();
    // "LPOS basic usage", "LPOS RANK", "LPOS COUNT option", "LPOS COUNT + RANK option", "LPOS MAXLEN"
    let _: i64 = run(c, &["RPUSH", "mylist", "a", "b", "c", "1", "2", "3", "c", "c"]);
    assert_eq!(run::<i64>(c, &["LPOS", "mylist", "c"]), 2);
    assert_eq!(run::<i64>(c, &["LPOS", "mylist", "c", "RANK", "2"]), 6);
    assert_eq!(run::<Option<i64>>(c, &["LPOS", "mylist", "c", "RANK", "4"]), None);
    assert_eq!(run::<i64>(c, &["LPOS", "mylist", "c", "RANK", "-1"]), 7);
    assert_eq!(run::<i64>(c, &["LPOS", "mylist", "c", "RANK", "-2"]), 6);
    assert_error(c, &["LPOS", "mylist", "c", "RANK", "0"], "RANK can't be zero");
    assert_eq!(run::<Vec<i64>>(c, &["LPOS", "mylist", "c", "COUNT", "0"]), [2, 6, 7]);
    assert_eq!(run::<Vec<i64>>(c, &["LPOS", "mylist", "c", "COUNT", "2"]), [2, 6]);
    assert_eq!(run::<Vec<i64>>(c, &["LPOS", "mylist", "c", "COUNT", "0", "RANK", "2"]), [6, 7]);
    assert_eq!(run::<Vec<i64>>(c, &["LPOS", "mylist", "c", "COUNT", "2", "RANK", "-1"]), [7, 6]);
    assert_eq!(run::<Vec<i64>>(c, &["LPOS", "mylistxxx", "c", "COUNT", "0", "RANK", "2"]), Vec::<i64>::new());
    assert_eq!(run::<Vec<i64>>(c, &["LPOS", "mylist", "a", "COUNT", "0", "MAXLEN", "1"]), [0]);
    assert_eq!(run::<Vec<i64>>(c, &["LPOS", "mylist", "c", "COUNT", "0", "MAXLEN", "3"]), [2]);
    assert_eq!(run::<Vec<i64>>(c, &["LPOS", "mylist", "c", "COUNT", "0", "MAXLEN", "3", "RANK", "-1"]), [7, 6]);
    assert_eq!(run::<Vec<i64>>(c, &["LPOS", "mylist", "c", "COUNT", "0", "MAXLEN", "7", "RANK", "2"]), [6]);
    // "LSET", "LSET out of range index", "LSET against non existing key"
    let _: i64 = run(c, &["RPUSH", "s", "99", "98", "97", "96", "95"]);
    let _: () = run(c, &["LSET", "s", "1", "foo"]);
    let _: () = run(c, &["LSET", "s", "-1", "bar"]);
    assert_eq!(range(c, "s"), ["99", "foo", "97", "96", "bar"]);
    assert_error(c, &["LSET", "s", "10", "foo"], "index out of range");
    assert_error(c, &["LSET", "nosuchkey", "10", "foo"], "no such key");
    // "LINSERT", "LINSERT against non-list value error", "LINSERT against non existing key"
    let _: i64 = run(c, &["RPUSH", "ins", "a", "b", "c", "d"]);
    assert_eq!(run::<i64>(c, &["LINSERT", "ins", "before", "c", "zz"]), 5);
    assert_eq!(run::<i64>(c, &["LINSERT", "ins", "after", "c", "yy"]), 6);
    assert_eq!(run::<i64>(c, &["LINSERT", "ins", "after", "d", "dd"]), 7);
    assert_eq!(run::<i64>(c, &["LINSERT", "ins", "after", "bad", "ddd"]), -1);
    assert_eq!(run::<i64>(c, &["LINSERT", "ins", "before", "a", "aa"]), 8);
    assert_eq!(range(c, "ins"), ["aa", "a", "b", "zz", "c", "yy", "d", "dd"]);
    assert_eq!(run::<i64>(c, &["LINSERT", "nosuchkey", "before", "a", "x"]), 0);
    assert_error(c, &["LINSERT", "ins", "inside", "a", "x"], "syntax error");
    // Inserting again and again after one element keeps the order (positions between positions).
    for n in 0..300 {
        let _: i64 = run(c, &["LINSERT", "ins", "after", "aa", &format!("n{n}")]);
    }
    let after: Vec<String> = run(c, &["LRANGE", "ins", "1", "3"]);
    assert_eq!(after, ["n299", "n298", "n297"]);
    // "LREM remove all the occurrences", "LREM remove the first occurrence", "LREM starting from tail with negative count"
    let _: i64 = run(c, &["RPUSH", "rem", "foo", "bar", "foobar", "foobared", "zap", "bar", "test", "foo"]);
    assert_eq!(run::<i64>(c, &["LREM", "rem", "0", "bar"]), 2);
    assert_eq!(range(c, "rem"), ["foo", "foobar", "foobared", "zap", "test", "foo"]);
    assert_eq!(run::<i64>(c, &["LREM", "rem", "1", "foo"]), 1);
    assert_eq!(run::<i64>(c, &["RPUSH", "rem", "foo", "zap"]), 7);
    assert_eq!(run::<i64>(c, &["LREM", "rem", "-1", "foo"]), 1);
    assert_eq!(range(c, "rem"), ["foobar", "foobared", "zap", "test", "foo", "zap"]);
    assert_eq!(run::<i64>(c, &["LREM", "rem", "-2", "zap"]), 2);
    assert_eq!(range(c, "rem"), ["foobar", "foobared", "test", "foo"]);
    // "LTRIM basics", "LTRIM out of range negative end index"
    let _: i64 = run(c, &["RPUSH", "trim", "a", "b", "c", "d", "e"]);
    let _: () = run(c, &["LTRIM", "trim", "1", "-2"]);
    assert_eq!(range(c, "trim"), ["b", "c", "d"]);
    let _: () = run(c, &["LTRIM", "trim", "0", "-10"]);
    assert_eq!(run::<i64>(c, &["EXISTS", "trim"]), 0);
    // "LMOVE left right with the same list as src and dst", "RPOPLPUSH with the same list as src and dst"
    let _: i64 = run(c, &["RPUSH", "ring", "a", "b", "c"]);
    assert_eq!(run::<String>(c, &["RPOPLPUSH", "ring", "ring"]), "c");
    assert_eq!(range(c, "ring"), ["c", "a", "b"]);
    assert_eq!(run::<String>(c, &["LMOVE", "ring", "ring", "LEFT", "RIGHT"]), "c");
    assert_eq!(range(c, "ring"), ["a", "b", "c"]);
    assert_eq!(run::<String>(c, &["LMOVE", "ring", "other", "RIGHT", "LEFT"]), "c");
    assert_eq!(range(c, "other"), ["c"]);
    assert_eq!(run::<Option<String>>(c, &["LMOVE", "nosuchkey", "other", "LEFT", "LEFT"]), None);
    // "RPOPLPUSH against non list dst key" leaves the source as it was.
    let _: () = run(c, &["SET", "str2", "x"]);
    assert_error(c, &["RPOPLPUSH", "ring", "str2"], WRONGTYPE);
    assert_eq!(range(c, "ring"), ["a", "b"]);
    // "LMPOP with illegal argument", "LMPOP single existing list", "LMPOP multiple existing lists"
    assert_error(c, &["LMPOP", "0", "l", "LEFT"], "numkeys should be greater than 0");
    assert_error(c, &["LMPOP", "1", "l", "UP"], "syntax error");
    assert_error(c, &["LMPOP", "1", "l", "LEFT", "COUNT", "0"], "count should be greater than 0");
    let _: i64 = run(c, &["RPUSH", "m2", "a", "b", "c", "d"]);
    let got: (String, Vec<String>) = run(c, &["LMPOP", "2", "m1", "m2", "RIGHT", "COUNT", "3"]);
    assert_eq!(got, ("m2".to_string(), words(&["d", "c", "b"])));
    assert_eq!(run::<Option<(String, Vec<String>)>>(c, &["LMPOP", "1", "m1", "LEFT"]), None);
}

#[test]
fn a_blocked_pop_waits_for_a_push_and_times_out_without_one() {
    let (node, c) = &mut node();
    let blocked = &mut RawResp::connect(node.redis(), READ);
    // "BLPOP with variadic LPUSH"
    blocked.send(&["BLPOP", "blist", "0"]);
    wait_for_blocked(c, 1);
    assert_eq!(run::<i64>(c, &["LPUSH", "blist", "foo", "bar"]), 2);
    assert_eq!(blocked.read().words(), words(&["blist", "bar"]));
    assert_eq!(range(c, "blist"), ["foo"]);
    // "MULTI/EXEC is isolated from the point of view of BLPOP"
    let _: i64 = run(c, &["DEL", "blist"]);
    blocked.send(&["BLPOP", "blist", "0"]);
    wait_for_blocked(c, 1);
    let _: () =
        redis::pipe().atomic().cmd("LPUSH").arg("blist").arg("a").cmd("LPUSH").arg("blist").arg("b").query(c).unwrap();
    assert_eq!(blocked.read().words(), words(&["blist", "b"]));
    // "BLPOP, LPUSH + DEL should not awake blocked client"
    let _: i64 = run(c, &["DEL", "blist"]);
    blocked.send(&["BLPOP", "blist", "0"]);
    wait_for_blocked(c, 1);
    let _: () = redis::pipe().atomic().cmd("LPUSH").arg("blist").arg("a").cmd("DEL").arg("blist").query(c).unwrap();
    let _: i64 = run(c, &["LPUSH", "blist", "b"]);
    assert_eq!(blocked.read().words(), words(&["blist", "b"]));
    // "BLPOP with same key multiple times should work (issue #801)"
    blocked.send(&["BLPOP", "l1", "l2", "l2", "l1", "0"]);
    wait_for_blocked(c, 1);
    let _: i64 = run(c, &["LPUSH", "l2", "b"]);
    assert_eq!(blocked.read().words(), words(&["l2", "b"]));
    // "BLPOP with a timeout" answers null, as a null array.
    blocked.send(&["BLPOP", "empty", "0.05"]);
    assert_eq!(blocked.read(), Resp::Null);
    assert_error(c, &["BLPOP", "x", "-1"], "timeout is negative");
    assert_error(c, &["BLPOP", "x", "abc"], "timeout is not a float or out of range");
    // "BLMOVE (left, right) with a client BLPOPing the target list"
    let second = &mut RawResp::connect(node.redis(), READ);
    second.send(&["BLPOP", "target", "0"]);
    blocked.send(&["BLMOVE", "source", "target", "LEFT", "RIGHT", "0"]);
    wait_for_blocked(c, 2);
    let _: i64 = run(c, &["RPUSH", "source", "foo"]);
    assert_eq!(blocked.read(), Resp::Bulk(Some("foo".into())));
    assert_eq!(second.read().words(), words(&["target", "foo"]));
    assert_eq!(run::<i64>(c, &["EXISTS", "target"]), 0);
    // "BRPOPLPUSH with wrong destination type": the pushed element stays where it was.
    let _: () = run(c, &["SET", "wrongdst", "x"]);
    blocked.send(&["BRPOPLPUSH", "src", "wrongdst", "0"]);
    wait_for_blocked(c, 1);
    let _: i64 = run(c, &["RPUSH", "src", "foo"]);
    assert!(matches!(blocked.read(), Resp::Error(e) if e.starts_with("WRONGTYPE")));
    assert_eq!(range(c, "src"), ["foo"]);
    // "BLMPOP" pops with a count, and inside MULTI a blocking pop does not block.
    blocked.send(&["BLMPOP", "0", "2", "m1", "m2", "LEFT", "COUNT", "2"]);
    wait_for_blocked(c, 1);
    let _: i64 = run(c, &["RPUSH", "m2", "a", "b", "c"]);
    assert_eq!(blocked.read().words(), words(&["m2", "a", "b"]));
    let (got,): (Option<(String, String)>,) =
        redis::pipe().atomic().cmd("BLPOP").arg("nothing").arg("0").query(c).unwrap();
    assert_eq!(got, None);
    // CLIENT UNBLOCK ends a blocked pop as a timeout, or with an error.
    blocked.send(&["BLPOP", "nothing", "0"]);
    wait_for_blocked(c, 1);
    let id = blocked_id(c);
    assert_eq!(run::<i64>(c, &["CLIENT", "UNBLOCK", &id.to_string(), "ERROR"]), 1);
    assert!(matches!(blocked.read(), Resp::Error(e) if e.starts_with("UNBLOCKED")));
    // A client that closes while blocked is let go.
    let mut leaving = RawResp::connect(node.redis(), READ);
    leaving.send(&["BLPOP", "nothing", "0"]);
    wait_for_blocked(c, 1);
    drop(leaving);
    wait_for_blocked(c, 0);
}

#[test]
fn list_commands_fire_their_keyspace_events() {
    let (node, c) = &mut node();
    let _: () = run(c, &["CONFIG", "SET", "notify-keyspace-events", "El"]);
    let sub = &mut RawResp::connect(node.redis(), READ);
    sub.call(&["PSUBSCRIBE", "__keyevent@0__:*"]);
    let _: i64 = run(c, &["RPUSH", "src", "a", "b"]);
    let _: String = run(c, &["LMOVE", "src", "dst", "RIGHT", "LEFT"]);
    let _: () = run(c, &["LSET", "dst", "0", "c"]);
    let _: Option<String> = run(c, &["LPOP", "src"]);
    let heard: Vec<String> = (0..4).map(|_| sub.read().words()[2].clone()).collect();
    assert_eq!(heard, ["__keyevent@0__:rpush", "__keyevent@0__:rpop", "__keyevent@0__:lpush", "__keyevent@0__:lset"]);
    assert_eq!(sub.read().words()[2], "__keyevent@0__:lpop");
}

#[test]
fn blocked_clients_are_served_longest_waiting_first() {
    // "BLMPOP with multiple blocked clients": one push of several elements serves them in turn.
    let (node, c) = &mut node();
    let mut waiting: Vec<RawResp> = Vec::new();
    for (n, command) in [
        &["BLMPOP", "0", "2", "blist", "blist2", "LEFT", "COUNT", "1"][..],
        &["BLMPOP", "0", "2", "blist", "blist2", "RIGHT", "COUNT", "10"],
        &["BLMPOP", "0", "2", "blist", "blist2", "LEFT", "COUNT", "10"],
        &["BLMPOP", "0", "2", "blist", "blist2", "RIGHT", "COUNT", "1"],
    ]
    .into_iter()
    .enumerate()
    {
        let mut client = RawResp::connect(node.redis(), READ);
        client.send(command);
        wait_for_blocked(c, n + 1);
        waiting.push(client);
    }
    let _: () = redis::pipe()
        .atomic()
        .cmd("LPUSH")
        .arg(&["blist", "a", "b", "c", "d", "e"])
        .cmd("LPUSH")
        .arg(&["blist2", "1", "2", "3", "4", "5"])
        .query(c)
        .unwrap();
    assert_eq!(waiting[0].read().words(), words(&["blist", "e"]));
    assert_eq!(waiting[1].read().words(), words(&["blist", "a", "b", "c", "d"]));
    assert_eq!(waiting[2].read().words(), words(&["blist2", "5", "4", "3", "2", "1"]));
    wait_for_blocked(c, 1);
    assert_eq!(run::<i64>(c, &["RPUSH", "blist2", "x"]), 1);
    assert_eq!(waiting[3].read().words(), words(&["blist2", "x"]));
}

/// The id of the one client CLIENT LIST shows blocked.
fn blocked_id(c: &mut Connection) -> u64 {
    let list: String = run(c, &["CLIENT", "LIST"]);
    let line = list.lines().find(|l| l.contains(" flags=b ")).expect("a blocked client");
    line.split_whitespace().find_map(|f| f.strip_prefix("id=")).unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_pop_blocked_on_one_node_wakes_for_a_push_on_another_and_lists_converge() {
    let nodes = start_chain(3, &["--redis-port", "0"]);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    wait_for_open_gates(&nodes, CONVERGE).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let on_b = &mut b.resp();

    // BLPOP on B wakes for an RPUSH on A.
    let blocked = &mut RawResp::connect(b.redis(), CONVERGE);
    blocked.send(&["BLPOP", "jobs", "0"]);
    wait_for_blocked(on_b, 1);
    assert_eq!(run::<i64>(&mut a.resp(), &["RPUSH", "jobs", "from a"]), 1);
    assert_eq!(blocked.read().words(), words(&["jobs", "from a"]));
    // B's pop reaches A: the job is gone everywhere.
    eventually(CONVERGE, "the pop to reach A", || run::<i64>(&mut a.resp(), &["LLEN", "jobs"]) == 0);

    // Pushes on every node at once, at both ends: all kept, in one order everywhere.
    let connections: Vec<Connection> = nodes.iter().map(NodeProcess::resp).collect();
    let handles: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(i, mut conn)| {
            std::thread::spawn(move || {
                for n in 0..100u32 {
                    let end = if n.is_multiple_of(2) { "RPUSH" } else { "LPUSH" };
                    let _: i64 = run(&mut conn, &[end, "timeline", &format!("{i}-{n}")]);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    wait_for_equal_digests(&[a, b, c], CONVERGE).await;
    let lists: Vec<Vec<String>> = nodes.iter().map(|n| range(&mut n.resp(), "timeline")).collect();
    assert_eq!(lists[0].len(), 300, "every push is kept");
    assert!(lists.iter().all(|l| *l == lists[0]), "one order on every node");
    // Each node's own pushes keep their order among themselves.
    for i in 0..3 {
        let mine: Vec<&String> = lists[0].iter().filter(|v| v.starts_with(&format!("{i}-"))).collect();
        let rights: Vec<usize> =
            mine.iter().map(|v| v[2..].parse().unwrap()).filter(|n: &usize| n.is_multiple_of(2)).collect();
        assert!(rights.windows(2).all(|w| w[0] < w[1]), "node {i}'s RPUSHes out of order: {rights:?}");
    }

    // An LSET on A and one on C of the same element: the later wins everywhere.
    let _: () = run(&mut a.resp(), &["LSET", "timeline", "0", "from a"]);
    let _: () = run(&mut c.resp(), &["LSET", "timeline", "0", "from c"]);
    wait_for_equal_digests(&[a, b, c], CONVERGE).await;
    let heads: Vec<String> = nodes.iter().map(|n| run(&mut n.resp(), &["LINDEX", "timeline", "0"])).collect();
    assert!(heads.iter().all(|h| *h == heads[0]) && (heads[0] == "from a" || heads[0] == "from c"), "{heads:?}");
}
