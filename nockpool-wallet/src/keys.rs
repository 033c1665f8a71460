//! Private keys, SLIP-10 over Cheetah with the `Nockchain seed` master key, and the
//! `zprv…`/`zpub…` extended-key strings (`nockchain-wallet.md` §5).

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest as _, Sha256, Sha512};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::curve::{mul_secret, PublicKey, GENERATOR, PUBLIC_KEY_BYTES};
use crate::scalar::U256;
use crate::WalletError;

/// The HMAC key of the SLIP-10 master derivation.
const MASTER_HMAC_KEY: &[u8] = b"Nockchain seed";
/// Child indices from here on are hardened.
pub const HARDENED: u32 = 1 << 31;

const ZPRV_TYPE: [u8; 4] = [0x01, 0x10, 0x63, 0x31];
const ZPUB_TYPE: [u8; 4] = [0x0c, 0x0e, 0xbb, 0x09];
/// Type bytes of the pre-October-2025 format (no version byte); accepted on import only.
const ZPRV_TYPE_OLD: [u8; 4] = [0x04, 0xb2, 0x43, 0x0b];
const ZPUB_TYPE_OLD: [u8; 4] = [0x00, 0xea, 0xe6, 0x5c];

/// The key version a wallet tags a key with. It changes which address the wallet shows for
/// it (v0: the public key; v1: the public key hash), never the key itself.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub enum KeyVersion {
    /// Keys made before October 2025; addressed by their public key.
    V0,
    /// Current keys (what `keygen` makes); addressed by their public key hash.
    V1,
}

impl KeyVersion {
    /// The version number (0 or 1).
    pub const fn number(self) -> u8 {
        match self {
            KeyVersion::V0 => 0,
            KeyVersion::V1 => 1,
        }
    }

    /// From a version number; only 0 and 1 exist.
    pub fn from_number(n: u64) -> Result<KeyVersion, WalletError> {
        match n {
            0 => Ok(KeyVersion::V0),
            1 => Ok(KeyVersion::V1),
            other => Err(WalletError::InvalidExtendedKey(format!(
                "key version {other} is unknown (only 0 and 1 exist)"
            ))),
        }
    }
}

impl fmt::Display for KeyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

/// A Cheetah private key `1 ≤ k < n`; wiped from memory on drop, never printed by `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey(U256);

impl SecretKey {
    /// From 32 big-endian bytes; refuses zero and values `≥ n`.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<SecretKey, WalletError> {
        let k = U256::from_be_bytes(bytes);
        if k.is_zero() || !k.is_below_order() {
            return Err(WalletError::InvalidPrivateKey(
                "a private key must be between 1 and n − 1".into(),
            ));
        }
        Ok(SecretKey(k))
    }

    /// The 32 big-endian bytes (handle with care).
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_be_bytes())
    }

    /// `k·G`, computed in constant time.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_valid_point(mul_secret(&GENERATOR, &self.0))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// Where a key sits in its derivation tree (BIP32 metadata carried by extended keys).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct KeyPath {
    /// 0 for a master key.
    pub depth: u8,
    /// First four bytes of the parent's `RIPEMD160(SHA256(pubkey))`; zero for a master key.
    pub parent_fingerprint: [u8; 4],
    /// This key's index under its parent (`≥ 2³¹` = hardened); zero for a master key.
    pub child_index: u32,
}

/// A private key with its chain code: a master key or a derived child.
#[derive(Clone)]
pub struct ExtendedPrivateKey {
    secret: SecretKey,
    chain_code: Zeroizing<[u8; 32]>,
    path: KeyPath,
    version: KeyVersion,
}

/// A public key with its chain code (watch-only; derives non-hardened children).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ExtendedPublicKey {
    public: PublicKey,
    chain_code: [u8; 32],
    path: KeyPath,
    version: KeyVersion,
}

fn hmac_sha512(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 64]> {
    let mut mac =
        <Hmac<Sha512> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    let mut out = Zeroizing::new([0u8; 64]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

fn split(i: &[u8; 64]) -> (U256, Zeroizing<[u8; 32]>) {
    let mut il = Zeroizing::new([0u8; 32]);
    il.copy_from_slice(&i[..32]);
    let mut ir = Zeroizing::new([0u8; 32]);
    ir.copy_from_slice(&i[32..]);
    (U256::from_be_bytes(&il), ir)
}

impl ExtendedPrivateKey {
    /// The master key of a seed (§5.1): `HMAC-SHA512("Nockchain seed", seed)`, re-hashing the
    /// whole output while its left half is not below `n`.
    pub fn from_seed(seed: &[u8], version: KeyVersion) -> ExtendedPrivateKey {
        let mut i = hmac_sha512(MASTER_HMAC_KEY, &[seed]);
        loop {
            let (il, ir) = split(&i);
            // il = 0 has probability 2^-256; upstream does not check it, SLIP-10 re-hashes.
            if il.is_below_order() && !il.is_zero() {
                return ExtendedPrivateKey {
                    secret: SecretKey(il),
                    chain_code: ir,
                    path: KeyPath::default(),
                    version,
                };
            }
            i = hmac_sha512(MASTER_HMAC_KEY, &[&i[..]]);
        }
    }

    /// Builds an extended key from its parts.
    pub fn new(
        secret: SecretKey,
        chain_code: [u8; 32],
        path: KeyPath,
        version: KeyVersion,
    ) -> Self {
        ExtendedPrivateKey {
            secret,
            chain_code: Zeroizing::new(chain_code),
            path,
            version,
        }
    }

    /// The private key.
    pub fn secret_key(&self) -> &SecretKey {
        &self.secret
    }

    /// The chain code.
    pub fn chain_code(&self) -> &[u8; 32] {
        &self.chain_code
    }

    /// Depth, parent fingerprint and child index.
    pub fn path(&self) -> KeyPath {
        self.path
    }

    /// The version tag.
    pub fn version(&self) -> KeyVersion {
        self.version
    }

    /// The same key tagged with another version.
    pub fn with_version(mut self, version: KeyVersion) -> Self {
        self.version = version;
        self
    }

    /// The same key with depth, parent fingerprint and index zeroed: how `nockchain-wallet`
    /// prints a derived child's extended keys (it stores only key and chain code).
    pub fn without_path(mut self) -> Self {
        self.path = KeyPath::default();
        self
    }

    /// The public key `k·G`.
    pub fn public_key(&self) -> PublicKey {
        self.secret.public_key()
    }

    /// The extended public key (same chain code, path and version).
    pub fn to_extended_public(&self) -> ExtendedPublicKey {
        ExtendedPublicKey {
            public: self.public_key(),
            chain_code: *self.chain_code,
            path: self.path,
            version: self.version,
        }
    }

    /// Child `index` (§5.2): hardened iff `index ≥ 2³¹`.
    pub fn derive_child(&self, index: u32) -> ExtendedPrivateKey {
        let public = self.public_key();
        let index_bytes = index.to_be_bytes();
        let secret_bytes = self.secret.to_bytes();
        let public_bytes = public.to_bytes();
        let mut i = if index >= HARDENED {
            hmac_sha512(
                &self.chain_code[..],
                &[&[0u8], &secret_bytes[..], &index_bytes],
            )
        } else {
            hmac_sha512(&self.chain_code[..], &[&public_bytes, &index_bytes])
        };
        loop {
            let (il, ir) = split(&i);
            if il.is_below_order() {
                let child = il.add_mod_order(&self.secret.0);
                if !child.is_zero() {
                    return ExtendedPrivateKey {
                        secret: SecretKey(child),
                        chain_code: ir,
                        path: KeyPath {
                            depth: self.path.depth.wrapping_add(1),
                            parent_fingerprint: public.fingerprint(),
                            child_index: index,
                        },
                        version: self.version,
                    };
                }
            }
            i = hmac_sha512(&self.chain_code[..], &[&[1u8], &ir[..], &index_bytes]);
        }
    }

    /// The `zprv…` text (§5.3; 112 characters). It holds the private key: keep it secret.
    pub fn to_zprv(&self) -> Zeroizing<String> {
        let mut payload = Zeroizing::new(Vec::with_capacity(79 + 4));
        payload.extend_from_slice(&ZPRV_TYPE);
        payload.push(self.version.number());
        payload.push(self.path.depth);
        payload.extend_from_slice(&self.path.parent_fingerprint);
        payload.extend_from_slice(&self.path.child_index.to_be_bytes());
        payload.extend_from_slice(&self.chain_code[..]);
        payload.push(0);
        payload.extend_from_slice(&self.secret.to_bytes()[..]);
        let check = checksum(&payload);
        payload.extend_from_slice(&check);
        Zeroizing::new(bs58::encode(&payload[..]).into_string())
    }

    /// Parses a `zprv…` string (current or pre-October-2025 format).
    pub fn from_zprv(text: &str) -> Result<ExtendedPrivateKey, WalletError> {
        if !text.starts_with("zprv") {
            return Err(WalletError::InvalidExtendedKey(
                "an extended private key starts with `zprv`".into(),
            ));
        }
        let fields = parse_extended(text, 33, &ZPRV_TYPE, &ZPRV_TYPE_OLD)?;
        if fields.key[0] != 0 {
            return Err(WalletError::InvalidExtendedKey(
                "the private key field must start with a zero byte".into(),
            ));
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&fields.key[1..]);
        let secret = SecretKey::from_bytes(&secret)
            .map_err(|e| WalletError::InvalidExtendedKey(e.to_string()))?;
        Ok(ExtendedPrivateKey::new(
            secret,
            fields.chain_code,
            fields.path,
            fields.version,
        ))
    }
}

impl fmt::Debug for ExtendedPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtendedPrivateKey")
            .field("public", &self.public_key())
            .field("path", &self.path)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl ExtendedPublicKey {
    /// Builds an extended public key from its parts.
    pub fn new(
        public: PublicKey,
        chain_code: [u8; 32],
        path: KeyPath,
        version: KeyVersion,
    ) -> Self {
        ExtendedPublicKey {
            public,
            chain_code,
            path,
            version,
        }
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The chain code.
    pub fn chain_code(&self) -> &[u8; 32] {
        &self.chain_code
    }

    /// Depth, parent fingerprint and child index.
    pub fn path(&self) -> KeyPath {
        self.path
    }

    /// The version tag.
    pub fn version(&self) -> KeyVersion {
        self.version
    }

    /// The same key with depth, parent fingerprint and index zeroed (wallet display form).
    pub fn without_path(mut self) -> Self {
        self.path = KeyPath::default();
        self
    }

    /// Non-hardened child `index < 2³¹`: `K' = IL·G + K` (§5.2).
    pub fn derive_child(&self, index: u32) -> Result<ExtendedPublicKey, WalletError> {
        if index >= HARDENED {
            return Err(WalletError::Derivation(format!(
                "index {index} is hardened; only a private key can derive it"
            )));
        }
        let index_bytes = index.to_be_bytes();
        let mut i = hmac_sha512(&self.chain_code, &[&self.public.to_bytes(), &index_bytes]);
        loop {
            let (il, ir) = split(&i);
            if il.is_below_order() {
                let child = GENERATOR.mul_vartime(&il).add(&self.public.0);
                if !child.inf {
                    return Ok(ExtendedPublicKey {
                        public: PublicKey::from_valid_point(child),
                        chain_code: *ir,
                        path: KeyPath {
                            depth: self.path.depth.wrapping_add(1),
                            parent_fingerprint: self.public.fingerprint(),
                            child_index: index,
                        },
                        version: self.version,
                    });
                }
            }
            i = hmac_sha512(&self.chain_code, &[&[1u8], &ir[..], &index_bytes]);
        }
    }

    /// The `zpub…` text (§5.3; 200 characters).
    pub fn to_zpub(&self) -> String {
        let mut payload = Vec::with_capacity(143 + 4);
        payload.extend_from_slice(&ZPUB_TYPE);
        payload.push(self.version.number());
        payload.push(self.path.depth);
        payload.extend_from_slice(&self.path.parent_fingerprint);
        payload.extend_from_slice(&self.path.child_index.to_be_bytes());
        payload.extend_from_slice(&self.chain_code);
        payload.extend_from_slice(&self.public.to_bytes());
        let check = checksum(&payload);
        payload.extend_from_slice(&check);
        bs58::encode(payload).into_string()
    }

    /// Parses a `zpub…` string (current or pre-October-2025 format); the point must be a
    /// valid subgroup point.
    pub fn from_zpub(text: &str) -> Result<ExtendedPublicKey, WalletError> {
        if !text.starts_with("zpub") {
            return Err(WalletError::InvalidExtendedKey(
                "an extended public key starts with `zpub`".into(),
            ));
        }
        let fields = parse_extended(text, PUBLIC_KEY_BYTES, &ZPUB_TYPE, &ZPUB_TYPE_OLD)?;
        let public = PublicKey::from_bytes(&fields.key)
            .map_err(|e| WalletError::InvalidExtendedKey(e.to_string()))?;
        Ok(ExtendedPublicKey::new(
            public,
            fields.chain_code,
            fields.path,
            fields.version,
        ))
    }
}

/// The wallet's checksum (§5.3): `SHA256(SHA256(payload) without its leading zero bytes)`,
/// first four bytes. Equal to Bitcoin's double SHA-256 unless the inner hash starts with 0x00.
fn checksum(payload: &[u8]) -> [u8; 4] {
    let inner = Sha256::digest(payload);
    let first_nonzero = inner.iter().position(|&b| b != 0).unwrap_or(inner.len());
    let outer = Sha256::digest(&inner[first_nonzero..]);
    [outer[0], outer[1], outer[2], outer[3]]
}

struct ExtendedFields {
    version: KeyVersion,
    path: KeyPath,
    chain_code: [u8; 32],
    key: Zeroizing<Vec<u8>>,
}

fn parse_extended(
    text: &str,
    key_len: usize,
    type_bytes: &[u8; 4],
    old_type_bytes: &[u8; 4],
) -> Result<ExtendedFields, WalletError> {
    let bad = |why: &str| WalletError::InvalidExtendedKey(why.to_string());
    let bytes = Zeroizing::new(
        bs58::decode(text)
            .into_vec()
            .map_err(|e| WalletError::InvalidExtendedKey(format!("not base58: {e}")))?,
    );
    if bytes.len() < 4 {
        return Err(bad("too short"));
    }
    let (payload, check) = bytes.split_at(bytes.len() - 4);
    if checksum(payload) != check {
        return Err(bad("checksum mismatch (a typo, or a truncated key)"));
    }
    let (has_version, expected_type) = if payload.len() == key_len + 46 {
        (true, type_bytes)
    } else if payload.len() == key_len + 45 {
        (false, old_type_bytes)
    } else {
        return Err(WalletError::InvalidExtendedKey(format!(
            "{} payload bytes is not an extended key of this kind",
            payload.len()
        )));
    };
    if &payload[..4] != expected_type {
        return Err(bad("unexpected type bytes for this kind of key"));
    }
    let mut at = 4;
    let version = if has_version {
        at += 1;
        KeyVersion::from_number(payload[4] as u64)?
    } else {
        KeyVersion::V0
    };
    let depth = payload[at];
    let mut parent_fingerprint = [0u8; 4];
    parent_fingerprint.copy_from_slice(&payload[at + 1..at + 5]);
    let mut index = [0u8; 4];
    index.copy_from_slice(&payload[at + 5..at + 9]);
    let mut chain_code = [0u8; 32];
    chain_code.copy_from_slice(&payload[at + 9..at + 41]);
    let key = Zeroizing::new(payload[at + 41..].to_vec());
    Ok(ExtendedFields {
        version,
        path: KeyPath {
            depth,
            parent_fingerprint,
            child_index: u32::from_be_bytes(index),
        },
        chain_code,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secret_from(bytes: [u8; 32]) -> Option<SecretKey> {
        let mut b = bytes;
        b[0] &= 0x3f; // below 2^254 < n
        SecretKey::from_bytes(&b).ok()
    }

    #[test]
    fn checksum_strips_leading_zero_bytes_of_the_inner_hash() {
        // Find a payload whose inner SHA-256 starts with 0x00 (1 in 256): there the wallet's
        // checksum differs from Bitcoin's double SHA-256.
        let payload = (0u32..100_000)
            .map(|i| i.to_be_bytes().to_vec())
            .find(|p| Sha256::digest(p)[0] == 0)
            .expect("some payload hashes to a leading zero byte");
        let inner = Sha256::digest(&payload);
        let bitcoin = Sha256::digest(inner);
        let stripped = Sha256::digest(&inner[1..]);
        assert_eq!(
            checksum(&payload),
            [stripped[0], stripped[1], stripped[2], stripped[3]]
        );
        assert_ne!(checksum(&payload)[..], bitcoin[..4]);
    }

    #[test]
    fn malformed_extended_keys_are_refused() {
        assert!(ExtendedPrivateKey::from_zprv("").is_err());
        assert!(ExtendedPrivateKey::from_zprv("zprv").is_err());
        assert!(ExtendedPublicKey::from_zpub("zprv1111").is_err());
        assert!(ExtendedPrivateKey::from_zprv("zprv0OIl").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn extended_keys_round_trip(
            bytes in any::<[u8; 32]>(),
            chain_code in any::<[u8; 32]>(),
            depth in any::<u8>(),
            fingerprint in any::<[u8; 4]>(),
            index in any::<u32>(),
            v1 in any::<bool>(),
        ) {
            let Some(secret) = secret_from(bytes) else { return Ok(()) };
            let version = if v1 { KeyVersion::V1 } else { KeyVersion::V0 };
            let path = KeyPath { depth, parent_fingerprint: fingerprint, child_index: index };
            let key = ExtendedPrivateKey::new(secret, chain_code, path, version);
            let zprv = key.to_zprv();
            prop_assert_eq!(zprv.len(), 112);
            let back = ExtendedPrivateKey::from_zprv(&zprv).unwrap();
            prop_assert_eq!(back.secret_key().to_bytes(), key.secret_key().to_bytes());
            prop_assert_eq!(back.chain_code(), key.chain_code());
            prop_assert_eq!(back.path(), path);
            prop_assert_eq!(back.version(), version);

            let public = key.to_extended_public();
            let zpub = public.to_zpub();
            prop_assert_eq!(zpub.len(), 200);
            prop_assert_eq!(ExtendedPublicKey::from_zpub(&zpub).unwrap(), public);

            // Any single changed character is caught (checksum or structure).
            let mut corrupted: Vec<char> = zpub.chars().collect();
            let at = 4 + (index as usize % (corrupted.len() - 4));
            corrupted[at] = if corrupted[at] == 'z' { 'y' } else { 'z' };
            let corrupted: String = corrupted.into_iter().collect();
            prop_assert!(ExtendedPublicKey::from_zpub(&corrupted).is_err());
        }

        #[test]
        fn public_and_private_children_agree(bytes in any::<[u8; 32]>(), index in 0u32..HARDENED) {
            let Some(secret) = secret_from(bytes) else { return Ok(()) };
            let key = ExtendedPrivateKey::new(secret, [7; 32], KeyPath::default(), KeyVersion::V1);
            let child = key.derive_child(index);
            prop_assert_eq!(
                key.to_extended_public().derive_child(index).unwrap(),
                child.to_extended_public()
            );
            prop_assert_eq!(child.path().parent_fingerprint, key.public_key().fingerprint());
        }
    }
}
