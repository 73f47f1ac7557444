//! Hosts in network namespaces on one bridge, with traffic between chosen pairs cut and healed.
//!
//! Each host is a namespace with one interface (`eth0`, an address in 198.18.0.0/24, the range
//! set aside for network tests) whose other end sits on a bridge in a namespace of its own. Every
//! host's `eth0` gets an htb root qdisc whose default class passes everything and whose second
//! class ends in a `blackhole` qdisc; cutting `a`–`b` adds a filter on each side that sends packets
//! for the other into the blackhole, so both directions are lost silently, as in a real partition
//! (no reset, no ICMP). Nothing touches the host's own namespace; dropping the [`Network`] deletes
//! every namespace it made, and with them every interface and filter.
//!
//! Creating namespaces needs root and iproute2. Where they are missing, [`Network::create`]
//! returns `None` and the test says it was skipped, unless `KVS_REQUIRE_NETNS` is set (as CI
//! does), in which case it panics.

use kvs_client::StatusReport;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A bridge and `n` hosts, each in its own namespace.
pub struct Network {
    bridge: String,
    hosts: Vec<String>,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Runs `program args`, returning its stdout, or what went wrong.
fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let output =
        Command::new(program).args(args).stdin(Stdio::null()).output().map_err(|e| format!("{program}: {e}"))?;
    if !output.status.success() {
        return Err(format!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn must(program: &str, args: &[&str]) -> String {
    run(program, args).unwrap_or_else(|e| panic!("{e}"))
}

impl Network {
    /// Creates the bridge and `n` hosts, or `None` when this machine cannot (see the module docs).
    pub fn create(n: usize) -> Option<Network> {
        let prefix = format!("kvs-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let network = Network { bridge: format!("{prefix}-br"), hosts: Vec::new() };
        if let Err(error) = run("ip", &["netns", "add", &network.bridge]) {
            assert!(std::env::var_os("KVS_REQUIRE_NETNS").is_none(), "network namespaces are required: {error}");
            eprintln!("SKIPPED: this test needs network namespaces (root and iproute2): {error}");
            return None;
        }
        let mut network = network;
        let bridge = network.bridge.clone();
        must("ip", &["-n", &bridge, "link", "add", "br0", "type", "bridge"]);
        must("ip", &["-n", &bridge, "link", "set", "br0", "up"]);
        for i in 0..n {
            let host = format!("{prefix}-h{i}");
            must("ip", &["netns", "add", &host]);
            network.hosts.push(host.clone());
            let port = format!("p{i}");
            must("ip", &["-n", &bridge, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &host]);
            must("ip", &["-n", &bridge, "link", "set", &port, "master", "br0", "up"]);
            let addr = format!("{}/24", network.ip(i));
            must("ip", &["-n", &host, "addr", "add", &addr, "dev", "eth0"]);
            must("ip", &["-n", &host, "link", "set", "eth0", "up"]);
            must("ip", &["-n", &host, "link", "set", "lo", "up"]);
            let tc = |args: &str| must("tc", &[&["-n", &host], &args.split(' ').collect::<Vec<_>>()[..]].concat());
            tc("qdisc add dev eth0 root handle 1: htb default 10");
            tc("class add dev eth0 parent 1: classid 1:10 htb rate 10gbit quantum 60000");
            tc("class add dev eth0 parent 1: classid 1:20 htb rate 10gbit quantum 60000");
            tc("qdisc add dev eth0 parent 1:20 handle 20: blackhole");
        }
        Some(network)
    }

    /// The namespace of host `i`.
    pub fn host(&self, i: usize) -> &str {
        &self.hosts[i]
    }

    /// The address of host `i`.
    pub fn ip(&self, i: usize) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, 10 + i as u8))
    }

    /// Sends every packet from `from` to `to` into the blackhole (one direction).
    fn drop_packets(&self, from: usize, to: usize, cut: bool) {
        let (host, prio, dst) = (self.host(from), (to + 1).to_string(), format!("{}/32", self.ip(to)));
        if cut {
            let args = ["-n", host, "filter", "add", "dev", "eth0", "parent", "1:", "protocol", "ip", "prio", &prio];
            must("tc", &[&args[..], &["u32", "match", "ip", "dst", &dst, "flowid", "1:20"]].concat());
        } else {
            must("tc", &["-n", host, "filter", "del", "dev", "eth0", "parent", "1:", "prio", &prio]);
        }
    }

    /// Cuts all traffic between hosts `a` and `b`, both ways.
    pub fn cut(&self, a: usize, b: usize) {
        self.drop_packets(a, b, true);
        self.drop_packets(b, a, true);
    }

    /// Restores traffic between hosts `a` and `b`.
    pub fn heal(&self, a: usize, b: usize) {
        self.drop_packets(a, b, false);
        self.drop_packets(b, a, false);
    }

    /// Runs `kvs-client` inside host `i`'s namespace (the test process lives outside them all);
    /// `None` if it fails or does not answer within its timeout.
    pub fn client(&self, i: usize, node: std::net::SocketAddr, args: &[&str]) -> Option<String> {
        let client = crate::binaries::binary("kvs-client");
        let (ip, port) = (node.ip().to_string(), node.port().to_string());
        let mut command = Command::new("ip");
        command.args(["netns", "exec", self.host(i)]).arg(client).args([&ip, &port, "--timeout", "2"]).args(args);
        let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().ok()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while child.try_wait().ok()?.is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let output = child.wait_with_output().ok()?;
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs `redis-cli` inside host `i`'s namespace against the Redis port `redis`; its output,
    /// `None` if it fails or does not answer within 5 s.
    pub fn redis_cli(&self, i: usize, redis: std::net::SocketAddr, args: &[&str]) -> Option<String> {
        let (ip, port) = (redis.ip().to_string(), redis.port().to_string());
        let mut command = Command::new("timeout");
        command.args(["5", "ip", "netns", "exec", self.host(i), "redis-cli", "-h", &ip, "-p", &port]).args(args);
        let output = command.stdin(Stdio::null()).output().ok()?;
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim_end().to_owned())
    }

    /// `status --json` of the node at `node`, asked from host `i`.
    pub fn status(&self, i: usize, node: std::net::SocketAddr) -> Option<StatusReport> {
        serde_json::from_str(&self.client(i, node, &["status", "--json"])?).ok()
    }

    /// Established TCP connections to `port` inside host `i` (its node's accepted connections).
    pub fn established_to(&self, i: usize, port: u16) -> usize {
        let filter = format!("( sport = :{port} )");
        let out = must("ip", &["netns", "exec", self.host(i), "ss", "-Htn", "state", "established", &filter]);
        out.lines().filter(|line| !line.trim().is_empty()).count()
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for namespace in self.hosts.iter().chain(std::iter::once(&self.bridge)) {
            if let Err(error) = run("ip", &["netns", "del", namespace]) {
                eprintln!("cleaning up: {error}");
            }
        }
    }
}
