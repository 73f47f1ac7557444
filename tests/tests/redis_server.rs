//! The server surface tools rely on, mirroring Redis 7.0's `unit/slowlog.tcl`, `unit/info.tcl`,
//! `unit/latency-monitor.tcl` and `unit/introspection.tcl` where kvs has the same thing: INFO's
//! sections, commandstats and errorstats, CONFIG GET/SET/RESETSTAT, SLOWLOG, LATENCY, TIME,
//! ROLE, LASTSAVE/BGSAVE, MEMORY, COMMAND's subcommands, RESET and every HELP.

use kvs_tests::resp::{assert_error, run};
use kvs_tests::NodeProcess;
use redis::Value;

fn node() -> NodeProcess {
    NodeProcess::start(None, &["--redis-port", "0"])
}

fn info(c: &mut redis::Connection, sections: &[&str]) -> String {
    let mut args = vec!["INFO"];
    args.extend_from_slice(sections);
    run(c, &args)
}

/// A field's value in an INFO text.
fn field(info: &str, name: &str) -> Option<String> {
    info.lines().find_map(|line| line.strip_prefix(&format!("{name}:")).map(str::to_string))
}

#[test]
fn info_has_redis_7s_sections_and_counts_commands_and_errors() {
    let node = node();
    let c = &mut node.resp();
    let default = info(c, &[]);
    for header in ["# Server", "# Clients", "# Memory", "# Persistence", "# Stats", "# Replication", "# CPU"] {
        assert!(default.contains(header), "{header} missing:\n{default}");
    }
    assert!(default.contains("# Errorstats") && default.contains("# Cluster") && default.contains("# Keyspace"));
    assert_eq!(field(&default, "cluster_enabled").as_deref(), Some("0"), "what redis-py's test harness reads");
    assert!(!default.contains("# Commandstats"), "commandstats is not a default section");

    let _: () = run(c, &["CONFIG", "RESETSTAT"]);
    let _: () = run(c, &["SET", "k", "v"]);
    let _: Option<String> = run(c, &["GET", "k"]);
    let _: Option<String> = run(c, &["GET", "k"]);
    assert_error(c, &["INCR", "k"], "ERR value is not an integer");
    assert_error(c, &["NOSUCHCOMMAND"], "ERR unknown command");
    let stats = info(c, &["commandstats"]);
    let get = field(&stats, "cmdstat_get").unwrap_or_else(|| panic!("no cmdstat_get in {stats}"));
    assert!(get.starts_with("calls=2,usec="), "{get}");
    assert!(get.ends_with("rejected_calls=0,failed_calls=0"), "{get}");
    let incr = field(&stats, "cmdstat_incr").unwrap();
    assert!(incr.ends_with("failed_calls=1"), "{incr}");
    let errors = info(c, &["errorstats"]);
    assert_eq!(field(&errors, "errorstat_ERR").as_deref(), Some("count=2"), "{errors}");
    let _: Vec<Option<String>> = run(c, &["MGET", "k", "missing"]);
    let stats = info(c, &["stats"]);
    assert_eq!(
        (field(&stats, "keyspace_hits"), field(&stats, "keyspace_misses")),
        (Some("3".into()), Some("1".into()))
    );
    // Several sections at once, in Redis's order; `all` adds commandstats.
    let two = info(c, &["keyspace", "server"]);
    assert!(two.starts_with("# Server") && two.contains("# Keyspace") && !two.contains("# Clients"), "{two}");
    assert!(info(c, &["all"]).contains("# Commandstats"));
    assert_eq!(info(c, &["nosuchsection"]), "");
    let _: () = run(c, &["CONFIG", "RESETSTAT"]);
    assert_eq!(field(&info(c, &["errorstats"]), "errorstat_ERR"), None, "RESETSTAT clears the error counts");
}

#[test]
fn config_get_takes_patterns_and_set_changes_what_can_change() {
    let node = node();
    let c = &mut node.resp();
    let all: Vec<String> = run(c, &["CONFIG", "GET", "*"]);
    assert!(all.len() >= 40 && all.len().is_multiple_of(2), "{all:?}");
    let slowlog: Vec<String> = run(c, &["CONFIG", "GET", "slowlog-*"]);
    assert_eq!(slowlog, vec!["slowlog-log-slower-than", "10000", "slowlog-max-len", "128"]);
    let _: () = run(c, &["CONFIG", "SET", "slowlog-log-slower-than", "5", "slowlog-max-len", "3"]);
    let set: Vec<String> = run(c, &["CONFIG", "GET", "slowlog-log-slower-than"]);
    assert_eq!(set, vec!["slowlog-log-slower-than", "5"]);
    assert_error(c, &["CONFIG", "SET", "port", "1"], "can't set immutable config");
    assert_error(
        c,
        &["CONFIG", "SET", "nosuch", "1"],
        "Unknown option or number of arguments for CONFIG SET - 'nosuch'",
    );
    // One bad value sets none of them.
    assert_error(c, &["CONFIG", "SET", "slowlog-max-len", "7", "slowlog-log-slower-than", "x"], "CONFIG SET failed");
    let kept: Vec<String> = run(c, &["CONFIG", "GET", "slowlog-max-len"]);
    assert_eq!(kept, vec!["slowlog-max-len", "3"]);
    assert_error(c, &["CONFIG", "NOSUCH"], "Try CONFIG HELP.");
    let help: Vec<String> = run(c, &["CONFIG", "HELP"]);
    assert!(help[0].starts_with("CONFIG <subcommand>") && help.iter().any(|l| l.starts_with("RESETSTAT")));
}

#[test]
fn config_rewrite_writes_what_config_set_changed_into_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kvs.toml");
    std::fs::write(
        &path,
        "# this node's settings
maxmemory-policy = \"noeviction\" # set by hand
",
    )
    .unwrap();
    let file = path.display().to_string();
    let mut node = NodeProcess::start(None, &["--redis-port", "0", "--config", &file]);
    let c = &mut node.resp();
    let _: () =
        run(c, &["CONFIG", "SET", "maxmemory", "10mb", "maxmemory-policy", "allkeys-lru", "slowlog-max-len", "64"]);
    let _: () = run(c, &["CONFIG", "REWRITE"]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# this node's settings\n"), "{text}");
    for line in ["maxmemory = 10485760", "maxmemory-policy = \"allkeys-lru\"", "slowlog-max-len = 64"] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    assert!(!text.contains("latency-monitor-threshold"), "a default the file lacks is not added: {text}");
    // The node reads them back at its next start.
    node.restart(None);
    let c = &mut node.resp();
    let config: Vec<String> = run(c, &["CONFIG", "GET", "maxmemory*", "slowlog-max-len"]);
    for pair in [["maxmemory", "10485760"], ["maxmemory-policy", "allkeys-lru"], ["slowlog-max-len", "64"]] {
        assert!(config.windows(2).any(|w| w == pair), "{pair:?} in {config:?}");
    }
    // Without --config there is nothing to rewrite, as in Redis.
    let plain = self::node();
    assert_error(&mut plain.resp(), &["CONFIG", "REWRITE"], "The server is running without a config file");
}

#[test]
fn slowlog_keeps_what_ran_long_enough_newest_first_within_its_length() {
    let node = node();
    let c = &mut node.resp();
    let len = |c: &mut redis::Connection| run::<i64>(c, &["SLOWLOG", "LEN"]);
    assert_eq!(len(c), 0, "it starts empty");
    let _: () = run(c, &["CONFIG", "SET", "slowlog-log-slower-than", "100000"]);
    let _: String = run(c, &["PING"]);
    assert_eq!(len(c), 0, "only logs commands taking more time than specified");
    let _: () = run(c, &["DEBUG", "SLEEP", "0.2"]);
    assert_eq!(len(c), 1);

    let _: () = run(c, &["CONFIG", "SET", "slowlog-log-slower-than", "0", "slowlog-max-len", "10"]);
    for _ in 0..100 {
        let _: String = run(c, &["PING"]);
    }
    assert_eq!(len(c), 10, "max entries is correctly handled");
    assert_eq!(run::<Vec<Value>>(c, &["SLOWLOG", "GET", "5"]).len(), 5);
    assert_eq!(run::<Vec<Value>>(c, &["SLOWLOG", "GET", "-1"]).len(), 10);
    assert_eq!(run::<Vec<Value>>(c, &["SLOWLOG", "GET", "20"]).len(), 10);
    let _: () = run(c, &["SLOWLOG", "RESET"]);
    assert!(len(c) <= 1, "RESET empties it (the LEN before this one may be logged)");

    let _: () = run(c, &["CONFIG", "SET", "slowlog-log-slower-than", "100000"]);
    let _: () = run(c, &["SLOWLOG", "RESET"]);
    let _: () = run(c, &["CLIENT", "SETNAME", "foobar"]);
    let _: () = run(c, &["DEBUG", "SLEEP", "0.2"]);
    let entries: Vec<Vec<Value>> = run(c, &["SLOWLOG", "GET"]);
    let entry = &entries[0];
    assert_eq!(entry.len(), 6, "id, time, duration, arguments, address, name");
    let Value::Int(duration) = entry[2] else { panic!("{entry:?}") };
    assert!(duration >= 100_000, "{duration}");
    let args: Vec<String> = redis::from_redis_value(&entry[3]).unwrap();
    assert_eq!(args, vec!["DEBUG", "SLEEP", "0.2"]);
    assert_eq!(redis::from_redis_value::<String>(&entry[5]).unwrap(), "foobar");

    // EXEC is not logged, just the commands it executed.
    let _: () = run(c, &["SLOWLOG", "RESET"]);
    let _: () = run(c, &["MULTI"]);
    let _: String = run(c, &["DEBUG", "SLEEP", "0.2"]);
    let _: Value = run(c, &["EXEC"]);
    let entries: Vec<Vec<Value>> = run(c, &["SLOWLOG", "GET"]);
    assert_eq!(entries.len(), 1);
    assert_eq!(redis::from_redis_value::<Vec<String>>(&entries[0][3]).unwrap(), vec!["DEBUG", "SLEEP", "0.2"]);
    assert_error(c, &["SLOWLOG", "NOSUCH"], "Try SLOWLOG HELP.");
}

#[test]
fn the_latency_monitor_records_commands_past_its_threshold() {
    let node = node();
    let c = &mut node.resp();
    let doctor: String = run(c, &["LATENCY", "DOCTOR"]);
    assert!(doctor.contains("disabled"), "{doctor}");
    let _: () = run(c, &["CONFIG", "SET", "latency-monitor-threshold", "200"]);
    let _: () = run(c, &["DEBUG", "SLEEP", "0.3"]);
    let latest: Vec<Vec<Value>> = run(c, &["LATENCY", "LATEST"]);
    assert_eq!(latest.len(), 1);
    assert_eq!(redis::from_redis_value::<String>(&latest[0][0]).unwrap(), "command");
    let Value::Int(max) = latest[0][3] else { panic!("{latest:?}") };
    assert!(max >= 300, "{max}");
    let history: Vec<Vec<i64>> = run(c, &["LATENCY", "HISTORY", "command"]);
    assert_eq!(history.len(), 1);
    assert!(history[0][1] >= 300);
    assert_eq!(run::<i64>(c, &["LATENCY", "RESET"]), 1);
    assert!(run::<Vec<Value>>(c, &["LATENCY", "LATEST"]).is_empty());
}

#[test]
fn time_role_lastsave_memory_and_reset() {
    let node = node();
    let c = &mut node.resp();
    let time: Vec<String> = run(c, &["TIME"]);
    let seconds: u64 = time[0].parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(seconds.abs_diff(now) <= 2, "TIME is this node's clock");
    assert!(time[1].parse::<u32>().unwrap() < 1_000_000);
    let role: Vec<Value> = run(c, &["ROLE"]);
    assert_eq!(redis::from_redis_value::<String>(&role[0]).unwrap(), "master");
    let lastsave: u64 = run(c, &["LASTSAVE"]);
    assert!(lastsave <= now + 1);
    assert_error(c, &["BGSAVE"], "no data dir");

    let _: () = run(c, &["SET", "k", "some value"]);
    let usage: i64 = run(c, &["MEMORY", "USAGE", "k"]);
    assert!(usage > "ksome value".len() as i64, "{usage}");
    assert_eq!(run::<Option<i64>>(c, &["MEMORY", "USAGE", "missing"]), None);
    let _: Value = run(c, &["MEMORY", "STATS"]);

    let _: () = run(c, &["MULTI"]);
    let _: String = run(c, &["SET", "queued", "v"]);
    let reset: String = run(c, &["RESET"]);
    assert_eq!(reset, "RESET");
    assert_error(c, &["EXEC"], "EXEC without MULTI");
}

#[test]
fn command_lists_counts_and_finds_keys() {
    let node = node();
    let c = &mut node.resp();
    let count: usize = run(c, &["COMMAND", "COUNT"]);
    let list: Vec<String> = run(c, &["COMMAND", "LIST"]);
    assert_eq!(list.len(), count);
    assert!(list.iter().any(|n| n == "get") && list.iter().any(|n| n == "slowlog"));
    let pattern: Vec<String> = run(c, &["COMMAND", "LIST", "FILTERBY", "PATTERN", "set*"]);
    assert!(pattern.iter().all(|n| n.starts_with("set")) && pattern.iter().any(|n| n == "setrange"), "{pattern:?}");
    let keys: Vec<String> = run(c, &["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]);
    assert_eq!(keys, vec!["a", "b"]);
    let keys: Vec<String> = run(c, &["COMMAND", "GETKEYS", "GET", "k"]);
    assert_eq!(keys, vec!["k"]);
    assert_error(c, &["COMMAND", "GETKEYS", "PING"], "The command has no key arguments");
    assert_error(c, &["COMMAND", "GETKEYS", "NOSUCH", "k"], "Invalid command specified");
    assert_error(c, &["COMMAND", "GETKEYS", "GET"], "Invalid number of arguments specified for command");
    let with_flags: Vec<Value> = run(c, &["COMMAND", "GETKEYSANDFLAGS", "SET", "k", "v"]);
    assert_eq!(with_flags.len(), 1);
    // Every HELP an error message points to answers.
    for command in ["COMMAND", "CONFIG", "CLIENT", "SLOWLOG", "LATENCY", "MEMORY", "OBJECT"] {
        let help: Vec<String> = run(c, &[command, "HELP"]);
        assert!(help[0].starts_with(&format!("{command} <subcommand>")), "{command}: {help:?}");
        assert_eq!(help.last().map(String::as_str), Some("    Print this help."), "{command}");
    }
}

/// Waits for a lone node's gates to open (it opens them at its first tick).
fn gates_open(c: &mut redis::Connection) {
    kvs_tests::resp::eventually(std::time::Duration::from_secs(30), "the cluster version to rise", || {
        field(&info(c, &["server"]), "kvs_cluster_version") == Some(kvs_proto::PROTOCOL_VERSION.to_string())
    });
}

#[test]
fn client_pause_holds_commands_back_until_its_time_or_unpause() {
    let node = node();
    let c = &mut node.resp();
    let _: () = run(c, &["CLIENT", "PAUSE", "400", "WRITE"]);
    let started = std::time::Instant::now();
    let _: Option<String> = run(c, &["GET", "k"]);
    assert!(started.elapsed() < std::time::Duration::from_millis(300), "reads pass a WRITE pause");
    let _: () = run(c, &["SET", "k", "v"]);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300), "a write waits for the pause to end");
    let _: () = run(c, &["CLIENT", "PAUSE", "100000"]);
    let other = std::thread::spawn({
        let addr = node.redis();
        move || {
            let c = &mut kvs_tests::resp::connect(addr);
            let started = std::time::Instant::now();
            let _: String = run(c, &["PING"]);
            started.elapsed()
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    let _: () = run(c, &["CLIENT", "UNPAUSE"]);
    let held = other.join().unwrap();
    assert!(held >= std::time::Duration::from_millis(150) && held < std::time::Duration::from_secs(10), "{held:?}");
}

#[test]
fn client_unblock_ends_a_wait_as_a_timeout_or_an_error() {
    let node = node();
    let c = &mut node.resp();
    gates_open(c);
    let id: i64 = run(c, &["CLIENT", "ID"]);
    assert_eq!(run::<i64>(c, &["CLIENT", "UNBLOCK", &id.to_string()]), 0, "not blocked");
    for (reason, expect_error) in [("TIMEOUT", false), ("ERROR", true)] {
        let addr = node.redis();
        let (tell, waiter_id) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let w = &mut kvs_tests::resp::connect(addr);
            tell.send(run::<i64>(w, &["CLIENT", "ID"])).unwrap();
            let _: () = run(w, &["SET", "k", "v"]);
            // A lone node has no peer to acknowledge: this waits for ever, unless unblocked.
            redis::cmd("WAIT").arg(1).arg(0).query::<i64>(w)
        });
        let waiter_id = waiter_id.recv().unwrap().to_string();
        kvs_tests::resp::eventually(std::time::Duration::from_secs(10), "the WAIT to block", || {
            run::<i64>(c, &["CLIENT", "UNBLOCK", &waiter_id, reason]) == 1
        });
        match waiter.join().unwrap() {
            Ok(count) => assert!(!expect_error && count == 0, "{reason}: {count}"),
            Err(error) => {
                assert!(expect_error && error.to_string().contains("client unblocked via CLIENT UNBLOCK"), "{error}")
            }
        }
    }
}

#[test]
fn client_reply_off_and_skip_hold_replies_back() {
    let node = node();
    let addr = node.redis();
    // Raw RESP, since a client library waits for replies that OFF never sends.
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(
        b"CLIENT REPLY SKIP\r\nSET a 1\r\nPING\r\nCLIENT REPLY OFF\r\nPING\r\nCLIENT REPLY ON\r\nECHO done\r\n",
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.ends_with(b"done\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(String::from_utf8_lossy(&got), "+PONG\r\n+OK\r\n$4\r\ndone\r\n");
    let c = &mut node.resp();
    assert_eq!(run::<Option<String>>(c, &["GET", "a"]).as_deref(), Some("1"), "the skipped command ran");
    let normal: String = run(c, &["CLIENT", "LIST", "TYPE", "normal"]);
    assert_eq!(normal.lines().count(), 2);
    assert_eq!(run::<String>(c, &["CLIENT", "LIST", "TYPE", "pubsub"]), "");
    assert_error(c, &["CLIENT", "LIST", "TYPE", "nosuch"], "Unknown client type 'nosuch'");
}

/// Reads from a raw connection until `done` holds for what was read, with a deadline.
fn read_until(s: &mut std::net::TcpStream, done: impl Fn(&str) -> bool) -> String {
    use std::io::Read;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !done(&String::from_utf8_lossy(&got)) {
        let n = s.read(&mut buf).expect("an answer within 10 s");
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn monitor_shows_every_command_until_reset() {
    use std::io::Write;
    let node = node();
    let mut monitor = std::net::TcpStream::connect(node.redis()).unwrap();
    monitor.write_all(b"MONITOR\r\n").unwrap();
    assert_eq!(read_until(&mut monitor, |got| got.ends_with("\r\n")), "+OK\r\n");
    let c = &mut node.resp();
    let _: () = run(c, &["SET", "k", "a \"b\"\n"]);
    let _: Value = run(c, &["MULTI"]);
    let _: String = run(c, &["INCR", "n"]);
    let _: Value = run(c, &["EXEC"]);
    let seen = read_until(&mut monitor, |got| got.contains("\"INCR\""));
    let set = seen.lines().find(|l| l.contains("\"SET\"")).unwrap_or_else(|| panic!("{seen}"));
    let (time, rest) = set.strip_prefix('+').unwrap().split_once(' ').unwrap();
    let (seconds, micros) = time.split_once('.').unwrap();
    assert!(seconds.parse::<u64>().is_ok() && micros.len() == 6, "{set}");
    assert!(rest.starts_with("[0 127.0.0.1:") && rest.ends_with(r#""SET" "k" "a \"b\"\n""#), "{set}");
    monitor.write_all(b"GET k\r\n").unwrap();
    read_until(&mut monitor, |got| got.contains("-ERR only QUIT and RESET"));
    monitor.write_all(b"RESET\r\nPING\r\n").unwrap();
    let after = read_until(&mut monitor, |got| got.contains("+PONG"));
    assert!(after.contains("+RESET\r\n"), "{after}");
}

#[test]
fn save_and_bgsave_compact_a_durable_nodes_log() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let node = NodeProcess::start(None, &["--redis-port", "0", "--data-dir", &data_dir]);
    let c = &mut node.resp();
    for i in 0..100 {
        let _: () = run(c, &["SET", "k", &i.to_string()]);
    }
    let rewrites = |c: &mut redis::Connection| -> u64 {
        field(&info(c, &["persistence"]), "aof_rewrites").unwrap().parse().unwrap()
    };
    let before = rewrites(c);
    let _: () = run(c, &["SAVE"]);
    assert_eq!(rewrites(c), before + 1, "SAVE answers once the log is compacted");
    let log_bytes = std::fs::metadata(dir.path().join("log")).unwrap().len();
    assert!(log_bytes < 2_000, "one key's record, not a hundred writes: {log_bytes} bytes");
    let saved: u64 = run(c, &["LASTSAVE"]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(saved.abs_diff(now) <= 2);
    let started: String = run(c, &["BGSAVE"]);
    assert_eq!(started, "Background saving started");
    let memory_only = self::node();
    assert_error(&mut memory_only.resp(), &["SAVE"], "no data dir");
}
