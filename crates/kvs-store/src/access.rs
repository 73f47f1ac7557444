//! How recently or how often a key was used, in the 16 bits every record carries for it: what an
//! LRU or LFU eviction policy ranks keys by, and what OBJECT IDLETIME and OBJECT FREQ report.
//!
//! As in Redis, the bits mean one thing or the other, chosen by the eviction policy: under LRU
//! they hold the access clock (seconds, modulo 2^16, so an idle time is exact up to 18 hours and
//! wraps beyond); under LFU a logarithmic access counter (8 bits, Redis's Morris counter with its
//! log factor 10 and its starting value 5) and the minute it was last decayed (8 bits, so decay
//! is exact for keys used within 4 hours and undercounted beyond). Redis keeps 24 bits; kvs had 16
//! free in a record's head (see `record::packed`) and did not grow the head for 8 more.
//!
//! The state is node-local: it is never replicated or logged. A replicated write starts a fresh
//! state like a local one, since the node did use the key by applying it.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Which meaning the access bits have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tracking {
    /// The access clock, for LRU policies and OBJECT IDLETIME.
    Recency,
    /// A logarithmic access counter, for LFU policies and OBJECT FREQ.
    Frequency,
}

static FREQUENCY: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set while a command of a CLIENT NO-TOUCH connection runs on this thread.
    static UNTOUCHED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (one command of a connection in CLIENT NO-TOUCH mode) without its reads counting as
/// uses of the keys; TOUCH still counts.
pub fn without_touching<R>(f: impl FnOnce() -> R) -> R {
    /// Clears the flag however `f` ends, a panic included.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            UNTOUCHED.set(false);
        }
    }
    UNTOUCHED.set(true);
    let _reset = Reset;
    f()
}

/// Whether reads on this thread count as uses now.
pub(crate) fn reads_touch() -> bool {
    !UNTOUCHED.get()
}
/// Seconds since the Unix epoch at the last [`tick`].
static CLOCK_SECONDS: AtomicU32 = AtomicU32::new(0);

/// What a new key's counter starts at, so it is not evicted before it had a chance to be used.
const LFU_INIT: u8 = 5;
/// How much harder each increment of the counter gets (Redis's `lfu-log-factor` default).
const LFU_LOG_FACTOR: f64 = 10.0;

/// Switches what the access bits mean (an eviction policy of the other family was chosen).
/// Keys keep their bits and are read in the new meaning until next used, as in Redis.
pub fn set_tracking(tracking: Tracking) {
    FREQUENCY.store(tracking == Tracking::Frequency, Ordering::Relaxed);
}

/// What the access bits mean now.
pub fn tracking() -> Tracking {
    if FREQUENCY.load(Ordering::Relaxed) {
        Tracking::Frequency
    } else {
        Tracking::Recency
    }
}

/// Advances the access clock to `now_ms` (every read that touches a key passes its time).
pub fn tick(now_ms: u64) {
    let seconds = (now_ms / 1000) as u32;
    if CLOCK_SECONDS.load(Ordering::Relaxed) != seconds {
        CLOCK_SECONDS.store(seconds, Ordering::Relaxed);
    }
}

/// Seconds now, as last ticked; read from the system clock if nothing has ticked yet (a record
/// replayed at start, or written before the first read).
fn seconds() -> u32 {
    match CLOCK_SECONDS.load(Ordering::Relaxed) {
        0 => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            tick(now.as_millis() as u64);
            now.as_secs() as u32
        }
        seconds => seconds,
    }
}

fn clock() -> u16 {
    seconds() as u16
}

fn minutes() -> u8 {
    (seconds() / 60) as u8
}

/// The state of a key just written.
pub(crate) fn fresh() -> u16 {
    match tracking() {
        Tracking::Recency => clock(),
        Tracking::Frequency => u16::from(minutes()) << 8 | u16::from(LFU_INIT),
    }
}

/// The state of a key used at `now_ms`, given its state `state`.
pub(crate) fn used_at(state: u16, now_ms: u64) -> u16 {
    let seconds = (now_ms / 1000) as u32;
    match tracking() {
        Tracking::Recency => seconds as u16,
        Tracking::Frequency => {
            let minutes = (seconds / 60) as u8;
            u16::from(minutes) << 8 | u16::from(counted(decayed_at(state, minutes)))
        }
    }
}

/// Seconds since a key of state `state` was used (meaningful under [`Tracking::Recency`]).
pub fn idle_seconds(state: u16) -> u64 {
    u64::from(clock().wrapping_sub(state))
}

/// A key's access counter, decayed by one per minute unused (meaningful under
/// [`Tracking::Frequency`]).
pub fn frequency(state: u16) -> u8 {
    decayed(state)
}

fn decayed(state: u16) -> u8 {
    decayed_at(state, minutes())
}

/// The counter of `state`, less a step for each minute from its last decay to `minutes`.
fn decayed_at(state: u16, minutes: u8) -> u8 {
    let (last, counter) = ((state >> 8) as u8, state as u8);
    counter.saturating_sub(minutes.wrapping_sub(last))
}

/// `counter` after one more use: one step up, with odds that shrink as it grows (Redis's
/// logarithmic counter).
fn counted(counter: u8) -> u8 {
    let odds = 1.0 / ((counter.saturating_sub(LFU_INIT)) as f64 * LFU_LOG_FACTOR + 1.0);
    if counter < u8::MAX && random_unit() < odds {
        counter + 1
    } else {
        counter
    }
}

/// A number in [0, 1) from a per-thread xorshift: the counter's odds need no better.
fn random_unit() -> f64 {
    thread_local! {
        static STATE: Cell<u64> = const { Cell::new(0x9e37_79b9_7f4a_7c15) };
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_grows_ever_more_slowly_and_decays_with_time() {
        // The step alone, without switching the process-wide mode to LFU.
        let counter = (0..1_000).fold(LFU_INIT, |counter, _| counted(counter));
        let grown = counter - LFU_INIT;
        // Redis's table: about 18 after 1,000 hits with factor 10.
        assert!((8..40).contains(&grown), "{grown}");
        assert_eq!(decayed(3 << 8 | 20), 20u8.saturating_sub(minutes().wrapping_sub(3)));
    }
}
