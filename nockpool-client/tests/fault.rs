//! The client against a scripted, fault-injecting pool (real gRPC over 127.0.0.1): the pool
//! fails submissions, drops streams and changes jobs exactly when a test says so.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nockpool_client::{ClientHandle, PoolClient, RejectReason};
use nockpool_core::proto::mining_pool_server::{MiningPool, MiningPoolServer};
use nockpool_core::proto::{
    miner_status, work_order, Hello, Job, MinerStatus, Status, SubmitAck, Welcome, WorkOrder,
    WorkResult,
};
use nockpool_core::{Difficulty, Digest, JobParams, Nonce, NonceRange, Target};
use nockpool_pow::{PowEngine, PowError, PreparedJob, V5Engine};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::timeout;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Streaming};

const WAIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "farm-secret";

/// A V5 engine that reports at most `budget` shares in its whole life, so a test knows exactly
/// how many shares exist.
struct Limited {
    inner: V5Engine,
    budget: AtomicU64,
}

impl Limited {
    fn new(budget: u64) -> Limited {
        Limited {
            inner: V5Engine::new(),
            budget: AtomicU64::new(budget),
        }
    }
}

impl PowEngine for Limited {
    fn prepare(&self, job: &JobParams) -> Result<PreparedJob, PowError> {
        self.inner.prepare(job)
    }
    fn digest(&self, job: &PreparedJob, nonce: &Nonce) -> Digest {
        self.inner.digest(job, nonce)
    }
    fn search(
        &self,
        job: &PreparedJob,
        range: NonceRange,
        target: &Target,
        stop: &AtomicBool,
        found: &mut dyn FnMut(Nonce, Digest),
    ) -> u64 {
        self.inner
            .search(job, range, target, stop, &mut |nonce, digest| {
                let take = self
                    .budget
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1))
                    .is_ok();
                if take {
                    found(nonce, digest)
                }
            })
    }
}

/// A V5 engine that finds one share, then holds it (the mining thread waits) until the test
/// opens the gate: a share found "just before" something the test then does.
struct Gated {
    inner: V5Engine,
    gate: Gate,
    taken: AtomicBool,
}

#[derive(Clone, Default)]
struct Gate(Arc<GateState>);

#[derive(Default)]
struct GateState {
    open: Mutex<bool>,
    opened: std::sync::Condvar,
    holding: tokio::sync::Notify,
}

impl Gate {
    /// Resolves once the engine holds its share.
    async fn holding(&self) {
        self.0.holding.notified().await;
    }

    fn open(&self) {
        *self.0.open.lock().unwrap() = true;
        self.0.opened.notify_all();
    }

    fn wait(&self) {
        self.0.holding.notify_one();
        let mut open = self.0.open.lock().unwrap();
        while !*open {
            open = self.0.opened.wait(open).unwrap();
        }
    }
}

impl PowEngine for Gated {
    fn prepare(&self, job: &JobParams) -> Result<PreparedJob, PowError> {
        self.inner.prepare(job)
    }
    fn digest(&self, job: &PreparedJob, nonce: &Nonce) -> Digest {
        self.inner.digest(job, nonce)
    }
    fn search(
        &self,
        job: &PreparedJob,
        range: NonceRange,
        target: &Target,
        stop: &AtomicBool,
        found: &mut dyn FnMut(Nonce, Digest),
    ) -> u64 {
        self.inner
            .search(job, range, target, stop, &mut |nonce, digest| {
                if !self.taken.swap(true, Ordering::SeqCst) {
                    self.gate.wait();
                    found(nonce, digest)
                }
            })
    }
}

/// What the fake pool saw.
#[derive(Debug, Clone)]
enum Seen {
    Hello {
        connection_id: u64,
        hello: Hello,
        token: Option<String>,
    },
    Status {
        status: Status,
    },
    Submit {
        work: WorkResult,
        token: Option<String>,
    },
}

/// How the fake pool answers one submission.
enum Answer {
    Ack(SubmitAck),
    /// Fail the call with this status and end every open Subscribe stream (a pool "crash").
    Crash(tonic::Status),
}

type Jobs = Box<dyn Fn(u64) -> Vec<WorkOrder> + Send + Sync>;
type Judge = Box<dyn Fn(usize, &WorkResult) -> Answer + Send + Sync>;

struct FakePool {
    next_connection: AtomicU64,
    streams: Mutex<HashMap<u64, mpsc::Sender<Result<WorkOrder, tonic::Status>>>>,
    submissions: AtomicU64,
    /// Orders sent after the Welcome of connection `n`.
    jobs: Jobs,
    /// The answer to the `i`-th submission (0-based).
    judge: Judge,
    seen: broadcast::Sender<Seen>,
}

fn token_of<T>(request: &Request<T>) -> Option<String> {
    request
        .metadata()
        .get(nockpool_core::TOKEN_METADATA_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[tonic::async_trait]
impl MiningPool for FakePool {
    type SubscribeStream = ReceiverStream<Result<WorkOrder, tonic::Status>>;

    async fn subscribe(
        &self,
        request: Request<Streaming<MinerStatus>>,
    ) -> Result<Response<Self::SubscribeStream>, tonic::Status> {
        let token = token_of(&request);
        let mut inbound = request.into_inner();
        let hello = match inbound.message().await?.and_then(|m| m.kind) {
            Some(miner_status::Kind::Hello(hello)) => hello,
            _ => return Err(tonic::Status::invalid_argument("hello first")),
        };
        let connection_id = self.next_connection.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = self.seen.send(Seen::Hello {
            connection_id,
            hello,
            token,
        });
        let (tx, rx) = mpsc::channel(64);
        let welcome = Welcome {
            connection_id,
            nonce_prefix: connection_id,
            server_version: "fake".into(),
            status_interval_secs: 1,
        };
        let _ = tx.try_send(Ok(order(work_order::Kind::Welcome(welcome))));
        for job in (self.jobs)(connection_id) {
            let _ = tx.try_send(Ok(job));
        }
        self.streams.lock().unwrap().insert(connection_id, tx);
        let seen = self.seen.clone();
        tokio::spawn(async move {
            while let Ok(Some(message)) = inbound.message().await {
                if let Some(miner_status::Kind::Status(status)) = message.kind {
                    let _ = seen.send(Seen::Status { status });
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn submit_work(
        &self,
        request: Request<WorkResult>,
    ) -> Result<Response<SubmitAck>, tonic::Status> {
        let token = token_of(&request);
        let work = request.into_inner();
        let index = self.submissions.fetch_add(1, Ordering::SeqCst) as usize;
        let _ = self.seen.send(Seen::Submit {
            work: work.clone(),
            token,
        });
        match (self.judge)(index, &work) {
            Answer::Ack(ack) => Ok(Response::new(ack)),
            Answer::Crash(status) => {
                self.streams.lock().unwrap().clear();
                Err(status)
            }
        }
    }
}

fn order(kind: work_order::Kind) -> WorkOrder {
    WorkOrder { kind: Some(kind) }
}

fn job(id: &str, height: u64, prefix: u64, share: Target, network: Target) -> WorkOrder {
    order(work_order::Kind::Job(Job {
        job_id: id.into(),
        commitment: vec![height, 2, 3, 4, 5],
        share_target: share.value().to_le_bytes().to_vec(),
        network_target: network.value().to_le_bytes().to_vec(),
        height,
        pow_version: 5,
        pow_len: 64,
        clean_jobs: true,
        nonce_prefix: prefix,
        share_difficulty: 1,
    }))
}

fn hard() -> Target {
    Target::from_difficulty(Difficulty::new(u64::MAX).unwrap())
}

fn accept(block: bool) -> Answer {
    Answer::Ack(SubmitAck {
        accepted: true,
        block_candidate: block,
        credited_difficulty: 1,
        ..SubmitAck::default()
    })
}

fn reject(reason: RejectReason) -> Answer {
    Answer::Ack(SubmitAck {
        accepted: false,
        reason: reason as i32,
        message: format!("{reason:?}"),
        ..SubmitAck::default()
    })
}

struct Running {
    pool: Arc<FakePool>,
    seen: broadcast::Receiver<Seen>,
    handle: ClientHandle,
    stop_client: oneshot::Sender<()>,
    client: tokio::task::JoinHandle<()>,
}

async fn start(engine: impl PowEngine, jobs: Jobs, judge: Judge) -> Running {
    let (seen_tx, seen) = broadcast::channel(1024);
    let pool = Arc::new(FakePool {
        next_connection: AtomicU64::new(0),
        streams: Mutex::new(HashMap::new()),
        submissions: AtomicU64::new(0),
        jobs,
        judge,
        seen: seen_tx,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(MiningPoolServer::from_arc(pool.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let client = PoolClient::builder()
        .pools([address.to_string()])
        .worker("fault-test")
        .token(Some(TOKEN.into()))
        .engine(engine)
        .threads(1)
        .backoff(Duration::from_millis(10), Duration::from_millis(50))
        .build()
        .unwrap();
    let handle = client.handle();
    let (stop_client, stopped) = oneshot::channel::<()>();
    let client = tokio::spawn(async move {
        client
            .run(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Running {
        pool,
        seen,
        handle,
        stop_client,
        client,
    }
}

/// Waits (bounded) for the next thing the pool sees that `pick` selects.
async fn next_seen<T>(
    seen: &mut broadcast::Receiver<Seen>,
    mut pick: impl FnMut(Seen) -> Option<T>,
) -> T {
    timeout(WAIT, async {
        loop {
            match seen.recv().await {
                Ok(item) => {
                    if let Some(found) = pick(item) {
                        return found;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("fake pool gone: {e}"),
            }
        }
    })
    .await
    .expect("timed out waiting for the fake pool")
}

/// Waits (bounded) until the client's stats satisfy `done`, woken by its events.
async fn stats_until(
    handle: &ClientHandle,
    done: impl Fn(&nockpool_client::ClientStats) -> bool,
) -> nockpool_client::ClientStats {
    let mut events = handle.events();
    timeout(WAIT, async {
        loop {
            let stats = handle.stats();
            if done(&stats) {
                return stats;
            }
            // Any event (or a lag) is a reason to look again.
            let _ = events.recv().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out; stats: {:?}", handle.stats()))
}

async fn stop(running: Running) {
    let _ = running.stop_client.send(());
    timeout(WAIT, running.client)
        .await
        .expect("client did not stop")
        .unwrap();
}

fn boxed<F: Future<Output = ()> + Send + 'static>(f: F) -> Pin<Box<F>> {
    Box::pin(f)
}

#[tokio::test]
async fn block_candidate_survives_a_pool_crash_and_is_resubmitted() {
    // Every digest is a block candidate; the engine finds exactly one. The pool "crashes" on the
    // first submission (call fails, stream dropped) and acknowledges the retry.
    let jobs: Jobs = Box::new(|conn| vec![job("a", 10, conn, Target::MAX, Target::MAX)]);
    let judge: Judge = Box::new(|index, _| {
        if index == 0 {
            Answer::Crash(tonic::Status::unavailable("pool going down"))
        } else {
            accept(true)
        }
    });
    let mut running = start(Limited::new(1), jobs, judge).await;

    let (first, first_token) = next_seen(&mut running.seen, |s| match s {
        Seen::Submit { work, token } => Some((work, token)),
        _ => None,
    })
    .await;
    assert_eq!(first_token.as_deref(), Some(TOKEN));
    let (hello, hello_token) = next_seen(&mut running.seen, |s| match s {
        Seen::Hello {
            connection_id: 2,
            hello,
            token,
        } => Some((hello, token)),
        _ => None,
    })
    .await;
    assert_eq!(hello_token.as_deref(), Some(TOKEN));
    assert_eq!(hello.previous_connection_id, 1);
    assert_eq!(hello.worker_name, "fault-test");
    let retry = next_seen(&mut running.seen, |s| match s {
        Seen::Submit { work, .. } => Some(work),
        _ => None,
    })
    .await;
    // The very same solution and job, now on the live connection (2): the one it was found
    // under is gone, and the pool recognises the block by the job's commitment it carries.
    assert_eq!(first.connection_id, 1);
    assert_eq!(
        (first.commitment.as_slice(), first.pow_len, first.height),
        (&[10, 2, 3, 4, 5][..], 64, 10)
    );
    assert_eq!(
        retry,
        WorkResult {
            connection_id: 2,
            ..first.clone()
        }
    );
    assert_eq!(retry.job_id, "a");
    assert_eq!(retry.nonce[4], 1, "nonce prefix of connection 1");

    let stats = stats_until(&running.handle, |s| s.blocks_found == 1).await;
    assert_eq!(stats.block_candidates, 1);
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.rejected_total(), 0);
    assert_eq!(stats.pending_submissions, 0);
    assert_eq!(stats.sessions, 2);
    assert_eq!(stats.submissions_sent, 2);
    stop(running).await;
}

#[tokio::test]
async fn a_block_candidate_the_pool_answers_unknown_connection_is_retried_until_acked() {
    // The pool forgot the connection (it restarted between the Welcome and the submission):
    // a block candidate is not given up on that answer, it goes again.
    let jobs: Jobs = Box::new(|conn| vec![job("b", 7, conn, Target::MAX, Target::MAX)]);
    let judge: Judge = Box::new(|index, _| {
        if index == 0 {
            reject(RejectReason::UnknownConnection)
        } else {
            accept(true)
        }
    });
    let mut running = start(Limited::new(1), jobs, judge).await;
    let mut submitted = Vec::new();
    while submitted.len() < 2 {
        submitted.push(
            next_seen(&mut running.seen, |s| match s {
                Seen::Submit { work, .. } => Some(work),
                _ => None,
            })
            .await,
        );
    }
    assert_eq!(submitted[0].nonce, submitted[1].nonce);
    assert_eq!(submitted[1].commitment, vec![7, 2, 3, 4, 5]);
    let stats = stats_until(&running.handle, |s| s.blocks_found == 1).await;
    assert_eq!(stats.block_candidates, 1);
    assert_eq!(stats.rejected_total(), 0);
    assert_eq!(stats.pending_submissions, 0);
    stop(running).await;
}

#[tokio::test]
async fn queued_share_for_an_old_height_is_dropped_and_counted() {
    // Shares are easy, blocks impossible. The pool crashes on the first share and comes back
    // at the next height: the unanswered share is stale and must be counted, not sent.
    let jobs: Jobs = Box::new(|conn| {
        vec![job(
            &format!("h{}", 9 + conn),
            9 + conn,
            conn,
            Target::MAX,
            hard(),
        )]
    });
    let judge: Judge = Box::new(|index, _| {
        if index == 0 {
            Answer::Crash(tonic::Status::unavailable("pool going down"))
        } else {
            accept(false)
        }
    });
    let running = start(Limited::new(1), jobs, judge).await;
    let stats = stats_until(&running.handle, |s| s.stale_dropped == 1).await;
    assert_eq!(stats.shares_found, 1);
    assert_eq!(stats.accepted + stats.rejected_total(), 0);
    assert_eq!(stats.pending_submissions, 0);
    assert_eq!(stats.current_height, Some(11));
    assert_eq!(stats.submissions_sent, 1);
    stop(running).await;
}

#[tokio::test]
async fn rejections_are_counted_by_reason_and_status_reports_real_hashrate() {
    let reasons = [
        RejectReason::Duplicate,
        RejectReason::LowDifficulty,
        RejectReason::Stale,
        RejectReason::Duplicate,
    ];
    let jobs: Jobs = Box::new(|conn| vec![job("r", 5, conn, Target::MAX, hard())]);
    let judge: Judge = Box::new(move |index, _| match reasons.get(index) {
        Some(reason) => reject(*reason),
        None => accept(false),
    });
    let mut running = start(Limited::new(6), jobs, judge).await;
    let stats = stats_until(&running.handle, |s| s.accepted + s.rejected_total() == 6).await;
    assert_eq!(stats.accepted, 2);
    assert_eq!(stats.rejected_for(RejectReason::Duplicate), 2);
    assert_eq!(stats.rejected_for(RejectReason::LowDifficulty), 1);
    assert_eq!(stats.rejected_for(RejectReason::Stale), 1);
    assert_eq!(stats.stale_dropped, 0);

    // The periodic Status carries hashes the engine really computed.
    let status = next_seen(&mut running.seen, |s| match s {
        Seen::Status { status } if status.total_hashes > 0 && status.hashrate_1m > 0.0 => {
            Some(status)
        }
        _ => None,
    })
    .await;
    assert_eq!(status.shares_accepted, 2);
    assert_eq!(status.shares_rejected, 4);
    assert!(running.handle.stats().total_hashes >= status.total_hashes);
    stop(running).await;
}

#[tokio::test]
async fn a_miner_stops_on_request_with_an_undelivered_block_and_says_so() {
    // Every digest is a block candidate; the engine finds one; the pool never acknowledges it
    // (each submission crashes the connection). Asked to stop, the client must stop at once
    // and report the block it could not deliver (stats, and an error line in the log).
    let jobs: Jobs = Box::new(|conn| vec![job("u", 3, conn, Target::MAX, Target::MAX)]);
    let judge: Judge = Box::new(|_, _| Answer::Crash(tonic::Status::unavailable("pool down")));
    let mut running = start(Limited::new(1), jobs, judge).await;
    next_seen(&mut running.seen, |s| match s {
        Seen::Submit { .. } => Some(()),
        _ => None,
    })
    .await;
    let handle = running.handle.clone();
    stop(running).await;
    let stats = handle.stats();
    assert_eq!(stats.block_candidates, 1);
    assert_eq!(stats.blocks_found, 0);
    assert_eq!(stats.undelivered_blocks, 1);
}

#[tokio::test]
async fn client_shuts_down_promptly_with_no_pool_reachable() {
    // A port nobody listens on (bound, then released).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = PoolClient::builder()
        .pools([format!("127.0.0.1:{port}")])
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
        .build()
        .unwrap();
    let handle = client.handle();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(client.run(boxed(async {
        let _ = stop_rx.await;
    })));
    stats_until(&handle, |s| s.failed_connects >= 3).await;
    let _ = stop_tx.send(());
    timeout(WAIT, task)
        .await
        .expect("run did not return")
        .unwrap()
        .unwrap();
    let stats = handle.stats();
    assert_eq!(stats.sessions, 0);
    assert!(stats.connected_pool.is_none());
}

/// Issue 10, item 5: when the pool raises the difficulty, a share found just before (for the
/// job at the old difficulty) is still submitted for that job, not for the new one it would
/// not meet.
#[tokio::test]
async fn a_share_found_before_a_difficulty_change_is_submitted_for_its_own_job() {
    // Shares are easy on job "d"; "d.1" is the same puzzle at a difficulty no share meets.
    let jobs: Jobs = Box::new(|conn| vec![job("d", 5, conn, Target::MAX, hard())]);
    let judge: Judge = Box::new(|_, work| {
        if work.job_id == "d" {
            accept(false)
        } else {
            reject(RejectReason::LowDifficulty)
        }
    });
    let gate = Gate::default();
    let engine = Gated {
        inner: V5Engine::new(),
        gate: gate.clone(),
        taken: AtomicBool::new(false),
    };
    let mut running = start(engine, jobs, judge).await;
    let mut events = running.handle.events();
    // The engine has found a share for "d" and holds it; now the pool raises the difficulty.
    gate.holding().await;
    let raised = [
        order(work_order::Kind::SetDifficulty(
            nockpool_core::proto::SetDifficulty {
                difficulty: u64::MAX,
            },
        )),
        order(work_order::Kind::Job(Job {
            job_id: "d.1".into(),
            commitment: vec![5, 2, 3, 4, 5],
            share_target: hard().value().to_le_bytes().to_vec(),
            network_target: hard().value().to_le_bytes().to_vec(),
            height: 5,
            pow_version: 5,
            pow_len: 64,
            clean_jobs: false,
            nonce_prefix: 1,
            share_difficulty: u64::MAX,
        })),
    ];
    {
        let streams = running.pool.streams.lock().unwrap();
        for order in raised {
            streams[&1].try_send(Ok(order)).unwrap();
        }
    }
    timeout(WAIT, async {
        loop {
            if let Ok(nockpool_client::ClientEvent::NewJob { job_id, .. }) = events.recv().await {
                if job_id == "d.1" {
                    return;
                }
            }
        }
    })
    .await
    .expect("the client never took the new job");
    // The client mines "d.1" now; the share it found for "d" arrives only after that.
    gate.open();
    let work = next_seen(&mut running.seen, |s| match s {
        Seen::Submit { work, .. } => Some(work),
        _ => None,
    })
    .await;
    assert_eq!(work.job_id, "d", "submitted for a job it was not found for");
    let stats = stats_until(&running.handle, |s| s.accepted == 1).await;
    assert_eq!(stats.rejected_total(), 0);
    stop(running).await;
}

/// Issue 10, item 6: after a reconnect the Hello states the hashrate the miner measured, so
/// the pool (restarted, say) can start it at the right difficulty at once.
#[tokio::test]
async fn a_reconnect_hello_states_the_measured_hashrate() {
    let jobs: Jobs = Box::new(|conn| vec![job("m", 3, conn, hard(), hard())]);
    let judge: Judge = Box::new(|_, _| accept(false));
    let mut running = start(Limited::new(0), jobs, judge).await;
    let first = next_seen(&mut running.seen, |s| match s {
        Seen::Hello { hello, .. } => Some(hello),
        _ => None,
    })
    .await;
    assert_eq!(
        first.hashrate, 0.0,
        "nothing measured before the first connection"
    );
    // Once the miner reports a measured rate, the pool goes away.
    let reported = next_seen(&mut running.seen, |s| match s {
        Seen::Status { status } if status.hashrate_1m > 0.0 => Some(status.hashrate_1m),
        _ => None,
    })
    .await;
    running.pool.streams.lock().unwrap().clear();
    let again = next_seen(&mut running.seen, |s| match s {
        Seen::Hello { hello, .. } => Some(hello),
        _ => None,
    })
    .await;
    assert!(again.hashrate > 0.0, "{again:?}");
    // The same measurement source as the status reports (the window moved on a little).
    assert!(
        (again.hashrate / reported - 1.0).abs() < 0.5,
        "hello {} vs status {reported}",
        again.hashrate
    );
    stop(running).await;
}
