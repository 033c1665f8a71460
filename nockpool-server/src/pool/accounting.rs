//! Per-worker accounting: lifetime totals (persisted through the store), the hashrate estimate
//! from credited work, and the farm's counters between two summaries.
//!
//! A leaf of the pool: it calls nothing else in it, and its lock is never held while another
//! part's lock is taken.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use nockpool_core::proto::RejectReason;

use super::sync::lock;
use crate::events::WorkerSnapshot;
use crate::store::{from_unix_ms, unix_ms, WorkerTotals};

/// Window of the per-worker hashrate estimate.
const HASHRATE_WINDOW: Duration = Duration::from_secs(600);
/// Shortest window the hashrate estimate divides by (a single early share is not a rate).
const HASHRATE_MIN_WINDOW: Duration = Duration::from_secs(30);

#[derive(Default)]
struct WorkerState {
    totals: WorkerTotals,
    recent: VecDeque<(Instant, u64)>,
    first_seen: Option<Instant>,
    last_addr: Option<SocketAddr>,
    dirty: bool,
}

impl WorkerState {
    fn hashrate(&self, now: Instant) -> f64 {
        let Some(first) = self.first_seen else {
            return 0.0;
        };
        let window = now
            .saturating_duration_since(first)
            .clamp(HASHRATE_MIN_WINDOW, HASHRATE_WINDOW);
        let work: f64 = self
            .recent
            .iter()
            .filter(|(t, _)| now.saturating_duration_since(*t) <= window)
            .map(|&(_, d)| d as f64)
            .sum();
        work / window.as_secs_f64()
    }

    fn credit(&mut self, difficulty: u64, now: Instant, wall: SystemTime) {
        self.totals.accepted += 1;
        self.totals.accepted_work = self.totals.accepted_work.saturating_add(difficulty as u128);
        self.totals.last_share_unix_ms = Some(unix_ms(wall));
        self.first_seen.get_or_insert(now);
        self.recent.push_back((now, difficulty));
        while let Some(&(t, _)) = self.recent.front() {
            if now.saturating_duration_since(t) > HASHRATE_WINDOW {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        self.dirty = true;
    }

    fn reject(&mut self, reason: RejectReason) {
        *self
            .totals
            .rejected
            .entry(reason.as_str_name().to_owned())
            .or_default() += 1;
        self.dirty = true;
    }
}

#[derive(Default)]
struct Book {
    workers: HashMap<String, WorkerState>,
    interval_accepted: u64,
    interval_rejected: u64,
}

/// Every worker's totals and the farm's interval counters.
pub(super) struct Accounting {
    book: Mutex<Book>,
}

impl Accounting {
    /// Starts from the totals an earlier run stored.
    pub(super) fn new(stored: Vec<(String, WorkerTotals)>) -> Accounting {
        let workers = stored
            .into_iter()
            .map(|(name, totals)| {
                let state = WorkerState {
                    totals,
                    ..WorkerState::default()
                };
                (name, state)
            })
            .collect();
        Accounting {
            book: Mutex::new(Book {
                workers,
                ..Book::default()
            }),
        }
    }

    /// A worker connected from `addr` (it is listed from now on, even before its first share).
    /// Returns the share difficulty it had last, if it was seen before.
    pub(super) fn connected(&self, worker: &str, addr: Option<SocketAddr>) -> Option<u64> {
        let mut book = lock(&self.book);
        let ws = book.workers.entry(worker.to_owned()).or_default();
        ws.last_addr = addr;
        ws.totals.difficulty
    }

    /// Remembers a worker's share difficulty (kept in the store with its totals).
    pub(super) fn set_difficulty(&self, worker: &str, difficulty: u64) {
        let mut book = lock(&self.book);
        let ws = book.workers.entry(worker.to_owned()).or_default();
        if ws.totals.difficulty != Some(difficulty) {
            ws.totals.difficulty = Some(difficulty);
            ws.dirty = true;
        }
    }

    /// Credits one accepted share of `difficulty` (and a found block, if it was one).
    pub(super) fn credit(
        &self,
        worker: &str,
        difficulty: u64,
        block: bool,
        now: Instant,
        wall: SystemTime,
    ) {
        let mut book = lock(&self.book);
        book.interval_accepted += 1;
        let ws = book.workers.entry(worker.to_owned()).or_default();
        ws.credit(difficulty, now, wall);
        if block {
            ws.totals.blocks_found += 1;
        }
    }

    /// Counts a refused submission (against its worker, when the connection was known).
    pub(super) fn reject(&self, worker: Option<&str>, reason: RejectReason) {
        let mut book = lock(&self.book);
        book.interval_rejected += 1;
        if let Some(ws) = worker.and_then(|w| book.workers.get_mut(w)) {
            ws.reject(reason);
        }
    }

    /// Accepted and rejected submissions since the last call, and the farm's hashrate estimate.
    pub(super) fn take_interval(&self, now: Instant) -> (u64, u64, f64) {
        let mut book = lock(&self.book);
        let counts = (book.interval_accepted, book.interval_rejected);
        book.interval_accepted = 0;
        book.interval_rejected = 0;
        let hashrate = book.workers.values().map(|w| w.hashrate(now)).sum();
        (counts.0, counts.1, hashrate)
    }

    /// The totals changed since the last call (to be written to the store).
    pub(super) fn take_dirty(&self) -> Vec<(String, WorkerTotals)> {
        let mut book = lock(&self.book);
        book.workers
            .iter_mut()
            .filter(|(_, w)| w.dirty)
            .map(|(name, w)| {
                w.dirty = false;
                (name.clone(), w.totals.clone())
            })
            .collect()
    }

    /// Every worker, by name, without its live connections (the caller adds those).
    pub(super) fn snapshot(&self, now: Instant) -> BTreeMap<String, WorkerSnapshot> {
        let book = lock(&self.book);
        book.workers
            .iter()
            .map(|(name, w)| {
                let rejected = w
                    .totals
                    .rejected
                    .iter()
                    .filter_map(|(k, v)| RejectReason::from_str_name(k).map(|r| (r, *v)))
                    .collect();
                let snapshot = WorkerSnapshot {
                    name: name.clone(),
                    addr: w.last_addr,
                    connections: 0,
                    accepted: w.totals.accepted,
                    accepted_work: w.totals.accepted_work,
                    rejected,
                    blocks_found: w.totals.blocks_found,
                    last_share_at: w.totals.last_share_unix_ms.map(from_unix_ms),
                    hashrate: w.hashrate(now),
                    reported_hashrate: None,
                    difficulty: None,
                    connected_since: None,
                    threads: None,
                    client_version: None,
                };
                (name.clone(), snapshot)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_hashrate_from_share_difficulty() {
        let t0 = Instant::now();
        let mut w = WorkerState::default();
        // 60 shares of difficulty 1000 over 600 s: 100 H/s.
        for i in 0..60 {
            w.credit(1000, t0 + Duration::from_secs(10 * i), SystemTime::now());
        }
        let h = w.hashrate(t0 + Duration::from_secs(600));
        assert!((h - 100.0).abs() < 2.0, "{h}");
        // Ten minutes of silence later it has decayed to zero.
        assert_eq!(w.hashrate(t0 + Duration::from_secs(1300)), 0.0);
    }

    #[test]
    fn rejections_count_against_known_workers_and_the_interval() {
        let acc = Accounting::new(Vec::new());
        acc.connected("rig", None);
        acc.reject(Some("rig"), RejectReason::Stale);
        acc.reject(Some("stranger"), RejectReason::Stale);
        acc.reject(None, RejectReason::Unauthorized);
        let now = Instant::now();
        acc.credit("rig", 5, true, now, SystemTime::now());
        assert_eq!(acc.take_interval(now).0, 1);
        let snap = acc.snapshot(now);
        assert_eq!(snap.len(), 1);
        let rig = &snap["rig"];
        assert_eq!(rig.rejected.get(&RejectReason::Stale), Some(&1));
        assert_eq!(
            (rig.accepted, rig.accepted_work, rig.blocks_found),
            (1, 5, 1)
        );
        assert_eq!(acc.take_interval(now).0, 0);
        assert_eq!(acc.take_dirty().len(), 1);
        assert!(acc.take_dirty().is_empty());
    }
}
