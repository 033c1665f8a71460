//! Which notes belong to an address, and reading them from a node: the queries
//! `nockchain-wallet balance` / `list-notes-by-address` send, and the sending.

use std::time::Duration;

use nockpool_core::Digest;
use nockpool_nockchain::{Balance, NodeApi, NodeClient, NoteQuery};

use crate::{coinbase_first_name, simple_first_name, Address, PublicKey, WalletError};

/// How long connecting to a node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The node queries that find an address's notes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSelection {
    /// Legacy (v0) notes by public key, when it is known: the address is a v0 one, or it is this
    /// wallet's own key (a v1 address does not reveal its key).
    pub v0: Option<NoteQuery>,
    /// v1 notes, by the first-names of the address's simple lock and of its coinbase lock
    /// (empty when only v0 notes are wanted).
    pub v1: Vec<NoteQuery>,
    /// Notes under first-names given explicitly.
    pub extra: Vec<NoteQuery>,
}

impl NoteSelection {
    /// The queries for `address`. `own_key` is this wallet's active key, if any; with
    /// `coinbase_timelock` (100 blocks on mainnet) v1 notes are looked up too, without it only
    /// v0 notes; `extra_first_names` are added as they are.
    pub fn for_address(
        address: &Address,
        own_key: Option<&PublicKey>,
        coinbase_timelock: Option<u64>,
        extra_first_names: &[Digest],
    ) -> NoteSelection {
        let pkh = address.pubkey_hash();
        let v0_key = match address {
            Address::V0(key) => Some(*key),
            _ => own_key.filter(|key| key.pubkey_hash() == pkh).copied(),
        };
        let v1 = match coinbase_timelock {
            Some(timelock) => vec![
                NoteQuery::FirstName(simple_first_name(&pkh)),
                NoteQuery::FirstName(coinbase_first_name(&pkh, timelock)),
            ],
            None => Vec::new(),
        };
        NoteSelection {
            v0: v0_key.map(|key| NoteQuery::Pubkey(key.to_base58())),
            v1,
            extra: extra_first_names
                .iter()
                .map(|first| NoteQuery::FirstName(*first))
                .collect(),
        }
    }

    /// Every query, v0 first.
    pub fn queries(&self) -> Vec<NoteQuery> {
        self.v0
            .iter()
            .chain(&self.v1)
            .chain(&self.extra)
            .cloned()
            .collect()
    }
}

/// Asks the node at `url` (through `api`) for the notes of each query, in order.
pub async fn fetch_balances(
    url: &str,
    api: NodeApi,
    queries: &[NoteQuery],
) -> Result<Vec<(NoteQuery, Balance)>, WalletError> {
    let client = NodeClient::connect(url, CONNECT_TIMEOUT).await?;
    let mut out = Vec::with_capacity(queries.len());
    for query in queries {
        out.push((query.clone(), client.balance(query, api).await?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyVersion, MasterKey, SeedPhrase};

    fn key(words: &str) -> PublicKey {
        MasterKey::from_seed_phrase(SeedPhrase::parse(words).unwrap(), KeyVersion::V1).public_key()
    }

    #[test]
    fn selection_follows_what_is_known_of_the_address() {
        let mine = key(
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
             abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon \
             abandon abandon abandon abandon art",
        );
        let other = key(
            "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo \
             zoo zoo zoo zoo zoo zoo vote",
        );
        let v1 = Address::V1(mine.pubkey_hash());
        // Our own v1 address: its key is known, so v0 notes too.
        let own = NoteSelection::for_address(&v1, Some(&mine), Some(100), &[]);
        assert_eq!(own.v0, Some(NoteQuery::Pubkey(mine.to_base58())));
        assert_eq!(
            own.v1,
            [
                NoteQuery::FirstName(simple_first_name(&mine.pubkey_hash())),
                NoteQuery::FirstName(coinbase_first_name(&mine.pubkey_hash(), 100)),
            ]
        );
        // Someone else's v1 address: its key is unknown.
        let theirs = NoteSelection::for_address(&v1, Some(&other), Some(100), &[]);
        assert_eq!(theirs.v0, None);
        assert_eq!(theirs.queries(), own.v1);
        // A v0 address names its key; v0 only leaves v1 out; extra first-names come last.
        let extra = Digest::new([1, 2, 3, 4, 5]).unwrap();
        let v0 = NoteSelection::for_address(&Address::V0(other), None, None, &[extra]);
        assert_eq!(
            v0.queries(),
            [
                NoteQuery::Pubkey(other.to_base58()),
                NoteQuery::FirstName(extra)
            ]
        );
    }
}
