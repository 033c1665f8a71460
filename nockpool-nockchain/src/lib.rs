//! `nockpool-nockchain`: everything nockpool knows about talking to a Nockchain node.
//!
//! A pool server mines a real chain through [`NockchainNode`], a
//! [`ChainBackend`](nockpool_core::ChainBackend) that drives a running node over the node's own
//! private gRPC API: it sets the farm's mining key, turns the node's `%mine-zk` candidates into
//! block templates, and has every found block proved by a [`BlockProver`] (an operator's prover
//! program behind [`CommandProver`]) and submitted, persisting it at each step. The
//! `nockchain-wallet` reads balances through the same [`NodeClient`]. Facts about the node are
//! in `../shared/spec/nockchain-node.md` and `nockchain-prover.md`.
//!
//! # One node, one payout key
//! A Nockchain node keeps a single coinbase split and a single mining switch for everyone who
//! mines through it. Every miner sharing a node (another pool, upstream's `zk-pow-mine`) must
//! use the same payout key: the last key set wins for all of them. [`NockchainNode`] never
//! turns mining off on the node (not at shutdown either; that would stop the others), and when
//! it sets a key the node was not paying already, it hands out no work until the node builds a
//! candidate on the next block (the candidate the node holds keeps the key it was built with),
//! saying so in the log and in [`ChainStatus::warnings`](nockpool_core::ChainStatus).
//!
//! # Layout
//! - [`proto`] — the node's gRPC API (`proto/nockchain/…`), compiled once, here.
//! - `client` — [`NodeClient`]: peek, poke and the effect stream of `NockAppService`, balances
//!   from either API; [`PeekAnswer`], [`DEFAULT_NODE_GRPC`].
//! - `nouns` (private) — the nouns of the node's causes and effects: peek paths and answers,
//!   the mining-key and enable pokes, `%mine-zk` candidates, the prover's cause and the submit
//!   poke, block pages, balance peeks.
//! - `node` — [`NockchainNode`], [`NockchainNodeBuilder`]: the mining loop and block submission.
//! - `store` — the found blocks on their way to the node (`<data dir>/nockchain-node.redb`).
//! - `prover` — [`BlockProver`], [`CommandProver`], [`ProofRequest`], [`ProofOutcome`].
//! - `supervisor` — [`NodeSupervisor`]: runs the node as a child process (`--node-cmd`).
//! - `balance` — [`NoteQuery`], [`Balance`], [`Note`], [`NodeApi`], [`format_nock`].
//! - `block_id` — [`possible_block_ids`]: a block's id recomputed from its proof (to tell our
//!   block's `%liar-block-id` from a peer's).
//! - `error` — [`NodeError`].
//! - `cli` (feature `cli`) — `NodeArgs`: the stock `pool-server`'s node-backend flags, for
//!   `#[command(flatten)]`.
//!
//! # Example
//! ```
//! use std::time::Duration;
//! use nockpool_core::ChainBackend;
//! use nockpool_nockchain::{CommandProver, NockchainNode};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = NockchainNode::builder()
//!     .grpc("http://127.0.0.1:9") // nothing serves a node here
//!     .mining_share("9yPePjfWAdUnzaQKyxcRXKRa5PpUzKKEwtpECBZsUYt9Jd7egSDEWoV".parse()?)
//!     .prover(CommandProver::new("/opt/nockchain/bin/nock-prover"))
//!     .connect_timeout(Duration::from_millis(200))
//!     .build()?; // no data dir: found blocks are kept in memory
//! // The backend connects in the background; an unreachable node is a transient error.
//! let error = node.wait_ready(Duration::from_millis(500)).await.unwrap_err();
//! assert!(error.is_transient(), "{error}");
//! assert!(!node.status().await?.connected);
//! node.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod balance;
mod block_id;
#[cfg(feature = "cli")]
mod cli;
mod client;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod node;
mod nouns;
pub mod proto;
mod prover;
mod store;
mod supervisor;

pub use balance::{format_nock, Balance, NodeApi, Note, NoteQuery, NICKS_PER_NOCK};
pub use block_id::possible_block_ids;
#[cfg(feature = "cli")]
pub use cli::NodeArgs;
pub use client::{NodeClient, DEFAULT_NODE_GRPC};
pub use error::NodeError;
pub use node::{NockchainNode, NockchainNodeBuilder, NATIVE_PROOF_VERSION};
pub use nouns::PeekAnswer;
pub use prover::{BlockProver, CommandProver, ProofOutcome, ProofRequest, DEFAULT_PROVER_TIMEOUT};
pub use store::NODE_DB_FILE;
pub use supervisor::{NodeSupervisor, SupervisorEvent};
