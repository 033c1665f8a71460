//! Keygen's entropy pipeline and seed phrases (`nockchain-wallet.md` §3.1 steps 1–5).

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;
use rand::TryRngCore;
use sha2::Sha512;
use zeroize::Zeroizing;

use crate::WalletError;

/// Argon2d memory cost of keygen, in KiB blocks (768 MiB).
pub const KEYGEN_ARGON2_MEMORY_KIB: u32 = 786_432;
/// Argon2d passes of keygen.
pub const KEYGEN_ARGON2_PASSES: u32 = 6;
/// Argon2d lanes of keygen.
pub const KEYGEN_ARGON2_LANES: u32 = 4;

/// A seed phrase: normally 24 BIP39 English words, but any text is accepted on import, as
/// `nockchain-wallet import-keys` does. Wiped from memory on drop; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SeedPhrase(Zeroizing<String>);

impl SeedPhrase {
    /// The words of 32 bytes of BIP39 entropy (24 words).
    pub fn from_entropy(entropy: &[u8; 32]) -> SeedPhrase {
        let mnemonic = bip39::Mnemonic::from_entropy(entropy)
            .expect("32 bytes is a valid BIP39 entropy length");
        let words: Vec<&str> = mnemonic.words().collect();
        SeedPhrase(Zeroizing::new(words.join(" ")))
    }

    /// Reads a phrase the way `import-keys --seedphrase` does: whitespace runs collapse to
    /// single spaces. No BIP39 check (see [`SeedPhrase::is_bip39`]); only empty text is refused.
    pub fn parse(text: &str) -> Result<SeedPhrase, WalletError> {
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.is_empty() {
            return Err(WalletError::InvalidSeedPhrase(
                "the seed phrase is empty".into(),
            ));
        }
        Ok(SeedPhrase(Zeroizing::new(words.join(" "))))
    }

    /// Whether the phrase is a valid English BIP39 mnemonic (word list and checksum).
    pub fn is_bip39(&self) -> bool {
        bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &self.0).is_ok()
    }

    /// The phrase text (a secret).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Number of words.
    pub fn word_count(&self) -> usize {
        self.0.split(' ').count()
    }

    /// The BIP39 seed: PBKDF2-HMAC-SHA512 of the phrase with salt `"mnemonic"` (empty
    /// passphrase), 2048 rounds, 64 bytes.
    pub fn to_seed(&self) -> Zeroizing<[u8; 64]> {
        self.to_seed_with_passphrase("")
    }

    /// The BIP39 seed with a passphrase (Nockchain uses the empty one; this exists so the
    /// published BIP39 vectors can be checked).
    pub fn to_seed_with_passphrase(&self, passphrase: &str) -> Zeroizing<[u8; 64]> {
        let salt = format!("mnemonic{passphrase}");
        let mut seed = Zeroizing::new([0u8; 64]);
        pbkdf2::pbkdf2_hmac::<Sha512>(self.0.as_bytes(), salt.as_bytes(), 2048, &mut seed[..]);
        seed
    }

    /// Keygen from raw entropy and salt, as `nockchain-wallet keygen` does after drawing them:
    /// Argon2d (t = 6, m = 768 MiB, p = 4, v = 0x13, 32 bytes), then the byte-reversed tag is
    /// the BIP39 entropy. Takes about a second and 768 MiB of memory.
    pub fn from_keygen_entropy(
        entropy: &[u8; 32],
        salt: &[u8; 16],
    ) -> Result<SeedPhrase, WalletError> {
        let tag = keygen_argon2d(entropy, salt)?;
        let mut reversed = Zeroizing::new(*tag);
        reversed.reverse();
        Ok(SeedPhrase::from_entropy(&reversed))
    }

    /// A fresh phrase: 32 bytes of entropy and 16 of salt from the operating system, then
    /// [`SeedPhrase::from_keygen_entropy`].
    pub fn generate() -> Result<SeedPhrase, WalletError> {
        let mut entropy = Zeroizing::new([0u8; 32]);
        let mut salt = Zeroizing::new([0u8; 16]);
        let mut rng = OsRng;
        rng.try_fill_bytes(&mut entropy[..])
            .and_then(|_| rng.try_fill_bytes(&mut salt[..]))
            .map_err(|e| WalletError::Rng(e.to_string()))?;
        SeedPhrase::from_keygen_entropy(&entropy, &salt)
    }
}

impl fmt::Debug for SeedPhrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeedPhrase(<{} words, redacted>)", self.word_count())
    }
}

/// Upstream passes entropy and salt as atoms, which drop leading zero bytes; its Argon2 jet
/// then left-aligns the remaining bytes in a buffer of the declared width, so leading zeros
/// end up at the end (§3.1 step 2).
fn atom_bytes(bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    out.extend_from_slice(&bytes[zeros..]);
    out.resize(bytes.len(), 0);
    out
}

/// The Argon2d tag `T` of keygen (before byte reversal).
pub(crate) fn keygen_argon2d(
    entropy: &[u8; 32],
    salt: &[u8; 16],
) -> Result<Zeroizing<[u8; 32]>, WalletError> {
    let params = Params::new(
        KEYGEN_ARGON2_MEMORY_KIB,
        KEYGEN_ARGON2_PASSES,
        KEYGEN_ARGON2_LANES,
        Some(32),
    )
    .map_err(|e| WalletError::Kdf(e.to_string()))?;
    let argon = Argon2::new(Algorithm::Argon2d, Version::V0x13, params);
    let mut tag = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(&atom_bytes(entropy), &atom_bytes(salt), &mut tag[..])
        .map_err(|e| WalletError::Kdf(e.to_string()))?;
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atom_bytes_moves_leading_zeros_to_the_end() {
        assert_eq!(&atom_bytes(&[0, 0, 1, 2])[..], &[1, 2, 0, 0]);
        assert_eq!(&atom_bytes(&[0, 0])[..], &[0, 0]);
        assert_eq!(&atom_bytes(&[3, 0])[..], &[3, 0]);
    }

    #[test]
    fn argon2d_matches_rfc9106() {
        // RFC 9106 §5.1 Argon2d vector (the one upstream's jet test pins): the same crate and
        // algorithm keygen uses, with the RFC's small parameters.
        let mut builder = argon2::ParamsBuilder::new();
        builder
            .m_cost(32)
            .t_cost(3)
            .p_cost(4)
            .output_len(32)
            .data(argon2::AssociatedData::new(&[4u8; 12]).unwrap());
        let params = builder.build().unwrap();
        let argon =
            Argon2::new_with_secret(&[3u8; 8], Algorithm::Argon2d, Version::V0x13, params).unwrap();
        let mut out = [0u8; 32];
        argon
            .hash_password_into(&[1u8; 32], &[2u8; 16], &mut out)
            .unwrap();
        assert_eq!(
            hex::encode(out),
            "512b391b6f1162975371d30919734294f868e3be3984f3c1a13a4db9fabe4acb"
        );
    }
}
