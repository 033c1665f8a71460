//! A miner connects, gets its job, and a ground share is accepted.

use nockpool_core::proto::RejectReason;
use nockpool_testkit::*;

#[tokio::test]
async fn share_round_trip() {
    // Network difficulty 1<<40: no accidental block. Share difficulty 1: every nonce is a share.
    let devnet = devnet(None, 1 << 40);
    let pool = TestPool::start(builder(&devnet, 1)).await;
    let mut miner = RawMiner::connect(&pool.url(), "rig-1", None).await;
    assert_eq!(miner.job.nonce_prefix, miner.welcome.nonce_prefix);
    assert_eq!(miner.job.height, 1);
    let (nonce, _) = share_not_block(&miner.job, 0);
    let ack = miner.submit(nonce).await;
    assert!(ack.accepted, "{ack:?}");
    assert_eq!(ack.credited_difficulty, 1);
    let again = miner.submit(nonce).await;
    assert!(!again.accepted);
    assert_eq!(again.reason, RejectReason::Duplicate as i32);
    let snap = pool.handle.snapshot();
    assert_eq!(snap.connections, 1);
    assert_eq!(snap.workers[0].accepted, 1);
    pool.stop().await.unwrap();
}
