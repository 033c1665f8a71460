use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::{CoreError, Digest, DIGEST_LEN, P};

const LIMBS: usize = 5;

/// An unsigned 320-bit integer (five 64-bit words, least significant first).
///
/// Wide enough for every proof-of-work quantity: `p⁵ − 1 < 2³²⁰`. Only the operations the
/// target math needs are provided; none of them is on a hot path.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct U320(pub [u64; LIMBS]);

impl U320 {
    /// Zero.
    pub const ZERO: U320 = U320([0; LIMBS]);
    /// One.
    pub const ONE: U320 = U320([1, 0, 0, 0, 0]);

    /// A `U320` holding a `u128`.
    pub const fn from_u128(v: u128) -> Self {
        U320([v as u64, (v >> 64) as u64, 0, 0, 0])
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }

    /// The value as a `u128`, or `None` if it does not fit.
    pub fn to_u128(&self) -> Option<u128> {
        if self.0[2..].iter().any(|&w| w != 0) {
            return None;
        }
        Some(self.0[0] as u128 | (self.0[1] as u128) << 64)
    }

    /// The value as an `f64` (rounded); for display and rate estimates only.
    pub fn to_f64(&self) -> f64 {
        self.0
            .iter()
            .rev()
            .fold(0.0, |acc, &w| acc * 18_446_744_073_709_551_616.0 + w as f64)
    }

    /// Number of significant bits.
    pub fn bits(&self) -> u32 {
        for i in (0..LIMBS).rev() {
            if self.0[i] != 0 {
                return 64 * i as u32 + (64 - self.0[i].leading_zeros());
            }
        }
        0
    }

    fn bit(&self, i: u32) -> bool {
        (self.0[(i / 64) as usize] >> (i % 64)) & 1 == 1
    }

    /// `self + rhs`, or `None` on overflow.
    pub fn checked_add(&self, rhs: &U320) -> Option<U320> {
        let mut out = [0u64; LIMBS];
        let mut carry = false;
        for (i, slot) in out.iter_mut().enumerate() {
            let (s1, c1) = self.0[i].overflowing_add(rhs.0[i]);
            let (s2, c2) = s1.overflowing_add(carry as u64);
            *slot = s2;
            carry = c1 || c2;
        }
        (!carry).then_some(U320(out))
    }

    /// `self - rhs`, or `None` if `rhs > self`.
    pub fn checked_sub(&self, rhs: &U320) -> Option<U320> {
        let (difference, borrow) = self.overflowing_sub(rhs);
        (!borrow).then_some(difference)
    }

    /// `self - rhs` modulo 2³²⁰, and whether it borrowed.
    fn overflowing_sub(&self, rhs: &U320) -> (U320, bool) {
        let mut out = [0u64; LIMBS];
        let mut borrow = false;
        for (i, slot) in out.iter_mut().enumerate() {
            let (d1, b1) = self.0[i].overflowing_sub(rhs.0[i]);
            let (d2, b2) = d1.overflowing_sub(borrow as u64);
            *slot = d2;
            borrow = b1 || b2;
        }
        (U320(out), borrow)
    }

    /// `self · m + a`, or `None` on overflow.
    pub fn checked_mul_add_small(&self, m: u64, a: u64) -> Option<U320> {
        let mut out = [0u64; LIMBS];
        let mut carry = a as u128;
        for (i, slot) in out.iter_mut().enumerate() {
            let t = self.0[i] as u128 * m as u128 + carry;
            *slot = t as u64;
            carry = t >> 64;
        }
        (carry == 0).then_some(U320(out))
    }

    /// `(self / d, self % d)` for a non-zero `u64` divisor.
    ///
    /// # Panics
    /// If `d == 0`.
    pub fn div_rem_small(&self, d: u64) -> (U320, u64) {
        assert!(d != 0, "division by zero");
        let mut out = [0u64; LIMBS];
        let mut rem: u128 = 0;
        for i in (0..LIMBS).rev() {
            let cur = (rem << 64) | self.0[i] as u128;
            out[i] = (cur / d as u128) as u64;
            rem = cur % d as u128;
        }
        (U320(out), rem as u64)
    }

    /// `self / d` (floor), or `None` if `d` is zero.
    pub fn checked_div(&self, d: &U320) -> Option<U320> {
        if d.is_zero() {
            return None;
        }
        let mut quotient = U320::ZERO;
        let mut rem = U320::ZERO;
        for i in (0..self.bits()).rev() {
            // rem = rem << 1 | bit; rem < d <= 2^320 - 1 so a shifted rem can exceed 320 bits
            // only if d's top bit is set, which the carry check handles.
            let top = rem.0[LIMBS - 1] >> 63;
            for w in (1..LIMBS).rev() {
                rem.0[w] = (rem.0[w] << 1) | (rem.0[w - 1] >> 63);
            }
            rem.0[0] = (rem.0[0] << 1) | self.bit(i) as u64;
            if top == 1 || rem >= *d {
                rem = rem.overflowing_sub(d).0;
                quotient.0[(i / 64) as usize] |= 1 << (i % 64);
            }
        }
        Some(quotient)
    }

    /// `Σ d_i · p^i` for five base-p digits (each must be `< p`; larger digits still give the
    /// exact sum, which may then exceed `p⁵ − 1`).
    pub fn from_base_p(digits: &[u64; DIGEST_LEN]) -> U320 {
        let mut acc = U320::ZERO;
        for &d in digits.iter().rev() {
            // Cannot overflow: the sum is below p^5 · 2 < 2^320.
            acc = acc
                .checked_mul_add_small(P, d)
                .unwrap_or(U320([u64::MAX; LIMBS]));
        }
        acc
    }

    /// The five base-p digits of `self`, or `None` when `self >= p⁵`.
    pub fn to_base_p(&self) -> Option<[u64; DIGEST_LEN]> {
        if *self > Target::MAX_VALUE {
            return None;
        }
        let mut digits = [0u64; DIGEST_LEN];
        let mut rest = *self;
        for slot in digits.iter_mut() {
            let (q, r) = rest.div_rem_small(P);
            *slot = r;
            rest = q;
        }
        Some(digits)
    }

    /// Little-endian 32-bit limbs with trailing zero limbs removed (`[0]` for zero): the
    /// `p` of Nockchain's `[%bn p=(list u32)]`.
    pub fn to_u32_limbs(&self) -> Vec<u32> {
        let mut limbs: Vec<u32> = self
            .0
            .iter()
            .flat_map(|&w| [w as u32, (w >> 32) as u32])
            .collect();
        while limbs.len() > 1 && limbs.last() == Some(&0) {
            limbs.pop();
        }
        limbs
    }

    /// `Σ limb_i · 2^(32 i)`; trailing zero limbs are allowed. Fails if the value needs more
    /// than 320 bits.
    pub fn from_u32_limbs(limbs: &[u32]) -> Result<U320, CoreError> {
        let mut out = [0u64; LIMBS];
        for (i, &limb) in limbs.iter().enumerate() {
            if limb == 0 {
                continue;
            }
            if i >= 2 * LIMBS {
                return Err(CoreError::InvalidNumber(format!(
                    "a [%bn] number with {} limbs does not fit in 320 bits",
                    limbs.len()
                )));
            }
            out[i / 2] |= (limb as u64) << (32 * (i % 2));
        }
        Ok(U320(out))
    }

    /// Big-endian bytes with leading zeros removed (empty for zero).
    pub fn to_be_bytes_minimal(&self) -> Vec<u8> {
        let bytes: Vec<u8> = self.0.iter().rev().flat_map(|w| w.to_be_bytes()).collect();
        let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        bytes[first..].to_vec()
    }

    /// Little-endian bytes (40 bytes).
    pub fn to_le_bytes(&self) -> [u8; 40] {
        let mut out = [0u8; 40];
        for (i, w) in self.0.iter().enumerate() {
            out[8 * i..8 * i + 8].copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Reads little-endian bytes; fails if they encode a value of more than 320 bits.
    pub fn from_le_bytes(bytes: &[u8]) -> Result<U320, CoreError> {
        let significant = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        if significant > 40 {
            return Err(CoreError::InvalidNumber(format!(
                "{significant} bytes do not fit in 320 bits"
            )));
        }
        let mut out = [0u64; LIMBS];
        for (i, &b) in bytes[..significant].iter().enumerate() {
            out[i / 8] |= (b as u64) << (8 * (i % 8));
        }
        Ok(U320(out))
    }
}

impl Ord for U320 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.iter().rev().cmp(other.0.iter().rev())
    }
}

impl PartialOrd for U320 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for U320 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const CHUNK: u64 = 10_000_000_000_000_000_000; // 10^19
        if self.is_zero() {
            return f.pad("0");
        }
        let mut chunks = Vec::new();
        let mut rest = *self;
        while !rest.is_zero() {
            let (q, r) = rest.div_rem_small(CHUNK);
            chunks.push(r);
            rest = q;
        }
        let mut s = chunks.pop().map(|c| c.to_string()).unwrap_or_default();
        for c in chunks.iter().rev() {
            s.push_str(&format!("{c:019}"));
        }
        f.pad(&s)
    }
}

impl fmt::Debug for U320 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "U320({self})")
    }
}

impl FromStr for U320 {
    type Err = CoreError;

    /// Parses a decimal number.
    fn from_str(s: &str) -> Result<Self, CoreError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CoreError::InvalidNumber(format!(
                "{s:?} is not a decimal number"
            )));
        }
        let mut acc = U320::ZERO;
        for b in s.bytes() {
            acc = acc
                .checked_mul_add_small(10, (b - b'0') as u64)
                .ok_or_else(|| CoreError::InvalidNumber(format!("{s} does not fit in 320 bits")))?;
        }
        Ok(acc)
    }
}

/// A proof-of-work target: a digest wins when its value is `<=` the target.
///
/// Held both as a number (≤ `p⁵ − 1`; larger values are clamped, as Nockchain does) and as its
/// five base-p digits, so that [`Digest::meets`] is five limb comparisons.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    value: U320,
    digits: [u64; DIGEST_LEN],
}

impl Target {
    /// `p⁵ − 1`, the largest digest value and the largest target (`max-tip5-atom`).
    pub const MAX_VALUE: U320 = U320([
        0xffff_fffb_0000_0000,
        0xffff_ffe2_0000_000e,
        0xffff_ffcd_0000_002c,
        0xffff_ffe2_0000_002c,
        0xffff_fffb_0000_000e,
    ]);

    /// The easiest target: every digest meets it.
    pub const MAX: Target = Target {
        value: Target::MAX_VALUE,
        digits: [P - 1; DIGEST_LEN],
    };

    /// A target from a number; values above `p⁵ − 1` are clamped to it.
    pub fn from_u320(value: U320) -> Target {
        match value.to_base_p() {
            Some(digits) => Target { value, digits },
            None => Target::MAX,
        }
    }

    /// A target from Nockchain's `[%bn (list u32)]` limbs (least significant first).
    pub fn from_bn_limbs(limbs: &[u32]) -> Result<Target, CoreError> {
        U320::from_u32_limbs(limbs).map(Target::from_u320)
    }

    /// The target as `[%bn]` limbs (least significant first, no trailing zero limbs).
    pub fn to_bn_limbs(&self) -> Vec<u32> {
        self.value.to_u32_limbs()
    }

    /// The share target of a difficulty: `floor((p⁵ − 1) / D)`.
    pub fn from_difficulty(difficulty: Difficulty) -> Target {
        let (q, _) = Target::MAX_VALUE.div_rem_small(difficulty.get());
        Target::from_u320(q)
    }

    /// The target's value.
    pub const fn value(&self) -> U320 {
        self.value
    }

    /// The target written in base p, least significant digit first.
    pub const fn base_p_digits(&self) -> &[u64; DIGEST_LEN] {
        &self.digits
    }

    /// Expected attempts to meet this target: `floor((p⁵ − 1) / (target + 1))`
    /// (Nockchain's `compute-work`; also the pool's difficulty of the target).
    pub fn work(&self) -> U320 {
        let denom = self.value.checked_add(&U320::ONE).unwrap_or(U320::ONE);
        Target::MAX_VALUE.checked_div(&denom).unwrap_or(U320::ZERO)
    }

    /// [`Target::work`] as an `f64`, for display and rate estimates.
    pub fn work_f64(&self) -> f64 {
        self.work().to_f64()
    }

    /// Whether `digest` meets this target.
    pub fn is_met_by(&self, digest: &Digest) -> bool {
        digest.meets(self)
    }

    /// The easier (numerically larger) of two targets.
    pub fn easier(self, other: Target) -> Target {
        if self.value >= other.value {
            self
        } else {
            other
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({})", self.value)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.value, f)
    }
}

impl PartialOrd for Target {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Target {
    fn cmp(&self, other: &Self) -> Ordering {
        self.value.cmp(&other.value)
    }
}

/// A share difficulty `D ≥ 1`: the share target is `floor((p⁵ − 1) / D)` and a share met at
/// difficulty `D` credits `D` units of work (expected attempts).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Difficulty(std::num::NonZeroU64);

impl Difficulty {
    /// Difficulty 1: the maximum target.
    pub const ONE: Difficulty = Difficulty(std::num::NonZeroU64::MIN);

    /// A difficulty; zero is refused.
    pub fn new(d: u64) -> Result<Difficulty, CoreError> {
        std::num::NonZeroU64::new(d)
            .map(Difficulty)
            .ok_or(CoreError::ZeroDifficulty)
    }

    /// A difficulty, clamping zero up to one.
    pub fn saturating(d: u64) -> Difficulty {
        Difficulty(std::num::NonZeroU64::new(d.max(1)).unwrap_or(std::num::NonZeroU64::MIN))
    }

    /// The difficulty as a number.
    pub const fn get(self) -> u64 {
        self.0.get()
    }

    /// The share target of this difficulty.
    pub fn target(self) -> Target {
        Target::from_difficulty(self)
    }
}

impl fmt::Display for Difficulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn max_value_is_p5_minus_1() {
        let mut p5 = U320::ONE;
        for _ in 0..5 {
            p5 = p5.checked_mul_add_small(P, 0).unwrap();
        }
        assert_eq!(p5.checked_sub(&U320::ONE).unwrap(), Target::MAX_VALUE);
        assert_eq!(Target::MAX_VALUE.to_base_p(), Some([P - 1; 5]));
    }

    #[test]
    fn fixture_work_values() {
        // Fakenet genesis targets (p^5-1)>>1, >>2, >>5 have work 1, 3, 31 (nockchain-pow.md §5).
        for (shift, work) in [(1u32, 1u128), (2, 3), (5, 31)] {
            let (t, _) = Target::MAX_VALUE.div_rem_small(1 << shift);
            assert_eq!(Target::from_u320(t).work().to_u128(), Some(work));
        }
    }

    #[test]
    fn decimal_round_trip() {
        let s =
            "5493793810273389665851259858908398676672107719039465617368341183437285024349963580";
        let v: U320 = s.parse().unwrap();
        assert_eq!(v.to_string(), s);
        assert_eq!(U320::from_u32_limbs(&v.to_u32_limbs()).unwrap(), v);
    }

    #[test]
    fn difficulty_one_is_max() {
        assert_eq!(Difficulty::ONE.target(), Target::MAX);
        assert!(Digest::new([P - 1; 5]).unwrap().meets(&Target::MAX));
    }

    #[test]
    fn division_matches_small_division() {
        let v: U320 = "123456789012345678901234567890123456789012345678901234567890"
            .parse()
            .unwrap();
        let d = 987_654_321_987u64;
        let (q, _) = v.div_rem_small(d);
        assert_eq!(v.checked_div(&U320([d, 0, 0, 0, 0])).unwrap(), q);
    }

    /// `target_work` vectors from `tip5-vectors.json` (numbers copied): `[%bn]` limbs, target
    /// value and work `floor((p^5 - 1) / (target + 1))`.
    #[test]
    fn target_work_vectors() {
        let cases: [(&[u32], &str, u128); 5] = [
            // max-target = p^5-1
            (&[0, 4294967291, 14, 4294967266, 44, 4294967245, 44, 4294967266, 14, 4294967291], "2135987033434293902082969833143585405490115481162544232032811052120416417467265840012020259225600", 0),
            // (p^5-1) >> 1
            (&[2147483648, 2147483645, 7, 2147483633, 2147483670, 2147483622, 22, 2147483633, 2147483655, 2147483645], "1067993516717146951041484916571792702745057740581272116016405526060208208733632920006010129612800", 1),
            // (p^5-1) >> 2
            (&[3221225472, 3221225470, 2147483651, 1073741816, 1073741835, 1073741811, 2147483659, 3221225464, 3221225475, 1073741822], "533996758358573475520742458285896351372528870290636058008202763030104104366816460003005064806400", 3),
            // (p^5-1) >> 5
            (&[3623878656, 2013265919, 268435456, 1744830463, 1744830465, 1744830462, 268435457, 2013265919, 3623878656, 134217727], "66749594794821684440092807285737043921566108786329507251025345378763013045852057500375633100800", 31),
            // (p^5-1) >> 14
            (&[4293656576, 3932159, 4287102976, 11796479, 4281597952, 11796479, 4287102976, 3932159, 4293656576, 262143], "130370302333636102422056264229955163909308806223299818849658877692896509855179799805421158400", 16383),
        ];
        for (limbs, atom, work) in cases {
            let target = Target::from_bn_limbs(limbs).unwrap();
            assert_eq!(target.to_string(), atom);
            assert_eq!(target.to_bn_limbs(), limbs);
            assert_eq!(target.work().to_u128(), Some(work));
        }
    }

    fn u320_upto_max() -> impl Strategy<Value = U320> {
        proptest::array::uniform5(any::<u64>()).prop_map(|w| {
            let v = U320(w);
            if v > Target::MAX_VALUE {
                U320(v.0.map(|x| x >> 3))
            } else {
                v
            }
        })
    }

    fn canonical_digest() -> impl Strategy<Value = Digest> {
        proptest::array::uniform5(prop_oneof![0..P, (P - 3)..P, 0u64..3])
            .prop_map(|l| Digest::new(l).unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn bn_limbs_round_trip(v in u320_upto_max()) {
            let target = Target::from_u320(v);
            prop_assert_eq!(Target::from_bn_limbs(&target.to_bn_limbs()).unwrap(), target);
            prop_assert_eq!(U320::from_u32_limbs(&v.to_u32_limbs()).unwrap(), v);
        }

        #[test]
        fn base_p_round_trip(v in u320_upto_max()) {
            let digits = v.to_base_p().unwrap();
            prop_assert!(digits.iter().all(|&d| d < P));
            prop_assert_eq!(U320::from_base_p(&digits), v);
        }

        #[test]
        fn digest_comparison_matches_big_integer(d in canonical_digest(), t in canonical_digest(), bump in 0u64..3) {
            // Targets at, just above and just below the digest, and an unrelated one.
            let near = d.to_u320().checked_add(&U320::from_u128(bump as u128)).unwrap();
            let below = d.to_u320().checked_sub(&U320::ONE).unwrap_or(U320::ZERO);
            for value in [t.to_u320(), near, below] {
                let target = Target::from_u320(value);
                prop_assert_eq!(d.meets(&target), d.to_u320() <= target.value());
            }
        }

        #[test]
        fn difficulty_target_is_floor_division(d in 1u64..u64::MAX) {
            let target = Target::from_difficulty(Difficulty::new(d).unwrap());
            let (q, _) = Target::MAX_VALUE.div_rem_small(d);
            prop_assert_eq!(target.value(), q);
            // Nockchain's work of that target is exactly D - 1: floor(M / (floor(M / D) + 1))
            // with M = p^5 - 1 > D^2.
            prop_assert_eq!(target.work(), U320::from_u128(d as u128 - 1));
        }

        #[test]
        fn division_matches_u128(a in any::<u128>(), b in 1u128..) {
            prop_assert_eq!(
                U320::from_u128(a).checked_div(&U320::from_u128(b)).unwrap(),
                U320::from_u128(a / b)
            );
        }
    }
}
