//! Joining a cluster: the node says when it has joined, and gives up when told to.

use kvs_tests::NodeProcess;
use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// An address where nothing listens: a port the kernel handed out and took back.
fn nobody_listening() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr")
}

#[test]
fn a_node_that_joins_says_so_on_stdout() {
    let a = NodeProcess::start(None, &[]);
    let b = NodeProcess::start(Some(a.addr), &[]);
    let line = b.next_stdout_line(Duration::from_secs(20)).expect("a second stdout line");
    assert_eq!(line, format!("joined the cluster through {}: 2 members", a.addr));
    assert_eq!(a.next_stdout_line(Duration::from_millis(300)), None, "a node without a bootstrap joins nothing");
}

#[test]
fn a_node_that_cannot_join_in_time_exits_with_the_reason() {
    let bootstrap = nobody_listening();
    let mut command = NodeProcess::command(([127, 0, 0, 1], 0).into(), Some(bootstrap), &["--join-timeout-ms", "1000"]);
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().expect("spawn kvs-node");
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the node kept trying past its join timeout");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped stderr"), &mut stderr).expect("stderr");
    assert_eq!(status.code(), Some(1), "{stderr}");
    let reason = format!("kvs-node: could not join the cluster through {bootstrap} within");
    assert!(stderr.contains(&reason), "{stderr}");
    assert!(started.elapsed() >= Duration::from_secs(1), "it tried for the whole timeout");
}
