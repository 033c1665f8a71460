//! The pool's shared state and its rules: connections and nonce prefixes, jobs and staleness,
//! share checks, accounting. The gRPC service ([`crate::service`]) and the background tasks
//! ([`crate::server`]) call into [`Pool`]; nothing here does I/O except through [`Store`].

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use nockpool_core::proto::{
    self, miner_status, work_order, NoticeKind, RejectReason, SubmitAck, WorkOrder, WorkResult,
};
use nockpool_core::{
    format_hashrate, Difficulty, Digest, JobParams, MiningShare, Nonce, Target, P,
};
use nockpool_pow::{PowEngine, PreparedJob};
use tokio::sync::{broadcast, mpsc, watch, Notify};
use tonic::Status;

use crate::events::{JobSnapshot, PoolEvent, PoolSnapshot, WorkerSnapshot};
use crate::limits::{sanitize_worker_name, Limits, RateLimiter};
use crate::store::{unix_ms, BlockRecord, Store, WorkerTotals};
use crate::vardiff::{Vardiff, VardiffConfig};
use crate::{BlockOutcome, BlockTemplate, ChainStatus, FoundBlock};

/// Templates kept for stale checks; shares for anything older are stale outright.
const TEMPLATES_KEPT: usize = 8;
/// Jobs remembered per connection (a new template plus a few vardiff re-issues each).
const JOBS_PER_CONNECTION: usize = 16;
/// Longest job id accepted in a submission.
const MAX_JOB_ID_LEN: usize = 128;
/// Window of the per-worker hashrate estimate.
const HASHRATE_WINDOW: Duration = Duration::from_secs(600);
/// Shortest window the hashrate estimate divides by (a single early share is not a rate).
const HASHRATE_MIN_WINDOW: Duration = Duration::from_secs(30);
/// Found blocks kept in memory for snapshots.
const RECENT_BLOCKS: usize = 50;

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

/// The result of [`Pool::register`].
pub(crate) struct Registered {
    pub(crate) connection_id: u64,
    pub(crate) kick: Arc<Notify>,
}

type Outbound = mpsc::Sender<Result<WorkOrder, Status>>;

struct IssuedJob {
    job_id: String,
    template_seq: u64,
    difficulty: u64,
    share_target: Target,
}

struct Conn {
    worker: Arc<str>,
    addr: Option<SocketAddr>,
    prefix: u64,
    /// `None` once the stream is closed (the record is kept so late shares still count).
    tx: Option<Outbound>,
    kick: Arc<Notify>,
    closed_at: Option<Instant>,
    vardiff: Vardiff,
    issued: VecDeque<IssuedJob>,
    reissues: u32,
    limiter: RateLimiter,
    reported_hashrate: Option<f64>,
}

/// One template turned into a job.
pub(crate) struct TemplateEntry {
    seq: u64,
    job_id: String,
    template: BlockTemplate,
    prepared: PreparedJob,
    received_wall: SystemTime,
    superseded_at: OnceLock<Instant>,
    /// Accepted nonces of this job (from every miner), with the ack each got.
    seen: Mutex<HashMap<Nonce, SeenShare>>,
}

struct SeenShare {
    connection_id: u64,
    submission_id: u64,
    ack: SubmitAck,
}

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
struct State {
    conns: HashMap<u64, Conn>,
    live: usize,
    prefixes: HashSet<u64>,
    current: Option<Arc<TemplateEntry>>,
    recent: VecDeque<Arc<TemplateEntry>>,
    next_seq: u64,
    /// Templates of an earlier run of this pool (from the store): a block found on one of them
    /// before a restart is still recognised after it.
    restored: Vec<BlockTemplate>,
    workers: HashMap<String, WorkerState>,
    interval_accepted: u64,
    interval_rejected: u64,
}

#[derive(Default)]
struct BlockBook {
    next_id: u64,
    total: u64,
    recent: VecDeque<BlockRecord>,
}

/// The pool: shared by the service, the background tasks and every [`PoolHandle`].
///
/// [`PoolHandle`]: crate::PoolHandle
pub(crate) struct Pool {
    pub(crate) config: PoolConfig,
    engine: Arc<dyn PowEngine>,
    /// Prefix of every job id this process hands out (random, so ids from before a restart
    /// are never mistaken for current ones).
    instance: u32,
    started: Instant,
    state: Mutex<State>,
    blocks: Mutex<BlockBook>,
    /// Every found block this data dir has recorded, by (commitment, nonce), with its finder:
    /// a block is recorded once, however often and on whichever connection it is resubmitted.
    found: Mutex<HashMap<(Digest, Nonce), String>>,
    pub(crate) store: Arc<Store>,
    events: broadcast::Sender<PoolEvent>,
    chain_status: Mutex<Option<ChainStatus>>,
    listen_addr: Mutex<Option<SocketAddr>>,
    shutdown: watch::Sender<bool>,
    found_tx: mpsc::UnboundedSender<BlockRecord>,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the state stays
/// consistent between statements, and a pool must keep serving the other miners).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The instant "now" on tokio's clock (which tests can pause and advance).
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

fn target_bytes(t: &Target) -> Vec<u8> {
    let bytes = t.value().to_le_bytes();
    let len = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    bytes[..len].to_vec()
}

/// The difficulty a target represents, saturated to `u64` and at least 1.
fn target_difficulty(t: &Target) -> u64 {
    t.work()
        .to_u128()
        .map_or(u64::MAX, |w| w.min(u64::MAX as u128) as u64)
        .max(1)
}

fn order(kind: work_order::Kind) -> WorkOrder {
    WorkOrder { kind: Some(kind) }
}

pub(crate) fn notice(
    kind: NoticeKind,
    message: String,
    height: u64,
    digest: Option<&Digest>,
) -> WorkOrder {
    WorkOrder {
        kind: Some(work_order::Kind::Notice(proto::Notice {
            kind: kind as i32,
            message,
            height,
            block_digest: digest.map(|d| d.limbs().to_vec()).unwrap_or_default(),
        })),
    }
}

fn reject(reason: RejectReason, message: impl Into<String>) -> SubmitAck {
    SubmitAck {
        accepted: false,
        reason: reason as i32,
        message: message.into(),
        block_candidate: false,
        credited_difficulty: 0,
    }
}

/// The job message for one connection, and what to remember about it.
fn make_job(
    entry: &TemplateEntry,
    job_id: String,
    prefix: u64,
    difficulty: Difficulty,
    clean: bool,
) -> (proto::Job, IssuedJob) {
    let network = entry.template.network_target;
    let vardiff_target = difficulty.target();
    // A share target is never harder than the network's: every block must also be a share.
    let (share_target, share_difficulty) = if network >= vardiff_target {
        (network, target_difficulty(&network))
    } else {
        (vardiff_target, difficulty.get())
    };
    let job = proto::Job {
        job_id: job_id.clone(),
        commitment: entry.template.commitment.limbs().to_vec(),
        share_target: target_bytes(&share_target),
        network_target: target_bytes(&network),
        height: entry.template.height,
        pow_version: entry.template.version,
        pow_len: entry.template.pow_len,
        clean_jobs: clean,
        nonce_prefix: prefix,
        share_difficulty,
    };
    let issued = IssuedJob {
        job_id,
        template_seq: entry.seq,
        difficulty: share_difficulty,
        share_target,
    };
    (job, issued)
}

/// Sends without waiting; a full queue means the miner is not reading its stream.
fn push(conn: &Conn, msg: WorkOrder) -> bool {
    let Some(tx) = &conn.tx else {
        return false;
    };
    match tx.try_send(Ok(msg)) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(worker = %conn.worker, "miner is not reading its stream; dropping it");
            conn.kick.notify_one();
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

fn issue(conn: &mut Conn, job: proto::Job, issued: IssuedJob) -> bool {
    conn.issued.push_back(issued);
    while conn.issued.len() > JOBS_PER_CONNECTION {
        conn.issued.pop_front();
    }
    push(conn, order(work_order::Kind::Job(job)))
}

enum Lookup {
    Found {
        worker: Arc<str>,
        template_seq: u64,
        difficulty: u64,
        share_target: Target,
    },
    Rejected(Option<Arc<str>>, RejectReason, &'static str),
}

impl Pool {
    pub(crate) fn new(
        config: PoolConfig,
        engine: Arc<dyn PowEngine>,
        store: Arc<Store>,
        found_tx: mpsc::UnboundedSender<BlockRecord>,
    ) -> Result<Pool, crate::ServerError> {
        let mut state = State {
            next_seq: 1,
            ..State::default()
        };
        for (name, totals) in store.load_workers()? {
            state.workers.insert(
                name,
                WorkerState {
                    totals,
                    ..WorkerState::default()
                },
            );
        }
        state.restored = store.load_templates()?;
        let stored = store.load_blocks()?;
        let found = stored
            .iter()
            .map(|r| {
                (
                    (r.block.template.commitment, r.block.nonce),
                    r.block.worker.clone(),
                )
            })
            .collect();
        let book = BlockBook {
            next_id: stored.last().map_or(1, |r| r.id + 1),
            total: stored.len() as u64,
            recent: stored
                .iter()
                .skip(stored.len().saturating_sub(RECENT_BLOCKS))
                .cloned()
                .collect(),
        };
        let (events, _) = broadcast::channel(1024);
        Ok(Pool {
            config,
            engine,
            instance: rand::random(),
            started: now(),
            state: Mutex::new(state),
            blocks: Mutex::new(book),
            found: Mutex::new(found),
            store,
            events,
            chain_status: Mutex::new(None),
            listen_addr: Mutex::new(None),
            shutdown: watch::channel(false).0,
            found_tx,
        })
    }

    pub(crate) fn emit(&self, event: PoolEvent) {
        // No receivers is fine.
        let _ = self.events.send(event);
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

    pub(crate) fn set_chain_status(&self, status: ChainStatus) {
        *lock(&self.chain_status) = Some(status);
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
        match self.store.load_blocks() {
            Ok(blocks) => blocks.into_iter().filter(|b| b.outcome.is_none()).collect(),
            Err(e) => {
                tracing::error!("cannot read found blocks to resubmit: {e}");
                Vec::new()
            }
        }
    }

    // ---- connections -------------------------------------------------------------------

    /// Registers a miner after its Hello: assigns a connection id and a nonce prefix, sends the
    /// Welcome and the current job. Fails when the pool is full.
    pub(crate) fn register(
        &self,
        hello: &proto::Hello,
        addr: Option<SocketAddr>,
        tx: Outbound,
    ) -> Result<Registered, Status> {
        let worker: Arc<str> =
            sanitize_worker_name(&hello.worker_name, self.config.limits.max_worker_name).into();
        let now = now();
        let mut st = lock(&self.state);
        if st.live >= self.config.limits.max_connections {
            return Err(Status::resource_exhausted(format!(
                "the pool is full ({} miners)",
                self.config.limits.max_connections
            )));
        }
        if let Some(ip) = addr.map(|a| a.ip()) {
            let from_ip = st
                .conns
                .values()
                .filter(|c| c.tx.is_some() && c.addr.map(|a| a.ip()) == Some(ip))
                .count();
            if from_ip >= self.config.limits.max_connections_per_ip {
                return Err(Status::resource_exhausted(format!(
                    "too many miners from {ip} ({from_ip})"
                )));
            }
        }
        // Random, so one miner cannot guess another's id (and spend its submission budget).
        let connection_id = loop {
            let candidate = rand::random::<u64>();
            if candidate != 0 && !st.conns.contains_key(&candidate) {
                break candidate;
            }
        };
        let prefix = loop {
            let candidate = rand::random::<u64>() % P;
            if st.prefixes.insert(candidate) {
                break candidate;
            }
        };
        // A miner resuming after a reconnect keeps its difficulty (no re-convergence).
        let vardiff = match st.conns.get(&hello.previous_connection_id) {
            Some(prev) if prev.worker == worker && hello.previous_connection_id != 0 => {
                Vardiff::resume(
                    self.config.vardiff.clone(),
                    prev.vardiff.difficulty().get(),
                    now,
                )
            }
            // A new miner starts where its announced threads put it, so a big rig's first
            // shares do not come at thousands per second.
            _ => Vardiff::for_threads(self.config.vardiff.clone(), hello.threads, now),
        };
        let kick = Arc::new(Notify::new());
        let mut conn = Conn {
            worker: worker.clone(),
            addr,
            prefix,
            tx: Some(tx),
            kick: kick.clone(),
            closed_at: None,
            vardiff,
            issued: VecDeque::new(),
            reissues: 0,
            limiter: RateLimiter::new(
                self.config.limits.submits_per_second,
                self.config.limits.submit_burst,
                now,
            ),
            reported_hashrate: None,
        };
        let welcome = work_order::Kind::Welcome(proto::Welcome {
            connection_id,
            nonce_prefix: prefix,
            server_version: concat!("nockpool-server/", env!("CARGO_PKG_VERSION")).to_owned(),
            status_interval_secs: self.config.status_interval_secs,
        });
        push(&conn, order(welcome));
        if let Some(entry) = st.current.clone() {
            let difficulty = conn.vardiff.difficulty();
            let (job, issued) = make_job(&entry, entry.job_id.clone(), prefix, difficulty, true);
            issue(&mut conn, job, issued);
        }
        st.conns.insert(connection_id, conn);
        st.live += 1;
        let ws = st.workers.entry(worker.to_string()).or_default();
        ws.last_addr = addr;
        drop(st);
        tracing::info!(
            worker = %worker,
            addr = %addr.map_or("?".to_owned(), |a| a.to_string()),
            connection_id,
            client = %hello.client_version,
            threads = hello.threads,
            "miner connected"
        );
        self.emit(PoolEvent::MinerConnected {
            connection_id,
            worker: worker.to_string(),
            addr,
            nonce_prefix: prefix,
        });
        Ok(Registered {
            connection_id,
            kick,
        })
    }

    /// Records a miner's periodic status report; a reported hashrate far from what the current
    /// share difficulty assumes moves the difficulty at once.
    pub(crate) fn miner_status(&self, connection_id: u64, status: &proto::Status) {
        let now = now();
        let mut st = lock(&self.state);
        let Some(conn) = st.conns.get_mut(&connection_id) else {
            return;
        };
        if !(status.hashrate_1m.is_finite() && status.hashrate_1m >= 0.0) {
            return;
        }
        conn.reported_hashrate = Some(status.hashrate_1m);
        let Some(d) = conn.vardiff.observe_hashrate(status.hashrate_1m, now) else {
            return;
        };
        let worker = Self::apply_difficulty(&mut st, connection_id, d);
        drop(st);
        if let Some(worker) = worker {
            tracing::debug!(
                worker = %worker,
                connection_id,
                "share difficulty now {d} (from the reported hashrate)"
            );
            self.emit(PoolEvent::DifficultyChanged {
                connection_id,
                worker: worker.to_string(),
                difficulty: d.get(),
            });
        }
    }

    /// Marks a connection closed; its prefix stays reserved for a while so late shares count.
    pub(crate) fn deregister(&self, connection_id: u64, reason: &str) {
        let now = now();
        let mut st = lock(&self.state);
        let Some(conn) = st.conns.get_mut(&connection_id) else {
            return;
        };
        if conn.closed_at.is_some() {
            return;
        }
        conn.closed_at = Some(now);
        conn.tx = None;
        let worker = conn.worker.clone();
        let addr = conn.addr;
        st.live = st.live.saturating_sub(1);
        drop(st);
        tracing::info!(
            worker = %worker,
            addr = %addr.map_or("?".to_owned(), |a| a.to_string()),
            connection_id,
            "miner disconnected: {reason}"
        );
        self.emit(PoolEvent::MinerDisconnected {
            connection_id,
            worker: worker.to_string(),
            reason: reason.to_owned(),
        });
    }

    /// Sends a message to one connection if it is live, else to the live connections of the
    /// same worker (a block outcome reaches the finder even after a reconnect).
    fn notify_worker(&self, connection_id: Option<u64>, worker: &str, msg: WorkOrder) {
        let st = lock(&self.state);
        if let Some(conn) = connection_id.and_then(|id| st.conns.get(&id)) {
            if conn.tx.is_some() && push(conn, msg.clone()) {
                return;
            }
        }
        for conn in st.conns.values().filter(|c| &*c.worker == worker) {
            push(conn, msg.clone());
        }
    }

    // ---- jobs --------------------------------------------------------------------------

    /// Turns a new template into a job and pushes it to every live miner at once.
    pub(crate) async fn new_template(&self, template: BlockTemplate) {
        let params = JobParams {
            commitment: template.commitment,
            pow_len: template.pow_len,
            version: template.version,
        };
        let prepared = match self.engine.prepare(&params) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(
                    height = template.height,
                    "cannot mine this template ({e}); keeping the previous job"
                );
                return;
            }
        };
        let same_work = |st: &State| {
            st.current.as_ref().is_some_and(|cur| {
                let t = &cur.template;
                t.commitment == template.commitment
                    && t.network_target == template.network_target
                    && t.height == template.height
                    && t.pow_len == template.pow_len
                    && t.version == template.version
            })
        };
        if same_work(&lock(&self.state)) {
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
        let now = now();
        let mut st = lock(&self.state);
        if same_work(&st) {
            return; // the same work again
        }
        if let Some(cur) = &st.current {
            let _ = cur.superseded_at.set(now);
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        let entry = Arc::new(TemplateEntry {
            seq,
            job_id: format!("{:08x}-{seq}", self.instance),
            template,
            prepared,
            received_wall: SystemTime::now(),
            superseded_at: OnceLock::new(),
            seen: Mutex::new(HashMap::new()),
        });
        st.current = Some(entry.clone());
        st.recent.push_back(entry.clone());
        while st.recent.len() > TEMPLATES_KEPT {
            st.recent.pop_front();
        }
        let mut reached = 0;
        for conn in st.conns.values_mut().filter(|c| c.tx.is_some()) {
            let difficulty = conn.vardiff.difficulty();
            let (job, issued) =
                make_job(&entry, entry.job_id.clone(), conn.prefix, difficulty, true);
            if issue(conn, job, issued) {
                reached += 1;
            }
        }
        drop(st);
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
        });
    }

    /// Pushes a new difficulty and re-issues the current job at it (the change applies to that
    /// next job; shares for the previous one are still credited at the old difficulty).
    fn apply_difficulty(
        st: &mut State,
        connection_id: u64,
        difficulty: Difficulty,
    ) -> Option<Arc<str>> {
        let current = st.current.clone();
        let conn = st.conns.get_mut(&connection_id)?;
        conn.tx.as_ref()?;
        push(
            conn,
            order(work_order::Kind::SetDifficulty(proto::SetDifficulty {
                difficulty: difficulty.get(),
            })),
        );
        if let Some(entry) = current {
            conn.reissues = conn.reissues.wrapping_add(1);
            let job_id = format!("{}.{}", entry.job_id, conn.reissues);
            let (job, issued) = make_job(&entry, job_id, conn.prefix, difficulty, false);
            issue(conn, job, issued);
        }
        Some(conn.worker.clone())
    }

    // ---- shares ------------------------------------------------------------------------

    /// Checks one share and credits it; never panics on any input.
    pub(crate) async fn submit(&self, authorized: bool, req: WorkResult) -> SubmitAck {
        let ack = self.check_and_credit(authorized, &req).await;
        if !ack.accepted {
            let reason = RejectReason::try_from(ack.reason).unwrap_or(RejectReason::Unspecified);
            tracing::debug!(
                connection_id = req.connection_id,
                job = %req.job_id.chars().take(MAX_JOB_ID_LEN).collect::<String>(),
                "share rejected: {} ({})",
                reason.as_str_name(),
                ack.message
            );
        }
        ack
    }

    fn rejected(
        &self,
        connection_id: u64,
        worker: Option<&str>,
        reason: RejectReason,
        msg: &str,
    ) -> SubmitAck {
        let mut st = lock(&self.state);
        st.interval_rejected += 1;
        if let Some(w) = worker {
            if let Some(ws) = st.workers.get_mut(w) {
                ws.reject(reason);
            }
        }
        drop(st);
        self.emit(PoolEvent::ShareRejected {
            connection_id,
            worker: worker.unwrap_or_default().to_owned(),
            reason,
        });
        reject(reason, msg)
    }

    fn lookup(&self, req: &WorkResult, nonce: &Nonce, now: Instant) -> Lookup {
        let mut st = lock(&self.state);
        let current_seq = st.current.as_ref().map_or(0, |c| c.seq);
        let Some(conn) = st.conns.get_mut(&req.connection_id) else {
            return Lookup::Rejected(
                None,
                RejectReason::UnknownConnection,
                "unknown connection id: resubscribe and use the id from the Welcome",
            );
        };
        let worker = conn.worker.clone();
        if !conn.limiter.try_acquire(now) {
            return Lookup::Rejected(
                Some(worker),
                RejectReason::RateLimited,
                "too many submissions",
            );
        }
        if nonce.prefix() != conn.prefix {
            return Lookup::Rejected(
                Some(worker),
                RejectReason::WrongPrefix,
                "nonce limb 4 is not this connection's nonce prefix",
            );
        }
        if let Some(job) = conn.issued.iter().find(|j| j.job_id == req.job_id) {
            return Lookup::Found {
                worker,
                template_seq: job.template_seq,
                difficulty: job.difficulty,
                share_target: job.share_target,
            };
        }
        // Not (or no longer) among this connection's jobs: an old job of ours is stale,
        // anything else is unknown.
        let ours_older = req
            .job_id
            .strip_prefix(&format!("{:08x}-", self.instance))
            .and_then(|rest| rest.split('.').next())
            .and_then(|seq| seq.parse::<u64>().ok())
            .is_some_and(|seq| seq < current_seq);
        if ours_older {
            Lookup::Rejected(Some(worker), RejectReason::Stale, "job is stale")
        } else {
            Lookup::Rejected(Some(worker), RejectReason::UnknownJob, "unknown job id")
        }
    }

    async fn check_and_credit(&self, authorized: bool, req: &WorkResult) -> SubmitAck {
        let cid = req.connection_id;
        if !authorized {
            return self.rejected(
                cid,
                None,
                RejectReason::Unauthorized,
                "missing or wrong farm token",
            );
        }
        if req.job_id.len() > MAX_JOB_ID_LEN {
            return self.rejected(cid, None, RejectReason::Malformed, "job id too long");
        }
        let nonce = match Nonce::from_slice(&req.nonce) {
            Ok(n) => n,
            Err(e) => {
                return self.rejected(
                    cid,
                    None,
                    RejectReason::Malformed,
                    &format!("bad nonce: {e}"),
                )
            }
        };
        let now = now();
        let (worker, template_seq, difficulty, share_target) = match self.lookup(req, &nonce, now) {
            Lookup::Found {
                worker,
                template_seq,
                difficulty,
                share_target,
            } => (worker, template_seq, difficulty, share_target),
            Lookup::Rejected(Some(worker), reason, msg)
                if !req.commitment.is_empty()
                    && matches!(
                        reason,
                        RejectReason::WrongPrefix | RejectReason::UnknownJob | RejectReason::Stale
                    ) =>
            {
                // Perhaps a block found under an earlier connection (or an earlier run of
                // the pool), resubmitted on this one.
                return self
                    .recover_block(req, nonce, worker, (reason, msg), now)
                    .await;
            }
            Lookup::Rejected(worker, reason, msg) => {
                return self.rejected(cid, worker.as_deref(), reason, msg)
            }
        };
        let entry = {
            let st = lock(&self.state);
            st.recent.iter().find(|e| e.seq == template_seq).cloned()
        };
        let Some(entry) = entry else {
            return self.rejected(cid, Some(&worker), RejectReason::Stale, "job is stale");
        };
        if let Some(&superseded) = entry.superseded_at.get() {
            if now.saturating_duration_since(superseded) > self.config.stale_grace {
                return self.rejected(cid, Some(&worker), RejectReason::Stale, "job is stale");
            }
        }

        let digest = self.engine.digest(&entry.prepared, &nonce);
        if !digest.meets(&share_target) {
            return self.rejected(
                cid,
                Some(&worker),
                RejectReason::LowDifficulty,
                "digest does not meet the share target",
            );
        }
        let block = digest.meets(&entry.template.network_target);
        let ack = SubmitAck {
            accepted: true,
            reason: RejectReason::Unspecified as i32,
            message: if block {
                "block candidate accepted".to_owned()
            } else {
                String::new()
            },
            block_candidate: block,
            credited_difficulty: difficulty,
        };
        {
            let mut seen = lock(&entry.seen);
            if let Some(prev) = seen.get(&nonce) {
                if prev.connection_id == cid
                    && req.submission_id != 0
                    && prev.submission_id == req.submission_id
                {
                    // A retry of a submission we already credited: same answer, no new credit.
                    return prev.ack.clone();
                }
                drop(seen);
                return self.rejected(
                    cid,
                    Some(&worker),
                    RejectReason::Duplicate,
                    "duplicate share",
                );
            }
            seen.insert(
                nonce,
                SeenShare {
                    connection_id: cid,
                    submission_id: req.submission_id,
                    ack: ack.clone(),
                },
            );
        }

        let mut ack = ack;
        if block {
            // Recorded once: the same block resubmitted on another connection is not new.
            let first = lock(&self.found)
                .insert((entry.template.commitment, nonce), worker.to_string())
                .is_none();
            if !first {
                return self.rejected(
                    cid,
                    Some(&worker),
                    RejectReason::Duplicate,
                    "this block is already recorded",
                );
            }
            let found = FoundBlock {
                template: entry.template.clone(),
                nonce,
                digest,
                worker: worker.to_string(),
                found_at: SystemTime::now(),
            };
            if let Err(e) = self.record_found_block(cid, found).await {
                ack.message = format!("block candidate accepted, but NOT persisted: {e}");
            }
        }

        // Credit the share.
        let wall = SystemTime::now();
        let mut st = lock(&self.state);
        st.interval_accepted += 1;
        let ws = st.workers.entry(worker.to_string()).or_default();
        ws.credit(difficulty, now, wall);
        if block {
            ws.totals.blocks_found += 1;
        }
        let changed = st
            .conns
            .get_mut(&cid)
            .and_then(|c| c.vardiff.record_share(difficulty, now));
        if let Some(d) = changed {
            Self::apply_difficulty(&mut st, cid, d);
        }
        drop(st);
        if let Some(d) = changed {
            tracing::debug!(worker = %worker, connection_id = cid, "share difficulty now {d}");
            self.emit(PoolEvent::DifficultyChanged {
                connection_id: cid,
                worker: worker.to_string(),
                difficulty: d.get(),
            });
        }
        tracing::debug!(
            worker = %worker,
            job = %req.job_id,
            difficulty,
            block,
            "share accepted"
        );
        self.emit(PoolEvent::ShareAccepted {
            connection_id: cid,
            worker: worker.to_string(),
            job_id: req.job_id.clone(),
            difficulty,
            block_candidate: block,
        });
        ack
    }

    /// A submission whose nonce prefix or job this connection does not know, carrying its job's
    /// commitment: accepted as a found block when the commitment is a template the pool still
    /// considers current (the current one, one superseded within the stale grace, or one at
    /// the current height, also from before a restart) and the digest meets that template's
    /// network target; credited to the submitting (live) connection's worker. Anything else
    /// keeps the `original` rejection (a mere share is never credited this way).
    async fn recover_block(
        &self,
        req: &WorkResult,
        nonce: Nonce,
        worker: Arc<str>,
        original: (RejectReason, &'static str),
        now: Instant,
    ) -> SubmitAck {
        let cid = req.connection_id;
        let keep = |this: &Self| this.rejected(cid, Some(&worker), original.0, original.1);
        let Ok(commitment) = Digest::from_slice(&req.commitment) else {
            return self.rejected(
                cid,
                Some(&worker),
                RejectReason::Malformed,
                "commitment is not 5 canonical field elements",
            );
        };
        if let Some(ack) = self.already_recorded(cid, &worker, commitment, nonce) {
            return ack;
        }
        enum Source {
            Entry(Arc<TemplateEntry>),
            Restored(BlockTemplate),
        }
        let pow_len_matches = |t: &BlockTemplate| req.pow_len == 0 || t.pow_len == req.pow_len;
        let (source, live, vardiff) = {
            let st = lock(&self.state);
            let Some(conn) = st.conns.get(&cid).filter(|c| c.tx.is_some()) else {
                drop(st);
                return keep(self);
            };
            let vardiff = conn.vardiff.difficulty();
            let current = st.current.as_ref();
            let current_height = current.map_or(0, |c| c.template.height);
            let in_recent = st
                .recent
                .iter()
                .rev()
                .find(|e| e.template.commitment == commitment && pow_len_matches(&e.template));
            if let Some(e) = in_recent {
                let live = current.is_some_and(|c| c.seq == e.seq)
                    || e.superseded_at.get().is_none_or(|&at| {
                        now.saturating_duration_since(at) <= self.config.stale_grace
                    })
                    || e.template.height >= current_height;
                (Source::Entry(e.clone()), live, vardiff)
            } else if let Some(t) = st
                .restored
                .iter()
                .rev()
                .find(|t| t.commitment == commitment && pow_len_matches(t))
            {
                let live = t.height >= current_height;
                (Source::Restored(t.clone()), live, vardiff)
            } else {
                drop(st);
                return keep(self);
            }
        };
        let (template, digest) = match &source {
            Source::Entry(e) => (e.template.clone(), self.engine.digest(&e.prepared, &nonce)),
            Source::Restored(t) => {
                let params = JobParams {
                    commitment: t.commitment,
                    pow_len: t.pow_len,
                    version: t.version,
                };
                match self.engine.prepare(&params) {
                    Ok(prepared) => (t.clone(), self.engine.digest(&prepared, &nonce)),
                    Err(_) => return keep(self),
                }
            }
        };
        if !digest.meets(&template.network_target) {
            return keep(self);
        }
        if !live {
            return self.rejected(
                cid,
                Some(&worker),
                RejectReason::Stale,
                "block for a superseded template",
            );
        }
        let first = match lock(&self.found).entry((commitment, nonce)) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(worker.to_string());
                true
            }
        };
        if !first {
            // Recorded by a concurrent submission of the same block.
            return self
                .already_recorded(cid, &worker, commitment, nonce)
                .unwrap_or_else(|| {
                    self.rejected(
                        cid,
                        Some(&worker),
                        RejectReason::Duplicate,
                        "this block is already recorded",
                    )
                });
        }
        // Credited like a share of this connection's current difficulty (never above the
        // network's, as for every job).
        let network = template.network_target;
        let difficulty = if network >= vardiff.target() {
            target_difficulty(&network)
        } else {
            vardiff.get()
        };
        let height = template.height;
        let mut ack = SubmitAck {
            accepted: true,
            reason: RejectReason::Unspecified as i32,
            message: "block candidate accepted (found under an earlier connection)".to_owned(),
            block_candidate: true,
            credited_difficulty: difficulty,
        };
        tracing::info!(
            worker = %worker,
            connection_id = cid,
            height,
            "a block found under an earlier connection was resubmitted on this one"
        );
        let block = FoundBlock {
            template,
            nonce,
            digest,
            worker: worker.to_string(),
            found_at: SystemTime::now(),
        };
        if let Err(e) = self.record_found_block(cid, block).await {
            ack.message = format!("block candidate accepted, but NOT persisted: {e}");
        }
        {
            let mut st = lock(&self.state);
            st.interval_accepted += 1;
            let ws = st.workers.entry(worker.to_string()).or_default();
            ws.credit(difficulty, now, SystemTime::now());
            ws.totals.blocks_found += 1;
        }
        self.emit(PoolEvent::ShareAccepted {
            connection_id: cid,
            worker: worker.to_string(),
            job_id: req.job_id.clone(),
            difficulty,
            block_candidate: true,
        });
        ack
    }

    /// The answer to a block that is already recorded: the same acceptance for its finder
    /// (who may simply never have received the first ack), with no new credit; a duplicate for
    /// anyone else.
    fn already_recorded(
        &self,
        cid: u64,
        worker: &str,
        commitment: Digest,
        nonce: Nonce,
    ) -> Option<SubmitAck> {
        let finder = lock(&self.found).get(&(commitment, nonce)).cloned()?;
        if finder == worker {
            Some(SubmitAck {
                accepted: true,
                reason: RejectReason::Unspecified as i32,
                message: "block candidate already recorded".to_owned(),
                block_candidate: true,
                credited_difficulty: 0,
            })
        } else {
            Some(self.rejected(
                cid,
                Some(worker),
                RejectReason::Duplicate,
                "this block is already recorded",
            ))
        }
    }

    /// Persists a found block (durably, before the finder's ack) and queues it for submission.
    async fn record_found_block(
        &self,
        connection_id: u64,
        block: FoundBlock,
    ) -> Result<(), String> {
        let record = {
            let mut book = lock(&self.blocks);
            let id = book.next_id;
            book.next_id += 1;
            BlockRecord {
                id,
                block,
                outcome: None,
                attempts: 0,
                last_error: None,
            }
        };
        let b = &record.block;
        tracing::info!(
            "*** BLOCK FOUND *** height {} by {} digest {} (block #{}) — submitting",
            b.template.height,
            b.worker,
            b.digest,
            record.id
        );
        let store = self.store.clone();
        let to_store = record.clone();
        let persisted = tokio::task::spawn_blocking(move || store.put_block(&to_store))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        if let Err(e) = &persisted {
            tracing::error!(
                "FOUND BLOCK #{} (height {}) COULD NOT BE PERSISTED: {e}; submitting anyway",
                record.id,
                b.template.height
            );
        }
        self.remember_block(record.clone());
        self.emit(PoolEvent::BlockFound {
            id: record.id,
            height: b.template.height,
            worker: b.worker.clone(),
            digest: b.digest,
        });
        self.notify_worker(
            Some(connection_id),
            &b.worker,
            notice(
                NoticeKind::BlockFound,
                format!(
                    "block candidate at height {} recorded; submitting",
                    b.template.height
                ),
                b.template.height,
                Some(&b.digest),
            ),
        );
        if self.found_tx.send(record).is_err() {
            tracing::error!("block submitter is not running; the block stays pending on disk");
        }
        persisted
    }

    fn remember_block(&self, record: BlockRecord) {
        let mut book = lock(&self.blocks);
        book.total += 1;
        book.recent.push_back(record);
        while book.recent.len() > RECENT_BLOCKS {
            book.recent.pop_front();
        }
    }

    /// Stores a block's submission result (or error) and tells the finder about an outcome.
    pub(crate) async fn update_block(&self, record: BlockRecord) {
        {
            let mut book = lock(&self.blocks);
            if let Some(r) = book.recent.iter_mut().find(|r| r.id == record.id) {
                *r = record.clone();
            }
        }
        let store = self.store.clone();
        let to_store = record.clone();
        let result = tokio::task::spawn_blocking(move || store.put_block(&to_store)).await;
        if !matches!(result, Ok(Ok(()))) {
            tracing::warn!("could not store the outcome of found block #{}", record.id);
        }
        let b = &record.block;
        if let Some(outcome) = &record.outcome {
            let (kind, text) = match outcome {
                BlockOutcome::Accepted { block_id } => (
                    NoticeKind::BlockAccepted,
                    format!(
                        "block at height {} accepted{}",
                        b.template.height,
                        block_id
                            .as_deref()
                            .map(|id| format!(" (id {id})"))
                            .unwrap_or_default()
                    ),
                ),
                BlockOutcome::Rejected { reason } => (
                    NoticeKind::BlockRejected,
                    format!("block at height {} rejected: {reason}", b.template.height),
                ),
                BlockOutcome::Stale => (
                    NoticeKind::BlockStale,
                    format!("block at height {} was stale", b.template.height),
                ),
            };
            self.notify_worker(
                None,
                &b.worker,
                notice(kind, text, b.template.height, Some(&b.digest)),
            );
            self.emit(PoolEvent::BlockOutcome {
                id: record.id,
                height: b.template.height,
                outcome: outcome.clone(),
            });
        }
    }

    // ---- periodic work -----------------------------------------------------------------

    /// Vardiff ticks, pruning of closed connections; returns a farm summary line.
    pub(crate) fn maintain(&self) {
        let now = now();
        let retention = self.config.limits.closed_connection_retention;
        let mut st = lock(&self.state);
        let ids: Vec<u64> = st.conns.keys().copied().collect();
        let mut changed = Vec::new();
        for id in ids {
            let Some(conn) = st.conns.get_mut(&id) else {
                continue;
            };
            if let Some(closed) = conn.closed_at {
                if now.saturating_duration_since(closed) > retention {
                    let prefix = conn.prefix;
                    st.conns.remove(&id);
                    st.prefixes.remove(&prefix);
                }
                continue;
            }
            if let Some(d) = conn.vardiff.tick(now) {
                if let Some(worker) = Self::apply_difficulty(&mut st, id, d) {
                    changed.push((id, worker, d));
                }
            }
        }
        drop(st);
        for (connection_id, worker, d) in changed {
            tracing::debug!(worker = %worker, connection_id, "share difficulty now {d}");
            self.emit(PoolEvent::DifficultyChanged {
                connection_id,
                worker: worker.to_string(),
                difficulty: d.get(),
            });
        }
    }

    /// The one-line farm summary (and resets the interval counters).
    pub(crate) fn summary_line(&self) -> String {
        let now = now();
        let mut st = lock(&self.state);
        let (acc, rej) = (st.interval_accepted, st.interval_rejected);
        st.interval_accepted = 0;
        st.interval_rejected = 0;
        let hashrate: f64 = st.workers.values().map(|w| w.hashrate(now)).sum();
        let live = st.live;
        let height = st.current.as_ref().map(|c| c.template.height);
        drop(st);
        let blocks = lock(&self.blocks).total;
        format!(
            "farm: {live} miners, ~{} est., shares {acc} accepted / {rej} rejected since last summary, \
             {blocks} blocks found, mining height {}",
            format_hashrate(hashrate),
            height.map_or("-".to_owned(), |h| h.to_string())
        )
    }

    /// Writes changed worker totals to the store.
    pub(crate) fn flush_workers(&self) {
        let dirty: Vec<(String, WorkerTotals)> = {
            let mut st = lock(&self.state);
            st.workers
                .iter_mut()
                .filter(|(_, w)| w.dirty)
                .map(|(name, w)| {
                    w.dirty = false;
                    (name.clone(), w.totals.clone())
                })
                .collect()
        };
        if let Err(e) = self.store.put_workers(&dirty) {
            tracing::warn!("could not save worker totals: {e}");
        }
    }

    pub(crate) fn snapshot(&self) -> PoolSnapshot {
        let now = now();
        let st = lock(&self.state);
        let mut workers: BTreeMap<&str, WorkerSnapshot> = BTreeMap::new();
        for (name, w) in &st.workers {
            let rejected = w
                .totals
                .rejected
                .iter()
                .filter_map(|(k, v)| RejectReason::from_str_name(k).map(|r| (r, *v)))
                .collect();
            workers.insert(
                name,
                WorkerSnapshot {
                    name: name.clone(),
                    addr: w.last_addr,
                    connections: 0,
                    accepted: w.totals.accepted,
                    accepted_work: w.totals.accepted_work,
                    rejected,
                    blocks_found: w.totals.blocks_found,
                    last_share_at: w.totals.last_share_unix_ms.map(crate::store::from_unix_ms),
                    hashrate: w.hashrate(now),
                    reported_hashrate: None,
                    difficulty: None,
                },
            );
        }
        for conn in st.conns.values().filter(|c| c.tx.is_some()) {
            if let Some(ws) = workers.get_mut(&*conn.worker) {
                ws.connections += 1;
                ws.difficulty = Some(conn.vardiff.difficulty().get());
                if let Some(h) = conn.reported_hashrate {
                    *ws.reported_hashrate.get_or_insert(0.0) += h;
                }
            }
        }
        let workers: Vec<WorkerSnapshot> = workers.into_values().collect();
        let current_job = st.current.as_ref().map(|c| JobSnapshot {
            job_id: c.job_id.clone(),
            height: c.template.height,
            commitment: c.template.commitment,
            since: c.received_wall,
        });
        let connections = st.live;
        drop(st);
        let book = lock(&self.blocks);
        PoolSnapshot {
            listen_addr: self.listen_addr(),
            uptime: now.saturating_duration_since(self.started),
            connections,
            hashrate: workers.iter().map(|w| w.hashrate).sum(),
            workers,
            current_job,
            blocks_found: book.total,
            recent_blocks: book.recent.iter().cloned().collect(),
            chain: lock(&self.chain_status).clone(),
        }
    }
}

/// Compares two byte strings in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The Hello, if `msg` is one.
pub(crate) fn as_hello(msg: proto::MinerStatus) -> Option<proto::Hello> {
    match msg.kind {
        Some(miner_status::Kind::Hello(h)) => Some(h),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    fn entry(network_difficulty: u64) -> TemplateEntry {
        let template = BlockTemplate {
            commitment: Digest::new([1, 2, 3, 4, 5]).unwrap(),
            network_target: Difficulty::saturating(network_difficulty).target(),
            height: 1,
            version: 5,
            pow_len: 64,
            created_at: SystemTime::now(),
        };
        let params = JobParams::v5(template.commitment, 64).unwrap();
        TemplateEntry {
            seq: 1,
            job_id: "j".into(),
            prepared: nockpool_pow::V5Engine::new().prepare(&params).unwrap(),
            template,
            received_wall: SystemTime::now(),
            superseded_at: OnceLock::new(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever vardiff asks for, the share target is never harder than the network's (so
        /// every block is also a share), the job carries exactly that target, and the credited
        /// difficulty is the target's.
        #[test]
        fn share_target_never_harder_than_network(net in 1u64.., share in 1u64..) {
            let e = entry(net);
            let (job, issued) = make_job(&e, "j".into(), 9, Difficulty::saturating(share), true);
            let network = e.template.network_target;
            proptest::prop_assert!(issued.share_target >= network);
            let decoded = Target::from_u320(
                nockpool_core::U320::from_le_bytes(&job.share_target).unwrap(),
            );
            proptest::prop_assert_eq!(decoded, issued.share_target);
            proptest::prop_assert_eq!(job.share_difficulty, issued.difficulty);
            proptest::prop_assert!(issued.difficulty >= 1);
            if share < net {
                proptest::prop_assert_eq!(issued.difficulty, share);
            } else {
                proptest::prop_assert_eq!(issued.share_target, network);
                proptest::prop_assert!(issued.difficulty <= net);
            }
        }
    }

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
}
