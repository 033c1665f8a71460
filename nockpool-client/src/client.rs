use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nockpool_pow::{PowEngine, V5Engine};
use tokio::sync::broadcast;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

use crate::{runner, ClientError, ClientEvent, ClientStats, PoolAddress};

/// How long a TCP + HTTP/2 connect to a pool may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default smallest reconnect delay.
pub const DEFAULT_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Default largest reconnect delay.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How often a client on a backup pool checks whether a better pool is back, by default.
pub const DEFAULT_PRIMARY_PROBE_INTERVAL: Duration = Duration::from_secs(30);
/// How long a client waits for the pool to answer one submission before retrying, by default.
pub const DEFAULT_SUBMIT_TIMEOUT: Duration = Duration::from_secs(10);

const EVENT_CAPACITY: usize = 1024;
const MAX_WORKER_NAME: usize = 64;

/// Mining threads when none are set: one per CPU core but one (left for the client's own work
/// and the system), at least 1.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1))
        .unwrap_or(1)
        .max(1)
}

/// The worker name when none is set: this machine's hostname (else `miner`).
pub fn default_worker_name() -> String {
    let from_file = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok());
    from_file
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "miner".to_owned())
}

/// Everything a running client needs, validated.
pub(crate) struct Config {
    pub(crate) pools: Vec<PoolAddress>,
    pub(crate) worker: String,
    pub(crate) token: Option<AsciiMetadataValue>,
    pub(crate) engine: Arc<dyn PowEngine>,
    pub(crate) threads: usize,
    /// Device engines (GPUs), each on a driving thread and a lane of its own.
    pub(crate) devices: Vec<(String, Arc<dyn PowEngine>)>,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) primary_probe_interval: Duration,
    pub(crate) submit_timeout: Duration,
    pub(crate) stats_log_interval: Option<Duration>,
    /// How pools' certificates are checked, when the pools use TLS (`https://`).
    pub(crate) tls: Option<ClientTlsConfig>,
    pub(crate) stats_on_terminal: bool,
}

/// What a TLS client trusts.
enum TlsTrust {
    /// The operating system's root certificates.
    SystemRoots,
    /// The CA certificates (PEM) given.
    CaPem(Vec<u8>),
    /// The CA certificates in this PEM file.
    CaFile(PathBuf),
}

impl TlsTrust {
    fn config(&self) -> Result<ClientTlsConfig, ClientError> {
        let pem = match self {
            TlsTrust::SystemRoots => return Ok(ClientTlsConfig::new().with_native_roots()),
            TlsTrust::CaPem(pem) => pem.clone(),
            TlsTrust::CaFile(path) => std::fs::read(path).map_err(|e| {
                ClientError::Tls(format!("cannot read the CA file {}: {e}", path.display()))
            })?,
        };
        // rustls would skip what it cannot parse and then trust nothing: refuse it here.
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(ClientError::Tls(
                "the CA holds no PEM certificate (-----BEGIN CERTIFICATE-----): give the pool's \
                 CA certificate (or its self-signed certificate) in PEM"
                    .into(),
            ));
        }
        Ok(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
    }
}

/// The endpoint of a pool: TLS (checked against `tls`) when its address is `https://`.
pub(crate) fn pool_endpoint(
    address: &PoolAddress,
    tls: Option<&ClientTlsConfig>,
) -> Result<Endpoint, String> {
    let endpoint = Endpoint::from(address.uri().clone());
    match (address.is_tls(), tls) {
        (false, _) => Ok(endpoint),
        (true, Some(tls)) => endpoint.tls_config(tls.clone()).map_err(|e| {
            format!(
                "TLS setup for {address}: {}",
                crate::runner::error_chain(&e)
            )
        }),
        (true, None) => Err(format!("{address} needs TLS, which is not configured")),
    }
}

/// State shared between the running client and its handles.
pub(crate) struct Shared {
    stats: Mutex<ClientStats>,
    events: broadcast::Sender<ClientEvent>,
}

impl Shared {
    pub(crate) fn new() -> Shared {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Shared {
            stats: Mutex::new(ClientStats::default()),
            events,
        }
    }

    /// The stats, locked for a short update. A panic while holding the lock cannot leave the
    /// counters inconsistent enough to matter, so poisoning is ignored.
    pub(crate) fn stats(&self) -> MutexGuard<'_, ClientStats> {
        self.stats
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A copy of the stats with the hashing kernel filled in: what the handle returns and the
    /// periodic status line prints.
    pub(crate) fn snapshot(&self) -> ClientStats {
        let mut stats = self.stats().clone();
        stats.kernel = nockpool_pow::kernel::current().name();
        stats
    }

    /// Publishes an event (nobody listening is fine).
    pub(crate) fn emit(&self, event: ClientEvent) {
        let _ = self.events.send(event);
    }
}

/// Builds a [`PoolClient`]; see [`PoolClient::builder`].
pub struct PoolClientBuilder {
    pools: Vec<String>,
    worker: Option<String>,
    token: Option<String>,
    engine: Option<Arc<dyn PowEngine>>,
    threads: Option<usize>,
    devices: Vec<(String, Arc<dyn PowEngine>)>,
    backoff: (Duration, Duration),
    connect_timeout: Duration,
    primary_probe_interval: Duration,
    submit_timeout: Duration,
    stats_log_interval: Option<Duration>,
    tls: Option<TlsTrust>,
    stats_on_terminal: bool,
}

impl PoolClientBuilder {
    /// The pools, best first: the first is the primary, the others backups tried in order.
    /// Each is an IP, `IP:port` (default port 7777), `host[:port]` or an `http://` URL.
    pub fn pools<I, S>(mut self, pools: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.pools = pools.into_iter().map(|p| p.as_ref().to_owned()).collect();
        self
    }

    /// Appends one pool after those already given.
    pub fn pool(mut self, pool: impl AsRef<str>) -> Self {
        self.pools.push(pool.as_ref().to_owned());
        self
    }

    /// The worker name the pool shows for this miner (default [`default_worker_name`]: the
    /// hostname).
    pub fn worker(mut self, worker: impl Into<String>) -> Self {
        self.worker = Some(worker.into());
        self
    }

    /// The farm token, sent in the `x-nockpool-token` metadata of every call.
    pub fn token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// The proof-of-work engine (default [`V5Engine`]).
    pub fn engine(mut self, engine: impl PowEngine) -> Self {
        self.engine = Some(Arc::new(engine));
        self
    }

    /// The engine, already shared.
    pub fn engine_arc(mut self, engine: Arc<dyn PowEngine>) -> Self {
        self.engine = Some(engine);
        self
    }

    /// Threads running the CPU engine (default [`default_threads`]: CPU cores − 1, at least 1;
    /// 0 with at least one [`device`](Self::device) mines on the devices only).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Adds a device engine (e.g. a `nockpool_gpu::GpuEngine`) that mines beside the CPU
    /// threads: it runs on a driving thread and a nonce lane of its own, and its hashrate is
    /// reported under `name` in [`ClientStats::engines`](crate::ClientStats::engines).
    pub fn device(mut self, name: impl Into<String>, engine: impl PowEngine) -> Self {
        self.devices.push((name.into(), Arc::new(engine)));
        self
    }

    /// [`device`](Self::device) with an engine already shared.
    pub fn device_arc(mut self, name: impl Into<String>, engine: Arc<dyn PowEngine>) -> Self {
        self.devices.push((name.into(), engine));
        self
    }

    /// Reconnect backoff bounds (default 100 ms to 30 s, with jitter).
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff = (min, max);
        self
    }

    /// How long one connect may take (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// While on a backup pool, how often to check whether a better pool is back
    /// (default 30 s).
    pub fn primary_probe_interval(mut self, interval: Duration) -> Self {
        self.primary_probe_interval = interval;
        self
    }

    /// How long to wait for the answer to one submission before retrying it (default 10 s).
    pub fn submit_timeout(mut self, timeout: Duration) -> Self {
        self.submit_timeout = timeout;
        self
    }

    /// While running, log the stats line (`hashrate … accepted N, rejected N …`, see
    /// [`ClientStats`]'s `Display`) at info level every `interval` (default: never).
    pub fn stats_log_interval(mut self, interval: Duration) -> Self {
        self.stats_log_interval = Some(interval);
        self
    }

    /// Connect to every pool over TLS, trusting the CA certificate(s) in `pem` (e.g. the
    /// farm's own CA, or the pool's self-signed certificate). Pools given without a scheme
    /// use `https://`; one given as `http://` is refused by [`build`](Self::build).
    pub fn tls_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls = Some(TlsTrust::CaPem(pem.into()));
        self
    }

    /// [`tls_ca_pem`](Self::tls_ca_pem) with the PEM read from `path` in
    /// [`build`](Self::build).
    pub fn tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls = Some(TlsTrust::CaFile(path.into()));
        self
    }

    /// Connect to every pool over TLS, trusting the operating system's root certificates
    /// (a pool with a certificate from a public CA). An `https://` pool address does this by
    /// itself when no CA is given.
    pub fn tls_system_roots(mut self) -> Self {
        self.tls = Some(TlsTrust::SystemRoots);
        self
    }

    /// With [`stats_log_interval`](Self::stats_log_interval): draw the stats line as one line
    /// on stdout, rewritten in place at each interval, instead of logging it (for a miner whose
    /// stdout is a terminal; route log output through [`crate::terminal::around_status_line`]
    /// so records do not run into it). Default false.
    pub fn stats_on_terminal(mut self, on: bool) -> Self {
        self.stats_on_terminal = on;
        self
    }

    /// Validates the settings.
    pub fn build(self) -> Result<PoolClient, ClientError> {
        if self.pools.is_empty() {
            return Err(ClientError::NoPools);
        }
        let mut pools = self
            .pools
            .iter()
            .map(|p| p.parse::<PoolAddress>())
            .collect::<Result<Vec<_>, _>>()?;
        let trust = match self.tls {
            Some(trust) => Some(trust),
            None if pools.iter().any(PoolAddress::is_tls) => Some(TlsTrust::SystemRoots),
            None => None,
        };
        let tls = match trust {
            None => None,
            Some(trust) => {
                for (pool, typed) in pools.iter_mut().zip(&self.pools) {
                    if !pool.is_tls() && pool.has_explicit_scheme() {
                        return Err(ClientError::PlaintextWithTls {
                            address: typed.clone(),
                        });
                    }
                    *pool = pool.with_tls();
                }
                let config = trust.config()?;
                for pool in &pools {
                    pool_endpoint(pool, Some(&config)).map_err(ClientError::Tls)?;
                }
                Some(config)
            }
        };
        let worker = self.worker.unwrap_or_else(default_worker_name);
        if worker.trim().is_empty()
            || worker.chars().count() > MAX_WORKER_NAME
            || worker.chars().any(char::is_control)
        {
            return Err(ClientError::InvalidWorkerName(worker));
        }
        let token = match self.token {
            None => None,
            Some(t) if t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()) => {
                return Err(ClientError::InvalidToken)
            }
            Some(t) => {
                let mut value = AsciiMetadataValue::try_from(t.as_str())
                    .map_err(|_| ClientError::InvalidToken)?;
                // HPACK never indexes it, and its Debug form is redacted.
                value.set_sensitive(true);
                Some(value)
            }
        };
        let threads = self.threads.unwrap_or_else(default_threads);
        if threads == 0 && self.devices.is_empty() {
            return Err(ClientError::ZeroThreads);
        }
        let (min, max) = self.backoff;
        if min.is_zero() || min > max {
            return Err(ClientError::InvalidBackoff { min, max });
        }
        for (name, value) in [
            ("connect timeout", self.connect_timeout),
            ("primary probe interval", self.primary_probe_interval),
            ("submit timeout", self.submit_timeout),
            (
                "stats log interval",
                self.stats_log_interval.unwrap_or(Duration::MAX),
            ),
        ] {
            if value.is_zero() {
                return Err(ClientError::ZeroDuration(name));
            }
        }
        let engine = self.engine.unwrap_or_else(|| Arc::new(V5Engine::new()));
        Ok(PoolClient {
            config: Arc::new(Config {
                pools,
                worker,
                token,
                engine,
                threads,
                devices: self.devices,
                backoff_min: min,
                backoff_max: max,
                connect_timeout: self.connect_timeout,
                primary_probe_interval: self.primary_probe_interval,
                submit_timeout: self.submit_timeout,
                stats_log_interval: self.stats_log_interval,
                tls,
                stats_on_terminal: self.stats_on_terminal,
            }),
            shared: Arc::new(Shared::new()),
        })
    }
}

/// A miner's connection to its pool(s): runs a [`PowEngine`] on N threads and keeps it fed.
///
/// Build with [`PoolClient::builder`], watch with [`PoolClient::handle`], drive with
/// [`PoolClient::run`]. The client reconnects forever (exponential backoff with jitter, reset
/// after a session that delivered a job and lasted a second), fails over to backup pools in
/// order and, while on a backup, probes the better pools and moves back as soon as one
/// completes a full handshake. It switches the engine to a new job the moment it arrives and
/// idles the engine while no pool is connected.
///
/// Submissions are lossless: every found share waits in a queue until the pool answers it
/// (accepted, or rejected with a reason) or it is known stale. An unanswered submission is
/// resent on the next session with the same pool, under the session and job it was found on
/// (the pool recognises a retry by its submission id). A share for an older height than the
/// pool's current job, or for another pool, is dropped and counted in
/// [`ClientStats::stale_dropped`]; a block candidate is resent until its pool answers: always
/// on the live session, with its job's commitment, so that a pool that restarted (and forgot
/// the session, job id and nonce prefix it was found under) still recognises the block.
pub struct PoolClient {
    config: Arc<Config>,
    shared: Arc<Shared>,
}

impl PoolClient {
    /// A builder with the defaults.
    pub fn builder() -> PoolClientBuilder {
        PoolClientBuilder {
            pools: Vec::new(),
            worker: None,
            token: None,
            engine: None,
            threads: None,
            devices: Vec::new(),
            backoff: (DEFAULT_BACKOFF_MIN, DEFAULT_BACKOFF_MAX),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            primary_probe_interval: DEFAULT_PRIMARY_PROBE_INTERVAL,
            submit_timeout: DEFAULT_SUBMIT_TIMEOUT,
            stats_log_interval: None,
            tls: None,
            stats_on_terminal: false,
        }
    }

    /// A handle for stats and events; usable before, during and after [`PoolClient::run`].
    pub fn handle(&self) -> ClientHandle {
        ClientHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The configured pools, primary first.
    pub fn pools(&self) -> &[PoolAddress] {
        &self.config.pools
    }

    /// The worker name the pool will show.
    pub fn worker(&self) -> &str {
        &self.config.worker
    }

    /// How many mining threads the engine runs on.
    pub fn threads(&self) -> usize {
        self.config.threads
    }

    /// Mines until `shutdown` completes, then stops the engine threads (giving in-flight
    /// submissions a moment to be answered) and returns.
    pub async fn run<F>(self, shutdown: F) -> Result<(), ClientError>
    where
        F: Future<Output = ()> + Send,
    {
        runner::run(self.config, self.shared, shutdown).await
    }
}

/// A cheap, cloneable view of a [`PoolClient`]: stats snapshots and an event stream.
#[derive(Clone)]
pub struct ClientHandle {
    shared: Arc<Shared>,
}

impl ClientHandle {
    /// A snapshot of the counters, the connection state and the hashing kernel.
    pub fn stats(&self) -> ClientStats {
        self.shared.snapshot()
    }

    /// Events from now on (a lagging receiver skips the oldest; stats never do).
    pub fn events(&self) -> broadcast::Receiver<ClientEvent> {
        self.shared.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_validates_every_setting() {
        let ok = || PoolClient::builder().pools(["127.0.0.1"]);
        assert!(ok().build().is_ok());
        assert!(matches!(
            PoolClient::builder().build(),
            Err(ClientError::NoPools)
        ));
        assert!(matches!(
            ok().pool("ftp://x").build(),
            Err(ClientError::InvalidPoolAddress { .. })
        ));
        assert!(matches!(
            ok().pool("http://x").tls_system_roots().build(),
            Err(ClientError::PlaintextWithTls { .. })
        ));
        assert!(matches!(
            ok().threads(0).build(),
            Err(ClientError::ZeroThreads)
        ));
        assert!(matches!(
            ok().worker(" ").build(),
            Err(ClientError::InvalidWorkerName(_))
        ));
        assert!(matches!(
            ok().worker("a\nb").build(),
            Err(ClientError::InvalidWorkerName(_))
        ));
        assert!(matches!(
            ok().token(Some("ü".into())).build(),
            Err(ClientError::InvalidToken)
        ));
        assert!(matches!(
            ok().token(Some(String::new())).build(),
            Err(ClientError::InvalidToken)
        ));
        assert!(matches!(
            ok().backoff(Duration::from_secs(2), Duration::from_secs(1))
                .build(),
            Err(ClientError::InvalidBackoff { .. })
        ));
        assert!(matches!(
            ok().submit_timeout(Duration::ZERO).build(),
            Err(ClientError::ZeroDuration(_))
        ));
        let client = ok().pool("10.0.0.2:7000").build().unwrap();
        let pools: Vec<String> = client.pools().iter().map(|p| p.to_string()).collect();
        assert_eq!(pools, ["http://127.0.0.1:7777", "http://10.0.0.2:7000"]);
        let fresh = ClientStats {
            kernel: nockpool_pow::kernel::current().name(),
            ..ClientStats::default()
        };
        assert_eq!(client.handle().stats(), fresh);
        // The defaults the stock miner relies on.
        assert_eq!(client.threads(), default_threads());
        assert_eq!(client.worker(), default_worker_name());
        assert!(matches!(
            ok().stats_log_interval(Duration::ZERO).build(),
            Err(ClientError::ZeroDuration("stats log interval"))
        ));
    }

    #[test]
    fn defaults_are_sane() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(default_threads(), cores.saturating_sub(1).max(1));
        let name = default_worker_name();
        assert!(!name.is_empty() && name.trim() == name);
    }
}
