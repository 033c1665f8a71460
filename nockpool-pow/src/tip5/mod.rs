//! Tip5 with Nockchain's parameters: 16-word state, rate 10, **7 rounds**, Nockchain's round
//! constants (`nockchain-tip5.md`). This is *not* the `twenty-first` crate's 5-round Tip5.
//!
//! Two layers:
//! - **Canonical-`u64` entry points** ([`permute`], [`permute_many`], [`hash_varlen`],
//!   [`hash_10`]) for checking the kernel against other implementations. They take and return
//!   canonical values and **panic** on any value `>= p` (Nockchain itself crashes on such input;
//!   nothing is silently reduced). Use the `try_*` variants on untrusted input.
//! - **Typed API** on [`Belt`] and [`Digest`]: [`hash_belts`], [`hash_ten`], [`Sponge`],
//!   [`Tog`], [`hash_noun_varlen`] over a [`BeltNoun`], [`hash_belt_list`], [`hash_atom`].
//!
//! Internally the sponge state is kept in Montgomery form (`x·2^64 mod p`) exactly as
//! Nockchain does; callers only ever see canonical values.
//!
//! ```
//! use nockpool_pow::tip5;
//!
//! // Vector from Nockchain's own tests (`test_hash_varlen_jet`).
//! assert_eq!(
//!     tip5::hash_varlen(&[2]),
//!     [8342164316692288712, 12061287490523852513, 4038969618836824144,
//!      5830796451787599265, 468390350313364562],
//! );
//! assert!(tip5::try_hash_varlen(&[nockpool_core::P]).is_err());
//! ```

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
mod constants;
#[cfg(target_arch = "x86_64")]
pub(crate) mod ifma;
pub(crate) mod lanes;
mod noun;
pub(crate) mod portable;
#[cfg(test)]
mod scalar;
mod sponge;

use nockpool_core::Digest;

use crate::error::check_canonical;
use crate::field::{mont_reduce, montify, Belt};
use crate::kernel::{self, Kernel};
use crate::PowError;

pub use noun::{dyck, hash_atom, hash_belt_list, hash_noun_varlen, leaf_sequence, BeltNoun};
pub use sponge::{Sponge, Tog};

pub(crate) use constants::{DIGEST_LEN, RATE, STATE_SIZE};

/// Words in the Tip5 state.
pub const STATE_WIDTH: usize = STATE_SIZE;
/// Words absorbed or squeezed per permutation (the rate).
pub const RATE_WIDTH: usize = RATE;
/// Rounds of Nockchain's Tip5 permutation.
pub const ROUNDS: usize = constants::NUM_ROUNDS;
/// The split-and-lookup S-box table, `LOOKUP[x] = ((x + 1)^3 - 1) mod 257` (for kernels
/// outside this crate, e.g. the GPU engine; this crate's kernels use the same table).
pub const LOOKUP_TABLE: [u8; 256] = constants::LOOKUP;
/// The first column of the circulant MDS matrix: `t[i] = Σ_j MDS_FIRST_COLUMN[(i - j) mod 16]·s[j]`.
pub const MDS_FIRST_COLUMN: [u64; STATE_WIDTH] = constants::MDS_COLUMN;
/// The round constants in Montgomery form (`montify(RC)`, added to the raw state), round-major.
pub const ROUND_CONSTANTS_MONT: [u64; ROUNDS * STATE_WIDTH] = constants::ROUND_CONSTANTS_MONT;

/// A digest built from limbs the kernel produced (always canonical).
#[inline]
pub(crate) fn digest_from_canonical(limbs: [u64; DIGEST_LEN]) -> Digest {
    Digest::new(limbs).expect("Tip5 outputs are canonical field elements")
}

fn panic_non_canonical(function: &str, err: PowError) -> ! {
    panic!("nockpool_pow::tip5::{function}: {err}")
}

/// The permutation on a raw (Montgomery-form) state with the selected kernel; every word must
/// be `< p`.
#[inline]
pub(crate) fn permute_mont(state: &mut [u64; STATE_SIZE]) {
    permute_mont_with(kernel::current(), state)
}

/// The permutation on one raw state with `kernel`'s single-state path: AVX-512 across the
/// state's words where the CPU has IFMA, the portable path otherwise (AVX2 has no single-state
/// path of its own: 4 lanes cannot hold a 16-word state usefully).
pub(crate) fn permute_mont_with(kernel: Kernel, state: &mut [u64; STATE_SIZE]) {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 if avx512::available() && ifma::available() => {
            // SAFETY: the CPU features were checked by the match guard.
            unsafe { ifma::permute1(state) }
        }
        _ => portable::permute1(state),
    }
}

/// The permutation on one canonical state (into Montgomery form, permute, back) with
/// `kernel`: the conversions in vectors on the AVX-512 path, word by word otherwise.
fn permute_canonical_with(kernel: Kernel, state: &mut [u64; STATE_SIZE]) {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 if avx512::available() && ifma::available() => {
            // SAFETY: the CPU features were checked by the match guard.
            unsafe { ifma::permute1_canonical(state) }
        }
        _ => {
            for word in state.iter_mut() {
                *word = montify(*word);
            }
            permute_mont_with(kernel, state);
            for word in state.iter_mut() {
                *word = mont_reduce(*word as u128);
            }
        }
    }
}

/// [`permute_canonical_with`] on many states, batched.
fn permute_canonical_many_with(kernel: Kernel, states: &mut [[u64; STATE_SIZE]]) {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 if avx512::available() => {
            let mut chunks = states.chunks_exact_mut(avx512::WIDTH);
            for chunk in &mut chunks {
                let group: &mut [[u64; STATE_SIZE]; avx512::WIDTH] =
                    chunk.try_into().expect("chunk of WIDTH states");
                // SAFETY: the CPU features were checked by the match guard.
                unsafe { avx512::permute8_canonical(group) };
            }
            for state in chunks.into_remainder() {
                permute_canonical_with(kernel, state);
            }
        }
        _ => {
            for state in states.iter_mut() {
                for word in state.iter_mut() {
                    *word = montify(*word);
                }
            }
            permute_mont_many_with(kernel, states);
            for state in states.iter_mut() {
                for word in state.iter_mut() {
                    *word = mont_reduce(*word as u128);
                }
            }
        }
    }
}

/// The name of the kernel everything in this crate hashes with (`"avx512"`, `"avx2"` or
/// `"portable"`), for logs and benchmark reports: [`kernel::current`].
pub fn kernel_name() -> &'static str {
    kernel::current().name()
}

/// The permutation on many raw (Montgomery-form) states with the selected kernel.
#[cfg(test)]
pub(crate) fn permute_mont_many(states: &mut [[u64; STATE_SIZE]]) {
    permute_mont_many_with(kernel::current(), states)
}

/// The permutation on many raw states with `kernel` (the portable one if the CPU cannot run
/// it): batches of its width, the rest one at a time.
pub(crate) fn permute_mont_many_with(kernel: Kernel, states: &mut [[u64; STATE_SIZE]]) {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 if avx512::available() => {
            let mut chunks = states.chunks_exact_mut(avx512::WIDTH);
            for chunk in &mut chunks {
                let group: &mut [[u64; STATE_SIZE]; avx512::WIDTH] =
                    chunk.try_into().expect("chunk of WIDTH states");
                // SAFETY: the CPU features were checked by the match guard.
                unsafe { avx512::permute8(group) };
            }
            portable::permute_many(chunks.into_remainder());
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 if avx2::available() => {
            let mut chunks = states.chunks_exact_mut(avx2::WIDTH);
            for chunk in &mut chunks {
                let group: &mut [[u64; STATE_SIZE]; avx2::WIDTH] =
                    chunk.try_into().expect("chunk of WIDTH states");
                // SAFETY: the CPU features were checked by the match guard.
                unsafe { avx2::permute4(group) };
            }
            portable::permute_many(chunks.into_remainder());
        }
        _ => portable::permute_many(states),
    }
}

/// The Tip5 permutation on a canonical state, as checked by [`try_permute`].
///
/// `out = demont(P(montify(in)))` word by word, where `P` is Nockchain's 7-round permutation on
/// the Montgomery-form state (`tip5-vectors.json` → `permutation`).
///
/// # Panics
/// If any word is `>= p` (message names the index and value).
pub fn permute(state: &mut [u64; 16]) {
    if let Err(err) = try_permute(state) {
        panic_non_canonical("permute", err);
    }
}

/// [`permute`] that returns [`PowError::NonCanonical`] (leaving `state` untouched) instead of
/// panicking.
pub fn try_permute(state: &mut [u64; 16]) -> Result<(), PowError> {
    check_canonical(state)?;
    permute_canonical_with(kernel::current(), state);
    Ok(())
}

/// [`permute`] applied to every state, batched internally (several states per SIMD lane group
/// where the CPU allows). Identical results to calling [`permute`] on each.
///
/// # Panics
/// If any word of any state is `>= p`; then no state is modified.
pub fn permute_many(states: &mut [[u64; 16]]) {
    if let Err(err) = try_permute_many(states) {
        panic_non_canonical("permute_many", err);
    }
}

/// [`permute_many`] that returns an error (modifying nothing) instead of panicking. The error's
/// `index` counts words across all states (`16 · state + word`).
pub fn try_permute_many(states: &mut [[u64; 16]]) -> Result<(), PowError> {
    for (n, state) in states.iter().enumerate() {
        check_canonical(state).map_err(|err| match err {
            PowError::NonCanonical { index, value } => PowError::NonCanonical {
                index: n * STATE_SIZE + index,
                value,
            },
            other => other,
        })?;
    }
    permute_canonical_many_with(kernel::current(), states);
    Ok(())
}

/// Variable-length Tip5 hash (`hash-varlen`): zero state, input padded with `1` and `0`s to a
/// multiple of 10 (always at least one pad word), montified, absorbed block by block by
/// overwriting the rate; the digest is the first five words, de-montified.
///
/// # Panics
/// If any input word is `>= p`; see [`try_hash_varlen`].
pub fn hash_varlen(input: &[u64]) -> [u64; 5] {
    match try_hash_varlen(input) {
        Ok(digest) => digest.to_limbs(),
        Err(err) => panic_non_canonical("hash_varlen", err),
    }
}

/// [`hash_varlen`] with a typed result: [`PowError::NonCanonical`] for a word `>= p`.
pub fn try_hash_varlen(input: &[u64]) -> Result<Digest, PowError> {
    check_canonical(input)?;
    Ok(hash_varlen_canonical(input.iter().copied()))
}

/// [`hash_varlen`] of field elements (cannot fail).
pub fn hash_belts(input: &[Belt]) -> Digest {
    hash_varlen_canonical(input.iter().map(|b| b.value()))
}

/// `hash_varlen` over an iterator of values known to be canonical.
pub(crate) fn hash_varlen_canonical(input: impl Iterator<Item = u64>) -> Digest {
    let mut sponge = Sponge::new();
    sponge.absorb_canonical(input);
    sponge.digest()
}

/// Fixed-length Tip5 hash of exactly 10 words (`hash-10`): state = `montify(input) ++
/// [montify(1)]·6`, one permutation, digest = first five words de-montified.
///
/// # Panics
/// If any input word is `>= p`; see [`try_hash_10`].
pub fn hash_10(input: &[u64; 10]) -> [u64; 5] {
    match try_hash_10(input) {
        Ok(digest) => digest.to_limbs(),
        Err(err) => panic_non_canonical("hash_10", err),
    }
}

/// [`hash_10`] with a typed result: [`PowError::NonCanonical`] for a word `>= p`.
pub fn try_hash_10(input: &[u64; 10]) -> Result<Digest, PowError> {
    check_canonical(input)?;
    Ok(digest_from_canonical(hash_10_canonical(input)))
}

/// `hash_10` of canonical words.
#[inline]
pub(crate) fn hash_10_canonical(input: &[u64; 10]) -> [u64; DIGEST_LEN] {
    // The capacity is 1 (montify(1) in Montgomery form).
    let mut state = [1; STATE_SIZE];
    state[..10].copy_from_slice(input);
    permute_canonical_with(kernel::current(), &mut state);
    std::array::from_fn(|i| state[i])
}

/// `hash-ten-cell`: the hash of the cell of two digests, `hash_10(left ++ right)`. Also what
/// the spec writes `ten(a, b)`.
pub fn hash_ten(left: &Digest, right: &Digest) -> Digest {
    let mut input = [0u64; 10];
    input[..5].copy_from_slice(left.limbs());
    input[5..].copy_from_slice(right.limbs());
    digest_from_canonical(hash_10_canonical(&input))
}

#[cfg(test)]
mod tests;
