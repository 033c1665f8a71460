//! `nockpool-benches`: criterion benchmarks for nockpool, the `pool-loadtest` program, and the
//! same-process timing helper the Tip5 and v5 benches use to print their ratios against the
//! reference.
//!
//! # Layout
//! - `benches/tip5.rs` — Tip5 permutation (single, batched ×8/×64/×1024) for every kernel the
//!   CPU supports, `hash_10`, `hash_varlen`, each beside the `twenty-first` crate's Tip5 in the
//!   same group; then the goal ratios (batched and single permutation against twenty-first).
//! - `benches/v5.rs` — the version-5 mining digest (single, batched) for every kernel and
//!   `CpuMiner` on 1 and 2 threads; then the goal ratios (nonces per second per core against
//!   the twenty-first reference rate, 2-thread scaling).
//! - `benches/server.rs` — the pool server's hot paths over real gRPC on loopback: a share's
//!   SubmitWork round trip (valid, malformed, low difficulty), the server-side digest alone, and
//!   job fan-out to 1, 32 and 180 subscribed miners.
//! - `src/bin/pool-loadtest.rs` — `pool-loadtest`: many simulated raw-protocol miners against a
//!   pool you run yourself (`cargo run --release -p nockpool-benches --bin pool-loadtest -- --help`).
//! - [`race`] — interleaved best-of-slices timing for the ratio tables.
//!
//! Results and the machine they came from are recorded in `benches/BENCHES.md`.
//!
//! # Example
//! ```text
//! cargo bench -p nockpool-benches --bench tip5
//! ```

use std::time::{Duration, Instant};

/// One timed contender of a [`race`]: a name, how many items one call processes, the call.
pub struct Contender<'a> {
    /// Printed name.
    pub name: String,
    /// Items (permutations, nonces) one call of `run` processes.
    pub items: f64,
    /// The work.
    pub run: Box<dyn FnMut() + 'a>,
}

impl<'a> Contender<'a> {
    /// A contender processing `items` items per call of `run`.
    pub fn new(name: impl Into<String>, items: f64, run: impl FnMut() + 'a) -> Contender<'a> {
        Contender {
            name: name.into(),
            items,
            run: Box::new(run),
        }
    }
}

/// Times every contender in turn, in `rounds` rounds of one `slice` each, and returns each
/// one's best time per item in nanoseconds (same order).
///
/// Interleaving the contenders and keeping each one's best slice makes the ratios between them
/// robust to load from other processes: a burst of load slows one slice, not one contender.
pub fn race(contenders: &mut [Contender<'_>], rounds: usize, slice: Duration) -> Vec<f64> {
    let mut best = vec![f64::INFINITY; contenders.len()];
    for c in contenders.iter_mut() {
        (c.run)(); // warm-up
    }
    for _ in 0..rounds {
        for (c, best) in contenders.iter_mut().zip(best.iter_mut()) {
            let start = Instant::now();
            let mut calls = 0u64;
            while calls == 0 || start.elapsed() < slice {
                (c.run)();
                calls += 1;
            }
            let per_item = start.elapsed().as_nanos() as f64 / (calls as f64 * c.items);
            *best = best.min(per_item);
        }
    }
    best
}

/// The machine line printed above a ratio table: CPU model and load averages.
pub fn conditions() -> String {
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string());
    format!(
        "CPU: {}; load average (1/5/15 min): {load}",
        nockpool_pow::bench::cpu_model()
    )
}

/// Whether twenty-first 3.1.1 takes its AVX-512 path on this CPU: it needs F, BW, DQ, VBMI
/// and IFMA at run time (`Tip5::avx512_is_available`), and otherwise runs its scalar code.
pub fn twenty_first_uses_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512vbmi")
            && is_x86_feature_detected!("avx512ifma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
