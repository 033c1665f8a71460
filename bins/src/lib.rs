//! Shared start-up helpers for the stock binaries (`pool-server`, `miner`,
//! `nockchain-wallet`): `.env` loading, logging, the proof-of-work kernel choice and the
//! shutdown signal.
//!
//! Every binary starts the same way: [`load_dotenv`] before parsing flags (so `.env` values
//! become environment fallbacks for clap), [`init_tracing`] with the `-l/--log` value, then
//! (`pool-server`, `miner`) [`tune_kernel`], then the library's `run(shutdown_signal())`.
//!
//! With the `gpu` feature, `gpu` holds the miner's `--gpu` flags and opens the GPU engines.
//!
//! # Example
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! nockpool_bins::load_dotenv();
//! nockpool_bins::init_tracing(Some("info"))?;
//! nockpool_bins::shutdown_signal().await; // resolves on ctrl-c or SIGTERM
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "gpu")]
pub mod gpu;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

/// The log filter used when neither `-l/--log` nor `RUST_LOG` says otherwise.
pub const DEFAULT_LOG: &str = "info";

/// The `-l/--log` flag of `pool-server` and `miner`.
#[derive(Clone, Debug, clap::Args)]
pub struct LogArgs {
    /// Log level or filter (error, warn, info, debug, trace, or e.g. info,nockpool_server=debug);
    /// default RUST_LOG, else info.
    #[arg(short = 'l', long = "log")]
    log: Option<String>,
}

impl LogArgs {
    /// The filter given, if any (for [`init_tracing`]).
    pub fn level(&self) -> Option<&str> {
        self.log.as_deref()
    }
}

/// Loads `.env` from the working directory (or a parent), if there is one. Variables already
/// set in the environment win. A malformed file is reported on stderr and otherwise ignored,
/// because logging is not set up yet.
pub fn load_dotenv() {
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(e) if e.not_found() => {}
        Err(e) => eprintln!("warning: ignoring .env: {e}"),
    }
}

/// Sets up `tracing` output on stderr.
///
/// `level` is the `-l/--log` flag: a level (`debug`) or a full filter
/// (`info,nockpool_server=debug`). Without it `RUST_LOG` is used, and without that
/// [`DEFAULT_LOG`].
pub fn init_tracing(level: Option<&str>) -> anyhow::Result<()> {
    let filter = match level {
        Some(spec) => EnvFilter::try_new(spec)
            .with_context(|| format!("invalid log filter {spec:?} (try info or debug)"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG)),
    };
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(|| LogWriter)
        .try_init()
        .map_err(|e| anyhow::anyhow!("logging was already set up: {e}"))
}

/// Writes log records to stderr around the miner's in-place stats line, if one is drawn on the
/// terminal (see `nockpool_client::terminal`).
struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        nockpool_client::terminal::around_status_line(|| std::io::stderr().write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Times the proof-of-work kernels this CPU supports on the v5 pipeline and selects the
/// fastest ([`nockpool_pow::kernel::autotune`], about 40 ms per kernel, blocking), then logs
/// what it measured: `kernel avx512 232.1 k/s, avx2 69.7 k/s, portable 48.4 k/s: using avx512
/// (fastest)`. `NOCKPOOL_POW_KERNEL` forces a kernel; a value it cannot use is logged as a
/// warning. Call once at start-up, before any hashing.
pub fn tune_kernel() -> nockpool_pow::kernel::Tuning {
    let tuning = nockpool_pow::kernel::autotune(nockpool_pow::kernel::DEFAULT_TUNING_TIME);
    if tuning.env_ignored.is_some() {
        tracing::warn!("{tuning}");
    } else {
        tracing::info!("{tuning}");
    }
    tuning
}

/// Resolves when the process is asked to stop: ctrl-c (SIGINT) or, on Unix, SIGTERM.
///
/// The handlers are installed when this is called, not when the future is first polled: call
/// it before the server listens, so that a signal that comes at once (a supervisor's quick stop
/// right after "listening") is caught and shuts down gracefully instead of killing the process.
/// Must be called inside a tokio runtime. If a handler cannot be installed, that source is
/// ignored (with a warning) rather than stopping the process at once.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, Signal, SignalKind};
        let install = |kind: SignalKind, name: &str| -> Option<Signal> {
            signal(kind)
                .map_err(|e| tracing::warn!("cannot listen for {name}: {e}"))
                .ok()
        };
        let mut interrupt = install(SignalKind::interrupt(), "ctrl-c (SIGINT)");
        let mut terminate = install(SignalKind::terminate(), "SIGTERM");
        async move {
            tokio::select! {
                () = wait_for(interrupt.as_mut()) => tracing::info!("ctrl-c received, shutting down"),
                () = wait_for(terminate.as_mut()) => tracing::info!("SIGTERM received, shutting down"),
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::warn!("cannot listen for ctrl-c: {e}");
                std::future::pending::<()>().await;
            }
            tracing::info!("ctrl-c received, shutting down");
        }
    }
}

/// The next delivery of `signal`; never, without one.
#[cfg(unix)]
async fn wait_for(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
