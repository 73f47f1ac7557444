//! Talking to a node's Redis port with the `redis` crate, tersely: a test reads like the Redis
//! test it mirrors.

use redis::{Connection, FromRedisValue, Value};
use std::net::SocketAddr;

/// A connection to the Redis port at `addr`.
pub fn connect(addr: SocketAddr) -> Connection {
    redis::Client::open(format!("redis://{addr}/")).unwrap().get_connection().unwrap()
}

fn command(args: &[&str]) -> redis::Cmd {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd
}

/// Runs a command, panicking on an error reply.
pub fn run<T: FromRedisValue>(c: &mut Connection, args: &[&str]) -> T {
    command(args).query(c).unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Runs a command that must fail; returns the error text.
pub fn error(c: &mut Connection, args: &[&str]) -> String {
    match command(args).query::<Value>(c) {
        Ok(value) => panic!("{args:?} should have failed, answered {value:?}"),
        Err(e) => e.to_string(),
    }
}

/// Runs a command that must fail with an error containing `wanted` (the `redis` crate drops an
/// `ERR ` prefix from what it shows, so one is dropped from `wanted` too).
pub fn assert_error(c: &mut Connection, args: &[&str], wanted: &str) {
    let text = error(c, args);
    let wanted = wanted.strip_prefix("ERR ").unwrap_or(wanted);
    assert!(text.contains(wanted), "{args:?}: expected an error containing {wanted:?}, got {text:?}");
}

/// Polls `check` until it holds, panicking with `what` after `limit`: for blocking tests on a
/// Redis connection (the async [`crate::wait_until`] suits tests with an async client).
pub fn eventually(limit: std::time::Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !check() {
        assert!(std::time::Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
