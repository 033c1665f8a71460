//! [`CpuMiner`]: runs a [`PowEngine`] on N OS threads over nockpool's nonce layout.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nockpool_core::{Digest, JobParams, Nonce, NonceRange, Target};

use crate::{PowEngine, PreparedJob};

/// A job for [`CpuMiner`]: a prepared job, the share target, and the connection's nonce prefix.
#[derive(Clone, Debug)]
pub struct MiningJob {
    /// The caller's sequence number for the job, echoed in every [`FoundShare`] (give every job
    /// its own, so each share maps back to the job it was found for). A job for the same puzzle
    /// (commitment, puzzle length, version) and prefix as the previous one, e.g. the same
    /// template at a new share target, continues each thread's counter instead of repeating
    /// nonces; any other job starts the counters at 0.
    pub job_seq: u64,
    /// The engine's prepared job.
    pub prepared: PreparedJob,
    /// Digests `<=` this target are reported as shares.
    pub share_target: Target,
    /// Nonce limb 4, assigned by the pool server per connection (must be `< p`; a job with a
    /// non-canonical prefix is not mined).
    pub nonce_prefix: u64,
}

impl MiningJob {
    /// A mining job.
    pub fn new(
        job_seq: u64,
        prepared: PreparedJob,
        share_target: Target,
        nonce_prefix: u64,
    ) -> MiningJob {
        MiningJob {
            job_seq,
            prepared,
            share_target,
            nonce_prefix,
        }
    }
}

/// A nonce whose digest met the share target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FoundShare {
    /// The [`MiningJob::job_seq`] it was found for.
    pub job_seq: u64,
    /// The nonce (limb 4 = prefix, limb 3 = thread index, limbs 0–2 = counter).
    pub nonce: Nonce,
    /// Its digest, as computed by the engine.
    pub digest: Digest,
}

type OnFound = dyn Fn(FoundShare) + Send + Sync;

struct Control {
    /// Bumped by every `set_job` / `pause`; threads wake when it changes.
    generation: u64,
    job: Option<Arc<MiningJob>>,
    /// The stop flag of the current generation; set (and replaced) when it ends.
    stop: Arc<AtomicBool>,
    /// Threads inside a search loop.
    searching: usize,
    shutdown: bool,
}

struct Shared {
    control: Mutex<Control>,
    changed: Condvar,
    hashes: AtomicU64,
    engine: Arc<dyn PowEngine>,
    /// Nonces per [`PowEngine::search`] call ([`PowEngine::search_chunk`]); the hash counter
    /// advances once per call.
    chunk: u64,
    on_found: Box<OnFound>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Control> {
        // A panicking callback must not wedge the miner: the control state stays consistent
        // under every critical section, so a poisoned lock is still usable.
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs a [`PowEngine`] on `threads` OS threads.
///
/// Thread `i` mines nonces `[counter₀ counter₁ counter₂ i prefix]`: limb 4 is the job's
/// [`nonce_prefix`](MiningJob::nonce_prefix), limb 3 the thread index, limbs 0–2 a base-p
/// counter. [`set_job`](CpuMiner::set_job) and [`pause`](CpuMiner::pause) return at once; the
/// running searches see their stop flag within about a millisecond. Shares are delivered to the
/// callback from the mining threads. Dropping the miner stops and joins its threads.
///
/// ```
/// use std::sync::{mpsc, Arc};
/// use nockpool_core::{Digest, JobParams, Target};
/// use nockpool_pow::{CpuMiner, MiningJob, PowEngine, V5Engine};
///
/// let engine = Arc::new(V5Engine::new());
/// let job = engine.prepare(&JobParams::v5(Digest::new([1, 2, 3, 4, 5]).unwrap(), 64).unwrap()).unwrap();
/// let (tx, rx) = mpsc::channel();
/// let tx = std::sync::Mutex::new(tx);
/// let miner = CpuMiner::new(engine.clone(), 2, move |share| { let _ = tx.lock().unwrap().send(share); });
/// miner.set_job(MiningJob::new(1, job.clone(), Target::MAX, 42));
/// let share = rx.recv().unwrap();
/// assert_eq!(share.nonce.prefix(), 42);
/// assert_eq!(engine.digest(&job, &share.nonce), share.digest);
/// miner.pause();
/// ```
pub struct CpuMiner {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

impl CpuMiner {
    /// Spawns `threads` mining threads, idle until a job is set. `on_found` is called from the
    /// mining threads for every share.
    pub fn new(
        engine: Arc<dyn PowEngine>,
        threads: usize,
        on_found: impl Fn(FoundShare) + Send + Sync + 'static,
    ) -> CpuMiner {
        CpuMiner::with_first_lane(engine, threads, 0, on_found)
    }

    /// Like [`new`](CpuMiner::new), with thread `i` on lane (nonce limb 3) `first_lane + i`:
    /// several miners share one connection's nonce space when their lanes do not overlap
    /// (e.g. CPU threads on lanes `0..N` and a GPU on lane `N`).
    pub fn with_first_lane(
        engine: Arc<dyn PowEngine>,
        threads: usize,
        first_lane: u64,
        on_found: impl Fn(FoundShare) + Send + Sync + 'static,
    ) -> CpuMiner {
        let chunk = engine.search_chunk().max(1);
        let shared = Arc::new(Shared {
            control: Mutex::new(Control {
                generation: 0,
                job: None,
                stop: Arc::new(AtomicBool::new(false)),
                searching: 0,
                shutdown: false,
            }),
            changed: Condvar::new(),
            hashes: AtomicU64::new(0),
            engine,
            chunk,
            on_found: Box::new(on_found),
        });
        let handles = (0..threads as u64)
            .map(|i| {
                let shared = Arc::clone(&shared);
                let lane = first_lane.saturating_add(i);
                std::thread::Builder::new()
                    .name(format!("nockpool-miner-{lane}"))
                    .spawn(move || worker(&shared, lane))
                    .expect("spawning a mining thread")
            })
            .collect();
        CpuMiner { shared, handles }
    }

    /// Switches every thread to `job` and returns at once; the previous searches stop within
    /// milliseconds.
    pub fn set_job(&self, job: MiningJob) {
        self.switch(Some(Arc::new(job)));
    }

    /// Stops searching; threads idle until the next [`set_job`](CpuMiner::set_job).
    pub fn pause(&self) {
        self.switch(None);
    }

    fn switch(&self, job: Option<Arc<MiningJob>>) {
        let mut control = self.shared.lock();
        control.stop.store(true, Ordering::Relaxed);
        control.stop = Arc::new(AtomicBool::new(false));
        control.job = job;
        control.generation += 1;
        drop(control);
        self.shared.changed.notify_all();
    }

    /// Total nonces actually tried by all threads since start (monotonic).
    pub fn hashes(&self) -> u64 {
        self.shared.hashes.load(Ordering::Relaxed)
    }

    /// Number of mining threads.
    pub fn threads(&self) -> usize {
        self.handles.len()
    }

    /// Waits up to `timeout` until no thread is searching (e.g. after [`pause`](Self::pause));
    /// returns whether that happened. After it returns `true` no share callback is running or
    /// will run until the next job.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut control = self.shared.lock();
        loop {
            let settled = control.searching == 0 && (control.job.is_none() || control.shutdown);
            if settled {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            control = self
                .shared
                .changed
                .wait_timeout(control, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl std::fmt::Debug for CpuMiner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuMiner")
            .field("threads", &self.threads())
            .field("hashes", &self.hashes())
            .finish()
    }
}

impl Drop for CpuMiner {
    fn drop(&mut self) {
        {
            let mut control = self.shared.lock();
            control.shutdown = true;
            control.stop.store(true, Ordering::Relaxed);
            control.job = None;
            control.generation += 1;
        }
        self.shared.changed.notify_all();
        for handle in self.handles.drain(..) {
            // A thread that panicked (in the callback) has nothing left to clean up.
            let _ = handle.join();
        }
    }
}

/// Per-thread counter position: which puzzle and prefix it belongs to, and the next counter
/// value.
struct Cursor {
    key: Option<(JobParams, u64)>,
    counter: u128,
}

fn worker(shared: &Shared, lane: u64) {
    let mut seen_generation = 0;
    let mut cursor = Cursor {
        key: None,
        counter: 0,
    };
    loop {
        let (job, stop) = {
            let mut control = shared.lock();
            while control.generation == seen_generation && !control.shutdown {
                control = shared
                    .changed
                    .wait(control)
                    .unwrap_or_else(|e| e.into_inner());
            }
            if control.shutdown {
                return;
            }
            seen_generation = control.generation;
            let Some(job) = control.job.clone() else {
                continue;
            };
            control.searching += 1;
            (job, Arc::clone(&control.stop))
        };

        mine(shared, lane, &job, &stop, &mut cursor);

        let mut control = shared.lock();
        control.searching -= 1;
        drop(control);
        shared.changed.notify_all();
    }
}

fn mine(shared: &Shared, lane: u64, job: &MiningJob, stop: &AtomicBool, cursor: &mut Cursor) {
    let key = (*job.prepared.params(), job.nonce_prefix);
    if cursor.key != Some(key) {
        cursor.key = Some(key);
        cursor.counter = 0;
    }
    let job_seq = job.job_seq;
    while !stop.load(Ordering::Relaxed) {
        let range = NonceRange {
            prefix: job.nonce_prefix,
            lane,
            start: cursor.counter,
            count: shared.chunk,
        };
        let tried = shared.engine.search(
            &job.prepared,
            range,
            &job.share_target,
            stop,
            &mut |nonce, digest| {
                (shared.on_found)(FoundShare {
                    job_seq,
                    nonce,
                    digest,
                })
            },
        );
        cursor.counter += u128::from(tried);
        shared.hashes.fetch_add(tried, Ordering::Relaxed);
        if tried == 0 && !stop.load(Ordering::Relaxed) {
            // Nothing can be tried (e.g. a non-canonical prefix): idle until the next job.
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{v5, V5Engine};
    use nockpool_core::{Difficulty, JobParams, P};
    use std::sync::mpsc;

    const WAIT: Duration = Duration::from_secs(10);

    fn setup(threads: usize) -> (Arc<V5Engine>, CpuMiner, mpsc::Receiver<FoundShare>) {
        let engine = Arc::new(V5Engine::new());
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let miner = CpuMiner::new(engine.clone(), threads, move |share| {
            let _ = tx.lock().unwrap().send(share);
        });
        (engine, miner, rx)
    }

    fn job(engine: &V5Engine, commitment: [u64; 5], pow_len: u64) -> PreparedJob {
        let params = JobParams::v5(Digest::new(commitment).unwrap(), pow_len).unwrap();
        engine.prepare(&params).unwrap()
    }

    #[test]
    fn lanes_start_at_the_first_lane() {
        let engine = Arc::new(V5Engine::new());
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let miner = CpuMiner::with_first_lane(engine.clone(), 2, 40, move |share| {
            let _ = tx.lock().unwrap().send(share);
        });
        miner.set_job(MiningJob::new(
            1,
            job(&engine, [1, 2, 3, 4, 5], 1),
            Target::MAX,
            7,
        ));
        let mut lanes = std::collections::BTreeSet::new();
        while lanes.len() < 2 {
            let share = rx.recv_timeout(WAIT).expect("both threads find shares");
            assert_eq!(share.nonce.prefix(), 7);
            lanes.insert(share.nonce.limbs()[3]);
        }
        assert_eq!(lanes.into_iter().collect::<Vec<_>>(), [40, 41]);
        miner.pause();
    }

    fn counter(nonce: &Nonce) -> u128 {
        let l = nonce.limbs();
        l[0] as u128 + l[1] as u128 * P as u128 + l[2] as u128 * (P as u128) * (P as u128)
    }

    #[test]
    fn finds_valid_shares_on_every_thread_and_switches_jobs() {
        let (engine, miner, rx) = setup(2);
        assert_eq!(miner.threads(), 2);
        let target = Target::from_difficulty(Difficulty::new(4).unwrap());
        let job1 = job(&engine, [1, 2, 3, 4, 5], 64);
        miner.set_job(MiningJob::new(1, job1.clone(), target, 77));
        let mut lanes = [0usize; 2];
        while lanes.iter().any(|&n| n < 3) {
            let share = rx.recv_timeout(WAIT).expect("shares arrive");
            assert_eq!(share.job_seq, 1);
            assert_eq!(share.nonce.prefix(), 77);
            let expected = v5::digest(&[1, 2, 3, 4, 5], share.nonce.limbs(), 64);
            assert_eq!(share.digest.to_limbs(), expected);
            assert!(share.digest.meets(&target));
            lanes[share.nonce.lane() as usize] += 1;
        }

        // A new job: every thread moves to it.
        let job2 = job(&engine, [9, 9, 9, 9, 9], 16);
        miner.set_job(MiningJob::new(2, job2, target, 78));
        let mut lanes2 = [0usize; 2];
        while lanes2.iter().any(|&n| n < 2) {
            let share = rx.recv_timeout(WAIT).expect("shares arrive");
            if share.job_seq == 1 {
                continue; // found just before the switch
            }
            assert_eq!(share.job_seq, 2);
            assert_eq!(share.nonce.prefix(), 78);
            let expected = v5::digest(&[9, 9, 9, 9, 9], share.nonce.limbs(), 16);
            assert_eq!(share.digest.to_limbs(), expected);
            lanes2[share.nonce.lane() as usize] += 1;
        }

        let started = Instant::now();
        miner.pause();
        assert!(miner.wait_idle(WAIT), "threads stop after pause");
        let stop_latency = started.elapsed();
        assert!(stop_latency < Duration::from_secs(2), "{stop_latency:?}");
        let hashes = miner.hashes();
        assert!(hashes > 0);
        while rx.try_recv().is_ok() {}
        // Idle: nothing more is produced and the counter holds.
        assert!(rx.try_recv().is_err());
        assert_eq!(miner.hashes(), hashes);
    }

    #[test]
    fn the_same_puzzle_continues_counters_another_restarts() {
        let (engine, miner, rx) = setup(1);
        let prepared = job(&engine, [3, 1, 4, 1, 5], 1);
        // Every digest meets the maximum target, so lane 0 reports every counter in order.
        miner.set_job(MiningJob::new(5, prepared.clone(), Target::MAX, 1));
        for expected in 0..10u128 {
            let share = rx.recv_timeout(WAIT).unwrap();
            assert_eq!(counter(&share.nonce), expected);
        }
        miner.pause();
        assert!(miner.wait_idle(WAIT));
        let mut last = 9;
        while let Ok(share) = rx.try_recv() {
            assert_eq!(counter(&share.nonce), last + 1);
            last += 1;
        }
        assert_eq!(miner.hashes() as u128, last + 1);

        miner.set_job(MiningJob::new(5, prepared.clone(), Target::MAX, 1));
        let share = rx.recv_timeout(WAIT).unwrap();
        assert_eq!(
            counter(&share.nonce),
            last + 1,
            "continues after the same job_seq"
        );

        // A new job for the same puzzle and prefix (a new share target, say) continues too.
        miner.pause();
        assert!(miner.wait_idle(WAIT));
        let mut last = last + 1;
        while let Ok(share) = rx.try_recv() {
            last = counter(&share.nonce);
        }
        miner.set_job(MiningJob::new(6, prepared.clone(), Target::MAX, 1));
        let share = rx.recv_timeout(WAIT).unwrap();
        assert_eq!(share.job_seq, 6);
        assert_eq!(counter(&share.nonce), last + 1, "same puzzle, new job_seq");

        // Another puzzle, or another prefix, starts at 0.
        let other = job(&engine, [2, 7, 1, 8, 2], 1);
        for (seq, prepared, prefix) in [(7, other, 1), (8, prepared, 2)] {
            miner.set_job(MiningJob::new(seq, prepared, Target::MAX, prefix));
            loop {
                let share = rx.recv_timeout(WAIT).unwrap();
                if share.job_seq == seq {
                    assert_eq!(counter(&share.nonce), 0, "job {seq} restarts");
                    break;
                }
            }
        }
    }

    #[test]
    fn idle_until_job_and_drop_joins() {
        let (_engine, miner, rx) = setup(2);
        assert!(miner.wait_idle(Duration::ZERO));
        assert_eq!(miner.hashes(), 0);
        assert!(rx.try_recv().is_err());
        drop(miner);
        // The callback (and its sender) went away with the threads.
        assert!(matches!(rx.recv(), Err(mpsc::RecvError)));
    }

    #[test]
    fn non_canonical_prefix_is_not_mined() {
        let (engine, miner, rx) = setup(1);
        let prepared = job(&engine, [0; 5], 1);
        miner.set_job(MiningJob::new(1, prepared, Target::MAX, P));
        miner.pause();
        assert!(miner.wait_idle(WAIT));
        assert!(rx.try_recv().is_err());
        assert_eq!(miner.hashes(), 0);
    }
}
