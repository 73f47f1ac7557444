//! The security rows of `cargo xtask bench redis`: redis-server over TLS against a kvs node over
//! TLS (same certificates, same redis-benchmark), and a kvs node whose clients log in (users
//! file) against one whose clients do not, to show what auth costs once a client is logged in.

use super::redis_tools::{benchmark_with, median, RedisServer};
use kvs_tests::pki::Certificates;
use kvs_tests::NodeProcess;

/// One server of the security comparison and the redis-benchmark flags that reach it.
struct Row {
    name: &'static str,
    port: u16,
    flags: Vec<String>,
}

/// Runs the rows `rounds` times, alternating, and prints medians and ratios.
pub async fn run(rounds: usize, requests: usize, clients: usize) -> Result<(), String> {
    let certs = Certificates::generate()?;
    let path = |name: &str| certs.path(name).display().to_string();
    let tls_server = [path("cert.pem"), path("key.pem"), path("ca.pem")];
    let redis = RedisServer::start_with(|port| {
        let mut flags: Vec<String> = vec!["--port".into(), "0".into(), "--tls-port".into(), port.to_string()];
        for (flag, file) in ["--tls-cert-file", "--tls-key-file", "--tls-ca-cert-file"].iter().zip(&tls_server) {
            flags.extend([flag.to_string(), file.clone()]);
        }
        flags.extend(["--tls-auth-clients".into(), "no".into()]);
        flags
    })?;
    let kvs_tls = NodeProcess::start(
        None,
        &["--redis-port", "0", "--tls-cert-file", &tls_server[0], "--tls-key-file", &tls_server[1]],
    );
    let users = certs.write_private("users", "bench write benchpw\n")?;
    let plain = NodeProcess::start(None, &["--redis-port", "0"]);
    let authed = NodeProcess::start(None, &["--redis-port", "0", "--users-file", users.to_str().unwrap()]);
    for node in [&kvs_tls, &plain, &authed] {
        super::rig::serve(node.pid());
    }
    let tls_flags = vec!["--tls".to_string(), "--cacert".to_string(), path("ca.pem")];
    let auth_flags = ["--user", "bench", "-a", "benchpw"].map(String::from).to_vec();
    let rows = [
        Row { name: "redis TLS", port: redis.port, flags: tls_flags.clone() },
        Row { name: "kvs TLS", port: kvs_tls.redis().port(), flags: tls_flags },
        Row { name: "kvs plain", port: plain.redis().port(), flags: Vec::new() },
        Row { name: "kvs AUTH", port: authed.redis().port(), flags: auth_flags },
    ];
    let configs = [(1, 3), (16, 3)];
    let mut figures = vec![vec![Vec::new(); rows.len()]; configs.len() * 2];
    for round in 1..=rounds {
        for (c, &(pipeline, data)) in configs.iter().enumerate() {
            for (r, row) in rows.iter().enumerate() {
                let (set, get) = benchmark_with(row.port, &row.flags, requests, clients, pipeline, data)?;
                eprintln!("round {round}: -P {pipeline} -d {data} {:<10} SET {set:>10.0} GET {get:>10.0}", row.name);
                figures[c * 2][r].push(set);
                figures[c * 2 + 1][r].push(get);
            }
        }
    }
    println!("security: redis-benchmark -n {requests} -c {clients}, {rounds} rounds, medians in requests/s");
    println!(
        "{:<12} {:<4} {:>11} {:>11} {:>6} {:>11} {:>11} {:>6}",
        "config", "test", "redis TLS", "kvs TLS", "ratio", "kvs plain", "kvs AUTH", "ratio"
    );
    for (c, &(pipeline, data)) in configs.iter().enumerate() {
        for (t, test) in ["SET", "GET"].iter().enumerate() {
            let row = &mut figures[c * 2 + t];
            let m: Vec<f64> = row.iter_mut().map(|values| median(values)).collect();
            println!(
                "{:<12} {:<4} {:>11.0} {:>11.0} {:>6.2} {:>11.0} {:>11.0} {:>6.2}",
                format!("-P {pipeline} -d {data}"),
                test,
                m[0],
                m[1],
                m[1] / m[0],
                m[2],
                m[3],
                m[3] / m[2]
            );
        }
    }
    Ok(())
}
