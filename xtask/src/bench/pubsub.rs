//! `cargo xtask bench pubsub`: messages per second and publish-to-receive latency, a publisher on
//! one kvs node and a subscriber on another, against redis-server with both on the one server
//! (Redis's own figure: it has no other node to deliver to).
//!
//! Both systems are driven by the same client code in this process: the publisher sends PUBLISH
//! in pipelined batches (throughput) or one at a time (latency, each message carrying the time
//! it was sent on this process's clock), and a subscriber thread reads the messages. Rounds
//! alternate which system runs first.

use super::redis_tools::{median, require, RedisServer};
use clap::Args;
use kvs_tests::raw_resp::{RawResp, Resp};
use kvs_tests::{start_chain, wait_for_alive_members, NodeProcess};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Pub/sub bench flags.
#[derive(Args, Debug)]
pub struct PubSubArgs {
    /// Messages published per throughput run.
    #[arg(long, default_value_t = 200_000)]
    messages: usize,
    /// Messages timed one by one per latency run.
    #[arg(long, default_value_t = 2_000)]
    samples: usize,
    /// Bytes of each message.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// PUBLISH commands per pipelined batch.
    #[arg(long, default_value_t = 100)]
    pipeline: usize,
    /// Rounds, alternating which system starts.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// One system's figures in one round.
#[derive(Clone, Copy, Debug, Default)]
struct Figures {
    per_second: f64,
    lost: f64,
    p50_us: f64,
    p99_us: f64,
}

const READ: Duration = Duration::from_secs(30);

/// Which figure a table row shows.
type Pick = fn(&Figures) -> f64;

/// Runs the rounds and prints the table.
pub async fn run(args: PubSubArgs) -> Result<(), String> {
    require("redis-server")?;
    let (mut redis, mut kvs) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        for first in [round % 2 == 0, round % 2 == 1] {
            if first {
                let server = RedisServer::start()?;
                redis.push(measure(&args, server.addr(), server.addr())?);
            } else {
                let nodes = start_chain(2, &["--redis-port", "0"]);
                wait_for_alive_members(&nodes, 2, READ).await;
                nodes.iter().for_each(|node| super::rig::serve(node.pid()));
                kvs.push(measure(&args, nodes[0].redis(), nodes[1].redis())?);
                drop::<Vec<NodeProcess>>(nodes);
            }
        }
    }
    let column = |rows: &[Figures], pick: Pick| {
        let mut values: Vec<f64> = rows.iter().map(pick).collect();
        let spread = (values.iter().cloned().fold(f64::MAX, f64::min), values.iter().cloned().fold(0.0, f64::max));
        (median(&mut values), spread)
    };
    println!(
        "pub/sub, {} messages of {} bytes pipelined {} a batch, {} timed one by one, {} rounds (medians, min–max)",
        args.messages, args.size, args.pipeline, args.samples, args.rounds
    );
    println!("| figure | redis-server, same node | kvs, publisher on A and subscriber on B | ratio |");
    println!("| --- | --- | --- | --- |");
    let figures: [(&str, Pick); 4] = [
        ("messages/s", |f| f.per_second),
        ("messages lost", |f| f.lost),
        ("latency p50 µs", |f| f.p50_us),
        ("latency p99 µs", |f| f.p99_us),
    ];
    for (name, pick) in figures {
        let ((r, (r_lo, r_hi)), (k, (k_lo, k_hi))) = (column(&redis, pick), column(&kvs, pick));
        let ratio = if r > 0.0 { format!("{:.2}", k / r) } else { "—".into() };
        println!("| {name} | {r:.0} ({r_lo:.0}–{r_hi:.0}) | {k:.0} ({k_lo:.0}–{k_hi:.0}) | {ratio} |");
    }
    Ok(())
}

/// Publishes on `publisher`, subscribes on `subscriber`; both figures.
fn measure(args: &PubSubArgs, publisher: SocketAddr, subscriber: SocketAddr) -> Result<Figures, String> {
    let mut sub = RawResp::connect(subscriber, READ);
    sub.call(&["SUBSCRIBE", "bench"]);
    let mut publish = RawResp::connect(publisher, READ);
    // A link between nodes comes up on its own schedule, and pub/sub is at most once: probe
    // until the subscriber hears the publisher.
    let deadline = Instant::now() + READ;
    sub.set_timeout(Duration::from_millis(100));
    loop {
        publish.call(&["PUBLISH", "bench", "probe"]);
        if sub.try_read().is_some() {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{subscriber} never heard {publisher}"));
        }
    }
    while sub.try_read().is_some() {}
    sub.set_timeout(READ);
    let (per_second, lost) = throughput(args, publisher, &mut sub)?;
    let (p50_us, p99_us) = latency(args, &mut publish, &mut sub)?;
    Ok(Figures { per_second, p50_us, p99_us, lost: lost as f64 })
}

/// Messages received per second, from the first publish to the last message read, and how many
/// were lost.
fn throughput(args: &PubSubArgs, publisher: SocketAddr, sub: &mut RawResp) -> Result<(f64, usize), String> {
    let payload = "m".repeat(args.size);
    let mut batch = Vec::new();
    for _ in 0..args.pipeline {
        batch.extend_from_slice(
            format!("*3\r\n$7\r\nPUBLISH\r\n$5\r\nbench\r\n${}\r\n{payload}\r\n", payload.len()).as_bytes(),
        );
    }
    let mut stream = TcpStream::connect(publisher).map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let batches = args.messages.div_ceil(args.pipeline);
    let expected = batches * args.pipeline;
    let started = Instant::now();
    // Replies are drained by a thread so the publisher never blocks on its own full socket.
    let mut replies = stream.try_clone().map_err(|e| e.to_string())?;
    let drain = std::thread::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        let mut lines = 0;
        while lines < expected {
            match std::io::Read::read(&mut replies, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => lines += buf[..n].iter().filter(|&&b| b == b'\n').count(),
            }
        }
    });
    // The publisher writes from a thread of its own while this one reads the subscriber.
    let publishing = std::thread::spawn(move || -> Result<(), String> {
        for _ in 0..batches {
            stream.write_all(&batch).map_err(|e| e.to_string())?;
        }
        Ok(())
    });
    // Every message, or as many as come before a second passes without one (pub/sub is at most
    // once: a burst longer than a node's fan-out ring loses its oldest messages to a slow link).
    let (mut received, mut last) = (0, started);
    sub.set_timeout(Duration::from_secs(1));
    while received < expected {
        match sub.try_read() {
            Some(Resp::Array(_)) | Some(Resp::Push(_)) => {
                received += 1;
                last = Instant::now();
            }
            None => break,
            Some(other) => return Err(format!("message {received} of {expected}: {other:?}")),
        }
    }
    sub.set_timeout(READ);
    publishing.join().map_err(|_| "the publisher thread panicked")??;
    let _ = drain.join();
    Ok((received as f64 / last.duration_since(started).as_secs_f64(), expected - received))
}

/// Publish-to-receive latency of messages sent one at a time: p50 and p99, in µs.
fn latency(args: &PubSubArgs, publish: &mut RawResp, sub: &mut RawResp) -> Result<(f64, f64), String> {
    let epoch = Instant::now();
    let mut samples = Vec::with_capacity(args.samples);
    for _ in 0..args.samples {
        let sent = epoch.elapsed().as_nanos().to_string();
        publish.call(&["PUBLISH", "bench", &sent]);
        let message = sub.read().words();
        let received = epoch.elapsed().as_nanos();
        let sent: u128 = message.last().and_then(|m| m.parse().ok()).ok_or("a message without its time")?;
        samples.push((received - sent) as f64 / 1_000.0);
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    Ok((at(0.5), at(0.99)))
}
