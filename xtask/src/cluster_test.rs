//! The reference scenario, step by step, failing loudly at the first step that does not hold.

use kvs_client::MemberState;
use kvs_tests::binaries::binary;
use kvs_tests::{wait_for_alive_members, NodeProcess};
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

const PORTS: [u16; 3] = [1234, 1235, 1236];
const DEADLINE: Duration = Duration::from_secs(20);

/// Runs the kvs-client CLI against `port`, echoing what it printed; errors unless it exits 0.
fn cli(port: u16, args: &[&str]) -> Result<String, String> {
    let out = Command::new(binary("kvs-client"))
        .args(["127.0.0.1", &port.to_string()])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run kvs-client: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("$ kvs-client 127.0.0.1 {port} {}\n{}", args.join(" "), stdout.trim_end());
    if !out.status.success() {
        return Err(format!(
            "kvs-client {} on {port} exited {:?}: {}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(stdout)
}

fn check(condition: bool, what: impl Into<String>) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(what.into())
    }
}

/// Starts the three nodes, runs the scenario, and shuts every node down through the client.
pub async fn run() -> Result<(), String> {
    for port in PORTS {
        std::net::TcpListener::bind(("127.0.0.1", port))
            .map_err(|e| format!("port {port} is not free ({e}); is another cluster running?"))?;
    }
    let addr = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    // Dropping a NodeProcess kills it, so an early return leaves no process behind.
    let mut nodes = Vec::new();
    for (i, port) in PORTS.into_iter().enumerate() {
        let bootstrap = (i > 0).then(|| addr(PORTS[i - 1]));
        nodes.push(NodeProcess::start_on(addr(port), bootstrap, &[]));
        println!("started node on {port}{}", bootstrap.map(|b| format!(", booting from {b}")).unwrap_or_default());
    }
    wait_for_alive_members(&nodes, 3, DEADLINE).await;
    println!("all three nodes see three alive members");

    check(cli(1234, &["set", "mykey", "myvalue"])?.trim() == "OK", "set did not print OK")?;
    nodes[1].wait_for_value("mykey", Some("myvalue"), DEADLINE).await;
    let got = cli(1235, &["get", "mykey"])?;
    check(got == "myvalue\n", format!("get mykey on 1235 printed {got:?}, expected \"myvalue\""))?;

    for (node, port) in nodes.iter().zip(PORTS) {
        cli(port, &["status"])?;
        let status = node.status().await.map_err(|e| format!("status on {port}: {e}"))?;
        let alive = status.members.iter().filter(|m| m.state == MemberState::Alive).count();
        check(alive == 3, format!("node {port} sees {alive} alive members, expected 3"))?;
        check(status.keys.iter().any(|k| k == "mykey"), format!("node {port} does not list mykey"))?;
    }

    for (node, port) in nodes.iter_mut().zip(PORTS) {
        check(cli(port, &["shutdown"])?.trim() == "OK", format!("shutdown of {port} did not print OK"))?;
        let status = node.wait_exit(DEADLINE);
        check(status.success(), format!("node {port} exited with {status}"))?;
    }
    println!("cluster-test PASSED");
    Ok(())
}
