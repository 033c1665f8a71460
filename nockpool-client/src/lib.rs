//! `nockpool-client`: the miner side of nockpool.
//!
//! A [`PoolClient`] connects to a nockpool pool server over gRPC, runs any
//! [`PowEngine`](nockpool_pow::PowEngine) on N threads (through `nockpool_pow::CpuMiner`),
//! plus any device engines (GPUs, [`PoolClientBuilder::device`]) side by side on lanes of their
//! own, and keeps them fed: it switches to each new job the moment it arrives, submits every share the
//! engine finds, reconnects forever with exponential backoff and jitter, fails over to backup
//! pools in order and returns to the primary when it is back. Found shares go through a queue
//! that survives reconnects and failover; a block candidate is retried until the pool answers
//! it. Stats ([`ClientStats`]) report the hashes actually computed (1 min / 5 min averages,
//! and per engine in [`ClientStats::engines`]) and every share's fate; [`ClientEvent`]s let an embedding program follow along.
//!
//! # Layout
//! - `client` — [`PoolClient`], [`PoolClientBuilder`], [`ClientHandle`]; the defaults
//!   [`default_threads`] (cores − 1) and [`default_worker_name`] (the hostname).
//! - `cli` (feature `cli`) — `MinerArgs`: the stock `miner`'s flags, for `#[command(flatten)]`.
//! - `runner` (private) — the connect / session / submit loop.
//! - `queue` (private) — the lossless submission queue.
//! - `address` — [`PoolAddress`]: what an operator types → `http://host:port` (or `https://`).
//! - [`Backoff`] (exponential backoff with jitter) and [`format_hashrate`] come from
//!   `nockpool-core` and are re-exported here.
//! - `hashrate` (private) — windowed hashrate from the engine's hash counter.
//! - `stats` — [`ClientStats`], [`ClientEvent`].
//! - `error` — [`ClientError`].
//!
//! # Examples
//! Building checks every setting up front and fills in the library's defaults:
//! ```
//! use nockpool_client::{default_threads, PoolClient};
//!
//! let client = PoolClient::builder().pools(["192.168.1.100"]).build()?;
//! assert_eq!(client.pools()[0].to_string(), "http://192.168.1.100:7777");
//! assert_eq!(client.threads(), default_threads()); // CPU cores - 1
//! assert_eq!(client.handle().stats().accepted, 0);
//! assert!(PoolClient::builder().build().is_err()); // no pool
//! # Ok::<(), nockpool_client::ClientError>(())
//! ```
//!
//! Mining until ctrl-c, with a backup pool:
//! ```no_run
//! use nockpool_client::PoolClient;
//! use nockpool_pow::V5Engine;
//!
//! # async fn mine() -> Result<(), nockpool_client::ClientError> {
//! let client = PoolClient::builder()
//!     .pools(["192.168.1.100", "192.168.1.101:7777"]) // primary, then backup
//!     .worker("rack3-node17")
//!     .engine(V5Engine::new())
//!     .threads(15)
//!     .build()?;
//! let handle = client.handle();
//! tokio::spawn(async move {
//!     loop {
//!         tokio::time::sleep(std::time::Duration::from_secs(60)).await;
//!         let stats = handle.stats();
//!         println!("{:.0} H/s, {} accepted", stats.hashrate_1m, stats.accepted);
//!     }
//! });
//! client.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

mod address;
#[cfg(feature = "cli")]
mod cli;
mod client;
mod engines;
mod error;
mod hashrate;
mod queue;
mod runner;
mod stats;
pub mod terminal;

pub use address::{PoolAddress, DEFAULT_POOL_PORT};
#[cfg(feature = "cli")]
pub use cli::MinerArgs;
pub use client::{
    default_threads, default_worker_name, ClientHandle, PoolClient, PoolClientBuilder,
    DEFAULT_BACKOFF_MAX, DEFAULT_BACKOFF_MIN, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_PRIMARY_PROBE_INTERVAL, DEFAULT_SUBMIT_TIMEOUT,
};
pub use error::ClientError;
pub use nockpool_core::proto::{NoticeKind, RejectReason};
pub use nockpool_core::{format_hashrate, Backoff};
pub use stats::{ClientEvent, ClientStats, EngineRate};
