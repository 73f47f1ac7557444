//! Redis 7.0's protocol, QUIT, INFO and CLIENT tests (`tests/unit/protocol.tcl`, `quit.tcl`,
//! `info-command.tcl`, `introspection.tcl`, string cases) mirrored against one node's Redis port,
//! with raw bytes where the `redis` crate would not send them.

use kvs_tests::resp::{assert_error, run};
use kvs_tests::NodeProcess;
use redis::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends raw bytes; reads until the node closes the connection or `expected` bytes arrived.
fn exchange(node: &NodeProcess, request: &[u8], expected: usize) -> String {
    let mut stream = TcpStream::connect(node.redis()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while answer.len() < expected {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn malformed_requests_get_redis_errors() {
    let node = NodeProcess::start_with_redis();
    assert_eq!(exchange(&node, b"\r\nPING\r\n", 7), "+PONG\r\n", "an empty query is ignored");
    assert_eq!(exchange(&node, b"*-10\r\nPING\r\n", 7), "+PONG\r\n", "a negative multibulk length too");
    for (request, wanted) in [
        (&b"*3000000000\r\n"[..], "invalid multibulk length"),
        (b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", "expected '$', got 'f'"),
        (b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n", "invalid bulk length"),
        (b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n", "invalid bulk length"),
        (b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n", "invalid bulk length"),
        (b"*1\r\nfoo\r\n", "expected '$', got 'f'"),
        (b"set \"\"\"test-key\"\"\" test-value\r\nping\r\n", "unbalanced"),
    ] {
        let answer = exchange(&node, request, usize::MAX);
        assert!(answer.starts_with("-ERR Protocol error") && answer.contains(wanted), "{request:?}: {answer:?}");
    }
    let c = &mut node.resp();
    assert_error(c, &["PING", "x", "y", "z"], "wrong number of arguments for 'ping' command");
}

#[test]
fn inline_commands_and_large_argument_lists() {
    let node = NodeProcess::start_with_redis();
    let answer = exchange(&node, b"set \"a key\" 'a value'\r\nget \"a key\"\r\n", 18);
    assert_eq!(answer, "+OK\r\n$7\r\na value\r\n");
    let answer = exchange(&node, b"set k \"\\x41\\tB\"\r\nget k\r\n", 14);
    assert_eq!(answer, "+OK\r\n$3\r\nA\tB\r\n");
    let c = &mut node.resp();
    let _: () = run(c, &["FLUSHDB"]);
    let mut args = vec!["MSET".to_string()];
    for i in 0..10_000 {
        args.push(format!("k{i}"));
        args.push("v".into());
    }
    args.extend(["{k}2".into(), "v2".into()]);
    let _: () = run(c, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run::<String>(c, &["GET", "{k}2"]), "v2");
    assert_eq!(run::<i64>(c, &["DBSIZE"]), 10_001);
}

#[test]
fn quit_stops_what_was_pipelined_after_it() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    assert_eq!(run::<String>(c, &["QUIT"]), "OK");
    let answer = exchange(&node, b"*1\r\n$4\r\nquit\r\n*3\r\n$3\r\nset\r\n$3\r\nfoo\r\n$3\r\nbar\r\n", usize::MAX);
    assert_eq!(answer, "+OK\r\n");
    let c = &mut node.resp();
    assert_eq!(run::<Option<String>>(c, &["GET", "foo"]), None, "nothing after QUIT ran");
    // The same when what follows QUIT does not fit one read.
    let mut request = b"*1\r\n$4\r\nquit\r\n".to_vec();
    let big = "x".repeat(64 * 1024);
    request.extend(format!("*3\r\n$3\r\nset\r\n$3\r\nbig\r\n${}\r\n{big}\r\n", big.len()).as_bytes());
    assert_eq!(exchange(&node, &request, usize::MAX), "+OK\r\n");
    assert_eq!(run::<Option<String>>(c, &["GET", "big"]), None);
}

#[test]
fn info_sections_and_fields() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    let _: () = run(c, &["SET", "k", "v", "EX", "100"]);
    let _: () = run(c, &["SET", "j", "v"]);
    let all: String = run(c, &["INFO"]);
    for field in [
        "used_cpu_user:",
        "used_cpu_sys:",
        "uptime_in_seconds:",
        "connected_clients:",
        "used_memory:",
        "db0:keys=2,expires=1",
    ] {
        assert!(all.contains(field), "INFO lacks {field}: {all}");
    }
    for everything in ["all", "everything", "default"] {
        let text: String = run(c, &["INFO", everything]);
        assert!(text.contains("# CPU") && text.contains("# Keyspace"), "INFO {everything}: {text}");
    }
    let two: String = run(c, &["INFO", "cpu", "keyspace"]);
    assert!(two.contains("# CPU") && two.contains("# Keyspace") && !two.contains("# Server"), "{two}");
    let one: String = run(c, &["INFO", "CLIENTS"]);
    assert!(one.starts_with("# Clients") && !one.contains("# CPU"), "{one}");
    assert_eq!(run::<String>(c, &["INFO", "no-such-section"]), "");
}

#[test]
fn client_list_kill_and_switches() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    let victim = &mut node.resp();
    let _: () = run(victim, &["CLIENT", "SETNAME", "victim"]);
    let victim_id: i64 = run(victim, &["CLIENT", "ID"]);
    let list: String = run(c, &["CLIENT", "LIST"]);
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(list.contains(&format!("id={victim_id} ")) && list.contains("name=victim"), "{list}");
    let only: String = run(c, &["CLIENT", "LIST", "ID", &victim_id.to_string()]);
    assert_eq!(only.lines().count(), 1);
    assert_eq!(run::<String>(c, &["CLIENT", "NO-EVICT", "on"]), "OK");
    assert_eq!(run::<String>(c, &["CLIENT", "NO-TOUCH", "off"]), "OK");
    assert_error(c, &["CLIENT", "KILL", "1.2.3.4:5"], "No such client");
    assert_eq!(run::<i64>(c, &["CLIENT", "KILL", "ID", &victim_id.to_string()]), 1);
    assert!(redis::cmd("PING").query::<String>(victim).is_err(), "the killed connection is closed");
    assert_eq!(run::<i64>(c, &["CLIENT", "KILL", "USER", "default"]), 0, "SKIPME yes by default");
    let me: String = run(c, &["CLIENT", "INFO"]);
    assert!(me.starts_with("id="), "{me}");
}

#[test]
fn command_docs_and_info_cover_every_command() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    let count: i64 = run(c, &["COMMAND", "COUNT"]);
    let Value::Array(docs) = run::<Value>(c, &["COMMAND", "DOCS"]) else { panic!("COMMAND DOCS is a map") };
    assert_eq!(docs.len() as i64, count * 2, "one name and one doc per command");
    let Value::Array(one) = run::<Value>(c, &["COMMAND", "DOCS", "incr"]) else { panic!() };
    let text = format!("{one:?}");
    assert!(text.contains("Increments the integer value of a key by one.") && text.contains("string"), "{text}");
    let Value::Array(infos) = run::<Value>(c, &["COMMAND", "INFO", "get", "lcs", "nosuch"]) else { panic!() };
    assert_eq!(infos.len(), 3);
    assert_eq!(infos[2], Value::Nil);
}
