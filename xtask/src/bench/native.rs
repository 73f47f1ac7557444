//! `cargo xtask bench native`: the native protocol against the RESP port of the same node, in
//! redis-benchmark's shape (`-c` connections, `-n` requests, `-P` pipeline depth, `-d` value
//! size, `-r` random keys, SET and GET), and MSET and MGET of `-P` keys per native request against
//! `-P` pipelined SETs and GETs over RESP.
//!
//! One load generator drives both ports, so the ratio compares the protocols and not two tools:
//! each connection sends `-P` requests at once and waits for their answers, as redis-benchmark
//! does. redis-benchmark's own figure for the RESP port is printed beside them, to show the
//! generator keeps up with it.

use super::null_server::NullServer;
use super::plot::Group;
use super::redis_tools::{benchmark_one, cpu_seconds, median, require};
use bytes::Bytes;
use clap::Args;
use kvs_client::{Client, ClientRequest};
use kvs_tests::NodeProcess;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Native bench flags, named as redis-benchmark's.
#[derive(Args, Debug)]
pub struct NativeArgs {
    /// Parallel connections.
    #[arg(short = 'c', long, default_value_t = 50)]
    clients: usize,
    /// Requests per run.
    #[arg(short = 'n', long, default_value_t = 200_000)]
    requests: usize,
    /// Pipeline depths to measure.
    #[arg(short = 'P', long, value_delimiter = ',', default_value = "1,16")]
    pipelines: Vec<usize>,
    /// Value sizes to measure, in bytes.
    #[arg(short = 'd', long, value_delimiter = ',', default_value = "3,100")]
    data_sizes: Vec<usize>,
    /// Keys are drawn at random from this many.
    #[arg(short = 'r', long, default_value_t = 100_000)]
    keyspace: u64,
    /// Tests to run: set, get, mset, mget (the native port sends one request of `-P` keys, the
    /// RESP port `-P` pipelined SETs or GETs; rates count keys).
    #[arg(short = 't', long, value_delimiter = ',', default_value = "set,get,mset,mget")]
    tests: Vec<String>,
    /// Rounds per config, alternating ports with each round starting at the other; medians.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// Which port the generator talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Port {
    Native,
    Resp,
    /// The null server's native port: the ceiling (see [`super::null_server`]).
    Ceiling,
    /// The null server's RESP port: what RESP costs with nothing behind it.
    CeilingResp,
}

/// What each request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Test {
    Set,
    Get,
    /// `-P` keys in one native MSET; `-P` pipelined SETs over RESP.
    MSet,
    /// `-P` keys in one native MGET; `-P` pipelined GETs over RESP.
    MGet,
}

impl Test {
    const ALL: [Test; 4] = [Test::Set, Test::Get, Test::MSet, Test::MGet];

    fn name(self) -> &'static str {
        match self {
            Test::Set => "set",
            Test::Get => "get",
            Test::MSet => "mset",
            Test::MGet => "mget",
        }
    }

    fn writes(self) -> bool {
        matches!(self, Test::Set | Test::MSet)
    }
}

/// One run's shape.
#[derive(Clone, Copy, Debug)]
struct Load {
    test: Test,
    clients: usize,
    requests: usize,
    pipeline: usize,
    data: usize,
    keyspace: u64,
}

/// Runs every config and prints ratios.
pub async fn run(args: NativeArgs) -> Result<(), String> {
    require("redis-benchmark")?;
    let node = NodeProcess::start(None, &["--redis-port", "0"]);
    super::rig::serve(node.pid());
    println!(
        "one node; the same generator on the native port and on the RESP port: -c {} -n {} -r {}, {} rounds, medians (requests/s; the node's CPU per request)",
        args.clients, args.requests, args.keyspace, args.rounds
    );
    println!(
        "{:<4} {:>3} {:>5} {:>12} {:>12} {:>7} {:>22} {:>14} {:>12} {:>7} {:>12} {:>9} {:>10} {:>12} {:>14} {:>14} {:>12}",
        "test",
        "P",
        "d",
        "native",
        "RESP",
        "ratio",
        "redis-benchmark on RESP",
        "native µs CPU",
        "RESP µs CPU",
        "CPU /",
        "null server",
        "null/RESP",
        "null µs CPU",
        "null RESP",
        "null RESP µs CPU",
        "gen µs native",
        "gen µs RESP"
    );
    println!("(null server: requests answered by a server with no store behind them, on its native and RESP ports; null/RESP is the ceiling for any native protocol; mset and mget rows count keys, -P keys per native request)");
    let mut groups = Vec::new();
    for test in Test::ALL {
        if !args.tests.iter().any(|t| t == test.name()) {
            continue;
        }
        for &pipeline in &args.pipelines {
            for &data in &args.data_sizes {
                let load = Load {
                    test,
                    clients: args.clients,
                    requests: args.requests,
                    pipeline,
                    data,
                    keyspace: args.keyspace,
                };
                if !test.writes() {
                    // GETs of keys that exist: fill the keyspace first.
                    let fill = Load { test: Test::Set, requests: args.keyspace as usize * 2, ..load };
                    drive(Port::Native, node.addr, fill).await?;
                }
                let null = NullServer::start(data)?;
                // Per target: rates, the server's CPU per request, the generator's (this process's).
                let mut figures: [[Vec<f64>; 3]; 4] = Default::default();
                for round in 0..args.rounds {
                    let mut order = [Port::Native, Port::Resp, Port::Ceiling, Port::CeilingResp];
                    order.rotate_left(round % 4);
                    for port in order {
                        let (addr, pid, slot) = match port {
                            Port::Native => (node.addr, node.pid(), 0),
                            Port::Resp => (node.redis(), node.pid(), 1),
                            Port::Ceiling => (null.native, null.pid(), 2),
                            Port::CeilingResp => (null.resp, null.pid(), 3),
                        };
                        let (cpu, generator) = (cpu_seconds(pid), cpu_seconds(std::process::id()));
                        let rate = drive(port, addr, load).await?;
                        let per_request =
                            |before: f64, pid: u32| (cpu_seconds(pid) - before) * 1e6 / load.requests as f64;
                        let generator = per_request(generator, std::process::id());
                        figures[slot][0].push(rate);
                        figures[slot][1].push(per_request(cpu, pid));
                        figures[slot][2].push(generator);
                    }
                }
                // The RESP port first: every bar of the picture is a ratio to it.
                let rounds = [1, 0, 3, 2].map(|slot| figures[slot][0].clone()).to_vec();
                groups.push(Group { label: format!("{} -P {pipeline} -d {data}", test.name()), rounds });
                let [native, resp, ceiling, ceiling_resp] =
                    figures.map(|mut f| f.each_mut().map(|values| median(values)));
                let name = if test.writes() { "set" } else { "get" };
                let data_arg = data.to_string();
                let keyspace_arg = args.keyspace.to_string();
                let reference = benchmark_one(
                    node.redis().port(),
                    &["-t", name, "-d", &data_arg, "-r", &keyspace_arg],
                    args.requests,
                    args.clients,
                    pipeline,
                )?;
                println!(
                    "{:<4} {:>3} {:>5} {:>12.0} {:>12.0} {:>7.2} {:>22.0} {:>14.2} {:>12.2} {:>7.2} {:>12.0} {:>9.2} {:>10.2} {:>12.0} {:>14.2} {:>14.2} {:>12.2}",
                    test.name(),
                    pipeline,
                    data,
                    native[0],
                    resp[0],
                    native[0] / resp[0],
                    reference,
                    native[1],
                    resp[1],
                    native[1] / resp[1],
                    ceiling[0],
                    ceiling[0] / resp[0],
                    ceiling[1],
                    ceiling_resp[0],
                    ceiling_resp[1],
                    native[2],
                    resp[2]
                );
            }
        }
    }
    let names = ["RESP port", "native port", "null server, RESP", "null server, native"];
    let title = "requests/s as a ratio to the node's RESP port: bars are medians, dots rounds";
    if let Some(path) = super::plot::draw(title, &names, &groups)? {
        println!("plot: {}", path.display());
    }
    Ok(())
}

/// Runs `load` against `addr`, speaking `port`'s protocol; returns requests per second.
async fn drive(port: Port, addr: SocketAddr, load: Load) -> Result<f64, String> {
    let issued = Arc::new(AtomicUsize::new(0));
    let mut connections = Vec::with_capacity(load.clients);
    for _ in 0..load.clients {
        connections.push(match port {
            Port::Native | Port::Ceiling => {
                Conn::Native(Box::new(Client::connect(&addr.to_string()).await.map_err(|e| e.to_string())?))
            }
            Port::Resp | Port::CeilingResp => Conn::Resp(resp_connect(addr).await?),
        });
    }
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(load.clients);
    for (seed, mut conn) in connections.into_iter().enumerate() {
        let issued = issued.clone();
        tasks.push(tokio::spawn(async move {
            let mut keys = Keys::new(seed as u64 + 1, load.keyspace);
            let value = Bytes::from(vec![b'x'; load.data]);
            let mut done = 0;
            while issued.fetch_add(load.pipeline, Ordering::Relaxed) < load.requests {
                conn.batch(&load, &mut keys, &value).await?;
                done += load.pipeline;
            }
            Ok::<usize, String>(done)
        }));
    }
    let mut done = 0;
    for task in tasks {
        done += task.await.map_err(|e| e.to_string())??;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}

/// redis-benchmark's `-r` keys: `key:` and a random number below the keyspace, 12 digits.
struct Keys {
    state: u64,
    keyspace: u64,
}

impl Keys {
    fn new(seed: u64, keyspace: u64) -> Self {
        Keys { state: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1, keyspace: keyspace.max(1) }
    }

    fn next(&mut self) -> Bytes {
        // xorshift64: cheap, and the same sequence for both ports.
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        Bytes::from(format!("key:{:012}", self.state % self.keyspace))
    }
}

/// One connection of the generator.
enum Conn {
    Native(Box<Client>),
    Resp(BufReader<TcpStream>),
}

impl Conn {
    /// Sends one pipeline of `load.pipeline` requests and waits for every answer.
    async fn batch(&mut self, load: &Load, keys: &mut Keys, value: &Bytes) -> Result<(), String> {
        match self {
            Conn::Native(client) => {
                let request = |key: Bytes| match load.test.writes() {
                    true => ClientRequest::Set { key, value: value.clone() },
                    false => ClientRequest::Get { key },
                };
                if load.test == Test::MSet {
                    let pairs = (0..load.pipeline).map(|_| (keys.next(), value.clone())).collect();
                    client.request(&ClientRequest::MSet { pairs }).await.map_err(|e| e.to_string())?;
                } else if load.test == Test::MGet {
                    let keys = (0..load.pipeline).map(|_| keys.next()).collect();
                    client.request(&ClientRequest::MGet { keys }).await.map_err(|e| e.to_string())?;
                } else if load.pipeline == 1 {
                    client.request(&request(keys.next())).await.map_err(|e| e.to_string())?;
                } else {
                    let requests: Vec<ClientRequest> = (0..load.pipeline).map(|_| request(keys.next())).collect();
                    for response in client.pipeline(&requests).await.map_err(|e| e.to_string())? {
                        response.map_err(|e| e.to_string())?;
                    }
                }
            }
            Conn::Resp(stream) => {
                let mut out = Vec::with_capacity(load.pipeline * (64 + load.data));
                for _ in 0..load.pipeline {
                    let key = keys.next();
                    if load.test.writes() {
                        super::load::encode(&mut out, &[b"SET", &key, value]);
                    } else {
                        super::load::encode(&mut out, &[b"GET", &key]);
                    }
                }
                stream.get_mut().write_all(&out).await.map_err(|e| e.to_string())?;
                for _ in 0..load.pipeline {
                    resp_reply(stream).await?;
                }
            }
        }
        Ok(())
    }
}

async fn resp_connect(addr: SocketAddr) -> Result<BufReader<TcpStream>, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(BufReader::with_capacity(64 * 1024, stream))
}

/// Reads one reply: a status line, or a bulk string (nil included); an error reply fails the run.
async fn resp_reply(stream: &mut BufReader<TcpStream>) -> Result<(), String> {
    let mut line = Vec::with_capacity(16);
    stream.read_until(b'\n', &mut line).await.map_err(|e| e.to_string())?;
    match line.first() {
        Some(b'+') => Ok(()),
        Some(b'$') => {
            let len: i64 =
                std::str::from_utf8(&line[1..]).ok().and_then(|n| n.trim().parse().ok()).ok_or("bad bulk")?;
            if len >= 0 {
                let mut body = vec![0; len as usize + 2];
                stream.read_exact(&mut body).await.map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        _ => Err(format!("unexpected reply {:?}", String::from_utf8_lossy(&line))),
    }
}
