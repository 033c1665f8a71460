//! A throw-away pool on the devnet for tests and examples that run real `PoolClient`s, and the
//! measurements that size their difficulties to the machine.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nockpool_client::{ClientHandle, ClientStats};
use nockpool_core::{Difficulty, Digest, JobParams, NonceRange, PubkeyHash, Target};
use nockpool_pow::{PowEngine, V5Engine};
use nockpool_server::{Devnet, PoolHandle, PoolServer, ServerError, VardiffConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long [`LocalPool::stop`] waits for the server to finish.
const STOP_WAIT: Duration = Duration::from_secs(40);

/// A pool server on a devnet (a simulated chain) with fixed difficulties, serving on
/// `127.0.0.1`.
pub struct LocalPool {
    /// The bound address.
    pub addr: SocketAddr,
    /// The server's handle.
    pub handle: PoolHandle,
    /// The devnet behind it.
    pub devnet: Devnet,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServerError>>,
    _dir: Option<tempfile::TempDir>,
}

impl LocalPool {
    /// A pool in a fresh temporary data dir on `127.0.0.1:<any>`: its devnet has a fixed
    /// `network_difficulty`, its miners a fixed `share_difficulty`.
    pub async fn start(network_difficulty: u64, share_difficulty: u64) -> LocalPool {
        let dir = tempfile::tempdir().expect("a temporary data dir");
        let addr = "127.0.0.1:0".parse().expect("an address");
        let mut pool =
            LocalPool::start_in(dir.path(), addr, network_difficulty, share_difficulty, None).await;
        pool._dir = Some(dir);
        pool
    }

    /// A pool with its data in `dir`, serving on `addr` (port 0: any), requiring `token` if
    /// one is given. A second pool on the same `dir` after [`stop`](LocalPool::stop) continues
    /// the same chain and records.
    pub async fn start_in(
        dir: &Path,
        addr: SocketAddr,
        network_difficulty: u64,
        share_difficulty: u64,
        token: Option<&str>,
    ) -> LocalPool {
        let devnet = Devnet::builder()
            .data_dir(dir)
            .initial_difficulty(network_difficulty)
            .retarget(false)
            .open()
            .expect("the devnet opens");
        let server = PoolServer::builder()
            .backend(devnet.clone())
            // A placeholder payee: the devnet is a simulation and pays nobody.
            .mining_address(PubkeyHash::from_digest(
                Digest::new([1, 2, 3, 4, 5]).expect("canonical"),
            ))
            .data_dir(dir)
            .vardiff(VardiffConfig::fixed(share_difficulty))
            .token(token.map(str::to_owned))
            .build()
            .expect("the pool builds");
        let handle = server.handle();
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().expect("the bound address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(listener, async {
            let _ = stopped.await;
        }));
        LocalPool {
            addr,
            handle,
            devnet,
            stop,
            task,
            _dir: None,
        }
    }

    /// `http://<addr>`, for `PoolClient::builder().pools(..)`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the pool gracefully and releases its data dir (a new pool may open it at once).
    ///
    /// # Panics
    /// When the server does not stop in time or its run failed.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(STOP_WAIT, self.task)
            .await
            .expect("the pool stops")
            .expect("the pool task")
            .expect("the pool ran without error");
        self.devnet.close();
    }
}

/// Hashes per second of one `V5Engine` thread on this machine, from a short timed search
/// (about 200 ms, once per process), to pick difficulties that give results in seconds on any
/// machine.
pub fn v5_thread_hashrate() -> f64 {
    static RATE: OnceLock<f64> = OnceLock::new();
    *RATE.get_or_init(|| {
        let engine = V5Engine::new();
        let params = JobParams::v5(Digest::new([9, 8, 7, 6, 5]).expect("canonical"), 64)
            .expect("pow_len 64");
        let job = engine.prepare(&params).expect("a v5 job");
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
        tried as f64 / started.elapsed().as_secs_f64()
    })
}

/// Waits until `done(stats)` holds, re-checking whenever the client reports an event.
///
/// # Panics
/// After `limit` (a test or an example must end by itself, never hang).
pub async fn wait_for_stats(
    handle: &ClientHandle,
    limit: Duration,
    mut done: impl FnMut(&ClientStats) -> bool,
) -> ClientStats {
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
    match tokio::time::timeout(limit, wait).await {
        Ok(stats) => stats,
        Err(_) => panic!("gave up after {limit:?}; stats: {}", handle.stats()),
    }
}
