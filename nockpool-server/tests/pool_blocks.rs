//! Found blocks: persisted before the ack, submitted to the backend, retried on errors, and
//! kept across a restart on the same data dir (the devnet's height continues).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use nockpool_core::proto::{work_order, NoticeKind};
use nockpool_server::{
    BlockOutcome, ChainBackend, ChainError, ChainStatus, Devnet, FoundBlock, PoolEvent,
    TemplateStream,
};
use nockpool_testkit::*;

#[tokio::test]
async fn found_block_is_persisted_acked_submitted_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // Network difficulty 4: about one nonce in four is a block.
    let devnet1 = devnet(Some(dir.path()), 4);
    let mut pool = TestPool::start(builder(&devnet1, 1).data_dir(dir.path())).await;
    let mut miner = RawMiner::connect(&pool.url(), "lucky", None).await;
    assert_eq!(miner.job.height, 1);
    let network = target_of(&miner.job.network_target);
    let (nonce, digest, _) = grind(&miner.job, 0, |d| d.meets(&network));
    let ack = miner.submit(nonce).await;
    assert!(ack.accepted && ack.block_candidate, "{ack:?}");

    let ev = wait_for(&mut pool.events, |e| {
        matches!(e, PoolEvent::BlockOutcome { .. })
    })
    .await;
    assert!(matches!(
        ev,
        PoolEvent::BlockOutcome {
            height: 1,
            outcome: BlockOutcome::Accepted { .. },
            ..
        }
    ));
    // The finder hears about it on its stream: found, then accepted; then the next job.
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        if let work_order::Kind::Notice(n) = next_order(&mut miner.stream).await {
            assert_eq!(n.height, 1);
            assert_eq!(n.block_digest, digest.limbs().to_vec());
            kinds.push(n.kind);
        }
    }
    assert!(kinds.contains(&(NoticeKind::BlockFound as i32)));
    assert!(kinds.contains(&(NoticeKind::BlockAccepted as i32)));
    assert_eq!(devnet1.height(), 1);
    let tip = devnet1.tip().unwrap();
    assert_eq!(tip.nonce, Some(nonce));
    assert_eq!(tip.pow_digest, Some(digest));

    let snap = pool.handle.snapshot();
    assert_eq!(snap.blocks_found, 1);
    assert_eq!(snap.workers[0].blocks_found, 1);
    drop(miner);
    pool.stop().await.unwrap();
    drop(devnet1);

    // Same data dir: the chain continues at height 2, the pool remembers its block and worker.
    let devnet2 = devnet(Some(dir.path()), 4);
    assert_eq!(devnet2.height(), 1);
    let pool = TestPool::start(builder(&devnet2, 1).data_dir(dir.path())).await;
    let snap = pool.handle.snapshot();
    assert_eq!(snap.blocks_found, 1);
    let record = &snap.recent_blocks[0];
    assert_eq!(record.block.nonce, nonce);
    assert!(matches!(
        record.outcome,
        Some(BlockOutcome::Accepted { .. })
    ));
    let lucky = snap.workers.iter().find(|w| w.name == "lucky").unwrap();
    assert_eq!((lucky.accepted, lucky.blocks_found), (1, 1));
    let miner = RawMiner::connect(&pool.url(), "lucky", None).await;
    assert_eq!(miner.job.height, 2);
    pool.stop().await.unwrap();
}

/// A backend whose first `failures` submissions fail as if the chain were unreachable.
struct Flaky {
    inner: Devnet,
    failures: Arc<AtomicU32>,
}

#[async_trait]
impl ChainBackend for Flaky {
    async fn templates(&self) -> Result<TemplateStream, ChainError> {
        self.inner.templates().await
    }
    async fn submit_block(&self, block: FoundBlock) -> Result<BlockOutcome, ChainError> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(ChainError::Unavailable {
                operation: "submit".into(),
                reason: "test: chain down".into(),
            });
        }
        self.inner.submit_block(block).await
    }
    async fn status(&self) -> Result<ChainStatus, ChainError> {
        self.inner.status().await
    }
}

#[tokio::test]
async fn a_block_the_backend_could_not_take_is_retried_and_resubmitted_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let devnet1 = devnet(Some(dir.path()), 4);
    // The chain is down for the whole first run.
    let flaky = Flaky {
        inner: devnet1.clone(),
        failures: Arc::new(AtomicU32::new(u32::MAX)),
    };
    let failures = flaky.failures.clone();
    let mut pool = TestPool::start(
        nockpool_server::PoolServer::builder()
            .backend(flaky)
            .mining_address(test_address())
            .vardiff(nockpool_server::VardiffConfig::fixed(1))
            .data_dir(dir.path()),
    )
    .await;
    let mut miner = RawMiner::connect(&pool.url(), "lucky", None).await;
    let network = target_of(&miner.job.network_target);
    let (nonce, _, _) = grind(&miner.job, 0, |d| d.meets(&network));
    let ack = miner.submit(nonce).await;
    assert!(ack.block_candidate);
    let ev = wait_for(&mut pool.events, |e| {
        matches!(e, PoolEvent::BlockSubmitFailed { .. })
    })
    .await;
    assert!(matches!(
        ev,
        PoolEvent::BlockSubmitFailed { attempts: 1, .. }
    ));
    assert!(pool.handle.snapshot().recent_blocks[0].outcome.is_none());
    drop(miner);
    pool.stop().await.unwrap();
    assert_eq!(devnet1.height(), 0);
    assert!(failures.load(Ordering::SeqCst) < u32::MAX);
    drop(devnet1);

    // Next run, the chain is back: the pending block is submitted at start.
    let devnet2 = devnet(Some(dir.path()), 4);
    let pool2 = builder(&devnet2, 1).data_dir(dir.path()).build().unwrap();
    let handle = pool2.handle();
    let mut events = handle.events();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(pool2.serve(listener, async {
        let _ = stopped.await;
    }));
    let ev = wait_for(&mut events, |e| matches!(e, PoolEvent::BlockOutcome { .. })).await;
    assert!(matches!(
        ev,
        PoolEvent::BlockOutcome {
            height: 1,
            outcome: BlockOutcome::Accepted { .. },
            ..
        }
    ));
    assert_eq!(devnet2.height(), 1);
    assert_eq!(devnet2.tip().unwrap().nonce, Some(nonce));
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_block_for_a_superseded_template_is_reported_stale() {
    let devnet = devnet(None, 4);
    let mut pool =
        TestPool::start(builder(&devnet, 1).stale_grace(std::time::Duration::from_secs(3600)))
            .await;
    let mut miner = RawMiner::connect(&pool.url(), "late", None).await;
    let old = miner.job.clone();
    devnet.force_new_template().unwrap();
    miner.next_job().await;
    let network = target_of(&old.network_target);
    let (nonce, _, _) = grind(&old, 0, |d| d.meets(&network));
    let ack = miner.submit_for(&old.job_id, nonce).await;
    assert!(ack.accepted && ack.block_candidate);
    let ev = wait_for(&mut pool.events, |e| {
        matches!(e, PoolEvent::BlockOutcome { .. })
    })
    .await;
    assert!(matches!(
        ev,
        PoolEvent::BlockOutcome {
            outcome: BlockOutcome::Stale,
            ..
        }
    ));
    assert_eq!(devnet.height(), 1); // only the simulated block
    pool.stop().await.unwrap();
}
