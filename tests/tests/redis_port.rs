//! The Redis-protocol port, driven by the `redis` crate, raw bytes and Debian's redis-cli.

use kvs_tests::resp::connect;
use kvs_tests::{start_chain, wait_for_alive_members, NodeProcess};
use redis::Commands;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(20);

/// Sends raw bytes and reads until the node closes the connection (or 10 s pass).
fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

#[tokio::test]
async fn writes_cross_between_resp_and_the_native_protocol_across_nodes() {
    let nodes = start_chain(2, &["--redis-port", "0"]);
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    let (a, b) = (&nodes[0], &nodes[1]);

    let mut resp_a = connect(a.redis());
    let _: () = resp_a.set("from-resp", "r1").unwrap();
    b.wait_for_value("from-resp", Some("r1"), CONVERGE).await;

    b.client().await.set("from-native", "n1").await.unwrap();
    a.wait_for_value("from-native", Some("n1"), CONVERGE).await;
    let value: Option<String> = resp_a.get("from-native").unwrap();
    assert_eq!(value.as_deref(), Some("n1"));

    let removed: i64 = resp_a.del(&["from-native", "never-there"]).unwrap();
    assert_eq!(removed, 1);
    b.wait_for_value("from-native", None, CONVERGE).await;
}

#[tokio::test]
async fn keyspace_commands_behave_like_redis() {
    let node = NodeProcess::start_with_redis();
    let mut c = connect(node.redis());
    let _: () = redis::cmd("MSET").arg(&["k1", "a", "k2", "bb", "other", "c"]).query(&mut c).unwrap();
    let got: Vec<Option<String>> = c.mget(&["k1", "nope", "k2"]).unwrap();
    assert_eq!(got, [Some("a".into()), None, Some("bb".into())]);
    assert_eq!(c.exists::<_, i64>(&["k1", "k1", "nope"]).unwrap(), 2);
    assert_eq!(c.strlen::<_, i64>("k2").unwrap(), 2);
    assert_eq!(c.strlen::<_, i64>("nope").unwrap(), 0);
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 3);
    let mut keys: Vec<String> = c.keys("k*").unwrap();
    keys.sort();
    assert_eq!(keys, ["k1", "k2"]);
    assert_eq!(redis::cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
    assert_eq!(redis::cmd("ECHO").arg("hi").query::<String>(&mut c).unwrap(), "hi");
    assert_eq!(redis::cmd("SELECT").arg(0).query::<String>(&mut c).unwrap(), "OK");
    let err = redis::cmd("SELECT").arg(16).query::<String>(&mut c).unwrap_err();
    assert!(err.to_string().contains("DB index is out of range"), "{err}");
    let err = redis::cmd("GET").query::<String>(&mut c).unwrap_err();
    assert!(err.to_string().contains("wrong number of arguments for 'get' command"), "{err}");
    let _: () = redis::cmd("CLIENT").arg("SETNAME").arg("tester").query(&mut c).unwrap();
    assert_eq!(redis::cmd("CLIENT").arg("GETNAME").query::<String>(&mut c).unwrap(), "tester");
    assert!(redis::cmd("CLIENT").arg("ID").query::<i64>(&mut c).unwrap() > 0);
    let info: String = redis::cmd("INFO").query(&mut c).unwrap();
    for section in ["# Server", "# Clients", "# Memory", "# Persistence", "# Replication", "# Keyspace", "db0:keys=3"] {
        assert!(info.contains(section), "INFO lacks {section}: {info}");
    }
    assert!(redis::cmd("COMMAND").arg("COUNT").query::<i64>(&mut c).unwrap() >= 20);
}

#[tokio::test]
async fn unknown_commands_get_redis_wording() {
    let node = NodeProcess::start_with_redis();
    let answer = raw_exchange(node.redis(), b"FOO bar baz\r\nQUIT\r\n");
    assert_eq!(answer, b"-ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' \r\n+OK\r\n");
}

#[tokio::test]
async fn scan_walks_every_key_once_with_match_and_count() {
    let node = NodeProcess::start_with_redis();
    let mut c = connect(node.redis());
    for i in 0..500 {
        let _: () = c.set(format!("user:{i}"), i).unwrap();
        let _: () = c.set(format!("item:{i}"), i).unwrap();
    }
    let mut cursor = 0u64;
    let mut seen = Vec::new();
    loop {
        let (next, keys): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).arg("MATCH").arg("user:*").arg("COUNT").arg(50).query(&mut c).unwrap();
        seen.extend(keys);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    seen.sort();
    let total = seen.len();
    seen.dedup();
    assert_eq!((total, seen.len()), (500, 500));
    assert!(seen.iter().all(|k| k.starts_with("user:")));
    let err = redis::cmd("SCAN").arg("notanumber").query::<(u64, Vec<String>)>(&mut c).unwrap_err();
    assert!(err.to_string().contains("invalid cursor"), "{err}");
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let node = NodeProcess::start_with_redis();
    let mut c = connect(node.redis());
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.set(format!("p{i}"), i).ignore();
    }
    for i in 0..1000 {
        pipe.get(format!("p{i}"));
    }
    let values: Vec<i64> = pipe.query(&mut c).unwrap();
    assert_eq!(values, (0..1000).collect::<Vec<i64>>());

    // Many commands in one write, raw: replies come back in order, in one stream.
    let mut request = Vec::new();
    for i in 0..100 {
        request.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n$2\r\nr{}\r\n$1\r\n{}\r\n", i % 10, i % 10).as_bytes());
    }
    request.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$2\r\nr7\r\nQUIT\r\n");
    let answer = raw_exchange(node.redis(), &request);
    let expected = [b"+OK\r\n".repeat(100), b"$1\r\n7\r\n+OK\r\n".to_vec()].concat();
    assert_eq!(answer, expected);
}

#[tokio::test]
async fn concurrent_clients_each_see_their_own_writes() {
    let node = NodeProcess::start_with_redis();
    let addr = node.redis();
    let workers: Vec<_> = (0..8)
        .map(|w| {
            std::thread::spawn(move || {
                let mut c = connect(addr);
                for i in 0..200 {
                    let key = format!("w{w}:{i}");
                    let _: () = c.set(&key, i).unwrap();
                    assert_eq!(c.get::<_, i64>(&key).unwrap(), i);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(node.status().await.unwrap().key_count, 1600);
}

#[tokio::test]
async fn resp3_after_hello_3_uses_real_nulls() {
    let node = NodeProcess::start_with_redis();
    let answer = raw_exchange(node.redis(), b"HELLO 3\r\nGET missing\r\nQUIT\r\n");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"), "{text}");
    assert!(text.ends_with("_\r\n+OK\r\n"), "{text}");
    let answer = raw_exchange(node.redis(), b"HELLO 4\r\nQUIT\r\n");
    assert_eq!(answer, b"-NOPROTO unsupported protocol version\r\n+OK\r\n");
}

#[tokio::test]
async fn malformed_resp_gets_an_error_and_a_closed_connection_while_others_are_served() {
    let node =
        NodeProcess::start(None, &["--redis-port", "0", "--max-frame-bytes", "1048576", "--max-value-bytes", "65536"]);
    let addr = node.redis();
    let mut bystander = connect(addr);
    let _: () = bystander.set("k", "v").unwrap();
    let cases: [(&[u8], &str); 5] = [
        (b"*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\n$99999999999\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n$-7\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"*2\r\n$3\r\nGET\r\n:1\r\n", "-ERR Protocol error: expected '$', got ':'\r\n"),
        (b"*1\r\n$3\r\nGETXX\r\n", "-ERR Protocol error: bulk string not terminated by CRLF\r\n"),
    ];
    for (request, expected) in cases {
        assert_eq!(String::from_utf8_lossy(&raw_exchange(addr, request)), expected, "for {request:?}");
    }
    // Binary garbage with no newline, longer than an inline command may be.
    let garbage: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 0x80).collect();
    let answer = raw_exchange(addr, &garbage);
    assert!(answer.starts_with(b"-ERR Protocol error"), "{}", String::from_utf8_lossy(&answer));
    // A bulk over the node's bound is refused before it is read.
    let answer = raw_exchange(addr, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n");
    assert_eq!(answer, b"-ERR Protocol error: invalid bulk length\r\n");
    assert_eq!(bystander.get::<_, String>("k").unwrap(), "v");
}

#[tokio::test]
async fn redis_cli_works_against_a_node() {
    let Ok(probe) = Command::new("redis-cli").arg("--version").output() else {
        assert!(std::env::var_os("CI").is_none(), "redis-cli is required in CI (.ci/run installs redis-tools)");
        eprintln!("SKIPPED: redis-cli is not installed (apt-get install redis-tools)");
        return;
    };
    assert!(probe.status.success());
    let node = NodeProcess::start_with_redis();
    let port = node.redis().port().to_string();
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli").args(["-h", "127.0.0.1", "-p", &port]).args(args).output().unwrap();
        assert!(out.status.success(), "redis-cli {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(cli(&["ping"]), "PONG");
    assert_eq!(cli(&["set", "cli-key", "cli value"]), "OK");
    assert_eq!(cli(&["get", "cli-key"]), "cli value");
    assert_eq!(cli(&["dbsize"]), "1");
    assert_eq!(cli(&["--scan", "--pattern", "cli-*"]), "cli-key");
    assert!(cli(&["info", "keyspace"]).contains("db0:keys=1"));
    assert_eq!(node.get("cli-key").await.unwrap().as_deref(), Some(&b"cli value"[..]));
}
