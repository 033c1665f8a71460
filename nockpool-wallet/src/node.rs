//! Balance queries against a Nockchain node (`nockchain-node.md` §6): the public
//! `NockchainService.WalletGetBalance` (v2) or the private `NockAppService.Peek`
//! (`[%balance-by-pubkey …]`, `[%balance-by-first-name …]`).

use std::fmt;
use std::time::Duration;

use nockpool_core::noun::{cue, jam, Noun};
use nockpool_core::Digest;
use tonic::transport::{Channel, Endpoint};

use crate::proto::nockchain::common::v1 as common_v1;
use crate::proto::nockchain::common::v2 as common_v2;
use crate::proto::nockchain::private::v1 as private_v1;
use crate::proto::nockchain::public::v2 as public_v2;
use crate::{PublicKey, WalletError};

/// Nicks in one NOCK.
pub const NICKS_PER_NOCK: u64 = 65_536;

/// The node's private API on its default port (`nockchain --bind-private-grpc-port 5555`).
pub const DEFAULT_PRIVATE_GRPC: &str = "http://127.0.0.1:5555";

/// Peeks and pages can be large; tonic's default limit is 4 MiB.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// Upper bound on pages followed for one query (a guard against a node that never ends).
const MAX_PAGES: usize = 10_000;

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
    /// v0 notes whose lock lists this public key.
    Pubkey(PublicKey),
    /// Notes whose name starts with this first-name (base58 hash).
    FirstName(Digest),
}

impl fmt::Display for NoteQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoteQuery::Pubkey(key) => write!(f, "v0 pubkey {key}"),
            NoteQuery::FirstName(first) => write!(f, "first-name {}", hash_to_base58(first)),
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

/// A nick amount as NOCK with up to five decimals (e.g. `1.5`).
pub fn format_nock(nicks: u128) -> String {
    let per = NICKS_PER_NOCK as u128;
    let whole = nicks / per;
    let frac = nicks % per;
    if frac == 0 {
        return whole.to_string();
    }
    // 65,536 = 2^16, so the fraction has an exact decimal expansion of at most 16 digits.
    let mut digits = String::new();
    let mut rem = frac;
    while rem != 0 && digits.len() < 16 {
        rem *= 10;
        digits.push(char::from(b'0' + (rem / per) as u8));
        rem %= per;
    }
    format!("{whole}.{digits}")
}

/// Base58 of a hash (big-endian bytes of `a + b·p + … + e·p⁴`), as the node prints hashes.
pub fn hash_to_base58(digest: &Digest) -> String {
    bs58::encode(digest.to_u320().to_be_bytes_minimal()).into_string()
}

/// Parses a base58 hash (value `< p⁵`).
pub fn hash_from_base58(text: &str) -> Result<Digest, WalletError> {
    let pkh: nockpool_core::PubkeyHash = text.parse().map_err(|e: nockpool_core::CoreError| {
        WalletError::InvalidAddress(format!("as a hash: {e}"))
    })?;
    Ok(*pkh.digest())
}

/// A connection to a node's gRPC API for balance queries.
#[derive(Clone, Debug)]
pub struct NodeClient {
    api: NodeApi,
    channel: Channel,
}

impl NodeClient {
    /// Connects to `url` (e.g. `http://127.0.0.1:5555`), using `api`.
    pub async fn connect(url: &str, api: NodeApi) -> Result<NodeClient, WalletError> {
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| WalletError::Node(format!("bad node URL {url:?}: {e}")))?
            .connect_timeout(Duration::from_secs(10));
        let channel = endpoint.connect().await.map_err(|e| {
            WalletError::Node(format!(
                "cannot reach the node at {url}: {e} (is `nockchain` running with its gRPC \
                 server on that address?)"
            ))
        })?;
        Ok(NodeClient { api, channel })
    }

    /// Which API this client uses.
    pub fn api(&self) -> NodeApi {
        self.api
    }

    /// The notes matching `query`.
    pub async fn balance(&self, query: &NoteQuery) -> Result<Balance, WalletError> {
        match self.api {
            NodeApi::Public => self.balance_public(query).await,
            NodeApi::Private => self.balance_private(query).await,
        }
    }

    async fn balance_public(&self, query: &NoteQuery) -> Result<Balance, WalletError> {
        let mut client =
            public_v2::nockchain_service_client::NockchainServiceClient::new(self.channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES);
        let selector = match query {
            NoteQuery::Pubkey(key) => {
                public_v2::wallet_get_balance_request::Selector::Address(common_v1::Base58Pubkey {
                    key: key.to_base58(),
                })
            }
            NoteQuery::FirstName(first) => {
                public_v2::wallet_get_balance_request::Selector::FirstName(common_v1::Base58Hash {
                    hash: hash_to_base58(first),
                })
            }
        };
        let mut balance = Balance::default();
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let request = public_v2::WalletGetBalanceRequest {
                selector: Some(selector.clone()),
                page: Some(common_v1::PageRequest {
                    client_page_items_limit: 0,
                    page_token: token.clone(),
                    max_bytes: 0,
                }),
            };
            let response = client
                .wallet_get_balance(request)
                .await
                .map_err(|s| WalletError::Node(format!("WalletGetBalance: {s}")))?
                .into_inner();
            let page = match response.result {
                Some(public_v2::wallet_get_balance_response::Result::Balance(b)) => b,
                Some(public_v2::wallet_get_balance_response::Result::Error(e)) => {
                    return Err(WalletError::Node(format!(
                        "WalletGetBalance failed ({}): {}",
                        e.code, e.message
                    )))
                }
                None => {
                    return Err(WalletError::NodeData(
                        "empty WalletGetBalance answer".into(),
                    ))
                }
            };
            append_page(&mut balance, &page)?;
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                return Ok(balance);
            }
        }
        Err(WalletError::NodeData(format!(
            "the node returned more than {MAX_PAGES} pages"
        )))
    }

    async fn balance_private(&self, query: &NoteQuery) -> Result<Balance, WalletError> {
        let mut client =
            private_v1::nock_app_service_client::NockAppServiceClient::new(self.channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES);
        let path = balance_peek_path(query);
        let response = client
            .peek(private_v1::PeekRequest {
                pid: 0,
                path: jam(&path),
            })
            .await
            .map_err(|s| WalletError::Node(format!("Peek: {s}")))?
            .into_inner();
        match response.result {
            Some(private_v1::peek_response::Result::Data(data)) => decode_balance_peek(&data),
            Some(private_v1::peek_response::Result::Error(e)) => Err(WalletError::Node(format!(
                "Peek failed ({}): {}",
                e.code, e.message
            ))),
            None => Err(WalletError::NodeData("empty Peek answer".into())),
        }
    }
}

/// The peek path for a query: `[%balance-by-pubkey '<b58>' ~]` or
/// `[%balance-by-first-name '<b58>' ~]`.
pub fn balance_peek_path(query: &NoteQuery) -> Noun {
    let (tag, arg) = match query {
        NoteQuery::Pubkey(key) => ("balance-by-pubkey", key.to_base58()),
        NoteQuery::FirstName(first) => ("balance-by-first-name", hash_to_base58(first)),
    };
    Noun::list([Noun::cord(tag), Noun::cord(&arg)])
}

fn digest_of(hash: &Option<common_v1::Hash>, what: &str) -> Result<Digest, WalletError> {
    let hash = hash
        .as_ref()
        .ok_or_else(|| WalletError::NodeData(format!("{what} is missing")))?;
    let limbs = [
        &hash.belt_1,
        &hash.belt_2,
        &hash.belt_3,
        &hash.belt_4,
        &hash.belt_5,
    ]
    .map(|b| b.as_ref().map(|b| b.value).unwrap_or(0));
    Digest::new(limbs).map_err(|e| WalletError::NodeData(format!("{what}: {e}")))
}

fn append_page(balance: &mut Balance, page: &common_v2::Balance) -> Result<(), WalletError> {
    if let Some(h) = &page.height {
        balance.height = Some(h.value);
    }
    if page.block_id.is_some() {
        balance.block_id = Some(digest_of(&page.block_id, "block id")?);
    }
    for entry in &page.notes {
        let name = entry
            .name
            .as_ref()
            .ok_or_else(|| WalletError::NodeData("a balance entry has no name".into()))?;
        let first_name = digest_of(&name.first, "note first-name")?;
        let last_name = digest_of(&name.last, "note last-name")?;
        let note = entry
            .note
            .as_ref()
            .and_then(|n| n.note_version.as_ref())
            .ok_or_else(|| WalletError::NodeData("a balance entry has no note".into()))?;
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

/// Decodes the jammed `(unit (unit [page-number block-id (z-map nname nnote)]))` of a
/// balance peek.
pub(crate) fn decode_balance_peek(data: &[u8]) -> Result<Balance, WalletError> {
    let bad = |why: &str| WalletError::NodeData(format!("balance peek: {why}"));
    let noun = cue(data).map_err(|e| WalletError::NodeData(format!("balance peek: {e}")))?;
    // ~ = unknown path; [~ ~] = no value; [~ ~ v] = v.
    let (outer_null, inner) = noun
        .as_cell()
        .ok_or_else(|| bad("the node does not know this peek path (too old a node?)"))?;
    if outer_null.as_u64() != Some(0) {
        return Err(bad("not a unit"));
    }
    let (inner_null, value) = inner
        .as_cell()
        .ok_or_else(|| bad("the node has no balance yet (still syncing?)"))?;
    if inner_null.as_u64() != Some(0) {
        return Err(bad("not a unit"));
    }
    let [height, block_id, map] = value
        .as_tuple()
        .ok_or_else(|| bad("expected [page-number block-id map]"))?;
    let mut balance = Balance {
        notes: Vec::new(),
        height: Some(
            height
                .as_u64()
                .ok_or_else(|| bad("height is not a number"))?,
        ),
        block_id: Some(
            block_id
                .as_digest()
                .ok_or_else(|| bad("block id is not a hash"))?,
        ),
    };
    // A z-map is a treap: ~ or [n=[key value] l=tree r=tree]. Walk it without recursion.
    let mut stack = vec![map];
    while let Some(tree) = stack.pop() {
        if tree.is_atom() {
            if tree.as_u64() != Some(0) {
                return Err(bad("malformed map"));
            }
            continue;
        }
        let [node, left, right] = tree.as_tuple().ok_or_else(|| bad("malformed map node"))?;
        let (name, note) = node.as_cell().ok_or_else(|| bad("malformed map entry"))?;
        balance
            .notes
            .push(decode_note(name, note).ok_or_else(|| bad("malformed note"))?);
        stack.push(right);
        stack.push(left);
        if stack.len() > 1_000_000 {
            return Err(bad("map too large"));
        }
    }
    Ok(balance)
}

/// `nname = [first=hash last=hash ~]`; a v0 note is `[[%0 origin-page timelock] name sig
/// source assets]`, a v1 note `[%1 origin-page name note-data assets]`.
fn decode_note(name: &Noun, note: &Noun) -> Option<Note> {
    let [first, last, _] = name.as_tuple()?;
    let [head, second, _, _, assets] = note.as_tuple()?;
    let (version, origin_page) = if head.is_cell() {
        let [version, origin, _] = head.as_tuple()?;
        (version.as_u64()?, origin.as_u64()?)
    } else {
        (head.as_u64()?, second.as_u64()?)
    };
    Some(Note {
        first_name: first.as_digest()?,
        last_name: last.as_digest()?,
        assets: assets.as_u64()?,
        origin_page,
        version: u8::try_from(version).ok()?,
    })
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
