//! Connections: registration and its limits, nonce prefixes, each connection's vardiff and the
//! jobs it was sent, the outbound queue towards its miner, and the job fan-out.
//!
//! Uses [`super::jobs`] (the current job, encoded per connection) and [`super::accounting`] (a
//! worker is listed once it connects); neither knows about connections. Locks: the table's
//! `RwLock` (written only to add, close or prune a connection), then one `Mutex` per
//! connection, then the jobs' lock; nothing is locked in the other order. The fan-out and the
//! share checks hold only the table's read lock (briefly) and one connection at a time.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use nockpool_core::proto::{self, work_order, RejectReason, WorkOrder};
use nockpool_core::{clean_peer_text, Difficulty, Nonce, Target, MAX_PEER_TEXT, P};
use tokio::sync::{mpsc, Notify};

use super::accounting::Accounting;
use super::jobs::{job_for, IssuedJob, Jobs, TemplateEntry};
use super::sync::{lock, read, write};
use crate::events::{EventBus, PoolEvent, WorkerSnapshot};
use crate::limits::{sanitize_worker_name, Limits, RateLimiter};
use crate::vardiff::{Vardiff, VardiffConfig};

/// Whether a rejection counts towards a ban: what a working miner does not send. Stale shares
/// (every miner has some after a new block) and rate limiting (its own answer) never count.
fn counts_as_invalid(reason: RejectReason) -> bool {
    matches!(
        reason,
        RejectReason::LowDifficulty
            | RejectReason::Malformed
            | RejectReason::Duplicate
            | RejectReason::WrongPrefix
            | RejectReason::UnknownJob
    )
}

/// Jobs remembered per connection (a new template plus a few vardiff re-issues each).
const JOBS_PER_CONNECTION: usize = 16;

/// The queue of messages towards one miner (the service turns it into the gRPC stream).
/// Boxed: a queue's slots are allocated in blocks of 32, and 32 inline `WorkOrder`s (≈ 5 KiB)
/// per miner was a sixth of a big pool's memory; a box is 8 bytes.
pub(crate) type Outbound = mpsc::Sender<Box<WorkOrder>>;

/// Why a miner was not registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegisterError {
    /// Every connection slot is taken.
    PoolFull {
        /// The configured maximum.
        max: usize,
    },
    /// The miner's address already has the most connections one address may have.
    TooManyFromAddress {
        /// The address.
        ip: IpAddr,
        /// Its live connections.
        live: usize,
    },
    /// The miner's address is banned (too many invalid shares) for another `remaining`.
    Banned {
        /// The address.
        ip: IpAddr,
        /// How much longer the ban lasts.
        remaining: Duration,
    },
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::PoolFull { max } => write!(f, "the pool is full ({max} miners)"),
            RegisterError::TooManyFromAddress { ip, live } => {
                write!(f, "too many miners from {ip} ({live})")
            }
            RegisterError::Banned { ip, remaining } => write!(
                f,
                "{ip} is banned for another {} s for sending too many invalid shares; fix the \
                 miner (its pool protocol or PoW version) before it reconnects",
                remaining.as_secs().max(1)
            ),
        }
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DisconnectReason {
    /// The miner closed its stream.
    ClosedByMiner,
    /// The stream failed (the transport's words).
    StreamError(String),
    /// Its outbound queue filled up: it does not read its stream.
    NotReading,
    /// It sent nothing, not even the answer to a keepalive ping, for `silent`: the process is
    /// frozen or the network is cut, and the transport dropped it.
    StoppedReading {
        /// How long it had been silent.
        silent: Duration,
    },
    /// It sent too many invalid shares: cut, and its address banned.
    Banned {
        /// Invalid shares within the window.
        invalid_shares: u32,
        /// The window.
        window: Duration,
    },
    /// The pool is shutting down.
    ShuttingDown,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::ClosedByMiner => f.write_str("stream closed by the miner"),
            DisconnectReason::StreamError(e) => write!(f, "stream error: {e}"),
            DisconnectReason::NotReading => {
                f.write_str("not reading its stream (outbound queue full)")
            }
            DisconnectReason::StoppedReading { silent } => write!(
                f,
                "stopped reading: no answer to keepalive pings, silent for {:.1} s (frozen or \
                 unreachable)",
                silent.as_secs_f64()
            ),
            DisconnectReason::Banned {
                invalid_shares,
                window,
            } => write!(
                f,
                "banned: {invalid_shares} invalid shares within {} s",
                window.as_secs()
            ),
            DisconnectReason::ShuttingDown => f.write_str("pool shutting down"),
        }
    }
}

/// How the pool tells a connection's task to drop it, and why.
#[derive(Default)]
pub(crate) struct Kick {
    notify: Notify,
    reason: Mutex<Option<DisconnectReason>>,
}

impl Kick {
    /// Asks for the connection to be dropped (the first reason given is the one kept).
    fn kick(&self, reason: DisconnectReason) {
        lock(&self.reason).get_or_insert(reason);
        self.notify.notify_one();
    }

    /// Resolves once the connection must be dropped, with the reason.
    pub(crate) async fn kicked(&self) -> DisconnectReason {
        self.notify.notified().await;
        lock(&self.reason)
            .clone()
            .unwrap_or(DisconnectReason::NotReading)
    }
}

/// A registered connection, as the service needs it.
pub(crate) struct Registered {
    pub(crate) connection_id: u64,
    /// Resolves when the connection must be dropped (its miner is not reading, or is banned).
    pub(crate) kick: Arc<Kick>,
}

/// Invalid shares of one connection in the current window.
struct InvalidShares {
    since: Instant,
    count: u32,
}

/// A job a share names, as this connection was sent it.
pub(super) struct JobHit {
    pub(super) worker: Arc<str>,
    pub(super) template_seq: u64,
    pub(super) difficulty: u64,
    pub(super) share_target: Target,
}

/// Why a share's connection, prefix or job did not check out.
pub(super) struct Miss {
    /// The connection's worker (`None` for an unknown connection).
    pub(super) worker: Option<Arc<str>>,
    pub(super) reason: RejectReason,
    pub(super) message: &'static str,
}

/// What the pool's connections are configured with.
#[derive(Clone, Debug)]
pub(super) struct ConnConfig {
    pub(super) vardiff: VardiffConfig,
    pub(super) limits: Limits,
    pub(super) status_interval_secs: u32,
}

struct ConnState {
    /// `None` once the stream is closed (the record is kept so late shares still count).
    tx: Option<Outbound>,
    closed_at: Option<Instant>,
    vardiff: Vardiff,
    issued: VecDeque<IssuedJob>,
    reissues: u32,
    limiter: RateLimiter,
    reported_hashrate: Option<f64>,
    invalid: InvalidShares,
}

struct Conn {
    id: u64,
    worker: Arc<str>,
    addr: Option<SocketAddr>,
    prefix: u64,
    kick: Arc<Kick>,
    state: Mutex<ConnState>,
    /// When it registered (wall clock, for status views).
    connected_at: SystemTime,
    /// Threads its Hello announced.
    threads: u32,
    /// The client version its Hello announced (cleaned like a worker name).
    client_version: Arc<str>,
}

#[derive(Default)]
struct Table {
    conns: HashMap<u64, Arc<Conn>>,
    live: usize,
    live_per_ip: HashMap<IpAddr, usize>,
    prefixes: HashSet<u64>,
}

/// Every connection, live or recently closed.
pub(super) struct Conns {
    config: ConnConfig,
    events: EventBus,
    table: RwLock<Table>,
}

fn order(kind: work_order::Kind) -> WorkOrder {
    WorkOrder { kind: Some(kind) }
}

impl Conn {
    /// Sends without waiting; a full queue means the miner is not reading its stream.
    fn push(&self, st: &ConnState, msg: WorkOrder) -> bool {
        let Some(tx) = &st.tx else {
            return false;
        };
        match tx.try_send(Box::new(msg)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(worker = %self.worker, "miner is not reading its stream; dropping it");
                self.kick.kick(DisconnectReason::NotReading);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    fn issue(&self, st: &mut ConnState, job: proto::Job, issued: IssuedJob) -> bool {
        st.issued.push_back(issued);
        while st.issued.len() > JOBS_PER_CONNECTION {
            st.issued.pop_front();
        }
        self.push(st, order(work_order::Kind::Job(job)))
    }

    /// Pushes a new difficulty and re-issues the current job at it (the change applies to that
    /// next job; shares for the previous one are still credited at the old difficulty).
    /// False when the connection is closed.
    fn apply_difficulty(&self, st: &mut ConnState, difficulty: Difficulty, jobs: &Jobs) -> bool {
        if st.tx.is_none() {
            return false;
        }
        self.push(
            st,
            order(work_order::Kind::SetDifficulty(proto::SetDifficulty {
                difficulty: difficulty.get(),
            })),
        );
        if let Some(entry) = jobs.current() {
            st.reissues = st.reissues.wrapping_add(1);
            let job_id = format!("{}.{}", entry.job_id, st.reissues);
            let (job, issued) = job_for(&entry, job_id, self.prefix, difficulty, false);
            self.issue(st, job, issued);
        }
        true
    }
}

impl Conns {
    pub(super) fn new(config: ConnConfig, events: EventBus) -> Conns {
        Conns {
            config,
            events,
            table: RwLock::new(Table::default()),
        }
    }

    fn get(&self, connection_id: u64) -> Option<Arc<Conn>> {
        read(&self.table).conns.get(&connection_id).cloned()
    }

    fn all(&self) -> Vec<Arc<Conn>> {
        read(&self.table).conns.values().cloned().collect()
    }

    fn difficulty_changed(
        &self,
        conn: &Conn,
        difficulty: Difficulty,
        why: &str,
        accounting: &Accounting,
    ) {
        accounting.set_difficulty(&conn.worker, difficulty.get());
        tracing::debug!(
            worker = %conn.worker,
            connection_id = conn.id,
            "share difficulty now {difficulty}{why}"
        );
        self.events.emit(PoolEvent::DifficultyChanged {
            connection_id: conn.id,
            worker: conn.worker.to_string(),
            difficulty: difficulty.get(),
        });
    }

    /// Where a new connection's share difficulty starts, best guess first: the connection it
    /// resumes (same pool run, no re-convergence); the hashrate its Hello says the miner
    /// measured; the difficulty the worker had last (also before a restart of the pool); what
    /// its announced threads imply (so a big rig's first shares do not come at thousands per
    /// second, and a slow one's first share does not take minutes).
    fn start_vardiff(
        &self,
        table: &Table,
        hello: &proto::Hello,
        worker: &Arc<str>,
        remembered: Option<u64>,
        now: Instant,
    ) -> Vardiff {
        let config = &self.config.vardiff;
        let resumed = table
            .conns
            .get(&hello.previous_connection_id)
            .filter(|prev| prev.worker == *worker && hello.previous_connection_id != 0)
            .map(|prev| lock(&prev.state).vardiff.difficulty().get());
        if let Some(d) = resumed {
            return Vardiff::resume(config.clone(), d, now);
        }
        if let Some(vd) = Vardiff::for_hashrate(config.clone(), hello.hashrate, now) {
            return vd;
        }
        if let Some(d) = remembered {
            return Vardiff::resume(config.clone(), d, now);
        }
        Vardiff::for_threads(config.clone(), hello.threads, now)
    }

    /// Registers a miner after its Hello: assigns a connection id and a nonce prefix, sends the
    /// Welcome and the current job.
    pub(super) fn register(
        &self,
        hello: &proto::Hello,
        addr: Option<SocketAddr>,
        tx: Outbound,
        jobs: &Jobs,
        accounting: &Accounting,
        now: Instant,
    ) -> Result<Registered, RegisterError> {
        let limits = &self.config.limits;
        let worker: Arc<str> =
            sanitize_worker_name(&hello.worker_name, limits.max_worker_name).into();
        let mut table = write(&self.table);
        if table.live >= limits.max_connections {
            return Err(RegisterError::PoolFull {
                max: limits.max_connections,
            });
        }
        let ip = addr.map(|a| a.ip());
        if let Some(ip) = ip {
            let live = table.live_per_ip.get(&ip).copied().unwrap_or(0);
            if live >= limits.max_connections_per_ip {
                return Err(RegisterError::TooManyFromAddress { ip, live });
            }
        }
        // Random, so one miner cannot guess another's id (and spend its submission budget).
        let connection_id = loop {
            let candidate = rand::random::<u64>();
            if candidate != 0 && !table.conns.contains_key(&candidate) {
                break candidate;
            }
        };
        let prefix = loop {
            let candidate = rand::random::<u64>() % P;
            if table.prefixes.insert(candidate) {
                break candidate;
            }
        };
        // Listed before the miner hears from us, so a snapshot taken once it has its Welcome
        // shows it.
        let remembered = accounting.connected(&worker, addr, now);
        let vardiff = self.start_vardiff(&table, hello, &worker, remembered, now);
        accounting.set_difficulty(&worker, vardiff.difficulty().get());
        let kick = Arc::new(Kick::default());
        let conn = Arc::new(Conn {
            id: connection_id,
            worker: worker.clone(),
            addr,
            prefix,
            kick: kick.clone(),
            connected_at: SystemTime::now(),
            threads: hello.threads,
            client_version: sanitize_worker_name(&hello.client_version, limits.max_worker_name)
                .into(),
            state: Mutex::new(ConnState {
                tx: Some(tx),
                closed_at: None,
                vardiff,
                issued: VecDeque::new(),
                reissues: 0,
                limiter: RateLimiter::new(limits.submits_per_second, limits.submit_burst, now),
                reported_hashrate: None,
                invalid: InvalidShares {
                    since: now,
                    count: 0,
                },
            }),
        });
        {
            let mut st = lock(&conn.state);
            let welcome = work_order::Kind::Welcome(proto::Welcome {
                connection_id,
                nonce_prefix: prefix,
                server_version: concat!("nockpool-server/", env!("CARGO_PKG_VERSION")).to_owned(),
                status_interval_secs: self.config.status_interval_secs,
            });
            conn.push(&st, order(welcome));
            if let Some(entry) = jobs.current() {
                let difficulty = st.vardiff.difficulty();
                let (job, issued) = job_for(&entry, entry.job_id.clone(), prefix, difficulty, true);
                conn.issue(&mut st, job, issued);
            }
        }
        table.conns.insert(connection_id, conn);
        table.live += 1;
        if let Some(ip) = ip {
            *table.live_per_ip.entry(ip).or_default() += 1;
        }
        drop(table);
        tracing::info!(
            worker = %worker,
            addr = %addr.map_or("?".to_owned(), |a| a.to_string()),
            connection_id,
            client = %clean_peer_text(&hello.client_version, MAX_PEER_TEXT),
            threads = hello.threads,
            "miner connected"
        );
        self.events.emit(PoolEvent::MinerConnected {
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
    pub(super) fn miner_status(
        &self,
        connection_id: u64,
        status: &proto::Status,
        jobs: &Jobs,
        accounting: &Accounting,
        now: Instant,
    ) {
        let Some(conn) = self.get(connection_id) else {
            return;
        };
        if !(status.hashrate_1m.is_finite() && status.hashrate_1m >= 0.0) {
            return;
        }
        let mut st = lock(&conn.state);
        st.reported_hashrate = Some(status.hashrate_1m);
        let Some(d) = st.vardiff.observe_hashrate(status.hashrate_1m, now) else {
            return;
        };
        let applied = conn.apply_difficulty(&mut st, d, jobs);
        drop(st);
        if applied {
            self.difficulty_changed(&conn, d, " (from the reported hashrate)", accounting);
        }
    }

    /// Marks a connection closed; its prefix stays reserved for a while so late shares count.
    pub(super) fn deregister(
        &self,
        connection_id: u64,
        reason: &DisconnectReason,
        accounting: &Accounting,
        now: Instant,
    ) {
        let mut table = write(&self.table);
        let Some(conn) = table.conns.get(&connection_id).cloned() else {
            return;
        };
        {
            let mut st = lock(&conn.state);
            if st.closed_at.is_some() {
                return;
            }
            st.closed_at = Some(now);
            st.tx = None;
        }
        table.live = table.live.saturating_sub(1);
        if let Some(ip) = conn.addr.map(|a| a.ip()) {
            if let Some(n) = table.live_per_ip.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    table.live_per_ip.remove(&ip);
                }
            }
        }
        drop(table);
        accounting.disconnected(&conn.worker);
        tracing::info!(
            worker = %conn.worker,
            addr = %conn.addr.map_or("?".to_owned(), |a| a.to_string()),
            connection_id,
            "miner disconnected: {reason}"
        );
        self.events.emit(PoolEvent::MinerDisconnected {
            connection_id,
            worker: conn.worker.to_string(),
            reason: reason.to_string(),
        });
    }

    /// Sends a message to one connection if it is live, else to the live connections of the
    /// same worker (a block outcome reaches the finder even after a reconnect).
    pub(super) fn notify_worker(&self, connection_id: Option<u64>, worker: &str, msg: WorkOrder) {
        if let Some(conn) = connection_id.and_then(|id| self.get(id)) {
            let st = lock(&conn.state);
            if st.tx.is_some() && conn.push(&st, msg.clone()) {
                return;
            }
        }
        for conn in self.all().iter().filter(|c| &*c.worker == worker) {
            let st = lock(&conn.state);
            conn.push(&st, msg.clone());
        }
    }

    /// Pushes a new template's job to every live connection; returns how many it reached.
    pub(super) fn broadcast(&self, entry: &TemplateEntry) -> usize {
        let mut reached = 0;
        // The table is not held while jobs are encoded and queued: a miner connecting now
        // gets this job from `register` (it reads the current job under the table's lock, and
        // the job was made current before this snapshot).
        for conn in self.all() {
            let mut st = lock(&conn.state);
            if st.tx.is_none() {
                continue;
            }
            if st
                .issued
                .back()
                .is_some_and(|j| j.template_seq >= entry.seq)
            {
                reached += 1; // got it when it registered
                continue;
            }
            let difficulty = st.vardiff.difficulty();
            let (job, issued) = job_for(entry, entry.job_id.clone(), conn.prefix, difficulty, true);
            if conn.issue(&mut st, job, issued) {
                reached += 1;
            }
        }
        reached
    }

    /// Checks a submission's connection (its rate limit, nonce prefix) and finds the job it
    /// names among those the connection was sent.
    pub(super) fn lookup(
        &self,
        connection_id: u64,
        job_id: &str,
        nonce: &Nonce,
        jobs: &Jobs,
        now: Instant,
    ) -> Result<JobHit, Miss> {
        let Some(conn) = self.get(connection_id) else {
            return Err(Miss {
                worker: None,
                reason: RejectReason::UnknownConnection,
                message: "unknown connection id: resubscribe and use the id from the Welcome",
            });
        };
        let miss = |reason, message| Miss {
            worker: Some(conn.worker.clone()),
            reason,
            message,
        };
        let mut st = lock(&conn.state);
        if !st.limiter.try_acquire(now) {
            return Err(miss(RejectReason::RateLimited, "too many submissions"));
        }
        if nonce.prefix() != conn.prefix {
            return Err(miss(
                RejectReason::WrongPrefix,
                "nonce limb 4 is not this connection's nonce prefix",
            ));
        }
        if let Some(job) = st.issued.iter().find(|j| j.job_id == job_id) {
            return Ok(JobHit {
                worker: conn.worker.clone(),
                template_seq: job.template_seq,
                difficulty: job.difficulty,
                share_target: job.share_target,
            });
        }
        drop(st);
        // Not (or no longer) among this connection's jobs: an old job of ours is stale,
        // anything else is unknown.
        if jobs.is_older_job(job_id) {
            Err(miss(RejectReason::Stale, "job is stale"))
        } else {
            Err(miss(RejectReason::UnknownJob, "unknown job id"))
        }
    }

    /// Counts an invalid share against its connection. When the connection passes the
    /// threshold within the window it is cut (reason [`DisconnectReason::Banned`]) and the
    /// answer is its address (if known) and its count, for the caller to ban.
    pub(super) fn record_invalid(
        &self,
        connection_id: u64,
        reason: RejectReason,
        now: Instant,
    ) -> Option<(Option<IpAddr>, u32)> {
        if !counts_as_invalid(reason) {
            return None;
        }
        let conn = self.get(connection_id)?;
        let limits = &self.config.limits;
        let mut st = lock(&conn.state);
        if now.saturating_duration_since(st.invalid.since) > limits.ban_window {
            st.invalid = InvalidShares {
                since: now,
                count: 0,
            };
        }
        st.invalid.count = st.invalid.count.saturating_add(1);
        if st.invalid.count <= limits.ban_invalid_shares {
            return None;
        }
        let count = st.invalid.count;
        st.invalid = InvalidShares {
            since: now,
            count: 0,
        };
        drop(st);
        conn.kick.kick(DisconnectReason::Banned {
            invalid_shares: count,
            window: limits.ban_window,
        });
        Some((conn.addr.map(|a| a.ip()), count))
    }

    /// The worker of a connection (live or recently closed).
    pub(super) fn worker(&self, connection_id: u64) -> Option<Arc<str>> {
        self.get(connection_id).map(|c| c.worker.clone())
    }

    /// The share difficulty of a live connection (`None` if it is closed or unknown).
    pub(super) fn live_difficulty(&self, connection_id: u64) -> Option<Difficulty> {
        let conn = self.get(connection_id)?;
        let st = lock(&conn.state);
        st.tx.as_ref().map(|_| st.vardiff.difficulty())
    }

    /// Feeds an accepted share to the connection's vardiff (which may raise its difficulty).
    pub(super) fn record_share(
        &self,
        connection_id: u64,
        credited: u64,
        jobs: &Jobs,
        accounting: &Accounting,
        now: Instant,
    ) {
        let Some(conn) = self.get(connection_id) else {
            return;
        };
        let mut st = lock(&conn.state);
        let Some(d) = st.vardiff.record_share(credited, now) else {
            return;
        };
        let applied = conn.apply_difficulty(&mut st, d, jobs);
        drop(st);
        if applied {
            self.difficulty_changed(&conn, d, "", accounting);
        }
    }

    /// Vardiff ticks (a miner that finds nothing is eased down), and forgets connections closed
    /// longer than the retention (their prefixes become free).
    pub(super) fn maintain(&self, jobs: &Jobs, accounting: &Accounting, now: Instant) {
        let retention: Duration = self.config.limits.closed_connection_retention;
        let mut expired = Vec::new();
        for conn in self.all() {
            let mut st = lock(&conn.state);
            if let Some(closed) = st.closed_at {
                if now.saturating_duration_since(closed) > retention {
                    expired.push(conn.id);
                }
                continue;
            }
            if let Some(d) = st.vardiff.tick(now) {
                if conn.apply_difficulty(&mut st, d, jobs) {
                    drop(st);
                    self.difficulty_changed(&conn, d, "", accounting);
                }
            }
        }
        if expired.is_empty() {
            return;
        }
        let mut table = write(&self.table);
        for id in expired {
            if let Some(conn) = table.conns.remove(&id) {
                table.prefixes.remove(&conn.prefix);
            }
        }
    }

    /// Live connections.
    pub(super) fn live(&self) -> usize {
        read(&self.table).live
    }

    /// Adds each live connection to its worker's snapshot: the count, the share difficulty and
    /// the hashrate the miner reports.
    pub(super) fn annotate(&self, workers: &mut BTreeMap<String, WorkerSnapshot>) {
        for conn in self.all() {
            let st = lock(&conn.state);
            if st.tx.is_none() {
                continue;
            }
            if let Some(ws) = workers.get_mut(&*conn.worker) {
                ws.connections += 1;
                // The newest connection names the worker's difficulty, version and start.
                if ws.connected_since.is_none_or(|t| t < conn.connected_at) {
                    ws.connected_since = Some(conn.connected_at);
                    ws.client_version = Some(conn.client_version.to_string());
                    ws.difficulty = Some(st.vardiff.difficulty().get());
                }
                *ws.threads.get_or_insert(0) += conn.threads;
                if let Some(h) = st.reported_hashrate {
                    *ws.reported_hashrate.get_or_insert(0.0) += h;
                }
            }
        }
    }
}
