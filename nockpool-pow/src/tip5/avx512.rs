//! AVX-512 lanes: 8 states side by side, one state word per `__m512i`.
//!
//! Needs AVX-512 F, BW, DQ (`vpmullq`) and VBMI (`vpermi2b` for the byte S-box); callers check
//! [`available`] at run time. The arithmetic is the generic code of `lanes.rs`; only the lane
//! operations are written here.

use std::arch::x86_64::*;

use super::constants::{LOOKUP, STATE_SIZE};
use super::lanes::{self, Lanes};
use crate::field::EPSILON;

/// States per batch.
pub(crate) const WIDTH: usize = 8;

/// Whether this CPU can run the AVX-512 kernel.
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512dq")
        && is_x86_feature_detected!("avx512vbmi")
}

#[derive(Clone, Copy)]
#[repr(transparent)]
pub(crate) struct V8(pub(crate) __m512i);

// SAFETY (for every `unsafe` block below): these methods are only reached from functions
// compiled with `#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vbmi")]`, which
// are only called after `available()` returned true; the intrinsics have no other
// preconditions (no memory access except through valid references).
impl Lanes for V8 {
    const WIDTH: usize = WIDTH;
    #[inline(always)]
    fn load(words: &[u64]) -> Self {
        let words: &[u64; WIDTH] = words[..WIDTH].try_into().expect("WIDTH words");
        V8(unsafe { _mm512_loadu_si512(words.as_ptr().cast()) })
    }
    #[inline(always)]
    fn store(self, out: &mut [u64]) {
        let out: &mut [u64; WIDTH] = (&mut out[..WIDTH]).try_into().expect("WIDTH words");
        unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), self.0) }
    }
    #[inline(always)]
    fn splat(x: u64) -> Self {
        V8(unsafe { _mm512_set1_epi64(x as i64) })
    }
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        V8(unsafe { _mm512_add_epi64(self.0, rhs.0) })
    }
    #[inline(always)]
    fn sub(self, rhs: Self) -> Self {
        V8(unsafe { _mm512_sub_epi64(self.0, rhs.0) })
    }
    #[inline(always)]
    fn mul_const(self, c: u64) -> Self {
        V8(unsafe { _mm512_mullo_epi64(self.0, _mm512_set1_epi64(c as i64)) })
    }
    #[inline(always)]
    fn shr<const N: u32>(self) -> Self {
        V8(unsafe { _mm512_srli_epi64::<N>(self.0) })
    }
    #[inline(always)]
    fn shl<const N: u32>(self) -> Self {
        V8(unsafe { _mm512_slli_epi64::<N>(self.0) })
    }
    #[inline(always)]
    fn mul_mod(self, rhs: Self) -> Self {
        unsafe {
            let (a, b) = (self.0, rhs.0);
            let a_hi = _mm512_srli_epi64::<32>(a);
            let b_hi = _mm512_srli_epi64::<32>(b);
            let ll = _mm512_mul_epu32(a, b);
            let lh = _mm512_mul_epu32(a, b_hi);
            let hl = _mm512_mul_epu32(a_hi, b);
            let hh = _mm512_mul_epu32(a_hi, b_hi);
            let mask32 = _mm512_set1_epi64(0xFFFF_FFFF);
            // t = hl + (ll >> 32) and u = lh + (t mod 2^32) cannot overflow.
            let t = _mm512_add_epi64(hl, _mm512_srli_epi64::<32>(ll));
            let u = _mm512_add_epi64(lh, _mm512_and_si512(t, mask32));
            let hi = _mm512_add_epi64(
                _mm512_add_epi64(hh, _mm512_srli_epi64::<32>(t)),
                _mm512_srli_epi64::<32>(u),
            );
            // lo = (u << 32) | (ll mod 2^32): take the odd dwords from u << 32.
            let lo = _mm512_mask_blend_epi32(0xAAAA, ll, _mm512_slli_epi64::<32>(u));
            reduce(lo, hi)
        }
    }
    #[inline(always)]
    fn square_mod(self) -> Self {
        unsafe {
            let a = self.0;
            let a_hi = _mm512_srli_epi64::<32>(a);
            let ll = _mm512_mul_epu32(a, a);
            let lh = _mm512_mul_epu32(a, a_hi);
            let hh = _mm512_mul_epu32(a_hi, a_hi);
            // a² = ll + lh · 2^33 + hh · 2^64, and lh · 2^33 = (lh << 33) + (lh >> 31) · 2^64
            // (the shift drops exactly the bits the second term carries). The true square is
            // below 2^128, so hi = hh + (lh >> 31) + carry(lo) does not overflow.
            let mid = _mm512_slli_epi64::<33>(lh);
            let lo = _mm512_add_epi64(ll, mid);
            let carry = _mm512_cmplt_epu64_mask(lo, mid);
            let hi = _mm512_add_epi64(hh, _mm512_srli_epi64::<31>(lh));
            // hi - (-1) = hi + 1 in the lanes that carried.
            let hi = _mm512_mask_sub_epi64(hi, carry, hi, _mm512_set1_epi64(-1));
            reduce(lo, hi)
        }
    }
    #[inline(always)]
    fn add_mod(self, rhs: Self) -> Self {
        unsafe {
            let sum = _mm512_add_epi64(self.0, rhs.0);
            let carry = _mm512_cmplt_epu64_mask(sum, rhs.0);
            V8(_mm512_mask_add_epi64(
                sum,
                carry,
                sum,
                _mm512_set1_epi64(EPSILON as i64),
            ))
        }
    }
    #[inline(always)]
    fn canonical(self) -> Self {
        unsafe {
            let p = _mm512_set1_epi64(nockpool_core::P as i64);
            let ge = _mm512_cmpge_epu64_mask(self.0, p);
            V8(_mm512_mask_sub_epi64(self.0, ge, self.0, p))
        }
    }
    #[inline(always)]
    fn lookup(self) -> Self {
        unsafe {
            let t = &TABLES.0;
            let idx = self.0;
            let low = _mm512_permutex2var_epi8(t[0], idx, t[1]);
            let high = _mm512_permutex2var_epi8(t[2], idx, t[3]);
            let top_bit = _mm512_movepi8_mask(idx);
            V8(_mm512_mask_blend_epi8(top_bit, low, high))
        }
    }
}

/// `lo + hi · 2^64 mod p` as a `u64` representative: `2^64 ≡ 2^32 - 1`, `2^96 ≡ -1`.
#[inline(always)]
fn reduce(lo: __m512i, hi: __m512i) -> V8 {
    // SAFETY: see the impl above (only inlined into AVX-512-enabled functions).
    unsafe {
        let eps = _mm512_set1_epi64(EPSILON as i64);
        let hi_hi = _mm512_srli_epi64::<32>(hi);
        let t0 = _mm512_sub_epi64(lo, hi_hi);
        let borrow = _mm512_cmplt_epu64_mask(lo, hi_hi);
        let t0 = _mm512_mask_sub_epi64(t0, borrow, t0, eps);
        // (hi mod 2^32) · (2^32 - 1) = (hi << 32) - (hi mod 2^32), without a multiply.
        let t1 = _mm512_sub_epi64(_mm512_slli_epi64::<32>(hi), _mm512_and_si512(hi, eps));
        let r = _mm512_add_epi64(t0, t1);
        let carry = _mm512_cmplt_epu64_mask(r, t1);
        V8(_mm512_mask_add_epi64(r, carry, r, eps))
    }
}

/// The 256-byte S-box as four 64-byte vectors.
struct Tables([__m512i; 4]);

// SAFETY: __m512i is plain data.
unsafe impl Sync for Tables {}

static TABLES: Tables = Tables(unsafe { std::mem::transmute::<[u8; 256], [__m512i; 4]>(LOOKUP) });

/// Transposes 8 states into 16 word vectors.
#[inline(always)]
pub(crate) fn load(states: &[[u64; STATE_SIZE]; WIDTH]) -> [V8; STATE_SIZE] {
    let mut s = [V8::splat(0); STATE_SIZE];
    for (w, slot) in s.iter_mut().enumerate() {
        let mut words = [0u64; WIDTH];
        for (lane, word) in words.iter_mut().enumerate() {
            *word = states[lane][w];
        }
        *slot = from_array(words);
    }
    s
}

/// Transposes 16 word vectors back into 8 states.
#[inline(always)]
pub(crate) fn store(s: &[V8; STATE_SIZE], states: &mut [[u64; STATE_SIZE]; WIDTH]) {
    for (w, v) in s.iter().enumerate() {
        let words = to_array(*v);
        for (lane, state) in states.iter_mut().enumerate() {
            state[w] = words[lane];
        }
    }
}

/// Lane values, for building lanes from scalars.
#[inline(always)]
pub(crate) fn from_array(words: [u64; WIDTH]) -> V8 {
    // SAFETY: unaligned 64-byte load from a local array.
    V8(unsafe { _mm512_loadu_si512(words.as_ptr().cast()) })
}

/// Lane values back to scalars.
#[inline(always)]
pub(crate) fn to_array(v: V8) -> [u64; WIDTH] {
    let mut words = [0u64; WIDTH];
    // SAFETY: unaligned 64-byte store into a local array.
    unsafe { _mm512_storeu_si512(words.as_mut_ptr().cast(), v.0) };
    words
}

/// Permutes 8 raw (Montgomery, canonical) states in place.
///
/// # Safety
/// The CPU must support the features [`available`] checks.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vbmi")]
pub(crate) unsafe fn permute8(states: &mut [[u64; STATE_SIZE]; WIDTH]) {
    let mut s = load(states);
    // SAFETY: this function's features are the ones `permute_lanes` needs.
    unsafe { permute_lanes(&mut s) };
    store(&s, states);
}

/// `x · 2^64 mod p` lane-wise (into Montgomery form), canonical.
#[inline(always)]
pub(crate) fn to_mont(x: V8) -> V8 {
    // 2^64 ≡ 2^32 - 1 (mod p).
    x.mul_mod(V8::splat(EPSILON)).canonical()
}

/// `x · 2^-64 mod p` lane-wise (out of Montgomery form), canonical.
#[inline(always)]
pub(crate) fn from_mont(x: V8) -> V8 {
    // 2^-64 = 2^32 · 2^-96 ≡ -2^32 (mod p), since 2^96 ≡ -1.
    x.mul_mod(V8::splat(nockpool_core::P - (1 << 32)))
        .canonical()
}

/// Permutes 8 canonical states in place: into Montgomery form, the permutation, back, all in
/// vectors (the scalar conversions would cost about a third of the permutation).
///
/// # Safety
/// The CPU must support the features [`available`] checks.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vbmi")]
pub(crate) unsafe fn permute8_canonical(states: &mut [[u64; STATE_SIZE]; WIDTH]) {
    // Plain loops, not `array::map`: a closure passed to a generic function is compiled
    // without this function's target features, so nothing in it would be inlined.
    let mut s = load(states);
    for word in s.iter_mut() {
        *word = to_mont(*word);
    }
    // SAFETY: this function's features are the ones `permute_lanes` needs.
    unsafe { permute_lanes(&mut s) };
    for word in s.iter_mut() {
        *word = from_mont(*word);
    }
    store(&s, states);
}

/// The permutation on 8 transposed states, out of line: the v5 pipeline calls it 34 times per
/// nonce, and one copy of its code keeps the instruction cache warm (inlining every call was
/// about 1.4× slower).
///
/// # Safety
/// The CPU must support the features [`available`] checks.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vbmi")]
#[inline(never)]
pub(crate) unsafe fn permute_lanes(s: &mut [V8; STATE_SIZE]) {
    lanes::permute(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `(a², a · b)` lane-wise through the AVX-512 field operations.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vbmi")]
    unsafe fn square_and_product(a: [u64; WIDTH], b: [u64; WIDTH]) -> ([u64; WIDTH], [u64; WIDTH]) {
        let (va, vb) = (from_array(a), from_array(b));
        (to_array(va.square_mod()), to_array(va.mul_mod(vb)))
    }

    /// Any `u64`, with the edges (0, p - 1, p, 2^64 - 1, words with all-ones halves) likely.
    fn word() -> impl Strategy<Value = u64> {
        prop_oneof![
            any::<u64>(),
            prop::sample::select(vec![
                0,
                1,
                nockpool_core::P - 1,
                nockpool_core::P,
                u64::MAX,
                u64::MAX - 1,
                0xFFFF_FFFF,
                0xFFFF_FFFF_0000_0000,
                1 << 63,
            ]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn lane_square_and_product_are_exact_mod_p(
            a in proptest::array::uniform8(word()),
            b in proptest::array::uniform8(word()),
        ) {
            if !available() {
                eprintln!("NOTICE: AVX-512 not supported on this CPU; not tested");
                return Ok(());
            }
            // SAFETY: the CPU supports the features, checked just above.
            let (square, product) = unsafe { square_and_product(a, b) };
            let p = nockpool_core::P as u128;
            for lane in 0..WIDTH {
                let want_square = a[lane] as u128 * a[lane] as u128 % p;
                let want_product = a[lane] as u128 * b[lane] as u128 % p;
                prop_assert_eq!(square[lane] as u128 % p, want_square);
                prop_assert_eq!(product[lane] as u128 % p, want_product);
            }
        }
    }
}
