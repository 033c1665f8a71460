//! The portable permutation on one Montgomery-form state: the test oracle for every batched path.

use super::constants::{
    LOOKUP, MDS_COLUMN, NUM_ROUNDS, NUM_SPLIT_AND_LOOKUP, ROUND_CONSTANTS_MONT, STATE_SIZE,
};
use crate::field::{add_canonical, reduce128};

/// Split-and-lookup S-box on one raw word: bytes through [`LOOKUP`], little-endian.
#[inline(always)]
pub(crate) fn split_and_lookup(x: u64) -> u64 {
    let mut bytes = x.to_le_bytes();
    for b in bytes.iter_mut() {
        *b = LOOKUP[*b as usize];
    }
    u64::from_le_bytes(bytes)
}

/// `x^7 mod p`. On a raw value this is also the Montgomery seventh power, since
/// `(xR)^7 = x^7·R·R^6` and `R^6 ≡ 1 (mod p)`.
#[inline(always)]
pub(crate) fn pow7(x: u64) -> u64 {
    let x2 = reduce128(x as u128 * x as u128);
    let x3 = reduce128(x2 as u128 * x as u128);
    let x4 = reduce128(x2 as u128 * x2 as u128);
    reduce128(x3 as u128 * x4 as u128)
}

/// The circulant MDS product on canonical words, via 32-bit halves so that each half's
/// convolution fits a `u64` accumulator (16 · 2^16 · 2^32 < 2^53).
#[inline(always)]
pub(crate) fn mds(s: &[u64; STATE_SIZE]) -> [u64; STATE_SIZE] {
    let mut lo = [0u64; STATE_SIZE];
    let mut hi = [0u64; STATE_SIZE];
    for j in 0..STATE_SIZE {
        let (sl, sh) = (s[j] & 0xFFFF_FFFF, s[j] >> 32);
        for i in 0..STATE_SIZE {
            let c = MDS_COLUMN[(i + STATE_SIZE - j) % STATE_SIZE];
            lo[i] += c * sl;
            hi[i] += c * sh;
        }
    }
    let mut out = [0u64; STATE_SIZE];
    for i in 0..STATE_SIZE {
        out[i] = reduce128(lo[i] as u128 + ((hi[i] as u128) << 32));
    }
    out
}

/// One round (S-box, MDS, round constants) of the permutation on a raw state.
#[inline(always)]
pub(crate) fn round(state: &mut [u64; STATE_SIZE], round: usize) {
    for word in state.iter_mut().take(NUM_SPLIT_AND_LOOKUP) {
        *word = split_and_lookup(*word);
    }
    for word in state.iter_mut().skip(NUM_SPLIT_AND_LOOKUP) {
        *word = pow7(*word);
    }
    let mixed = mds(state);
    let rc = &ROUND_CONSTANTS_MONT[round * STATE_SIZE..(round + 1) * STATE_SIZE];
    for i in 0..STATE_SIZE {
        state[i] = add_canonical(mixed[i], rc[i]);
    }
}

/// One full 7-round permutation of a raw (Montgomery-form, canonical) state.
pub(crate) fn permute_raw(state: &mut [u64; STATE_SIZE]) {
    for r in 0..NUM_ROUNDS {
        round(state, r);
    }
}
