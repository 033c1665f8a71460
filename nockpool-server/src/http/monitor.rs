//! What the status API adds to the pool's own snapshot: hashrate over 1 min / 5 min / 1 h from
//! the accepted-share events, the farm's hashrate history for the chart, and which workers are
//! online. It turns state changes (a worker going offline or coming back, the backend going
//! down or up, a found block) into log lines, metrics and alerts.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::events::{PoolEvent, PoolSnapshot};
use crate::http::alerts::Alert;

/// The windows of the hashrate estimates.
pub(crate) const WINDOWS: [Duration; 3] = [
    Duration::from_secs(60),
    Duration::from_secs(300),
    Duration::from_secs(3600),
];
/// Hashrate history points kept for the chart (at one per check interval).
const HISTORY_POINTS: usize = 720;
/// Shortest span a rate divides by: a single early share is not a rate.
const MIN_SPAN: Duration = Duration::from_secs(30);

/// Difficulty credited over time, for rates over several windows.
#[derive(Default)]
struct Rates {
    first: Option<Instant>,
    credits: VecDeque<(Instant, u64)>,
}

impl Rates {
    fn record(&mut self, now: Instant, difficulty: u64) {
        self.first.get_or_insert(now);
        self.credits.push_back((now, difficulty));
        self.prune(now);
    }

    fn prune(&mut self, now: Instant) {
        let longest = WINDOWS[WINDOWS.len() - 1];
        while let Some(&(t, _)) = self.credits.front() {
            if now.saturating_duration_since(t) > longest {
                self.credits.pop_front();
            } else {
                break;
            }
        }
    }

    /// Hashes per second over `window`: credited difficulty (expected attempts) divided by the
    /// window, or by the time since the first credit while that is shorter.
    fn rate(&self, now: Instant, window: Duration) -> f64 {
        let Some(first) = self.first else {
            return 0.0;
        };
        let span = now
            .saturating_duration_since(first)
            .clamp(MIN_SPAN.min(window), window);
        let work: f64 = self
            .credits
            .iter()
            .rev()
            .take_while(|(t, _)| now.saturating_duration_since(*t) <= window)
            .map(|&(_, d)| d as f64)
            .sum();
        work / span.as_secs_f64()
    }

    fn rates(&self, now: Instant) -> [f64; 3] {
        WINDOWS.map(|w| self.rate(now, w))
    }
}

/// One worker as the monitor follows it.
struct Watch {
    rates: Rates,
    /// When it last had a share accepted (or connected, before its first), on the monitor's
    /// clock.
    last_activity: Option<SystemTime>,
    online: bool,
    /// Its 5-minute rate when it was last active (reported when it goes offline).
    last_hashrate: f64,
}

/// A worker's view for the API and the metrics.
#[derive(Clone, Debug, Default)]
pub(crate) struct WorkerView {
    pub(crate) rates: [f64; 3],
    pub(crate) online: bool,
    pub(crate) last_activity: Option<SystemTime>,
}

#[derive(Default)]
struct State {
    farm: Rates,
    workers: HashMap<String, Watch>,
    history: VecDeque<(SystemTime, f64)>,
    backend_up: Option<bool>,
    checked: bool,
    accepted: u64,
    rejected: BTreeMap<String, u64>,
}

/// The monitor's state, shared by its task and the HTTP handlers.
pub(crate) struct Monitor {
    state: Mutex<State>,
    offline_after: Duration,
    clock: Clock,
}

/// The wall clock the monitor reads (injectable so tests can move time).
pub(crate) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

impl Monitor {
    pub(crate) fn new(offline_after: Duration, clock: Clock) -> Monitor {
        Monitor {
            state: Mutex::new(State::default()),
            offline_after,
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicked holder leaves consistent data (every update is one statement).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn offline_after(&self) -> Duration {
        self.offline_after
    }

    pub(crate) fn wall_now(&self) -> SystemTime {
        (self.clock)()
    }

    /// Follows one pool event; returns the alert it raises, if any.
    pub(crate) fn on_event(&self, event: &PoolEvent, now: Instant) -> Option<Alert> {
        match event {
            PoolEvent::ShareAccepted {
                worker, difficulty, ..
            } => {
                let wall = self.wall_now();
                let mut st = self.lock();
                st.accepted += 1;
                st.farm.record(now, *difficulty);
                // A worker first heard of here is new: online from the start.
                let w = st.workers.entry(worker.clone()).or_insert_with(|| Watch {
                    rates: Rates::default(),
                    last_activity: None,
                    online: true,
                    last_hashrate: 0.0,
                });
                w.rates.record(now, *difficulty);
                w.last_activity = Some(wall);
                w.last_hashrate = w.rates.rate(now, WINDOWS[1]);
                None
            }
            PoolEvent::ShareRejected { reason, .. } => {
                let mut st = self.lock();
                *st.rejected.entry(super::reason_label(*reason)).or_default() += 1;
                None
            }
            PoolEvent::BlockFound {
                id,
                height,
                worker,
                digest,
            } => Some(Alert::BlockFound {
                id: *id,
                height: *height,
                worker: worker.clone(),
                digest: digest.to_string(),
            }),
            PoolEvent::BlockOutcome {
                id,
                height,
                outcome,
            } => Some(Alert::BlockOutcome {
                id: *id,
                height: *height,
                outcome: super::views::outcome_word(Some(outcome)).to_owned(),
            }),
            _ => None,
        }
    }

    /// Compares the snapshot with what was seen before: marks workers offline (no accepted
    /// share for the offline delay, as followed through the events) or back online, notes the backend going down or up,
    /// and adds a point to the hashrate history. Returns the alerts of the transitions; the
    /// first check only learns the starting state.
    pub(crate) fn check(&self, snap: &PoolSnapshot, now: Instant) -> Vec<Alert> {
        let wall = self.wall_now();
        let offline_after = self.offline_after;
        let mut alerts = Vec::new();
        let mut st = self.lock();
        let first = !st.checked;
        st.checked = true;
        for w in &snap.workers {
            let watch = st.workers.entry(w.name.clone()).or_insert_with(|| {
                // A worker from an earlier run starts from its stored last share; one that is
                // connected or new since the monitor started counts as active now.
                let last_activity = if w.connections > 0 || !first {
                    Some(wall)
                } else {
                    w.last_share_at
                };
                Watch {
                    rates: Rates::default(),
                    last_activity,
                    online: last_activity.is_some_and(|t| age(wall, t) <= offline_after),
                    last_hashrate: 0.0,
                }
            });
            let online = watch
                .last_activity
                .is_some_and(|t| age(wall, t) <= offline_after);
            if online {
                watch.last_hashrate = watch.rates.rate(now, WINDOWS[1]);
            }
            if online != watch.online {
                watch.online = online;
                let last_seen = watch.last_activity;
                if online {
                    tracing::info!("worker {} is back online", w.name);
                    alerts.push(Alert::WorkerOnline {
                        worker: w.name.clone(),
                        last_seen,
                        hashrate: watch.last_hashrate,
                    });
                } else {
                    tracing::warn!(
                        "worker {} is offline: no share for {} s",
                        w.name,
                        last_seen.map_or(0, |t| age(wall, t).as_secs())
                    );
                    alerts.push(Alert::WorkerOffline {
                        worker: w.name.clone(),
                        last_seen,
                        hashrate: watch.last_hashrate,
                    });
                }
            }
            watch.rates.prune(now);
        }
        // Names the pool no longer lists (it keeps every worker; this only bounds memory).
        st.workers
            .retain(|name, _| snap.workers.iter().any(|w| &w.name == name));

        if let Some(up) = backend_up(snap) {
            if st.backend_up != Some(up) {
                let reason = snap
                    .chain_error
                    .clone()
                    .unwrap_or_else(|| "the backend reports no connection to its chain".to_owned());
                match up {
                    true if st.backend_up.is_some() => {
                        tracing::info!("the chain backend is up again");
                        alerts.push(Alert::BackendUp);
                    }
                    true => {}
                    false => {
                        tracing::warn!("the chain backend is down: {reason}");
                        alerts.push(Alert::BackendDown { reason });
                    }
                }
                st.backend_up = Some(up);
            }
        }

        st.farm.prune(now);
        let rate = st.farm.rate(now, WINDOWS[0]);
        st.history.push_back((wall, rate));
        while st.history.len() > HISTORY_POINTS {
            st.history.pop_front();
        }
        alerts
    }

    /// Shares accepted, and rejected by reason, since the pool started.
    pub(crate) fn share_counts(&self) -> (u64, BTreeMap<String, u64>) {
        let st = self.lock();
        (st.accepted, st.rejected.clone())
    }

    /// The farm's hashrate over each of [`WINDOWS`].
    pub(crate) fn farm_rates(&self, now: Instant) -> [f64; 3] {
        self.lock().farm.rates(now)
    }

    /// The hashrate history, oldest first.
    pub(crate) fn history(&self) -> Vec<(SystemTime, f64)> {
        self.lock().history.iter().copied().collect()
    }

    /// Every followed worker's rates and state, by name.
    pub(crate) fn workers(&self, now: Instant) -> HashMap<String, WorkerView> {
        self.lock()
            .workers
            .iter()
            .map(|(name, w)| {
                let view = WorkerView {
                    rates: w.rates.rates(now),
                    online: w.online,
                    last_activity: w.last_activity,
                };
                (name.clone(), view)
            })
            .collect()
    }
}

/// Whether the backend is up, by the snapshot (`None` before its first status call).
pub(crate) fn backend_up(snap: &PoolSnapshot) -> Option<bool> {
    if snap.chain_error.is_some() {
        return Some(false);
    }
    snap.chain.as_ref().map(|c| c.connected)
}

fn age(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_over_three_windows() {
        let t0 = Instant::now();
        let mut r = Rates::default();
        // One share of difficulty 600 every 10 s for an hour: 60 H/s in every window.
        for i in 0..360 {
            r.record(t0 + Duration::from_secs(10 * i), 600);
        }
        let now = t0 + Duration::from_secs(3595);
        for rate in r.rates(now) {
            assert!((rate - 60.0).abs() < 6.0, "{rate}");
        }
        // Two silent minutes later: the 1-minute rate is 0, the hour still remembers.
        let later = now + Duration::from_secs(120);
        let [m1, m5, h1] = r.rates(later);
        assert_eq!(m1, 0.0);
        assert!(m5 > 0.0 && m5 < 60.0 && h1 > 50.0, "{m5} {h1}");
        // A single early share is spread over at least 30 s, not a spike.
        let mut one = Rates::default();
        one.record(t0, 300);
        assert_eq!(one.rate(t0, WINDOWS[0]), 10.0);
    }
}
