//! `cargo xtask bench native`: the native protocol against the RESP port of the same node, in
//! redis-benchmark's shape (`-c` connections, `-n` requests, `-P` pipeline depth, `-d` value
//! size, `-r` random keys, SET and GET).
//!
//! One load generator drives both ports, so the ratio compares the protocols and not two tools:
//! each connection sends `-P` requests at once and waits for their answers, as redis-benchmark
//! does. redis-benchmark's own figure for the RESP port is printed beside them, to show the
//! generator keeps up with it.

use super::redis::{benchmark_one, cpu_seconds, median, require};
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
    /// Tests to run: set, get.
    #[arg(short = 't', long, value_delimiter = ',', default_value = "set,get")]
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
}

/// One run's shape.
#[derive(Clone, Copy, Debug)]
struct Load {
    write: bool,
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
    println!(
        "one node; the same generator on the native port and on the RESP port: -c {} -n {} -r {}, {} rounds, medians (requests/s; the node's CPU per request)",
        args.clients, args.requests, args.keyspace, args.rounds
    );
    println!(
        "{:<4} {:>3} {:>5} {:>12} {:>12} {:>7} {:>22} {:>14} {:>12}",
        "test", "P", "d", "native", "RESP", "ratio", "redis-benchmark on RESP", "native µs CPU", "RESP µs CPU"
    );
    for write in [true, false] {
        if !args.tests.iter().any(|t| t == if write { "set" } else { "get" }) {
            continue;
        }
        for &pipeline in &args.pipelines {
            for &data in &args.data_sizes {
                let load = Load {
                    write,
                    clients: args.clients,
                    requests: args.requests,
                    pipeline,
                    data,
                    keyspace: args.keyspace,
                };
                if !write {
                    // GETs of keys that exist: fill the keyspace first.
                    drive(Port::Native, &node, Load { write: true, requests: args.keyspace as usize * 2, ..load })
                        .await?;
                }
                let (mut native, mut resp, mut native_cpu, mut resp_cpu) = (vec![], vec![], vec![], vec![]);
                for round in 0..args.rounds {
                    let order = if round % 2 == 0 { [Port::Native, Port::Resp] } else { [Port::Resp, Port::Native] };
                    for port in order {
                        let cpu = cpu_seconds(node.pid());
                        let rate = drive(port, &node, load).await?;
                        let cpu = (cpu_seconds(node.pid()) - cpu) * 1e6 / load.requests as f64;
                        match port {
                            Port::Native => (native.push(rate), native_cpu.push(cpu)),
                            Port::Resp => (resp.push(rate), resp_cpu.push(cpu)),
                        };
                    }
                }
                let test = if write { "set" } else { "get" };
                let data_arg = data.to_string();
                let keyspace_arg = args.keyspace.to_string();
                let reference = benchmark_one(
                    node.redis().port(),
                    &["-t", test, "-d", &data_arg, "-r", &keyspace_arg],
                    args.requests,
                    args.clients,
                    pipeline,
                )?;
                let (native, resp) = (median(&mut native), median(&mut resp));
                let (native_cpu, resp_cpu) = (median(&mut native_cpu), median(&mut resp_cpu));
                println!(
                    "{:<4} {:>3} {:>5} {:>12.0} {:>12.0} {:>7.2} {:>22.0} {:>14.2} {:>12.2}",
                    test,
                    pipeline,
                    data,
                    native,
                    resp,
                    native / resp,
                    reference,
                    native_cpu,
                    resp_cpu
                );
            }
        }
    }
    Ok(())
}

/// Runs `load` against one port of `node`; returns requests per second.
async fn drive(port: Port, node: &NodeProcess, load: Load) -> Result<f64, String> {
    let issued = Arc::new(AtomicUsize::new(0));
    let mut connections = Vec::with_capacity(load.clients);
    for _ in 0..load.clients {
        connections.push(match port {
            Port::Native => {
                Conn::Native(Box::new(Client::connect(&node.addr.to_string()).await.map_err(|e| e.to_string())?))
            }
            Port::Resp => Conn::Resp(resp_connect(node.redis()).await?),
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
                let request = |key: Bytes| match load.write {
                    true => ClientRequest::Set { key, value: value.clone() },
                    false => ClientRequest::Get { key },
                };
                if load.pipeline == 1 {
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
                    if load.write {
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
