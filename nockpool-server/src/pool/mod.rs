//! The pool's state and rules, one concern per module, each with its own lock:
//!
//! - [`accounting`] — per-worker totals, the hashrate estimate, the farm's interval counters;
//! - [`jobs`] — templates turned into jobs, staleness, the job message for one connection;
//! - [`conns`] — connections, nonce prefixes, vardiff, the outbound queues, the job fan-out
//!   (uses jobs and accounting);
//! - [`blocks`] — found blocks on record, submission outcomes, the finder's notices (uses
//!   the store only);
//! - [`shares`] — every share check and the one crediting path (uses all of the above).
//!
//! Nothing uses a module above it. Where a lower module needs to tell a higher one something
//! (a notice for a block's finder, a connection's difficulty), it returns a value and [`Pool`]
//! or [`shares`] passes it on. Locks follow the same order: a module never takes a lock of a
//! module above it while holding its own.
//!
//! The gRPC service ([`crate::service`]) and the background tasks ([`crate::server`]) call
//! [`Pool`]; its answers are typed ([`RegisterError`], [`DisconnectReason`], [`Accepted`],
//! [`SubmitError`]) and the service maps them to protocol messages and statuses. Nothing here
//! does I/O except through [`Store`].

mod accounting;
mod bans;
mod blocks;
mod conns;
mod jobs;
mod shares;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nockpool_core::proto::{self, WorkResult};
use nockpool_core::{format_hashrate, MiningShare};
use nockpool_pow::PowEngine;
use tokio::sync::{broadcast, mpsc, watch};

pub(crate) use conns::{DisconnectReason, Outbound, RegisterError, Registered};
pub(crate) use shares::{Accepted, Rejection, SubmitError};

use self::accounting::Accounting;
use self::bans::Bans;
use self::blocks::Blocks;
use self::conns::{ConnConfig, Conns};
use self::jobs::Jobs;
use self::shares::{ShareContext, Shares};
use self::sync::lock;
use crate::accept::Handshaking;
use crate::events::{EventBus, JobSnapshot, PoolEvent, PoolSnapshot};
use crate::limits::Limits;
use crate::store::{BlockRecord, Store};
use crate::vardiff::VardiffConfig;
use crate::{BlockTemplate, ChainStatus};

/// Lock helpers shared by the pool's modules.
mod sync {
    use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

    // A panicking thread poisons a lock; the state stays consistent between statements, and a
    // pool must keep serving the other miners, so the data is used anyway.

    pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
        l.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
        l.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// Everything the pool was configured with.
#[derive(Clone, Debug)]
pub(crate) struct PoolConfig {
    pub(crate) token: Option<String>,
    pub(crate) vardiff: VardiffConfig,
    pub(crate) limits: Limits,
    pub(crate) stale_grace: Duration,
    pub(crate) mining: Vec<MiningShare>,
    pub(crate) summary_interval: Duration,
    pub(crate) status_interval_secs: u32,
}

/// The pool: shared by the service, the background tasks and every [`PoolHandle`].
///
/// [`PoolHandle`]: crate::PoolHandle
pub(crate) struct Pool {
    pub(crate) config: PoolConfig,
    pub(crate) store: Arc<Store>,
    events: EventBus,
    started: Instant,
    accounting: Accounting,
    jobs: Jobs,
    conns: Conns,
    blocks: Blocks,
    bans: Bans,
    shares: Shares,
    chain_status: Mutex<Option<ChainStatus>>,
    chain_error: Mutex<Option<String>>,
    listen_addr: Mutex<Option<SocketAddr>>,
    http_addr: Mutex<Option<SocketAddr>>,
    shutdown: watch::Sender<bool>,
    /// Sockets that have not completed the HTTP/2 handshake (kept by the accept loop).
    pub(crate) handshaking: Arc<Handshaking>,
}

/// The instant "now" on tokio's clock (which tests can pause and advance).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl Pool {
    pub(crate) fn new(
        config: PoolConfig,
        engine: Arc<dyn PowEngine>,
        store: Arc<Store>,
        found_tx: mpsc::UnboundedSender<BlockRecord>,
        events: EventBus,
    ) -> Result<Pool, crate::ServerError> {
        let accounting = Accounting::new(store.load_workers()?, config.limits.max_workers);
        let jobs = Jobs::new(engine.clone(), rand::random(), store.load_templates()?);
        let blocks = Blocks::new(
            store.clone(),
            store.load_blocks()?,
            events.clone(),
            found_tx,
        );
        let conns = Conns::new(
            ConnConfig {
                vardiff: config.vardiff.clone(),
                limits: config.limits.clone(),
                status_interval_secs: config.status_interval_secs,
            },
            events.clone(),
        );
        let shares = Shares::new(engine, config.stale_grace);
        let bans = Bans::new(config.limits.ban_duration);
        Ok(Pool {
            config,
            store,
            events,
            started: now(),
            accounting,
            jobs,
            conns,
            blocks,
            bans,
            shares,
            chain_status: Mutex::new(None),
            chain_error: Mutex::new(None),
            listen_addr: Mutex::new(None),
            http_addr: Mutex::new(None),
            shutdown: watch::channel(false).0,
            handshaking: Arc::default(),
        })
    }

    pub(crate) fn emit(&self, event: PoolEvent) {
        self.events.emit(event);
    }

    pub(crate) fn subscribe_events(&self) -> broadcast::Receiver<PoolEvent> {
        self.events.subscribe()
    }

    pub(crate) fn set_listen_addr(&self, addr: SocketAddr) {
        *lock(&self.listen_addr) = Some(addr);
        self.emit(PoolEvent::Listening { addr });
    }

    pub(crate) fn listen_addr(&self) -> Option<SocketAddr> {
        *lock(&self.listen_addr)
    }

    pub(crate) fn set_http_addr(&self, addr: SocketAddr) {
        *lock(&self.http_addr) = Some(addr);
        self.emit(PoolEvent::HttpListening { addr });
    }

    pub(crate) fn http_addr(&self) -> Option<SocketAddr> {
        *lock(&self.http_addr)
    }

    pub(crate) fn set_chain_status(&self, status: Result<ChainStatus, String>) {
        match status {
            Ok(status) => {
                *lock(&self.chain_status) = Some(status);
                *lock(&self.chain_error) = None;
            }
            Err(error) => *lock(&self.chain_error) = Some(error),
        }
    }

    /// Found blocks on record, newest first: up to `limit` with ids below `before` (all ids
    /// when `None`). Reads the data dir (blocking).
    pub(crate) fn found_blocks(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<BlockRecord>, crate::ServerError> {
        self.store.blocks_page(before, limit)
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Whether `token` (from the request metadata) is the farm token, when one is required.
    pub(crate) fn authorized(&self, token: Option<&[u8]>) -> bool {
        match &self.config.token {
            None => true,
            Some(expected) => token.is_some_and(|t| constant_time_eq(t, expected.as_bytes())),
        }
    }

    /// Blocks found earlier whose submission never got an answer (resubmitted at start).
    pub(crate) fn pending_blocks(&self) -> Vec<BlockRecord> {
        self.blocks.pending()
    }

    // ---- connections -------------------------------------------------------------------

    /// Registers a miner after its Hello: assigns a connection id and a nonce prefix, sends the
    /// Welcome and the current job.
    pub(crate) fn register(
        &self,
        hello: &proto::Hello,
        addr: Option<SocketAddr>,
        tx: Outbound,
    ) -> Result<Registered, RegisterError> {
        let now = now();
        if let Some(ip) = addr.map(|a| a.ip()) {
            if let Some(until) = self.bans.banned_until(ip, now) {
                let remaining = until
                    .duration_since(std::time::SystemTime::now())
                    .unwrap_or_default();
                return Err(RegisterError::Banned { ip, remaining });
            }
        }
        self.conns
            .register(hello, addr, tx, &self.jobs, &self.accounting, now)
    }

    /// Records a miner's periodic status report (its hashrate may move its difficulty).
    pub(crate) fn miner_status(&self, connection_id: u64, status: &proto::Status) {
        self.conns
            .miner_status(connection_id, status, &self.jobs, &self.accounting, now());
    }

    /// Marks a connection closed; its prefix stays reserved for a while so late shares count.
    pub(crate) fn deregister(&self, connection_id: u64, reason: &DisconnectReason) {
        self.conns
            .deregister(connection_id, reason, &self.accounting, now());
    }

    // ---- jobs --------------------------------------------------------------------------

    /// Turns a new template into a job and pushes it to every live miner at once.
    pub(crate) async fn new_template(&self, template: BlockTemplate) {
        let prepared = match self.jobs.prepare(&template) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(
                    height = template.height,
                    "cannot mine this template ({e}); keeping the previous job"
                );
                return;
            }
        };
        if self.jobs.is_current(&template) {
            return;
        }
        // Kept on disk before any miner can find a block on it, so that such a block is still
        // recognised if the pool restarts before the miner's submission reaches it.
        let store = self.store.clone();
        let to_store = template.clone();
        match tokio::task::spawn_blocking(move || store.put_template(&to_store)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(height = template.height, "could not store a template: {e}")
            }
            Err(e) => tracing::warn!(height = template.height, "could not store a template: {e}"),
        }
        let Some(entry) = self.jobs.install(template, prepared, now()) else {
            return; // the same work again
        };
        let fanout_started = Instant::now();
        let reached = self.conns.broadcast(&entry);
        let fanout = fanout_started.elapsed();
        tracing::info!(
            job = %entry.job_id,
            height = entry.template.height,
            miners = reached,
            "new job broadcast"
        );
        self.emit(PoolEvent::JobBroadcast {
            job_id: entry.job_id.clone(),
            height: entry.template.height,
            miners: reached,
            fanout,
        });
    }

    // ---- shares and blocks -------------------------------------------------------------

    /// Checks one share and credits it; never panics on any input.
    pub(crate) async fn submit(
        &self,
        authorized: bool,
        peer: Option<IpAddr>,
        req: &WorkResult,
    ) -> Result<Accepted, SubmitError> {
        let ctx = ShareContext {
            conns: &self.conns,
            jobs: &self.jobs,
            blocks: &self.blocks,
            accounting: &self.accounting,
            bans: &self.bans,
            events: &self.events,
            received: Instant::now(),
        };
        self.shares.submit(&ctx, authorized, peer, req, now()).await
    }

    /// Stores a block's submission result (or error) and tells the finder about an outcome.
    pub(crate) async fn update_block(&self, record: BlockRecord) {
        let Some(notice) = self.blocks.update(&record).await else {
            return;
        };
        let b = &record.block;
        self.conns.notify_worker(None, &b.worker, notice);
        if let Some(outcome) = &record.outcome {
            self.emit(PoolEvent::BlockOutcome {
                id: record.id,
                height: b.template.height,
                outcome: outcome.clone(),
            });
        }
    }

    // ---- periodic work -----------------------------------------------------------------

    /// Vardiff ticks and pruning of closed connections.
    pub(crate) fn maintain(&self) {
        self.conns.maintain(&self.jobs, &self.accounting, now());
    }

    /// The one-line farm summary (and resets the interval counters).
    pub(crate) fn summary_line(&self) -> String {
        let (acc, rej, hashrate) = self.accounting.take_interval(now());
        let live = self.conns.live();
        let height = self.jobs.current_height();
        let blocks = self.blocks.total();
        format!(
            "farm: {live} miners, ~{} est., shares {acc} accepted / {rej} rejected since last summary, \
             {blocks} blocks found, mining height {}",
            format_hashrate(hashrate),
            height.map_or("-".to_owned(), |h| h.to_string())
        )
    }

    /// Writes changed worker totals to the store and deletes the workers forgotten.
    pub(crate) fn flush_workers(&self) {
        let changes = self.accounting.take_changes();
        if let Err(e) = self.store.put_workers(&changes.changed, &changes.forgotten) {
            tracing::warn!("could not save worker totals: {e}");
        }
    }

    pub(crate) fn snapshot(&self) -> PoolSnapshot {
        let now = now();
        let (bans, bans_total) = self.bans.snapshot(now);
        let mut workers = self.accounting.snapshot(now);
        self.conns.annotate(&mut workers);
        let workers: Vec<_> = workers.into_values().collect();
        let current_job = self.jobs.current().map(|c| JobSnapshot {
            job_id: c.job_id.clone(),
            height: c.template.height,
            commitment: c.template.commitment,
            since: c.received_wall,
            network_target: c.template.network_target,
        });
        PoolSnapshot {
            listen_addr: self.listen_addr(),
            uptime: now.saturating_duration_since(self.started),
            connections: self.conns.live(),
            handshaking: self.handshaking.total(),
            hashrate: workers.iter().map(|w| w.hashrate).sum(),
            workers,
            current_job,
            blocks_found: self.blocks.total(),
            recent_blocks: self.blocks.recent(),
            chain: lock(&self.chain_status).clone(),
            chain_error: lock(&self.chain_error).clone(),
            storage: self.store.health(),
            bans,
            bans_total,
        }
    }
}

/// Compares two byte strings in time independent of where they differ (only the length
/// shows). `black_box` keeps the optimiser from turning the fold into an early exit.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| std::hint::black_box(acc | (x ^ y)));
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reopen::testing::{test_disk_opener, TestDisk};
    use crate::store::{create_tables, POOL_DB_FILE};
    use crate::StorageHealth;
    use nockpool_core::proto::{work_order, Hello, Job};
    use nockpool_core::{Difficulty, Digest, Nonce, Target, U320};
    use std::time::SystemTime;

    fn config() -> PoolConfig {
        PoolConfig {
            token: None,
            vardiff: VardiffConfig::fixed(1),
            limits: Limits::default(),
            stale_grace: Duration::from_secs(3),
            mining: Vec::new(),
            summary_interval: Duration::from_secs(60),
            status_interval_secs: 30,
        }
    }

    /// A pool on a store that fails on demand, mining one template (network difficulty 4),
    /// and one registered miner's first job.
    async fn pool_on(
        dir: &std::path::Path,
        full: &TestDisk,
    ) -> (Pool, u64, Job, mpsc::UnboundedReceiver<BlockRecord>) {
        let events = EventBus::new(64);
        let opener = test_disk_opener(&dir.join(POOL_DB_FILE), full.clone(), create_tables);
        let store = Arc::new(Store::open_with(opener, events.clone()).unwrap());
        let (found_tx, found_rx) = mpsc::unbounded_channel();
        let engine = Arc::new(nockpool_pow::V5Engine::new());
        let pool = Pool::new(config(), engine, store, found_tx, events).unwrap();
        pool.new_template(BlockTemplate {
            commitment: Digest::new([9, 8, 7, 6, 5]).unwrap(),
            network_target: Difficulty::saturating(4).target(),
            height: 1,
            version: 5,
            pow_len: 64,
            created_at: SystemTime::now(),
        })
        .await;
        let (tx, mut rx) = mpsc::channel(16);
        let hello = Hello {
            worker_name: "lucky".into(),
            threads: 1,
            ..Hello::default()
        };
        let connection_id = pool.register(&hello, None, tx).unwrap().connection_id;
        let mut job = None;
        while job.is_none() {
            if let Some(work_order::Kind::Job(j)) = rx.recv().await.unwrap().kind {
                job = Some(j);
            }
        }
        // The receiver may go: pushes to a closed queue are dropped quietly.
        (pool, connection_id, job.unwrap(), found_rx)
    }

    /// A nonce of `job` whose digest meets its network target.
    fn block_nonce(job: &Job) -> Nonce {
        let network = Target::from_u320(U320::from_le_bytes(&job.network_target).unwrap());
        (0u64..)
            .map(|c| Nonce::new([c, 0, 0, 0, job.nonce_prefix]).unwrap())
            .find(|n| {
                let d = nockpool_pow::v5::digest(&[9, 8, 7, 6, 5], n.limbs(), job.pow_len);
                Digest::new(d).unwrap().meets(&network)
            })
            .unwrap()
    }

    #[tokio::test]
    async fn a_block_that_cannot_be_recorded_is_not_acked_and_is_recorded_once_later() {
        let dir = tempfile::tempdir().unwrap();
        let full = TestDisk::default();
        let (pool, connection_id, job, mut found_rx) = pool_on(dir.path(), &full).await;
        let req = WorkResult {
            connection_id,
            job_id: job.job_id.clone(),
            nonce: block_nonce(&job).limbs().to_vec(),
            submission_id: 1,
            ..WorkResult::default()
        };

        full.set_full(true);
        for _ in 0..2 {
            // Not on record: a retriable error, never an ack; nothing credited or queued, and
            // the retry is not taken for a duplicate.
            let answer = pool.submit(true, None, &req).await;
            assert!(
                matches!(answer, Err(SubmitError::BlockNotRecorded { .. })),
                "{answer:?}"
            );
            let snap = pool.snapshot();
            assert_eq!(snap.blocks_found, 0);
            assert_eq!(snap.workers[0].accepted, 0);
            assert!(matches!(snap.storage, StorageHealth::Failing { .. }));
            assert!(found_rx.try_recv().is_err());
        }

        // The disk is back: the same retry reopens the database and is recorded, once.
        full.set_full(false);
        let accepted = pool.submit(true, None, &req).await.unwrap();
        assert!(accepted.block_candidate && accepted.credited_difficulty > 0);
        let record = found_rx.try_recv().unwrap();
        assert_eq!(record.block.nonce.limbs().to_vec(), req.nonce);
        assert_eq!(pool.submit(true, None, &req).await, Ok(accepted));
        let snap = pool.snapshot();
        assert_eq!(snap.storage, StorageHealth::Ok);
        assert_eq!((snap.blocks_found, snap.workers[0].accepted), (1, 1));
        assert_eq!(pool.store.load_blocks().unwrap().len(), 1);
        assert!(found_rx.try_recv().is_err());
    }

    #[test]
    fn token_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
