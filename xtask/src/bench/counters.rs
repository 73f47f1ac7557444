//! Hardware counters of the server processes over one run, from `perf stat`, where the kernel
//! exposes them (a virtual machine often does not: `perf stat` then says `<not supported>`, and
//! the rows say `n/a`).

use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// Cycles and instructions counted over one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Counted {
    pub(super) cycles: f64,
    pub(super) instructions: f64,
}

/// A `perf stat` attached to the server processes for one run.
pub(super) struct Counters {
    child: Child,
}

/// Whether `perf stat` counts cycles and instructions on this machine (asked once).
pub(super) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let out = Command::new("perf").args(["stat", "-x,", "-e", "cycles,instructions", "--", "true"]).output();
        let ok = out.is_ok_and(|out| parse(&String::from_utf8_lossy(&out.stderr)).is_some());
        if !ok {
            println!("hardware counters: not available here (perf stat cannot count cycles and instructions)");
        }
        ok
    })
}

impl Counters {
    /// Starts counting the processes `pids`, all their threads; `None` where counters are not available.
    pub(super) fn start(pids: &[u32]) -> Option<Counters> {
        if !available() {
            return None;
        }
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        let child = Command::new("perf")
            .args(["stat", "-x,", "-e", "cycles,instructions", "-p", &pids.join(",")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        Some(Counters { child })
    }

    /// Stops counting (perf prints its totals on SIGINT) and returns them.
    pub(super) fn finish(self) -> Option<Counted> {
        Command::new("kill").args(["-INT", &self.child.id().to_string()]).status().ok()?;
        let out = self.child.wait_with_output().ok()?;
        parse(&String::from_utf8_lossy(&out.stderr))
    }
}

/// Reads `perf stat -x,` output: `value,unit,event,…` lines; `None` if either count is missing.
fn parse(text: &str) -> Option<Counted> {
    let count = |event: &str| {
        text.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let named = fields.get(2).is_some_and(|f| f.split(':').next() == Some(event));
            named.then(|| fields[0].parse::<f64>().ok()).flatten()
        })
    };
    Some(Counted { cycles: count("cycles")?, instructions: count("instructions")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_counts_and_refuses_unsupported() {
        let counted = "1234567,,cycles:u,1000,100.00,,\n2345678,,instructions:u,1000,100.00,1.90,insn per cycle\n";
        assert_eq!(parse(counted), Some(Counted { cycles: 1_234_567.0, instructions: 2_345_678.0 }));
        let unsupported = "<not supported>,,cycles,0,100.00,,\n<not supported>,,instructions,0,100.00,,\n";
        assert_eq!(parse(unsupported), None);
    }
}
