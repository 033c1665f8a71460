//! Pool server hot paths, in process, over real gRPC on `127.0.0.1:0`.
//!
//! A [`PoolServer`] on the embedded devnet (a **simulated** chain, in memory, fixed network
//! difficulty 2^30 so that no share is a block) with a fixed share difficulty; raw-protocol
//! miners from `nockpool-testkit`, as the server's own tests use.
//!
//! - `share_check`: one `SubmitWork` round trip of a valid share (not a block) from one
//!   connected miner — every timed share is distinct and pre-ground with `v5::digest` outside
//!   the timing; beside it, the server-side check alone (`V5Engine::digest` + `Digest::meets`).
//! - `reject`: round trips rejected early (`MALFORMED`: a non-canonical nonce limb) and after a
//!   full digest (`LOW_DIFFICULTY`).
//! - `fanout`: with N subscribed streams, the time from `Devnet::force_new_template()` until
//!   every stream has received the new `Job` (includes the devnet appending its simulated
//!   block and building the template).
//!
//! Rate and per-IP connection limits are raised so that they do not reject the bench's own
//! traffic. Results are recorded in `benches/BENCHES.md` ("Pool server").

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nockpool_core::proto::{work_order, RejectReason, WorkResult};
use nockpool_core::{Digest, Job, Nonce, PubkeyHash};
use nockpool_pow::{v5, PowEngine, V5Engine};
use nockpool_server::{Devnet, Limits, PoolEvent, PoolServer, VardiffConfig};
use nockpool_testkit::RawMiner;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

/// Network difficulty of the bench devnet: a share is a block with probability 2^-30.
const NETWORK_DIFFICULTY: u64 = 1 << 30;
/// Share difficulty of every connection (vardiff fixed): two digests per share on average.
const SHARE_DIFFICULTY: u64 = 2;

/// A running pool, its devnet, and the runtime they live on.
struct BenchPool {
    rt: Runtime,
    devnet: Devnet,
    url: String,
    stop: Option<oneshot::Sender<()>>,
}

impl BenchPool {
    fn start() -> BenchPool {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let devnet = Devnet::builder()
            .initial_difficulty(NETWORK_DIFFICULTY)
            .retarget(false)
            .pow_len(64)
            .open()
            .expect("devnet");
        let limits = Limits {
            max_connections_per_ip: 1024,
            submits_per_second: 1e9,
            submit_burst: 1 << 30,
            ..Limits::default()
        };
        let server = PoolServer::builder()
            .backend(devnet.clone())
            .mining_address(PubkeyHash::from_digest(
                Digest::new([1, 2, 3, 4, 5]).expect("canonical"),
            ))
            .vardiff(VardiffConfig::fixed(SHARE_DIFFICULTY))
            .limits(limits)
            .build()
            .expect("pool server");
        let (stop, stopped) = oneshot::channel::<()>();
        let url = rt.block_on(async {
            let mut events = server.handle().events();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1:0");
            let url = format!("http://{}", listener.local_addr().expect("local addr"));
            tokio::spawn(server.serve(listener, async {
                let _ = stopped.await;
            }));
            while !matches!(events.recv().await, Ok(PoolEvent::JobBroadcast { .. })) {}
            url
        });
        BenchPool {
            rt,
            devnet,
            url,
            stop: Some(stop),
        }
    }
}

impl Drop for BenchPool {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A raw-protocol test miner (`nockpool-testkit`) and its first job, decoded.
struct BenchMiner {
    raw: RawMiner,
    job: Job,
}

impl BenchMiner {
    async fn connect(url: &str, worker: &str) -> BenchMiner {
        let raw = RawMiner::connect(url, worker, None).await;
        let job = Job::try_from(&raw.job).expect("the pool sends valid jobs");
        BenchMiner { raw, job }
    }

    fn result(&self, nonce: [u64; 5], submission_id: u64) -> WorkResult {
        WorkResult {
            connection_id: self.raw.welcome.connection_id,
            job_id: self.job.job_id.clone(),
            nonce: nonce.to_vec(),
            submission_id,
            ..Default::default()
        }
    }
}

/// Walks nonce counters of one job, handing out nonces whose real digest passes a filter.
struct Grinder {
    commitment: [u64; 5],
    pow_len: u64,
    prefix: u64,
    counter: u64,
}

impl Grinder {
    fn new(job: &Job) -> Grinder {
        Grinder {
            commitment: job.params.commitment.to_limbs(),
            pow_len: job.params.pow_len,
            prefix: job.nonce_prefix,
            counter: 0,
        }
    }

    /// The next `n` distinct nonces whose digest satisfies `accept`.
    fn take(&mut self, n: u64, accept: impl Fn(&Digest) -> bool) -> Vec<[u64; 5]> {
        let mut out = Vec::with_capacity(n as usize);
        while (out.len() as u64) < n {
            self.counter += 1;
            let nonce = [self.counter, 0, 0, 0, self.prefix];
            let d = Digest::new(v5::digest(&self.commitment, &nonce, self.pow_len))
                .expect("digests are canonical");
            if accept(&d) {
                out.push(nonce);
            }
        }
        out
    }
}

fn share_check(c: &mut Criterion) {
    let pool = BenchPool::start();
    let mut miner = pool
        .rt
        .block_on(BenchMiner::connect(&pool.url, "bench-share"));
    let (share, network) = (miner.job.share_target, miner.job.network_target);
    let mut grinder = Grinder::new(&miner.job);
    let mut submission = 0u64;

    let mut group = c.benchmark_group("server/share_check");
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(1));
    group.bench_function("SubmitWork round trip, valid share", |b| {
        b.iter_custom(|iters| {
            // Untimed: distinct valid shares (not blocks) for this sample.
            let nonces = grinder.take(iters, |d| d.meets(&share) && !d.meets(&network));
            pool.rt.block_on(async {
                let start = Instant::now();
                for nonce in nonces {
                    submission += 1;
                    let ack = miner
                        .raw
                        .client
                        .submit_work(miner.result(nonce, submission))
                        .await
                        .expect("submit")
                        .into_inner();
                    assert!(ack.accepted, "share rejected: {ack:?}");
                }
                start.elapsed()
            })
        })
    });

    let engine = V5Engine::new();
    let prepared = engine.prepare(&miner.job.params).expect("prepare");
    let nonce = Nonce::new(grinder.take(1, |d| d.meets(&share))[0]).expect("nonce");
    group.bench_function("server-side check alone (V5Engine::digest + meets)", |b| {
        b.iter(|| {
            engine
                .digest(black_box(&prepared), black_box(&nonce))
                .meets(black_box(&share))
        })
    });
    group.finish();
}

fn reject(c: &mut Criterion) {
    let pool = BenchPool::start();
    let mut miner = pool
        .rt
        .block_on(BenchMiner::connect(&pool.url, "bench-reject"));
    let share = miner.job.share_target;
    let mut grinder = Grinder::new(&miner.job);
    let mut submission = 0u64;

    let mut group = c.benchmark_group("server/reject");
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(1));
    // Limb 0 = u64::MAX is not a field element: refused before any hashing.
    let malformed = [u64::MAX, 0, 0, 0, miner.job.nonce_prefix];
    group.bench_function(
        "SubmitWork round trip, MALFORMED (non-canonical limb)",
        |b| {
            b.iter_custom(|iters| {
                pool.rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        submission += 1;
                        let ack = miner
                            .raw
                            .client
                            .submit_work(miner.result(malformed, submission))
                            .await
                            .expect("submit")
                            .into_inner();
                        assert_eq!(ack.reason, RejectReason::Malformed as i32, "{ack:?}");
                    }
                    start.elapsed()
                })
            })
        },
    );
    group.bench_function("SubmitWork round trip, LOW_DIFFICULTY (full digest)", |b| {
        b.iter_custom(|iters| {
            let nonces = grinder.take(iters, |d| !d.meets(&share));
            pool.rt.block_on(async {
                let start = Instant::now();
                for nonce in nonces {
                    submission += 1;
                    let ack = miner
                        .raw
                        .client
                        .submit_work(miner.result(nonce, submission))
                        .await
                        .expect("submit")
                        .into_inner();
                    assert_eq!(ack.reason, RejectReason::LowDifficulty as i32, "{ack:?}");
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("server/fanout");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    for n in [1usize, 32, 180] {
        let pool = BenchPool::start();
        // Each stream's reader reports the instant it receives a Job.
        let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<Instant>();
        pool.rt.block_on(async {
            for i in 0..n {
                let miner = BenchMiner::connect(&pool.url, &format!("bench-fanout-{i}")).await;
                let mut miner = miner.raw;
                let seen = seen_tx.clone();
                tokio::spawn(async move {
                    let _keep = (miner.client, miner.up);
                    while let Ok(Some(order)) = miner.stream.message().await {
                        if let Some(work_order::Kind::Job(_)) = order.kind {
                            if seen.send(Instant::now()).is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        group.bench_with_input(
            BenchmarkId::new("new template to every stream", n),
            &n,
            |b, &n| {
                b.iter_custom(|iters| {
                    pool.rt.block_on(async {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let start = Instant::now();
                            pool.devnet.force_new_template().expect("new template");
                            let mut last = start;
                            for _ in 0..n {
                                last = last.max(seen_rx.recv().await.expect("reader alive"));
                            }
                            total += last - start;
                        }
                        total
                    })
                })
            },
        );
        drop(pool);
    }
    group.finish();
}

criterion_group!(benches, share_check, reject, fanout);
criterion_main!(benches);
