//! `nockpool-server`: the pool server of a Nockchain mining farm, as a library.
//!
//! A [`PoolServer`] takes block templates from a [`ChainBackend`] (the embedded, **simulated**
//! development chain [`Devnet`], or a Nockchain node), pushes jobs to every miner the moment a
//! template arrives (gRPC, `proto/nockpool/v1/pool.proto`), gives each connection its own nonce
//! prefix, re-checks every share with the same [`PowEngine`](nockpool_pow::PowEngine) digest,
//! runs vardiff per connection, keeps per-worker accounting, and persists every found block
//! before acknowledging it, then submits it to the backend asynchronously (retrying on errors,
//! also across restarts).
//!
//! # Layout
//! - `server` — [`PoolServer`], [`PoolServerBuilder`], [`PoolHandle`]: configuration, the run
//!   loop and graceful shutdown, the background tasks (template follower, block submitter,
//!   maintenance and the farm summary).
//! - `service` — the tonic `MiningPool` service: one task per Subscribe stream.
//! - `pool` — shared state and rules: connections and nonce prefixes, jobs and staleness, share
//!   checks and their [`RejectReason`](nockpool_core::proto::RejectReason)s, accounting.
//! - `vardiff` — [`Vardiff`], [`VardiffConfig`]: per-connection difficulty (clock passed in).
//! - `limits` — [`Limits`]: per-connection rate and size limits.
//! - `store` — the pool's redb database (`<data dir>/pool.redb`): [`BlockRecord`]s, worker totals.
//! - `events` — [`PoolEvent`], [`PoolSnapshot`], [`WorkerSnapshot`], [`JobSnapshot`].
//! - `backend` — the [`ChainBackend`] trait and its types.
//! - `node` — [`NockchainNode`]: drives a real Nockchain node over its private gRPC API;
//!   [`BlockProver`] / [`CommandProver`] prove found blocks; [`NodeSupervisor`] runs the node as
//!   a child process; [`nockchain_proto`] is the node's generated API.
//! - `devnet` — [`Devnet`]: the embedded development chain (simulated; `<data dir>/devnet.redb`).
//!
//! # Example
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

mod backend;
mod devnet;
mod error;
mod events;
mod limits;
mod node;
mod pool;
mod server;
mod service;
mod store;
mod vardiff;

pub use backend::{
    BlockOutcome, BlockTemplate, ChainBackend, ChainError, ChainStatus, FoundBlock, TemplateStream,
};
pub use devnet::{Devnet, DevnetBlock, DevnetBuilder, DevnetMiner, DEVNET_DB_FILE};
pub use error::ServerError;
pub use events::{JobSnapshot, PoolEvent, PoolSnapshot, WorkerSnapshot};
pub use limits::Limits;
pub use node::proto as nockchain_proto;
pub use node::{
    BlockProver, CommandProver, NockchainNode, NockchainNodeBuilder, NodeSupervisor, ProofOutcome,
    ProofRequest, SupervisorEvent, DEFAULT_NODE_GRPC, DEFAULT_PROVER_TIMEOUT, NATIVE_PROOF_VERSION,
    NODE_DB_FILE,
};
pub use server::{
    IntoMiningShare, PoolHandle, PoolServer, PoolServerBuilder, DEFAULT_LISTEN,
    MAX_MINING_ADDRESSES,
};
pub use service::TOKEN_METADATA_KEY;
pub use store::BlockRecord;
pub use vardiff::{Vardiff, VardiffConfig};
