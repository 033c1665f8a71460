//! [`Backoff`]: the one retry schedule of nockpool (feature `backoff`) — miners reconnecting to
//! a pool, the pool retrying its chain backend and block submissions, the node backend
//! reconnecting to its node, the node supervisor restarting it.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Exponential backoff with jitter for retries.
///
/// Callers wait [`next_delay`](Backoff::next_delay) between attempts (on their own clock) and
/// [`reset`](Backoff::reset) after a success.
///
/// The n-th delay after a [`reset`](Backoff::reset) is drawn uniformly from
/// `[c/2, c]` where `c = min(min · 2ⁿ, max)` ("equal jitter"): the ceiling doubles from `min`
/// up to `max`, and the random half keeps a farm of miners that lost the same pool from
/// reconnecting in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
    rng: StdRng,
}

impl Backoff {
    /// A backoff from `min` to `max` seeded from the operating system.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff::with_rng(min, max, StdRng::from_os_rng())
    }

    /// A reproducible backoff (tests, simulations).
    pub fn with_seed(min: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff::with_rng(min, max, StdRng::seed_from_u64(seed))
    }

    fn with_rng(min: Duration, max: Duration, rng: StdRng) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            failures: 0,
            rng,
        }
    }

    /// The ceiling of the next delay: `min · 2ⁿ` capped at `max`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(31)).unwrap_or(u32::MAX);
        self.min.saturating_mul(factor).min(self.max)
    }

    /// The next delay; each call doubles the ceiling (up to `max`).
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let half = ceiling / 2;
        // Whole milliseconds: timers have millisecond resolution anyway.
        let spread = u64::try_from((ceiling - half).as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(self.rng.random_range(0..=spread))
    }

    /// Back to the smallest delay (after a healthy connection).
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// How many delays were handed out since the last reset.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn schedule_doubles_with_jitter_caps_and_resets() {
        let min = Duration::from_millis(100);
        let max = Duration::from_secs(30);
        let mut backoff = Backoff::with_seed(min, max, 7);
        let mut ceilings = Vec::new();
        let start = Instant::now();
        let mut expected_elapsed = Duration::ZERO;
        for _ in 0..12 {
            let ceiling = backoff.ceiling();
            ceilings.push(ceiling.as_millis());
            let delay = backoff.next_delay();
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} vs {ceiling:?}"
            );
            tokio::time::sleep(delay).await;
            expected_elapsed += delay;
            // Paused time advances exactly by the slept amounts.
            assert_eq!(Instant::now() - start, expected_elapsed);
        }
        assert_eq!(
            ceilings,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]
        );
        backoff.reset();
        assert_eq!(backoff.failures(), 0);
        let delay = backoff.next_delay();
        assert!(delay >= min / 2 && delay <= min);
    }

    #[test]
    fn jitter_spreads_a_farm() {
        // Two hundred miners losing the same pool do not all come back in the same instant.
        let delays: std::collections::BTreeSet<Duration> = (0..200)
            .map(|seed| {
                let mut b =
                    Backoff::with_seed(Duration::from_millis(100), Duration::from_secs(30), seed);
                b.next_delay();
                b.next_delay()
            })
            .collect();
        assert!(delays.len() > 60, "only {} distinct delays", delays.len());
        assert!(delays
            .iter()
            .all(|d| *d >= Duration::from_millis(100) && *d <= Duration::from_millis(200)));
    }

    #[test]
    fn survives_huge_failure_counts() {
        let mut b = Backoff::with_seed(Duration::from_millis(1), Duration::from_secs(5), 1);
        for _ in 0..1000 {
            assert!(b.next_delay() <= Duration::from_secs(5));
        }
        assert_eq!(b.ceiling(), Duration::from_secs(5));
    }
}
