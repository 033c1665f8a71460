//! The client's loop: connect (failover, backoff), run a session, submit, repeat.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use nockpool_core::proto::mining_pool_client::MiningPoolClient;
use nockpool_core::proto::{
    miner_status, work_order, Hello, MinerStatus, NoticeKind, RejectReason, Status, SubmitAck,
    Welcome, WorkOrder, WorkResult,
};
use nockpool_core::{
    clean_peer_text, Digest, Job, Share, Target, MAX_PEER_TEXT, TOKEN_METADATA_KEY,
};
use nockpool_pow::{FoundShare, MiningJob};
use tokio::sync::mpsc;
use tokio::time::{sleep, sleep_until, timeout, Instant, MissedTickBehavior};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Response, Streaming};
use tracing::{debug, info, warn};

use crate::client::{Config, Shared};
use crate::engines::Engines;
use crate::hashrate::{HashrateMeter, WINDOW_1M, WINDOW_5M};
use crate::queue::{Submission, SubmissionQueue};
use crate::{ClientError, ClientEvent, EngineRate, PoolAddress};
use nockpool_core::Backoff;

/// How long the pool may take to answer the Hello with a Welcome.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A session that delivered a job and lasted this long resets the backoff.
const HEALTHY_SESSION: Duration = Duration::from_secs(1);
/// Status interval when the pool does not ask for one.
const DEFAULT_STATUS_INTERVAL: Duration = Duration::from_secs(10);
/// Submissions awaiting an answer at once.
const MAX_IN_FLIGHT: usize = 64;
/// Jobs remembered for mapping found shares back to their job.
const JOB_HISTORY: usize = 64;
/// On shutdown or a switch of pool, how long in-flight submissions may still be answered.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// On shutdown, how long to wait for the engine threads to stop.
const STOP_WAIT: Duration = Duration::from_secs(2);
/// How often the hash counter is sampled.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

type Answer = (
    u64,
    Result<Result<Response<SubmitAck>, tonic::Status>, tokio::time::error::Elapsed>,
);
type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What the client knows about a job it handed to the engine.
struct JobContext {
    seq: u64,
    pool: usize,
    connection_id: u64,
    job_id: String,
    height: u64,
    /// The job's commitment and puzzle length (sent with every share, so that a block can be
    /// recognised by a pool that no longer knows this job's connection).
    commitment: Digest,
    pow_len: u64,
    network_target: Target,
}

/// One live Subscribe stream.
struct Session {
    pool: usize,
    rpc: MiningPoolClient<Channel>,
    up: mpsc::Sender<MinerStatus>,
    down: Streaming<WorkOrder>,
    welcome: Welcome,
    started: Instant,
    first_job: bool,
    height: u64,
}

enum SessionEnd {
    Shutdown,
    Lost {
        reason: String,
        healthy: bool,
    },
    /// A better pool (earlier in the list) answered a full handshake; this is its session.
    BetterPool(Box<Session>),
}

pub(crate) async fn run<F>(
    config: Arc<Config>,
    shared: Arc<Shared>,
    shutdown: F,
) -> Result<(), ClientError>
where
    F: Future<Output = ()> + Send,
{
    let (found_tx, found_rx) = mpsc::unbounded_channel();
    let miner = Arc::new(Engines::start(&config, move |found: FoundShare| {
        // The receiver lives as long as the run; after it, a late share has nowhere to go.
        let _ = found_tx.send(found);
    }));
    let counter = Arc::clone(&miner);
    let sampler = tokio::spawn(sample_hashrate(
        move || counter.per_engine(),
        Arc::clone(&shared),
    ));
    let on_terminal = config.stats_on_terminal;
    let stats_logger = config
        .stats_log_interval
        .map(|every| tokio::spawn(log_stats(every, on_terminal, Arc::clone(&shared))));
    let mut runner = Runner {
        backoff: Backoff::new(config.backoff_min, config.backoff_max),
        config,
        shared: Arc::clone(&shared),
        miner: Arc::clone(&miner),
        found_rx,
        jobs: VecDeque::new(),
        queue: SubmissionQueue::default(),
        next_job_seq: 0,
        next_submission_id: 0,
        last_connection_id: 0,
    };
    runner.run(shutdown).await;
    report_undelivered_blocks(&runner.queue, &shared);
    drop(runner);
    miner.pause();
    sampler.abort();
    if let Some(logger) = stats_logger {
        logger.abort();
        if on_terminal {
            crate::terminal::finish();
        }
    }
    // Let the threads finish their current range so the final hash count is exact.
    let idle = Arc::clone(&miner);
    let _ = tokio::task::spawn_blocking(move || idle.wait_idle(STOP_WAIT)).await;
    let per_engine = miner.per_engine();
    let mut stats = shared.stats();
    stats.total_hashes = per_engine.iter().map(|(_, h)| h).sum();
    if stats.engines.len() != per_engine.len() {
        // Stopped before the first sample.
        stats.engines = per_engine
            .iter()
            .map(|(name, _)| EngineRate::new(name.clone(), 0.0, 0))
            .collect();
    }
    for (rate, (_, hashes)) in stats.engines.iter_mut().zip(per_engine) {
        rate.total_hashes = hashes;
    }
    drop(stats);
    Ok(())
}

/// At exit: says loudly which block candidates no pool acknowledged. The queue lives in memory
/// only, so they are lost with the process; the log keeps what an operator needs to follow up.
fn report_undelivered_blocks(queue: &SubmissionQueue, shared: &Shared) {
    let blocks: Vec<&Submission> = queue.blocks().collect();
    shared.stats().undelivered_blocks = blocks.len();
    if blocks.is_empty() {
        return;
    }
    tracing::error!(
        "!!! stopping with {} block candidate(s) NOT delivered to any pool: the miner keeps them \
         in memory only (not persisted), so they are lost with this process !!!",
        blocks.len()
    );
    for block in blocks {
        tracing::error!(
            height = block.height,
            job_id = ?block.job_id,
            nonce = ?block.nonce.limbs(),
            digest = %block.digest.to_base58(),
            "undelivered block candidate"
        );
    }
}

/// Logs the stats line every `every` (the first after one interval), or redraws it in place
/// on the terminal.
async fn log_stats(every: Duration, on_terminal: bool, shared: Arc<Shared>) {
    let mut tick = tokio::time::interval_at(Instant::now() + every, every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let line = shared.snapshot().to_string();
        if on_terminal {
            crate::terminal::draw(&line);
        } else {
            info!("{line}");
        }
    }
}

/// Samples each engine's hash counter into the 1 min / 5 min windows.
async fn sample_hashrate(hashes: impl Fn() -> Vec<(String, u64)>, shared: Arc<Shared>) {
    let mut meter = HashrateMeter::default();
    let mut meters: Vec<HashrateMeter> = Vec::new();
    let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let engines = hashes();
        let total = engines.iter().map(|(_, h)| h).sum();
        meter.record(now, total);
        meters.resize_with(engines.len(), HashrateMeter::default);
        let rates = engines
            .into_iter()
            .zip(meters.iter_mut())
            .map(|((name, hashes), meter)| {
                meter.record(now, hashes);
                EngineRate::new(name, meter.rate(WINDOW_1M), hashes)
            })
            .collect();
        let mut stats = shared.stats();
        stats.total_hashes = total;
        stats.hashrate_1m = meter.rate(WINDOW_1M);
        stats.hashrate_5m = meter.rate(WINDOW_5M);
        stats.engines = rates;
    }
}

struct Runner {
    config: Arc<Config>,
    shared: Arc<Shared>,
    miner: Arc<Engines>,
    found_rx: mpsc::UnboundedReceiver<FoundShare>,
    jobs: VecDeque<JobContext>,
    queue: SubmissionQueue,
    backoff: Backoff,
    next_job_seq: u64,
    next_submission_id: u64,
    last_connection_id: u64,
}

impl Runner {
    async fn run<F: Future<Output = ()>>(&mut self, shutdown: F) {
        tokio::pin!(shutdown);
        let mut wait_first = false;
        let mut next: Option<Session> = None;
        loop {
            let session = match next.take() {
                Some(session) => session,
                None => {
                    if wait_first {
                        let delay = self.backoff.next_delay();
                        info!(
                            delay_ms = delay.as_millis() as u64,
                            "no pool reachable; retrying"
                        );
                        tokio::select! {
                            _ = &mut shutdown => return,
                            _ = sleep(delay) => {}
                        }
                    }
                    wait_first = true;
                    let session = tokio::select! {
                        _ = &mut shutdown => return,
                        session = self.connect_any() => session,
                    };
                    let Some(session) = session else { continue };
                    session
                }
            };
            match self.run_session(session, &mut shutdown).await {
                SessionEnd::Shutdown => return,
                SessionEnd::Lost { healthy, .. } => {
                    if healthy {
                        self.backoff.reset();
                        wait_first = false;
                    }
                }
                SessionEnd::BetterPool(better) => {
                    self.backoff.reset();
                    next = Some(*better);
                }
            }
        }
    }

    /// Stops the engine threads. If the same puzzle comes back (same prefix), the threads
    /// continue where they stopped instead of repeating nonces.
    fn pause_engine(&mut self) {
        self.miner.pause();
    }

    fn pool_name(&self, pool: usize) -> String {
        self.config.pools[pool].to_string()
    }

    fn request<T>(&self, message: T) -> Request<T> {
        with_token(&self.config, message)
    }

    /// One round over the pools, best first.
    async fn connect_any(&mut self) -> Option<Session> {
        for pool in 0..self.config.pools.len() {
            match self.connect(pool).await {
                Ok(session) => return Some(session),
                Err(error) => {
                    let name = self.pool_name(pool);
                    warn!(pool = %name, %error, "cannot connect to pool");
                    self.shared.stats().failed_connects += 1;
                    self.shared
                        .emit(ClientEvent::ConnectFailed { pool: name, error });
                }
            }
        }
        None
    }

    async fn connect(&mut self, pool: usize) -> Result<Session, String> {
        let hashrate = measured_hashrate(&self.shared);
        open_session(&self.config, pool, self.last_connection_id, hashrate).await
    }

    async fn run_session<F: Future<Output = ()>>(
        &mut self,
        mut session: Session,
        shutdown: &mut Pin<&mut F>,
    ) -> SessionEnd {
        let pool_name = self.pool_name(session.pool);
        let connection_id = session.welcome.connection_id;
        self.last_connection_id = connection_id;
        info!(
            pool = %pool_name,
            connection_id,
            nonce_prefix = session.welcome.nonce_prefix,
            server = %session.welcome.server_version,
            "connected to pool"
        );
        {
            let mut stats = self.shared.stats();
            stats.sessions += 1;
            stats.connected_pool = Some(pool_name.clone());
            stats.connection_id = Some(connection_id);
        }
        self.shared.emit(ClientEvent::Connected {
            pool: pool_name.clone(),
            pool_index: session.pool,
            connection_id,
            nonce_prefix: session.welcome.nonce_prefix,
        });

        let status_every = match session.welcome.status_interval_secs {
            0 => DEFAULT_STATUS_INTERVAL,
            secs => Duration::from_secs(u64::from(secs.clamp(1, 300))),
        };
        let mut status_tick = tokio::time::interval_at(Instant::now() + status_every, status_every);
        status_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let probe_every = self.config.primary_probe_interval;
        let mut probe_tick = tokio::time::interval_at(Instant::now() + probe_every, probe_every);
        probe_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut probe: Option<BoxFut<Option<Session>>> = None;
        let mut in_flight: FuturesUnordered<BoxFut<Answer>> = FuturesUnordered::new();

        let end = loop {
            let retry_at = if session.first_job && in_flight.len() < MAX_IN_FLIGHT {
                self.queue.next_retry_at(session.pool)
            } else {
                None
            };
            tokio::select! {
                _ = shutdown.as_mut() => break SessionEnd::Shutdown,
                order = session.down.message() => match order {
                    Ok(Some(order)) => self.on_order(&mut session, order, &mut in_flight),
                    Ok(None) => break self.lost(&session, "pool closed the stream".to_owned()),
                    Err(status) => break self.lost(&session, status_text(&status)),
                },
                Some(found) = self.found_rx.recv() => {
                    self.on_found(found);
                    self.dispatch(&session, &mut in_flight);
                }
                Some((id, answer)) = in_flight.next(), if !in_flight.is_empty() => {
                    self.on_answer(id, answer);
                    self.dispatch(&session, &mut in_flight);
                }
                _ = sleep_until(retry_at.unwrap_or_else(Instant::now)), if retry_at.is_some() => {
                    self.dispatch(&session, &mut in_flight);
                }
                _ = status_tick.tick() => self.send_status(&session),
                _ = probe_tick.tick(), if session.pool > 0 && probe.is_none() => {
                    probe = Some(Box::pin(probe_better_pools(
                        Arc::clone(&self.config),
                        session.pool,
                        connection_id,
                        measured_hashrate(&self.shared),
                    )));
                }
                better = async { probe.as_mut().expect("guarded by is_some").await }, if probe.is_some() => {
                    probe = None;
                    if let Some(better) = better {
                        break SessionEnd::BetterPool(Box::new(better));
                    }
                }
            }
        };

        let reason = match &end {
            SessionEnd::Shutdown => "shutting down".to_owned(),
            SessionEnd::Lost { reason, .. } => reason.clone(),
            SessionEnd::BetterPool(better) => {
                format!("switching back to {}", self.pool_name(better.pool))
            }
        };
        if !matches!(end, SessionEnd::Lost { .. }) {
            // The connection still works: let what was found so far reach the pool.
            self.pause_engine();
            self.drain(&session, &mut in_flight).await;
        }
        drop(in_flight);
        self.pause_engine();
        self.queue.session_ended(Instant::now());
        {
            let mut stats = self.shared.stats();
            stats.connected_pool = None;
            stats.connection_id = None;
            stats.current_job_id = None;
            stats.pending_submissions = self.queue.len();
        }
        match &end {
            SessionEnd::Lost { .. } => warn!(pool = %pool_name, %reason, "disconnected from pool"),
            _ => info!(pool = %pool_name, %reason, "leaving pool"),
        }
        if self.queue.pending_blocks() > 0 {
            warn!(
                pending_blocks = self.queue.pending_blocks(),
                "block candidates not yet acknowledged; they are kept and retried"
            );
        }
        self.shared.emit(ClientEvent::Disconnected {
            pool: pool_name,
            reason,
        });
        end
    }

    fn lost(&self, session: &Session, reason: String) -> SessionEnd {
        SessionEnd::Lost {
            reason,
            healthy: session.first_job && session.started.elapsed() >= HEALTHY_SESSION,
        }
    }

    /// With the engine paused: sends what is pending and waits a little for the answers.
    async fn drain(&mut self, session: &Session, in_flight: &mut FuturesUnordered<BoxFut<Answer>>) {
        // Once the threads are idle no share can arrive after the channel is emptied.
        let miner = Arc::clone(&self.miner);
        let _ = tokio::task::spawn_blocking(move || miner.wait_idle(STOP_WAIT)).await;
        while let Ok(found) = self.found_rx.try_recv() {
            self.on_found(found);
        }
        self.dispatch(session, in_flight);
        let deadline = Instant::now() + DRAIN_GRACE;
        while !in_flight.is_empty() {
            match timeout_at(deadline, in_flight.next()).await {
                Some(Some((id, answer))) => self.on_answer(id, answer),
                _ => break,
            }
        }
    }

    fn on_order(
        &mut self,
        session: &mut Session,
        order: WorkOrder,
        in_flight: &mut FuturesUnordered<BoxFut<Answer>>,
    ) {
        let received_at = Instant::now();
        match order.kind {
            Some(work_order::Kind::Job(job)) => {
                self.on_job(session, job, received_at);
                self.dispatch(session, in_flight);
            }
            Some(work_order::Kind::SetDifficulty(set)) => {
                debug!(difficulty = set.difficulty, "pool changed share difficulty");
                self.shared.emit(ClientEvent::DifficultyChanged {
                    difficulty: set.difficulty,
                });
            }
            Some(work_order::Kind::Notice(mut notice)) => {
                let kind = NoticeKind::try_from(notice.kind).unwrap_or(NoticeKind::Unspecified);
                // Pool text reaches our log and our embedder's events: no forged lines.
                notice.message = clean_peer_text(&notice.message, MAX_PEER_TEXT);
                match kind {
                    NoticeKind::BlockRejected
                    | NoticeKind::BlockStale
                    | NoticeKind::ShuttingDown => {
                        warn!(height = notice.height, "pool says: {}", notice.message)
                    }
                    _ => info!(height = notice.height, "pool says: {}", notice.message),
                }
                self.shared.emit(ClientEvent::Notice {
                    kind,
                    message: notice.message,
                    height: notice.height,
                });
            }
            Some(work_order::Kind::Welcome(_)) => debug!("ignoring a second Welcome"),
            None => debug!("ignoring an empty work order"),
        }
    }

    fn on_job(
        &mut self,
        session: &mut Session,
        job: nockpool_core::proto::Job,
        received_at: Instant,
    ) {
        let parsed = parse_job(&job).and_then(|(job, share_target)| {
            let prepared = self
                .config
                .engine
                .prepare(&job.params)
                .map_err(|e| format!("engine refused the job: {e}"))?;
            Ok((prepared, share_target, job.network_target))
        });
        let (prepared, share_target, network_target) = match parsed {
            Ok(parsed) => parsed,
            Err(reason) => {
                let job_id = clean_peer_text(&job.job_id, MAX_PEER_TEXT);
                warn!(%job_id, %reason, "pool sent an unusable job");
                if job.clean_jobs || !session.first_job {
                    // Whatever we were mining is stale now; grinding it would be wasted work.
                    self.pause_engine();
                    self.shared.stats().current_job_id = None;
                }
                return;
            }
        };
        // Every job gets its own sequence number, also one that differs from the last only in
        // its share target: a share is always submitted for the job it was found for (the
        // pool credits it at that job's difficulty). On the same puzzle and prefix the engine
        // threads continue their counters by themselves, so no nonce is tried twice.
        self.next_job_seq += 1;
        let seq = self.next_job_seq;
        let commitment = prepared.params().commitment;
        self.miner.set_job(MiningJob {
            job_seq: seq,
            prepared,
            share_target,
            nonce_prefix: job.nonce_prefix,
        });
        let switched_at = Instant::now();
        if self.jobs.len() >= JOB_HISTORY {
            self.jobs.pop_front();
        }
        self.jobs.push_back(JobContext {
            seq,
            pool: session.pool,
            connection_id: session.welcome.connection_id,
            job_id: job.job_id.clone(),
            height: job.height,
            commitment,
            pow_len: job.pow_len,
            network_target,
        });
        let new_height = job.height > session.height || !session.first_job;
        session.first_job = true;
        session.height = session.height.max(job.height);
        let stale = self.queue.drop_stale(session.pool, session.height);
        self.count_stale(stale);
        {
            let mut stats = self.shared.stats();
            stats.current_job_id = Some(job.job_id.clone());
            stats.current_height = Some(job.height);
            stats.share_difficulty = Some(job.share_difficulty);
            stats.pending_submissions = self.queue.len();
        }
        if new_height {
            info!(job_id = %job.job_id, height = job.height, share_difficulty = job.share_difficulty, "new job");
        } else {
            debug!(job_id = %job.job_id, height = job.height, share_difficulty = job.share_difficulty, "new job");
        }
        self.shared.emit(ClientEvent::NewJob {
            job_id: job.job_id,
            height: job.height,
            clean: job.clean_jobs,
            share_difficulty: job.share_difficulty,
            received_at,
            switched_at,
        });
    }

    fn count_stale(&mut self, stale: impl IntoIterator<Item = Submission>) {
        for share in stale {
            debug!(job_id = %share.job_id, "dropping a share whose job is stale");
            self.shared.stats().stale_dropped += 1;
            self.shared.emit(ClientEvent::StaleDropped {
                job_id: share.job_id,
            });
        }
    }

    fn on_found(&mut self, found: FoundShare) {
        self.shared.stats().shares_found += 1;
        let Some(job) = self.jobs.iter().find(|j| j.seq == found.job_seq) else {
            // Older than every remembered job: long stale.
            self.shared.stats().stale_dropped += 1;
            return;
        };
        let block = found.digest.meets(&job.network_target);
        if block {
            info!(
                job_id = %job.job_id,
                height = job.height,
                digest = %found.digest,
                "found a block candidate"
            );
            self.shared.stats().block_candidates += 1;
            self.shared.emit(ClientEvent::BlockCandidate {
                job_id: job.job_id.clone(),
                height: job.height,
                digest: found.digest,
            });
        }
        self.next_submission_id += 1;
        let submission = Submission::new(
            self.next_submission_id,
            job.pool,
            job.connection_id,
            job.job_id.clone(),
            job.height,
            job.commitment,
            job.pow_len,
            found.nonce,
            found.digest,
            block,
            Instant::now(),
        );
        let evicted = self.queue.push(submission);
        self.count_stale(evicted);
        self.shared.stats().pending_submissions = self.queue.len();
    }

    /// Sends every submission that is due for this session's pool.
    fn dispatch(&mut self, session: &Session, in_flight: &mut FuturesUnordered<BoxFut<Answer>>) {
        if !session.first_job {
            return;
        }
        let room = MAX_IN_FLIGHT.saturating_sub(in_flight.len());
        let ready = self.queue.take_ready(session.pool, Instant::now(), room);
        if ready.is_empty() {
            return;
        }
        self.shared.stats().submissions_sent += ready.len() as u64;
        for submission in ready {
            if submission.attempts > 1 {
                debug!(
                    submission_id = submission.id,
                    attempt = submission.attempts,
                    block = submission.block,
                    "resubmitting"
                );
            }
            // A block candidate always goes on the live connection: the one it was found under
            // may be gone (a reconnect, or a pool restart that forgot every connection), and
            // the pool recognises the block by its commitment. Other shares keep theirs (the
            // pool credits a closed connection's late shares for a while).
            let connection_id = if submission.block {
                session.welcome.connection_id
            } else {
                submission.connection_id
            };
            if connection_id != submission.connection_id {
                debug!(
                    submission_id = submission.id,
                    job_id = %submission.job_id,
                    "resubmitting a block candidate on the current connection"
                );
            }
            let request = self.request(WorkResult::from(&Share {
                connection_id,
                job_id: submission.job_id.clone(),
                nonce: submission.nonce,
                digest: Some(submission.digest),
                submission_id: submission.id,
                commitment: Some(submission.commitment),
                pow_len: submission.pow_len,
                height: submission.height,
            }));
            let mut rpc = session.rpc.clone();
            let limit = self.config.submit_timeout;
            let id = submission.id;
            in_flight.push(Box::pin(async move {
                (id, timeout(limit, rpc.submit_work(request)).await)
            }));
        }
    }

    fn on_answer(
        &mut self,
        id: u64,
        answer: Result<Result<Response<SubmitAck>, tonic::Status>, tokio::time::error::Elapsed>,
    ) {
        let ack = match answer {
            Ok(Ok(response)) => response.into_inner(),
            Ok(Err(status)) => match status.code() {
                Code::Unauthenticated | Code::PermissionDenied => SubmitAck {
                    accepted: false,
                    reason: RejectReason::Unauthorized as i32,
                    message: status.message().to_owned(),
                    ..SubmitAck::default()
                },
                Code::InvalidArgument => SubmitAck {
                    accepted: false,
                    reason: RejectReason::Malformed as i32,
                    message: status.message().to_owned(),
                    ..SubmitAck::default()
                },
                _ => {
                    debug!(submission_id = id, status = %status_text(&status), "submission unanswered; will retry");
                    self.queue.retry_later(id, Instant::now());
                    return;
                }
            },
            Err(_) => {
                debug!(submission_id = id, "submission timed out; will retry");
                self.queue.retry_later(id, Instant::now());
                return;
            }
        };
        if !ack.accepted
            && ack.reason == RejectReason::UnknownConnection as i32
            && self.queue.is_block(id)
        {
            // The pool forgot the connection it was sent on (it restarted just now): a block
            // candidate goes again on the next connection, until it is answered or stale.
            debug!(
                submission_id = id,
                "pool does not know our connection; block candidate will be resubmitted"
            );
            self.queue.retry_later(id, Instant::now());
            return;
        }
        let Some(submission) = self.queue.complete(id) else {
            return;
        };
        let mut stats = self.shared.stats();
        stats.pending_submissions = self.queue.len();
        if ack.accepted {
            stats.accepted += 1;
            stats.accepted_difficulty = stats
                .accepted_difficulty
                .saturating_add(ack.credited_difficulty);
            if ack.block_candidate {
                stats.blocks_found += 1;
            }
            drop(stats);
            if ack.block_candidate {
                info!(job_id = %submission.job_id, height = submission.height, digest = %submission.digest, "pool acknowledged our block");
            } else if submission.block {
                warn!(job_id = %submission.job_id, "pool accepted our block candidate as a share only");
            } else {
                debug!(job_id = %submission.job_id, difficulty = ack.credited_difficulty, "share accepted");
            }
            self.shared.emit(ClientEvent::ShareAccepted {
                job_id: submission.job_id,
                difficulty: ack.credited_difficulty,
                block: ack.block_candidate,
            });
        } else {
            let reason = RejectReason::try_from(ack.reason).unwrap_or(RejectReason::Unspecified);
            let message = clean_peer_text(&ack.message, MAX_PEER_TEXT);
            *stats.rejected.entry(reason).or_insert(0) += 1;
            if submission.block {
                stats.blocks_rejected += 1;
            }
            drop(stats);
            if submission.block {
                warn!(job_id = %submission.job_id, reason = reason.as_str_name(), %message, "pool rejected our block candidate");
            } else {
                debug!(job_id = %submission.job_id, reason = reason.as_str_name(), %message, "share rejected");
            }
            self.shared.emit(ClientEvent::ShareRejected {
                job_id: submission.job_id,
                reason,
                message,
                block: submission.block,
            });
        }
    }

    fn send_status(&self, session: &Session) {
        let status = {
            let stats = self.shared.stats();
            Status {
                hashrate_1m: stats.hashrate_1m,
                hashrate_5m: stats.hashrate_5m,
                shares_submitted: stats.submissions_sent,
                shares_accepted: stats.accepted,
                shares_rejected: stats.rejected_total(),
                stale_dropped: stats.stale_dropped,
                total_hashes: stats.total_hashes,
            }
        };
        // A full upstream buffer means the pool is not reading; skipping one report is fine.
        let _ = session.up.try_send(MinerStatus {
            kind: Some(miner_status::Kind::Status(status)),
        });
    }
}

/// Connects to `pool`, sends the Hello and waits for the Welcome.
async fn open_session(
    config: &Config,
    pool: usize,
    previous_connection_id: u64,
    hashrate: f64,
) -> Result<Session, String> {
    let channel = endpoint(&config.pools[pool], config)?
        .connect()
        .await
        .map_err(|e| format!("connect: {}", error_chain(&e)))?;
    let mut rpc = MiningPoolClient::new(channel);
    let (up, up_rx) = mpsc::channel(16);
    let hello = MinerStatus {
        kind: Some(miner_status::Kind::Hello(Hello {
            worker_name: config.worker.clone(),
            client_version: format!("nockpool-client/{}", env!("CARGO_PKG_VERSION")),
            // Each device counts as one worker thread here; vardiff adapts to its real rate.
            threads: u32::try_from(config.threads + config.devices.len()).unwrap_or(u32::MAX),
            previous_connection_id,
            hashrate,
        })),
    };
    up.try_send(hello)
        .map_err(|e| format!("queue hello: {e}"))?;
    let request = with_token(config, ReceiverStream::new(up_rx));
    let mut down = timeout(HANDSHAKE_TIMEOUT, rpc.subscribe(request))
        .await
        .map_err(|_| "no answer to Subscribe".to_owned())?
        .map_err(|status| {
            // A TLS pool drops a plaintext HTTP/2 connection without a gRPC answer; depending on
            // when the drop lands, tonic reports it as one of these (an h2 protocol error is
            // `Internal`).
            let hint = if !config.pools[pool].is_tls()
                && matches!(
                    status.code(),
                    Code::Cancelled | Code::Unavailable | Code::Unknown | Code::Internal
                ) {
                " (if this pool uses TLS, connect with --tls-ca or an https:// address)"
            } else {
                ""
            };
            format!(
                "subscribe refused: {status_text}{hint}",
                status_text = status_text(&status)
            )
        })?
        .into_inner();
    let first = timeout(HANDSHAKE_TIMEOUT, down.message())
        .await
        .map_err(|_| "no Welcome".to_owned())?
        .map_err(|status| format!("stream failed: {}", status_text(&status)))?;
    let welcome = match first.and_then(|order| order.kind) {
        Some(work_order::Kind::Welcome(welcome)) => welcome,
        Some(_) => return Err("pool did not start with a Welcome".to_owned()),
        None => return Err("pool closed the stream before its Welcome".to_owned()),
    };
    Ok(Session {
        pool,
        rpc,
        up,
        down,
        welcome,
        started: Instant::now(),
        first_job: false,
        height: 0,
    })
}

/// The hashrate to state in a Hello: the last minute's, else the last five minutes' (0 before
/// the engine has run), so a pool starts the connection at the right difficulty.
fn measured_hashrate(shared: &Shared) -> f64 {
    let stats = shared.stats();
    [stats.hashrate_1m, stats.hashrate_5m]
        .into_iter()
        .find(|h| h.is_finite() && *h > 0.0)
        .unwrap_or(0.0)
}

/// A request carrying the farm token, if one is configured.
fn with_token<T>(config: &Config, message: T) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = &config.token {
        request
            .metadata_mut()
            .insert(TOKEN_METADATA_KEY, token.clone());
    }
    request
}

/// The first of the pools before `below` (better than the current one) that completes a full
/// handshake; its session is ready to use. A pool that accepts TCP but refuses miners (full,
/// wrong token) is not "back", so the miner never flaps between pools.
async fn probe_better_pools(
    config: Arc<Config>,
    below: usize,
    previous_connection_id: u64,
    hashrate: f64,
) -> Option<Session> {
    for pool in 0..below {
        match open_session(&config, pool, previous_connection_id, hashrate).await {
            Ok(session) => return Some(session),
            Err(error) => {
                debug!(pool = %config.pools[pool], %error, "better pool still unavailable")
            }
        }
    }
    None
}

async fn timeout_at<T>(deadline: Instant, future: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout_at(deadline, future).await.ok()
}

fn endpoint(pool: &PoolAddress, config: &Config) -> Result<Endpoint, String> {
    Ok(crate::client::pool_endpoint(pool, config.tls.as_ref())?
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(true))
}

/// Decodes a job and the share target to mine at: never harder than the network target, which
/// would hide blocks from the pool.
fn parse_job(job: &nockpool_core::proto::Job) -> Result<(Job, Target), String> {
    // The id is echoed back and logged: anything our pool never sends (control characters, a
    // very long id) is refused rather than carried into logs and stats.
    if job.job_id.len() > MAX_PEER_TEXT || job.job_id != clean_peer_text(&job.job_id, MAX_PEER_TEXT)
    {
        return Err(format!(
            "its job id is not plain text of at most {MAX_PEER_TEXT} bytes"
        ));
    }
    let job = Job::try_from(job).map_err(|e| e.to_string())?;
    let share_target = job.share_target.easier(job.network_target);
    Ok((job, share_target))
}

fn status_text(status: &tonic::Status) -> String {
    if status.message().is_empty() {
        format!("{:?}", status.code())
    } else {
        let message = clean_peer_text(status.message(), MAX_PEER_TEXT);
        format!("{:?}: {message}", status.code())
    }
}

pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        // Wrapping layers often repeat their source's text; say each thing once.
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[test]
    fn pool_text_is_refused_or_cleaned_before_it_reaches_the_log() {
        let job = |job_id: &str| nockpool_core::proto::Job {
            job_id: job_id.to_owned(),
            commitment: vec![1, 2, 3, 4, 5],
            share_target: vec![0xff; 8],
            network_target: vec![1],
            pow_version: 5,
            pow_len: 64,
            ..Default::default()
        };
        assert!(parse_job(&job("2094f2be-8")).is_ok());
        for forged in [
            "j\n*** BLOCK #999 FAKE ***",
            "j\u{1b}[2J",
            &"j".repeat(MAX_PEER_TEXT + 1),
        ] {
            let Err(err) = parse_job(&job(forged)) else {
                panic!("job id {forged:?} was taken");
            };
            assert!(err.contains("job id"), "{err}");
        }
        let status = tonic::Status::unavailable("down\n*** BLOCK #999 FAKE ***\u{7}");
        let text = status_text(&status);
        assert!(!text.contains('\n') && !text.contains('\u{7}'), "{text:?}");
        assert!(text.starts_with("Unavailable: down"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn sampler_averages_real_hashes_over_both_windows_in_paused_time() {
        let shared = Arc::new(Shared::new());
        let hashes = Arc::new(AtomicU64::new(0));
        let gpu = Arc::new(AtomicU64::new(0));
        let (counter, gpu_counter) = (Arc::clone(&hashes), Arc::clone(&gpu));
        let sampler = tokio::spawn(sample_hashrate(
            move || {
                vec![
                    ("cpu".to_string(), counter.load(Ordering::SeqCst)),
                    ("gpu".to_string(), gpu_counter.load(Ordering::SeqCst)),
                ]
            },
            Arc::clone(&shared),
        ));
        // Two minutes at 1000 H/s on the CPU (and 3000 H/s on the "GPU" for the first minute),
        // then one idle minute.
        for second in 0..120 {
            hashes.fetch_add(1000, Ordering::SeqCst);
            if second < 60 {
                gpu.fetch_add(3000, Ordering::SeqCst);
            }
            sleep(Duration::from_secs(1)).await;
        }
        gpu.store(180_000, Ordering::SeqCst);
        let busy = shared.stats().clone();
        // Each engine's rate is its own counter's; the total is their sum.
        assert_eq!(busy.engines.len(), 2);
        assert_eq!(busy.engines[0].name, "cpu");
        assert!(
            (busy.engines[0].hashrate_1m - 1000.0).abs() < 20.0,
            "{busy:?}"
        );
        assert!(busy.engines[1].hashrate_1m < 100.0, "{busy:?}");
        assert_eq!(busy.engines[1].total_hashes, 180_000);
        assert!((busy.hashrate_1m - 1000.0).abs() < 60.0, "{busy:?}");
        assert!((busy.hashrate_5m - 2500.0).abs() < 60.0, "{busy:?}");
        sleep(Duration::from_secs(61)).await;
        let idle = shared.stats().clone();
        assert_eq!(idle.hashrate_1m, 0.0);
        // 300k hashes over the three minutes of history (the first sample already saw the
        // first second's 4k).
        assert!(
            (idle.hashrate_5m - 296_000.0 / 180.0).abs() < 10.0,
            "{idle:?}"
        );
        assert_eq!(idle.total_hashes, 300_000);
        sampler.abort();
    }
}
