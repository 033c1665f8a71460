//! Per-connection variable difficulty: keeps each miner near a target share rate.
//!
//! Pure state machine driven by explicit [`Instant`]s, so it is tested with a fake clock: the
//! server calls [`Vardiff::record_share`] for every accepted share and [`Vardiff::tick`]
//! periodically (so a miner that finds nothing is eased down too).

use std::time::{Duration, Instant};

use nockpool_core::Difficulty;

use crate::ServerError;

/// Vardiff settings shared by every connection.
#[derive(Clone, Debug, PartialEq)]
pub struct VardiffConfig {
    /// The share interval each miner should settle at (default 10 s).
    pub target_share_interval: Duration,
    /// The difficulty a new connection starts at (default 1,024).
    pub initial_difficulty: u64,
    /// The floor: the difficulty never goes below it (default 1).
    pub min_difficulty: u64,
    /// The ceiling (default `u64::MAX`).
    pub max_difficulty: u64,
    /// The window the share rate is measured over before retargeting (default 60 s). A window
    /// with no share at all lowers the difficulty eightfold.
    pub retarget_interval: Duration,
    /// Retarget early once this many shares arrived in the window (default 8), so a miner far
    /// below its right difficulty converges in seconds instead of windows.
    pub retarget_shares: u32,
}

impl Default for VardiffConfig {
    fn default() -> Self {
        VardiffConfig {
            target_share_interval: Duration::from_secs(10),
            initial_difficulty: 1024,
            min_difficulty: 1,
            max_difficulty: u64::MAX,
            retarget_interval: Duration::from_secs(60),
            retarget_shares: 8,
        }
    }
}

impl VardiffConfig {
    /// A config with every knob as default but a fixed difficulty (no retargeting): useful for
    /// tests and for farms that want a constant share target.
    pub fn fixed(difficulty: u64) -> VardiffConfig {
        VardiffConfig {
            initial_difficulty: difficulty,
            min_difficulty: difficulty,
            max_difficulty: difficulty,
            ..VardiffConfig::default()
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ServerError> {
        let bad = |m: &str| Err(ServerError::Config(format!("vardiff: {m}")));
        if self.min_difficulty == 0 {
            return bad("min_difficulty must be at least 1");
        }
        if self.min_difficulty > self.max_difficulty {
            return bad("min_difficulty is above max_difficulty");
        }
        if !(self.min_difficulty..=self.max_difficulty).contains(&self.initial_difficulty) {
            return bad("initial_difficulty must lie between min_difficulty and max_difficulty");
        }
        if self.target_share_interval.is_zero() || self.retarget_interval.is_zero() {
            return bad("target_share_interval and retarget_interval must be above zero");
        }
        if self.retarget_shares == 0 {
            return bad("retarget_shares must be at least 1");
        }
        Ok(())
    }
}

/// Relative changes inside this band are ignored: with ~6 shares per window the rate estimate
/// is noisy, and every change costs the miner a job switch.
const DEAD_BAND: (f64, f64) = (0.5, 2.0);
/// The step down after a whole window without a single share. (A miner at the right difficulty
/// sees an empty 60 s window at a 10 s target with probability e⁻⁶ ≈ 0.25%.)
const EMPTY_WINDOW_STEP: f64 = 1.0 / 8.0;
/// The largest step up from one window.
const MAX_STEP_UP: f64 = 1024.0;

/// One connection's vardiff state.
#[derive(Clone, Debug)]
pub struct Vardiff {
    config: VardiffConfig,
    difficulty: u64,
    window_start: Instant,
    window_shares: u32,
    /// Work credited in the window (sum of share difficulties).
    window_work: f64,
}

impl Vardiff {
    /// A fresh state at the configured initial difficulty; the first window starts at `now`.
    pub fn new(config: VardiffConfig, now: Instant) -> Vardiff {
        let difficulty = config
            .initial_difficulty
            .clamp(config.min_difficulty.max(1), config.max_difficulty.max(1));
        Vardiff {
            config,
            difficulty,
            window_start: now,
            window_shares: 0,
            window_work: 0.0,
        }
    }

    /// A fresh state that starts at `difficulty` (clamped to the configured range) instead of
    /// the initial one: used when a miner resumes after a reconnect.
    pub fn resume(config: VardiffConfig, difficulty: u64, now: Instant) -> Vardiff {
        let mut vd = Vardiff::new(config, now);
        vd.difficulty = difficulty
            .clamp(vd.config.min_difficulty, vd.config.max_difficulty)
            .max(1);
        vd
    }

    /// The current difficulty.
    pub fn difficulty(&self) -> Difficulty {
        Difficulty::saturating(self.difficulty)
    }

    /// Records a share credited at `credited` difficulty (which may be the previous difficulty
    /// while the miner switches jobs). Returns the new difficulty when it changed.
    pub fn record_share(&mut self, credited: u64, now: Instant) -> Option<Difficulty> {
        self.window_shares = self.window_shares.saturating_add(1);
        self.window_work += credited as f64;
        self.evaluate(now)
    }

    /// Re-evaluates without a new share (call periodically). Returns the new difficulty when it
    /// changed.
    pub fn tick(&mut self, now: Instant) -> Option<Difficulty> {
        self.evaluate(now)
    }

    fn evaluate(&mut self, now: Instant) -> Option<Difficulty> {
        let elapsed = now.saturating_duration_since(self.window_start);
        let enough_shares = self.window_shares >= self.config.retarget_shares;
        if !enough_shares && elapsed < self.config.retarget_interval {
            return None;
        }
        // Never divide by less than a millisecond (shares in a burst).
        let secs = elapsed.as_secs_f64().max(0.001);
        let target = self.config.target_share_interval.as_secs_f64();
        let current = self.difficulty as f64;
        let factor = if self.window_shares == 0 {
            EMPTY_WINDOW_STEP
        } else {
            // Hashrate ≈ work / elapsed; the right difficulty is hashrate × target interval.
            (self.window_work * target / secs / current).clamp(EMPTY_WINDOW_STEP, MAX_STEP_UP)
        };
        self.window_start = now;
        self.window_shares = 0;
        self.window_work = 0.0;
        if factor > DEAD_BAND.0 && factor < DEAD_BAND.1 {
            return None;
        }
        // Moderate corrections are damped (a window holds only a handful of shares, so its
        // rate estimate is noisy); large ones are applied at once so a badly set miner converges
        // in a window or two.
        let factor = if (1.0 / 4.0..=4.0).contains(&factor) {
            factor.sqrt()
        } else {
            factor
        };
        let wanted = (current * factor).round();
        let next = if wanted >= u64::MAX as f64 {
            u64::MAX
        } else {
            wanted as u64
        }
        .clamp(self.config.min_difficulty, self.config.max_difficulty)
        .max(1);
        if next == self.difficulty {
            return None;
        }
        self.difficulty = next;
        Some(self.difficulty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds shares at exactly the rate a miner of `hashrate` would find them (`difficulty /
    /// hashrate` apart) plus periodic ticks, for `total` of fake time; returns the difficulty
    /// over time.
    fn simulate(config: VardiffConfig, hashrate: f64, total: Duration) -> Vec<(Duration, u64)> {
        let start = Instant::now();
        let mut vd = Vardiff::new(config, start);
        let mut t = Duration::ZERO;
        let mut next_tick = Duration::from_secs(5);
        let mut history = vec![(t, vd.difficulty().get())];
        // Shares owed are accumulated as fractional work, so any hashrate is exact.
        let mut work_since_share = 0.0;
        let step = Duration::from_millis(10);
        while t < total {
            t += step;
            work_since_share += hashrate * step.as_secs_f64();
            let d = vd.difficulty().get() as f64;
            let mut shares = 0;
            while work_since_share >= d && shares < 1000 {
                work_since_share -= d;
                shares += 1;
                vd.record_share(d as u64, start + t);
            }
            if t >= next_tick {
                vd.tick(start + t);
                next_tick += Duration::from_secs(5);
            }
            history.push((t, vd.difficulty().get()));
        }
        history
    }

    fn settled_within(history: &[(Duration, u64)], ideal: f64, after: Duration) -> bool {
        history
            .iter()
            .filter(|(t, _)| *t >= after)
            .all(|&(_, d)| (d as f64) > ideal * 0.5 && (d as f64) < ideal * 2.0)
    }

    #[test]
    fn converges_up_from_a_low_start() {
        // 1 MH/s, 10 s target: ideal difficulty 1e7, start at 1.
        let config = VardiffConfig {
            initial_difficulty: 1,
            ..VardiffConfig::default()
        };
        let h = simulate(config, 1e6, Duration::from_secs(300));
        assert!(
            settled_within(&h, 1e7, Duration::from_secs(120)),
            "did not settle near 1e7 within 2 minutes: {:?}",
            h.last()
        );
    }

    #[test]
    fn converges_down_from_a_high_start() {
        // 1 kH/s, ideal 1e4; start 1e8 (ten thousand times too high).
        let config = VardiffConfig {
            initial_difficulty: 100_000_000,
            ..VardiffConfig::default()
        };
        let h = simulate(config, 1e3, Duration::from_secs(900));
        let first_good = h
            .iter()
            .find(|(_, d)| (*d as f64) < 2e4)
            .map(|(t, _)| *t)
            .expect("never came down");
        assert!(
            first_good <= Duration::from_secs(360),
            "took {first_good:?}"
        );
        assert!(settled_within(
            &h,
            1e4,
            first_good + Duration::from_secs(60)
        ));
    }

    #[test]
    fn never_below_the_floor() {
        let config = VardiffConfig {
            initial_difficulty: 500,
            min_difficulty: 100,
            ..VardiffConfig::default()
        };
        // A miner so slow it never finds a share.
        let h = simulate(config, 0.0, Duration::from_secs(600));
        assert!(h.iter().all(|&(_, d)| d >= 100));
        assert_eq!(h.last().map(|&(_, d)| d), Some(100));
    }

    #[test]
    fn steady_miner_is_left_alone() {
        // Exactly one share per 10 s at difficulty 1000: no change at all.
        let config = VardiffConfig {
            initial_difficulty: 1000,
            ..VardiffConfig::default()
        };
        let h = simulate(config, 100.0, Duration::from_secs(600));
        assert!(h.iter().all(|&(_, d)| d == 1000), "{:?}", h.last());
    }

    /// A miner whose shares arrive as a Poisson process (exponential gaps), as real ones do.
    /// Returns the fraction of time spent within 2x of the ideal difficulty, and the extremes.
    fn noisy(hashrate: f64, start: u64, seed: u64, total: Duration) -> (f64, u64, u64) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let config = VardiffConfig {
            initial_difficulty: start,
            ..VardiffConfig::default()
        };
        let ideal = hashrate * config.target_share_interval.as_secs_f64();
        let t0 = Instant::now();
        let mut vd = Vardiff::new(config, t0);
        let (mut t, mut next_tick) = (0.0f64, 5.0f64);
        let (mut good, mut lo, mut hi) = (0.0, u64::MAX, 0);
        while t < total.as_secs_f64() {
            let d = vd.difficulty().get();
            // Time to the next share at this difficulty: exponential with mean d / hashrate.
            let u: f64 = rng.random_range(f64::EPSILON..1.0);
            let gap = -u.ln() * d as f64 / hashrate;
            let share_at = t + gap;
            let until = share_at.min(next_tick);
            if (d as f64) > ideal / 2.0 && (d as f64) < ideal * 2.0 {
                good += until - t;
            }
            lo = lo.min(d);
            hi = hi.max(d);
            t = until;
            if share_at <= next_tick {
                vd.record_share(d, t0 + Duration::from_secs_f64(t));
            } else {
                vd.tick(t0 + Duration::from_secs_f64(t));
                next_tick += 5.0;
            }
        }
        (good / t, lo, hi)
    }

    #[test]
    fn poisson_shares_stay_near_the_ideal() {
        // Started at the ideal difficulty (1e5 for 10 kH/s), over two simulated hours.
        for seed in 0..4 {
            let (good, lo, hi) = noisy(1e4, 100_000, seed, Duration::from_secs(7200));
            assert!(
                good > 0.9,
                "seed {seed}: only {good:.2} of the time within 2x"
            );
            assert!(
                lo >= 100_000 / 8 && hi <= 100_000 * 8,
                "seed {seed}: {lo}..{hi}"
            );
        }
        // Started a million times too low, it settles within a few minutes.
        let (good, _, _) = noisy(1e4, 1, 9, Duration::from_secs(3600));
        assert!(good > 0.85, "{good:.2}");
    }

    #[test]
    fn fixed_never_moves() {
        let start = Instant::now();
        let mut vd = Vardiff::new(VardiffConfig::fixed(7), start);
        for i in 0..100 {
            assert_eq!(vd.record_share(7, start + Duration::from_millis(i)), None);
        }
        assert_eq!(vd.tick(start + Duration::from_secs(3600)), None);
        assert_eq!(vd.difficulty().get(), 7);
    }

    #[test]
    fn validation() {
        assert!(VardiffConfig::default().validate().is_ok());
        let zero_floor = VardiffConfig {
            min_difficulty: 0,
            ..VardiffConfig::default()
        };
        assert!(zero_floor.validate().is_err());
        let start_below_floor = VardiffConfig {
            initial_difficulty: 1,
            min_difficulty: 5,
            ..VardiffConfig::default()
        };
        assert!(start_below_floor.validate().is_err());
    }
}
