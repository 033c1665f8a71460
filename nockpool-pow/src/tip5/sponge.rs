//! The Tip5 sponge object (`++ sponge`, `nockchain-tip5.md` §5.3) and the `tog` PRNG (§5.4).

use nockpool_core::Digest;

use super::constants::{RATE, STATE_SIZE};
use super::{digest_from_canonical, permute_mont};
use crate::error::check_canonical;
use crate::field::{mont_reduce, montify, Belt};
use crate::PowError;

/// A Tip5 sponge in the variable-length domain (zero capacity).
///
/// Every [`absorb`](Sponge::absorb) pads *its own* input (one `1`, then `0`s to a multiple of
/// 10) and overwrites the rate block by block, so absorbing `a` then `b` differs from absorbing
/// `a ++ b`. [`squeeze`](Sponge::squeeze) returns the 10 rate words and then permutes.
///
/// ```
/// use nockpool_pow::{field::Belt, tip5::{self, Sponge}};
///
/// let mut sponge = Sponge::new();
/// sponge.absorb(&[Belt::ONE, Belt::new(2).unwrap()]);
/// let out = sponge.squeeze();
/// assert_eq!(out[..5], tip5::hash_varlen(&[1, 2])[..].iter()
///     .map(|&v| Belt::new(v).unwrap()).collect::<Vec<_>>()[..]);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Sponge {
    /// Montgomery-form state.
    state: [u64; STATE_SIZE],
}

impl Default for Sponge {
    fn default() -> Self {
        Sponge::new()
    }
}

impl std::fmt::Debug for Sponge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let canonical: Vec<u64> = self.state.iter().map(|&w| mont_reduce(w as u128)).collect();
        f.debug_struct("Sponge").field("state", &canonical).finish()
    }
}

impl Sponge {
    /// A fresh sponge: all-zero state (the variable-length domain).
    pub const fn new() -> Sponge {
        Sponge {
            state: [0; STATE_SIZE],
        }
    }

    /// Absorbs field elements (padded per call).
    pub fn absorb(&mut self, input: &[Belt]) {
        self.absorb_canonical(input.iter().map(|b| b.value()));
    }

    /// Absorbs raw `u64` words, refusing (and absorbing nothing) if any is `>= p`.
    pub fn try_absorb(&mut self, input: &[u64]) -> Result<(), PowError> {
        check_canonical(input)?;
        self.absorb_canonical(input.iter().copied());
        Ok(())
    }

    /// Absorbs canonical words with padding; the caller guarantees canonicity.
    pub(crate) fn absorb_canonical(&mut self, input: impl Iterator<Item = u64>) {
        let mut filled = 0;
        for v in input {
            self.state[filled] = montify(v);
            filled += 1;
            if filled == RATE {
                permute_mont(&mut self.state);
                filled = 0;
            }
        }
        // Padding: a 1, then zeros up to the block end (montify(1) = 2^32 - 1, montify(0) = 0).
        self.state[filled] = montify(1);
        for slot in &mut self.state[filled + 1..RATE] {
            *slot = 0;
        }
        permute_mont(&mut self.state);
    }

    /// The 10 rate words (de-montified), then one permutation.
    pub fn squeeze(&mut self) -> [Belt; RATE] {
        let out = self.peek_rate();
        permute_mont(&mut self.state);
        out
    }

    /// The first five words of the state as a digest, without permuting (what `hash_varlen`
    /// returns after absorbing).
    pub fn digest(&self) -> Digest {
        digest_from_canonical(std::array::from_fn(|i| mont_reduce(self.state[i] as u128)))
    }

    /// The 10 rate words, de-montified, without permuting.
    pub(crate) fn peek_rate(&self) -> [Belt; RATE] {
        std::array::from_fn(|i| Belt::from_mont(self.state[i]))
    }

    /// The raw Montgomery-form state.
    #[cfg(test)]
    pub(crate) fn raw_state(&self) -> &[u64; STATE_SIZE] {
        &self.state
    }

    /// Turns this sponge into a `tog` random-belt generator.
    pub fn into_tog(self) -> Tog {
        Tog { sponge: self }
    }
}

/// Nockchain's `tog`: a pseudo-random belt generator over a sponge (`nockchain-tip5.md` §5.4).
///
/// [`belts(n)`](Tog::belts) does `n / 10` full squeezes and then **one more** squeeze keeping
/// its first `n % 10` words, so `belts(10)` squeezes twice. The state advances on every squeeze.
///
/// ```
/// use nockpool_pow::{field::Belt, tip5::{self, Sponge}};
///
/// // belts(5) after absorbing nothing equals hash_varlen([]).
/// let mut sponge = Sponge::new();
/// sponge.absorb(&[]);
/// let mut tog = sponge.into_tog();
/// let five: Vec<u64> = tog.belts(5).iter().map(|b| b.value()).collect();
/// assert_eq!(five, tip5::hash_varlen(&[]).to_vec());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Tog {
    sponge: Sponge,
}

impl Tog {
    /// A generator over `sponge` (typically after absorbing a seed).
    pub fn new(sponge: Sponge) -> Tog {
        Tog { sponge }
    }

    /// `n` pseudo-random field elements.
    pub fn belts(&mut self, n: usize) -> Vec<Belt> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n / RATE {
            out.extend_from_slice(&self.sponge.squeeze());
        }
        let rest = self.sponge.squeeze();
        out.extend_from_slice(&rest[..n % RATE]);
        out
    }

    /// `n` extension-field elements (`felts`), each three consecutive belts of `belts(3n)`.
    pub fn felts(&mut self, n: usize) -> Vec<[Belt; 3]> {
        self.belts(3 * n)
            .chunks_exact(3)
            .map(|c| [c[0], c[1], c[2]])
            .collect()
    }

    /// A pseudo-random index below `size` (`belts(1)[0] mod size`); `None` if `size` is 0.
    pub fn index(&mut self, size: u64) -> Option<u64> {
        let b = self.belts(1)[0];
        b.value().checked_rem(size)
    }

    /// The sponge underneath.
    pub fn sponge(&self) -> &Sponge {
        &self.sponge
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absorbs_pad_independently() {
        let (a, b) = ([Belt::ONE], [Belt::new(2).unwrap()]);
        let mut split = Sponge::new();
        split.absorb(&a);
        split.absorb(&b);
        let mut joined = Sponge::new();
        joined.absorb(&[a[0], b[0]]);
        assert_ne!(split.raw_state(), joined.raw_state());
    }

    #[test]
    fn try_absorb_refuses_non_canonical_and_keeps_state() {
        let mut sponge = Sponge::new();
        let before = sponge.clone();
        assert_eq!(
            sponge.try_absorb(&[1, nockpool_core::P]),
            Err(PowError::NonCanonical {
                index: 1,
                value: nockpool_core::P
            })
        );
        assert_eq!(sponge, before);
    }

    #[test]
    fn index_of_zero_size_is_none() {
        assert_eq!(Sponge::new().into_tog().index(0), None);
    }
}
