//! The Goldilocks field `F_p`, `p = 2^64 - 2^32 + 1`, and Nockchain's Montgomery helpers.
//!
//! [`Belt`] ("base-field element", Nockchain's name) always holds the canonical value in
//! `[0, p)`; arithmetic reduces with the `2^64 ≡ 2^32 - 1`, `2^96 ≡ -1` identities of this prime.
//! [`montify`] and [`mont_reduce`] convert to and from the Montgomery form (`R = 2^64`) that the
//! Tip5 sponge state lives in.

use std::fmt;
use std::ops::{Add, AddAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use nockpool_core::P;

use crate::PowError;

/// `2^64 mod p = 2^32 - 1`, also `2^64 - p`.
pub(crate) const EPSILON: u64 = 0xFFFF_FFFF;

/// `R^2 mod p` for `R = 2^64` (used by [`montify`]).
pub(crate) const R2: u64 = 0xFFFF_FFFE_0000_0001;

/// A canonical Goldilocks field element (`0 <= value < p`).
///
/// `Copy`, 8 bytes, with the usual operators. Construction checks or reduces explicitly:
/// [`Belt::new`] rejects a value `>= p`, [`Belt::from_reduced`] reduces it.
///
/// ```
/// use nockpool_pow::field::Belt;
///
/// let a = Belt::new(7).unwrap();
/// let b = Belt::from_reduced(u64::MAX); // u64::MAX mod p = 2^32 - 2
/// assert_eq!(b.value(), 0xFFFF_FFFE);
/// assert_eq!((a * a.inverse().unwrap()), Belt::ONE);
/// assert!(Belt::new(nockpool_core::P).is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Belt(u64);

impl Belt {
    /// Zero.
    pub const ZERO: Belt = Belt(0);
    /// One.
    pub const ONE: Belt = Belt(1);
    /// `p - 1`, i.e. `-1`.
    pub const MINUS_ONE: Belt = Belt(P - 1);

    /// A field element from a canonical value; a value `>= p` is an error.
    #[inline]
    pub const fn new(value: u64) -> Result<Belt, PowError> {
        if value < P {
            Ok(Belt(value))
        } else {
            Err(PowError::NonCanonical { index: 0, value })
        }
    }

    /// A field element from any `u64`, reduced mod p.
    #[inline]
    pub const fn from_reduced(value: u64) -> Belt {
        Belt(canonicalize(value))
    }

    /// The element of `value mod p` for any `u128`.
    #[inline]
    pub const fn from_u128(value: u128) -> Belt {
        Belt(reduce128(value))
    }

    /// The canonical value in `[0, p)`.
    #[inline]
    pub const fn value(self) -> u64 {
        self.0
    }

    /// Whether this is zero.
    #[inline]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self²`.
    #[inline]
    pub fn square(self) -> Belt {
        self * self
    }

    /// `self^exp` (square and multiply; `0^0 = 1`).
    pub fn pow(self, mut exp: u64) -> Belt {
        let mut base = self;
        let mut acc = Belt::ONE;
        while exp > 0 {
            if exp & 1 == 1 {
                acc *= base;
            }
            base = base.square();
            exp >>= 1;
        }
        acc
    }

    /// The multiplicative inverse, or `None` for zero.
    pub fn inverse(self) -> Option<Belt> {
        if self.is_zero() {
            None
        } else {
            Some(self.pow(P - 2))
        }
    }

    /// `self` in Montgomery form (`self · 2^64 mod p`), as a raw `u64`.
    #[inline]
    pub const fn to_mont(self) -> u64 {
        montify(self.0)
    }

    /// The element whose Montgomery form is `raw` (`raw · 2^-64 mod p`); `raw` must be `< p`
    /// for the result to be meaningful, and any `u64` gives a canonical result.
    #[inline]
    pub const fn from_mont(raw: u64) -> Belt {
        Belt(mont_reduce(raw as u128))
    }
}

impl fmt::Debug for Belt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Belt({})", self.0)
    }
}

impl fmt::Display for Belt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl TryFrom<u64> for Belt {
    type Error = PowError;
    fn try_from(value: u64) -> Result<Belt, PowError> {
        Belt::new(value)
    }
}

impl From<Belt> for u64 {
    fn from(b: Belt) -> u64 {
        b.0
    }
}

impl From<u32> for Belt {
    fn from(v: u32) -> Belt {
        Belt(v as u64)
    }
}

impl Add for Belt {
    type Output = Belt;
    #[inline]
    fn add(self, rhs: Belt) -> Belt {
        Belt(add_canonical(self.0, rhs.0))
    }
}

impl Sub for Belt {
    type Output = Belt;
    #[inline]
    fn sub(self, rhs: Belt) -> Belt {
        Belt(sub_canonical(self.0, rhs.0))
    }
}

impl Mul for Belt {
    type Output = Belt;
    #[inline]
    fn mul(self, rhs: Belt) -> Belt {
        Belt(reduce128(self.0 as u128 * rhs.0 as u128))
    }
}

impl Neg for Belt {
    type Output = Belt;
    #[inline]
    fn neg(self) -> Belt {
        if self.0 == 0 {
            self
        } else {
            Belt(P - self.0)
        }
    }
}

impl AddAssign for Belt {
    #[inline]
    fn add_assign(&mut self, rhs: Belt) {
        *self = *self + rhs;
    }
}

impl SubAssign for Belt {
    #[inline]
    fn sub_assign(&mut self, rhs: Belt) {
        *self = *self - rhs;
    }
}

impl MulAssign for Belt {
    #[inline]
    fn mul_assign(&mut self, rhs: Belt) {
        *self = *self * rhs;
    }
}

impl std::iter::Sum for Belt {
    fn sum<I: Iterator<Item = Belt>>(iter: I) -> Belt {
        iter.fold(Belt::ZERO, |a, b| a + b)
    }
}

impl std::iter::Product for Belt {
    fn product<I: Iterator<Item = Belt>>(iter: I) -> Belt {
        iter.fold(Belt::ONE, |a, b| a * b)
    }
}

/// `x mod p` for any `u64` (one conditional subtraction).
#[inline(always)]
pub(crate) const fn canonicalize(x: u64) -> u64 {
    if x >= P {
        x - P
    } else {
        x
    }
}

/// `(a + b) mod p` for canonical `a`, `b`.
#[inline(always)]
pub(crate) const fn add_canonical(a: u64, b: u64) -> u64 {
    let (sum, carry) = a.overflowing_add(b);
    // On carry the true sum is sum + 2^64 ≡ sum + EPSILON, and sum < 2^64 - 2^33 + 2 so that
    // addition cannot overflow.
    let sum = if carry { sum + EPSILON } else { sum };
    canonicalize(sum)
}

/// `(a - b) mod p` for canonical `a`, `b`.
#[inline(always)]
pub(crate) const fn sub_canonical(a: u64, b: u64) -> u64 {
    let (diff, borrow) = a.overflowing_sub(b);
    // On borrow diff = a - b + 2^64; subtracting EPSILON gives a - b + p, which is in [0, p).
    if borrow {
        diff.wrapping_sub(EPSILON)
    } else {
        diff
    }
}

/// `x mod p` for any `u128`, canonical result.
#[inline(always)]
pub(crate) const fn reduce128(x: u128) -> u64 {
    canonicalize(reduce128_lazy(x))
}

/// A `u64` congruent to `x` mod p (not necessarily below p), for any `u128`: what a product
/// feeding another product needs.
#[inline(always)]
pub(crate) const fn reduce128_lazy(x: u128) -> u64 {
    let lo = x as u64;
    let hi = (x >> 64) as u64;
    let hi_hi = hi >> 32;
    let hi_lo = hi & EPSILON;
    // x = lo + hi_lo·2^64 + hi_hi·2^96 ≡ lo + hi_lo·(2^32 - 1) - hi_hi.
    let (t0, borrow) = lo.overflowing_sub(hi_hi);
    let t0 = if borrow { t0.wrapping_sub(EPSILON) } else { t0 };
    let t1 = hi_lo * EPSILON;
    let (sum, carry) = t0.overflowing_add(t1);
    if carry {
        sum + EPSILON
    } else {
        sum
    }
}

/// `x · 2^64 mod p` (Montgomery form of `x`; `x` may be any `u64`). Canonical result.
///
/// ```
/// assert_eq!(nockpool_pow::field::montify(1), 4294967295);
/// ```
#[inline]
pub const fn montify(x: u64) -> u64 {
    mont_reduce(x as u128 * R2 as u128)
}

/// Montgomery reduction: `a · 2^-64 mod p`, for `a < p · 2^64`. Canonical result.
///
/// Inputs `>= p · 2^64` are outside the contract; the result is then still below `2^64`
/// but not meaningful.
///
/// ```
/// use nockpool_pow::field::{mont_reduce, montify};
/// assert_eq!(mont_reduce(montify(12345) as u128), 12345);
/// ```
#[inline]
pub const fn mont_reduce(a: u128) -> u64 {
    let lo = a as u64;
    let hi = (a >> 64) as u64;
    // m = lo · p^-1 mod 2^64 with p^-1 = 2^32 + 1.
    let (m, overflow) = lo.overflowing_add(lo << 32);
    // hi(m · p) = m - (m >> 32) - overflow correction; then (a - m·p) / 2^64 = hi - hi(m·p).
    let b = m.wrapping_sub(m >> 32).wrapping_sub(overflow as u64);
    let (r, borrow) = hi.overflowing_sub(b);
    if borrow {
        r.wrapping_sub(EPSILON)
    } else {
        r
    }
}

/// Montgomery multiplication of two raw values: `a · b · 2^-64 mod p`.
#[cfg(test)]
#[inline(always)]
pub(crate) const fn montiply(a: u64, b: u64) -> u64 {
    mont_reduce(a as u128 * b as u128)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PU: u128 = P as u128;

    fn canon() -> impl Strategy<Value = u64> {
        prop_oneof![
            0..P,
            (P - 1000)..P,
            0u64..1000,
            Just(EPSILON),
            Just(EPSILON + 1),
            Just(1u64 << 63)
        ]
    }

    #[test]
    fn constants() {
        assert_eq!(montify(1), EPSILON);
        assert_eq!((1u128 << 64) % PU, EPSILON as u128);
        assert_eq!(((1u128 << 64) % PU).pow(2) % PU, R2 as u128);
        assert_eq!(Belt::MINUS_ONE + Belt::ONE, Belt::ZERO);
        assert_eq!(
            Belt::new(P),
            Err(PowError::NonCanonical { index: 0, value: P })
        );
        assert_eq!(Belt::from_reduced(P).value(), 0);
        assert_eq!(Belt::from_reduced(u64::MAX).value(), u64::MAX - P);
        assert_eq!(Belt::ZERO.inverse(), None);
        // 2^96 ≡ -1 (mod p).
        assert_eq!(Belt::new(2).unwrap().pow(96), Belt::MINUS_ONE);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn field_ops_match_u128_reference(a in canon(), b in canon()) {
            let (x, y) = (Belt::new(a).unwrap(), Belt::new(b).unwrap());
            prop_assert_eq!((x + y).value() as u128, (a as u128 + b as u128) % PU);
            prop_assert_eq!((x - y).value() as u128, (a as u128 + PU - b as u128) % PU);
            prop_assert_eq!((x * y).value() as u128, (a as u128 * b as u128) % PU);
            prop_assert_eq!((-x).value() as u128, (PU - a as u128) % PU);
            prop_assert_eq!(x.square(), x * x);
        }

        #[test]
        fn reduce128_matches_reference(x in any::<u128>()) {
            prop_assert_eq!(reduce128(x) as u128, x % PU);
            prop_assert_eq!(reduce128_lazy(x) as u128 % PU, x % PU);
        }

        #[test]
        fn from_reduced_matches_reference(x in any::<u64>()) {
            prop_assert_eq!(Belt::from_reduced(x).value(), x % P);
        }

        #[test]
        fn field_laws(a in canon(), b in canon(), c in canon()) {
            let (x, y, z) = (Belt::new(a).unwrap(), Belt::new(b).unwrap(), Belt::new(c).unwrap());
            prop_assert_eq!((x + y) + z, x + (y + z));
            prop_assert_eq!((x * y) * z, x * (y * z));
            prop_assert_eq!(x * (y + z), x * y + x * z);
            prop_assert_eq!(x + y, y + x);
            prop_assert_eq!(x * y, y * x);
            prop_assert_eq!(x - x, Belt::ZERO);
            prop_assert_eq!(x + (-x), Belt::ZERO);
            if let Some(inv) = x.inverse() {
                prop_assert_eq!(x * inv, Belt::ONE);
            }
        }

        #[test]
        fn pow_matches_repeated_multiplication(a in canon(), e in 0u64..40) {
            let x = Belt::new(a).unwrap();
            let mut acc = Belt::ONE;
            for _ in 0..e {
                acc *= x;
            }
            prop_assert_eq!(x.pow(e), acc);
        }

        #[test]
        fn montgomery_round_trip(a in canon()) {
            let raw = montify(a);
            prop_assert!(raw < P);
            prop_assert_eq!(raw as u128, (a as u128) * (1u128 << 64) % PU);
            prop_assert_eq!(mont_reduce(raw as u128), a);
            prop_assert_eq!(Belt::from_mont(Belt::new(a).unwrap().to_mont()).value(), a);
        }

        #[test]
        fn mont_reduce_matches_reference(hi in 0..P, lo in any::<u64>()) {
            let a = (hi as u128) << 64 | lo as u128;
            let r = mont_reduce(a);
            prop_assert!(r < P);
            // r · 2^64 ≡ a (mod p)
            prop_assert_eq!((r as u128 * EPSILON as u128) % PU, a % PU);
        }

        #[test]
        fn montiply_is_montgomery_product(a in canon(), b in canon()) {
            let prod = montiply(montify(a), montify(b));
            prop_assert_eq!(mont_reduce(prod as u128) as u128, a as u128 * b as u128 % PU);
        }
    }
}
