use std::fmt;

use crate::CoreError;

/// The Goldilocks prime `p = 2^64 - 2^32 + 1`, the modulus of every Nockchain field element.
pub const P: u64 = 0xFFFF_FFFF_0000_0001;

/// Number of field elements in a Tip5 digest (and in a nonce).
pub const DIGEST_LEN: usize = 5;

fn check_canonical(limbs: &[u64; DIGEST_LEN]) -> Result<(), CoreError> {
    match limbs.iter().position(|&v| v >= P) {
        Some(index) => Err(CoreError::NonCanonical {
            index,
            value: limbs[index],
        }),
        None => Ok(()),
    }
}

fn limbs_from_slice(limbs: &[u64]) -> Result<[u64; DIGEST_LEN], CoreError> {
    let array: [u64; DIGEST_LEN] = limbs.try_into().map_err(|_| CoreError::WrongLength {
        expected: DIGEST_LEN,
        got: limbs.len(),
    })?;
    check_canonical(&array)?;
    Ok(array)
}

macro_rules! five_limb_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
        pub struct $name([u64; DIGEST_LEN]);

        impl $name {
            /// Builds a value from five limbs, rejecting any limb `>= p`.
            pub fn new(limbs: [u64; DIGEST_LEN]) -> Result<Self, CoreError> {
                check_canonical(&limbs)?;
                Ok(Self(limbs))
            }

            /// Builds a value from a slice that must hold exactly five canonical limbs.
            pub fn from_slice(limbs: &[u64]) -> Result<Self, CoreError> {
                limbs_from_slice(limbs).map(Self)
            }

            /// The five canonical limbs, least significant first.
            pub const fn limbs(&self) -> &[u64; DIGEST_LEN] {
                &self.0
            }

            /// The five canonical limbs by value.
            pub const fn to_limbs(self) -> [u64; DIGEST_LEN] {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let [a, b, c, d, e] = self.0;
                write!(f, "[{a:#x} {b:#x} {c:#x} {d:#x} {e:#x}]")
            }
        }

        impl TryFrom<[u64; DIGEST_LEN]> for $name {
            type Error = CoreError;
            fn try_from(limbs: [u64; DIGEST_LEN]) -> Result<Self, CoreError> {
                Self::new(limbs)
            }
        }

        impl TryFrom<&[u64]> for $name {
            type Error = CoreError;
            fn try_from(limbs: &[u64]) -> Result<Self, CoreError> {
                Self::from_slice(limbs)
            }
        }
    };
}

five_limb_type!(
    /// A Tip5 digest: five canonical Goldilocks elements `[d0 d1 d2 d3 d4]`.
    ///
    /// Its value as a number is `d0 + d1·p + d2·p² + d3·p³ + d4·p⁴` ([`Digest::to_u320`]);
    /// a proof-of-work digest wins when that number is `<=` the target.
    Digest
);

five_limb_type!(
    /// A proof-of-work nonce: five canonical Goldilocks elements.
    ///
    /// nockpool's shared layout: limb 4 is the connection's nonce prefix (assigned by the pool
    /// server), limb 3 the miner's thread/lane index, limbs 0–2 a base-p little-endian counter.
    Nonce
);

impl Digest {
    /// Whether this digest, read as a base-p number, is `<=` `target`.
    ///
    /// Compared limb by limb, most significant first, against the target written in base p
    /// (exactly what Nockchain's `check-target` computes).
    #[inline]
    pub fn meets(&self, target: &Target) -> bool {
        let t = target.base_p_digits();
        for i in (0..DIGEST_LEN).rev() {
            if self.0[i] != t[i] {
                return self.0[i] < t[i];
            }
        }
        true
    }

    /// The digest's value `d0 + d1·p + … + d4·p⁴`.
    pub fn to_u320(&self) -> U320 {
        U320::from_base_p(&self.0)
    }
}

impl Nonce {
    /// The connection's nonce prefix (limb 4).
    pub const fn prefix(&self) -> u64 {
        self.0[4]
    }

    /// The thread/lane index (limb 3).
    pub const fn lane(&self) -> u64 {
        self.0[3]
    }
}

use crate::{Target, U320};
