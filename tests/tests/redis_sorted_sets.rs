//! Sorted sets on the Redis port, mirroring Redis 7.0's `unit/type/zset.tcl` where it does not
//! test Redis's own encodings; and ZINCRBYs made on two nodes summing.

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

fn range(c: &mut Connection, args: &[&str]) -> Vec<String> {
    run(c, args)
}

#[test]
fn zadd_sets_scores_by_its_options_and_zincrby_adds() {
    let (_node, c) = &mut node();
    // "ZSET basic ZADD and score update", "ZSET element can't be set to NaN with ZADD"
    assert_eq!(run::<i64>(c, &["ZADD", "z", "10", "x", "20", "y", "30", "z"]), 3);
    assert_eq!(range(c, &["ZRANGE", "z", "0", "-1"]), ["x", "y", "z"]);
    assert_eq!(run::<i64>(c, &["ZADD", "z", "1", "y"]), 0);
    assert_eq!(range(c, &["ZRANGE", "z", "0", "-1"]), ["y", "x", "z"]);
    assert_error(c, &["ZADD", "z", "nan", "x"], "not a valid float");
    // "ZADD XX option without key", "ZADD XX updates existing elements score", "ZADD NX …"
    assert_eq!(run::<i64>(c, &["ZADD", "z", "XX", "5", "new"]), 0);
    assert_eq!(run::<Option<String>>(c, &["ZSCORE", "z", "new"]), None);
    assert_eq!(run::<i64>(c, &["ZADD", "z", "NX", "5", "x", "6", "new"]), 1);
    assert_eq!(run::<String>(c, &["ZSCORE", "z", "x"]), "10", "NX left x alone");
    // "ZADD GT updates existing elements when new scores are greater", "ZADD CH option changes return value to all changed elements"
    assert_eq!(run::<i64>(c, &["ZADD", "z", "GT", "CH", "5", "x", "50", "z"]), 1);
    assert_eq!(run::<String>(c, &["ZSCORE", "z", "z"]), "50");
    assert_eq!(run::<i64>(c, &["ZADD", "z", "LT", "CH", "1", "x"]), 1);
    assert_error(c, &["ZADD", "z", "NX", "XX", "1", "x"], "not compatible");
    assert_error(c, &["ZADD", "z", "GT", "LT", "1", "x"], "not compatible");
    // "ZINCRBY - can create a new sorted set", "ZINCRBY - increment and decrement", "ZADD INCR works like ZINCRBY"
    assert_eq!(run::<String>(c, &["ZINCRBY", "inc", "1", "m"]), "1");
    assert_eq!(run::<String>(c, &["ZINCRBY", "inc", "-5.5", "m"]), "-4.5");
    assert_eq!(run::<String>(c, &["ZADD", "inc", "INCR", "10", "m"]), "5.5");
    assert_eq!(run::<Option<String>>(c, &["ZADD", "inc", "INCR", "NX", "1", "m"]), None);
    assert_error(c, &["ZADD", "inc", "INCR", "1", "a", "2", "b"], "single increment-element pair");
    // "ZSCORE/ZMSCORE", "ZCARD basics", "ZREM removes key after last element is removed"
    let scores: Vec<Option<String>> = run(c, &["ZMSCORE", "z", "x", "nope"]);
    assert_eq!(scores, vec![Some("1".to_string()), None]);
    assert_eq!(run::<i64>(c, &["ZCARD", "z"]), 4);
    assert_eq!(run::<i64>(c, &["ZREM", "inc", "m", "nope"]), 1);
    assert_eq!(run::<i64>(c, &["EXISTS", "inc"]), 0);
    assert_eq!(run::<String>(c, &["TYPE", "z"]), "zset");
}

#[test]
fn ranges_by_rank_score_and_lex_and_their_counts() {
    let (_node, c) = &mut node();
    let _: i64 = run(c, &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
    // "ZRANGE basics", "ZREVRANGE basics", "ZRANK - after deletion"
    assert_eq!(range(c, &["ZRANGE", "z", "1", "-2"]), ["b", "c"]);
    assert_eq!(range(c, &["ZREVRANGE", "z", "0", "1"]), ["d", "c"]);
    assert_eq!(range(c, &["ZRANGE", "z", "0", "0", "WITHSCORES"]), ["a", "1"]);
    assert_eq!((run::<i64>(c, &["ZRANK", "z", "c"]), run::<i64>(c, &["ZREVRANK", "z", "c"])), (2, 1));
    assert_eq!(run::<Option<i64>>(c, &["ZRANK", "z", "nope"]), None);
    // "ZRANGEBYSCORE/ZREVRANGEBYSCORE/ZCOUNT basics", with exclusive ends and LIMIT
    assert_eq!(range(c, &["ZRANGEBYSCORE", "z", "(1", "3"]), ["b", "c"]);
    assert_eq!(range(c, &["ZREVRANGEBYSCORE", "z", "+inf", "(2"]), ["d", "c"]);
    assert_eq!(range(c, &["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "1", "2"]), ["b", "c"]);
    assert_eq!(run::<i64>(c, &["ZCOUNT", "z", "2", "(4"]), 2);
    assert_eq!(range(c, &["ZRANGE", "z", "(4", "2", "BYSCORE", "REV"]), ["c", "b"]);
    assert_error(c, &["ZRANGEBYSCORE", "z", "x", "1"], "min or max is not a float");
    // "ZRANGEBYLEX/ZREVRANGEBYLEX/ZLEXCOUNT basics"
    let _: i64 = run(c, &["ZADD", "lex", "0", "alpha", "0", "bar", "0", "cool", "0", "down"]);
    assert_eq!(range(c, &["ZRANGEBYLEX", "lex", "[bar", "(down"]), ["bar", "cool"]);
    assert_eq!(range(c, &["ZREVRANGEBYLEX", "lex", "+", "(cool"]), ["down"]);
    assert_eq!(run::<i64>(c, &["ZLEXCOUNT", "lex", "-", "+"]), 4);
    assert_error(c, &["ZRANGEBYLEX", "lex", "bar", "+"], "not valid string range item");
    // "ZRANGESTORE basic", "ZRANGESTORE BYSCORE REV LIMIT"
    assert_eq!(run::<i64>(c, &["ZRANGESTORE", "dst", "z", "0", "-1"]), 4);
    assert_eq!(run::<i64>(c, &["ZRANGESTORE", "dst", "z", "5", "0", "BYSCORE", "REV", "LIMIT", "0", "2"]), 2);
    assert_eq!(range(c, &["ZRANGE", "dst", "0", "-1"]), ["c", "d"]);
    // "ZREMRANGEBYSCORE basics", "ZREMRANGEBYRANK basics", "ZREMRANGEBYLEX basics"
    assert_eq!(run::<i64>(c, &["ZREMRANGEBYSCORE", "z", "(3", "+inf"]), 1);
    assert_eq!(run::<i64>(c, &["ZREMRANGEBYRANK", "z", "0", "0"]), 1);
    assert_eq!(range(c, &["ZRANGE", "z", "0", "-1"]), ["b", "c"]);
    assert_eq!(run::<i64>(c, &["ZREMRANGEBYLEX", "lex", "[alpha", "[bar"]), 2);
    assert_eq!(range(c, &["ZRANGE", "lex", "0", "-1"]), ["cool", "down"]);
}

#[test]
fn pops_random_members_and_combinations() {
    let (_node, c) = &mut node();
    let _: i64 = run(c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    // "ZPOPMIN basic", "ZPOPMAX with count"
    assert_eq!(range(c, &["ZPOPMIN", "z"]), ["a", "1"]);
    assert_eq!(range(c, &["ZPOPMAX", "z", "5"]), ["c", "3", "b", "2"]);
    assert_eq!(run::<i64>(c, &["EXISTS", "z"]), 0);
    // "ZRANDMEMBER with <count>"
    let _: i64 = run(c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(range(c, &["ZRANDMEMBER", "z", "-5"]).len(), 5);
    assert_eq!(range(c, &["ZRANDMEMBER", "z", "10", "WITHSCORES"]).len(), 6);
    // "ZUNIONSTORE basics", "ZINTERSTORE with weights", "ZINTER with AGGREGATE MAX", "ZDIFF basics"
    let _: i64 = run(c, &["ZADD", "y", "10", "b", "20", "c", "30", "d"]);
    assert_eq!(run::<i64>(c, &["ZUNIONSTORE", "u", "2", "z", "y"]), 4);
    assert_eq!(range(c, &["ZRANGE", "u", "0", "-1", "WITHSCORES"]), ["a", "1", "b", "12", "c", "23", "d", "30"]);
    assert_eq!(run::<i64>(c, &["ZINTERSTORE", "i", "2", "z", "y", "WEIGHTS", "2", "3"]), 2);
    assert_eq!(range(c, &["ZRANGE", "i", "0", "-1", "WITHSCORES"]), ["b", "34", "c", "66"]);
    assert_eq!(range(c, &["ZINTER", "2", "z", "y", "AGGREGATE", "MAX", "WITHSCORES"]), ["b", "10", "c", "20"]);
    assert_eq!(range(c, &["ZDIFF", "2", "z", "y"]), ["a"]);
    assert_eq!(run::<i64>(c, &["ZINTERCARD", "2", "z", "y", "LIMIT", "1"]), 1);
    // A set counts as a sorted set of score 1, as in Redis.
    let _: i64 = run(c, &["SADD", "s", "a", "q"]);
    assert_eq!(range(c, &["ZUNION", "2", "z", "s", "WITHSCORES"]), ["q", "1", "a", "2", "b", "2", "c", "3"]);
    let (cursor, found): (String, Vec<String>) = run(c, &["ZSCAN", "z", "0", "MATCH", "a"]);
    assert_eq!((cursor.as_str(), found), ("0", vec!["a".to_string(), "1".to_string()]));
}

/// ZINCRBYs made on every node of three all count, and a ZREM on one removes what it saw.
#[tokio::test]
async fn zincrbys_on_three_nodes_sum_and_a_zrem_removes_what_it_saw() {
    let nodes = start_chain(3, &["--redis-port", "0"]);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    wait_for_open_gates(&nodes, CONVERGE).await;
    let mut conns: Vec<Connection> = nodes.iter().map(NodeProcess::resp).collect();
    for c in &mut conns {
        let _: String = run(c, &["ZINCRBY", "board", "1", "player"]);
        let _: i64 = run(c, &["ZADD", "board", "7", "other"]);
    }
    for c in &mut conns {
        eventually(CONVERGE, "every increment to count", || {
            run::<Option<String>>(c, &["ZSCORE", "board", "player"]).as_deref() == Some("3")
        });
    }
    let _: i64 = run(&mut conns[1], &["ZREM", "board", "other"]);
    let refs: Vec<&NodeProcess> = nodes.iter().collect();
    wait_for_equal_digests(&refs, CONVERGE).await;
    for c in &mut conns {
        assert_eq!(range(c, &["ZRANGE", "board", "0", "-1", "WITHSCORES"]), ["player", "3"]);
    }
}
