//! AVX2 lanes: 4 states side by side, one state word per `__m256i`.
//!
//! For x86-64 CPUs without AVX-512 (callers check [`available`] at run time). AVX2 has no
//! 64-bit multiply-low, no unsigned 64-bit compare and no byte permute across 256 bits, so
//! those are emulated; the arithmetic itself is the generic code of `lanes.rs`.

use std::arch::x86_64::*;

use super::constants::{LOOKUP, STATE_SIZE};
use super::lanes::{self, Lanes};
use crate::field::EPSILON;

/// States per batch.
pub(crate) const WIDTH: usize = 4;

/// Whether this CPU can run the AVX2 kernel.
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("avx2")
}

#[derive(Clone, Copy)]
#[repr(transparent)]
pub(crate) struct V4(__m256i);

const SIGN: i64 = i64::MIN;

/// Lane-wise unsigned `a < b` as an all-ones / all-zeros mask.
#[inline(always)]
fn lt_u64(a: __m256i, b: __m256i) -> __m256i {
    // SAFETY: only inlined into AVX2-enabled functions (see the impl below).
    unsafe {
        let sign = _mm256_set1_epi64x(SIGN);
        _mm256_cmpgt_epi64(_mm256_xor_si256(b, sign), _mm256_xor_si256(a, sign))
    }
}

// SAFETY (for every `unsafe` block below): these methods are only reached from functions
// compiled with `#[target_feature(enable = "avx2")]`, which are only called after
// `available()` returned true; the intrinsics have no other preconditions.
impl Lanes for V4 {
    const WIDTH: usize = WIDTH;
    #[inline(always)]
    fn load(words: &[u64]) -> Self {
        let words: &[u64; WIDTH] = words[..WIDTH].try_into().expect("WIDTH words");
        V4(unsafe { _mm256_loadu_si256(words.as_ptr().cast()) })
    }
    #[inline(always)]
    fn store(self, out: &mut [u64]) {
        let out: &mut [u64; WIDTH] = (&mut out[..WIDTH]).try_into().expect("WIDTH words");
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), self.0) }
    }
    #[inline(always)]
    fn splat(x: u64) -> Self {
        V4(unsafe { _mm256_set1_epi64x(x as i64) })
    }
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        V4(unsafe { _mm256_add_epi64(self.0, rhs.0) })
    }
    #[inline(always)]
    fn sub(self, rhs: Self) -> Self {
        V4(unsafe { _mm256_sub_epi64(self.0, rhs.0) })
    }
    #[inline(always)]
    fn mul_const(self, c: u64) -> Self {
        unsafe {
            // x · c mod 2^64 = x_lo·c_lo + ((x_hi·c_lo + x_lo·c_hi) << 32).
            let x = self.0;
            let c_lo = _mm256_set1_epi64x(c as i64);
            let lo = _mm256_mul_epu32(x, c_lo);
            let mut cross = _mm256_mul_epu32(_mm256_srli_epi64::<32>(x), c_lo);
            if c >> 32 != 0 {
                let c_hi = _mm256_set1_epi64x((c >> 32) as i64);
                cross = _mm256_add_epi64(cross, _mm256_mul_epu32(x, c_hi));
            }
            V4(_mm256_add_epi64(lo, _mm256_slli_epi64::<32>(cross)))
        }
    }
    #[inline(always)]
    fn shr<const N: u32>(self) -> Self {
        V4(unsafe { _mm256_srl_epi64(self.0, _mm_cvtsi32_si128(N as i32)) })
    }
    #[inline(always)]
    fn shl<const N: u32>(self) -> Self {
        V4(unsafe { _mm256_sll_epi64(self.0, _mm_cvtsi32_si128(N as i32)) })
    }
    #[inline(always)]
    fn mul_mod(self, rhs: Self) -> Self {
        unsafe {
            let (a, b) = (self.0, rhs.0);
            let a_hi = _mm256_srli_epi64::<32>(a);
            let b_hi = _mm256_srli_epi64::<32>(b);
            let ll = _mm256_mul_epu32(a, b);
            let lh = _mm256_mul_epu32(a, b_hi);
            let hl = _mm256_mul_epu32(a_hi, b);
            let hh = _mm256_mul_epu32(a_hi, b_hi);
            combine(ll, lh, hl, hh)
        }
    }
    #[inline(always)]
    fn square_mod(self) -> Self {
        unsafe {
            let a = self.0;
            let a_hi = _mm256_srli_epi64::<32>(a);
            let ll = _mm256_mul_epu32(a, a);
            let lh = _mm256_mul_epu32(a, a_hi);
            let hh = _mm256_mul_epu32(a_hi, a_hi);
            combine(ll, lh, lh, hh)
        }
    }
    #[inline(always)]
    fn add_mod(self, rhs: Self) -> Self {
        unsafe {
            let sum = _mm256_add_epi64(self.0, rhs.0);
            let carry = lt_u64(sum, rhs.0);
            let eps = _mm256_set1_epi64x(EPSILON as i64);
            V4(_mm256_add_epi64(sum, _mm256_and_si256(carry, eps)))
        }
    }
    #[inline(always)]
    fn canonical(self) -> Self {
        unsafe {
            let p = _mm256_set1_epi64x(nockpool_core::P as i64);
            let below = lt_u64(self.0, p);
            V4(_mm256_sub_epi64(self.0, _mm256_andnot_si256(below, p)))
        }
    }
    #[inline(always)]
    fn lookup(self) -> Self {
        let mut bytes = [0u8; 32];
        // SAFETY: unaligned 32-byte store into / load from a local array.
        unsafe { _mm256_storeu_si256(bytes.as_mut_ptr().cast(), self.0) };
        for b in bytes.iter_mut() {
            *b = LOOKUP[*b as usize];
        }
        V4(unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) })
    }
}

/// The 128-bit product from its four 32×32 partial products, reduced mod p (any `u64`
/// representative).
#[inline(always)]
fn combine(ll: __m256i, lh: __m256i, hl: __m256i, hh: __m256i) -> V4 {
    // SAFETY: only inlined into AVX2-enabled functions.
    unsafe {
        let mask32 = _mm256_set1_epi64x(0xFFFF_FFFF);
        let t = _mm256_add_epi64(hl, _mm256_srli_epi64::<32>(ll));
        let u = _mm256_add_epi64(lh, _mm256_and_si256(t, mask32));
        let hi = _mm256_add_epi64(
            _mm256_add_epi64(hh, _mm256_srli_epi64::<32>(t)),
            _mm256_srli_epi64::<32>(u),
        );
        let lo = _mm256_blend_epi32::<0b1010_1010>(ll, _mm256_slli_epi64::<32>(u));
        // lo + hi·2^64 ≡ lo - (hi >> 32) + (hi mod 2^32)·(2^32 - 1).
        let eps = _mm256_set1_epi64x(EPSILON as i64);
        let hi_hi = _mm256_srli_epi64::<32>(hi);
        let borrow = lt_u64(lo, hi_hi);
        let t0 = _mm256_sub_epi64(_mm256_sub_epi64(lo, hi_hi), _mm256_and_si256(borrow, eps));
        let t1 = _mm256_sub_epi64(_mm256_slli_epi64::<32>(hi), _mm256_and_si256(hi, mask32));
        let r = _mm256_add_epi64(t0, t1);
        let carry = lt_u64(r, t1);
        V4(_mm256_add_epi64(r, _mm256_and_si256(carry, eps)))
    }
}

/// Permutes 4 raw (Montgomery, canonical) states in place.
///
/// # Safety
/// The CPU must support AVX2 ([`available`]).
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn permute4(states: &mut [[u64; STATE_SIZE]; WIDTH]) {
    let mut s = [V4::splat(0); STATE_SIZE];
    for (w, slot) in s.iter_mut().enumerate() {
        let mut words = [0u64; WIDTH];
        for (lane, word) in words.iter_mut().enumerate() {
            *word = states[lane][w];
        }
        *slot = from_array(words);
    }
    // SAFETY: this function's feature is the one `permute_lanes` needs.
    unsafe { permute_lanes(&mut s) };
    for (w, v) in s.iter().enumerate() {
        let words = to_array(*v);
        for (lane, state) in states.iter_mut().enumerate() {
            state[w] = words[lane];
        }
    }
}

/// Lane values from scalars.
#[inline(always)]
pub(crate) fn from_array(words: [u64; WIDTH]) -> V4 {
    // SAFETY: unaligned 32-byte load from a local array.
    V4(unsafe { _mm256_loadu_si256(words.as_ptr().cast()) })
}

/// The permutation on transposed lanes, out of line.
///
/// # Safety
/// The CPU must support the features [`available`] checks.
#[target_feature(enable = "avx2")]
#[inline(never)]
pub(crate) unsafe fn permute_lanes(s: &mut [V4; STATE_SIZE]) {
    lanes::permute(s)
}

/// Lane values back to scalars.
#[inline(always)]
pub(crate) fn to_array(v: V4) -> [u64; WIDTH] {
    let mut words = [0u64; WIDTH];
    // SAFETY: unaligned 32-byte store into a local array.
    unsafe { _mm256_storeu_si256(words.as_mut_ptr().cast(), v.0) };
    words
}
