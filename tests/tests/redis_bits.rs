//! Bitmaps, mirroring Redis 7.0's `unit/bitops.tcl`, `unit/bitfield.tcl` and the bit cases of
//! `unit/type/string.tcl`, checked against simple models of the same commands; and what two
//! nodes converge on when both set bits of one key.

use kvs_tests::resp::{assert_error, eventually, run};
use kvs_tests::{start_chain, wait_for_alive_members, NodeProcess};
use redis::{Connection, Value};
use std::time::Duration;

fn node() -> (NodeProcess, Connection) {
    let node = NodeProcess::start(None, &["--redis-port", "0"]);
    let c = node.resp();
    (node, c)
}

fn set_bytes(c: &mut Connection, key: &str, value: &[u8]) {
    let _: () = redis::cmd("SET").arg(key).arg(value).query(c).unwrap();
}

fn get_bytes(c: &mut Connection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(key).query(c).unwrap()
}

fn count_bits(bytes: &[u8]) -> i64 {
    bytes.iter().map(|b| i64::from(b.count_ones())).sum()
}

/// A deterministic stream of test strings (the Tcl tests use `randstring`).
fn strings(seed: u64, n: usize, max_len: usize) -> Vec<Vec<u8>> {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n).map(|_| (0..next() as usize % (max_len + 1)).map(|_| next() as u8).collect()).collect()
}

#[test]
fn bitcount_counts_the_whole_string_or_a_range() {
    let (_node, mut c) = node();
    let c = &mut c;
    assert_eq!(run::<i64>(c, &["BITCOUNT", "no-key"]), 0);
    for vector in [&b""[..], b"\xaa", b"\x00\x00\xff", b"foobar", b"123"] {
        set_bytes(c, "str", vector);
        assert_eq!(run::<i64>(c, &["BITCOUNT", "str"]), count_bits(vector), "{vector:?}");
    }
    for s in strings(7, 50, 3000) {
        set_bytes(c, "str", &s);
        assert_eq!(run::<i64>(c, &["BITCOUNT", "str"]), count_bits(&s));
    }
    let _: () = run(c, &["SET", "s", "foobar"]);
    assert_eq!(run::<i64>(c, &["BITCOUNT", "s", "0", "-1"]), count_bits(b"foobar"));
    assert_eq!(run::<i64>(c, &["BITCOUNT", "s", "1", "-2"]), count_bits(b"ooba"));
    assert_eq!(run::<i64>(c, &["BITCOUNT", "s", "-2", "1"]), 0);
    assert_eq!(run::<i64>(c, &["BITCOUNT", "s", "0", "1000"]), count_bits(b"foobar"));
    let bit = |i: usize| i64::from((b"foobar"[i / 8] >> (7 - i % 8)) & 1);
    assert_eq!(run::<i64>(c, &["BITCOUNT", "s", "5", "30", "BIT"]), (5..=30).map(bit).sum::<i64>());
    assert_eq!(run::<i64>(c, &["BITCOUNT", "s", "-3", "-1", "BIT"]), (45..=47).map(bit).sum::<i64>());
    assert_error(c, &["BITCOUNT", "s", "0"], "ERR syntax error");
}

#[test]
fn bitop_combines_strings_zero_padded_as_redis_does() {
    let (_node, mut c) = node();
    let c = &mut c;
    set_bytes(c, "s", b"");
    let _: i64 = run(c, &["BITOP", "NOT", "dest", "s"]);
    assert_eq!(get_bytes(c, "dest"), None, "an empty result deletes the destination");
    set_bytes(c, "s", b"\xaa\x00\xff\x55");
    let _: i64 = run(c, &["BITOP", "NOT", "dest", "s"]);
    assert_eq!(get_bytes(c, "dest").unwrap(), b"\x55\xff\x00\xaa");
    let _: i64 = run(c, &["BITOP", "NOT", "s", "s"]);
    assert_eq!(get_bytes(c, "s").unwrap(), b"\x55\xff\x00\xaa", "destination and source the same key");
    set_bytes(c, "a", b"\x01\x02\xff");
    for op in ["AND", "OR", "XOR"] {
        let _: i64 = run(c, &["BITOP", op, "res", "a"]);
        assert_eq!(get_bytes(c, "res").unwrap(), b"\x01\x02\xff", "{op} of one key");
    }
    let _: i64 = run(c, &["BITOP", "AND", "res1", "no-such-key", "a"]);
    assert_eq!(get_bytes(c, "res1").unwrap(), b"\x00\x00\x00", "a missing key is zeros");
    set_bytes(c, "a", b"\x01\x02\xff\xff");
    set_bytes(c, "b", b"\x01\x02\xff");
    let _: i64 = run(c, &["BITOP", "AND", "res1", "a", "b"]);
    let _: i64 = run(c, &["BITOP", "OR", "res2", "a", "b"]);
    let _: i64 = run(c, &["BITOP", "XOR", "res3", "a", "b"]);
    assert_eq!(get_bytes(c, "res1").unwrap(), b"\x01\x02\xff\x00");
    assert_eq!(get_bytes(c, "res2").unwrap(), b"\x01\x02\xff\xff");
    assert_eq!(get_bytes(c, "res3").unwrap(), b"\x00\x00\x00\xff");
    for (i, op) in ["AND", "OR", "XOR"].into_iter().enumerate() {
        let vectors = strings(i as u64 + 1, 8, 500);
        let keys: Vec<String> = (0..vectors.len()).map(|j| format!("vector_{j}")).collect();
        for (key, vector) in keys.iter().zip(&vectors) {
            set_bytes(c, key, vector);
        }
        let mut args = vec!["BITOP", op, "target"];
        args.extend(keys.iter().map(String::as_str));
        let _: i64 = run(c, &args);
        let len = vectors.iter().map(Vec::len).max().unwrap();
        let model: Vec<u8> = (0..len)
            .map(|k| {
                let mut bytes = vectors.iter().map(|v| v.get(k).copied().unwrap_or(0));
                let first = bytes.next().unwrap();
                bytes.fold(first, |a, b| match op {
                    "AND" => a & b,
                    "OR" => a | b,
                    _ => a ^ b,
                })
            })
            .collect();
        assert_eq!(get_bytes(c, "target").unwrap_or_default(), model, "{op}");
    }
    let _: () = run(c, &["SET", "a", "1"]);
    let _: () = run(c, &["SET", "b", "2"]);
    let _: i64 = run(c, &["BITOP", "XOR", "dest", "a", "b", "a"]);
    assert_eq!(get_bytes(c, "dest").unwrap(), b"2", "integer values are strings too");
    set_bytes(c, "a", &[0; 32]);
    assert_eq!(run::<i64>(c, &["BITOP", "OR", "x", "a", "b"]), 32);
    assert_error(c, &["BITOP", "NOT", "dest", "a", "b"], "BITOP NOT must be called with a single source key");
    assert_error(c, &["BITOP", "NAND", "dest", "a"], "ERR syntax error");
}

#[test]
fn setbit_getbit_and_bitpos() {
    let (_node, mut c) = node();
    let c = &mut c;
    assert_eq!(run::<i64>(c, &["SETBIT", "mykey", "1", "1"]), 0);
    assert_eq!(get_bytes(c, "mykey").unwrap(), b"\x40");
    assert_eq!(run::<i64>(c, &["SETBIT", "mykey", "1", "0"]), 1);
    assert_eq!(get_bytes(c, "mykey").unwrap(), b"\x00");
    let _: () = run(c, &["SET", "mykey", "@"]);
    assert_eq!(run::<i64>(c, &["SETBIT", "mykey", "2", "1"]), 0);
    assert_eq!(get_bytes(c, "mykey").unwrap(), b"\x60");
    assert_eq!(run::<i64>(c, &["GETBIT", "mykey", "1"]), 1);
    assert_eq!(run::<i64>(c, &["GETBIT", "mykey", "100"]), 0, "past the end reads as zero");
    assert_eq!(run::<i64>(c, &["GETBIT", "nokey", "0"]), 0);
    assert_error(c, &["SETBIT", "mykey", "-1", "1"], "ERR bit offset is not an integer or out of range");
    assert_error(c, &["SETBIT", "mykey", "4294967296", "1"], "ERR bit offset is not an integer or out of range");
    assert_error(c, &["SETBIT", "mykey", "0", "2"], "ERR bit is not an integer or out of range");
    let _: () = run(c, &["SET", "mykey", "1"]);
    assert_eq!(run::<i64>(c, &["SETBIT", "mykey", "6", "1"]), 0);
    assert_eq!(get_bytes(c, "mykey").unwrap(), b"3", "an integer value is a string of digits");

    assert_eq!(run::<i64>(c, &["BITPOS", "nokey", "1"]), -1);
    assert_eq!(run::<i64>(c, &["BITPOS", "nokey", "0"]), 0);
    set_bytes(c, "str", b"\xff\xf0\x00");
    assert_eq!(run::<i64>(c, &["BITPOS", "str", "0"]), 12);
    set_bytes(c, "str", b"\xff\xff\xff");
    assert_eq!(run::<i64>(c, &["BITPOS", "str", "0"]), 24, "no clear bit and no end: the bit after the string");
    assert_eq!(run::<i64>(c, &["BITPOS", "str", "0", "0", "-1"]), -1, "with an end: none");
    set_bytes(c, "str", b"\x00\x0f\x00");
    assert_eq!(run::<i64>(c, &["BITPOS", "str", "1"]), 12);
    assert_eq!(run::<i64>(c, &["BITPOS", "str", "1", "2"]), -1);
    assert_eq!(run::<i64>(c, &["BITPOS", "str", "1", "13", "-1", "BIT"]), 13);
    assert_error(c, &["BITPOS", "str", "2"], "The bit argument must be 1 or 0");
}

fn bitfield(c: &mut Connection, args: &[&str]) -> Vec<Option<i64>> {
    let mut all = vec!["BITFIELD", "bits"];
    all.extend_from_slice(args);
    run(c, &all)
}

#[test]
fn bitfield_reads_writes_and_overflows_as_redis_does() {
    let (_node, mut c) = node();
    let c = &mut c;
    assert_eq!(bitfield(c, &["SET", "i8", "0", "-100"]), vec![Some(0)]);
    assert_eq!(bitfield(c, &["SET", "i8", "0", "101"]), vec![Some(-100)]);
    assert_eq!(bitfield(c, &["GET", "i8", "0"]), vec![Some(101)]);
    assert_eq!(bitfield(c, &["SET", "u8", "0", "255"]), vec![Some(101)]);
    assert_eq!(bitfield(c, &["SET", "u8", "0", "100"]), vec![Some(255)]);
    assert_eq!(bitfield(c, &["GET", "u8", "0"]), vec![Some(100)]);
    let _: i64 = run(c, &["DEL", "bits"]);
    let _: Vec<i64> =
        run(c, &["BITFIELD", "bits", "SET", "u8", "#0", "65", "SET", "u8", "#1", "66", "SET", "u8", "#2", "67"]);
    assert_eq!(get_bytes(c, "bits").unwrap(), b"ABC", "#n offsets count fields");
    let _: i64 = run(c, &["DEL", "bits"]);
    assert_eq!(
        bitfield(c, &["INCRBY", "u2", "100", "1", "OVERFLOW", "SAT", "INCRBY", "u2", "102", "1"]),
        vec![Some(1), Some(1)]
    );
    let _: i64 = run(c, &["DEL", "bits"]);
    let _ = bitfield(c, &["SET", "u8", "0", "100"]);
    assert_eq!(bitfield(c, &["INCRBY", "u8", "0", "257"]), vec![Some(101)], "unsigned wraps");
    assert_eq!(bitfield(c, &["INCRBY", "u8", "0", "255"]), vec![Some(100)]);
    assert_eq!(bitfield(c, &["OVERFLOW", "SAT", "INCRBY", "u8", "0", "257"]), vec![Some(255)]);
    assert_eq!(bitfield(c, &["OVERFLOW", "SAT", "INCRBY", "u8", "0", "-300"]), vec![Some(0)]);
    let _ = bitfield(c, &["SET", "i8", "0", "100"]);
    assert_eq!(bitfield(c, &["INCRBY", "i8", "0", "257"]), vec![Some(101)], "signed wraps");
    assert_eq!(bitfield(c, &["OVERFLOW", "SAT", "INCRBY", "i8", "0", "257"]), vec![Some(127)]);
    assert_eq!(bitfield(c, &["OVERFLOW", "SAT", "INCRBY", "i8", "0", "-255"]), vec![Some(-128)]);
    assert_eq!(bitfield(c, &["OVERFLOW", "FAIL", "INCRBY", "i8", "0", "-1"]), vec![None], "fails: nothing written");
    assert_eq!(bitfield(c, &["GET", "i8", "0"]), vec![Some(-128)]);
    assert_eq!(bitfield(c, &["SET", "i64", "0", "-1", "GET", "u63", "1"]).len(), 2);
    let ro: Vec<Option<i64>> = run(c, &["BITFIELD_RO", "bits", "GET", "u8", "0"]);
    assert_eq!(ro, vec![Some(255)]);
    assert_error(c, &["BITFIELD_RO", "bits", "SET", "u8", "0", "1"], "BITFIELD_RO only supports the GET subcommand");
    assert_error(c, &["BITFIELD", "bits", "GET", "u64", "0"], "Invalid bitfield type");
    assert_error(c, &["BITFIELD", "bits", "GET", "u8", "-1"], "bit offset is not an integer or out of range");
    assert_error(c, &["BITFIELD", "bits", "OVERFLOW", "NOPE"], "Invalid OVERFLOW type specified");
    assert_error(c, &["BITFIELD", "bits", "SET", "u8", "0"], "ERR syntax error");
    assert_eq!(run::<Value>(c, &["BITFIELD", "nokey", "GET", "u8", "0"]), Value::Array(vec![Value::Int(0)]));
}

#[tokio::test]
async fn concurrent_setbits_on_two_nodes_converge_on_one_string() {
    let nodes = start_chain(2, &["--redis-port", "0"]);
    wait_for_alive_members(&nodes, 2, Duration::from_secs(30)).await;
    let (a, b) = (&mut nodes[0].resp(), &mut nodes[1].resp());
    let _: i64 = run(a, &["SETBIT", "flags", "0", "1"]);
    let _: i64 = run(b, &["SETBIT", "flags", "7", "1"]);
    // Last writer wins on the whole string: both nodes end with the same one, which holds the
    // later write's bit (and the other's too if that write had reached it first).
    eventually(Duration::from_secs(30), "the nodes to agree on flags", || {
        let (x, y) = (get_bytes(a, "flags"), get_bytes(b, "flags"));
        x.is_some() && x == y
    });
    let agreed = get_bytes(a, "flags").unwrap();
    assert!(agreed == b"\x01" || agreed == b"\x80" || agreed == b"\x81", "{agreed:?}");
}
