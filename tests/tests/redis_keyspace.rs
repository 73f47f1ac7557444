//! Redis 7.0's keyspace tests (`tests/unit/keyspace.tcl`, string cases) mirrored against one
//! node's Redis port: DEL, KEYS, DBSIZE, FLUSHDB, EXISTS, RENAME, RENAMENX, COPY, RANDOMKEY,
//! TYPE, TOUCH, UNLINK, OBJECT, DEBUG.

use kvs_tests::resp::{assert_error, run};
use kvs_tests::NodeProcess;

#[test]
fn del_keys_dbsize_and_flush() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    let _: () = run(c, &["SET", "x", "foo"]);
    assert_eq!(run::<i64>(c, &["DEL", "x"]), 1);
    assert_eq!(run::<Option<String>>(c, &["GET", "x"]), None);
    for key in ["foo_a", "foo_b", "foo_c", "key_x", "key_y", "key_z"] {
        let _: () = run(c, &["SET", key, "hello"]);
    }
    let mut foos: Vec<String> = run(c, &["KEYS", "foo*"]);
    foos.sort();
    assert_eq!(foos, ["foo_a", "foo_b", "foo_c"]);
    assert_eq!(run::<Vec<String>>(c, &["KEYS", "*"]).len(), 6);
    assert_eq!(run::<i64>(c, &["DBSIZE"]), 6);
    assert_eq!(run::<i64>(c, &["DEL", "foo_a", "foo_b", "foo_c", "nokey"]), 3);
    assert_eq!(run::<i64>(c, &["UNLINK", "key_x", "key_y"]), 2);
    assert_eq!(run::<i64>(c, &["DBSIZE"]), 1);
    assert_eq!(run::<String>(c, &["FLUSHDB"]), "OK");
    assert_eq!(run::<i64>(c, &["DBSIZE"]), 0);
    let _: () = run(c, &["SET", "a", "1"]);
    assert_eq!(run::<String>(c, &["FLUSHALL", "ASYNC"]), "OK");
    assert_eq!(run::<String>(c, &["FLUSHDB", "SYNC"]), "OK");
    assert_error(c, &["FLUSHALL", "LATER"], "syntax error");
    assert_eq!(run::<Vec<String>>(c, &["KEYS", "*"]).len(), 0);
    // A key written after the flush stands.
    let _: () = run(c, &["SET", "after", "1"]);
    assert_eq!(run::<String>(c, &["GET", "after"]), "1");
    assert_eq!(run::<i64>(c, &["INCR", "fresh"]), 1);
}

#[test]
fn exists_type_touch_randomkey() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    let _: () = run(c, &["SET", "newkey", "test"]);
    assert_eq!(run::<i64>(c, &["EXISTS", "newkey"]), 1);
    let _: () = run(c, &["DEL", "newkey"]);
    assert_eq!(run::<i64>(c, &["EXISTS", "newkey"]), 0);
    let _: () = run(c, &["SET", "foo", "x"]);
    let _: () = run(c, &["SET", "bar", "y"]);
    assert_eq!(run::<i64>(c, &["EXISTS", "foo", "bar", "foo", "nokey"]), 3);
    assert_eq!(run::<String>(c, &["TYPE", "foo"]), "string");
    assert_eq!(run::<String>(c, &["TYPE", "nokey"]), "none");
    assert_eq!(run::<i64>(c, &["TOUCH", "foo", "bar", "nokey"]), 2);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        seen.insert(run::<String>(c, &["RANDOMKEY"]));
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["bar", "foo"]);
    let _: () = run(c, &["FLUSHDB"]);
    assert_eq!(run::<Option<String>>(c, &["RANDOMKEY"]), None);
}

#[test]
fn rename_renamenx_and_copy() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    let _: () = run(c, &["SET", "mykey", "a"]);
    assert_eq!(run::<String>(c, &["RENAME", "mykey", "mykey1"]), "OK");
    assert_eq!(run::<String>(c, &["GET", "mykey1"]), "a");
    assert_eq!(run::<i64>(c, &["EXISTS", "mykey"]), 0);
    let _: () = run(c, &["SET", "mykey", "a"]);
    let _: () = run(c, &["SET", "mykey2", "b"]);
    let _: () = run(c, &["RENAME", "mykey2", "mykey"]);
    assert_eq!(run::<String>(c, &["GET", "mykey"]), "b");
    assert_eq!(run::<i64>(c, &["EXISTS", "mykey2"]), 0);
    assert_error(c, &["RENAME", "nokey", "foobar"], "ERR no such key");
    assert_error(c, &["RENAMENX", "nokey", "foobar"], "ERR no such key");
    let _: () = run(c, &["SET", "foo", "a"]);
    let _: () = run(c, &["SET", "bar", "b"]);
    assert_eq!(run::<i64>(c, &["RENAMENX", "foo", "bar"]), 0);
    assert_eq!((run::<String>(c, &["GET", "foo"]), run::<String>(c, &["GET", "bar"])), ("a".into(), "b".into()));
    let _: () = run(c, &["SET", "foo", "bar"]);
    assert_eq!(run::<String>(c, &["RENAME", "foo", "foo"]), "OK");
    assert_eq!(run::<String>(c, &["GET", "foo"]), "bar");
    assert_eq!(run::<i64>(c, &["RENAMENX", "foo", "foo"]), 0);
    // RENAME keeps the deadline, and a counter's value.
    let _: () = run(c, &["SET", "mykey", "foo", "EX", "100"]);
    let _: () = run(c, &["RENAME", "mykey", "mykey2"]);
    assert!(run::<i64>(c, &["TTL", "mykey2"]) > 95);
    assert_eq!(run::<i64>(c, &["INCRBY", "counter", "7"]), 7);
    let _: () = run(c, &["RENAME", "counter", "moved"]);
    assert_eq!(run::<i64>(c, &["INCR", "moved"]), 8);

    let _: () = run(c, &["SET", "mykey", "foobar"]);
    assert_eq!(run::<i64>(c, &["COPY", "mykey", "mynewkey"]), 1);
    assert_eq!(run::<String>(c, &["GET", "mynewkey"]), "foobar");
    let _: () = run(c, &["SET", "mykey", "changed"]);
    assert_eq!(run::<i64>(c, &["COPY", "mykey", "mynewkey"]), 0);
    assert_eq!(run::<i64>(c, &["COPY", "mykey", "mynewkey", "REPLACE"]), 1);
    assert_eq!(run::<String>(c, &["GET", "mynewkey"]), "changed");
    assert_eq!(run::<i64>(c, &["COPY", "mykey", "other", "DB", "0"]), 1);
    assert_eq!(run::<i64>(c, &["COPY", "mykey", "other", "DB", "9"]), 1, "database 9 is another database");
    assert_error(c, &["COPY", "mykey", "other", "DB", "16"], "DB index is out of range");
    assert_error(c, &["COPY", "mykey", "mykey"], "source and destination objects are the same");
    assert_eq!(run::<i64>(c, &["COPY", "nokey", "x"]), 0);
}

#[test]
fn object_and_debug() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    let _: () = run(c, &["SET", "int", "12345"]);
    let _: () = run(c, &["SET", "short", "hello"]);
    let _: () = run(c, &["SET", "long", &"x".repeat(100)]);
    assert_eq!(run::<String>(c, &["OBJECT", "ENCODING", "int"]), "int");
    assert_eq!(run::<String>(c, &["OBJECT", "ENCODING", "short"]), "embstr");
    assert_eq!(run::<String>(c, &["OBJECT", "ENCODING", "long"]), "raw");
    assert_eq!(run::<Option<String>>(c, &["OBJECT", "ENCODING", "nokey"]), None);
    assert_eq!(run::<i64>(c, &["OBJECT", "REFCOUNT", "short"]), 1);
    assert_eq!(run::<i64>(c, &["OBJECT", "IDLETIME", "short"]), 0);
    assert_error(c, &["OBJECT", "FREQ", "short"], "An LFU maxmemory policy is not selected");
    let object: String = run(c, &["DEBUG", "OBJECT", "short"]);
    assert!(object.contains("encoding:embstr"), "{object}");
    assert_error(c, &["DEBUG", "OBJECT", "nokey"], "no such key");
    assert_eq!(run::<String>(c, &["DEBUG", "SLEEP", "0"]), "OK");
    assert_error(c, &["DEBUG", "NO-SUCH-THING"], "unknown subcommand");
}
