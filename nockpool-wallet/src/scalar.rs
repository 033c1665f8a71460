//! Integers modulo the Cheetah group order `n` (private keys and SLIP-10 tweaks).

use zeroize::Zeroize;

/// The Cheetah group order `n`, little-endian 64-bit limbs
/// (`0x7af2599b3b3f22d0563fbf0f990a37b5327aa72330157722d443623eaed4accf`).
pub(crate) const ORDER: [u64; 4] = [
    0xd443_623e_aed4_accf,
    0x327a_a723_3015_7722,
    0x563f_bf0f_990a_37b5,
    0x7af2_599b_3b3f_22d0,
];

/// A 256-bit unsigned integer, little-endian limbs. Used for scalars `< n`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Zeroize)]
pub(crate) struct U256(pub(crate) [u64; 4]);

impl U256 {
    #[cfg(test)]
    pub(crate) const ZERO: U256 = U256([0; 4]);

    /// Reads 32 big-endian bytes.
    pub(crate) fn from_be_bytes(bytes: &[u8; 32]) -> U256 {
        let mut limbs = [0u64; 4];
        for (i, limb) in limbs.iter_mut().enumerate() {
            let start = 32 - 8 * (i + 1);
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[start..start + 8]);
            *limb = u64::from_be_bytes(word);
        }
        U256(limbs)
    }

    /// Writes 32 big-endian bytes.
    pub(crate) fn to_be_bytes(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, limb) in self.0.iter().enumerate() {
            let start = 32 - 8 * (i + 1);
            out[start..start + 8].copy_from_slice(&limb.to_be_bytes());
        }
        out
    }

    #[cfg(test)]
    pub(crate) fn from_u64(v: u64) -> U256 {
        U256([v, 0, 0, 0])
    }

    /// `self < other` (variable time; used on public values and retry tests).
    pub(crate) fn lt(&self, other: &U256) -> bool {
        for i in (0..4).rev() {
            if self.0[i] != other.0[i] {
                return self.0[i] < other.0[i];
            }
        }
        false
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.0.iter().fold(0, |acc, l| acc | l) == 0
    }

    /// `self < n`.
    pub(crate) fn is_below_order(&self) -> bool {
        self.lt(&U256(ORDER))
    }

    /// Bit `i` (0 = least significant).
    pub(crate) fn bit(&self, i: usize) -> u64 {
        (self.0[i / 64] >> (i % 64)) & 1
    }

    fn add_carry(&self, other: &U256) -> (U256, u64) {
        let mut out = [0u64; 4];
        let mut carry = 0u64;
        for (i, slot) in out.iter_mut().enumerate() {
            let sum = self.0[i] as u128 + other.0[i] as u128 + carry as u128;
            *slot = sum as u64;
            carry = (sum >> 64) as u64;
        }
        (U256(out), carry)
    }

    fn sub_borrow(&self, other: &U256) -> (U256, u64) {
        let mut out = [0u64; 4];
        let mut borrow = 0u64;
        for (i, slot) in out.iter_mut().enumerate() {
            let (d1, b1) = self.0[i].overflowing_sub(other.0[i]);
            let (d2, b2) = d1.overflowing_sub(borrow);
            *slot = d2;
            borrow = (b1 | b2) as u64;
        }
        (U256(out), borrow)
    }

    /// `(self + other) mod n` for inputs `< n`, without data-dependent branches.
    pub(crate) fn add_mod_order(&self, other: &U256) -> U256 {
        // Both < n < 2^255, so the sum never overflows 256 bits.
        let (sum, _) = self.add_carry(other);
        let (reduced, borrow) = sum.sub_borrow(&U256(ORDER));
        // borrow = 1 means sum < n: keep `sum`.
        let keep_sum = borrow.wrapping_neg();
        let mut out = [0u64; 4];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = (sum.0[i] & keep_sum) | (reduced.0[i] & !keep_sum);
        }
        U256(out)
    }

    /// `self − n` for `self ≥ n`.
    #[cfg(test)]
    pub(crate) fn sub_order(&self) -> U256 {
        self.sub_borrow(&U256(ORDER)).0
    }

    /// `n - self` for `0 < self < n`.
    #[cfg(test)]
    pub(crate) fn neg_mod_order(&self) -> U256 {
        U256(ORDER).sub_borrow(self).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn below_order() -> impl Strategy<Value = U256> {
        any::<[u64; 4]>().prop_map(|mut l| {
            l[3] &= 0x3fff_ffff_ffff_ffff; // < 2^254 < n
            U256(l)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn bytes_round_trip(bytes in any::<[u8; 32]>()) {
            prop_assert_eq!(U256::from_be_bytes(&bytes).to_be_bytes(), bytes);
        }

        #[test]
        fn add_then_negate_is_identity(a in below_order(), b in below_order()) {
            let s = a.add_mod_order(&b);
            prop_assert!(s.is_below_order());
            // (a + b) + (n - b) = a (mod n)
            if !b.is_zero() {
                prop_assert_eq!(s.add_mod_order(&b.neg_mod_order()), a);
            }
        }
    }

    #[test]
    fn order_is_the_spec_value() {
        let hex = "7af2599b3b3f22d0563fbf0f990a37b5327aa72330157722d443623eaed4accf";
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex, &mut bytes).unwrap();
        assert_eq!(U256::from_be_bytes(&bytes), U256(ORDER));
        let n_minus_1 = U256::from_u64(1).neg_mod_order();
        assert_eq!(n_minus_1.add_mod_order(&U256::from_u64(1)), U256::ZERO);
    }
}
