//! Hashrate from hashes actually computed: cumulative counter samples averaged over windows.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// The short hashrate window.
pub(crate) const WINDOW_1M: Duration = Duration::from_secs(60);
/// The long hashrate window (and how much history is kept).
pub(crate) const WINDOW_5M: Duration = Duration::from_secs(300);

/// Samples of a cumulative hash counter; rates are differences over a window.
///
/// Before a window has filled, the rate is taken over the history there is (so a miner shows
/// a hashrate after its first seconds, not after five minutes).
#[derive(Debug, Default)]
pub(crate) struct HashrateMeter {
    samples: VecDeque<(Instant, u64)>,
}

impl HashrateMeter {
    /// Records the counter's value at `now` (time must not go backwards).
    pub(crate) fn record(&mut self, now: Instant, total_hashes: u64) {
        self.samples.push_back((now, total_hashes));
        // Keep one sample at or beyond the long window's start, drop anything older.
        while self.samples.len() > 2 && now.duration_since(self.samples[1].0) >= WINDOW_5M {
            self.samples.pop_front();
        }
    }

    /// Hashes per second over the last `window` (or all history, if shorter).
    pub(crate) fn rate(&self, window: Duration) -> f64 {
        let Some(&(now, latest)) = self.samples.back() else {
            return 0.0;
        };
        // The newest sample at least `window` old; without one, the oldest there is.
        let from = self
            .samples
            .iter()
            .rev()
            .find(|(t, _)| now.duration_since(*t) >= window)
            .or(self.samples.front());
        match from {
            Some(&(t, hashes)) if t < now => {
                latest.saturating_sub(hashes) as f64 / now.duration_since(t).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_single_sample_give_zero() {
        let mut m = HashrateMeter::default();
        assert_eq!(m.rate(WINDOW_1M), 0.0);
        m.record(Instant::now(), 500);
        assert_eq!(m.rate(WINDOW_1M), 0.0);
    }

    #[test]
    fn windows_average_what_was_computed() {
        let start = Instant::now();
        let mut m = HashrateMeter::default();
        // Four minutes at 1000 H/s, then one minute at 4000 H/s, sampled every second.
        let mut total = 0u64;
        for s in 0..=300u64 {
            m.record(start + Duration::from_secs(s), total);
            total += if s < 240 { 1000 } else { 4000 };
        }
        let r1 = m.rate(WINDOW_1M);
        let r5 = m.rate(WINDOW_5M);
        assert!((r1 - 4000.0).abs() < 1e-6, "{r1}");
        assert!(
            (r5 - (240.0 * 1000.0 + 60.0 * 4000.0) / 300.0).abs() < 1e-6,
            "{r5}"
        );
        // History is bounded to the long window.
        assert!(m.samples.len() <= 302);
    }

    #[test]
    fn partial_history_uses_what_there_is() {
        let start = Instant::now();
        let mut m = HashrateMeter::default();
        m.record(start, 0);
        m.record(start + Duration::from_secs(10), 5_000);
        assert!((m.rate(WINDOW_1M) - 500.0).abs() < 1e-9);
        assert!((m.rate(WINDOW_5M) - 500.0).abs() < 1e-9);
    }

    #[test]
    fn gaps_longer_than_the_window_still_give_a_rate() {
        let start = Instant::now();
        let mut m = HashrateMeter::default();
        m.record(start, 0);
        m.record(start + Duration::from_secs(600), 600_000);
        assert!((m.rate(WINDOW_1M) - 1000.0).abs() < 1e-9);
    }
}
