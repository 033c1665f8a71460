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
    /// When a connection of this name last came (`None`: not since the pool started).
    last_connected: Option<Instant>,
    /// Its live connections (a worker with any is never forgotten).
    live: usize,
    dirty: bool,
}

impl WorkerState {
    /// Which idle worker is forgotten first when the table is full: never-credited names
    /// (typos, probes, made-up names) before workers with shares, each oldest first.
    fn eviction_rank(&self) -> (bool, Option<u64>, Option<Instant>) {
        (
            self.totals.accepted > 0,
            self.totals.last_share_unix_ms,
            self.last_connected,
        )
    }
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
    /// Most workers kept (live ones are never forgotten, so the table can only exceed this
    /// while more names than this are connected at once).
    max_workers: usize,
    /// Names forgotten since the last [`Accounting::take_changes`] (to delete from the store).
    forgotten: Vec<String>,
    interval_accepted: u64,
    interval_rejected: u64,
}

impl Book {
    /// The worker named `name`, listed now if it was not; a full table forgets idle workers
    /// first (down to 90 % of the bound, so this happens once per many new names).
    fn worker(&mut self, name: &str) -> &mut WorkerState {
        if !self.workers.contains_key(name) && self.workers.len() >= self.max_workers {
            self.forget_idle(self.max_workers.saturating_mul(9) / 10);
        }
        self.workers.entry(name.to_owned()).or_default()
    }

    /// Forgets idle workers, least valuable first, until at most `keep` are left (or only
    /// live ones).
    fn forget_idle(&mut self, keep: usize) {
        let excess = self.workers.len().saturating_sub(keep);
        if excess == 0 {
            return;
        }
        let mut idle: Vec<(&String, &WorkerState)> =
            self.workers.iter().filter(|(_, w)| w.live == 0).collect();
        idle.sort_by_key(|(_, w)| w.eviction_rank());
        let gone: Vec<String> = idle
            .into_iter()
            .take(excess)
            .map(|(name, _)| name.clone())
            .collect();
        for name in &gone {
            self.workers.remove(name);
        }
        tracing::debug!(
            forgotten = gone.len(),
            kept = self.workers.len(),
            "worker table full: forgot idle workers"
        );
        self.forgotten.extend(gone);
    }
}

/// Every worker's totals and the farm's interval counters.
pub(super) struct Accounting {
    book: Mutex<Book>,
}

/// What changed since the last flush: totals to write, names to delete.
pub(super) struct WorkerChanges {
    pub(super) changed: Vec<(String, WorkerTotals)>,
    pub(super) forgotten: Vec<String>,
}

impl Accounting {
    /// Starts from the totals an earlier run stored, keeping at most `max_workers` (an older
    /// data dir may hold more; the rest is deleted at the next flush).
    pub(super) fn new(stored: Vec<(String, WorkerTotals)>, max_workers: usize) -> Accounting {
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
        let mut book = Book {
            workers,
            max_workers,
            ..Book::default()
        };
        book.forget_idle(max_workers);
        Accounting {
            book: Mutex::new(book),
        }
    }

    /// A worker connected from `addr` (it is listed from now on, even before its first share).
    /// Returns the share difficulty it had last, if it was seen before.
    pub(super) fn connected(
        &self,
        worker: &str,
        addr: Option<SocketAddr>,
        now: Instant,
    ) -> Option<u64> {
        let mut book = lock(&self.book);
        let ws = book.worker(worker);
        ws.last_addr = addr;
        ws.last_connected = Some(now);
        ws.live += 1;
        ws.totals.difficulty
    }

    /// One of a worker's connections closed.
    pub(super) fn disconnected(&self, worker: &str) {
        let mut book = lock(&self.book);
        if let Some(ws) = book.workers.get_mut(worker) {
            ws.live = ws.live.saturating_sub(1);
        }
    }

    /// Remembers a worker's share difficulty (kept in the store with its totals).
    pub(super) fn set_difficulty(&self, worker: &str, difficulty: u64) {
        let mut book = lock(&self.book);
        let ws = book.worker(worker);
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
        let ws = book.worker(worker);
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

    /// The totals changed and the names forgotten since the last call (to be written to the
    /// store).
    pub(super) fn take_changes(&self) -> WorkerChanges {
        let mut book = lock(&self.book);
        let changed = book
            .workers
            .iter_mut()
            .filter(|(_, w)| w.dirty)
            .map(|(name, w)| {
                w.dirty = false;
                (name.clone(), w.totals.clone())
            })
            .collect();
        WorkerChanges {
            changed,
            forgotten: std::mem::take(&mut book.forgotten),
        }
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
        let acc = Accounting::new(Vec::new(), 100);
        acc.connected("rig", None, Instant::now());
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
        assert_eq!(acc.take_changes().changed.len(), 1);
        assert!(acc.take_changes().changed.is_empty());
    }

    #[test]
    fn a_full_table_forgets_idle_unknown_workers_first_and_never_live_ones() {
        let t0 = Instant::now();
        let acc = Accounting::new(Vec::new(), 10);
        acc.connected("live", None, t0);
        acc.connected("paid", None, t0);
        acc.credit("paid", 5, false, t0, SystemTime::now());
        acc.disconnected("paid");
        for i in 0..1000 {
            let name = format!("made-up-{i}");
            acc.connected(&name, None, t0 + Duration::from_millis(i));
            acc.disconnected(&name);
            assert!(acc.snapshot(t0).len() <= 10);
        }
        let snap = acc.snapshot(t0);
        assert!(snap.contains_key("live") && snap.contains_key("paid"));
        assert!(snap.contains_key("made-up-999"), "the newest name is kept");
        let changes = acc.take_changes();
        assert!(
            changes.forgotten.len() >= 990,
            "{}",
            changes.forgotten.len()
        );
        assert!(changes.forgotten.iter().all(|n| n.starts_with("made-up-")));
        // Reloaded from a store with more than the bound: the same order applies.
        let stored: Vec<_> = (0..50)
            .map(|i| {
                let totals = WorkerTotals {
                    accepted: u64::from(i == 7),
                    ..WorkerTotals::default()
                };
                (format!("w{i}"), totals)
            })
            .collect();
        let acc = Accounting::new(stored, 5);
        let snap = acc.snapshot(t0);
        assert_eq!(snap.len(), 5);
        assert!(snap.contains_key("w7"));
        assert_eq!(acc.take_changes().forgotten.len(), 45);
    }
}
