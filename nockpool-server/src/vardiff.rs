//! Per-connection variable difficulty: keeps each miner near a target share rate.
//!
//! Pure state machine driven by explicit [`Instant`]s, so it is tested with a fake clock: the
//! server starts a connection with [`Vardiff::for_threads`] (the thread count of the miner's
//! Hello times an assumed per-thread hashrate, so a big rig does not flood the pool with easy
//! shares before vardiff has seen any), calls [`Vardiff::observe_hashrate`] with the hashrate
//! each Status reports, [`Vardiff::record_share`] for every accepted share and
//! [`Vardiff::tick`] periodically (so a miner that finds nothing is eased down too).

use std::time::{Duration, Instant};

use nockpool_core::Difficulty;

use crate::ServerError;

/// Vardiff settings shared by every connection.
#[derive(Clone, Debug, PartialEq)]
pub struct VardiffConfig {
    /// The share interval each miner should settle at (default 10 s).
    pub target_share_interval: Duration,
    /// The difficulty a new connection starts at when its Hello announces no threads, or when
    /// `per_thread_hashrate` is 0 (default 1,024).
    pub initial_difficulty: u64,
    /// The hashrate (hashes per second) assumed for each thread a miner's Hello announces
    /// (default 300,000). A new connection starts at `threads × per_thread_hashrate ×
    /// target_share_interval`, clamped to `[min_difficulty, max_difficulty]`; the first Status
    /// with a real hashrate corrects it at once if it is far off. 0 disables the estimate.
    pub per_thread_hashrate: f64,
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
            per_thread_hashrate: DEFAULT_PER_THREAD_HASHRATE,
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
        let bad = |setting: &'static str, reason: &str| {
            Err(ServerError::Config {
                setting,
                reason: reason.into(),
            })
        };
        if self.min_difficulty == 0 {
            return bad("vardiff.min_difficulty", "it must be at least 1");
        }
        if self.min_difficulty > self.max_difficulty {
            return bad("vardiff.min_difficulty", "it is above max_difficulty");
        }
        if !(self.min_difficulty..=self.max_difficulty).contains(&self.initial_difficulty) {
            return bad(
                "vardiff.initial_difficulty",
                "it must lie between min_difficulty and max_difficulty",
            );
        }
        if self.target_share_interval.is_zero() || self.retarget_interval.is_zero() {
            return bad(
                "vardiff.target_share_interval",
                "target_share_interval and retarget_interval must be above zero",
            );
        }
        if self.retarget_shares == 0 {
            return bad("vardiff.retarget_shares", "it must be at least 1");
        }
        if !(self.per_thread_hashrate.is_finite() && self.per_thread_hashrate >= 0.0) {
            return bad(
                "vardiff.per_thread_hashrate",
                "it must be a finite number, 0 or more",
            );
        }
        Ok(())
    }
}

/// The per-thread hashrate assumed by default: a modest CPU thread on the v5 puzzle.
pub const DEFAULT_PER_THREAD_HASHRATE: f64 = 300_000.0;

/// A reported hashrate moves the difficulty at once only when the difficulty it implies is more
/// than this factor away from the current one (nearer, the share-rate windows refine it).
const HASHRATE_JUMP: f64 = 4.0;

/// `hashrate × interval` as a difficulty, clamped to the configured range (`None` for a
/// hashrate that is not a positive finite number).
fn implied_difficulty(config: &VardiffConfig, hashrate: f64) -> Option<u64> {
    if !(hashrate.is_finite() && hashrate > 0.0) {
        return None;
    }
    let wanted = (hashrate * config.target_share_interval.as_secs_f64()).round();
    let d = if wanted >= u64::MAX as f64 {
        u64::MAX
    } else {
        wanted as u64
    };
    Some(
        d.clamp(
            config.min_difficulty,
            config.max_difficulty.max(config.min_difficulty),
        )
        .max(1),
    )
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

    /// A fresh state for a miner that announced `threads` in its Hello: it starts at the
    /// difficulty `threads × per_thread_hashrate` implies at the target share interval
    /// (clamped to the configured range), or at the initial difficulty when either is 0.
    pub fn for_threads(config: VardiffConfig, threads: u32, now: Instant) -> Vardiff {
        let estimate = threads as f64 * config.per_thread_hashrate;
        let start = implied_difficulty(&config, estimate);
        let mut vd = Vardiff::new(config, now);
        if let Some(d) = start {
            vd.difficulty = d;
        }
        vd
    }

    /// A fresh state for a miner that measured `hashrate` (hashes per second) before it
    /// connected: it starts at the difficulty that rate implies at the target share interval
    /// (clamped to the configured range). `None` for a hashrate that is not a positive finite
    /// number.
    pub fn for_hashrate(config: VardiffConfig, hashrate: f64, now: Instant) -> Option<Vardiff> {
        let start = implied_difficulty(&config, hashrate)?;
        let mut vd = Vardiff::new(config, now);
        vd.difficulty = start;
        Some(vd)
    }

    /// Takes a hashrate the miner reported (hashes per second it really computed): when the
    /// difficulty it implies is more than 4× away from the current one, the difficulty jumps
    /// there at once and a new measuring window starts. Returns the new difficulty when it
    /// changed. Zero, negative or non-finite reports are ignored.
    pub fn observe_hashrate(&mut self, hashrate: f64, now: Instant) -> Option<Difficulty> {
        let implied = implied_difficulty(&self.config, hashrate)?;
        let ratio = implied as f64 / self.difficulty as f64;
        if (1.0 / HASHRATE_JUMP..=HASHRATE_JUMP).contains(&ratio) {
            return None;
        }
        self.difficulty = implied;
        self.window_start = now;
        self.window_shares = 0;
        self.window_work = 0.0;
        Some(self.difficulty())
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
        simulate_from(Vardiff::new(config, start), start, hashrate, total).0
    }

    /// Like [`simulate`] from a given state started at `start`; also returns how many shares
    /// fell in each second of fake time.
    fn simulate_from(
        mut vd: Vardiff,
        start: Instant,
        hashrate: f64,
        total: Duration,
    ) -> (Vec<(Duration, u64)>, Vec<u32>) {
        let mut per_second = vec![0u32; total.as_secs() as usize + 1];
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
                per_second[t.as_secs() as usize] += 1;
                vd.record_share(d as u64, start + t);
            }
            if t >= next_tick {
                vd.tick(start + t);
                next_tick += Duration::from_secs(5);
            }
            history.push((t, vd.difficulty().get()));
        }
        (history, per_second)
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
    fn a_new_miner_starts_where_its_threads_put_it() {
        let t0 = Instant::now();
        let config = VardiffConfig::default();
        // 15 threads x 300 kH/s x 10 s.
        let vd = Vardiff::for_threads(config.clone(), 15, t0);
        assert_eq!(vd.difficulty().get(), 45_000_000);
        // No threads announced, or no per-thread estimate: the initial difficulty.
        assert_eq!(
            Vardiff::for_threads(config.clone(), 0, t0)
                .difficulty()
                .get(),
            1024
        );
        let no_estimate = VardiffConfig {
            per_thread_hashrate: 0.0,
            ..config.clone()
        };
        assert_eq!(
            Vardiff::for_threads(no_estimate, 15, t0).difficulty().get(),
            1024
        );
        // Clamped to the configured range.
        let capped = VardiffConfig {
            max_difficulty: 1_000_000,
            ..config.clone()
        };
        assert_eq!(
            Vardiff::for_threads(capped, 15, t0).difficulty().get(),
            1_000_000
        );
        let floored = VardiffConfig {
            min_difficulty: 10_000_000,
            per_thread_hashrate: 1.0,
            ..config.clone()
        };
        assert_eq!(
            Vardiff::for_threads(floored, 1, t0).difficulty().get(),
            10_000_000
        );
        assert_eq!(
            Vardiff::for_threads(config, u32::MAX, t0)
                .difficulty()
                .get(),
            (u32::MAX as f64 * 300_000.0 * 10.0).round() as u64
        );
    }

    #[test]
    fn a_big_rig_stays_under_the_submission_limit_from_its_first_second() {
        // 15 threads really doing 1 MH/s each (above the 300 kH/s estimate), default settings.
        let t0 = Instant::now();
        let limits = crate::Limits::default();
        let vd = Vardiff::for_threads(VardiffConfig::default(), 15, t0);
        let (history, per_second) = simulate_from(vd, t0, 15e6, Duration::from_secs(300));
        let busiest = per_second.iter().copied().max().unwrap_or(0);
        assert!(
            (busiest as f64) < limits.submits_per_second,
            "{busiest} shares in one second"
        );
        // The very first second already is: 15 MH/s at the start difficulty is < 1 share/s.
        assert!(per_second[0] <= 1, "{:?}", &per_second[..5]);
        // And vardiff still settles at the ideal (1.5e8 for a 10 s interval).
        assert!(settled_within(&history, 1.5e8, Duration::from_secs(120)));
        // Started at the old fixed 1,024 instead, the same rig floods the pool.
        let old = Vardiff::new(VardiffConfig::default(), t0);
        let (_, per_second) = simulate_from(old, t0, 15e6, Duration::from_secs(5));
        assert!(per_second[0] as f64 > limits.submits_per_second);
    }

    #[test]
    fn a_reported_hashrate_far_off_moves_the_difficulty_at_once() {
        let t0 = Instant::now();
        let config = VardiffConfig::default();
        // One thread announced: 3e6. The miner then reports 1e8 H/s: 1e9 at 10 s.
        let mut vd = Vardiff::for_threads(config.clone(), 1, t0);
        assert_eq!(vd.difficulty().get(), 3_000_000);
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(
            vd.observe_hashrate(1e8, t1).map(|d| d.get()),
            Some(1_000_000_000)
        );
        // Within 4x of the current difficulty: left to the share-rate windows.
        assert_eq!(vd.observe_hashrate(2.5e8, t1), None);
        assert_eq!(vd.observe_hashrate(0.3e8, t1), None);
        // Nonsense reports are ignored.
        for bad in [0.0, -5.0, f64::NAN, f64::INFINITY] {
            assert_eq!(vd.observe_hashrate(bad, t1), None);
        }
        assert_eq!(vd.difficulty().get(), 1_000_000_000);
        // A report far below moves it down, never under the floor.
        let floored = VardiffConfig {
            min_difficulty: 1000,
            ..config
        };
        let mut vd = Vardiff::for_threads(floored, 4, t0);
        assert_eq!(vd.observe_hashrate(1.0, t1).map(|d| d.get()), Some(1000));
        // The jump starts a new window: shares right after it do not retarget from old data.
        assert_eq!(vd.tick(t1 + Duration::from_secs(59)), None);
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
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let config = VardiffConfig {
                per_thread_hashrate: bad,
                ..VardiffConfig::default()
            };
            assert!(config.validate().is_err());
        }
    }
}
