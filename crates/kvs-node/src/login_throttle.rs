//! Slowing down a source address that keeps failing to log in: pure logic, time passed in.
//!
//! Each source has a bucket of [`FREE_FAILURES`] failures that refills one every [`REFILL`]. A
//! failure takes one; with the bucket empty, that source's logins are refused without being
//! checked until one has refilled. A person who mistypes is never held up; a guesser gets ten
//! tries a minute from each address, against some 400,000 a second before. One connection's
//! failures are bounded apart from this (a few, then it is closed), so a guesser must reconnect.

use kvs_store::map::Map;
use std::net::IpAddr;
use std::time::Duration;
use tokio::time::Instant;

/// Failures a source may make in a burst.
pub(crate) const FREE_FAILURES: u32 = 10;

/// How long a source waits for one more try once its burst is spent.
pub(crate) const REFILL: Duration = Duration::from_secs(6);

/// Sources remembered at most; past that the one with the most tries left is forgotten first.
const MAX_SOURCES: usize = 4_096;

/// Failed logins per source address.
#[derive(Debug, Default)]
pub(crate) struct LoginThrottle {
    /// Failures still allowed, and when that was counted.
    sources: Map<IpAddr, (f64, Instant)>,
}

impl LoginThrottle {
    /// How long `source` must wait before a login of its is checked again (`None`: it may try now).
    pub(crate) fn wait(&self, source: IpAddr, now: Instant) -> Option<Duration> {
        let left = self.left(source, now);
        (left < 1.0).then(|| REFILL.mul_f64(1.0 - left))
    }

    /// `source` failed to log in at `now`.
    pub(crate) fn failed(&mut self, source: IpAddr, now: Instant) {
        let left = self.left(source, now);
        if self.sources.len() >= MAX_SOURCES && !self.sources.contains_key(&source) {
            let most = self.sources.iter().max_by(|a, b| a.1 .0.total_cmp(&b.1 .0)).map(|(ip, _)| *ip);
            if let Some(most) = most {
                self.sources.remove(&most);
            }
        }
        self.sources.insert(source, ((left - 1.0).max(0.0), now));
    }

    /// Failures `source` may still make at `now`, refilled since last counted.
    fn left(&self, source: IpAddr, now: Instant) -> f64 {
        let Some(&(left, at)) = self.sources.get(&source) else { return f64::from(FREE_FAILURES) };
        let refilled = now.saturating_duration_since(at).as_secs_f64() / REFILL.as_secs_f64();
        (left + refilled).min(f64::from(FREE_FAILURES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_that_keeps_failing_waits_and_others_do_not() {
        let mut throttle = LoginThrottle::default();
        let (guesser, other) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        let start = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(throttle.wait(guesser, start), None);
            throttle.failed(guesser, start);
        }
        assert_eq!(throttle.wait(guesser, start), Some(REFILL));
        assert_eq!(throttle.wait(other, start), None, "only the failing source waits");
        assert_eq!(throttle.wait(guesser, start + REFILL / 2), Some(REFILL / 2));
        assert_eq!(throttle.wait(guesser, start + REFILL), None, "one more try a refill later");
    }

    #[test]
    fn the_table_is_bounded() {
        let mut throttle = LoginThrottle::default();
        let now = Instant::now();
        for i in 0..(MAX_SOURCES as u32 + 100) {
            throttle.failed(IpAddr::from(i.to_be_bytes()), now);
        }
        assert_eq!(throttle.sources.len(), MAX_SOURCES);
    }
}
