//! Nockchain addresses: v1 (public key hash) and v0 (the public key itself), §7.

use std::fmt;
use std::str::FromStr;

use nockpool_core::{CoreError, MiningShare, PubkeyHash};

use crate::curve::{PublicKey, PUBLIC_KEY_BASE58_CHARS};
use crate::WalletError;

/// Shortest v1 address text accepted. The node accepts any value `< p⁵`, but a Tip5 hash
/// shorter than this (value `< 58⁴⁷`) has odds below 10⁻¹³: a shorter text is a truncated
/// copy, and paying to it would lose the coins.
pub const MIN_PKH_CHARS: usize = 48;

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
    /// curve and in the subgroup; hash value `< p⁵`, and at least [`MIN_PKH_CHARS`]
    /// characters, which catches truncated copies).
    pub fn parse(text: &str) -> Result<Address, WalletError> {
        let text = text.trim();
        if text.len() >= PUBLIC_KEY_BASE58_CHARS {
            PublicKey::from_base58(text)
                .map(Address::V0)
                .map_err(|e| WalletError::InvalidAddress(format!("as a v0 public key: {e}")))
        } else if text.trim_start_matches('1').len() < MIN_PKH_CHARS {
            Err(WalletError::InvalidAddress(format!(
                "{} characters is too short for a v1 address (they are 54-55 characters; a \
                 hash this small has odds below 1 in 10^13): is it truncated?",
                text.len()
            )))
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

/// `ADDR[:SHARE]` (what `--pubkey` / `MINING_PUBKEY` take) with [`parse_mining_address`] for
/// the address, so a v0 public key is converted too.
pub fn parse_mining_share(text: &str) -> Result<MiningShare, WalletError> {
    /// Lets core's one reading of `:SHARE` report its errors as the wallet's.
    struct ShareError(WalletError);
    impl From<CoreError> for ShareError {
        fn from(e: CoreError) -> ShareError {
            ShareError(WalletError::InvalidAddress(match e {
                CoreError::InvalidAddress(why) => why,
                other => other.to_string(),
            }))
        }
    }
    MiningShare::parse_with(text, |address| {
        parse_mining_address(address).map_err(ShareError)
    })
    .map_err(|ShareError(e)| e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PKH: &str = "9yPePjfWAdUnzaQKyxcRXKRa5PpUzKKEwtpECBZsUYt9Jd7egSDEWoV";

    #[test]
    fn mining_shares_take_either_address_form() {
        let share = parse_mining_share(&format!("{PKH}:3")).unwrap();
        assert_eq!((share.address.to_string().as_str(), share.share), (PKH, 3));
        assert_eq!(parse_mining_share(PKH).unwrap().share, 1);
        assert!(matches!(
            parse_mining_share(&format!("{PKH}:0")),
            Err(WalletError::InvalidAddress(why)) if why.contains("at least 1")
        ));
        assert!(parse_mining_share("nope:2").is_err());
    }

    #[test]
    fn truncated_and_malformed_addresses_are_refused() {
        assert!(Address::parse(PKH).is_ok());
        assert!(Address::parse(&PKH[..40]).is_err());
        assert!(parse_mining_address("").is_err());
        assert!(parse_mining_address("   ").is_err());
        assert!(parse_mining_address("zpub2kRJ7D6VCvzVfDioXUctHkxGm4MvW3dKJdwKjeZdGTuH6Rw5sxupRW2ADPa3evJnvntPAo8FAWe6qTzTPPaCf8Z4FvWxRuL8HyA8BF2cCvh9AquZLkBkygUqj5haXJW4BJi4C3iQxCREWGve17EYNzo756f7xa2ZjTc5w858Hja3WeqeFfXTd4d1QiLzsPd3NSbW").is_err());
        // 132 characters that are not a point on the curve.
        assert!(parse_mining_address(&"2".repeat(132)).is_err());
        // Not base58 (0, O, I, l).
        assert!(parse_mining_address(&format!("0{}", &PKH[1..])).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn random_text_never_panics(text in "\\PC{0,140}") {
            let _ = Address::parse(&text);
        }

        #[test]
        fn values_at_or_above_p5_are_refused(extra in any::<[u8; 8]>()) {
            // 56+ character base58 strings decode to values >= 58^55 > p^5.
            let text = format!("{}{}", "z".repeat(48), bs58::encode(extra).into_string());
            if text.len() > 55 {
                prop_assert!(Address::parse(&text).is_err());
            }
        }

        #[test]
        fn any_v1_address_round_trips(limbs in any::<[u64; 5]>()) {
            let limbs = limbs.map(|v| v % nockpool_core::P);
            let pkh = PubkeyHash::from_digest(nockpool_core::Digest::new(limbs).unwrap());
            let text = pkh.to_string();
            if text.len() >= MIN_PKH_CHARS {
                prop_assert_eq!(parse_mining_address(&text).unwrap(), pkh);
            }
        }
    }
}
