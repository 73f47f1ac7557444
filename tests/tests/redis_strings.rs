//! Redis 7.0's string and counter tests (`tests/unit/type/string.tcl`, `tests/unit/type/incr.tcl`)
//! mirrored against one node's Redis port: same commands, same replies, same error wording.
//! Cases needing lists, sets, hashes, bit operations or DEBUG RELOAD are left out.

use kvs_tests::resp::{assert_error, run};
use kvs_tests::NodeProcess;
use redis::Value;

#[test]
fn set_and_get() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    let _: () = run(c, &["SET", "x", "foobar"]);
    assert_eq!(run::<String>(c, &["GET", "x"]), "foobar");
    let _: () = run(c, &["SET", "x", ""]);
    assert_eq!(run::<String>(c, &["GET", "x"]), "");
    let big = "abcd".repeat(250_000);
    let _: () = run(c, &["SET", "foo", &big]);
    assert_eq!(run::<String>(c, &["GET", "foo"]), big);
}

#[test]
fn setnx_getset_getdel_and_msetnx() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    let _: () = run(c, &["DEL", "novar"]);
    assert_eq!(run::<i64>(c, &["SETNX", "novar", "foobared"]), 1);
    assert_eq!(run::<String>(c, &["GET", "novar"]), "foobared");
    assert_eq!(run::<i64>(c, &["SETNX", "novar", "blabla"]), 0);
    assert_eq!(run::<String>(c, &["GET", "novar"]), "foobared");
    // SETNX against a not-expired volatile key, then against an expired one.
    let _: () = run(c, &["SET", "x", "10"]);
    let _: () = run(c, &["EXPIRE", "x", "10000"]);
    assert_eq!(run::<i64>(c, &["SETNX", "x", "20"]), 0);
    assert_eq!(run::<String>(c, &["GET", "x"]), "10");
    let _: () = run(c, &["PSETEX", "x", "1", "10"]);
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(run::<i64>(c, &["SETNX", "x", "20"]), 1);
    assert_eq!(run::<String>(c, &["GET", "x"]), "20");

    let _: () = run(c, &["DEL", "foo"]);
    assert_eq!(run::<Option<String>>(c, &["GETSET", "foo", "xyz"]), None);
    assert_eq!(run::<String>(c, &["GET", "foo"]), "xyz");
    let _: () = run(c, &["SET", "foo", "bar"]);
    assert_eq!(run::<String>(c, &["GETSET", "foo", "xyz"]), "bar");
    assert_eq!(run::<String>(c, &["GETDEL", "foo"]), "xyz");
    assert_eq!(run::<Option<String>>(c, &["GETDEL", "foo"]), None);

    assert_error(c, &["MSET", "x", "10", "y", "foo bar", "z"], "wrong number of arguments for 'mset' command");
    assert_error(c, &["MSETNX", "x", "20", "y", "foo bar", "z"], "wrong number of arguments for 'msetnx' command");
    let _: () = run(c, &["SET", "x", "x"]);
    let _: () = run(c, &["MSET", "x", "xxx", "x", "yyy"]);
    assert_eq!(run::<String>(c, &["GET", "x"]), "yyy");
    assert_eq!(run::<i64>(c, &["MSETNX", "x1", "xxx", "y2", "yyy", "x", "20"]), 0);
    assert_eq!(run::<i64>(c, &["EXISTS", "x1", "y2"]), 0);
    assert_eq!(run::<i64>(c, &["MSETNX", "x1", "xxx", "y2", "yyy"]), 1);
    assert_eq!(run::<Vec<String>>(c, &["MGET", "x1", "y2"]), ["xxx", "yyy"]);
    let _: () = run(c, &["DEL", "x1"]);
    assert_eq!(run::<i64>(c, &["MSETNX", "x1", "xxx", "x1", "yyy"]), 1);
    assert_eq!(run::<String>(c, &["GET", "x1"]), "yyy");
    assert_eq!(run::<i64>(c, &["MSETNX", "x1", "xxx", "x1", "zzz"]), 0);
    assert_eq!(run::<String>(c, &["GET", "x1"]), "yyy");
}

#[test]
fn extended_set_options() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    assert_error(c, &["SET", "foo", "bar", "non-existing-option"], "syntax");
    let _: () = run(c, &["DEL", "foo"]);
    assert_eq!(run::<Option<String>>(c, &["SET", "foo", "1", "nx"]).as_deref(), Some("OK"));
    assert_eq!(run::<Option<String>>(c, &["SET", "foo", "2", "nx"]), None);
    assert_eq!(run::<String>(c, &["GET", "foo"]), "1");
    let _: () = run(c, &["DEL", "foo"]);
    assert_eq!(run::<Option<String>>(c, &["SET", "foo", "1", "xx"]), None);
    let _: () = run(c, &["SET", "foo", "bar"]);
    assert_eq!(run::<Option<String>>(c, &["SET", "foo", "2", "xx"]).as_deref(), Some("OK"));
    assert_eq!(run::<String>(c, &["GET", "foo"]), "2");
    let _: () = run(c, &["SET", "foo", "bar"]);
    assert_eq!(run::<String>(c, &["SET", "foo", "bar2", "GET"]), "bar");
    assert_eq!(run::<String>(c, &["GET", "foo"]), "bar2");
    let _: () = run(c, &["DEL", "foo"]);
    assert_eq!(run::<Option<String>>(c, &["SET", "foo", "bar", "GET"]), None);
    let _: () = run(c, &["DEL", "foo"]);
    assert_eq!(run::<Option<String>>(c, &["SET", "foo", "bar", "GET", "XX"]), None);
    assert_eq!(run::<Option<String>>(c, &["GET", "foo"]), None);
    assert_eq!(run::<Option<String>>(c, &["SET", "foo", "bar", "GET", "NX"]), None);
    assert_eq!(run::<String>(c, &["SET", "foo", "baz", "GET", "NX"]), "bar");
    assert_eq!(run::<String>(c, &["GET", "foo"]), "bar");
    for (unit, amount) in [("ex", "10"), ("px", "10000")] {
        let _: () = run(c, &["SET", "foo", "bar", unit, amount]);
        let ttl: i64 = run(c, &["TTL", "foo"]);
        assert!(ttl <= 10 && ttl > 5, "{unit}: ttl {ttl}");
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let exat = (now.as_secs() + 10).to_string();
    let pxat = (now.as_millis() + 10_000).to_string();
    for (unit, at) in [("exat", exat.as_str()), ("pxat", pxat.as_str())] {
        let _: () = run(c, &["SET", "foo", "bar", unit, at]);
        let ttl: i64 = run(c, &["TTL", "foo"]);
        assert!((5..=10).contains(&ttl), "{unit}: ttl {ttl}");
    }
    let _: () = run(c, &["SET", "foo", "val"]);
    assert_eq!(run::<String>(c, &["SET", "foo", "bar", "xx", "px", "10000"]), "OK");
    assert!((6..=10).contains(&run::<i64>(c, &["TTL", "foo"])));
    assert_error(c, &["SET", "foo", "bar", "NX", "XX"], "syntax error");
    assert_error(c, &["SET", "foo", "bar", "EX", "10", "PX", "100"], "syntax error");
    assert_error(c, &["SET", "foo", "bar", "EX", "0"], "invalid expire time in 'set' command");
    assert_error(c, &["SET", "foo", "bar", "EX", "abc"], "not an integer or out of range");
}

#[test]
fn getex_options() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    let _: () = run(c, &["SET", "foo", "bar"]);
    assert_eq!(run::<String>(c, &["GETEX", "foo", "ex", "10"]), "bar");
    assert!((5..=10).contains(&run::<i64>(c, &["TTL", "foo"])));
    let _: () = run(c, &["GETEX", "foo", "px", "10000"]);
    assert!((5000..=10000).contains(&run::<i64>(c, &["PTTL", "foo"])));
    let _: () = run(c, &["GETEX", "foo", "persist"]);
    assert_eq!(run::<i64>(c, &["TTL", "foo"]), -1);
    assert_eq!(run::<String>(c, &["GETEX", "foo"]), "bar");
    assert_error(c, &["GETEX", "foo", "non-existent-option"], "syntax");
    assert_error(c, &["GETEX"], "wrong number of arguments for 'getex' command");
    let _: () = run(c, &["SET", "foo", "bar", "px", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(3));
    assert_eq!(run::<Option<String>>(c, &["GETEX", "foo"]), None);
    assert_eq!(run::<Option<String>>(c, &["GET", "foo"]), None);
}

#[test]
fn strlen_append_setrange_getrange_substr() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    assert_eq!(run::<i64>(c, &["STRLEN", "notakey"]), 0);
    let _: () = run(c, &["SET", "myinteger", "-555"]);
    assert_eq!(run::<i64>(c, &["STRLEN", "myinteger"]), 4);
    let _: () = run(c, &["SET", "mystring", "foozzz0123456789 baz"]);
    assert_eq!(run::<i64>(c, &["STRLEN", "mystring"]), 20);

    let _: () = run(c, &["DEL", "mykey"]);
    assert_eq!(run::<i64>(c, &["SETRANGE", "mykey", "0", "foo"]), 3);
    assert_eq!(run::<String>(c, &["GET", "mykey"]), "foo");
    let _: () = run(c, &["DEL", "mykey"]);
    assert_eq!(run::<i64>(c, &["SETRANGE", "mykey", "0", ""]), 0);
    assert_eq!(run::<i64>(c, &["EXISTS", "mykey"]), 0);
    assert_eq!(run::<i64>(c, &["SETRANGE", "mykey", "1", "foo"]), 4);
    assert_eq!(run::<Vec<u8>>(c, &["GET", "mykey"]), b"\0foo");
    for (offset, patch, length, result) in
        [("0", "b", 3, "boo"), ("0", "", 3, "foo"), ("1", "b", 3, "fbo"), ("4", "bar", 7, "foo\0bar")]
    {
        let _: () = run(c, &["SET", "mykey", "foo"]);
        assert_eq!(run::<i64>(c, &["SETRANGE", "mykey", offset, patch]), length);
        assert_eq!(run::<Vec<u8>>(c, &["GET", "mykey"]), result.as_bytes());
    }
    let _: () = run(c, &["SET", "mykey", "1234"]);
    assert_eq!(run::<i64>(c, &["SETRANGE", "mykey", "0", "2"]), 4);
    assert_eq!(run::<String>(c, &["GET", "mykey"]), "2234");
    assert_error(c, &["SETRANGE", "mykey", "-1", "world"], "out of range");
    assert_error(c, &["SETRANGE", "mykey", &(512u64 * 1024 * 1024 - 4).to_string(), "world"], "maximum allowed size");

    let _: () = run(c, &["DEL", "mykey"]);
    assert_eq!(run::<String>(c, &["GETRANGE", "mykey", "0", "-1"]), "");
    let _: () = run(c, &["SET", "mykey", "Hello World"]);
    for (start, end, want) in [
        ("0", "3", "Hell"),
        ("0", "-1", "Hello World"),
        ("-4", "-1", "orld"),
        ("5", "3", ""),
        ("5", "5000", " World"),
        ("-5000", "10000", "Hello World"),
        ("0", "-100", "H"),
        ("1", "-100", ""),
        ("-1", "-100", ""),
        ("-100", "-99", "H"),
        ("-100", "-100", "H"),
        ("-100", "-101", ""),
    ] {
        assert_eq!(run::<String>(c, &["GETRANGE", "mykey", start, end]), want, "GETRANGE {start} {end}");
    }
    let _: () = run(c, &["SET", "foo", "bar"]);
    assert_eq!(run::<String>(c, &["GETRANGE", "foo", "0", "4294967297"]), "bar");
    let _: () = run(c, &["SET", "key", "abcde"]);
    for (start, end, want) in
        [("0", "0", "a"), ("0", "3", "abcd"), ("-4", "-1", "bcde"), ("-1", "-3", ""), ("7", "8", "")]
    {
        assert_eq!(run::<String>(c, &["SUBSTR", "key", start, end]), want);
    }
    assert_eq!(run::<String>(c, &["SUBSTR", "nokey", "0", "1"]), "");

    let _: () = run(c, &["DEL", "foo"]);
    assert_eq!(run::<i64>(c, &["APPEND", "foo", "bar"]), 3);
    assert_eq!(run::<i64>(c, &["APPEND", "foo", "100"]), 6);
    assert_eq!(run::<String>(c, &["GET", "foo"]), "bar100");
    let _: () = run(c, &["SET", "foo", "1"]);
    let _: () = run(c, &["APPEND", "foo", "2"]);
    assert_eq!(run::<String>(c, &["GET", "foo"]), "12");
    assert_eq!(run::<String>(c, &["OBJECT", "ENCODING", "foo"]), "int");
}

#[test]
fn lcs() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    let rna1 = "CACCTTCCCAGGTAACAAACCAACCAACTTTCGATCTCTTGTAGATCTGTTCTCTAAACGAACTTTAAAATCTGTGTGGCTGTCACTCGGCTGCATGCTTAGTGCACTCACGCAGTATAATTAATAACTAATTACTGTCGTTGACAGGACACGAGTAACTCGTCTATCTTCTGCAGGCTGCTTACGGTTTCGTCCGTGTTGCAGCCGATCATCAGCACATCTAGGTTTCGTCCGGGTGTG";
    let rna2 = "ATTAAAGGTTTATACCTTCCCAGGTAACAAACCAACCAACTTTCGATCTCTTGTAGATCTGTTCTCTAAACGAACTTTAAAATCTGTGTGGCTGTCACTCGGCTGCATGCTTAGTGCACTCACGCAGTATAATTAATAACTAATTACTGTCGTTGACAGGACACGAGTAACTCGTCTATCTTCTGCAGGCTGCTTACGGTTTCGTCCGTGTTGCAGCCGATCATCAGCACATCTAGGTTT";
    let lcs = "ACCTTCCCAGGTAACAAACCAACCAACTTTCGATCTCTTGTAGATCTGTTCTCTAAACGAACTTTAAAATCTGTGTGGCTGTCACTCGGCTGCATGCTTAGTGCACTCACGCAGTATAATTAATAACTAATTACTGTCGTTGACAGGACACGAGTAACTCGTCTATCTTCTGCAGGCTGCTTACGGTTTCGTCCGTGTTGCAGCCGATCATCAGCACATCTAGGTTT";
    let _: () = run(c, &["SET", "virus1", rna1]);
    let _: () = run(c, &["SET", "virus2", rna2]);
    assert_eq!(run::<String>(c, &["LCS", "virus1", "virus2"]), lcs);
    assert_eq!(run::<i64>(c, &["LCS", "virus1", "virus2", "LEN"]), lcs.len() as i64);
    let mut matches = |args: &[&str]| -> Vec<Vec<i64>> {
        let Value::Array(reply) = run::<Value>(c, args) else { panic!("not an array") };
        let Value::Array(matches) = &reply[1] else { panic!("no matches") };
        matches
            .iter()
            .map(|m| {
                let Value::Array(parts) = m else { panic!() };
                parts
                    .iter()
                    .flat_map(|p| match p {
                        Value::Array(pair) => pair.iter().map(|v| redis::from_redis_value::<i64>(v).unwrap()).collect(),
                        other => vec![redis::from_redis_value::<i64>(other).unwrap()],
                    })
                    .collect()
            })
            .collect()
    };
    assert_eq!(
        matches(&["LCS", "virus1", "virus2", "IDX"]),
        [
            vec![238, 238, 239, 239],
            vec![236, 236, 238, 238],
            vec![229, 230, 236, 237],
            vec![224, 224, 235, 235],
            vec![1, 222, 13, 234]
        ]
    );
    assert_eq!(
        matches(&["LCS", "virus1", "virus2", "IDX", "WITHMATCHLEN"]),
        [
            vec![238, 238, 239, 239, 1],
            vec![236, 236, 238, 238, 1],
            vec![229, 230, 236, 237, 2],
            vec![224, 224, 235, 235, 1],
            vec![1, 222, 13, 234, 222]
        ]
    );
    assert_eq!(
        matches(&["LCS", "virus1", "virus2", "IDX", "WITHMATCHLEN", "MINMATCHLEN", "5"]),
        [vec![1, 222, 13, 234, 222]]
    );
}

#[test]
fn incr_family() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    assert_eq!(run::<i64>(c, &["INCR", "novar"]), 1);
    assert_eq!(run::<i64>(c, &["INCR", "novar"]), 2);
    assert_eq!(run::<String>(c, &["GET", "novar"]), "2");
    let _: () = run(c, &["SET", "novar", "100"]);
    assert_eq!(run::<i64>(c, &["INCR", "novar"]), 101);
    assert_eq!(run::<i64>(c, &["INCRBY", "novar", "2"]), 103);
    assert_eq!(run::<i64>(c, &["INCRBY", "novar", "17179869184"]), 17179869287);
    assert_eq!(run::<i64>(c, &["DECRBY", "novar", "17179869184"]), 103);
    assert_eq!(run::<i64>(c, &["DECR", "novar"]), 102);
    assert_eq!(run::<i64>(c, &["DECRBY", "novar", "-4"]), 106);
    let _: () = run(c, &["SET", "novar", "    11"]);
    assert_error(c, &["INCR", "novar"], "ERR value is not an integer or out of range");
    let _: () = run(c, &["SET", "novar", "11    "]);
    assert_error(c, &["INCR", "novar"], "ERR value is not an integer or out of range");
    let _: () = run(c, &["SET", "novar", "9223372036854775807"]);
    assert_error(c, &["INCR", "novar"], "ERR increment or decrement would overflow");
    let _: () = run(c, &["SET", "novar", "-9223372036854775808"]);
    assert_error(c, &["DECR", "novar"], "ERR increment or decrement would overflow");
    assert_error(c, &["INCRBY", "novar", "abc"], "ERR value is not an integer or out of range");
    assert_error(c, &["DECRBY", "novar", "-9223372036854775808"], "ERR decrement would overflow");
    // INCR keeps the key's deadline, as Redis does.
    let _: () = run(c, &["SET", "foo", "1", "EX", "100"]);
    assert_eq!(run::<i64>(c, &["INCR", "foo"]), 2);
    assert!(run::<i64>(c, &["TTL", "foo"]) > 90);
    let _: () = run(c, &["SET", "foo", "1"]);
    assert_eq!(run::<String>(c, &["OBJECT", "ENCODING", "foo"]), "int");
}

#[test]
fn incrbyfloat() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    let _: () = run(c, &["DEL", "novar"]);
    assert_eq!(run::<String>(c, &["INCRBYFLOAT", "novar", "1"]), "1");
    assert_eq!(run::<String>(c, &["INCRBYFLOAT", "novar", "0.25"]), "1.25");
    let _: () = run(c, &["SET", "novar", "1.5"]);
    assert_eq!(run::<String>(c, &["INCRBYFLOAT", "novar", "1.5"]), "3");
    let _: () = run(c, &["SET", "novar", "17179869184"]);
    assert_eq!(run::<String>(c, &["INCRBYFLOAT", "novar", "1.5"]), "17179869185.5");
    let _: () = run(c, &["SET", "novar", "17179869184"]);
    assert_eq!(run::<String>(c, &["INCRBYFLOAT", "novar", "17179869184"]), "34359738368");
    for bad in ["    11", "11    ", "11a"] {
        let _: () = run(c, &["SET", "novar", bad]);
        assert_error(c, &["INCRBYFLOAT", "novar", "1.0"], "ERR value is not a valid float");
    }
    let _: () = run(c, &["SET", "foo", "0"]);
    assert_error(c, &["INCRBYFLOAT", "foo", "+inf"], "ERR increment would produce NaN or Infinity");
    let _: () = run(c, &["SET", "foo", "1"]);
    let third = run::<String>(c, &["INCRBYFLOAT", "foo", "-1.1"]);
    assert!(third.starts_with("-0.1"), "{third}");
    let _: () = run(c, &["DEL", "foo"]);
    let _: () = run(c, &["INCRBYFLOAT", "foo", &(1.0f64 / 41.0).to_string()]);
    assert_eq!(run::<String>(c, &["INCRBYFLOAT", "foo", &(-1.0f64 / 41.0).to_string()]), "0");
}
