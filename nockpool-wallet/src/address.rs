//! Nockchain addresses: v1 (public key hash) and v0 (the public key itself), §7.

use std::fmt;
use std::str::FromStr;

use nockpool_core::PubkeyHash;

use crate::curve::{PublicKey, PUBLIC_KEY_BASE58_CHARS};
use crate::WalletError;

/// A Nockchain address as a user types it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Address {
    /// A v0 address: the base58 public key (132 characters); old notes are locked to it.
    V0(PublicKey),
    /// A v1 address: the base58 public key hash (at most 55 characters); what `keygen` prints
    /// and what a node's mining key (`--mining-pkh`) takes.
    V1(PubkeyHash),
}

impl Address {
    /// Parses either form with the wallet's own rule: text of 132 or more characters is a v0
    /// public key, shorter text a v1 public key hash. Both are fully validated (point on the
    /// curve and in the subgroup; hash value `< p⁵`).
    pub fn parse(text: &str) -> Result<Address, WalletError> {
        let text = text.trim();
        if text.len() >= PUBLIC_KEY_BASE58_CHARS {
            PublicKey::from_base58(text)
                .map(Address::V0)
                .map_err(|e| WalletError::InvalidAddress(format!("as a v0 public key: {e}")))
        } else {
            PubkeyHash::from_str(text)
                .map(Address::V1)
                .map_err(|e| WalletError::InvalidAddress(e.to_string()))
        }
    }

    /// The v1 address this address pays to (a v0 public key is hashed).
    pub fn pubkey_hash(&self) -> PubkeyHash {
        match self {
            Address::V0(key) => key.pubkey_hash(),
            Address::V1(pkh) => *pkh,
        }
    }

    /// The address version (0 or 1).
    pub fn version(&self) -> u8 {
        match self {
            Address::V0(_) => 0,
            Address::V1(_) => 1,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::V0(key) => key.fmt(f),
            Address::V1(pkh) => pkh.fmt(f),
        }
    }
}

impl FromStr for Address {
    type Err = WalletError;
    fn from_str(s: &str) -> Result<Address, WalletError> {
        Address::parse(s)
    }
}

/// The farm's mining address (`MINING_PUBKEY`): a v1 address, or a 132-character v0 public key
/// converted to its v1 address (DESIGN.md, "The farm's mining address"). Anything else is an
/// error that says what was expected.
pub fn parse_mining_address(text: &str) -> Result<PubkeyHash, WalletError> {
    if text.trim().is_empty() {
        return Err(WalletError::InvalidAddress(
            "no mining address given: set MINING_PUBKEY to the address printed by \
             `nockchain-wallet keygen`"
                .into(),
        ));
    }
    Address::parse(text).map(|a| a.pubkey_hash())
}
