//! Rows of redis-benchmark tests against several servers, alternating, with medians, ratios and
//! CPU time per request: what the keyspace and collection benches print.

use super::redis_tools::{benchmark_one, cpu_seconds, median, PIPELINED_SCALE};
use std::collections::HashMap;

/// One server under test.
#[derive(Clone, Copy)]
pub(super) struct Target {
    pub(super) name: &'static str,
    pub(super) port: u16,
    pub(super) pid: u32,
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

/// Figures by (pipeline, test, target) over the rounds measured so far: requests/s and server
/// CPU µs per request. A bench whose rows must start from fresh servers measures each round on
/// new ones, then prints once.
#[derive(Default)]
pub(super) struct Rows {
    figures: HashMap<(usize, usize, usize), Vec<f64>>,
    cpu: HashMap<(usize, usize, usize), Vec<f64>>,
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
        for (p, pipeline) in [1, 16].into_iter().enumerate() {
            for (k, (name, test)) in tests.iter().enumerate() {
                // Each round starts with a different server, so none always runs first (the first
                // of a pair measured ~10-20% slower); a pipelined run gets more requests, so it
                // lasts as long as an unpipelined one instead of a fraction of a second.
                for t in (0..targets.len()).map(|i| (i + round) % targets.len()) {
                    let target = &targets[t];
                    let requests = requests * if pipeline > 1 { PIPELINED_SCALE } else { 1 };
                    let before = cpu_seconds(target.pid);
                    let rps = benchmark_one(target.port, test, requests, clients, pipeline)?;
                    let micros = (cpu_seconds(target.pid) - before) * 1e6 / requests as f64;
                    eprintln!(
                        "round {round}: -P {pipeline} {name:<7} {:<13} {rps:>10.0}/s {micros:>6.2} µs CPU/request",
                        target.name
                    );
                    self.figures.entry((p, k, t)).or_default().push(rps);
                    self.cpu.entry((p, k, t)).or_default().push(micros);
                }
            }
        }
        Ok(())
    }

    /// The table: medians, ratios to redis-server, and CPU per request.
    pub(super) fn print(&mut self, tests: &[(&str, &[&str])]) {
        let (figures, cpu) = (&mut self.figures, &mut self.cpu);
        println!(
            "{:<6} {:<7} {:>12} {:>12} {:>7} {:>12} {:>7} {:>12} {:>12}",
            "config", "test", "redis", "kvs 1 node", "ratio", "kvs 3 nodes", "ratio", "redis µs/req", "kvs µs/req"
        );
        for (p, pipeline) in [1, 16].into_iter().enumerate() {
            for (k, (name, _)) in tests.iter().enumerate() {
                let mut m = |t: usize| median(figures.get_mut(&(p, k, t)).expect("measured"));
                let (redis, one, three) = (m(0), m(1), m(2));
                let spread = |t: usize| {
                    let runs = &figures[&(p, k, t)];
                    let (lo, hi) = runs.iter().fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
                    format!("{:.2}–{:.2}", lo / redis, hi / redis)
                };
                eprintln!("-P {pipeline} {name}: kvs 1 node / redis over the rounds {}", spread(1));
                let mut c = |t: usize| median(cpu.get_mut(&(p, k, t)).expect("measured"));
                println!(
                    "{:<6} {:<7} {:>12.0} {:>12.0} {:>7.2} {:>12.0} {:>7.2} {:>12.2} {:>12.2}",
                    format!("-P {pipeline}"),
                    name,
                    redis,
                    one,
                    one / redis,
                    three,
                    three / redis,
                    c(0),
                    c(1)
                );
            }
        }
    }
}
