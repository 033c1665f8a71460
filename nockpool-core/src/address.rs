use std::fmt;
use std::str::FromStr;

use crate::{CoreError, Digest, U320};

/// The longest v1 address text: base58 of `p⁵ − 1` is 55 characters.
pub const MAX_PKH_CHARS: usize = 55;

/// A Nockchain v1 address: the Tip5 hash of a public key (`pkh`), written in base58.
///
/// Parsing is as strict as the node's kernel (`nockchain-wallet.md` §7.3): base58 alphabet,
/// value `< p⁵`, at most 55 characters (leading `1`s are accepted and dropped on output). A v0
/// public key (132 characters) is not a `PubkeyHash`; `nockpool-wallet` converts one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PubkeyHash(Digest);

impl PubkeyHash {
    /// Wraps a digest that is already a public-key hash.
    pub const fn from_digest(digest: Digest) -> PubkeyHash {
        PubkeyHash(digest)
    }

    /// The hash as five belts.
    pub const fn digest(&self) -> &Digest {
        &self.0
    }
}

impl Digest {
    /// The digest as Nockchain writes hashes, block ids and v1 addresses: base58 of the
    /// big-endian bytes of `d0 + d1·p + … + d4·p⁴`. The zero digest (no real hash) is `1`, one
    /// zero digit, so that every digest's text parses back (found by the `felts` fuzz target).
    pub fn to_base58(&self) -> String {
        let bytes = self.to_u320().to_be_bytes_minimal();
        if bytes.is_empty() {
            return "1".into();
        }
        bs58::encode(bytes).into_string()
    }

    /// Parses [`Digest::to_base58`]'s text: base58, at most 55 significant characters
    /// (leading `1`s are zero digits), a value below `p⁵`.
    pub fn from_base58(text: &str) -> Result<Digest, CoreError> {
        let bad = |why: String| CoreError::InvalidAddress(why);
        if text.is_empty() {
            return Err(bad("the hash is empty".into()));
        }
        let trimmed = text.trim_start_matches('1');
        if trimmed.len() > MAX_PKH_CHARS {
            return Err(bad(format!(
                "{} characters is too long for a Tip5 hash (at most {MAX_PKH_CHARS})",
                text.len()
            )));
        }
        let bytes = bs58::decode(text)
            .into_vec()
            .map_err(|e| bad(format!("not base58: {e}")))?;
        let mut le = bytes;
        le.reverse();
        let value = U320::from_le_bytes(&le).map_err(|e| bad(e.to_string()))?;
        let digits = value
            .to_base_p()
            .ok_or_else(|| bad("the value is not below p^5, so it is not a Tip5 hash".into()))?;
        Digest::new(digits)
    }
}

impl FromStr for PubkeyHash {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<PubkeyHash, CoreError> {
        let bad = |why: String| CoreError::InvalidAddress(why);
        if s.is_empty() {
            return Err(bad("the address is empty".into()));
        }
        if s.len() >= 132 {
            return Err(bad(format!(
                "{} characters looks like a v0 public key; give the v1 address (pkh) instead, \
                 or convert it with `nockchain-wallet`",
                s.len()
            )));
        }
        if s.trim_start_matches('1').len() > MAX_PKH_CHARS {
            return Err(bad(format!(
                "{} characters is too long for a v1 address (at most {MAX_PKH_CHARS})",
                s.len()
            )));
        }
        Digest::from_base58(s).map(PubkeyHash)
    }
}

impl fmt::Display for PubkeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_base58())
    }
}

impl fmt::Debug for PubkeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PubkeyHash({self})")
    }
}

/// One entry of the farm's coinbase split: `ADDR[:SHARE]` (share defaults to 1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct MiningShare {
    /// Who is paid.
    pub address: PubkeyHash,
    /// Relative share of the coinbase (at least 1).
    pub share: u64,
}

impl MiningShare {
    /// Parses `ADDR[:SHARE]` with `parse_address` for the address part, so that a caller with a
    /// wider address parser (e.g. `nockpool-wallet`'s, which also converts v0 public keys) shares
    /// this one reading of the `:SHARE` suffix.
    pub fn parse_with<E: From<CoreError>>(
        text: &str,
        parse_address: impl FnOnce(&str) -> Result<PubkeyHash, E>,
    ) -> Result<MiningShare, E> {
        let (addr, share) = match text.split_once(':') {
            Some((a, n)) => {
                let share: u64 = n.parse().map_err(|_| {
                    CoreError::InvalidAddress(format!("share {n:?} is not a whole number"))
                })?;
                if share == 0 {
                    return Err(
                        CoreError::InvalidAddress("a share must be at least 1".into()).into(),
                    );
                }
                (a, share)
            }
            None => (text, 1),
        };
        Ok(MiningShare {
            address: parse_address(addr)?,
            share,
        })
    }
}

impl FromStr for MiningShare {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<MiningShare, CoreError> {
        MiningShare::parse_with(s, str::parse)
    }
}

impl fmt::Display for MiningShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.address, self.share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Target;

    // The nockchain repo's default MINING_PKH (nockchain-wallet.md §7.2).
    const DEFAULT_PKH: &str = "9yPePjfWAdUnzaQKyxcRXKRa5PpUzKKEwtpECBZsUYt9Jd7egSDEWoV";

    /// Regression (fuzz target `felts`): the zero digest was written as an empty string, which
    /// `from_base58` refuses.
    #[test]
    fn zero_digest_round_trips_through_base58() {
        let zero = Digest::default();
        assert_eq!(zero.to_base58(), "1");
        assert_eq!(Digest::from_base58(&zero.to_base58()), Ok(zero));
    }

    proptest::proptest! {
        #[test]
        fn digests_round_trip_through_base58(limbs in proptest::array::uniform5(0..crate::P)) {
            let digest = Digest::new(limbs).unwrap();
            let text = digest.to_base58();
            proptest::prop_assert!(text.len() <= MAX_PKH_CHARS);
            proptest::prop_assert_eq!(Digest::from_base58(&text), Ok(digest));
            proptest::prop_assert_eq!(PubkeyHash::from_digest(digest).to_string(), text);
        }
    }

    #[test]
    fn default_pkh_round_trips() {
        let pkh: PubkeyHash = DEFAULT_PKH.parse().unwrap();
        assert_eq!(pkh.to_string(), DEFAULT_PKH);
        let with_ones: PubkeyHash = format!("11{DEFAULT_PKH}").parse().unwrap();
        assert_eq!(with_ones, pkh);
    }

    #[test]
    fn rejects_bad_addresses() {
        assert!("".parse::<PubkeyHash>().is_err());
        assert!("0OIl".parse::<PubkeyHash>().is_err());
        assert!("z".repeat(56).parse::<PubkeyHash>().is_err());
        assert!("2".repeat(132).parse::<PubkeyHash>().is_err());
        // p^5 itself (one past the largest hash) is refused.
        let p5 = Target::MAX_VALUE.checked_add(&U320::ONE).unwrap();
        let text = bs58::encode(p5.to_be_bytes_minimal()).into_string();
        assert!(text.parse::<PubkeyHash>().is_err());
        let max = bs58::encode(Target::MAX_VALUE.to_be_bytes_minimal()).into_string();
        assert_eq!(max.len(), MAX_PKH_CHARS);
        assert!(max.parse::<PubkeyHash>().is_ok());
    }

    #[test]
    fn shares_parse() {
        let s: MiningShare = format!("{DEFAULT_PKH}:3").parse().unwrap();
        assert_eq!(s.share, 3);
        assert!(format!("{DEFAULT_PKH}:0").parse::<MiningShare>().is_err());
        assert!(format!("{DEFAULT_PKH}:x").parse::<MiningShare>().is_err());
        assert_eq!(DEFAULT_PKH.parse::<MiningShare>().unwrap().share, 1);
    }
}
