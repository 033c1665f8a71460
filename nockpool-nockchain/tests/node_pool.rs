//! The full loop with the node backend: a `PoolServer` driving the in-repo fake Nockchain node,
//! a miner grinding real v5 digests, a found block proved by the test-only fake prover and
//! accepted by the fake node.

use std::time::Duration;

use nockpool_core::BlockOutcome;
use nockpool_nockchain::{CommandProver, NockchainNode};
use nockpool_server::{PoolEvent, PoolServer, VardiffConfig};
use nockpool_testkit::{
    fake_prover, grind, target_of, test_address, wait_for, FakeNode, RawMiner, Script, TestPool,
    PATIENCE,
};

#[tokio::test]
async fn pool_server_mines_a_block_on_the_fake_node() {
    // A target of p^5 - 1: every digest is a block.
    let fake = FakeNode::start(Script::default()).await;
    let data = tempfile::tempdir().unwrap();
    let node = NockchainNode::builder()
        .grpc(fake.url())
        .prover(CommandProver::new(fake_prover("ok")))
        .data_dir(data.path())
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .build()
        .unwrap();
    let builder = PoolServer::builder()
        .backend(node)
        .mining_address(test_address())
        .data_dir(data.path())
        .vardiff(VardiffConfig::fixed(1));
    let mut pool = TestPool::start(builder).await;
    let mut miner = RawMiner::connect(&pool.url(), "rig-1", None).await;
    let job = miner.job.clone();
    assert_eq!(
        Some(job.commitment.clone()),
        fake.current_candidate().map(|c| c.to_vec())
    );
    let network = target_of(&job.network_target);
    let (nonce, _, _) = grind(&job, 0, |d| d.meets(&network));
    let ack = miner.submit(nonce).await;
    assert!(ack.accepted, "{ack:?}");
    let outcome = wait_for(&mut pool.events, |e| {
        matches!(e, PoolEvent::BlockOutcome { .. })
    })
    .await;
    let PoolEvent::BlockOutcome { outcome, .. } = outcome else {
        unreachable!()
    };
    assert!(
        matches!(outcome, BlockOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    assert_eq!(fake.height(), 42);
    // The node's next candidate reaches the miner as a new job.
    let next = tokio::time::timeout(PATIENCE, miner.next_job())
        .await
        .unwrap();
    assert_ne!(next.commitment, job.commitment);
    pool.stop().await.unwrap();
}
