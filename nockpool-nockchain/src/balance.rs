//! Notes and balances as a node reports them (`nockchain-node.md` §6): what to ask for
//! ([`NoteQuery`]), through which API ([`NodeApi`]), and what comes back ([`Balance`]).

use std::fmt;

use nockpool_core::Digest;

use crate::proto::common::v1 as common_v1;
use crate::proto::common::v2 as common_v2;

/// Nicks in one NOCK.
pub const NICKS_PER_NOCK: u64 = 65_536;

/// Which of the node's gRPC APIs to ask.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NodeApi {
    /// `nockchain.private.v1.NockAppService` (always on, loopback only, full authority).
    Private,
    /// `nockchain.public.v2.NockchainService` (opt-in on the node).
    Public,
}

/// What a balance query selects notes by.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum NoteQuery {
    /// v0 notes whose lock lists this public key (its base58 text, the v0 address).
    Pubkey(String),
    /// Notes whose name starts with this first-name.
    FirstName(Digest),
}

impl fmt::Display for NoteQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoteQuery::Pubkey(key) => write!(f, "v0 pubkey {key}"),
            NoteQuery::FirstName(first) => write!(f, "first-name {}", first.to_base58()),
        }
    }
}

/// One unspent note.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Note {
    /// The note name's first hash (derived from its lock).
    pub first_name: Digest,
    /// The note name's last hash (derived from its source).
    pub last_name: Digest,
    /// The note's amount in nicks.
    pub assets: u64,
    /// The block height the note was created at.
    pub origin_page: u64,
    /// 0 for legacy notes, 1 for v1 notes.
    pub version: u8,
}

/// The notes one query found, and the chain position the node answered at.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Balance {
    /// The notes, in the node's order.
    pub notes: Vec<Note>,
    /// Height of the block the balance was read at, if the node said.
    pub height: Option<u64>,
    /// That block's id, if the node said.
    pub block_id: Option<Digest>,
}

impl Balance {
    /// Sum of all notes, in nicks.
    pub fn total_nicks(&self) -> u128 {
        self.notes.iter().map(|n| n.assets as u128).sum()
    }
}

/// A nick amount as NOCK, exactly (e.g. `1.5`; 65,536 nicks make a NOCK, so every amount has a
/// finite decimal expansion of at most 16 digits).
pub fn format_nock(nicks: u128) -> String {
    let per = NICKS_PER_NOCK as u128;
    let whole = nicks / per;
    let frac = nicks % per;
    if frac == 0 {
        return whole.to_string();
    }
    let mut digits = String::new();
    let mut rem = frac;
    while rem != 0 && digits.len() < 16 {
        rem *= 10;
        digits.push(char::from(b'0' + (rem / per) as u8));
        rem %= per;
    }
    format!("{whole}.{digits}")
}

fn digest_of(hash: &Option<common_v1::Hash>, what: &str) -> Result<Digest, String> {
    let hash = hash.as_ref().ok_or_else(|| format!("{what} is missing"))?;
    let limbs = [
        &hash.belt_1,
        &hash.belt_2,
        &hash.belt_3,
        &hash.belt_4,
        &hash.belt_5,
    ]
    .map(|b| b.as_ref().map(|b| b.value).unwrap_or(0));
    Digest::new(limbs).map_err(|e| format!("{what}: {e}"))
}

/// Adds one page of a public-API balance answer.
pub(crate) fn append_page(balance: &mut Balance, page: &common_v2::Balance) -> Result<(), String> {
    if let Some(h) = &page.height {
        balance.height = Some(h.value);
    }
    if page.block_id.is_some() {
        balance.block_id = Some(digest_of(&page.block_id, "block id")?);
    }
    for entry in &page.notes {
        let name = entry.name.as_ref().ok_or("a balance entry has no name")?;
        let first_name = digest_of(&name.first, "note first-name")?;
        let last_name = digest_of(&name.last, "note last-name")?;
        let note = entry
            .note
            .as_ref()
            .and_then(|n| n.note_version.as_ref())
            .ok_or("a balance entry has no note")?;
        let (assets, origin_page, version) = match note {
            common_v2::note::NoteVersion::Legacy(n) => (
                n.assets.as_ref().map(|a| a.value),
                n.origin_page.as_ref().map(|h| h.value),
                0,
            ),
            common_v2::note::NoteVersion::V1(n) => (
                n.assets.as_ref().map(|a| a.value),
                n.origin_page.as_ref().map(|h| h.value),
                1,
            ),
        };
        balance.notes.push(Note {
            first_name,
            last_name,
            assets: assets.unwrap_or(0),
            origin_page: origin_page.unwrap_or(0),
            version,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nock_amounts_format_exactly() {
        assert_eq!(format_nock(0), "0");
        assert_eq!(format_nock(65_536 * 3), "3");
        assert_eq!(format_nock(32_768), "0.5");
        assert_eq!(format_nock(1), "0.0000152587890625");
        assert_eq!(format_nock(65_536 + 16_384), "1.25");
    }
}
