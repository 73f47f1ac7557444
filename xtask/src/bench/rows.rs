//! Rows of redis-benchmark tests against several servers, alternating, with medians, ratios and
//! CPU time per request: what the keyspace and collection benches print.

use super::counters::{Counted, Counters};
use super::redis_tools::{benchmark_one, cpu_seconds, median, PIPELINED_SCALE};
use std::collections::HashMap;

/// One server under test: where requests go, and every process that serves them.
#[derive(Clone)]
pub(super) struct Target {
    pub(super) name: &'static str,
    pub(super) port: u16,
    /// The process requests go to.
    pub(super) pid: u32,
    /// The other processes the requests make work for (a cluster's other nodes, replicas),
    /// whose CPU time counts too.
    pub(super) others: Vec<u32>,
}

impl Target {
    /// A server that is one process.
    pub(super) fn single(name: &'static str, port: u16, pid: u32) -> Target {
        Target { name, port, pid, others: Vec::new() }
    }

    /// Every process of it.
    pub(super) fn pids(&self) -> Vec<u32> {
        std::iter::once(self.pid).chain(self.others.iter().copied()).collect()
    }

    /// CPU time used so far by every process of it, in seconds.
    pub(super) fn cpu_seconds(&self) -> f64 {
        self.pids().into_iter().map(cpu_seconds).sum()
    }
}

/// Rows of `tests` (a name, and redis-benchmark's arguments), at -P 1 and -P 16, alternating
/// servers; with each server's CPU time per request, steadier than throughput on a shared machine.
pub(super) fn command_rows(
    targets: &[Target],
    (rounds, requests, clients): (usize, usize, usize),
    tests: &[(&str, &[&str])],
) -> Result<(), String> {
    let mut rows = Rows::default();
    for round in 1..=rounds {
        rows.measure(targets, round, (requests, clients), tests)?;
    }
    rows.print(tests);
    Ok(())
}

/// Figures by (pipeline, test, target) over the rounds measured so far: requests/s, server CPU
/// µs per request and, where counted, cycles and instructions per request. A bench whose rows
/// must start from fresh servers measures each round on new ones, then prints once.
#[derive(Default)]
pub(super) struct Rows {
    figures: HashMap<(usize, usize, usize), Vec<f64>>,
    cpu: HashMap<(usize, usize, usize), Vec<f64>>,
    counted: HashMap<(usize, usize, usize), Vec<Counted>>,
    /// The targets' names, in the order measured.
    names: Vec<&'static str>,
}

impl Rows {
    /// Round `round` of every test against every target.
    pub(super) fn measure(
        &mut self,
        targets: &[Target],
        round: usize,
        (requests, clients): (usize, usize),
        tests: &[(&str, &[&str])],
    ) -> Result<(), String> {
        self.names = targets.iter().map(|t| t.name).collect();
        for (p, pipeline) in [1, 16].into_iter().enumerate() {
            for (k, (name, test)) in tests.iter().enumerate() {
                // Each round starts with a different server, so none always runs first (the first
                // of a pair measured ~10-20% slower); a pipelined run gets more requests, so it
                // lasts as long as an unpipelined one instead of a fraction of a second.
                for t in (0..targets.len()).map(|i| (i + round) % targets.len()) {
                    let target = &targets[t];
                    let requests = requests * if pipeline > 1 { PIPELINED_SCALE } else { 1 };
                    let before = target.cpu_seconds();
                    let counters = Counters::start(&target.pids());
                    let rps = benchmark_one(target.port, test, requests, clients, pipeline)?;
                    let micros = (target.cpu_seconds() - before) * 1e6 / requests as f64;
                    let per_request = |c: Counted| Counted {
                        cycles: c.cycles / requests as f64,
                        instructions: c.instructions / requests as f64,
                    };
                    let counted = counters.and_then(Counters::finish).map(per_request);
                    let instructions =
                        counted.map_or(String::new(), |c| format!(" {:.0} instructions/request", c.instructions));
                    eprintln!(
                        "round {round}: -P {pipeline} {name:<7} {:<13} {rps:>10.0}/s {micros:>6.2} µs CPU/request{instructions}",
                        target.name
                    );
                    self.figures.entry((p, k, t)).or_default().push(rps);
                    self.cpu.entry((p, k, t)).or_default().push(micros);
                    self.counted.entry((p, k, t)).or_default().extend(counted);
                }
            }
        }
        Ok(())
    }

    /// The table: medians with the 1-node ratio's spread over rounds, ratios to redis-server,
    /// server CPU per request (every process of a target summed) and, where counted,
    /// instructions and cycles per request.
    pub(super) fn print(&mut self, tests: &[(&str, &[&str])]) {
        let (figures, cpu, counted) = (&mut self.figures, &mut self.cpu, &self.counted);
        println!(
            "{:<6} {:<7} {:>10} {:>10} {:>6} {:>11} {:>10} {:>6} {:>8} {:>8} {:>8} {:>6}",
            "config",
            "test",
            "redis",
            "kvs 1 node",
            "ratio",
            "(min–max)",
            "kvs 3",
            "ratio",
            "redis µs",
            "kvs µs",
            "kvs3 µs",
            "µs r."
        );
        for (p, pipeline) in [1, 16].into_iter().enumerate() {
            for (k, (name, _)) in tests.iter().enumerate() {
                let mut m = |t: usize| median(figures.get_mut(&(p, k, t)).expect("measured"));
                let (redis, one, three) = (m(0), m(1), m(2));
                let runs = &figures[&(p, k, 1)];
                let (lo, hi) = runs.iter().fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
                let mut c = |t: usize| median(cpu.get_mut(&(p, k, t)).expect("measured"));
                let (redis_cpu, one_cpu, three_cpu) = (c(0), c(1), c(2));
                println!(
                    "{:<6} {:<7} {:>10.0} {:>10.0} {:>6.2} {:>11} {:>10.0} {:>6.2} {:>8.2} {:>8.2} {:>8.2} {:>6.2}",
                    format!("-P {pipeline}"),
                    name,
                    redis,
                    one,
                    one / redis,
                    format!("{:.2}–{:.2}", lo / redis, hi / redis),
                    three,
                    three / redis,
                    redis_cpu,
                    one_cpu,
                    three_cpu,
                    one_cpu / redis_cpu
                );
                let counts = |t: usize| {
                    let runs = counted.get(&(p, k, t))?;
                    let mut instructions: Vec<f64> = runs.iter().map(|c| c.instructions).collect();
                    let mut cycles: Vec<f64> = runs.iter().map(|c| c.cycles).collect();
                    (!runs.is_empty()).then(|| (median(&mut instructions), median(&mut cycles)))
                };
                if let (Some((ri, rc)), Some((ki, kc))) = (counts(0), counts(1)) {
                    println!("{:<14} per request: redis {ri:.0} instructions {rc:.0} cycles, kvs 1 node {ki:.0} instructions {kc:.0} cycles", "");
                }
            }
        }
        println!("(µs: server CPU per request, user and system, every process of the target summed; µs r.: kvs 1 node / redis)");
        self.plot(tests);
    }

    /// The rounds of every row drawn, if `--plot` asked for it.
    fn plot(&self, tests: &[(&str, &[&str])]) {
        let mut groups = Vec::new();
        for (p, pipeline) in [1, 16].into_iter().enumerate() {
            for (k, (name, _)) in tests.iter().enumerate() {
                let rounds = (0..self.names.len()).map(|t| self.figures[&(p, k, t)].clone()).collect();
                groups.push(super::plot::Group { label: format!("{name} -P {pipeline}"), rounds });
            }
        }
        let title = "requests/s as a ratio to redis-server's median: bars are medians, dots rounds";
        match super::plot::draw(title, &self.names, &groups) {
            Ok(Some(path)) => println!("plot: {}", path.display()),
            Ok(None) => {}
            Err(error) => eprintln!("no plot: {error}"),
        }
    }
}
