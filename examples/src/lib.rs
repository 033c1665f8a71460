//! `nockpool-examples`: runnable examples of embedding nockpool (`examples/*.rs`, run with
//! `cargo run -p nockpool-examples --example <name>`; CI runs each one briefly through
//! `scripts/run-examples.sh`). No library code: the examples size their difficulties and start
//! a throw-away local pool with `nockpool-testkit` (a dev-dependency), and use only the public
//! crates for what they demonstrate.
//!
//! # Layout
//! - `custom_miner.rs` — `PoolClient` with its own `PowEngine` (a counting wrapper around
//!   `V5Engine` that re-batches its ranges).
//! - `embedded_pool.rs` — a `PoolServer` on the devnet and a `PoolClient` in one process,
//!   mining three blocks.
//!
//! # Example
//! ```text
//! cargo run -p nockpool-examples --example embedded_pool
//! ```
