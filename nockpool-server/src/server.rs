//! [`PoolServer`]: the builder, the run loop and the background tasks around [`Pool`].

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nockpool_core::proto::mining_pool_server::MiningPoolServer;
use nockpool_core::{Backoff, MiningShare, PubkeyHash};
use nockpool_pow::{PowEngine, V5Engine};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;
use tonic::transport::{Identity, ServerTlsConfig};

use crate::accept::{listen, AcceptConfig, Incoming};
use crate::events::{EventBus, PoolEvent, PoolSnapshot};
use crate::http::HttpConfig;
use crate::limits::Limits;
use crate::pool::{Pool, PoolConfig};
use crate::service::{stopped, PoolService};
use crate::store::{BlockRecord, Store};
use crate::vardiff::VardiffConfig;
use crate::{ChainBackend, ChainError, ServerError};

/// Most coinbase recipients a farm may name (`-p` twice).
pub const MAX_MINING_ADDRESSES: usize = 2;

/// Something that names who the farm's coinbase pays: a [`MiningShare`] or a bare
/// [`PubkeyHash`] (share 1).
pub trait IntoMiningShare {
    /// The coinbase entry.
    fn into_mining_share(self) -> MiningShare;
}

impl IntoMiningShare for MiningShare {
    fn into_mining_share(self) -> MiningShare {
        self
    }
}

impl IntoMiningShare for PubkeyHash {
    fn into_mining_share(self) -> MiningShare {
        MiningShare {
            address: self,
            share: 1,
        }
    }
}

/// Configures a [`PoolServer`]; see [`PoolServer::builder`].
#[must_use]
pub struct PoolServerBuilder {
    listen: SocketAddr,
    backend: Option<Arc<dyn ChainBackend>>,
    engine: Option<Arc<dyn PowEngine>>,
    mining: Vec<MiningShare>,
    data_dir: Option<PathBuf>,
    token: Option<String>,
    vardiff: VardiffConfig,
    pub(crate) fixed_difficulty: Option<u64>,
    pub(crate) limits: Limits,
    stale_grace: Duration,
    summary_interval: Duration,
    status_interval: Duration,
    tls: Option<TlsSource>,
    http: Option<HttpConfig>,
}

/// A TLS certificate chain and its private key, PEM-encoded, or the files that hold them.
enum TlsSource {
    Pem { cert: Vec<u8>, key: Vec<u8> },
    Files { cert: PathBuf, key: PathBuf },
}

impl TlsSource {
    fn read(&self) -> Result<(Vec<u8>, Vec<u8>), ServerError> {
        match self {
            TlsSource::Pem { cert, key } => Ok((cert.clone(), key.clone())),
            TlsSource::Files { cert, key } => {
                let read = |path: &PathBuf, what: &str| {
                    std::fs::read(path).map_err(|e| ServerError::Config {
                        setting: "tls",
                        reason: format!("cannot read the TLS {what} {}: {e}", path.display()),
                    })
                };
                Ok((read(cert, "certificate")?, read(key, "key")?))
            }
        }
    }
}

/// How long a TLS handshake may take before the connection is dropped (a peer that opens a
/// socket and never finishes the handshake must not hold it).
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The rustls server configuration for `pem`; an unreadable certificate or key is a
/// configuration error that says which.
fn server_tls(source: &TlsSource) -> Result<ServerTlsConfig, ServerError> {
    let (cert, key) = source.read()?;
    let config = ServerTlsConfig::new()
        .identity(Identity::from_pem(cert, key))
        .timeout(TLS_HANDSHAKE_TIMEOUT);
    // Building the acceptor parses both PEMs and checks that the key matches: do it now, so a
    // bad file is refused at start-up rather than on the first connection.
    tonic::transport::Server::builder()
        .tls_config(config.clone())
        .map_err(|e| ServerError::Config {
            setting: "tls",
            reason: format!(
                "cannot use the TLS certificate and key ({}): give a PEM certificate chain                  (leaf first) and its PEM private key",
                error_chain(&e)
            ),
        })?;
    Ok(config)
}

/// An error and its sources, `: `-joined (tonic's own Display says only "transport error").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// How long the pool waits for a backend's answer to a status or configuration call.
const BACKEND_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The default listen address (all interfaces, port 7777).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:7777";

impl PoolServerBuilder {
    /// The address [`PoolServer::run`] binds (default `0.0.0.0:7777`).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The chain backend (required): the embedded [`Devnet`](crate::Devnet), a Nockchain node
    /// backend, or your own. An `Arc<dyn ChainBackend>` works too.
    pub fn backend(mut self, backend: impl ChainBackend) -> Self {
        self.backend = Some(Arc::new(backend));
        self
    }

    /// The proof-of-work engine used to re-check shares (default [`V5Engine`]).
    pub fn engine(mut self, engine: impl PowEngine) -> Self {
        self.engine = Some(Arc::new(engine));
        self
    }

    /// Adds a coinbase recipient (call once or twice; at least one is required). Passed to the
    /// backend at start through [`ChainBackend::set_mining_addresses`].
    pub fn mining_address(mut self, address: impl IntoMiningShare) -> Self {
        self.mining.push(address.into_mining_share());
        self
    }

    /// Where found blocks and worker totals are kept (`<dir>/pool.redb`). Without one they live
    /// in memory only and a restart forgets them (a warning is logged).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// A farm token miners must send in the `x-nockpool-token` metadata (`None`: open pool).
    pub fn token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// Vardiff settings (default: one share per ~10 s per miner).
    pub fn vardiff(mut self, vardiff: VardiffConfig) -> Self {
        self.vardiff = vardiff;
        self
    }

    /// Turns vardiff off: every connection mines at share difficulty `difficulty` for its
    /// whole life (whatever its Hello, status reports or share rate say), overriding the
    /// difficulty range of [`vardiff`](Self::vardiff). Useful to operators who want a constant
    /// share target, and to load tests: at difficulty 1 every nonce is a share.
    pub fn fixed_difficulty(mut self, difficulty: u64) -> Self {
        self.fixed_difficulty = Some(difficulty);
        self
    }

    /// Per-connection limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How long shares for the previous job are still accepted after a new template
    /// (default 3 s: covers shares in flight while miners switch).
    pub fn stale_grace(mut self, grace: Duration) -> Self {
        self.stale_grace = grace;
        self
    }

    /// How often the one-line farm summary is logged (default 60 s).
    pub fn summary_interval(mut self, interval: Duration) -> Self {
        self.summary_interval = interval;
        self
    }

    /// How often miners are asked to report their status (default 30 s).
    pub fn status_interval(mut self, interval: Duration) -> Self {
        self.status_interval = interval;
        self
    }

    /// Serve over TLS (rustls) with this certificate chain (leaf first) and private key, both
    /// PEM. Miners must then connect with TLS (`https://`, the miner's `--tls-ca` or
    /// `--tls`); a plaintext connection fails its handshake. The files are checked in
    /// [`build`](Self::build).
    pub fn tls_pem(mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.tls = Some(TlsSource::Pem {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// Like [`tls_pem`](Self::tls_pem), with the PEMs read from these files in
    /// [`build`](Self::build) (an unreadable file is a configuration error naming it).
    pub fn tls_files(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls = Some(TlsSource::Files {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// Serves the status API, `/metrics`, the dashboard and alerts while the pool runs (off by
    /// default). A port that cannot be bound is logged; the pool mines on without it.
    pub fn http(mut self, http: Option<HttpConfig>) -> Self {
        self.http = http;
        self
    }

    /// Validates the settings and opens the data dir.
    pub fn build(mut self) -> Result<PoolServer, ServerError> {
        let backend = self.backend.ok_or_else(|| ServerError::Config {
            setting: "backend",
            reason: "no chain backend: pass .backend(..), e.g. Devnet::builder().open()?".into(),
        })?;
        if self.mining.is_empty() {
            return Err(ServerError::Config {
                setting: "mining_address",
                reason: "no mining address: pass .mining_address(..) with the farm's Nockchain \
                         address"
                    .into(),
            });
        }
        if self.mining.len() > MAX_MINING_ADDRESSES {
            return Err(ServerError::Config {
                setting: "mining_address",
                reason: format!(
                    "{} mining addresses given; at most {MAX_MINING_ADDRESSES} may split the \
                     coinbase",
                    self.mining.len()
                ),
            });
        }
        if let Some(token) = &self.token {
            if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ServerError::Config {
                    setting: "token",
                    reason: "the farm token must be non-empty printable ASCII without spaces"
                        .into(),
                });
            }
        }
        if let Some(difficulty) = self.fixed_difficulty {
            if difficulty == 0 {
                return Err(ServerError::Config {
                    setting: "fixed_difficulty",
                    reason: "it must be at least 1".into(),
                });
            }
            self.vardiff = VardiffConfig {
                initial_difficulty: difficulty,
                min_difficulty: difficulty,
                max_difficulty: difficulty,
                ..self.vardiff
            };
        }
        let tls = self.tls.as_ref().map(server_tls).transpose()?;
        self.vardiff.validate()?;
        self.limits.validate()?;
        if let Some(http) = &self.http {
            http.validate()?;
        }
        if self.summary_interval.is_zero() {
            return Err(ServerError::Config {
                setting: "summary_interval",
                reason: "it must be above zero".into(),
            });
        }
        if self.data_dir.is_none() {
            tracing::warn!(
                "no data dir: found blocks and worker totals are kept in memory only and a \
                 restart forgets them"
            );
        }
        let events = EventBus::new(1024);
        let store = Arc::new(Store::open(self.data_dir.as_deref(), events.clone())?);
        let (found_tx, found_rx) = mpsc::unbounded_channel();
        let config = PoolConfig {
            token: self.token,
            vardiff: self.vardiff,
            limits: self.limits,
            stale_grace: self.stale_grace,
            mining: self.mining,
            summary_interval: self.summary_interval,
            status_interval_secs: self.status_interval.as_secs().clamp(1, u32::MAX as u64) as u32,
        };
        let engine = self
            .engine
            .unwrap_or_else(|| Arc::new(V5Engine::new()) as Arc<dyn PowEngine>);
        let offline_after =
            crate::http::default_offline_after(config.vardiff.target_share_interval);
        let pool = Arc::new(Pool::new(config, engine, store, found_tx, events)?);
        Ok(PoolServer {
            pool,
            backend,
            listen: self.listen,
            found_rx,
            tls,
            http: self.http.map(|h| (h, offline_after)),
        })
    }
}

/// A farm's pool server: hands out jobs over gRPC, checks shares, runs vardiff, keeps
/// accounting and submits found blocks to its [`ChainBackend`].
///
/// Built with [`PoolServer::builder`]; started with [`run`](PoolServer::run) (binds the
/// configured address) or [`serve`](PoolServer::serve) (takes a bound listener); observed through
/// a [`PoolHandle`].
pub struct PoolServer {
    pool: Arc<Pool>,
    backend: Arc<dyn ChainBackend>,
    listen: SocketAddr,
    found_rx: mpsc::UnboundedReceiver<BlockRecord>,
    tls: Option<ServerTlsConfig>,
    /// The status API's settings and the default offline delay.
    http: Option<(HttpConfig, Duration)>,
}

/// A cheap, cloneable view of a pool: snapshots and events. Usable before, while and after the
/// server runs.
#[derive(Clone)]
pub struct PoolHandle {
    pub(crate) pool: Arc<Pool>,
}

impl PoolHandle {
    /// The pool's state right now.
    pub fn snapshot(&self) -> PoolSnapshot {
        self.pool.snapshot()
    }

    /// A receiver of every [`PoolEvent`] from now on (lagging receivers lose the oldest).
    pub fn events(&self) -> broadcast::Receiver<PoolEvent> {
        self.pool.subscribe_events()
    }

    /// Found blocks on record in the data dir, newest first: up to `limit` whose ids are below
    /// `before` (from the newest when `None`). Reads the database: call it from a blocking
    /// context (e.g. `tokio::task::spawn_blocking`) in async code.
    pub fn found_blocks(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<BlockRecord>, ServerError> {
        self.pool.found_blocks(before, limit)
    }

    /// The address the server is listening on, once it is.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.pool.listen_addr()
    }

    /// The address the status API and dashboard are served on, once they are (`None` without
    /// [`PoolServerBuilder::http`], or when the address could not be bound).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.pool.http_addr()
    }
}

impl std::fmt::Debug for PoolHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolHandle")
            .field("listen_addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}

impl PoolServer {
    /// A builder with the defaults.
    pub fn builder() -> PoolServerBuilder {
        PoolServerBuilder {
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 7777))),
            backend: None,
            engine: None,
            mining: Vec::new(),
            data_dir: None,
            token: None,
            vardiff: VardiffConfig::default(),
            fixed_difficulty: None,
            limits: Limits::default(),
            stale_grace: Duration::from_secs(3),
            summary_interval: Duration::from_secs(60),
            status_interval: Duration::from_secs(30),
            tls: None,
            http: None,
        }
    }

    /// A handle for snapshots and events.
    pub fn handle(&self) -> PoolHandle {
        PoolHandle {
            pool: self.pool.clone(),
        }
    }

    /// Binds the configured address and serves until `shutdown` resolves.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let backlog = self.pool.config.limits.accept_backlog;
        let listener = listen(self.listen, backlog).map_err(|source| ServerError::Bind {
            addr: self.listen,
            source,
        })?;
        self.serve(listener, shutdown).await
    }

    /// Serves on an already bound listener until `shutdown` resolves, then stops gracefully:
    /// miners get a shutting-down notice, in-flight submissions finish, worker totals are saved
    /// and the data dir is released (a new server may open it at once).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let PoolServer {
            pool,
            backend,
            listen,
            found_rx,
            tls,
            http,
        } = self;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: listen,
            source,
        })?;
        // A backend that is slow to answer must not keep the pool from serving: the template
        // task retries until it succeeds.
        let set = tokio::time::timeout(
            BACKEND_CALL_TIMEOUT,
            backend.set_mining_addresses(&pool.config.mining),
        )
        .await;
        let mining_set = match set {
            Ok(Ok(())) => true,
            Ok(Err(e)) if e.is_fatal() => {
                pool.store.close();
                return Err(e.into());
            }
            Ok(Err(e)) => {
                tracing::warn!("could not set the mining address on the backend yet: {e}");
                false
            }
            Err(_) => {
                tracing::warn!("the backend did not confirm the mining address yet; retrying");
                false
            }
        };
        let mining: Vec<String> = pool.config.mining.iter().map(|m| m.to_string()).collect();
        tracing::info!(
            "pool server listening on {addr}, paying {} {}{}",
            mining.join(", "),
            if pool.config.token.is_some() {
                "(farm token required)"
            } else {
                "(open: no farm token)"
            },
            if tls.is_some() {
                " over TLS (plaintext refused)"
            } else {
                ""
            }
        );
        pool.set_listen_addr(addr);

        let mut tasks = JoinSet::new();
        tasks.spawn(follow_templates(pool.clone(), backend.clone(), mining_set));
        tasks.spawn(maintain(pool.clone(), backend.clone()));
        tasks.spawn(submit_blocks(pool.clone(), backend.clone(), found_rx));
        if let Some((config, offline_after)) = http {
            let handle = PoolHandle { pool: pool.clone() };
            let stop = pool.shutdown_signal();
            tasks.spawn(crate::http::run(handle, config, offline_after, stop));
        }

        let limits = &pool.config.limits;
        let service = MiningPoolServer::new(PoolService { pool: pool.clone() })
            .max_decoding_message_size(limits.max_message_bytes)
            .max_encoding_message_size(limits.max_message_bytes.max(64 * 1024));
        let incoming = Incoming::new(
            listener,
            AcceptConfig {
                handshake_timeout: limits.handshake_timeout,
                max_handshaking_per_ip: limits.max_handshaking_per_ip,
                tls: tls.is_some(),
            },
            pool.handshaking.clone(),
        );
        let signal_pool = pool.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("pool server shutting down");
            signal_pool.begin_shutdown();
        };
        let mut server = tonic::transport::Server::builder();
        if let Some(tls) = tls {
            server = server.tls_config(tls)?;
        }
        let result = server
            .http2_keepalive_interval(Some(limits.keepalive_interval))
            .http2_keepalive_timeout(Some(limits.keepalive_timeout))
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, signal)
            .await;

        pool.begin_shutdown();
        tasks.shutdown().await;
        let p = pool.clone();
        let _ = tokio::task::spawn_blocking(move || p.flush_workers()).await;
        tracing::info!("{}", pool.summary_line());
        pool.store.close();
        result.map_err(ServerError::from)
    }
}

/// Follows the backend's templates and turns each new one into a job at once. Until the
/// backend has confirmed the farm's mining address, no template is taken from it (work for
/// someone else's address would be wasted).
async fn follow_templates(pool: Arc<Pool>, backend: Arc<dyn ChainBackend>, mining_set: bool) {
    let mut stop = pool.shutdown_signal();
    let mut retry = Backoff::new(BACKEND_RETRY_MIN, BACKEND_RETRY_MAX);
    if !mining_set {
        loop {
            let set = tokio::select! {
                r = tokio::time::timeout(
                    BACKEND_CALL_TIMEOUT,
                    backend.set_mining_addresses(&pool.config.mining),
                ) => r,
                () = stopped(&mut stop) => return,
            };
            let problem = match set {
                Ok(Ok(())) => break,
                Ok(Err(e)) => format!("the backend refused the mining address: {e}"),
                Err(_) => "the backend did not answer setting the mining address".to_owned(),
            };
            if !pause(&mut retry, &problem, &mut stop).await {
                return;
            }
        }
        tracing::info!("mining address set on the backend");
    }
    loop {
        let subscribed = tokio::select! {
            r = backend.templates() => r,
            () = stopped(&mut stop) => return,
        };
        let mut templates = match subscribed {
            Ok(rx) => rx,
            Err(e) => {
                let problem = format!("no block templates from the chain ({e})");
                if !pause(&mut retry, &problem, &mut stop).await {
                    return;
                }
                continue;
            }
        };
        retry.reset();
        loop {
            let template = templates.borrow_and_update().clone();
            if let Some(template) = template {
                pool.new_template(template).await;
            }
            tokio::select! {
                changed = templates.changed() => if changed.is_err() {
                    tracing::warn!("the chain's template stream ended; resubscribing");
                    break;
                },
                () = stopped(&mut stop) => return,
            }
        }
    }
}

/// Retries of calls to the backend: from about 1 s, doubling up to 30 s.
const BACKEND_RETRY_MIN: Duration = Duration::from_secs(1);
const BACKEND_RETRY_MAX: Duration = Duration::from_secs(30);
/// Retries of a found block's submission: from about 1 s, doubling up to 60 s.
const SUBMIT_RETRY_MAX: Duration = Duration::from_secs(60);

/// Logs `problem` and waits out `retry`'s next delay; false if the pool is stopping meanwhile.
async fn pause(
    retry: &mut Backoff,
    problem: &str,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> bool {
    let delay = retry.next_delay();
    tracing::warn!("{problem}; retrying in {delay:?}");
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = stopped(stop) => false,
    }
}

/// Vardiff ticks, pruning, worker-total flushes, chain status and the farm summary.
async fn maintain(pool: Arc<Pool>, backend: Arc<dyn ChainBackend>) {
    let mut stop = pool.shutdown_signal();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut summary = tokio::time::interval(pool.config.summary_interval);
    summary.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    summary.tick().await; // the first tick is immediate; nothing to summarise yet
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                ticks += 1;
                pool.maintain();
                let status = match tokio::time::timeout(BACKEND_CALL_TIMEOUT, backend.status()).await {
                    Ok(Ok(status)) => Ok(status),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("no status answer within {BACKEND_CALL_TIMEOUT:?}")),
                };
                pool.set_chain_status(status);
                // After a storage failure: reopen as soon as the disk allows.
                let store = pool.store.clone();
                let _ = tokio::task::spawn_blocking(move || store.probe()).await;
                if ticks.is_multiple_of(2) {
                    let p = pool.clone();
                    let _ = tokio::task::spawn_blocking(move || p.flush_workers()).await;
                }
            }
            _ = summary.tick() => tracing::info!("{}", pool.summary_line()),
            () = stopped(&mut stop) => return,
        }
    }
}

/// Submits found blocks (and those left pending by an earlier run), retrying on errors.
async fn submit_blocks(
    pool: Arc<Pool>,
    backend: Arc<dyn ChainBackend>,
    mut found: mpsc::UnboundedReceiver<BlockRecord>,
) {
    let mut stop = pool.shutdown_signal();
    let mut inflight = JoinSet::new();
    for record in pool.pending_blocks() {
        tracing::info!(
            "resubmitting found block #{} (height {}) left pending by an earlier run",
            record.id,
            record.block.template.height
        );
        inflight.spawn(submit_one(pool.clone(), backend.clone(), record));
    }
    loop {
        tokio::select! {
            Some(record) = found.recv() => {
                inflight.spawn(submit_one(pool.clone(), backend.clone(), record));
            }
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
            () = stopped(&mut stop) => return, // pending submissions stay pending on disk
        }
    }
}

async fn submit_one(pool: Arc<Pool>, backend: Arc<dyn ChainBackend>, mut record: BlockRecord) {
    let mut retry = Backoff::new(BACKEND_RETRY_MIN, SUBMIT_RETRY_MAX);
    let height = record.block.template.height;
    loop {
        record.attempts += 1;
        match backend.submit_block(record.block.clone()).await {
            Ok(outcome) => {
                tracing::info!(
                    "*** BLOCK #{} at height {} (found by {}, digest {}): {outcome:?} ***",
                    record.id,
                    height,
                    record.block.worker,
                    record.block.digest
                );
                record.outcome = Some(outcome);
                record.last_error = None;
                pool.update_block(record).await;
                return;
            }
            Err(e) => {
                let delay = retry.next_delay();
                tracing::warn!(
                    "submitting found block #{} (height {height}) failed (attempt {}): {e}; \
                     retrying in {delay:?}",
                    record.id,
                    record.attempts
                );
                record.last_error = Some(e.to_string());
                pool.emit(PoolEvent::BlockSubmitFailed {
                    id: record.id,
                    height,
                    error: e.to_string(),
                    attempts: record.attempts,
                });
                pool.update_block(record.clone()).await;
                if matches!(e, ChainError::Closed) {
                    return;
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}
