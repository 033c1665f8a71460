//! `nockpool-testkit`: what nockpool's own tests share. **Not published, and only ever a
//! dev-dependency**: everything here is a simulation or a test harness.
//!
//! # Layout
//! - `fake_node` — [`FakeNode`]: an in-process fake Nockchain node serving the node's real
//!   `NockAppService` proto on `127.0.0.1` with a scripted kernel ([`Script`], [`Verdict`],
//!   [`Layout`]); it records what it saw ([`Event`]) and whether a real node would have exited
//!   on it. A simulation of upstream's behaviour as read in its sources, not a node.
//! - `pool` — [`TestPool`] (a `PoolServer` on the devnet over real gRPC on `127.0.0.1:0`),
//!   [`RawMiner`] (a raw-protocol test miner: every message under the test's control),
//!   [`grind`] / [`share_not_block`] (nonces found with the real v5 digest), [`wait_for`] (an
//!   event, without sleeping).
//! - `local` — [`LocalPool`] (a throw-away pool on the devnet for real `PoolClient`s),
//!   [`v5_thread_hashrate`] (to size difficulties to the machine), [`wait_for_stats`].
//! - `programs` — the crate's test-only programs and how to find them: [`fake_prover`] (a
//!   stand-in for an operator's prover: the `CommandProver` contract with a fake proof) and
//!   [`fake_node_command`] (the fake node as a process, for `--node-cmd`).
//!
//! # Example
//! ```
//! use nockpool_testkit::{FakeNode, Script};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut node = FakeNode::start(Script::default()).await; // on 127.0.0.1:0
//! assert!(node.url().starts_with("http://127.0.0.1:"));
//! assert!(node.events().is_empty());
//! node.stop().await;
//! # }
//! ```

mod fake_node;
mod local;
mod pool;
mod programs;

pub use fake_node::{Event, FakeNode, Layout, Script, Verdict, PATIENCE};
pub use local::{v5_thread_hashrate, wait_for_stats, LocalPool};
pub use pool::{
    builder, devnet, grind, hello, hello_resuming, next_order, share_not_block, target_of,
    test_address, wait_for, with_token, RawMiner, TestPool,
};
pub use programs::{fake_node_command, fake_prover, program_path};
