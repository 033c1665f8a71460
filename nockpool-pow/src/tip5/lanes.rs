//! The permutation written once over a "lanes" type: a `u64` (one state) or a SIMD vector
//! holding the same state word of several states (AVX-512: 8 states, see `avx512.rs`).
//!
//! Values between operations are any `u64` representative of a residue mod p (not necessarily
//! canonical); words are canonicalised only where the split-and-lookup S-box reads raw bytes
//! and at the end. The MDS layer is an exact integer cyclic convolution mod 2^64 (see [`mds`]).

use super::constants::{
    LOOKUP, MDS_COLUMN, NUM_ROUNDS, NUM_SPLIT_AND_LOOKUP, ROUND_CONSTANTS_MONT, STATE_SIZE,
};
use crate::field::{canonicalize, reduce128_lazy, EPSILON};

/// `[f(0), …, f(n-1)]` as a plain loop: `std::array::from_fn` would put the body in a
/// separate function that does not inherit the caller's `#[target_feature]`s.
macro_rules! build {
    ($v:ty, $n:expr, |$i:ident| $body:expr) => {{
        let mut out = [<$v as Lanes>::splat(0); $n];
        for $i in 0..$n {
            out[$i] = $body;
        }
        out
    }};
}

/// `[f(0), …, f(11)]` written out in full (no loop for the optimiser to keep).
macro_rules! each12 {
    (|$i:ident| $body:expr) => {
        each12!(@ |$i| $body; 0 1 2 3 4 5 6 7 8 9 10 11)
    };
    (@ |$i:ident| $body:expr; $($n:literal)*) => {
        [$({
            let $i: usize = $n;
            $body
        }),*]
    };
}

/// `[f(0), …, f(15)]` written out in full, like `each12!`.
macro_rules! each16 {
    (|$i:ident| $body:expr) => {
        each12!(@ |$i| $body; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15)
    };
}

/// Operations the permutation needs on a group of lanes. Every method is `#[inline(always)]`
/// in implementations so the generic code specialises into straight-line SIMD.
pub(crate) trait Lanes: Copy {
    /// Number of lanes (at most 8).
    const WIDTH: usize;
    /// Lanes from the first `WIDTH` words of `words`.
    ///
    /// # Panics
    /// If `words` is shorter than `WIDTH`.
    fn load(words: &[u64]) -> Self;
    /// The lanes into the first `WIDTH` words of `out`.
    ///
    /// # Panics
    /// If `out` is shorter than `WIDTH`.
    fn store(self, out: &mut [u64]);
    /// Every lane `x`.
    fn splat(x: u64) -> Self;
    /// Lane-wise wrapping addition.
    fn add(self, rhs: Self) -> Self;
    /// Lane-wise wrapping subtraction.
    fn sub(self, rhs: Self) -> Self;
    /// Lane-wise wrapping multiplication by a constant (low 64 bits).
    fn mul_const(self, c: u64) -> Self;
    /// Lane-wise logical shift right.
    fn shr<const N: u32>(self) -> Self;
    /// Lane-wise shift left.
    fn shl<const N: u32>(self) -> Self;
    /// The low 32 bits of each lane.
    #[inline(always)]
    fn low32(self) -> Self {
        self.shl::<32>().shr::<32>()
    }
    /// `x · (2^32 - 1)` for lanes `x < 2^32` (exact).
    #[inline(always)]
    fn times_epsilon(self) -> Self {
        self.shl::<32>().sub(self)
    }
    /// `a · b mod p` for any `u64` lanes; result any `u64` representative.
    fn mul_mod(self, rhs: Self) -> Self;
    /// `a² mod p`; result any `u64` representative.
    #[inline(always)]
    fn square_mod(self) -> Self {
        self.mul_mod(self)
    }
    /// `(self + rhs) mod p` where the true sum is below `2^64 + 2^64`; any `u64` representative.
    fn add_mod(self, rhs: Self) -> Self;
    /// The canonical representative (one conditional subtraction of p).
    fn canonical(self) -> Self;
    /// The split-and-lookup S-box on canonical lanes.
    fn lookup(self) -> Self;
}

impl Lanes for u64 {
    const WIDTH: usize = 1;
    #[inline(always)]
    fn load(words: &[u64]) -> Self {
        words[0]
    }
    #[inline(always)]
    fn store(self, out: &mut [u64]) {
        out[0] = self;
    }
    #[inline(always)]
    fn splat(x: u64) -> Self {
        x
    }
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        self.wrapping_add(rhs)
    }
    #[inline(always)]
    fn sub(self, rhs: Self) -> Self {
        self.wrapping_sub(rhs)
    }
    #[inline(always)]
    fn mul_const(self, c: u64) -> Self {
        self.wrapping_mul(c)
    }
    #[inline(always)]
    fn shr<const N: u32>(self) -> Self {
        self >> N
    }
    #[inline(always)]
    fn shl<const N: u32>(self) -> Self {
        self << N
    }
    #[inline(always)]
    fn mul_mod(self, rhs: Self) -> Self {
        reduce128_lazy(self as u128 * rhs as u128)
    }
    #[inline(always)]
    fn add_mod(self, rhs: Self) -> Self {
        let (sum, carry) = self.overflowing_add(rhs);
        // sum + 2^64 ≡ sum + EPSILON, and sum < 2^64 - EPSILON here, so no second overflow.
        if carry {
            sum + EPSILON
        } else {
            sum
        }
    }
    #[inline(always)]
    fn canonical(self) -> Self {
        canonicalize(self)
    }
    #[inline(always)]
    fn lookup(self) -> Self {
        let mut bytes = self.to_le_bytes();
        for b in bytes.iter_mut() {
            *b = LOOKUP[*b as usize];
        }
        u64::from_le_bytes(bytes)
    }
}

// ---------------------------------------------------------------------------------------------
// MDS: t = C ⊛ s (cyclic convolution of length 16), computed exactly over the integers mod 2^64
// on 32-bit halves of s. Each half's true result is < 16 · 2^16 · 2^32 = 2^52, and the CRT /
// Karatsuba decomposition below returns 16 · t (< 2^56), so wrapping arithmetic is exact.
//
// x^16 - 1 = (x^8 - 1)(x^8 + 1), recursively for the cyclic factor; the negacyclic factors use
// Karatsuba. Scaling: cyc_n returns n · (c ⊛_n a); the negacyclic constants carry the matching
// power of two so that each butterfly recombination stays exact without division.
// ---------------------------------------------------------------------------------------------

/// Constants of the decomposition, derived at compile time from `MDS_COLUMN`.
struct MdsConstants {
    /// `8 · (C[k] - C[k+8])`, the negacyclic-8 factor.
    neg8: [u64; 8],
    /// `4 · (C⁺[k] - C⁺[k+4])` with `C⁺[k] = C[k] + C[k+8]`.
    neg4: [u64; 4],
    /// `2 · (C⁺⁺[k] - C⁺⁺[k+2])` with `C⁺⁺[k] = C⁺[k] + C⁺[k+4]`.
    neg2: [u64; 2],
    /// `C⁺⁺⁺[0] + C⁺⁺⁺[1]` and `C⁺⁺⁺[0] - C⁺⁺⁺[1]` with `C⁺⁺⁺[k] = C⁺⁺[k] + C⁺⁺[k+2]`.
    cyc2: [u64; 2],
}

const MDS: MdsConstants = {
    let c = MDS_COLUMN;
    let mut neg8 = [0u64; 8];
    let mut cp = [0u64; 8];
    let mut k = 0;
    while k < 8 {
        neg8[k] = 8u64.wrapping_mul(c[k].wrapping_sub(c[k + 8]));
        cp[k] = c[k] + c[k + 8];
        k += 1;
    }
    let mut neg4 = [0u64; 4];
    let mut cpp = [0u64; 4];
    k = 0;
    while k < 4 {
        neg4[k] = 4u64.wrapping_mul(cp[k].wrapping_sub(cp[k + 4]));
        cpp[k] = cp[k] + cp[k + 4];
        k += 1;
    }
    let neg2 = [
        2u64.wrapping_mul(cpp[0].wrapping_sub(cpp[2])),
        2u64.wrapping_mul(cpp[1].wrapping_sub(cpp[3])),
    ];
    let c3 = [cpp[0] + cpp[2], cpp[1] + cpp[3]];
    let cyc2 = [c3[0] + c3[1], c3[0].wrapping_sub(c3[1])];
    MdsConstants {
        neg8,
        neg4,
        neg2,
        cyc2,
    }
};

/// Full (non-modular) product of two 2-coefficient polynomials, Karatsuba: 3 multiplications.
#[inline(always)]
fn full2<V: Lanes>(a: [V; 2], k: [u64; 2]) -> [V; 3] {
    let p0 = a[0].mul_const(k[0]);
    let p2 = a[1].mul_const(k[1]);
    let p1 = a[0]
        .add(a[1])
        .mul_const(k[0].wrapping_add(k[1]))
        .sub(p0)
        .sub(p2);
    [p0, p1, p2]
}

/// Full product of two 4-coefficient polynomials, Karatsuba over [`full2`]: 9 multiplications.
#[inline(always)]
fn full4<V: Lanes>(a: [V; 4], k: [u64; 4]) -> [V; 7] {
    let lo = full2([a[0], a[1]], [k[0], k[1]]);
    let hi = full2([a[2], a[3]], [k[2], k[3]]);
    let mid = full2(
        [a[0].add(a[2]), a[1].add(a[3])],
        [k[0].wrapping_add(k[2]), k[1].wrapping_add(k[3])],
    );
    let m = [
        mid[0].sub(lo[0]).sub(hi[0]),
        mid[1].sub(lo[1]).sub(hi[1]),
        mid[2].sub(lo[2]).sub(hi[2]),
    ];
    [
        lo[0],
        lo[1],
        lo[2].add(m[0]),
        m[1],
        m[2].add(hi[0]),
        hi[1],
        hi[2],
    ]
}

/// Negacyclic convolution of length 8 (product mod x^8 + 1): 27 multiplications.
#[inline(always)]
fn neg8<V: Lanes>(a: [V; 8], k: [u64; 8]) -> [V; 8] {
    let klo = [k[0], k[1], k[2], k[3]];
    let khi = [k[4], k[5], k[6], k[7]];
    let ksum = [
        k[0].wrapping_add(k[4]),
        k[1].wrapping_add(k[5]),
        k[2].wrapping_add(k[6]),
        k[3].wrapping_add(k[7]),
    ];
    let alo = [a[0], a[1], a[2], a[3]];
    let ahi = [a[4], a[5], a[6], a[7]];
    let asum = [
        a[0].add(a[4]),
        a[1].add(a[5]),
        a[2].add(a[6]),
        a[3].add(a[7]),
    ];
    let p0 = full4(alo, klo);
    let p2 = full4(ahi, khi);
    let pm = full4(asum, ksum);
    // r = p0 - p2 + x^4 (pm - p0 - p2), then x^8 = -1.
    let mid: [V; 7] = build!(V, 7, |i| pm[i].sub(p0[i]).sub(p2[i]));
    let low: [V; 7] = build!(V, 7, |i| p0[i].sub(p2[i]));
    // Coefficients: low[0..7] at 0..6, mid[0..7] at 4..10; 8..10 wrap negated onto 0..2.
    [
        low[0].sub(mid[4]),
        low[1].sub(mid[5]),
        low[2].sub(mid[6]),
        low[3],
        low[4].add(mid[0]),
        low[5].add(mid[1]),
        low[6].add(mid[2]),
        mid[3],
    ]
}

/// Negacyclic convolution of length 4: 9 multiplications.
#[inline(always)]
fn neg4<V: Lanes>(a: [V; 4], k: [u64; 4]) -> [V; 4] {
    let p0 = full2([a[0], a[1]], [k[0], k[1]]);
    let p2 = full2([a[2], a[3]], [k[2], k[3]]);
    let pm = full2(
        [a[0].add(a[2]), a[1].add(a[3])],
        [k[0].wrapping_add(k[2]), k[1].wrapping_add(k[3])],
    );
    let mid: [V; 3] = build!(V, 3, |i| pm[i].sub(p0[i]).sub(p2[i]));
    let low: [V; 3] = build!(V, 3, |i| p0[i].sub(p2[i]));
    // low at 0..2, mid at 2..4; coefficient 4 wraps negated onto 0.
    [low[0].sub(mid[2]), low[1], low[2].add(mid[0]), mid[1]]
}

/// Negacyclic convolution of length 2: 3 multiplications.
#[inline(always)]
fn neg2<V: Lanes>(a: [V; 2], k: [u64; 2]) -> [V; 2] {
    let p = full2(a, k);
    [p[0].sub(p[2]), p[1]]
}

/// `16 · (C ⊛ a)` for one 32-bit half `a` of the state (exact mod 2^64).
#[inline(always)]
pub(crate) fn cyc16<V: Lanes>(a: &[V; 16]) -> [V; 16] {
    // Level 16 -> 8.
    let p8: [V; 8] = build!(V, 8, |k| a[k].add(a[k + 8]));
    let m8: [V; 8] = build!(V, 8, |k| a[k].sub(a[k + 8]));
    let y8 = neg8(m8, MDS.neg8);
    // Level 8 -> 4.
    let p4: [V; 4] = build!(V, 4, |k| p8[k].add(p8[k + 4]));
    let m4: [V; 4] = build!(V, 4, |k| p8[k].sub(p8[k + 4]));
    let y4 = neg4(m4, MDS.neg4);
    // Level 4 -> 2.
    let p2 = [p4[0].add(p4[2]), p4[1].add(p4[3])];
    let m2 = [p4[0].sub(p4[2]), p4[1].sub(p4[3])];
    let y2 = neg2(m2, MDS.neg2);
    // Level 2 -> 1: the cyclic length-2 convolution.
    let xp = p2[0].add(p2[1]).mul_const(MDS.cyc2[0]);
    let xm = p2[0].sub(p2[1]).mul_const(MDS.cyc2[1]);
    let x2 = [xp.add(xm), xp.sub(xm)];
    // Recombine: out[k] = X[k] + Y[k], out[k + n/2] = X[k] - Y[k].
    let x4 = [
        x2[0].add(y2[0]),
        x2[1].add(y2[1]),
        x2[0].sub(y2[0]),
        x2[1].sub(y2[1]),
    ];
    let mut x8 = [V::splat(0); 8];
    for k in 0..4 {
        x8[k] = x4[k].add(y4[k]);
        x8[k + 4] = x4[k].sub(y4[k]);
    }
    let mut out = [V::splat(0); 16];
    for k in 0..8 {
        out[k] = x8[k].add(y8[k]);
        out[k + 8] = x8[k].sub(y8[k]);
    }
    out
}

/// The round constants split into 32-bit halves: `[low halves, high halves]`.
pub(crate) const RC_HALVES: [[u64; NUM_ROUNDS * STATE_SIZE]; 2] = {
    let mut halves = [[0u64; NUM_ROUNDS * STATE_SIZE]; 2];
    let mut k = 0;
    while k < NUM_ROUNDS * STATE_SIZE {
        halves[0][k] = ROUND_CONSTANTS_MONT[k] & 0xFFFF_FFFF;
        halves[1][k] = ROUND_CONSTANTS_MONT[k] >> 32;
        k += 1;
    }
    halves
};

/// The MDS layer on lanes (inputs any `u64`), then the round constants of `round`. Outputs are
/// `u64` representatives, not necessarily canonical.
#[inline(always)]
pub(crate) fn mds_and_constants<V: Lanes>(s: &[V; 16], round: usize) -> [V; 16] {
    let lo: [V; 16] = build!(V, 16, |i| s[i].low32());
    let hi: [V; 16] = build!(V, 16, |i| s[i].shr::<32>());
    let tlo = cyc16(&lo);
    let thi = cyc16(&hi);
    mds_output(&tlo, &thi, round)
}

/// The MDS outputs `16 · t` of both halves, plus the round constants of `round`, as `u64`
/// representatives.
#[inline(always)]
fn mds_output<V: Lanes>(tlo: &[V; 16], thi: &[V; 16], round: usize) -> [V; 16] {
    each16!(|i| {
        // t + c = t_lo + t_hi · 2^32 for the round constant c = c_lo + c_hi · 2^32, with
        // t_lo, t_hi < 2^52 + 2^32 (after removing the factor 16 and adding c's halves).
        let k = round * STATE_SIZE + i;
        let t_lo = tlo[i].shr::<4>().add(V::splat(RC_HALVES[0][k]));
        let t_hi = thi[i].shr::<4>().add(V::splat(RC_HALVES[1][k]));
        // t_hi · 2^32 = (t_hi mod 2^32) · 2^32 + (t_hi >> 32) · 2^64
        //            ≡ (t_hi << 32) + (t_hi >> 32) · (2^32 - 1).
        let h = t_hi.shr::<32>();
        let base = t_lo.add(h.times_epsilon()); // < 2^53 + 2^53, no wrap
        base.add_mod(t_hi.shl::<32>())
    })
}

/// One round on lanes whose words 0..4 are canonical; leaves words 0..4 canonical.
#[inline(always)]
pub(crate) fn round<V: Lanes>(s: &mut [V; 16], r: usize) {
    for word in s.iter_mut().take(NUM_SPLIT_AND_LOOKUP) {
        *word = word.lookup();
    }
    // x^7 on the 12 other words, staged across all of them (x², then x³ and x⁴, then x⁷) so
    // 12 independent chains are in flight at every step.
    // Written out word by word (no loops) so the values stay in registers.
    const _: () = assert!(STATE_SIZE - NUM_SPLIT_AND_LOOKUP == 12);
    let x: [V; 12] = each12!(|i| s[NUM_SPLIT_AND_LOOKUP + i]);
    let x2: [V; 12] = each12!(|i| x[i].square_mod());
    let x3: [V; 12] = each12!(|i| x2[i].mul_mod(x[i]));
    let x4: [V; 12] = each12!(|i| x2[i].square_mod());
    let x7: [V; 12] = each12!(|i| x3[i].mul_mod(x4[i]));
    s[NUM_SPLIT_AND_LOOKUP..].copy_from_slice(&x7);
    *s = mds_and_constants(s, r);
    for word in s.iter_mut().take(NUM_SPLIT_AND_LOOKUP) {
        *word = word.canonical();
    }
}

/// The full permutation on canonical raw lanes; the output is canonical.
#[inline(always)]
pub(crate) fn permute<V: Lanes>(s: &mut [V; 16]) {
    for r in 0..NUM_ROUNDS {
        round(s, r);
    }
    for word in s.iter_mut().skip(NUM_SPLIT_AND_LOOKUP) {
        *word = word.canonical();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Direct circulant product, for checking the decomposition.
    fn mds_direct(s: &[u64; 16]) -> [u128; 16] {
        std::array::from_fn(|i| {
            (0..16)
                .map(|j| MDS_COLUMN[(i + 16 - j) % 16] as u128 * s[j] as u128)
                .sum()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn cyc16_is_16_times_the_convolution(half in proptest::array::uniform16(0u64..=u32::MAX as u64)) {
            let fast = cyc16(&half);
            let direct = mds_direct(&half);
            for i in 0..16 {
                prop_assert_eq!(fast[i] as u128, 16 * direct[i]);
            }
        }

        #[test]
        fn mds_matches_direct_mod_p(s in proptest::array::uniform16(any::<u64>()), r in 0usize..7) {
            let fast = mds_and_constants(&s, r);
            let direct = mds_direct(&s);
            for i in 0..16 {
                let want = (direct[i] + ROUND_CONSTANTS_MONT[r * 16 + i] as u128) % nockpool_core::P as u128;
                prop_assert_eq!(fast[i] as u128 % nockpool_core::P as u128, want);
            }
        }

        #[test]
        fn generic_permutation_matches_scalar_oracle(s in proptest::array::uniform16(0..nockpool_core::P)) {
            let mut generic = s;
            permute::<u64>(&mut generic);
            let mut oracle = s;
            super::super::scalar::permute_raw(&mut oracle);
            prop_assert_eq!(generic, oracle);
        }
    }
}
