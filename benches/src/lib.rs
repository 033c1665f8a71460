//! `nockpool-benches`: criterion benchmarks for nockpool (no library code).
//!
//! # Layout
//! - `benches/tip5.rs` — Tip5 permutation (single, batched), `hash_10`, `hash_varlen`, each
//!   beside the `twenty-first` crate's Tip5 in the same group.
//! - `benches/v5.rs` — the version-5 mining digest (single, batched) and `CpuMiner` on 1 and 2
//!   threads.
//!
//! Results and the machine they came from are recorded in `benches/BENCHES.md`.
//!
//! # Example
//! ```text
//! cargo bench -p nockpool-benches --bench tip5
//! ```
