//! Balance queries against small fakes of a Nockchain node's gRPC API (public
//! `NockchainService` v2 and private `NockAppService` peeks), served over real TCP on
//! 127.0.0.1. The fakes are simulations written from `nockchain-node.md`, not a node.

use std::net::SocketAddr;

use nockpool_core::noun::{cue, jam, Noun};
use nockpool_core::Digest;
use nockpool_nockchain::proto::common::{v1 as c1, v2 as c2};
use nockpool_nockchain::proto::private::v1 as private_v1;
use nockpool_nockchain::proto::public::v2 as public_v2;
use nockpool_wallet::{
    coinbase_first_name, KeyVersion, MasterKey, NodeApi, NodeClient, NoteQuery, PublicKey,
    SeedPhrase, COINBASE_TIMELOCK_MIN,
};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
    abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon \
    abandon abandon abandon art";

/// Bound on connecting to a fake (a bug fails the test instead of hanging it).
const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

fn key() -> PublicKey {
    MasterKey::from_seed_phrase(SeedPhrase::parse(ABANDON).unwrap(), KeyVersion::V1).public_key()
}

fn digest(seed: u64) -> Digest {
    Digest::new([seed, seed + 1, seed + 2, seed + 3, seed + 4]).unwrap()
}

fn pb_hash(d: &Digest) -> c1::Hash {
    let [a, b, c, e, f] = d.to_limbs();
    let belt = |v| Some(c1::Belt { value: v });
    c1::Hash {
        belt_1: belt(a),
        belt_2: belt(b),
        belt_3: belt(c),
        belt_4: belt(e),
        belt_5: belt(f),
    }
}

fn pb_name(first: u64, last: u64) -> Option<c1::Name> {
    Some(c1::Name {
        first: Some(pb_hash(&digest(first))),
        last: Some(pb_hash(&digest(last))),
    })
}

/// Public API fake: answers a pubkey query in two pages, a first-name query in one.
struct FakePublic {
    pubkey_b58: String,
    /// The coinbase first-name the fake's chain holds a v1 note under.
    coinbase_name_b58: String,
}

#[tonic::async_trait]
impl public_v2::nockchain_service_server::NockchainService for FakePublic {
    async fn wallet_get_balance(
        &self,
        request: Request<public_v2::WalletGetBalanceRequest>,
    ) -> Result<Response<public_v2::WalletGetBalanceResponse>, Status> {
        use public_v2::wallet_get_balance_request::Selector;
        use public_v2::wallet_get_balance_response::Result as R;
        let req = request.into_inner();
        let token = req.page.map(|p| p.page_token).unwrap_or_default();
        let legacy = |first, assets| c2::BalanceEntry {
            name: pb_name(first, first + 100),
            note: Some(c2::Note {
                note_version: Some(c2::note::NoteVersion::Legacy(c1::Note {
                    origin_page: Some(c1::BlockHeight { value: 7 }),
                    name: pb_name(first, first + 100),
                    assets: Some(c1::Nicks { value: assets }),
                    version: Some(c1::NoteVersion { value: 0 }),
                })),
            }),
        };
        let v1 = |first, assets| c2::BalanceEntry {
            name: pb_name(first, first + 100),
            note: Some(c2::Note {
                note_version: Some(c2::note::NoteVersion::V1(c2::NoteV1 {
                    version: Some(c1::NoteVersion { value: 1 }),
                    origin_page: Some(c1::BlockHeight { value: 9 }),
                    name: pb_name(first, first + 100),
                    assets: Some(c1::Nicks { value: assets }),
                })),
            }),
        };
        let page = |notes, next: &str| c2::Balance {
            notes,
            height: Some(c1::BlockHeight { value: 42 }),
            block_id: Some(pb_hash(&digest(500))),
            page: Some(c1::PageResponse {
                next_page_token: next.to_string(),
            }),
        };
        let balance = match (req.selector, token.as_str()) {
            (Some(Selector::Address(a)), "") if a.key == self.pubkey_b58 => {
                page(vec![legacy(1, 65_536), legacy(2, 32_768)], "second")
            }
            (Some(Selector::Address(a)), "second") if a.key == self.pubkey_b58 => {
                page(vec![legacy(3, 1)], "")
            }
            (Some(Selector::FirstName(f)), "") if f.hash == digest(10).to_base58() => {
                page(vec![v1(10, 4_294_967_296)], "")
            }
            (Some(Selector::FirstName(f)), "") if f.hash == self.coinbase_name_b58 => {
                page(vec![v1(40, 2_500)], "")
            }
            _ => {
                return Ok(Response::new(public_v2::WalletGetBalanceResponse {
                    result: Some(R::Error(c1::ErrorStatus {
                        code: c1::ErrorCode::InvalidRequest as i32,
                        message: "unexpected query".into(),
                        details: None,
                    })),
                }))
            }
        };
        Ok(Response::new(public_v2::WalletGetBalanceResponse {
            result: Some(R::Balance(balance)),
        }))
    }
}

fn belts(d: &Digest) -> Noun {
    Noun::belts(d.limbs())
}

fn name_noun(first: u64) -> Noun {
    Noun::tuple([
        belts(&digest(first)),
        belts(&digest(first + 100)),
        Noun::from(0u64),
    ])
}

/// Private API fake: answers `[%balance-by-pubkey '<b58>' ~]` with a two-note z-map (one v0,
/// one v1 note), and anything else with `~` (unknown path).
struct FakePrivate {
    pubkey_b58: String,
}

#[tonic::async_trait]
impl private_v1::nock_app_service_server::NockAppService for FakePrivate {
    async fn peek(
        &self,
        request: Request<private_v1::PeekRequest>,
    ) -> Result<Response<private_v1::PeekResponse>, Status> {
        let path =
            cue(&request.into_inner().path).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let expected = Noun::list([
            Noun::cord("balance-by-pubkey"),
            Noun::cord(&self.pubkey_b58),
        ]);
        let answer = if path == expected {
            // v0 nnote: [[%0 origin-page timelock] name sig source assets]
            let v0_note = Noun::tuple([
                Noun::tuple([Noun::from(0u64), Noun::from(3u64), Noun::from(0u64)]),
                name_noun(20),
                Noun::from(0u64),
                Noun::from(0u64),
                Noun::from(1_000u64),
            ]);
            // v1 nnote: [%1 origin-page name note-data assets]
            let v1_note = Noun::tuple([
                Noun::from(1u64),
                Noun::from(5u64),
                name_noun(30),
                Noun::from(0u64),
                Noun::from(2_000u64),
            ]);
            let leaf = |k, v| Noun::tuple([Noun::cell(k, v), Noun::from(0u64), Noun::from(0u64)]);
            let map = Noun::tuple([
                Noun::cell(name_noun(20), v0_note),
                Noun::from(0u64),
                leaf(name_noun(30), v1_note),
            ]);
            let value = Noun::tuple([Noun::from(77u64), belts(&digest(600)), map]);
            Noun::unit(Some(Noun::unit(Some(value))))
        } else {
            Noun::from(0u64)
        };
        Ok(Response::new(private_v1::PeekResponse {
            result: Some(private_v1::peek_response::Result::Data(jam(&answer))),
        }))
    }

    async fn poke(
        &self,
        _request: Request<private_v1::PokeRequest>,
    ) -> Result<Response<private_v1::PokeResponse>, Status> {
        Err(Status::unimplemented("the fake only answers peeks"))
    }

    type WatchEffectsStream = tokio_stream::Empty<Result<private_v1::EffectMessage, Status>>;

    async fn watch_effects(
        &self,
        _request: Request<private_v1::WatchEffectsRequest>,
    ) -> Result<Response<Self::WatchEffectsStream>, Status> {
        Err(Status::unimplemented("the fake only answers peeks"))
    }
}

async fn serve(router: tonic::transport::server::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(router.serve_with_incoming(TcpListenerStream::new(listener)));
    addr
}

#[tokio::test]
async fn public_api_follows_pages_and_sums_notes() {
    let key = key();
    let addr = serve(tonic::transport::Server::builder().add_service(
        public_v2::nockchain_service_server::NockchainServiceServer::new(FakePublic {
            pubkey_b58: key.to_base58(),
            coinbase_name_b58:
                coinbase_first_name(&key.pubkey_hash(), COINBASE_TIMELOCK_MIN).to_base58(),
        }),
    ))
    .await;
    let client = NodeClient::connect(&format!("http://{addr}"), WAIT)
        .await
        .unwrap();

    let balance = client
        .balance(&NoteQuery::Pubkey(key.to_base58()), NodeApi::Public)
        .await
        .unwrap();
    assert_eq!(balance.notes.len(), 3);
    assert_eq!(balance.total_nicks(), 65_536 + 32_768 + 1);
    assert_eq!(balance.height, Some(42));
    assert_eq!(balance.block_id, Some(digest(500)));
    assert_eq!(balance.notes[0].first_name, digest(1));
    assert_eq!(balance.notes[0].last_name, digest(101));
    assert_eq!(balance.notes[0].version, 0);
    assert_eq!(balance.notes[0].origin_page, 7);

    let by_name = client
        .balance(&NoteQuery::FirstName(digest(10)), NodeApi::Public)
        .await
        .unwrap();
    assert_eq!(by_name.notes.len(), 1);
    assert_eq!(by_name.notes[0].version, 1);
    assert_eq!(by_name.total_nicks(), 4_294_967_296);
    assert_eq!(nockpool_wallet::format_nock(by_name.total_nicks()), "65536");

    // The derived coinbase first-name of the key's v1 address reaches the node as base58.
    let coinbase = coinbase_first_name(&key.pubkey_hash(), COINBASE_TIMELOCK_MIN);
    let by_coinbase = client
        .balance(&NoteQuery::FirstName(coinbase), NodeApi::Public)
        .await
        .unwrap();
    assert_eq!(by_coinbase.total_nicks(), 2_500);

    // A node error is reported, not swallowed.
    let err = client
        .balance(&NoteQuery::FirstName(digest(11)), NodeApi::Public)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unexpected query"), "{err}");
}

#[tokio::test]
async fn private_api_peeks_and_decodes_the_note_map() {
    let key = key();
    let addr = serve(tonic::transport::Server::builder().add_service(
        private_v1::nock_app_service_server::NockAppServiceServer::new(FakePrivate {
            pubkey_b58: key.to_base58(),
        }),
    ))
    .await;
    let client = NodeClient::connect(&format!("http://{addr}"), WAIT)
        .await
        .unwrap();
    let balance = client
        .balance(&NoteQuery::Pubkey(key.to_base58()), NodeApi::Private)
        .await
        .unwrap();
    assert_eq!(balance.height, Some(77));
    assert_eq!(balance.block_id, Some(digest(600)));
    assert_eq!(balance.notes.len(), 2);
    assert_eq!(balance.total_nicks(), 3_000);
    let v0 = balance.notes.iter().find(|n| n.version == 0).unwrap();
    assert_eq!((v0.first_name, v0.last_name), (digest(20), digest(120)));
    assert_eq!((v0.assets, v0.origin_page), (1_000, 3));
    let v1 = balance.notes.iter().find(|n| n.version == 1).unwrap();
    assert_eq!(
        (v1.first_name, v1.assets, v1.origin_page),
        (digest(30), 2_000, 5)
    );

    // An unknown path (`~`) is an error that says so.
    let err = client
        .balance(&NoteQuery::FirstName(digest(1)), NodeApi::Private)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("does not know this peek path"),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_node_is_a_clear_error() {
    // Bind and drop a listener to get a loopback port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = NodeClient::connect(&format!("http://{addr}"), WAIT)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot reach the node"), "{err}");
}
