//! `nockpool-pow`: the Nockchain proof-of-work kernel, bit-exact with Nockchain.
//!
//! The Goldilocks field, Tip5 with Nockchain's parameters (7 rounds), the version-%5 mining
//! digest, the [`PowEngine`] trait with its first implementation [`V5Engine`], and
//! [`CpuMiner`], which runs any engine on N threads over nockpool's nonce layout.
//!
//! # Layout
//! - [`field`] — [`Belt`](field::Belt) (canonical `u64` mod `p = 2^64 - 2^32 + 1`),
//!   [`montify`](field::montify), [`mont_reduce`](field::mont_reduce).
//! - [`tip5`] — the permutation, `hash_varlen`, `hash_10`, the [`Sponge`](tip5::Sponge), `tog`
//!   and noun hashing; canonical-`u64` entry points ([`tip5::permute`], [`tip5::permute_many`],
//!   [`tip5::hash_varlen`], [`tip5::hash_10`]) plus typed `try_*` variants.
//! - [`v5`] — the %5 digest ([`v5::digest`], [`v5::digest_many`]) and the per-job
//!   precomputation [`V5Job`](v5::V5Job).
//! - [`kernel`] — which CPU kernel hashes: [`Kernel`](kernel::Kernel),
//!   [`autotune`](kernel::autotune) (the miner and the pool server call it at start-up),
//!   [`select`](kernel::select), [`current`](kernel::current).
//! - [`bench`](mod@bench) — the miner's `--bench`: nonces per second per kernel on 1…N threads.
//! - `engine` — [`PowEngine`], [`PreparedJob`], [`V5Engine`].
//! - `miner` — [`CpuMiner`], [`MiningJob`], [`FoundShare`].
//! - `error` — [`PowError`].
//!
//! # Kernels
//! Three implementations compute the same function: `avx512` (8 states per batch; single states
//! across the words of two vectors with IFMA), `avx2` (4 states per batch) and `portable` (plain
//! Rust, any CPU). [`kernel::autotune`] times each one the CPU supports on the v5 pipeline and
//! selects the fastest; until then the choice follows CPU features, and the environment
//! variable `NOCKPOOL_POW_KERNEL=avx512|avx2|portable` forces one. Every kernel is checked
//! against a plain scalar oracle and the spec vectors in the tests (on CPUs without a feature,
//! the tests run the kernels the CPU has and say which they skipped).
//!
//! Canonical-`u64` entry points panic (with a message naming the bad value) on a limb `>= p` or
//! an invalid `pow_len`; everything that handles peer input uses the `try_*` / typed API, which
//! returns [`PowError`].
//!
//! # Example
//! ```
//! use std::sync::atomic::AtomicBool;
//! use nockpool_core::{Digest, JobParams, Nonce, NonceRange, Target};
//! use nockpool_pow::{v5, PowEngine, V5Engine};
//!
//! let engine = V5Engine::new();
//! let params = JobParams::v5(Digest::new([1, 2, 3, 4, 5]).unwrap(), 64).unwrap();
//! let job = engine.prepare(&params).unwrap();
//! let nonce = Nonce::new([6, 7, 8, 9, 10]).unwrap();
//! let digest = engine.digest(&job, &nonce);
//! assert_eq!(digest.to_limbs(), v5::digest(&[1, 2, 3, 4, 5], &[6, 7, 8, 9, 10], 64));
//!
//! // Grind 8 nonces of lane 0 under prefix 7 against the easiest target.
//! let range = NonceRange { prefix: 7, lane: 0, start: 0, count: 8 };
//! let mut shares = 0;
//! let tried = engine.search(&job, range, &Target::MAX, &AtomicBool::new(false), &mut |_, _| shares += 1);
//! assert_eq!((tried, shares), (8, 8));
//! ```

pub mod bench;
mod engine;
mod error;
pub mod field;
pub mod kernel;
mod miner;
pub mod tip5;
pub mod v5;
mod v5_kernel;

#[cfg(test)]
mod test_vectors;

pub use engine::{PowEngine, PreparedJob, V5Engine};
pub use error::PowError;
pub use miner::{CpuMiner, FoundShare, MiningJob};
