//! A pool on the devnet over real gRPC (`127.0.0.1:0`), raw-protocol test miners, and a nonce
//! grinder using the real v5 digest.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use nockpool_core::proto::mining_pool_client::MiningPoolClient;
use nockpool_core::proto::{
    miner_status, work_order, Hello, Job, MinerStatus, SubmitAck, Welcome, WorkOrder, WorkResult,
};
use nockpool_core::{Digest, Nonce, PubkeyHash, Target, TOKEN_METADATA_KEY, U320};
use nockpool_server::{
    Devnet, PoolEvent, PoolHandle, PoolServer, PoolServerBuilder, ServerError, VardiffConfig,
};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;

/// A fixed test payee.
pub fn test_address() -> PubkeyHash {
    PubkeyHash::from_digest(Digest::new([1, 2, 3, 4, 5]).unwrap())
}

/// A devnet with a fixed difficulty (no retarget), in `dir` or in memory.
pub fn devnet(dir: Option<&Path>, difficulty: u64) -> Devnet {
    let mut b = Devnet::builder()
        .initial_difficulty(difficulty)
        .retarget(false)
        .pow_len(64);
    if let Some(dir) = dir {
        b = b.data_dir(dir);
    }
    b.open().unwrap()
}

/// A builder with a devnet backend, fixed share difficulty and the test address.
pub fn builder(devnet: &Devnet, share_difficulty: u64) -> PoolServerBuilder {
    PoolServer::builder()
        .backend(devnet.clone())
        .mining_address(test_address())
        .vardiff(VardiffConfig::fixed(share_difficulty))
}

/// A [`PoolServer`] serving on a local port, with its handle and an event receiver subscribed
/// before it started.
pub struct TestPool {
    /// The bound address.
    pub addr: SocketAddr,
    /// The server's handle.
    pub handle: PoolHandle,
    /// Its events since before the first job.
    pub events: broadcast::Receiver<PoolEvent>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestPool {
    /// Builds and serves on 127.0.0.1:0; returns once the first job has been broadcast.
    pub async fn start(builder: PoolServerBuilder) -> TestPool {
        Self::start_on(builder, "127.0.0.1:0".parse().unwrap()).await
    }

    /// Like [`TestPool::start`] on `addr` (e.g. the address of a pool that was stopped).
    pub async fn start_on(builder: PoolServerBuilder, addr: SocketAddr) -> TestPool {
        let server = builder.build().unwrap();
        let handle = server.handle();
        let mut events = handle.events();
        let listener = nockpool_server::bind_listener(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(listener, async {
            let _ = stopped.await;
        }));
        wait_for(&mut events, |e| matches!(e, PoolEvent::JobBroadcast { .. })).await;
        TestPool {
            addr,
            handle,
            events,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Graceful shutdown; returns what `serve` returned.
    pub async fn stop(mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.take().unwrap().await.unwrap()
    }
}

/// Waits (without sleeping) for the first event matching `pred`, skipping others.
pub async fn wait_for(
    events: &mut broadcast::Receiver<PoolEvent>,
    mut pred: impl FnMut(&PoolEvent) -> bool,
) -> PoolEvent {
    let fut = async {
        loop {
            match events.recv().await {
                Ok(e) if pred(&e) => return e,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    };
    // A generous bound so a bug fails the test instead of hanging CI; not a synchronisation.
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .expect("timed out waiting for a pool event")
}

/// A raw-protocol test miner: one Subscribe stream plus SubmitWork calls, every message under
/// the test's control.
pub struct RawMiner {
    /// The gRPC client (for SubmitWork).
    pub client: MiningPoolClient<Channel>,
    /// The pool's Welcome.
    pub welcome: Welcome,
    /// The newest job read from the stream.
    pub job: Job,
    /// The work stream.
    pub stream: Streaming<WorkOrder>,
    /// The upward stream (Hello, Status).
    pub up: mpsc::Sender<MinerStatus>,
    /// The farm token sent with each call.
    pub token: Option<String>,
    next_submission: u64,
}

/// A Hello from `worker` with one thread.
pub fn hello(worker: &str) -> MinerStatus {
    hello_resuming(worker, 0)
}

/// A Hello resuming `previous_connection_id`.
pub fn hello_resuming(worker: &str, previous_connection_id: u64) -> MinerStatus {
    MinerStatus {
        kind: Some(miner_status::Kind::Hello(Hello {
            worker_name: worker.into(),
            client_version: "test".into(),
            threads: 1,
            previous_connection_id,
            hashrate: 0.0,
        })),
    }
}

/// A request carrying `token` in the farm-token metadata.
pub fn with_token<T>(msg: T, token: Option<&str>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if let Some(t) = token {
        req.metadata_mut()
            .insert(TOKEN_METADATA_KEY, t.parse().unwrap());
    }
    req
}

impl RawMiner {
    /// Connects, sends a Hello, and reads the Welcome and the first Job.
    pub async fn connect(url: &str, worker: &str, token: Option<&str>) -> RawMiner {
        let client = MiningPoolClient::connect(url.to_owned()).await.unwrap();
        Self::connect_with(client, worker, token).await
    }

    /// Like [`RawMiner::connect`] over a given client (e.g. with custom transport settings).
    pub async fn connect_with(
        client: MiningPoolClient<Channel>,
        worker: &str,
        token: Option<&str>,
    ) -> RawMiner {
        Self::connect_full(client, hello(worker), token).await
    }

    /// Connects with the given Hello message.
    pub async fn connect_full(
        mut client: MiningPoolClient<Channel>,
        hello: MinerStatus,
        token: Option<&str>,
    ) -> RawMiner {
        let (up, rx) = mpsc::channel(16);
        up.send(hello).await.unwrap();
        let mut stream = client
            .subscribe(with_token(ReceiverStream::new(rx), token))
            .await
            .unwrap()
            .into_inner();
        let welcome = match next_order(&mut stream).await {
            work_order::Kind::Welcome(w) => w,
            other => panic!("expected a Welcome, got {other:?}"),
        };
        let job = match next_order(&mut stream).await {
            work_order::Kind::Job(j) => j,
            other => panic!("expected a Job, got {other:?}"),
        };
        RawMiner {
            client,
            welcome,
            job,
            stream,
            up,
            token: token.map(str::to_owned),
            next_submission: 1,
        }
    }

    /// The next job pushed on the stream (skipping notices and difficulty changes).
    pub async fn next_job(&mut self) -> Job {
        loop {
            if let work_order::Kind::Job(j) = next_order(&mut self.stream).await {
                self.job = j.clone();
                return j;
            }
        }
    }

    /// Submits `result` as it is.
    pub async fn submit_raw(&mut self, result: WorkResult) -> SubmitAck {
        self.client
            .submit_work(with_token(result, self.token.as_deref()))
            .await
            .unwrap()
            .into_inner()
    }

    /// Submits `nonce` for the current job.
    pub async fn submit(&mut self, nonce: Nonce) -> SubmitAck {
        let job_id = self.job.job_id.clone();
        self.submit_for(&job_id, nonce).await
    }

    /// Submits `nonce` for the job `job_id`.
    pub async fn submit_for(&mut self, job_id: &str, nonce: Nonce) -> SubmitAck {
        let submission_id = self.next_submission;
        self.next_submission += 1;
        self.submit_raw(WorkResult {
            connection_id: self.welcome.connection_id,
            job_id: job_id.to_owned(),
            nonce: nonce.limbs().to_vec(),
            digest: Vec::new(),
            submission_id,
            ..Default::default()
        })
        .await
    }
}

/// The next work order on `stream` (bounded wait).
pub async fn next_order(stream: &mut Streaming<WorkOrder>) -> work_order::Kind {
    let msg = tokio::time::timeout(Duration::from_secs(30), stream.message())
        .await
        .expect("timed out waiting for a work order")
        .unwrap()
        .expect("stream ended");
    msg.kind.expect("empty work order")
}

/// A target from its wire bytes.
pub fn target_of(bytes: &[u8]) -> Target {
    Target::from_u320(U320::from_le_bytes(bytes).unwrap())
}

/// Finds the first nonce from counter `start` (lane 0, the job's prefix) whose real v5 digest
/// satisfies `accept`.
pub fn grind(job: &Job, start: u64, accept: impl Fn(&Digest) -> bool) -> (Nonce, Digest, u64) {
    let job = nockpool_core::Job::try_from(job).expect("the pool sends valid jobs");
    let (commitment, pow_len) = (job.params.commitment, job.params.pow_len);
    for counter in start..start + 1_000_000 {
        let nonce = Nonce::new([counter, 0, 0, 0, job.nonce_prefix]).unwrap();
        let d = nockpool_pow::v5::digest(commitment.limbs(), nonce.limbs(), pow_len);
        let d = Digest::new(d).unwrap();
        if accept(&d) {
            return (nonce, d, counter);
        }
    }
    panic!("no nonce found in a million tries");
}

/// A nonce that meets the job's share target but not its network target.
pub fn share_not_block(job: &Job, start: u64) -> (Nonce, u64) {
    let decoded = nockpool_core::Job::try_from(job).expect("the pool sends valid jobs");
    let (share, network) = (decoded.share_target, decoded.network_target);
    let (n, _, c) = grind(job, start, |d| d.meets(&share) && !d.meets(&network));
    (n, c)
}
