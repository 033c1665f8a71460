//! `pool-loadtest`: connects up to 20,000 simulated miners to a nockpool pool server on this
//! machine and measures the pool: connect time, job fan-out, share acks by reason, the pool
//! process's CPU and peak RSS.
//!
//! **It generates load: it refuses any pool that is not on loopback.** Each miner is its own
//! TCP connection and gRPC stream speaking the raw protocol (Hello, Welcome, jobs;
//! SubmitWork). The pool must run with `--fixed-difficulty 1`: then every nonce of a miner's
//! prefix is a valid share, so the tool submits distinct nonces without grinding (it measures
//! the pool, not itself) while the pool still computes every share's digest in full.
//!
//! Phases: all miners connect at once (the storm; connect times), then the measured phase of
//! `--seconds` (shares at `--share-rate` per miner per second, broadcast jobs as the pool's
//! templates change — run the devnet with `--devnet-competitor SECS` for a steady supply),
//! then every miner disconnects. It stops by itself.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use nockpool_benches::{ensure_loopback, LoadReport, LoadSamples, ProcStats, TRANSPORT_ERROR};
use nockpool_core::proto::mining_pool_client::MiningPoolClient;
use nockpool_core::proto::{miner_status, work_order, Hello, Job, MinerStatus, RejectReason};
use nockpool_core::proto::{WorkOrder, WorkResult};
use nockpool_core::{Digest, JobParams, Nonce, P};
use nockpool_pow::{PowEngine, V5Engine};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

/// Load test for a nockpool pool server on this machine (started with --fixed-difficulty 1).
#[derive(Debug, Parser)]
struct Args {
    /// Pool URL (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:7777")]
    pool: String,
    /// Simulated miners, each its own connection.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=20_000))]
    miners: u64,
    /// Seconds of the measured phase (after every miner connected).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,
    /// Shares each miner submits per second (0: connect and receive jobs only).
    #[arg(long, default_value_t = 0.5)]
    share_rate: f64,
    /// Fraction of submissions made deliberately invalid (malformed nonce, another prefix,
    /// unknown job, duplicate, in turn).
    #[arg(long, default_value_t = 0.0)]
    invalid_ratio: f64,
    /// Spread miners over source addresses 127.0.0.2–127.0.0.251, as a farm of 250 hosts.
    #[arg(long)]
    loopback_sources: bool,
    /// Farm token, if the pool requires one.
    #[arg(long)]
    token: Option<String>,
    /// The pool's process id, to report its CPU time and peak RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Seconds every miner has to connect before the measured phase starts anyway.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=600))]
    connect_timeout: u64,
    /// Also print the report as one JSON line, the last line of stdout.
    #[arg(long)]
    json: bool,
}

/// What one miner saw.
#[derive(Default)]
struct MinerLog {
    connect: Option<Duration>,
    /// Broadcast jobs received after the measured phase began: (job id, when).
    jobs: Vec<(String, Instant)>,
    acks: Vec<Duration>,
    accepted: u64,
    rejected: BTreeMap<String, u64>,
    errors: Vec<String>,
}

/// When the measured phase starts (set once every miner connected or gave up).
type Start = watch::Receiver<Option<Instant>>;

fn request<T>(msg: T, token: Option<&str>) -> anyhow::Result<tonic::Request<T>> {
    let mut req = tonic::Request::new(msg);
    if let Some(t) = token {
        let value = t.parse().context("the token is not valid metadata")?;
        req.metadata_mut()
            .insert(nockpool_core::TOKEN_METADATA_KEY, value);
    }
    Ok(req)
}

async fn next(stream: &mut tonic::Streaming<WorkOrder>) -> anyhow::Result<work_order::Kind> {
    let msg = tokio::time::timeout(Duration::from_secs(30), stream.message()).await;
    msg.context("no message within 30 s")??
        .and_then(|m| m.kind)
        .context("stream ended")
}

/// Connects one miner: Hello, Welcome, first job.
async fn connect(
    i: u64,
    args: &Args,
) -> anyhow::Result<(
    MiningPoolClient<Channel>,
    mpsc::Sender<MinerStatus>,
    tonic::Streaming<WorkOrder>,
    u64,
    Job,
)> {
    let mut endpoint =
        Endpoint::from_shared(args.pool.clone())?.connect_timeout(Duration::from_secs(30));
    if args.loopback_sources {
        let host = 2 + (i % 250) as u8;
        endpoint = endpoint.local_address(Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host))));
    }
    let mut client = MiningPoolClient::new(endpoint.connect().await.context("connect")?);
    let (up, rx) = mpsc::channel(1);
    let hello = Hello {
        worker_name: format!("loadtest-{i}"),
        client_version: "pool-loadtest".into(),
        threads: 1,
        previous_connection_id: 0,
        hashrate: 0.0,
    };
    up.send(MinerStatus {
        kind: Some(miner_status::Kind::Hello(hello)),
    })
    .await?;
    let mut stream = client
        .subscribe(request(ReceiverStream::new(rx), args.token.as_deref())?)
        .await
        .context("subscribe")?
        .into_inner();
    let work_order::Kind::Welcome(welcome) = next(&mut stream).await? else {
        bail!("no Welcome")
    };
    let work_order::Kind::Job(first) = next(&mut stream).await? else {
        bail!("no first Job")
    };
    if args.share_rate > 0.0 && first.share_difficulty != 1 {
        bail!(
            "the pool's share difficulty is {}, not 1: start it with --fixed-difficulty 1 (the \
             tool does not grind)",
            first.share_difficulty
        );
    }
    Ok((client, up, stream, welcome.connection_id, first))
}

/// The submission a miner makes: a fresh nonce of its prefix, or every so often an invalid one.
fn submission(
    job: &Job,
    counter: u64,
    previous: Option<[u64; 5]>,
    invalid: Option<u64>,
) -> (String, [u64; 5]) {
    let prefix = job.nonce_prefix;
    let fresh = [counter % P, counter / P % P, 0, 0, prefix];
    match invalid {
        None => (job.job_id.clone(), fresh),
        Some(kind) => match kind % 4 {
            0 => (job.job_id.clone(), [u64::MAX, 0, 0, 0, prefix]),
            1 => (job.job_id.clone(), [counter, 0, 0, 0, (prefix + 1) % P]),
            2 => ("no-such-job".to_owned(), fresh),
            _ => (job.job_id.clone(), previous.unwrap_or(fresh)),
        },
    }
}

async fn miner(i: u64, args: Arc<Args>, mut start: Start, settled: Arc<AtomicU64>) -> MinerLog {
    let mut log = MinerLog::default();
    let began = Instant::now();
    let connection = connect(i, &args).await;
    settled.fetch_add(1, Ordering::Relaxed);
    let (mut client, up, mut stream, connection_id, first) = match connection {
        Ok(c) => c,
        Err(e) => {
            log.errors.push(format!("{e:#}"));
            return log;
        }
    };
    log.connect = Some(began.elapsed());
    let Ok(started) = start
        .wait_for(Option::is_some)
        .await
        .map(|s| s.unwrap_or_else(Instant::now))
    else {
        return log;
    };
    let deadline = started + Duration::from_secs(args.seconds);

    // The stream: the newest job, and the receipt time of every broadcast job.
    let (job_tx, job_rx) = watch::channel(first);
    let reader = tokio::spawn(async move {
        let mut jobs = Vec::new();
        let mut error = None;
        let end = tokio::time::sleep_until((deadline + Duration::from_secs(5)).into());
        tokio::pin!(end);
        loop {
            tokio::select! {
                msg = stream.message() => match msg {
                    Ok(Some(WorkOrder { kind: Some(work_order::Kind::Job(job)) })) => {
                        if job.clean_jobs {
                            jobs.push((job.job_id.clone(), Instant::now()));
                        }
                        let _ = job_tx.send(job);
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(status) => {
                        if Instant::now() < deadline {
                            error = Some(format!("job stream: {status}"));
                        }
                        break;
                    }
                },
                () = &mut end => break,
            }
        }
        (jobs, error)
    });

    if args.share_rate > 0.0 {
        let period = Duration::from_secs_f64(1.0 / args.share_rate);
        // Spread the miners' submissions over the period instead of all at once.
        let phase = period.mul_f64((i % 1000) as f64 / 1000.0);
        let mut tick = tokio::time::interval_at((started + phase).into(), period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut counter, mut sent, mut invalid_sent, mut previous) = (0u64, 0u64, 0u64, None);
        let token = args.token.as_deref();
        loop {
            tick.tick().await;
            if Instant::now() >= deadline {
                break;
            }
            sent += 1;
            // Spread evenly: the n-th submission is invalid when it takes the invalid count
            // up to floor(n × ratio).
            let due = (sent as f64 * args.invalid_ratio).floor() as u64;
            let invalid = (due > invalid_sent).then(|| {
                invalid_sent += 1;
                invalid_sent + i
            });
            let job = job_rx.borrow().clone();
            let (job_id, nonce) = submission(&job, counter, previous, invalid);
            if invalid.is_none() {
                counter += 1;
                previous = Some(nonce);
            }
            let msg = WorkResult {
                connection_id,
                job_id,
                nonce: nonce.to_vec(),
                submission_id: sent,
                ..Default::default()
            };
            let Ok(req) = request(msg, token) else {
                break;
            };
            let t = Instant::now();
            let ack = client.submit_work(req).await;
            let key = match ack {
                Ok(a) if a.get_ref().accepted => {
                    log.acks.push(t.elapsed());
                    log.accepted += 1;
                    continue;
                }
                Ok(a) => {
                    log.acks.push(t.elapsed());
                    RejectReason::try_from(a.get_ref().reason)
                        .map_or("unknown".into(), |r| r.as_str_name().to_owned())
                }
                Err(status) => {
                    log.errors.push(format!("SubmitWork: {status}"));
                    TRANSPORT_ERROR.to_owned()
                }
            };
            *log.rejected.entry(key).or_default() += 1;
        }
    } else {
        tokio::time::sleep_until(deadline.into()).await;
    }
    // Closing the upward stream ends the connection; the reader then sees the stream end.
    drop(up);
    if let Ok((jobs, error)) = reader.await {
        log.jobs = jobs.into_iter().filter(|(_, at)| *at >= started).collect();
        log.errors.extend(error);
    }
    log
}

/// The median time of the pool's own per-share digest on this CPU (a fixed job).
fn digest_cost() -> Option<Duration> {
    let engine = V5Engine::new();
    let params = JobParams::v5(Digest::new([1, 2, 3, 4, 5]).ok()?, 64).ok()?;
    let job = engine.prepare(&params).ok()?;
    let mut times: Vec<Duration> = (0..301u64)
        .filter_map(|c| {
            let nonce = Nonce::new([c, 0, 0, 0, 7]).ok()?;
            let t = Instant::now();
            std::hint::black_box(engine.digest(&job, &nonce));
            Some(t.elapsed())
        })
        .collect();
    times.sort_unstable();
    nockpool_benches::percentile(&times, 0.5)
}

/// The soft limit on open files, if /proc says.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    ensure_loopback(&args.pool).map_err(anyhow::Error::msg)?;
    if !(args.share_rate >= 0.0 && args.share_rate <= 50.0) {
        bail!("--share-rate must be between 0 and 50 shares per miner per second");
    }
    if !(0.0..=1.0).contains(&args.invalid_ratio) {
        bail!("--invalid-ratio must be between 0 and 1");
    }
    if let Some(limit) = open_files_limit() {
        if limit < args.miners + 64 {
            bail!(
                "{} miners need about {} open files; the limit is {limit}: raise it (ulimit -n)",
                args.miners,
                args.miners + 64
            );
        }
    }
    let proc = |pid: Option<u32>| pid.and_then(|p| ProcStats::read(p).ok());
    if let Some(pid) = args.server_pid {
        ProcStats::read(pid).with_context(|| format!("cannot read /proc/{pid} (--server-pid)"))?;
    }
    let digest = digest_cost();

    let server_start = proc(args.server_pid);
    let (start_tx, start_rx) = watch::channel(None);
    let settled = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..args.miners)
        .map(|i| tokio::spawn(miner(i, args.clone(), start_rx.clone(), settled.clone())))
        .collect();
    // The measured phase starts when every miner connected or failed (or at the timeout).
    let give_up = Instant::now() + Duration::from_secs(args.connect_timeout);
    while settled.load(Ordering::Relaxed) < args.miners && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the last Welcomes' jobs drain before timing anything.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let server_steady = proc(args.server_pid);
    let me = Some(std::process::id());
    let tool_steady = proc(me);
    let started = Instant::now();
    let _ = start_tx.send(Some(started));
    tokio::time::sleep_until((started + Duration::from_secs(args.seconds)).into()).await;
    let server_end = proc(args.server_pid);
    let tool_end = proc(me);
    let steady = started.elapsed();

    let mut samples = LoadSamples {
        miners: args.miners,
        steady,
        digest,
        tool_cpu_steady: tool_steady
            .zip(tool_end)
            .map(|(a, b)| b.cpu.saturating_sub(a.cpu)),
        ..LoadSamples::default()
    };
    let mut jobs: HashMap<String, Vec<Instant>> = HashMap::new();
    for task in tasks {
        let log = match tokio::time::timeout(Duration::from_secs(60), task).await {
            Ok(Ok(log)) => log,
            Ok(Err(e)) => MinerLog {
                errors: vec![format!("miner task: {e}")],
                ..MinerLog::default()
            },
            Err(_) => MinerLog {
                errors: vec!["miner did not finish within 60 s of the end".into()],
                ..MinerLog::default()
            },
        };
        samples.connect.extend(log.connect);
        for (id, at) in log.jobs {
            jobs.entry(id).or_default().push(at);
        }
        samples.acks.extend(log.acks);
        samples.accepted += log.accepted;
        for (k, n) in log.rejected {
            *samples.rejected.entry(k).or_default() += n;
        }
        samples.errors += log.errors.len() as u64;
        if samples.first_error.is_none() {
            samples.first_error = log.errors.into_iter().next();
        }
    }
    samples.fanout = jobs
        .into_values()
        .map(|times| {
            let first = times.iter().min().copied().unwrap_or_else(Instant::now);
            times.iter().map(|t| *t - first).collect()
        })
        .collect();
    if let (Some(a), Some(b), Some(c)) = (server_start, server_steady, server_end) {
        samples.server = Some([a, b, c]);
    }
    let report = LoadReport::from_samples(samples);
    println!(
        "pool-loadtest: {} miners{}, {} s measured, {} shares/s per miner, invalid ratio {}",
        args.miners,
        if args.loopback_sources {
            " over 250 source addresses"
        } else {
            ""
        },
        args.seconds,
        args.share_rate,
        args.invalid_ratio
    );
    print!("{}", report.table());
    if args.json {
        println!("{}", report.to_json());
    }
    Ok(())
}
