//! A custom miner: embeds `PoolClient` with its own `PowEngine`.
//!
//! The engine wraps the stock `V5Engine` with a different batching (the client hands it
//! 4096-nonce ranges; it grinds them in small sub-batches, checking the stop flag between them)
//! and counts what it does, so the example can show that the client's hashrate is exactly the
//! nonces the engine tried.
//!
//! ```text
//! cargo run -p nockpool-examples --example custom_miner               # against a local devnet pool
//! cargo run -p nockpool-examples --example custom_miner -- 10.0.0.5   # against a real pool
//! ```
//! Stops after 5 accepted shares and a first hashrate reading (or after 2 minutes).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nockpool_client::PoolClient;
use nockpool_core::{Digest, JobParams, Nonce, NonceRange, Target};
use nockpool_pow::{PowEngine, PowError, PreparedJob, V5Engine};
use nockpool_testkit::{v5_thread_hashrate, wait_for_stats, LocalPool};

/// `V5Engine` in sub-batches of `batch` nonces, with counters.
struct CountingEngine {
    inner: V5Engine,
    batch: u64,
    search_calls: AtomicU64,
    nonces_tried: AtomicU64,
    shares_seen: AtomicU64,
}

impl PowEngine for CountingEngine {
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
        self.search_calls.fetch_add(1, Ordering::Relaxed);
        let mut tried = 0;
        while tried < range.count && !stop.load(Ordering::Relaxed) {
            let sub = NonceRange {
                start: range.start + u128::from(tried),
                count: self.batch.min(range.count - tried),
                ..range
            };
            let n = self
                .inner
                .search(job, sub, target, stop, &mut |nonce, digest| {
                    self.shares_seen.fetch_add(1, Ordering::Relaxed);
                    found(nonce, digest)
                });
            if n == 0 {
                break;
            }
            tried += n;
        }
        self.nonces_tried.fetch_add(tried, Ordering::Relaxed);
        tried
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (pool_url, local) = match std::env::args().nth(1) {
        Some(url) => (url, None),
        None => {
            // No blocks, about two shares a second per thread on this machine.
            let share_difficulty = ((v5_thread_hashrate() / 2.0) as u64).max(1);
            let local = LocalPool::start(u64::MAX, share_difficulty).await;
            (local.url(), Some(local))
        }
    };

    let engine = Arc::new(CountingEngine {
        inner: V5Engine::new(),
        batch: 64,
        search_calls: AtomicU64::new(0),
        nonces_tried: AtomicU64::new(0),
        shares_seen: AtomicU64::new(0),
    });
    let client = PoolClient::builder()
        .pools([pool_url.as_str()])
        .worker("custom-miner")
        .engine_arc(engine.clone())
        .threads(2)
        .build()?;
    let handle = client.handle();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(client.run(async {
        let _ = stopped.await;
    }));

    println!("custom miner mining for {pool_url} with a counting, 64-nonce-batch V5 engine");
    let stats = wait_for_stats(&handle, Duration::from_secs(120), |s| {
        s.accepted >= 5 && s.hashrate_1m > 0.0
    })
    .await;
    let _ = stop.send(());
    running.await??;

    let tried = engine.nonces_tried.load(Ordering::Relaxed);
    println!("client:  {stats}");
    println!(
        "engine:  {} search calls, {} nonces tried, {} shares reported",
        engine.search_calls.load(Ordering::Relaxed),
        tried,
        engine.shares_seen.load(Ordering::Relaxed)
    );
    // The client's hash count is what the engine really tried: nothing estimated.
    let counted = handle.stats().total_hashes;
    println!("client counted {counted} hashes; the engine tried {tried}");
    if let Some(local) = local {
        local.stop().await;
    }
    Ok(())
}
