//! A wallet's master key: the seed phrase (when known) and the key derived from it.

use crate::{Address, ExtendedPrivateKey, KeyVersion, PublicKey, SeedPhrase, WalletError};

/// A master key set, as `nockchain-wallet keygen` / `import-keys` make it.
#[derive(Clone, Debug)]
pub struct MasterKey {
    phrase: Option<SeedPhrase>,
    key: ExtendedPrivateKey,
}

impl MasterKey {
    /// `keygen`: fresh OS entropy → Argon2d → 24 words → version-1 master key.
    pub fn generate() -> Result<MasterKey, WalletError> {
        Ok(MasterKey::from_seed_phrase(
            SeedPhrase::generate()?,
            KeyVersion::V1,
        ))
    }

    /// `import-keys --seedphrase … --version …`: the phrase's master key, tagged `version`
    /// (the tag picks which address is shown; the key is the same for both).
    pub fn from_seed_phrase(phrase: SeedPhrase, version: KeyVersion) -> MasterKey {
        let key = ExtendedPrivateKey::from_seed(&phrase.to_seed()[..], version);
        MasterKey {
            phrase: Some(phrase),
            key,
        }
    }

    /// A master key imported from a `zprv…` (no seed phrase known). Refuses derived keys.
    pub fn from_zprv(text: &str) -> Result<MasterKey, WalletError> {
        let key = ExtendedPrivateKey::from_zprv(text)?;
        if key.path().depth != 0 {
            return Err(WalletError::InvalidExtendedKey(format!(
                "this key is at depth {}; import the master key (depth 0)",
                key.path().depth
            )));
        }
        Ok(MasterKey { phrase: None, key })
    }

    /// The same key tagged with another version.
    pub fn with_version(mut self, version: KeyVersion) -> MasterKey {
        self.key = self.key.with_version(version);
        self
    }

    /// The seed phrase, if this key came from one.
    pub fn seed_phrase(&self) -> Option<&SeedPhrase> {
        self.phrase.as_ref()
    }

    /// The extended private key.
    pub fn extended_key(&self) -> &ExtendedPrivateKey {
        &self.key
    }

    /// The version tag.
    pub fn version(&self) -> KeyVersion {
        self.key.version()
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// The address the wallet shows for this key: v1 (pkh) for version 1, v0 (public key)
    /// for version 0.
    pub fn address(&self) -> Address {
        let public = self.public_key();
        match self.version() {
            KeyVersion::V0 => Address::V0(public),
            KeyVersion::V1 => Address::V1(public.pubkey_hash()),
        }
    }
}
