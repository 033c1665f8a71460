//! Benchmarks live in `benches/`; see BENCHES.md.
