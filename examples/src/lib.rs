//! Helpers shared by the runnable examples of this package (`examples/*.rs`, run with
//! `cargo run -p nockpool-examples --example <name>`; CI runs each one briefly).
//!
//! # Layout
//! - [`LocalPool`]: a throw-away pool server on the embedded devnet (a simulated development
//!   chain, not Nockchain mainnet), listening on `127.0.0.1`, for examples that need a pool.
//! - [`wait_for_stats`]: waits, woken by client events, until a client's stats say "done".
//! - [`measure_hashrate`]: how fast one V5 thread grinds here, to pick difficulties that give
//!   results in seconds on any machine.
//!
//! # Example
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let pool = nockpool_examples::LocalPool::start(1_000, 100).await?;
//! println!("mine against {}", pool.url());
//! pool.stop().await?;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::Context;
use nockpool_client::{ClientHandle, ClientStats};
use nockpool_core::{Difficulty, Digest, JobParams, NonceRange, PubkeyHash, Target};
use nockpool_pow::{PowEngine, V5Engine};
use nockpool_server::{Devnet, PoolHandle, PoolServer, ServerError, VardiffConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A pool server on a fresh devnet in a temporary directory, serving on `127.0.0.1:<any>`.
pub struct LocalPool {
    addr: SocketAddr,
    handle: PoolHandle,
    devnet: Devnet,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServerError>>,
    _dir: tempfile::TempDir,
}

impl LocalPool {
    /// Starts a pool whose devnet has a fixed `network_difficulty` and whose miners get a fixed
    /// `share_difficulty` (tiny values make an example finish in seconds).
    pub async fn start(
        network_difficulty: u64,
        share_difficulty: u64,
    ) -> anyhow::Result<LocalPool> {
        let dir = tempfile::tempdir().context("temporary data dir")?;
        let devnet = Devnet::builder()
            .data_dir(dir.path())
            .initial_difficulty(network_difficulty)
            .retarget(false)
            .open()?;
        let server = PoolServer::builder()
            .backend(devnet.clone())
            // A placeholder payee: the devnet is a simulation and pays nobody.
            .mining_address(PubkeyHash::from_digest(Digest::new([1, 2, 3, 4, 5])?))
            .data_dir(dir.path())
            .vardiff(VardiffConfig::fixed(share_difficulty))
            .build()?;
        let handle = server.handle();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(listener, async {
            let _ = stopped.await;
        }));
        Ok(LocalPool {
            addr,
            handle,
            devnet,
            stop,
            task,
            _dir: dir,
        })
    }

    /// The pool's address for `PoolClient::builder().pools(..)`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The pool's handle (snapshots, events).
    pub fn handle(&self) -> &PoolHandle {
        &self.handle
    }

    /// The devnet behind the pool.
    pub fn devnet(&self) -> &Devnet {
        &self.devnet
    }

    /// Stops the pool gracefully.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await??;
        self.devnet.close();
        Ok(())
    }
}

/// Waits until `done(stats)` holds, re-checking whenever the client reports an event; fails
/// after `limit` (an example must end by itself, never hang).
pub async fn wait_for_stats(
    handle: &ClientHandle,
    limit: Duration,
    mut done: impl FnMut(&ClientStats) -> bool,
) -> anyhow::Result<ClientStats> {
    let mut events = handle.events();
    let wait = async {
        loop {
            let stats = handle.stats();
            if done(&stats) {
                return stats;
            }
            // Any event, or a lag, is a reason to look again.
            let _ = events.recv().await;
        }
    };
    tokio::time::timeout(limit, wait)
        .await
        .with_context(|| format!("gave up after {limit:?}; stats: {}", handle.stats()))
}

/// Hashes per second of one `V5Engine` thread on this machine, from a short timed search
/// (about 200 ms).
pub fn measure_hashrate() -> anyhow::Result<f64> {
    let engine = V5Engine::new();
    let job = engine.prepare(&JobParams::v5(Digest::new([9, 8, 7, 6, 5])?, 64)?)?;
    let never = Target::from_difficulty(Difficulty::saturating(u64::MAX));
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let mut tried = 0u64;
    while started.elapsed() < Duration::from_millis(200) {
        let range = NonceRange {
            prefix: 1,
            lane: 0,
            start: u128::from(tried),
            count: 256,
        };
        tried += engine.search(&job, range, &never, &stop, &mut |_, _| {});
    }
    Ok(tried as f64 / started.elapsed().as_secs_f64())
}
