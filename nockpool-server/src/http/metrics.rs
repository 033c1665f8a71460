//! `/metrics`: the pool in Prometheus' text format (`prometheus-client`). Counters and
//! histograms follow the pool's events; gauges are read from a snapshot at each scrape.

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::monitor::{backend_up, Monitor};
use crate::events::{PoolEvent, PoolSnapshot, StorageHealth};
use crate::BlockOutcome;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShareLabels {
    result: ShareResult,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // label values as Prometheus users write them
enum ShareResult {
    accepted,
    rejected,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WindowLabels {
    window: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerLabels {
    worker: String,
}

/// A label value as the text format needs it: `prometheus-client` writes label values as
/// given, and worker names are chosen by peers (a `"` would end the label early).
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The label of the series that sums every worker beyond the per-worker limit.
pub(crate) const OTHER_WORKERS: &str = "_other";

type GaugeF = Gauge<f64, AtomicU64>;

/// The pool's metrics and their registry.
pub(crate) struct Metrics {
    registry: Registry,
    max_worker_series: usize,
    miners_connected: Gauge,
    workers: Family<StateLabels, Gauge>,
    worker_online: Family<WorkerLabels, Gauge>,
    worker_hashrate: Family<WorkerLabels, GaugeF>,
    hashrate: Family<WindowLabels, GaugeF>,
    shares: Family<ShareLabels, Counter>,
    accepted_work: Counter,
    blocks: Family<OutcomeLabels, Counter>,
    blocks_on_record: Gauge,
    job_broadcasts: Counter,
    fanout: Histogram,
    share_check: Histogram,
    chain_height: Gauge,
    backend_up: Gauge,
    storage_ok: Gauge,
    uptime: Gauge,
    events_missed: Counter,
}

impl Metrics {
    /// Per-worker series are kept for the `max_worker_series` fastest workers; the rest are
    /// summed under `worker="_other"` (a scrape's size stays bounded whatever peers call
    /// themselves).
    pub(crate) fn new(max_worker_series: usize) -> Metrics {
        let mut registry = Registry::default();
        let m = Metrics {
            registry: Registry::default(),
            max_worker_series,
            miners_connected: Gauge::default(),
            workers: Family::default(),
            worker_online: Family::default(),
            worker_hashrate: Family::default(),
            hashrate: Family::default(),
            shares: Family::default(),
            accepted_work: Counter::default(),
            blocks: Family::default(),
            blocks_on_record: Gauge::default(),
            job_broadcasts: Counter::default(),
            // 10 µs .. ~2.6 s
            fanout: Histogram::new(exponential_buckets(1e-5, 4.0, 10)),
            share_check: Histogram::new(exponential_buckets(1e-5, 4.0, 10)),
            chain_height: Gauge::default(),
            backend_up: Gauge::default(),
            storage_ok: Gauge::default(),
            uptime: Gauge::default(),
            events_missed: Counter::default(),
        };
        let r = &mut registry;
        r.register(
            "nockpool_miners_connected",
            "Live miner connections",
            m.miners_connected.clone(),
        );
        r.register(
            "nockpool_workers",
            "Workers by state (online: a share within the offline delay)",
            m.workers.clone(),
        );
        r.register(
            "nockpool_worker_online",
            "1 while the worker is online, 0 once offline",
            m.worker_online.clone(),
        );
        r.register(
            "nockpool_worker_hashrate",
            "Worker hashrate estimated from accepted share difficulty over 5 minutes (H/s)",
            m.worker_hashrate.clone(),
        );
        r.register(
            "nockpool_hashrate",
            "Farm hashrate estimated from accepted share difficulty (H/s)",
            m.hashrate.clone(),
        );
        r.register(
            "nockpool_shares",
            "Submitted shares by result and rejection reason",
            m.shares.clone(),
        );
        r.register(
            "nockpool_accepted_work",
            "Sum of the difficulty of accepted shares (expected hashes)",
            m.accepted_work.clone(),
        );
        r.register(
            "nockpool_blocks",
            "Found blocks (outcome=found) and the chain's verdicts on them",
            m.blocks.clone(),
        );
        r.register(
            "nockpool_blocks_on_record",
            "Found blocks in the data dir (lifetime)",
            m.blocks_on_record.clone(),
        );
        r.register(
            "nockpool_job_broadcasts",
            "New jobs pushed to the miners",
            m.job_broadcasts.clone(),
        );
        r.register(
            "nockpool_job_fanout_seconds",
            "Time to queue a new job to every miner",
            m.fanout.clone(),
        );
        r.register(
            "nockpool_share_check_seconds",
            "Time to check and credit one share",
            m.share_check.clone(),
        );
        r.register(
            "nockpool_chain_height",
            "Height of the chain tip as the backend reports it",
            m.chain_height.clone(),
        );
        r.register(
            "nockpool_backend_up",
            "1 while the chain backend answers and is connected to its chain",
            m.backend_up.clone(),
        );
        r.register(
            "nockpool_storage_ok",
            "1 while the pool's database can be written",
            m.storage_ok.clone(),
        );
        r.register(
            "nockpool_uptime_seconds",
            "Seconds since the pool started",
            m.uptime.clone(),
        );
        r.register(
            "nockpool_events_missed",
            "Pool events the status API fell behind on (its counters lag by that many)",
            m.events_missed.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counts one pool event.
    pub(crate) fn on_event(&self, event: &PoolEvent) {
        match event {
            PoolEvent::ShareAccepted {
                difficulty,
                check_time,
                ..
            } => {
                self.share(ShareResult::accepted, "none");
                self.accepted_work.inc_by(*difficulty);
                self.share_check.observe(check_time.as_secs_f64());
            }
            PoolEvent::ShareRejected {
                reason, check_time, ..
            } => {
                self.share(ShareResult::rejected, &super::reason_label(*reason));
                self.share_check.observe(check_time.as_secs_f64());
            }
            PoolEvent::JobBroadcast { fanout, .. } => {
                self.job_broadcasts.inc();
                self.fanout.observe(fanout.as_secs_f64());
            }
            PoolEvent::BlockFound { .. } => self.block("found"),
            PoolEvent::BlockOutcome { outcome, .. } => self.block(match outcome {
                BlockOutcome::Accepted { .. } => "accepted",
                BlockOutcome::Rejected { .. } => "rejected",
                BlockOutcome::Stale => "stale",
            }),
            _ => {}
        }
    }

    pub(crate) fn missed_events(&self, n: u64) {
        self.events_missed.inc_by(n);
    }

    fn share(&self, result: ShareResult, reason: &str) {
        self.shares
            .get_or_create(&ShareLabels {
                result,
                reason: reason.to_owned(),
            })
            .inc();
    }

    fn block(&self, outcome: &str) {
        self.blocks
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// The text exposition, with the gauges read from `snap` and the monitor.
    pub(crate) fn render(&self, snap: &PoolSnapshot, monitor: &Monitor, now: Instant) -> String {
        self.miners_connected.set(snap.connections as i64);
        self.blocks_on_record.set(snap.blocks_found as i64);
        self.uptime.set(snap.uptime.as_secs() as i64);
        self.storage_ok
            .set(i64::from(matches!(snap.storage, StorageHealth::Ok)));
        self.backend_up
            .set(i64::from(backend_up(snap).unwrap_or(false)));
        if let Some(h) = snap.chain.as_ref().and_then(|c| c.height) {
            self.chain_height.set(h as i64);
        }
        for (window, rate) in ["1m", "5m", "1h"].into_iter().zip(monitor.farm_rates(now)) {
            self.hashrate
                .get_or_create(&WindowLabels {
                    window: window.to_owned(),
                })
                .set(rate);
        }

        let views = monitor.workers(now);
        let mut workers: Vec<(&str, f64, bool)> = snap
            .workers
            .iter()
            .map(|w| {
                let v = views.get(&w.name);
                (
                    w.name.as_str(),
                    v.map_or(0.0, |v| v.rates[1]),
                    v.is_some_and(|v| v.online),
                )
            })
            .collect();
        let online = workers.iter().filter(|w| w.2).count();
        for (state, n) in [("online", online), ("offline", workers.len() - online)] {
            self.workers
                .get_or_create(&StateLabels {
                    state: state.to_owned(),
                })
                .set(n as i64);
        }
        // Fastest first, then by name, so the kept series are stable between scrapes.
        workers.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        self.worker_hashrate.clear();
        self.worker_online.clear();
        let mut other = None;
        for (i, (name, rate, online)) in workers.into_iter().enumerate() {
            if i < self.max_worker_series {
                let labels = WorkerLabels {
                    worker: escape_label(name),
                };
                self.worker_hashrate.get_or_create(&labels).set(rate);
                self.worker_online
                    .get_or_create(&labels)
                    .set(i64::from(online));
            } else {
                *other.get_or_insert(0.0) += rate;
            }
        }
        if let Some(rate) = other {
            let labels = WorkerLabels {
                worker: OTHER_WORKERS.to_owned(),
            };
            self.worker_hashrate.get_or_create(&labels).set(rate);
        }

        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!("cannot encode the metrics: {e}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("rig-1"), "rig-1");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
