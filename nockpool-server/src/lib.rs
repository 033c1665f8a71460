//! `nockpool-server`: the pool server of a Nockchain mining farm, as a library.
//!
//! A [`PoolServer`] takes block templates from a [`ChainBackend`] (the embedded, **simulated**
//! development chain [`Devnet`], or a Nockchain node through `nockpool-nockchain`), pushes jobs
//! to every miner the moment a template arrives (gRPC, `proto/nockpool/v1/pool.proto`), gives
//! each connection its own nonce prefix, re-checks every share with the same
//! [`PowEngine`](nockpool_pow::PowEngine) digest, runs vardiff per connection, keeps per-worker
//! accounting, and persists every found block before acknowledging it, then submits it to the
//! backend asynchronously (retrying on errors, also across restarts).
//!
//! # Layout
//! - `server` — [`PoolServer`], [`PoolServerBuilder`], [`PoolHandle`]: configuration, the run
//!   loop and graceful shutdown, the background tasks (template follower, block submitter,
//!   maintenance and the farm summary).
//! - `accept` — the accept loop in front of tonic: the HTTP/2 handshake deadline and the cap of
//!   such connections per address, accept errors logged; [`bind_listener`] (a deep backlog),
//!   [`raise_descriptor_limit`].
//! - `service` — the tonic `MiningPool` service: one task per Subscribe stream.
//! - `pool` — the state and rules, one concern per module, each with its own lock:
//!   `accounting` (worker totals, hashrate estimates, the bounded worker table), `bans`
//!   (addresses refused for invalid shares) and `jobs` (templates, staleness, the job of one
//!   connection) at the bottom; `conns` (connections, nonce prefixes, vardiff, the job
//!   fan-out) and `blocks` (found blocks on record, outcomes) above them; `shares` (every
//!   share check and its [`RejectReason`](nockpool_core::proto::RejectReason), the one
//!   crediting path) on top. Its answers are typed; `service` maps them to gRPC.
//! - `vardiff` — [`Vardiff`], [`VardiffConfig`]: per-connection difficulty (clock passed in).
//! - `limits` — [`Limits`]: per-connection rate and size limits.
//! - `store` — the pool's redb database (`<data dir>/pool.redb`): [`BlockRecord`]s, worker totals.
//! - `http` — [`HttpConfig`]: the status API (`/api/…`, `/health`), Prometheus `/metrics`,
//!   the web dashboard at `/`, offline-worker detection and the alert webhook. It reads the pool
//!   only through a [`PoolHandle`].
//! - `events` — [`PoolEvent`], [`PoolSnapshot`], [`WorkerSnapshot`], [`JobSnapshot`].
//! - [`ChainBackend`] and its types live in `nockpool-core` and are re-exported here.
//! - `devnet` — [`Devnet`]: the embedded development chain (simulated; `<data dir>/devnet.redb`).
//! - `cli` (feature `cli`) — `ServerArgs`, `DevnetArgs`: the stock `pool-server`'s flags, for
//!   `#[command(flatten)]`; `devnet_payees`: the development payee of a devnet run.
//!
//! # Protocol behaviour (what a miner can rely on)
//! - A TCP connection must complete the HTTP/2 handshake within [`Limits::handshake_timeout`]
//!   (else it is closed); at most [`Limits::max_handshaking_per_ip`] such connections per
//!   address are kept open.
//! - A Subscribe stream must open with a `Hello` (within [`Limits::hello_timeout`], else
//!   `DEADLINE_EXCEEDED`; anything else first: `INVALID_ARGUMENT`; pool full:
//!   `RESOURCE_EXHAUSTED`; wrong or missing farm token in [`TOKEN_METADATA_KEY`]:
//!   `UNAUTHENTICATED`; an address banned for invalid shares: `PERMISSION_DENIED`). The pool
//!   answers `Welcome { connection_id, nonce_prefix }` — both
//!   random, the prefix unique among live and recently closed connections — then the current
//!   `Job`.
//! - Every new template is pushed at once as a `Job` with `clean_jobs = true`; older jobs stay
//!   acceptable for the [`stale grace`](PoolServerBuilder::stale_grace), then are `STALE`.
//!   A vardiff change sends `SetDifficulty`, then re-issues the current template as a new job
//!   (`<job id>.<n>`, `clean_jobs = false`) at the new share target; a share is credited at the
//!   difficulty of the job it names. The share target is never harder than the network target.
//! - `SubmitWork` may name a connection that has since closed (kept for
//!   [`Limits::closed_connection_retention`]), so shares queued across a reconnect still count.
//!   Sending the same `(connection_id, submission_id ≠ 0, nonce)` again returns the answer the
//!   first one got (idempotent retry; `UNAVAILABLE` while the first is still being recorded);
//!   the same nonce otherwise is `DUPLICATE`.
//! - A new connection's share difficulty starts at that of the connection its `Hello` names
//!   in `previous_connection_id`, else at what the `Hello`'s measured `hashrate` implies, else
//!   at the worker's last difficulty (kept in the data dir across restarts), else at what its
//!   `threads` imply.
//! - A share that meets the network target is acked with `block_candidate = true` only after the
//!   block is on disk; when it cannot be written (a full disk) the answer is `UNAVAILABLE`
//!   (keep the block and send it again), nothing is credited, and the pool reopens its
//!   database by itself (its state is in [`PoolSnapshot::storage`]). The finder then gets a
//!   `BLOCK_FOUND` notice and later `BLOCK_ACCEPTED` / `BLOCK_REJECTED` / `BLOCK_STALE` (on its
//!   live connection, or those of the same worker name after a reconnect). A block already on
//!   record is accepted again (credit 0) for its finder and `DUPLICATE` for anyone else.
//! - On shutdown every miner gets a `SHUTTING_DOWN` notice, then its stream ends. A miner that
//!   does not read its stream (queue of [`Limits::outbound_queue`] full) is dropped with
//!   `RESOURCE_EXHAUSTED`; one that sends more than [`Limits::ban_invalid_shares`] invalid
//!   shares within [`Limits::ban_window`] is dropped with `PERMISSION_DENIED` and its address
//!   banned for [`Limits::ban_duration`] (its submissions are then `RATE_LIMITED`).
//!
//! # Examples
//! A pool on an in-memory devnet, built (settings checked) and looked at before it runs:
//! ```
//! use nockpool_core::PubkeyHash;
//! use nockpool_server::{Devnet, PoolServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let devnet = Devnet::builder().initial_difficulty(1_000).open()?; // no data dir: in memory
//! let server = PoolServer::builder()
//!     .listen("127.0.0.1:0".parse()?)
//!     .backend(devnet.clone())
//!     .mining_address("9yPePjfWAdUnzaQKyxcRXKRa5PpUzKKEwtpECBZsUYt9Jd7egSDEWoV".parse::<PubkeyHash>()?)
//!     .build()?;
//! let snapshot = server.handle().snapshot();
//! assert_eq!((snapshot.connections, snapshot.blocks_found), (0, 0));
//! assert_eq!(devnet.current_template().map(|t| t.height), Some(1));
//! # Ok(())
//! # }
//! ```
//!
//! Serving until ctrl-c, following what happens:
//! ```no_run
//! use nockpool_server::{Devnet, PoolServer};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let data = std::path::Path::new("./data/pool");
//! let devnet = Devnet::builder().data_dir(data).open()?;
//! let server = PoolServer::builder()
//!     .listen("0.0.0.0:7777".parse()?)
//!     .backend(devnet)
//!     .mining_address("9yPePjfWAdUnzaQKyxcRXKRa5PpUzKKEwtpECBZsUYt9Jd7egSDEWoV".parse::<nockpool_core::PubkeyHash>()?)
//!     .data_dir(data)
//!     .build()?;
//! let handle = server.handle();
//! let mut events = handle.events();
//! tokio::spawn(async move {
//!     while let Ok(event) = events.recv().await {
//!         println!("{event:?}");
//!     }
//! });
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(())
//! # }
//! ```

mod accept;
#[cfg(feature = "cli")]
mod cli;
mod devnet;
mod error;
mod events;
mod http;
mod limits;
mod pool;
mod reopen;
mod server;
mod service;
mod store;
mod vardiff;

pub use accept::{bind_listener, raise_descriptor_limit, DescriptorLimit};
#[cfg(feature = "cli")]
pub use cli::{devnet_payees, DevnetArgs, HttpArgs, ServerArgs};
pub use devnet::{Devnet, DevnetBlock, DevnetBuilder, DevnetMiner, DEVNET_DB_FILE};
pub use error::ServerError;
pub use events::{
    BanSnapshot, JobSnapshot, PoolEvent, PoolSnapshot, StorageHealth, WorkerSnapshot,
};
pub use http::{HttpConfig, DEFAULT_HTTP_ADDRESS};
pub use limits::Limits;
pub use nockpool_core::{
    BlockOutcome, BlockTemplate, ChainBackend, ChainError, ChainStatus, FoundBlock, TemplateStream,
    TOKEN_METADATA_KEY,
};
pub use server::{
    IntoMiningShare, PoolHandle, PoolServer, PoolServerBuilder, DEFAULT_LISTEN,
    MAX_MINING_ADDRESSES,
};
pub use store::BlockRecord;
pub use vardiff::{Vardiff, VardiffConfig, DEFAULT_PER_THREAD_HASHRATE};
