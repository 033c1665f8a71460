//! The Cheetah curve `y² = x³ + x + (395 + X)` over [`F6`] (`nockchain-wallet.md` §6), its
//! 97-byte point encoding and the v0 public key type.

use std::fmt;
use std::str::FromStr;

use nockpool_core::{Digest, PubkeyHash, P};
use nockpool_pow::field::Belt;
use nockpool_pow::tip5::hash_varlen;
use ripemd::Ripemd160;
use sha2::{Digest as _, Sha256};

use crate::f6::F6;
use crate::scalar::{ORDER, U256};
use crate::WalletError;

/// Bytes in an encoded point: `0x01 ‖ y5..y0 ‖ x5..x0`, big-endian 64-bit limbs.
pub const PUBLIC_KEY_BYTES: usize = 97;
/// Characters in the base58 text of a public key (a v0 address).
pub const PUBLIC_KEY_BASE58_CHARS: usize = 132;

/// `b = 395 + X`.
const B: F6 = F6::from_reduced([395, 1, 0, 0, 0, 0]);
/// `3·b`, used by the complete projective formulas.
const B3: F6 = F6::from_reduced([1185, 3, 0, 0, 0, 0]);

/// The generator `G` (§6.3).
pub(crate) const GENERATOR: AffinePoint = AffinePoint {
    x: F6::from_reduced([
        2754611494552410273,
        8599518745794843693,
        10526511002404673680,
        4830863958577994148,
        375185138577093320,
        12938930721685970739,
    ]),
    y: F6::from_reduced([
        15384029202802550068,
        2774812795997841935,
        14375303400746062753,
        10708493419890101954,
        13187678623570541764,
        9990732138772505951,
    ]),
    inf: false,
};

/// An affine point; `inf` marks the identity (stored as `x = 0, y = 1`, as upstream does).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct AffinePoint {
    pub(crate) x: F6,
    pub(crate) y: F6,
    pub(crate) inf: bool,
}

impl AffinePoint {
    pub(crate) const IDENTITY: AffinePoint = AffinePoint {
        x: F6::ZERO,
        y: F6::ONE,
        inf: true,
    };

    pub(crate) fn is_on_curve(&self) -> bool {
        self.inf || self.y.square() == self.x.square() * self.x + self.x + B
    }

    #[cfg(test)]
    pub(crate) fn neg(&self) -> AffinePoint {
        if self.inf {
            *self
        } else {
            AffinePoint {
                x: self.x,
                y: -self.y,
                inf: false,
            }
        }
    }

    /// The textbook affine group law (`ch-add`); variable time, for public points.
    pub(crate) fn add(&self, other: &AffinePoint) -> AffinePoint {
        if self.inf {
            return *other;
        }
        if other.inf {
            return *self;
        }
        let slope = if self.x == other.x {
            if self.y != other.y || self.y.is_zero() {
                return AffinePoint::IDENTITY; // P + (−P), or doubling a point with y = 0
            }
            let three_x2 = self.x.square().scale(Belt::from_reduced(3));
            match (self.y + self.y).inverse() {
                Some(inv) => (three_x2 + F6::ONE) * inv,
                None => return AffinePoint::IDENTITY,
            }
        } else {
            match (self.x - other.x).inverse() {
                Some(inv) => (self.y - other.y) * inv,
                None => return AffinePoint::IDENTITY,
            }
        };
        let x = slope.square() - self.x - other.x;
        let y = slope * (self.x - x) - self.y;
        AffinePoint { x, y, inf: false }
    }

    /// `k·self` by double-and-add (variable time: only for public scalars and points).
    pub(crate) fn mul_vartime(&self, k: &U256) -> AffinePoint {
        let mut acc = AffinePoint::IDENTITY;
        for i in (0..256).rev() {
            acc = acc.add(&acc);
            if k.bit(i) == 1 {
                acc = acc.add(self);
            }
        }
        acc
    }

    /// `n·self = O`: the point lies in the prime-order subgroup (`in-g`).
    pub(crate) fn is_in_subgroup(&self) -> bool {
        self.mul_vartime(&U256(ORDER)).inf
    }
}

/// Homogeneous projective coordinates `(X : Y : Z)`, identity `(0 : 1 : 0)`.
#[derive(Clone, Copy, Debug)]
struct ProjectivePoint {
    x: F6,
    y: F6,
    z: F6,
}

impl ProjectivePoint {
    const IDENTITY: ProjectivePoint = ProjectivePoint {
        x: F6::ZERO,
        y: F6::ONE,
        z: F6::ZERO,
    };

    fn from_affine(p: &AffinePoint) -> ProjectivePoint {
        if p.inf {
            ProjectivePoint::IDENTITY
        } else {
            ProjectivePoint {
                x: p.x,
                y: p.y,
                z: F6::ONE,
            }
        }
    }

    fn to_affine(self) -> AffinePoint {
        match self.z.inverse() {
            Some(zinv) => AffinePoint {
                x: self.x * zinv,
                y: self.y * zinv,
                inf: false,
            },
            None => AffinePoint::IDENTITY,
        }
    }

    /// Complete addition for `y² = x³ + a·x + b` with `a = 1` (Renes–Costello–Batina 2016,
    /// algorithm 1). It has no special cases (doubling and the identity included) for points
    /// of odd order, which is all this crate multiplies: the generator and subgroup-checked
    /// keys.
    fn add(&self, other: &ProjectivePoint) -> ProjectivePoint {
        let (x1, y1, z1) = (self.x, self.y, self.z);
        let (x2, y2, z2) = (other.x, other.y, other.z);
        let mut t0 = x1 * x2;
        let mut t1 = y1 * y2;
        let mut t2 = z1 * z2;
        let mut t3 = (x1 + y1) * (x2 + y2);
        let mut t4 = t0 + t1;
        t3 = t3 - t4;
        t4 = (x1 + z1) * (x2 + z2);
        let mut t5 = t0 + t2;
        t4 = t4 - t5;
        t5 = (y1 + z1) * (y2 + z2);
        let mut x3 = t1 + t2;
        t5 = t5 - x3;
        let mut z3 = t4; // a·t4 with a = 1
        x3 = B3 * t2;
        z3 = x3 + z3;
        x3 = t1 - z3;
        z3 = t1 + z3;
        let mut y3 = x3 * z3;
        t1 = t0 + t0;
        t1 = t1 + t0;
        // t2 = a·t2 with a = 1
        t4 = B3 * t4;
        t1 = t1 + t2;
        t2 = t0 - t2;
        // t2 = a·t2 with a = 1
        t4 = t4 + t2;
        t0 = t1 * t4;
        y3 = y3 + t0;
        t0 = t5 * t4;
        x3 = t3 * x3;
        x3 = x3 - t0;
        t0 = t3 * t1;
        z3 = t5 * z3;
        z3 = z3 + t0;
        ProjectivePoint {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    fn select(a: &ProjectivePoint, b: &ProjectivePoint, choose_b: u64) -> ProjectivePoint {
        ProjectivePoint {
            x: F6::select(&a.x, &b.x, choose_b),
            y: F6::select(&a.y, &b.y, choose_b),
            z: F6::select(&a.z, &b.z, choose_b),
        }
    }
}

/// `k·P` for a secret `k`: double-and-add-always over all 256 bits with branch-free selects
/// and complete formulas, so the sequence of field operations does not depend on `k`.
pub(crate) fn mul_secret(point: &AffinePoint, k: &U256) -> AffinePoint {
    let base = ProjectivePoint::from_affine(point);
    let mut acc = ProjectivePoint::IDENTITY;
    for i in (0..256).rev() {
        acc = acc.add(&acc);
        let with_base = acc.add(&base);
        acc = ProjectivePoint::select(&acc, &with_base, k.bit(i).wrapping_neg());
    }
    acc.to_affine()
}

/// A Cheetah public key: a point of the prime-order subgroup other than the identity.
///
/// Its base58 text (132 characters) is a Nockchain **v0 address**; [`PublicKey::pubkey_hash`]
/// gives the **v1 address**.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub(crate) AffinePoint);

impl PublicKey {
    /// Wraps a point known to be valid (derived from a private key or checked).
    pub(crate) fn from_valid_point(point: AffinePoint) -> PublicKey {
        PublicKey(point)
    }

    /// Builds a key from its coordinates (six limbs each, `a0..a5`), checking that every limb
    /// is below `p`, the point is on the curve, in the subgroup and not the identity.
    pub fn from_coordinates(x: [u64; 6], y: [u64; 6]) -> Result<PublicKey, WalletError> {
        if let Some(v) = x.iter().chain(y.iter()).find(|&&v| v >= P) {
            return Err(WalletError::InvalidPublicKey(format!(
                "coordinate limb {v} is not below p"
            )));
        }
        let point = AffinePoint {
            x: F6::from_reduced(x),
            y: F6::from_reduced(y),
            inf: false,
        };
        if !point.is_on_curve() {
            return Err(WalletError::InvalidPublicKey(
                "the point is not on the Cheetah curve".into(),
            ));
        }
        if !point.is_in_subgroup() {
            return Err(WalletError::InvalidPublicKey(
                "the point is not in the Cheetah subgroup (n·P ≠ O)".into(),
            ));
        }
        Ok(PublicKey(point))
    }

    /// The x coordinate, limbs `a0..a5`.
    pub fn x(&self) -> [u64; 6] {
        self.0.x.limbs()
    }

    /// The y coordinate, limbs `a0..a5`.
    pub fn y(&self) -> [u64; 6] {
        self.0.y.limbs()
    }

    /// The 97-byte encoding `0x01 ‖ be64(y5) … be64(y0) ‖ be64(x5) … be64(x0)` (§6.5).
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_BYTES] {
        let mut out = [0u8; PUBLIC_KEY_BYTES];
        out[0] = 1;
        let limbs = self.y().into_iter().rev().chain(self.x().into_iter().rev());
        for (i, limb) in limbs.enumerate() {
            out[1 + 8 * i..9 + 8 * i].copy_from_slice(&limb.to_be_bytes());
        }
        out
    }

    /// Decodes the 97-byte encoding, strictly: leading byte `0x01`, limbs `< p`, on the curve,
    /// in the subgroup, not the identity.
    pub fn from_bytes(bytes: &[u8]) -> Result<PublicKey, WalletError> {
        if bytes.len() != PUBLIC_KEY_BYTES {
            return Err(WalletError::InvalidPublicKey(format!(
                "a public key is {PUBLIC_KEY_BYTES} bytes, got {}",
                bytes.len()
            )));
        }
        if bytes[0] != 1 {
            return Err(WalletError::InvalidPublicKey(format!(
                "the first byte must be 0x01, got {:#04x}",
                bytes[0]
            )));
        }
        let mut limbs = [0u64; 12];
        for (i, limb) in limbs.iter_mut().enumerate() {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[1 + 8 * i..9 + 8 * i]);
            *limb = u64::from_be_bytes(word);
        }
        let mut y = [0u64; 6];
        let mut x = [0u64; 6];
        for i in 0..6 {
            y[5 - i] = limbs[i];
            x[5 - i] = limbs[6 + i];
        }
        PublicKey::from_coordinates(x, y)
    }

    /// Base58 of [`PublicKey::to_bytes`]: the v0 address (132 characters).
    pub fn to_base58(&self) -> String {
        bs58::encode(self.to_bytes()).into_string()
    }

    /// Parses the base58 text of a public key (a v0 address).
    pub fn from_base58(text: &str) -> Result<PublicKey, WalletError> {
        if text.starts_with("zpub") {
            return Err(WalletError::InvalidPublicKey(
                "this is an extended public key (zpub…), not a public key; use its address".into(),
            ));
        }
        let bytes = bs58::decode(text)
            .into_vec()
            .map_err(|e| WalletError::InvalidPublicKey(format!("not base58: {e}")))?;
        PublicKey::from_bytes(&bytes)
    }

    /// The v1 address: Tip5 `hash-noun-varlen` of the noun `[x y %.n]` (§7.2).
    pub fn pubkey_hash(&self) -> PubkeyHash {
        PubkeyHash::from_digest(pubkey_digest(&self.x(), &self.y()))
    }

    /// First four bytes of `RIPEMD160(SHA256(encoding))`, the parent fingerprint in extended keys.
    pub fn fingerprint(&self) -> [u8; 4] {
        let sha = Sha256::digest(self.to_bytes());
        let rip = Ripemd160::digest(sha);
        [rip[0], rip[1], rip[2], rip[3]]
    }
}

/// The Dyck word of the noun `[[x0 … x5] [y0 … y5] inf]`'s shape (§7.2 step 2).
const PKH_DYCK: [u64; 24] = [
    0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1,
];

/// The 38 belts hashed for a public key hash: leaf count, leaves, Dyck word.
pub(crate) fn pubkey_hash_input(x: &[u64; 6], y: &[u64; 6]) -> Vec<u64> {
    let mut input = Vec::with_capacity(38);
    input.push(13);
    input.extend_from_slice(x);
    input.extend_from_slice(y);
    input.push(1); // inf = %.n
    input.extend_from_slice(&PKH_DYCK);
    input
}

fn pubkey_digest(x: &[u64; 6], y: &[u64; 6]) -> Digest {
    let limbs = hash_varlen(&pubkey_hash_input(x, y));
    Digest::new(limbs).expect("Tip5 outputs are canonical belts")
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base58())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base58())
    }
}

impl FromStr for PublicKey {
    type Err = WalletError;
    fn from_str(s: &str) -> Result<PublicKey, WalletError> {
        PublicKey::from_base58(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn vectors() -> Option<Value> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/spec/wallet-vectors.json"
        );
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).ok(),
            Err(_) => {
                eprintln!("NOTICE: {path} not found; skipping");
                None
            }
        }
    }

    fn f6_of(v: &Value) -> F6 {
        let limbs: Vec<u64> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        F6::from_reduced(limbs.try_into().unwrap())
    }

    fn scalar_of_hex(hex_text: &str) -> U256 {
        let padded = format!("{hex_text:0>64}");
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(padded, &mut bytes).unwrap();
        U256::from_be_bytes(&bytes)
    }

    #[test]
    fn f6_inverse_and_division_vectors() {
        let Some(v) = vectors() else { return };
        let cases = v["curve_and_address"]["f6"].as_array().unwrap();
        assert_eq!(cases.len(), 3);
        for case in cases {
            let a = f6_of(&case["a"]);
            let expected = f6_of(&case["result"]);
            match case["op"].as_str().unwrap() {
                "inv" => assert_eq!(a.inverse().unwrap(), expected),
                "div" => assert_eq!(a * f6_of(&case["b"]).inverse().unwrap(), expected),
                other => panic!("unknown op {other}"),
            }
        }
    }

    #[test]
    fn generator_has_order_n() {
        assert!(GENERATOR.is_on_curve());
        assert!(GENERATOR.mul_vartime(&U256(ORDER)).inf);
        assert!(mul_secret(&GENERATOR, &U256(ORDER)).inf);
        let n_minus_1 = U256::from_u64(1).neg_mod_order();
        assert_eq!(mul_secret(&GENERATOR, &n_minus_1), GENERATOR.neg());
    }

    #[test]
    fn generator_hash_input_vector() {
        let Some(v) = vectors() else { return };
        let case = &v["curve_and_address"]["pubkeys_and_pkh"][3];
        let expected: Vec<u64> = case["pkh_hash_input_belts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        let g = PublicKey::from_valid_point(GENERATOR);
        assert_eq!(pubkey_hash_input(&g.x(), &g.y()), expected);
    }

    /// Schnorr verification as `++verify` in `ztd/three.hoon` (§8.1): exercises the curve
    /// and Tip5 together on upstream's two signatures.
    #[test]
    fn upstream_schnorr_signatures_verify() {
        let Some(v) = vectors() else { return };
        let cases = v["curve_and_address"]["schnorr_verify"].as_array().unwrap();
        assert_eq!(cases.len(), 2);
        for case in cases {
            let k = match case["pubkey"].as_str().unwrap() {
                "8*G" => U256::from_u64(8),
                "(n-1)*G" => U256::from_u64(1).neg_mod_order(),
                other => panic!("unknown pubkey {other}"),
            };
            let key = mul_secret(&GENERATOR, &k);
            let m: Vec<u64> = case["m"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect();
            let chal = scalar_of_hex(case["chal_hex"].as_str().unwrap());
            let sig = scalar_of_hex(case["sig_hex"].as_str().unwrap());
            assert!(chal.is_below_order() && sig.is_below_order());
            // R = sig·G − chal·K
            let r = GENERATOR
                .mul_vartime(&sig)
                .add(&key.mul_vartime(&chal).neg());
            let mut input = Vec::new();
            for f in [r.x, r.y, key.x, key.y] {
                input.extend_from_slice(&f.limbs());
            }
            input.extend_from_slice(&m);
            let h = hash_varlen(&input);
            // (h0 + h1·p + h2·p² + h3·p³) mod n, by Horner in 320-bit arithmetic.
            let mut acc = [0u128; 5];
            for &limb in h[..4].iter().rev() {
                let mut carry = limb as u128;
                for word in acc.iter_mut() {
                    let t = *word * P as u128 + carry;
                    *word = t & u64::MAX as u128;
                    carry = t >> 64;
                }
            }
            assert_eq!(acc[4], 0);
            let mut value = U256([acc[0] as u64, acc[1] as u64, acc[2] as u64, acc[3] as u64]);
            while !value.is_below_order() {
                value = value.sub_order();
            }
            assert_eq!(value, chal);
            assert_eq!(case["valid"].as_bool(), Some(true));
        }
    }

    fn small_scalar() -> impl Strategy<Value = U256> {
        any::<[u64; 4]>().prop_map(|mut l| {
            l[3] &= 0x3fff_ffff_ffff_ffff;
            U256(l)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn secret_and_public_multiplication_agree(k in small_scalar()) {
            prop_assert_eq!(mul_secret(&GENERATOR, &k), GENERATOR.mul_vartime(&k));
        }

        #[test]
        fn scalar_multiplication_is_linear(a in small_scalar(), b in small_scalar()) {
            let sum = a.add_mod_order(&b);
            let lhs = mul_secret(&GENERATOR, &sum);
            let rhs = mul_secret(&GENERATOR, &a).add(&mul_secret(&GENERATOR, &b));
            prop_assert_eq!(lhs, rhs);
            prop_assert!(lhs.is_on_curve());
            // (−a)·G = −(a·G), and a·G + (n − a)·G = O.
            if !a.is_zero() {
                let neg = mul_secret(&GENERATOR, &a.neg_mod_order());
                prop_assert_eq!(neg, mul_secret(&GENERATOR, &a).neg());
                prop_assert!(neg.add(&mul_secret(&GENERATOR, &a)).inf);
            }
        }

        #[test]
        fn multiples_are_in_the_subgroup_and_round_trip(k in small_scalar()) {
            prop_assume!(!k.is_zero());
            let point = mul_secret(&GENERATOR, &k);
            prop_assert!(point.is_in_subgroup());
            let key = PublicKey::from_valid_point(point);
            prop_assert_eq!(PublicKey::from_bytes(&key.to_bytes()).unwrap(), key);
            prop_assert_eq!(PublicKey::from_base58(&key.to_base58()).unwrap(), key);
        }

        #[test]
        fn off_curve_points_are_rejected(x in any::<[u64; 6]>(), y in any::<[u64; 6]>()) {
            let x = x.map(|v| v % P);
            let y = y.map(|v| v % P);
            // A random (x, y) is on the curve with probability ~p⁻⁶.
            prop_assert!(PublicKey::from_coordinates(x, y).is_err());
        }
    }
}
