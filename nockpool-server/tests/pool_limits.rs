//! Connection-level limits and shutdown behaviour, over real gRPC.

use std::time::Duration;

use nockpool_core::proto::mining_pool_client::MiningPoolClient;
use nockpool_core::proto::{work_order, NoticeKind};
use nockpool_server::{Limits, PoolEvent};
use nockpool_testkit::*;
use tokio_stream::wrappers::ReceiverStream;

const NO_BLOCKS: u64 = 1 << 40;

#[tokio::test]
async fn a_full_pool_refuses_more_miners() {
    let devnet = devnet(None, NO_BLOCKS);
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let mut pool = TestPool::start(builder(&devnet, 1).limits(limits)).await;
    let _a = RawMiner::connect(&pool.url(), "a", None).await;
    let b = RawMiner::connect(&pool.url(), "b", None).await;

    let mut client = MiningPoolClient::connect(pool.url()).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(hello("c")).await.unwrap();
    let mut stream = client
        .subscribe(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let err = stream.message().await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);

    // When one leaves, there is room again.
    drop(b);
    wait_for(
        &mut pool.events,
        |e| matches!(e, PoolEvent::MinerDisconnected { worker, .. } if worker == "b"),
    )
    .await;
    let _c = RawMiner::connect(&pool.url(), "c", None).await;
    pool.stop().await.unwrap();
}

#[tokio::test]
async fn one_host_cannot_fill_the_pool() {
    let devnet = devnet(None, NO_BLOCKS);
    let limits = Limits {
        max_connections_per_ip: 2,
        ..Limits::default()
    };
    let pool = TestPool::start(builder(&devnet, 1).limits(limits)).await;
    let _a = RawMiner::connect(&pool.url(), "a", None).await;
    let _b = RawMiner::connect(&pool.url(), "b", None).await;
    let mut client = MiningPoolClient::connect(pool.url()).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(hello("c")).await.unwrap();
    let mut stream = client
        .subscribe(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let err = stream.message().await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    pool.stop().await.unwrap();
}

#[tokio::test]
async fn a_stream_without_hello_is_closed_after_the_timeout() {
    let devnet = devnet(None, NO_BLOCKS);
    let limits = Limits {
        hello_timeout: Duration::from_millis(100),
        ..Limits::default()
    };
    let pool = TestPool::start(builder(&devnet, 1).limits(limits)).await;
    let mut client = MiningPoolClient::connect(pool.url()).await.unwrap();
    // The sender stays open but never sends anything.
    let (_tx, rx) = tokio::sync::mpsc::channel(1);
    let mut stream = client
        .subscribe(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let err = stream.message().await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::DeadlineExceeded);
    assert_eq!(pool.handle.snapshot().connections, 0);
    pool.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_tells_miners_and_ends_their_streams() {
    let devnet = devnet(None, NO_BLOCKS);
    let pool = TestPool::start(builder(&devnet, 1)).await;
    let mut miners = Vec::new();
    for i in 0..3 {
        miners.push(RawMiner::connect(&pool.url(), &format!("rig-{i}"), None).await);
    }
    pool.stop().await.unwrap();
    for m in &mut miners {
        match next_order(&mut m.stream).await {
            work_order::Kind::Notice(n) => assert_eq!(n.kind, NoticeKind::ShuttingDown as i32),
            other => panic!("expected the shutdown notice, got {other:?}"),
        }
        assert!(matches!(m.stream.message().await, Ok(None) | Err(_)));
    }
}

#[tokio::test]
async fn a_miner_that_does_not_read_its_stream_is_dropped_without_hurting_others() {
    let devnet = devnet(None, NO_BLOCKS);
    let limits = Limits {
        outbound_queue: 4,
        ..Limits::default()
    };
    let mut pool = TestPool::start(builder(&devnet, 1).limits(limits)).await;
    // Tiny HTTP/2 windows, so the transport stops buffering for it after a few jobs.
    let channel = tonic::transport::Endpoint::from_shared(pool.url())
        .unwrap()
        .initial_stream_window_size(Some(1024))
        .initial_connection_window_size(Some(1024))
        .connect()
        .await
        .unwrap();
    let stuck = RawMiner::connect_with(MiningPoolClient::new(channel), "stuck", None).await;
    let mut healthy = RawMiner::connect(&pool.url(), "healthy", None).await;
    // Push jobs until the stuck miner's transport buffers and queue are full. Each template is
    // waited for, so none is coalesced; the healthy miner reads every one.
    let mut jobs = 0;
    while pool.handle.snapshot().connections == 2 {
        assert!(jobs < 500, "the stuck miner was never dropped");
        let t = devnet.force_new_template().unwrap();
        let job = healthy.next_job().await;
        assert_eq!(job.height, t.height);
        jobs += 1;
    }
    wait_for(
        &mut pool.events,
        |e| matches!(e, PoolEvent::MinerDisconnected { worker, .. } if worker == "stuck"),
    )
    .await;
    let snap = pool.handle.snapshot();
    assert_eq!(snap.connections, 1);
    let (nonce, _) = share_not_block(&healthy.job, 0);
    assert!(healthy.submit(nonce).await.accepted);
    drop(stuck);
    pool.stop().await.unwrap();
}

/// A backend that refuses any mining address as misconfigured.
struct Refusing(nockpool_server::Devnet);

#[async_trait::async_trait]
impl nockpool_server::ChainBackend for Refusing {
    async fn templates(
        &self,
    ) -> Result<nockpool_server::TemplateStream, nockpool_server::ChainError> {
        self.0.templates().await
    }
    async fn submit_block(
        &self,
        block: nockpool_server::FoundBlock,
    ) -> Result<nockpool_server::BlockOutcome, nockpool_server::ChainError> {
        self.0.submit_block(block).await
    }
    async fn status(&self) -> Result<nockpool_server::ChainStatus, nockpool_server::ChainError> {
        self.0.status().await
    }
    async fn set_mining_addresses(
        &self,
        _: &[nockpool_core::MiningShare],
    ) -> Result<(), nockpool_server::ChainError> {
        Err(nockpool_server::ChainError::Config {
            setting: "mining address",
            reason: "test: no such key".into(),
        })
    }
}

#[tokio::test]
async fn a_backend_that_refuses_the_mining_address_stops_the_start() {
    let server = nockpool_server::PoolServer::builder()
        .backend(Refusing(devnet(None, NO_BLOCKS)))
        .mining_address(test_address())
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = server
        .serve(listener, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        matches!(err, nockpool_server::ServerError::Chain(_)),
        "{err}"
    );
}

#[test]
fn builder_refuses_bad_settings() {
    use nockpool_server::{PoolServer, ServerError, VardiffConfig};
    let d = devnet(None, NO_BLOCKS);
    let no_backend = PoolServer::builder().mining_address(test_address()).build();
    let setting = |r: Result<PoolServer, ServerError>| match r {
        Err(ServerError::Config { setting, .. }) => setting,
        other => panic!("expected a configuration error, got {:?}", other.err()),
    };
    assert_eq!(setting(no_backend), "backend");
    let no_address = PoolServer::builder().backend(d.clone()).build();
    assert_eq!(setting(no_address), "mining_address");
    let three = PoolServer::builder()
        .backend(d.clone())
        .mining_address(test_address())
        .mining_address(test_address())
        .mining_address(test_address())
        .build();
    assert_eq!(setting(three), "mining_address");
    let bad_token = builder(&d, 1).token(Some("has space".into())).build();
    assert_eq!(setting(bad_token), "token");
    let bad_vardiff = builder(&d, 1)
        .vardiff(VardiffConfig {
            min_difficulty: 0,
            ..VardiffConfig::default()
        })
        .build();
    assert_eq!(setting(bad_vardiff), "vardiff.min_difficulty");
}
