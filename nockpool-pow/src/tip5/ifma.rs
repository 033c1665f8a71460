//! The single-state AVX-512 path with IFMA: one state's 16 words in two vectors.
//!
//! A single permutation (a pool's share check, `hash_10`, the sponge) has little parallelism,
//! so this path is about short dependency chains. A word `x` is held as two lanes
//! `lo + hi·2^32` with `lo < 2^32` and `hi < 2^32 + 2^23` ([`Limbs`]). `vpmadd52{lo,hi}uq`
//! multiply such limbs exactly (operands up to 52 bits) and split every partial product into its
//! low 52 bits and the rest, so partial products add up in 64-bit lanes without carries;
//! Goldilocks' `2^64 ≡ 2^32 - 1` and `2^96 ≡ -1` fold them into two lanes below 2^54 ([`fold`]),
//! which [`normalize`] turns into limbs again. Nothing is compared or corrected until a word must
//! be canonical (the byte S-box and the output). The MDS layer multiplies each word, broadcast
//! to every lane, by its matrix column and accumulates with `vpmadd52luq`.
//!
//! Batched states use the `vpmuludq` arithmetic of `avx512.rs` instead: IFMA needs 9
//! multiplier operations per field product there against 4, and with 8 states per vector the
//! multiplier ports, not latency, set the pace (measured: IFMA batches ran 12–25 % slower on
//! Zen 5; `benches/BENCHES.md`).

use std::arch::x86_64::*;

use super::avx512::{from_mont, to_mont, V8};
use super::constants::{NUM_ROUNDS, STATE_SIZE};
use super::lanes::{Lanes, RC_HALVES};
use crate::field::EPSILON;

/// Whether this CPU can run the IFMA single-state path.
pub(crate) fn available() -> bool {
    super::avx512::available() && is_x86_feature_detected!("avx512ifma")
}

/// A word as `lo + hi·2^32` (mod p) with `lo < 2^32`, `hi < 2^32 + 2^23`.
#[derive(Clone, Copy)]
struct Limbs {
    lo: __m512i,
    hi: __m512i,
}

/// `BIAS_L + BIAS_H·2^32 = p`: added to the two halves of a folded product so that neither
/// goes negative (see [`mul`]) without changing the value mod p.
const BIAS_L: u64 = (1 << 53) + 1;
const BIAS_H: u64 = (nockpool_core::P - BIAS_L) >> 32;
const _: () = assert!(BIAS_L as u128 + ((BIAS_H as u128) << 32) == nockpool_core::P as u128);

// SAFETY (every function below): only inlined into functions compiled with the AVX-512 F/BW/
// DQ/VBMI/IFMA target features, which run only after `available()` returned true.

#[inline(always)]
fn splat(x: u64) -> __m512i {
    unsafe { _mm512_set1_epi64(x as i64) }
}

/// Limbs of `l + h·2^32` for `l, h < 2^54`.
#[inline(always)]
fn normalize(l: __m512i, h: __m512i) -> Limbs {
    unsafe {
        let mask = splat(EPSILON);
        // h = h0 + h1·2^32 and 2^64 ≡ 2^32 - 1: value ≡ l + h1·(2^32 - 1) + h0·2^32.
        let h1 = _mm512_srli_epi64::<32>(h);
        let a = _mm512_add_epi64(l, _mm512_sub_epi64(_mm512_slli_epi64::<32>(h1), h1)); // < 2^55
        Limbs {
            lo: _mm512_and_si512(a, mask),
            hi: _mm512_add_epi64(_mm512_srli_epi64::<32>(a), _mm512_and_si512(h, mask)),
        }
    }
}

/// The canonical value of `l + h·2^32` for `l, h < 2^54`.
#[inline(always)]
fn canonical(l: __m512i, h: __m512i) -> __m512i {
    unsafe {
        let eps = splat(EPSILON);
        let h1 = _mm512_srli_epi64::<32>(h);
        let a = _mm512_add_epi64(l, _mm512_sub_epi64(_mm512_slli_epi64::<32>(h1), h1)); // < 2^55
                                                                                        // a + (h mod 2^32)·2^32 overflows at most once, by 2^64 ≡ 2^32 - 1.
        let r = _mm512_add_epi64(a, _mm512_slli_epi64::<32>(h));
        let carry = _mm512_cmplt_epu64_mask(r, a);
        let r = _mm512_mask_add_epi64(r, carry, r, eps);
        // r + (2^32 - 1) wraps exactly when r >= p, and then equals r - p < r.
        _mm512_min_epu64(r, _mm512_add_epi64(r, eps))
    }
}

/// Folds the partial products of `x·y` into `(l, h)`, `l, h < 2^54`, `l + h·2^32 ≡ x·y`.
///
/// With `x = x0 + x1·2^32`, `y` likewise, `x·y = P00 + (P01 + P10)·2^32 + P11·2^64`, and IFMA
/// splits each `P = Pl + Ph·2^52`. Using `2^52 = 2^20·2^32`, `2^64 ≡ 2^32 - 1`,
/// `2^84 ≡ 2^20·2^32 - 2^20` and `2^116 ≡ -2^20`:
///   `l = P00l - P11l - (P01h + P10h + P11h)·2^20`,
///   `h = P01l + P10l + P11l + (P00h + P01h + P10h)·2^20`.
/// The partial products are below 2^66 (limbs below 2^33), so every `Ph < 2^14` and the shifted
/// sums stay below 2^35; `BIAS_L > 2^52 + 2^35` keeps `l` positive.
/// `cross` are the operand pairs of `P01` and `P10` (for a square, one pair with a doubled limb).
#[inline(always)]
fn fold(
    x0y0: (__m512i, __m512i),
    cross: &[(__m512i, __m512i)],
    x1y1: (__m512i, __m512i),
) -> (__m512i, __m512i) {
    // Every multiply-add starts from a constant, so the chains are one `vpmadd52` deep plus a
    // few additions: a single state is latency-bound.
    unsafe {
        let zero = _mm512_setzero_si512();
        let l0 = _mm512_madd52lo_epu64(splat(BIAS_L), x0y0.0, x0y0.1);
        let p11l = _mm512_madd52lo_epu64(zero, x1y1.0, x1y1.1);
        let mut hs = _mm512_madd52lo_epu64(splat(BIAS_H), cross[0].0, cross[0].1);
        let mut mid_hi = _mm512_madd52hi_epu64(zero, cross[0].0, cross[0].1);
        for &(a, b) in &cross[1..] {
            hs = _mm512_add_epi64(hs, _mm512_madd52lo_epu64(zero, a, b));
            mid_hi = _mm512_add_epi64(mid_hi, _mm512_madd52hi_epu64(zero, a, b));
        }
        let hs = _mm512_add_epi64(hs, p11l);
        let to_l = _mm512_add_epi64(mid_hi, _mm512_madd52hi_epu64(zero, x1y1.0, x1y1.1));
        let to_h = _mm512_add_epi64(mid_hi, _mm512_madd52hi_epu64(zero, x0y0.0, x0y0.1));
        let l = _mm512_sub_epi64(_mm512_sub_epi64(l0, p11l), _mm512_slli_epi64::<20>(to_l));
        let h = _mm512_add_epi64(hs, _mm512_slli_epi64::<20>(to_h));
        (l, h)
    }
}

#[inline(always)]
fn mul(x: Limbs, y: Limbs) -> Limbs {
    let (l, h) = fold((x.lo, y.lo), &[(x.lo, y.hi), (x.hi, y.lo)], (x.hi, y.hi));
    normalize(l, h)
}

#[inline(always)]
fn square(x: Limbs) -> Limbs {
    // P01 + P10 = x0·(2·x1), with 2·x1 < 2^34.
    let hi2 = unsafe { _mm512_add_epi64(x.hi, x.hi) };
    let (l, h) = fold((x.lo, x.lo), &[(x.lo, hi2)], (x.hi, x.hi));
    normalize(l, h)
}

/// Limbs of a canonical (or any `u64`) word.
#[inline(always)]
fn split(x: __m512i) -> Limbs {
    unsafe {
        Limbs {
            lo: _mm512_and_si512(x, splat(EPSILON)),
            hi: _mm512_srli_epi64::<32>(x),
        }
    }
}

/// `$body` for `$j` = 0, 1, …, 15, written out.
macro_rules! unroll16 {
    (|$j:ident| $body:block) => {
        unroll16!(@ |$j| $body; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15)
    };
    (@ |$j:ident| $body:block; $($n:literal)*) => {
        $({
            let $j: usize = $n;
            $body
        })*
    };
}

/// `vpermq` indices broadcasting word `j mod 8` of a vector to every lane.
const BROADCAST: [[i64; 8]; 8] = {
    let mut table = [[0i64; 8]; 8];
    let mut j = 0;
    while j < 8 {
        table[j] = [j as i64; 8];
        j += 1;
    }
    table
};

/// MDS columns for the single-state path: `[j][0]` holds `C[(i - j) mod 16]` for output words
/// `i = 0..8`, `[j][1]` for `i = 8..16`, so that `t = Σ_j s_j · column_j`.
const COLUMNS: [[[u64; 8]; 2]; STATE_SIZE] = {
    let c = super::constants::MDS_COLUMN;
    let mut table = [[[0u64; 8]; 2]; STATE_SIZE];
    let mut j = 0;
    while j < STATE_SIZE {
        let mut i = 0;
        while i < STATE_SIZE {
            table[j][i / 8][i % 8] = c[(i + STATE_SIZE - j) % STATE_SIZE];
            i += 1;
        }
        j += 1;
    }
    table
};

/// Independent accumulators per MDS output vector (shorter multiply-add chains).
const ACCUMULATORS: usize = 4;

/// Permutes one raw (Montgomery, canonical) state held in two vectors (words 0..8, 8..16):
/// the power map on both at once, the lookup on the first, and the MDS as 16 broadcast words
/// times their matrix columns, accumulated by `vpmadd52luq` (exact: 16-bit entries times limbs
/// below 2^33). A single state has little parallelism, so this path is about short chains.
///
/// # Safety
/// The CPU must support the features [`available`] checks.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vbmi,avx512ifma")]
pub(crate) unsafe fn permute1(state: &mut [u64; STATE_SIZE]) {
    let (a, b) = load_state(state);
    let (a, b) = permute_vectors(a, b);
    store_state(state, a, b);
}

/// [`permute1`] on a canonical state: into Montgomery form and back in vectors.
///
/// # Safety
/// The CPU must support the features [`available`] checks.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vbmi,avx512ifma")]
pub(crate) unsafe fn permute1_canonical(state: &mut [u64; STATE_SIZE]) {
    let (a, b) = load_state(state);
    let (a, b) = permute_vectors(to_mont(V8(a)).0, to_mont(V8(b)).0);
    store_state(state, from_mont(V8(a)).0, from_mont(V8(b)).0);
}

#[inline(always)]
fn load_state(state: &[u64; STATE_SIZE]) -> (__m512i, __m512i) {
    // SAFETY: in-bounds 64-byte loads; only inlined into AVX-512 functions.
    unsafe {
        (
            _mm512_loadu_si512(state.as_ptr().cast()),
            _mm512_loadu_si512(state[8..].as_ptr().cast()),
        )
    }
}

#[inline(always)]
fn store_state(state: &mut [u64; STATE_SIZE], a: __m512i, b: __m512i) {
    // SAFETY: in-bounds 64-byte stores; only inlined into AVX-512 functions.
    unsafe {
        _mm512_storeu_si512(state.as_mut_ptr().cast(), a);
        _mm512_storeu_si512(state[8..].as_mut_ptr().cast(), b);
    }
}

/// The permutation on a canonical raw state in two vectors (words 0..8, 8..16); canonical
/// output.
#[inline(always)]
fn permute_vectors(a: __m512i, b: __m512i) -> (__m512i, __m512i) {
    // SAFETY: only inlined into AVX-512 F/BW/DQ/VBMI/IFMA functions (see above); the loads
    // are in-bounds 64-byte loads of constant tables.
    unsafe {
        let load = |words: &[u64]| _mm512_loadu_si512(words.as_ptr().cast());
        let mut a = a;
        let mut b = split(b);
        let mut broadcast = [_mm512_setzero_si512(); 8];
        for (index, words) in broadcast.iter_mut().zip(&BROADCAST) {
            *index = _mm512_loadu_si512(words.as_ptr().cast());
        }
        for round in 0..NUM_ROUNDS {
            // S-box: the lookup on words 0..4 (canonical a), x^7 on everything else.
            let looked = split(V8(a).lookup().0);
            let la = split(a);
            let (a2, b2) = (square(la), square(b));
            let (a3, b3) = (mul(a2, la), mul(b2, b));
            let (a4, b4) = (square(a2), square(b2));
            let (a7, b7) = (mul(a3, a4), mul(b3, b4));
            let sa = Limbs {
                lo: _mm512_mask_blend_epi64(0x0F, a7.lo, looked.lo),
                hi: _mm512_mask_blend_epi64(0x0F, a7.hi, looked.hi),
            };
            // MDS plus round constants: acc[half][limb][k], round constants in the first.
            let k = round * STATE_SIZE;
            let zero = _mm512_setzero_si512();
            let mut acc = [[[zero; ACCUMULATORS]; 2]; 2];
            for (half, acc) in acc.iter_mut().enumerate() {
                for (limb, acc) in acc.iter_mut().enumerate() {
                    acc[0] = load(&RC_HALVES[limb][k + 8 * half..k + 8 * half + 8]);
                }
            }
            // Written out (no loop): the accumulators must stay in registers.
            unroll16!(|j| {
                let src = if j < 8 { sa } else { b7 };
                let lo = _mm512_permutexvar_epi64(broadcast[j % 8], src.lo);
                let hi = _mm512_permutexvar_epi64(broadcast[j % 8], src.hi);
                let slot = j % ACCUMULATORS;
                for (half, acc) in acc.iter_mut().enumerate() {
                    let column = load(&COLUMNS[j][half]);
                    acc[0][slot] = _mm512_madd52lo_epu64(acc[0][slot], column, lo);
                    acc[1][slot] = _mm512_madd52lo_epu64(acc[1][slot], column, hi);
                }
            });
            let sum = |v: [__m512i; ACCUMULATORS]| {
                _mm512_add_epi64(_mm512_add_epi64(v[0], v[1]), _mm512_add_epi64(v[2], v[3]))
            };
            // Each limb sum is below 16 · 2^16 · 2^33 + 2^32 < 2^54.
            a = canonical(sum(acc[0][0]), sum(acc[0][1]));
            b = normalize(sum(acc[1][0]), sum(acc[1][1]));
        }
        (a, canonical(b.lo, b.hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const P: u128 = nockpool_core::P as u128;
    /// The exclusive upper bound of a high limb.
    const HI_LIMIT: u64 = (1 << 32) + (1 << 23);

    fn value(lo: u64, hi: u64) -> u128 {
        (lo as u128 + ((hi as u128) << 32)) % P
    }

    /// A low limb, edges likely.
    fn lo_limb() -> impl Strategy<Value = u64> {
        prop_oneof![0..1u64 << 32, Just(0), Just(u32::MAX as u64)]
    }

    /// A high limb, up to the lazy bound, edges likely.
    fn hi_limb() -> impl Strategy<Value = u64> {
        prop_oneof![
            0..HI_LIMIT,
            Just(0),
            Just(u32::MAX as u64),
            Just(HI_LIMIT - 1)
        ]
    }

    /// A folded half below 2^54, edges likely.
    fn half() -> impl Strategy<Value = u64> {
        prop_oneof![0..1u64 << 54, Just(0), Just((1 << 54) - 1)]
    }

    type Lanes8 = [u64; 8];

    fn vector(x: Lanes8) -> __m512i {
        // SAFETY: unaligned 64-byte load from a local array.
        unsafe { _mm512_loadu_si512(x.as_ptr().cast()) }
    }

    fn words(v: __m512i) -> Lanes8 {
        let mut out = [0u64; 8];
        // SAFETY: unaligned 64-byte store into a local array.
        unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), v) };
        out
    }

    /// Product and square of limbs, and `canonical`/`normalize` of halves, lane-wise.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vbmi,avx512ifma")]
    unsafe fn run(x: (Lanes8, Lanes8), y: (Lanes8, Lanes8), h: (Lanes8, Lanes8)) -> [Lanes8; 7] {
        let x = Limbs {
            lo: vector(x.0),
            hi: vector(x.1),
        };
        let y = Limbs {
            lo: vector(y.0),
            hi: vector(y.1),
        };
        let (product, sq) = (mul(x, y), square(x));
        let (l, hh) = (vector(h.0), vector(h.1));
        let n = normalize(l, hh);
        [
            words(product.lo),
            words(product.hi),
            words(sq.lo),
            words(sq.hi),
            words(canonical(l, hh)),
            words(n.lo),
            words(n.hi),
        ]
    }

    /// High limbs `x1` (below the lazy bound) whose product with `y1` has its low 52 bits
    /// within 2^34 of 2^52: the largest `P11l` that `fold` subtracts, which random limbs almost
    /// never produce.
    fn adversarial_high_limbs(y1: u64, count: usize) -> Vec<u64> {
        let mask = (1u128 << 52) - 1;
        (1..HI_LIMIT)
            .rev()
            .filter(|&x1| (x1 as u128 * y1 as u128) & mask >= (1 << 52) - (1 << 34))
            .take(count)
            .collect()
    }

    #[test]
    fn limb_arithmetic_survives_the_largest_subtractions() {
        if !available() {
            eprintln!("NOTICE: AVX-512 IFMA not supported on this CPU; not tested");
            return;
        }
        // x0 = 0 makes P00l = 0 (nothing to subtract from but the bias) while the cross and
        // high products are as large as the limbs allow.
        for y1 in [HI_LIMIT - 1, HI_LIMIT - 2, u32::MAX as u64, (1 << 32) + 1] {
            let highs = adversarial_high_limbs(y1, 8);
            assert_eq!(highs.len(), 8);
            let x1: [u64; 8] = highs.try_into().unwrap();
            let squares: [u64; 8] = std::array::from_fn(|i| {
                // x1² with large low bits, for the square.
                adversarial_high_limbs(x1[i], 1)
                    .first()
                    .copied()
                    .unwrap_or(x1[i])
            });
            let cases = [
                ([0; 8], x1, [u32::MAX as u64; 8], [y1; 8]),
                ([u32::MAX as u64; 8], x1, [0; 8], [y1; 8]),
                ([0; 8], squares, [0; 8], squares),
            ];
            for (xl, xh, yl, yh) in cases {
                // SAFETY: the CPU supports the features, checked above.
                let [pl, ph, sl, sh, ..] = unsafe { run((xl, xh), (yl, yh), ([0; 8], [0; 8])) };
                for i in 0..8 {
                    let (x, y) = (value(xl[i], xh[i]), value(yl[i], yh[i]));
                    assert_eq!(value(pl[i], ph[i]), x * y % P, "x1 {} y1 {}", xh[i], yh[i]);
                    assert_eq!(value(sl[i], sh[i]), x * x % P, "x1 {}", xh[i]);
                    assert!(
                        pl[i] < 1 << 32 && ph[i] < HI_LIMIT && sl[i] < 1 << 32 && sh[i] < HI_LIMIT
                    );
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn limb_arithmetic_is_exact_and_keeps_its_bounds(
            xl in proptest::array::uniform8(lo_limb()),
            xh in proptest::array::uniform8(hi_limb()),
            yl in proptest::array::uniform8(lo_limb()),
            yh in proptest::array::uniform8(hi_limb()),
            hl in proptest::array::uniform8(half()),
            hh in proptest::array::uniform8(half()),
        ) {
            if !available() {
                eprintln!("NOTICE: AVX-512 IFMA not supported on this CPU; not tested");
                return Ok(());
            }
            // SAFETY: the CPU supports the features, checked just above.
            let [pl, ph, sl, sh, canon, nl, nh] = unsafe { run((xl, xh), (yl, yh), (hl, hh)) };
            for i in 0..8 {
                let (x, y) = (value(xl[i], xh[i]), value(yl[i], yh[i]));
                prop_assert_eq!(value(pl[i], ph[i]), x * y % P);
                prop_assert_eq!(value(sl[i], sh[i]), x * x % P);
                for (lo, hi) in [(pl[i], ph[i]), (sl[i], sh[i]), (nl[i], nh[i])] {
                    prop_assert!(lo < 1 << 32 && hi < HI_LIMIT, "limbs out of bounds: {lo} {hi}");
                }
                prop_assert_eq!(canon[i] as u128, value(hl[i], hh[i]));
                prop_assert_eq!(value(nl[i], nh[i]), value(hl[i], hh[i]));
            }
        }
    }
}
