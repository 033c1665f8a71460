//! `nockpool-benches`: criterion benchmarks for nockpool and the `pool-loadtest` program (no
//! library code).
//!
//! # Layout
//! - `benches/tip5.rs` — Tip5 permutation (single, batched), `hash_10`, `hash_varlen`, each
//!   beside the `twenty-first` crate's Tip5 in the same group.
//! - `benches/v5.rs` — the version-5 mining digest (single, batched) and `CpuMiner` on 1 and 2
//!   threads.
//! - `benches/server.rs` — the pool server's hot paths over real gRPC on loopback: a share's
//!   SubmitWork round trip (valid, malformed, low difficulty), the server-side digest alone, and
//!   job fan-out to 1, 32 and 180 subscribed miners.
//! - `src/bin/pool-loadtest.rs` — `pool-loadtest`: many simulated raw-protocol miners against a
//!   pool you run yourself (`cargo run --release -p nockpool-benches --bin pool-loadtest -- --help`).
//!
//! Results and the machine they came from are recorded in `benches/BENCHES.md`.
//!
//! # Example
//! ```text
//! cargo bench -p nockpool-benches --bench tip5
//! ```
