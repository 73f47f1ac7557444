//! The latency monitor: `LATENCY LATEST | HISTORY | RESET | DOCTOR | HELP`, fed with every command
//! that runs for `latency-monitor-threshold` ms or longer (0, the default: off), under Redis's
//! event name `command` (and `fast-command` for the commands flagged fast).

use super::{help, Call};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Samples kept per event, as Redis keeps them.
const HISTORY: usize = 160;

/// One event's samples: (Unix seconds, ms), oldest first, one per second at most; and its maximum.
#[derive(Debug, Default)]
struct Event {
    samples: VecDeque<(u64, u64)>,
    max_ms: u64,
}

/// The monitor.
#[derive(Debug, Default)]
pub struct LatencyMonitor {
    /// `latency-monitor-threshold`, ms (0: off).
    pub threshold_ms: AtomicU64,
    events: Mutex<BTreeMap<&'static str, Event>>,
}

impl LatencyMonitor {
    /// Records a command that took `took` (`fast`: whether it is flagged fast), if the monitor
    /// is on and it is that slow: one atomic load otherwise.
    pub fn consider(&self, took: Duration, fast: impl FnOnce() -> bool) {
        let threshold = self.threshold_ms.load(Ordering::Relaxed);
        let ms = took.as_millis() as u64;
        if threshold == 0 || ms < threshold {
            return;
        }
        let fast = fast();
        let now_s = kvs_store::clock::wall_clock_ms() / 1000;
        let name = if fast { "fast-command" } else { "command" };
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        let event = events.entry(name).or_default();
        event.max_ms = event.max_ms.max(ms);
        match event.samples.back_mut() {
            // One sample per second: the worst of that second.
            Some((at, worst)) if *at == now_s => *worst = (*worst).max(ms),
            _ => {
                event.samples.push_back((now_s, ms));
                if event.samples.len() > HISTORY {
                    event.samples.pop_front();
                }
            }
        }
    }
}

const HELP: &[&str] = &[
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
];

/// `LATENCY ...`
pub fn latency(call: &mut Call<'_, '_>) {
    let sub = call.args.get(1).to_ascii_uppercase();
    let argc = call.args.len();
    let monitor = &call.clients.latency;
    let mut events = monitor.events.lock().unwrap_or_else(|p| p.into_inner());
    match sub.as_slice() {
        b"LATEST" if argc == 2 => {
            call.reply.array(events.len());
            for (name, event) in events.iter() {
                let (at, ms) = event.samples.back().copied().unwrap_or_default();
                call.reply.array(4);
                call.reply.bulk(name.as_bytes());
                call.reply.integer(at as i64);
                call.reply.integer(ms as i64);
                call.reply.integer(event.max_ms as i64);
            }
        }
        b"HISTORY" if argc == 3 => {
            let name = String::from_utf8_lossy(call.args.get(2)).to_ascii_lowercase();
            let samples: Vec<(u64, u64)> = events
                .iter()
                .find(|(event, _)| **event == name)
                .map(|(_, event)| event.samples.iter().copied().collect())
                .unwrap_or_default();
            call.reply.array(samples.len());
            for (at, ms) in samples {
                call.reply.array(2);
                call.reply.integer(at as i64);
                call.reply.integer(ms as i64);
            }
        }
        b"RESET" => {
            let before = events.len();
            if argc == 2 {
                events.clear();
            } else {
                let named: Vec<String> =
                    call.args.iter().skip(2).map(|n| String::from_utf8_lossy(n).to_ascii_lowercase()).collect();
                events.retain(|event, _| !named.iter().any(|n| n == event));
            }
            call.reply.integer((before - events.len()) as i64);
        }
        b"DOCTOR" if argc == 2 => {
            let text = match monitor.threshold_ms.load(Ordering::Relaxed) {
                0 => "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. \
                      You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it."
                    .to_string(),
                _ if events.is_empty() => "Dave, no latency spike was observed during the lifetime of this Redis \
                                           instance, not in the slightest bit."
                    .to_string(),
                _ => events
                    .iter()
                    .map(|(name, e)| format!("{name}: {} latency spikes (max {} ms)\n", e.samples.len(), e.max_ms))
                    .collect(),
            };
            call.reply.bulk(text.as_bytes());
        }
        b"HELP" if argc == 2 => {
            drop(events);
            help::reply(call, "LATENCY", HELP)
        }
        _ => {
            drop(events);
            help::unknown_subcommand(call, "LATENCY")
        }
    }
}
