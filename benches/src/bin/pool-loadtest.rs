//! `pool-loadtest`: connects many simulated miners to a nockpool pool server and reports how
//! the pool copes: connect time, job fan-out, share acks by reason, submit round trips.
//!
//! **It generates load against a pool: point it only at a pool you run yourself.** Each miner
//! speaks the raw protocol (Hello, Welcome, jobs; SubmitWork), grinds its job with the real
//! v5 digest on a bounded budget (`--hashes-per-sec`), or with `--invalid` submits deliberately
//! invalid shares (malformed, wrong prefix, unknown job, low difficulty). It stops by itself
//! after `--seconds` (at most 600). Fan-out latency is the spread of the receipt times of the
//! same broadcast job id across miners (delay after the first miner got it).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use nockpool_core::proto::mining_pool_client::MiningPoolClient;
use nockpool_core::proto::{miner_status, work_order, Hello, Job, MinerStatus, RejectReason};
use nockpool_core::proto::{WorkOrder, WorkResult};
use nockpool_core::{Digest, Job as CoreJob, P};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;

/// Load test for a nockpool pool server you run yourself.
#[derive(Debug, Parser)]
struct Args {
    /// Pool URL.
    #[arg(long, default_value = "http://127.0.0.1:7777")]
    pool: String,
    /// Simulated miners.
    #[arg(long, default_value_t = 180, value_parser = clap::value_parser!(u64).range(1..=5000))]
    miners: u64,
    /// Seconds to run.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,
    /// Digests each miner computes per second.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(10..=1_000_000))]
    hashes_per_sec: u64,
    /// Submit deliberately invalid shares (ten per second per miner) instead of grinding.
    #[arg(long)]
    invalid: bool,
    /// Farm token, if the pool requires one.
    #[arg(long)]
    token: Option<String>,
    /// Spread miners over source addresses 127.0.0.2–127.0.0.251 (loopback pools only), so the
    /// pool's per-IP connection limit sees a farm of hosts.
    #[arg(long)]
    loopback_sources: bool,
}

#[derive(Default)]
struct Stats {
    connect: Vec<Duration>,
    failed: Vec<String>,
    jobs: HashMap<String, Vec<Instant>>,
    acks: BTreeMap<String, u64>,
    rtt: Vec<Duration>,
}

type Shared = Arc<Mutex<Stats>>;

fn stats(s: &Shared) -> std::sync::MutexGuard<'_, Stats> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

fn request<T>(msg: T, token: Option<&str>) -> anyhow::Result<tonic::Request<T>> {
    let mut req = tonic::Request::new(msg);
    if let Some(t) = token {
        req.metadata_mut().insert(
            nockpool_core::TOKEN_METADATA_KEY,
            t.parse().context("invalid token")?,
        );
    }
    Ok(req)
}

async fn next(stream: &mut tonic::Streaming<WorkOrder>) -> anyhow::Result<work_order::Kind> {
    let msg = tokio::time::timeout(Duration::from_secs(10), stream.message()).await;
    msg.context("no message within 10 s")??
        .and_then(|m| m.kind)
        .context("stream ended")
}

/// Nonces of counters `from..from + n` (lane 0, the job's prefix) whose digest meets the share
/// target (`meet`), or does not (`!meet`). A job that does not decode yields none.
fn grind(job: &Job, from: u64, n: u64, meet: bool) -> Vec<[u64; 5]> {
    let Ok(job) = CoreJob::try_from(job) else {
        return Vec::new();
    };
    let (commitment, pow_len) = (job.params.commitment, job.params.pow_len);
    (from..from + n)
        .map(|c| [c, 0, 0, 0, job.nonce_prefix])
        .filter(|nonce| {
            let d = nockpool_pow::v5::digest(commitment.limbs(), nonce, pow_len);
            Digest::new(d).is_ok_and(|d| d.meets(&job.share_target) == meet)
        })
        .collect()
}

async fn miner(i: u64, args: Arc<Args>, st: Shared, deadline: Instant) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut endpoint =
        Endpoint::from_shared(args.pool.clone())?.connect_timeout(Duration::from_secs(10));
    if args.loopback_sources {
        let host = 2 + (i % 250) as u8;
        endpoint = endpoint.local_address(Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host))));
    }
    let mut client = MiningPoolClient::new(endpoint.connect().await?);
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
    let token = args.token.as_deref();
    let mut stream = client
        .subscribe(request(ReceiverStream::new(rx), token)?)
        .await?
        .into_inner();
    let work_order::Kind::Welcome(welcome) = next(&mut stream).await? else {
        bail!("no Welcome")
    };
    let work_order::Kind::Job(first) = next(&mut stream).await? else {
        bail!("no first Job")
    };
    stats(&st).connect.push(started.elapsed());
    let (job_tx, job_rx) = watch::channel(first);
    let reader = st.clone();
    tokio::spawn(async move {
        while let Ok(Some(order)) = stream.message().await {
            let Some(work_order::Kind::Job(job)) = order.kind else {
                continue;
            };
            if job.clean_jobs {
                let mut s = stats(&reader);
                s.jobs
                    .entry(job.job_id.clone())
                    .or_default()
                    .push(Instant::now());
            }
            let _ = job_tx.send(job);
        }
    });
    let (mut counter, mut submission) = (1u64, 0u64);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while Instant::now() < deadline {
        tick.tick().await;
        let job = job_rx.borrow().clone();
        let mut result = WorkResult {
            connection_id: welcome.connection_id,
            job_id: job.job_id.clone(),
            ..Default::default()
        };
        let budget = if args.invalid {
            4
        } else {
            args.hashes_per_sec / 10
        };
        let (j, from, meet) = (job.clone(), counter, !args.invalid);
        let found = tokio::task::spawn_blocking(move || grind(&j, from, budget, meet)).await?;
        counter += budget;
        let nonces: Vec<[u64; 5]> = if args.invalid {
            // Cycles: non-canonical limb, another connection's prefix, unknown job, low digest.
            let low = found.into_iter().take(1).collect();
            match submission % 4 {
                0 => vec![[u64::MAX, 0, 0, 0, job.nonce_prefix]],
                1 => vec![[counter, 0, 0, 0, (job.nonce_prefix + 1) % P]],
                2 => {
                    result.job_id = "no-such-job".into();
                    low
                }
                _ => low,
            }
        } else {
            found
        };
        for nonce in nonces {
            submission += 1;
            let msg = WorkResult {
                nonce: nonce.to_vec(),
                submission_id: submission,
                ..result.clone()
            };
            let sent = Instant::now();
            let ack = client.submit_work(request(msg, token)?).await;
            let key = match ack {
                Ok(a) if a.get_ref().accepted => "accepted".to_owned(),
                Ok(a) => RejectReason::try_from(a.get_ref().reason)
                    .map_or("unknown".into(), |r| r.as_str_name().to_owned()),
                Err(e) => format!("rpc error {:?}", e.code()),
            };
            let mut s = stats(&st);
            s.rtt.push(sent.elapsed());
            *s.acks.entry(key).or_default() += 1;
        }
    }
    Ok(())
}

fn spread(v: &mut [Duration]) -> String {
    v.sort();
    let at = |q: f64| {
        v.get(((v.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    format!(
        "min {:?}  p50 {:?}  p99 {:?}  max {:?}  (n = {})",
        at(0.0),
        at(0.5),
        at(0.99),
        at(1.0),
        v.len()
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    let st = Shared::default();
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let tasks: Vec<_> = (0..args.miners)
        .map(|i| {
            let (args, st) = (args.clone(), st.clone());
            tokio::spawn(async move {
                if let Err(e) = miner(i, args, st.clone(), deadline).await {
                    stats(&st).failed.push(format!("{e:#}"));
                }
            })
        })
        .collect();
    for t in tasks {
        // A miner ends at the deadline (or after a bounded connect / read timeout).
        let _ = tokio::time::timeout_at((deadline + Duration::from_secs(30)).into(), t).await;
    }
    let mut s = stats(&st);
    let mode = match args.invalid {
        true => "invalid shares".to_owned(),
        false => format!("{} digests/s each", args.hashes_per_sec),
    };
    println!(
        "pool {}: {} miners for {} s, {mode}",
        args.pool, args.miners, args.seconds
    );
    println!(
        "connected {} / failed {}{}",
        s.connect.len(),
        s.failed.len(),
        s.failed
            .first()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    println!("connect time: {}", spread(&mut s.connect));
    let mut fan: Vec<Duration> = Vec::new();
    for times in s.jobs.values().filter(|t| t.len() > 1) {
        let first = times.iter().min().copied().unwrap_or_else(Instant::now);
        fan.extend(times.iter().map(|t| *t - first));
    }
    println!(
        "job fan-out ({} broadcast jobs): {}",
        s.jobs.len(),
        spread(&mut fan)
    );
    println!("shares submitted {}: {:?}", s.rtt.len(), s.acks);
    println!("submit round trip: {}", spread(&mut s.rtt));
    Ok(())
}
