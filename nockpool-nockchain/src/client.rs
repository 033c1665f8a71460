//! [`NodeClient`]: the one client of a Nockchain node's gRPC APIs — peeks, pokes and the effect
//! stream of the private `NockAppService`, balances from either API (`nockchain-node.md` §2, §6).

use std::time::Duration;

use nockpool_core::noun::{cue, jam, Noun};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status, Streaming};

use crate::balance::{append_page, Balance, NodeApi, NoteQuery};
use crate::nouns::{self, PeekAnswer};
use crate::proto::common::v1::{self as common_v1, wire_tag, Wire, WireTag};
use crate::proto::private::v1::nock_app_service_client::NockAppServiceClient;
use crate::proto::private::v1::{
    peek_response, poke_response, EffectMessage, PeekRequest, PokeRequest, WatchEffectsRequest,
};
use crate::proto::public::v2 as public_v2;
use crate::NodeError;

/// The node's private gRPC API on its default port (`nockchain --bind-private-grpc-port 5555`).
pub const DEFAULT_NODE_GRPC: &str = "http://127.0.0.1:5555";

/// Peeks, pages and proofs can be large; tonic's default limit is 4 MiB.
const MAX_MESSAGE_BYTES: usize = 64 << 20;
/// Upper bound on pages followed for one balance query (a guard against a node that never ends).
const MAX_PAGES: usize = 10_000;
/// Wire of every poke: the one the reference external miner uses (`nockchain-node.md` §3.1), so
/// the node treats a pool exactly like `zk-pow-mine`.
const WIRE_SOURCE: &str = "zk-pow-miner";

/// A connection to a Nockchain node's gRPC server (private `NockAppService`, and the public
/// `NockchainService` where the node enables it).
///
/// ```no_run
/// use std::time::Duration;
/// use nockpool_core::noun::Noun;
/// use nockpool_nockchain::NodeClient;
///
/// # async fn demo() -> Result<(), nockpool_nockchain::NodeError> {
/// let node = NodeClient::connect("http://127.0.0.1:5555", Duration::from_secs(10)).await?;
/// // `[%heaviest-chain ~]`: the tip's `[page-number block-id]`.
/// let path = Noun::list([Noun::cord("heaviest-chain")]);
/// let tip = node.peek(&path).await?.into_value();
/// println!("tip: {tip:?}");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct NodeClient {
    url: String,
    channel: Channel,
    request_timeout: Option<Duration>,
}

fn endpoint(url: &str, connect_timeout: Duration) -> Result<Endpoint, NodeError> {
    Ok(Endpoint::from_shared(url.to_string())
        .map_err(|e| NodeError::InvalidUrl {
            url: url.into(),
            reason: e.to_string(),
        })?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20)))
}

fn pid() -> i32 {
    std::process::id() as i32
}

fn status(operation: &str, status: &Status) -> NodeError {
    if status.code() == Code::Unimplemented {
        NodeError::Unimplemented {
            operation: operation.into(),
        }
    } else {
        NodeError::Unavailable {
            operation: operation.into(),
            reason: status.message().into(),
        }
    }
}

fn malformed(operation: &str, reason: impl Into<String>) -> NodeError {
    NodeError::Malformed {
        operation: operation.into(),
        reason: reason.into(),
    }
}

impl NodeClient {
    /// Connects to `url` (e.g. [`DEFAULT_NODE_GRPC`]) now; fails if the node does not accept a
    /// connection within `connect_timeout`.
    pub async fn connect(url: &str, connect_timeout: Duration) -> Result<NodeClient, NodeError> {
        let channel = endpoint(url, connect_timeout)?
            .connect()
            .await
            .map_err(|e| NodeError::Unreachable {
                url: url.into(),
                reason: e.to_string(),
            })?;
        Ok(NodeClient {
            url: url.into(),
            channel,
            request_timeout: None,
        })
    }

    /// A client that connects on first use and reconnects by itself after a failure (for
    /// long-lived users such as the node backend). Fails only on a malformed `url`.
    pub fn lazy(url: &str, connect_timeout: Duration) -> Result<NodeClient, NodeError> {
        Ok(NodeClient {
            url: url.into(),
            channel: endpoint(url, connect_timeout)?.connect_lazy(),
            request_timeout: None,
        })
    }

    /// Bounds every peek and effect subscription by `timeout` (pokes take their own).
    pub fn with_request_timeout(mut self, timeout: Duration) -> NodeClient {
        self.request_timeout = Some(timeout);
        self
    }

    /// The node's address.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn private(&self) -> NockAppServiceClient<Channel> {
        NockAppServiceClient::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    async fn bounded<T>(
        &self,
        operation: &str,
        limit: Option<Duration>,
        call: impl std::future::Future<Output = Result<T, Status>>,
    ) -> Result<T, NodeError> {
        let answer = match limit {
            Some(limit) => {
                tokio::time::timeout(limit, call)
                    .await
                    .map_err(|_| NodeError::Unavailable {
                        operation: operation.into(),
                        reason: "timed out".into(),
                    })?
            }
            None => call.await,
        };
        answer.map_err(|s| status(operation, &s))
    }

    /// `Peek` of `path` (a noun; jammed on the wire), its answer decoded (`(unit (unit *))`).
    pub async fn peek(&self, path: &Noun) -> Result<PeekAnswer, NodeError> {
        let operation = format!("peek {path}");
        let request = PeekRequest {
            pid: pid(),
            path: jam(path),
        };
        let answer = self
            .bounded(
                &operation,
                self.request_timeout,
                self.private().peek(request),
            )
            .await?
            .into_inner();
        match answer.result {
            Some(peek_response::Result::Data(bytes)) => {
                let noun = cue(&bytes).map_err(|e| malformed(&operation, e.to_string()))?;
                nouns::unwrap_peek(noun).map_err(|e| malformed(&operation, e))
            }
            Some(peek_response::Result::Error(e)) => Err(NodeError::Refused {
                operation,
                code: e.code,
                message: e.message,
            }),
            None => Err(malformed(&operation, "empty answer")),
        }
    }

    /// `Poke` of a jammed cause on the wire `/zk-pow-miner/1/<tag>`, waiting up to `timeout`
    /// for the node to acknowledge it.
    pub async fn poke(
        &self,
        tag: &str,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<(), NodeError> {
        let operation = format!("poke {tag}");
        let request = PokeRequest {
            pid: pid(),
            wire: Some(Wire {
                source: WIRE_SOURCE.into(),
                version: 1,
                tags: vec![WireTag {
                    value: Some(wire_tag::Value::Text(tag.into())),
                }],
            }),
            payload,
        };
        let answer = self
            .bounded(&operation, Some(timeout), self.private().poke(request))
            .await?
            .into_inner();
        match answer.result {
            Some(poke_response::Result::Acknowledged(true)) => Ok(()),
            Some(poke_response::Result::Acknowledged(false)) => {
                Err(malformed(&operation, "the node did not acknowledge it"))
            }
            Some(poke_response::Result::Error(e)) => Err(NodeError::Refused {
                operation,
                code: e.code,
                message: e.message,
            }),
            None => Err(malformed(&operation, "empty answer")),
        }
    }

    /// Subscribes to the node's effects whose head is one of `heads` (`WatchEffects`). A node
    /// without the call answers [`NodeError::Unimplemented`].
    pub async fn watch_effects(
        &self,
        heads: &[&str],
    ) -> Result<Streaming<EffectMessage>, NodeError> {
        let request = WatchEffectsRequest {
            pid: pid(),
            head_filter: heads.iter().map(|h| h.as_bytes().to_vec()).collect(),
        };
        Ok(self
            .bounded(
                "WatchEffects",
                self.request_timeout,
                self.private().watch_effects(request),
            )
            .await?
            .into_inner())
    }

    /// The notes matching `query`, asked through `api`.
    pub async fn balance(&self, query: &NoteQuery, api: NodeApi) -> Result<Balance, NodeError> {
        match api {
            NodeApi::Private => {
                let answer = self.peek(&nouns::balance_peek_path(query)).await?;
                nouns::decode_balance_peek(answer)
                    .map_err(|e| malformed(&format!("balance peek for {query}"), e))
            }
            NodeApi::Public => self.balance_public(query).await,
        }
    }

    async fn balance_public(&self, query: &NoteQuery) -> Result<Balance, NodeError> {
        const CALL: &str = "WalletGetBalance";
        let mut client =
            public_v2::nockchain_service_client::NockchainServiceClient::new(self.channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES);
        let selector = match query {
            NoteQuery::Pubkey(key) => {
                public_v2::wallet_get_balance_request::Selector::Address(common_v1::Base58Pubkey {
                    key: key.clone(),
                })
            }
            NoteQuery::FirstName(first) => {
                public_v2::wallet_get_balance_request::Selector::FirstName(common_v1::Base58Hash {
                    hash: first.to_base58(),
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
            let response = self
                .bounded(
                    CALL,
                    self.request_timeout,
                    client.wallet_get_balance(request),
                )
                .await?
                .into_inner();
            let page = match response.result {
                Some(public_v2::wallet_get_balance_response::Result::Balance(b)) => b,
                Some(public_v2::wallet_get_balance_response::Result::Error(e)) => {
                    return Err(NodeError::Refused {
                        operation: CALL.into(),
                        code: e.code,
                        message: e.message,
                    })
                }
                None => return Err(malformed(CALL, "empty answer")),
            };
            append_page(&mut balance, &page).map_err(|e| malformed(CALL, e))?;
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                return Ok(balance);
            }
        }
        Err(malformed(
            CALL,
            format!("the node returned more than {MAX_PAGES} pages"),
        ))
    }
}
