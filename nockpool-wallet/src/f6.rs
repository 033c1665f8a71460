//! The sextic extension `F = F_p[X] / (X⁶ − 7)` over the Goldilocks field
//! (`nockchain-wallet.md` §6.1), on `nockpool-pow`'s [`Belt`].

use std::ops::{Add, Mul, Neg, Sub};

use nockpool_pow::field::Belt;

/// `7^((p−1)/6)`: `X^p = ω·X`, so the Frobenius map scales coefficient `i` by `ω^i`.
const OMEGA: u64 = 18_446_744_065_119_617_026;

/// An element `a0 + a1·X + … + a5·X⁵` of the Cheetah base field.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct F6(pub(crate) [Belt; 6]);

impl F6 {
    pub(crate) const ZERO: F6 = F6([Belt::ZERO; 6]);
    pub(crate) const ONE: F6 = F6([
        Belt::ONE,
        Belt::ZERO,
        Belt::ZERO,
        Belt::ZERO,
        Belt::ZERO,
        Belt::ZERO,
    ]);

    /// From six canonical limbs (callers check `< p` first).
    pub(crate) const fn from_reduced(limbs: [u64; 6]) -> F6 {
        F6([
            Belt::from_reduced(limbs[0]),
            Belt::from_reduced(limbs[1]),
            Belt::from_reduced(limbs[2]),
            Belt::from_reduced(limbs[3]),
            Belt::from_reduced(limbs[4]),
            Belt::from_reduced(limbs[5]),
        ])
    }

    pub(crate) fn limbs(&self) -> [u64; 6] {
        self.0.map(Belt::value)
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.0.iter().all(|b| b.is_zero())
    }

    pub(crate) fn square(self) -> F6 {
        self * self
    }

    /// Multiplies by a base-field scalar.
    pub(crate) fn scale(self, k: Belt) -> F6 {
        F6(self.0.map(|a| a * k))
    }

    /// The `k`-th power of Frobenius, `f ↦ f^(p^k)`.
    fn frobenius(self, k: u64) -> F6 {
        let step = Belt::from_reduced(OMEGA).pow(k % 6);
        let mut factor = Belt::ONE;
        let mut out = self.0;
        for limb in out.iter_mut() {
            *limb *= factor;
            factor *= step;
        }
        F6(out)
    }

    /// The multiplicative inverse, `None` for zero.
    ///
    /// The norm `N(f) = f·f^p·…·f^(p⁵)` lies in `F_p`, so `f⁻¹ = (f^p·…·f^(p⁵)) · N(f)⁻¹`:
    /// four products and one base-field inversion, with no data-dependent branches on a
    /// non-zero input.
    pub(crate) fn inverse(self) -> Option<F6> {
        if self.is_zero() {
            return None;
        }
        let conjugates = (1..6).fold(F6::ONE, |acc, k| acc * self.frobenius(k));
        let norm = (self * conjugates).0[0];
        norm.inverse().map(|inv| conjugates.scale(inv))
    }

    /// Picks `b` when `choose_b` is all ones, `a` when it is zero, without branching.
    pub(crate) fn select(a: &F6, b: &F6, choose_b: u64) -> F6 {
        let mut out = a.0;
        for (slot, (x, y)) in out.iter_mut().zip(a.0.iter().zip(b.0.iter())) {
            *slot = Belt::from_reduced((x.value() & !choose_b) | (y.value() & choose_b));
        }
        F6(out)
    }
}

impl Add for F6 {
    type Output = F6;
    fn add(self, rhs: F6) -> F6 {
        let mut out = self.0;
        for (o, r) in out.iter_mut().zip(rhs.0) {
            *o += r;
        }
        F6(out)
    }
}

impl Sub for F6 {
    type Output = F6;
    fn sub(self, rhs: F6) -> F6 {
        let mut out = self.0;
        for (o, r) in out.iter_mut().zip(rhs.0) {
            *o -= r;
        }
        F6(out)
    }
}

impl Neg for F6 {
    type Output = F6;
    fn neg(self) -> F6 {
        F6(self.0.map(|a| -a))
    }
}

impl Mul for F6 {
    type Output = F6;
    fn mul(self, rhs: F6) -> F6 {
        // Schoolbook product, folding X^(6+k) = 7·X^k.
        let mut low = [Belt::ZERO; 6];
        let mut high = [Belt::ZERO; 5];
        for (i, a) in self.0.iter().enumerate() {
            for (j, b) in rhs.0.iter().enumerate() {
                let term = *a * *b;
                if i + j < 6 {
                    low[i + j] += term;
                } else {
                    high[i + j - 6] += term;
                }
            }
        }
        let seven = Belt::from_reduced(7);
        for (k, h) in high.iter().enumerate() {
            low[k] += *h * seven;
        }
        F6(low)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nockpool_core::P;
    use proptest::prelude::*;

    fn f6() -> impl Strategy<Value = F6> {
        any::<[u64; 6]>().prop_map(|l| F6::from_reduced(l.map(|v| v % P)))
    }

    #[test]
    fn omega_is_a_primitive_sixth_root_of_unity() {
        let w = Belt::from_reduced(OMEGA);
        assert_eq!(w, Belt::from_reduced(7).pow((P - 1) / 6));
        assert_eq!(w.pow(6), Belt::ONE);
        assert_ne!(w.pow(2), Belt::ONE);
        assert_ne!(w.pow(3), Belt::ONE);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn inverse_times_self_is_one(a in f6()) {
            prop_assume!(!a.is_zero());
            prop_assert_eq!(a * a.inverse().unwrap(), F6::ONE);
        }

        #[test]
        fn frobenius_is_the_pth_power(a in f6()) {
            // a^p computed by square-and-multiply over the exponent p.
            let mut acc = F6::ONE;
            let mut base = a;
            let mut e = P;
            while e > 0 {
                if e & 1 == 1 { acc = acc * base; }
                base = base.square();
                e >>= 1;
            }
            prop_assert_eq!(a.frobenius(1), acc);
        }

        #[test]
        fn multiplication_distributes(a in f6(), b in f6(), c in f6()) {
            prop_assert_eq!(a * (b + c), a * b + a * c);
            prop_assert_eq!(a * b, b * a);
        }
    }
}
