//! Fault injection for the tests and the simulator: a log that never writes, a clock off or
//! stepping, duplicated peer messages, a lying member, a planted bug. The flags exist only in a
//! build with the `fault` feature (the tests' binaries and the simulator); a release binary has
//! none of them, and its [`Faults`] is always the default: nothing injected.

use std::time::Duration;

/// What fault injection asks of a node; the default asks nothing.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Never write the log (see `--fault-hold-log`).
    pub hold_log: bool,
    /// How far this node's wall clock runs from the system's, in ms.
    pub clock_offset_ms: i64,
    /// A step of the wall clock while running.
    pub clock_step: Option<ClockStep>,
    /// Every peer message is sent twice.
    pub duplicate_messages: bool,
    /// How long after start every anti-entropy answer lies.
    pub lying_anti_entropy_for: Duration,
}

/// A step of the wall clock while a node runs (`--fault-clock-step`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockStep {
    /// How long after start the clock steps.
    pub after: Duration,
    /// By how much, in ms (negative: backwards).
    pub delta_ms: i64,
}

/// The fault-injection flags (hidden from `--help`; only with the `fault` feature).
#[cfg(feature = "fault")]
#[derive(Debug, Clone, clap::Args)]
pub struct FaultArgs {
    /// The log writer takes records and never writes them, so every write is in flight when the
    /// process is killed (a crash before fsync, made deterministic).
    #[arg(long, hide = true)]
    pub fault_hold_log: bool,
    /// Plant a real bug (a pushed write moves its origin's cursor over a gap), to show the
    /// simulator's checker catches it.
    #[arg(long, hide = true)]
    pub fault_cursor_skips_gaps: bool,
    /// Run this node's wall clock this many ms off the system's.
    #[arg(long, hide = true, default_value_t = 0, allow_hyphen_values = true)]
    pub fault_clock_offset_ms: i64,
    /// `AT_MS:DELTA_MS` steps this node's wall clock by DELTA_MS (negative: backwards) AT_MS
    /// after it starts, as an NTP correction would.
    #[arg(long, hide = true, value_parser = parse_clock_step, allow_hyphen_values = true)]
    pub fault_clock_step: Option<ClockStep>,
    /// Send every peer message twice, as a network that duplicates would deliver it (the
    /// simulator's duplication fault).
    #[arg(long, hide = true)]
    pub fault_duplicate_messages: bool,
    /// For this long after it starts, in ms, this node lies in every anti-entropy answer, as a
    /// hostile member would: it demands a resync claiming to have seen everything of every other
    /// origin, then answers the fresh request with those cursors and no entries (0: never).
    #[arg(long, hide = true, default_value = "0s", value_parser = crate::flag_values::parse_ms)]
    pub fault_lying_anti_entropy_ms: u64,
}

#[cfg(feature = "fault")]
impl From<&FaultArgs> for Faults {
    fn from(args: &FaultArgs) -> Self {
        Faults {
            hold_log: args.fault_hold_log,
            clock_offset_ms: args.fault_clock_offset_ms,
            clock_step: args.fault_clock_step,
            duplicate_messages: args.fault_duplicate_messages,
            lying_anti_entropy_for: Duration::from_millis(args.fault_lying_anti_entropy_ms),
        }
    }
}

#[cfg(feature = "fault")]
fn parse_clock_step(text: &str) -> Result<ClockStep, String> {
    let (after, delta) = text.split_once(':').ok_or("expected AT_MS:DELTA_MS")?;
    let after = after.parse::<u64>().map_err(|e| format!("AT_MS: {e}"))?;
    let delta_ms = delta.parse::<i64>().map_err(|e| format!("DELTA_MS: {e}"))?;
    Ok(ClockStep { after: Duration::from_millis(after), delta_ms })
}
