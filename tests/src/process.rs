//! A node running as a child process, killed on drop.

use crate::binaries::binary;
use kvs_client::{Client, ClientError, StatusReport};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a node may take to print its listening address.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// A running `kvs-node` process.
pub struct NodeProcess {
    child: Child,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Where its Redis-protocol port listens, when started with `--redis-port`.
    pub redis_addr: Option<SocketAddr>,
    /// Where its HTTP admin port listens, when started with `--http-port`.
    pub http_addr: Option<SocketAddr>,
    /// The arguments after the address, to restart it the same way.
    extra: Vec<String>,
    /// Its stdout lines after the first, as they come (behind a mutex: a node is shared across
    /// threads that poll it).
    stdout: std::sync::Mutex<mpsc::Receiver<String>>,
}

impl NodeProcess {
    /// Starts a node on an ephemeral port, optionally joining through `bootstrap`.
    pub fn start(bootstrap: Option<SocketAddr>, extra: &[&str]) -> NodeProcess {
        Self::start_on(([127, 0, 0, 1], 0).into(), bootstrap, extra)
    }

    /// Starts a node of its own with a Redis port, on ephemeral ports.
    pub fn start_with_redis() -> NodeProcess {
        Self::start(None, &["--redis-port", "0"])
    }

    /// Starts a node on a given address (port 0 for any).
    pub fn start_on(listen: SocketAddr, bootstrap: Option<SocketAddr>, extra: &[&str]) -> NodeProcess {
        Self::start_with(listen, bootstrap, extra, |_| {})
    }

    /// The command that runs a node, for tests that watch it fail to start.
    pub fn command(listen: SocketAddr, bootstrap: Option<SocketAddr>, extra: &[&str]) -> Command {
        Self::command_in(None, listen, bootstrap, extra)
    }

    /// [`NodeProcess::command`] inside network namespace `netns` (through `ip netns exec`, which
    /// execs the node, so the child is the node itself).
    fn command_in(netns: Option<&str>, listen: SocketAddr, bootstrap: Option<SocketAddr>, extra: &[&str]) -> Command {
        let mut command = match netns {
            Some(netns) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", netns]).arg(binary("kvs-node"));
                command
            }
            None => Command::new(binary("kvs-node")),
        };
        command.arg(listen.ip().to_string()).arg(listen.port().to_string());
        if let Some(b) = bootstrap {
            command.arg(b.ip().to_string()).arg(b.port().to_string());
        }
        command.args(extra);
        // A namespace's addresses are not loopback: its nodes serve them unless a test is about
        // protected mode itself.
        if netns.is_some() && !extra.iter().any(|arg| arg.starts_with("--protected-mode")) {
            command.args(["--protected-mode", "no"]);
        }
        command.env("RUST_LOG", std::env::var("KVS_TEST_LOG").unwrap_or_else(|_| "warn".into()));
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        command
    }

    /// Runs a node that is expected to fail to start; returns its exit code and stderr.
    pub fn failed_start(listen: SocketAddr, extra: &[&str]) -> (Option<i32>, String) {
        Self::failed_start_through(listen, None, extra)
    }

    /// Runs a node on an ephemeral port that is expected to fail to join through `bootstrap`
    /// (with a `--join-timeout-ms` among `extra`); returns its exit code and stderr.
    pub fn failed_start_joining(bootstrap: SocketAddr, extra: &[&str]) -> (Option<i32>, String) {
        Self::failed_start_through(([127, 0, 0, 1], 0).into(), Some(bootstrap), extra)
    }

    fn failed_start_through(
        listen: SocketAddr,
        bootstrap: Option<SocketAddr>,
        extra: &[&str],
    ) -> (Option<i32>, String) {
        let mut command = Self::command(listen, bootstrap, extra);
        command.stderr(Stdio::piped()).stdout(Stdio::null());
        let mut child = command.spawn().expect("spawn kvs-node");
        let deadline = Instant::now() + START_DEADLINE;
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the node kept running");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().expect("piped stderr"), &mut stderr)
            .expect("read stderr");
        (status.code(), stderr)
    }

    /// Starts a node inside network namespace `netns`, listening on `listen` there.
    pub fn start_in_netns(
        netns: &str,
        listen: SocketAddr,
        bootstrap: Option<SocketAddr>,
        extra: &[&str],
    ) -> NodeProcess {
        Self::spawn(Self::command_in(Some(netns), listen, bootstrap, extra), listen, extra)
    }

    /// Starts a node from another build's `kvs-node` (a bench's baseline) on an ephemeral port,
    /// with the same arguments and environment as [`NodeProcess::start`].
    pub fn start_program(program: &std::path::Path, bootstrap: Option<SocketAddr>, extra: &[&str]) -> NodeProcess {
        Self::start_program_on(program, ([127, 0, 0, 1], 0).into(), bootstrap, extra)
    }

    /// [`NodeProcess::start_program`] on a given address (an upgrade restarts a node where it was).
    pub fn start_program_on(
        program: &std::path::Path,
        listen: SocketAddr,
        bootstrap: Option<SocketAddr>,
        extra: &[&str],
    ) -> NodeProcess {
        let ours = Self::command(listen, bootstrap, extra);
        let mut command = Command::new(program);
        command.args(ours.get_args());
        command.envs(ours.get_envs().filter_map(|(key, value)| Some((key, value?))));
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        Self::spawn(command, listen, extra)
    }

    /// Starts a node after letting `configure` adjust the command (e.g. resource limits).
    pub fn start_with(
        listen: SocketAddr,
        bootstrap: Option<SocketAddr>,
        extra: &[&str],
        configure: impl FnOnce(&mut Command),
    ) -> NodeProcess {
        let mut command = Self::command(listen, bootstrap, extra);
        configure(&mut command);
        Self::spawn(command, listen, extra)
    }

    fn spawn(mut command: Command, listen: SocketAddr, extra: &[&str]) -> NodeProcess {
        let mut child = command.spawn().expect("spawn kvs-node");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // Read for as long as the node runs: the pipe stays open for every line it prints.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let extra = extra.iter().map(|s| s.to_string()).collect();
        let first = rx.recv_timeout(START_DEADLINE).unwrap_or_default();
        let mut node = NodeProcess {
            child,
            addr: listen,
            redis_addr: None,
            http_addr: None,
            extra,
            stdout: std::sync::Mutex::new(rx),
        };
        // "kvs-node <id> listening on <addr>[ redis <addr>][ http <addr>]"
        let line = first;
        let after = |word: &str| {
            let mut words = line.split_whitespace();
            words.find(|w| *w == word).and_then(|_| words.next()).and_then(|a| a.parse().ok())
        };
        node.addr = after("on").unwrap_or_else(|| panic!("kvs-node did not report its address; printed {line:?}"));
        node.redis_addr = after("redis");
        node.http_addr = after("http");
        node
    }

    /// The next line the node prints on stdout after its first, waiting up to `limit`.
    pub fn next_stdout_line(&self, limit: Duration) -> Option<String> {
        self.stdout.lock().unwrap_or_else(|p| p.into_inner()).recv_timeout(limit).ok()
    }

    /// Runs `kvs-client <this node's host> <port> <args…>` to completion.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(binary("kvs-client"))
            .arg(self.addr.ip().to_string())
            .arg(self.addr.port().to_string())
            .args(args)
            .output()
            .expect("run kvs-client")
    }

    /// The Redis-protocol address; panics if the node was started without `--redis-port`.
    pub fn redis(&self) -> SocketAddr {
        self.redis_addr.expect("node started with --redis-port")
    }

    /// The admin port's URL for `path` (`/metrics`, say); panics if the node was started without
    /// `--http-port`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr.expect("node started with --http-port"))
    }

    /// A connection to the Redis port; panics if the node was started without `--redis-port`.
    pub fn resp(&self) -> redis::Connection {
        crate::resp::connect(self.redis())
    }

    /// Kills this node and starts a new process on the same address joining through `bootstrap`.
    pub fn restart(&mut self, bootstrap: Option<SocketAddr>) {
        self.kill();
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let fresh = Self::start_on(self.addr, bootstrap, &extra);
        *self = fresh;
    }

    /// A client connected to this node.
    pub async fn client(&self) -> Client {
        Client::connect(&self.addr.to_string()).await.expect("connect to node")
    }

    /// One status request on a fresh connection.
    pub async fn status(&self) -> Result<StatusReport, ClientError> {
        Client::connect(&self.addr.to_string()).await?.status(1000).await
    }

    /// One get on a fresh connection.
    pub async fn get(&self, key: &str) -> Result<Option<bytes::Bytes>, ClientError> {
        Client::connect(&self.addr.to_string()).await?.get(key.to_string()).await
    }

    /// Waits until `key` reads as `expected` (`None`: absent) on this node.
    pub async fn wait_for_value(&self, key: &str, expected: Option<&str>, limit: Duration) {
        let what = format!("{key} to read {expected:?} on {}", self.addr);
        crate::wait_until(&what, limit, || async {
            let value = self.get(key).await.ok()?;
            (value.as_deref() == expected.map(str::as_bytes)).then_some(())
        })
        .await
    }

    /// The process id, e.g. to read its memory use from /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (SIGSTOP, SIGCONT, SIGTERM, ...).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with a pid we own; no memory is involved.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill({signal}) failed");
    }

    /// Waits for the process to exit on its own, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "node {} did not exit within {limit:?}", self.addr);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        // A stopped process must be resumed to die promptly.
        // SAFETY: as in `signal`.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGCONT) };
        self.kill();
    }
}
