//! The portable kernel: plain Rust, one state at a time, on every CPU.
//!
//! The arithmetic is the generic code of `lanes.rs` on `u64` lanes: products through
//! `u64 × u64 → u128` with Goldilocks' special reduction left lazy (any `u64` representative)
//! between the multiplications of the power map, the MDS layer as an exact convolution of the
//! words' 32-bit halves (41 multiplications each instead of 256).
//!
//! Interleaving two states word by word (`[u64; 2]` lanes, or only their S-box layers) was
//! measured and lost on Zen 5 (6–12 % slower: 16 general registers cannot hold two states, and
//! the spills cost more than the extra overlap gains; `benches/BENCHES.md`), so one state is
//! permuted at a time; one state already has 12 independent power maps per round.

use super::constants::STATE_SIZE;
use super::lanes;

/// The permutation on one raw (Montgomery, canonical) state, out of line.
#[inline(never)]
pub(crate) fn permute1(s: &mut [u64; STATE_SIZE]) {
    lanes::permute::<u64>(s)
}

/// The permutation on every raw state.
pub(crate) fn permute_many(states: &mut [[u64; STATE_SIZE]]) {
    for state in states {
        permute1(state);
    }
}
