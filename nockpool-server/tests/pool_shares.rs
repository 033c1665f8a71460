//! Every rejection reason, over real gRPC against a devnet-backed pool.

use nockpool_core::proto::{RejectReason, WorkResult};
use nockpool_core::{Nonce, P};
use nockpool_server::{Limits, PoolEvent};
use nockpool_testkit::*;

fn reason(ack: &nockpool_core::proto::SubmitAck) -> RejectReason {
    assert!(!ack.accepted, "expected a rejection, got {ack:?}");
    RejectReason::try_from(ack.reason).unwrap()
}

/// Network difficulty high enough that no test share is accidentally a block.
const NO_BLOCKS: u64 = 1 << 40;

#[tokio::test]
async fn duplicates_are_rejected_and_retries_are_idempotent() {
    let devnet = devnet(None, NO_BLOCKS);
    let pool = TestPool::start(builder(&devnet, 1)).await;
    let mut miner = RawMiner::connect(&pool.url(), "rig-1", None).await;
    let (nonce, _) = share_not_block(&miner.job, 0);
    let result = WorkResult {
        connection_id: miner.welcome.connection_id,
        job_id: miner.job.job_id.clone(),
        nonce: nonce.limbs().to_vec(),
        digest: Vec::new(),
        submission_id: 77,
        ..Default::default()
    };
    let first = miner.submit_raw(result.clone()).await;
    assert!(first.accepted);
    // The same submission retried (same submission id): the same answer, credited once.
    let retry = miner.submit_raw(result.clone()).await;
    assert_eq!(retry, first);
    // The same nonce as a new submission: a duplicate.
    let dup = miner.submit_raw(WorkResult {
        submission_id: 78,
        ..result
    });
    assert_eq!(reason(&dup.await), RejectReason::Duplicate);
    let snap = pool.handle.snapshot();
    assert_eq!(snap.workers[0].accepted, 1);
    assert_eq!(
        snap.workers[0].rejected.get(&RejectReason::Duplicate),
        Some(&1)
    );
    pool.stop().await.unwrap();
}

#[tokio::test]
async fn low_difficulty_malformed_unknown_job_wrong_prefix_unknown_connection() {
    let devnet = devnet(None, NO_BLOCKS);
    // Share difficulty 2^10: a nonce that misses it is easy to find, one that meets it too.
    let pool = TestPool::start(builder(&devnet, 1 << 10)).await;
    let mut events = pool.handle.events();
    let mut miner = RawMiner::connect(&pool.url(), "rig-1", None).await;
    let share_target = target_of(&miner.job.share_target);
    let (low, _, _) = grind(&miner.job, 0, |d| !d.meets(&share_target));
    assert_eq!(
        reason(&miner.submit(low).await),
        RejectReason::LowDifficulty
    );
    let ev = wait_for(&mut events, |e| {
        matches!(e, PoolEvent::ShareRejected { .. })
    })
    .await;
    assert!(matches!(
        ev,
        PoolEvent::ShareRejected { reason: RejectReason::LowDifficulty, ref worker, .. } if worker == "rig-1"
    ));

    // Wrong sizes and non-canonical limbs.
    let cid = miner.welcome.connection_id;
    let job_id = miner.job.job_id.clone();
    let prefix = miner.job.nonce_prefix;
    for nonce in [
        vec![1, 2, 3, 4],
        vec![1, 2, 3, 4, prefix, 6],
        vec![],
        vec![P, 0, 0, 0, prefix],
        vec![0, 0, 0, u64::MAX, prefix],
    ] {
        let ack = miner
            .submit_raw(WorkResult {
                connection_id: cid,
                job_id: job_id.clone(),
                nonce,
                digest: Vec::new(),
                submission_id: 0,
                ..Default::default()
            })
            .await;
        assert_eq!(reason(&ack), RejectReason::Malformed);
    }
    let long_id = "x".repeat(10_000);
    let ack = miner.submit_for(&long_id, low).await;
    assert_eq!(reason(&ack), RejectReason::Malformed);

    let ack = miner.submit_for("not-a-job", low).await;
    assert_eq!(reason(&ack), RejectReason::UnknownJob);

    let other_prefix = Nonce::new([1, 2, 3, 0, (prefix + 1) % P]).unwrap();
    assert_eq!(
        reason(&miner.submit(other_prefix).await),
        RejectReason::WrongPrefix
    );

    let ack = miner
        .submit_raw(WorkResult {
            connection_id: cid ^ 0xdead_beef,
            job_id,
            nonce: low.limbs().to_vec(),
            digest: Vec::new(),
            submission_id: 0,
            ..Default::default()
        })
        .await;
    assert_eq!(reason(&ack), RejectReason::UnknownConnection);

    // Hostile input did not disturb the pool: a good share still goes through.
    let (good, _, _) = grind(&miner.job, 0, |d| d.meets(&share_target));
    let ack = miner.submit(good).await;
    assert!(ack.accepted, "{ack:?}");
    assert_eq!(ack.credited_difficulty, 1 << 10);
    pool.stop().await.unwrap();
}

#[tokio::test]
async fn stale_after_new_template_unless_within_grace() {
    let devnet = devnet(None, NO_BLOCKS);
    let pool = TestPool::start(builder(&devnet, 1).stale_grace(std::time::Duration::ZERO)).await;
    let mut miner = RawMiner::connect(&pool.url(), "rig-1", None).await;
    let old = miner.job.clone();
    devnet.force_new_template().unwrap();
    let new = miner.next_job().await;
    assert!(new.clean_jobs);
    assert_eq!(new.height, old.height + 1);
    let (nonce, _) = share_not_block(&old, 0);
    let ack = miner.submit_for(&old.job_id, nonce).await;
    assert_eq!(reason(&ack), RejectReason::Stale);
    // The same nonce on the new job is fine (different commitment).
    let (nonce, _) = share_not_block(&new, 0);
    assert!(miner.submit(nonce).await.accepted);
    pool.stop().await.unwrap();

    // With a generous grace window, a share for the previous job still counts.
    let devnet = self::devnet(None, NO_BLOCKS);
    let pool =
        TestPool::start(builder(&devnet, 1).stale_grace(std::time::Duration::from_secs(3600)))
            .await;
    let mut miner = RawMiner::connect(&pool.url(), "rig-1", None).await;
    let old = miner.job.clone();
    devnet.force_new_template().unwrap();
    miner.next_job().await;
    let (nonce, _) = share_not_block(&old, 0);
    let ack = miner.submit_for(&old.job_id, nonce).await;
    assert!(ack.accepted, "{ack:?}");
    pool.stop().await.unwrap();
}

#[tokio::test]
async fn farm_token_is_required_when_set() {
    let devnet = devnet(None, NO_BLOCKS);
    let pool = TestPool::start(builder(&devnet, 1).token(Some("s3cret".into()))).await;

    // Subscribing without (or with a wrong) token is refused.
    for token in [None, Some("wrong")] {
        let mut client =
            nockpool_core::proto::mining_pool_client::MiningPoolClient::connect(pool.url())
                .await
                .unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tx.send(hello("intruder")).await.unwrap();
        let err = client
            .subscribe(with_token(
                tokio_stream::wrappers::ReceiverStream::new(rx),
                token,
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated);
    }

    let mut miner = RawMiner::connect(&pool.url(), "rig-1", Some("s3cret")).await;
    let (nonce, _) = share_not_block(&miner.job, 0);
    miner.token = None;
    assert_eq!(
        reason(&miner.submit(nonce).await),
        RejectReason::Unauthorized
    );
    miner.token = Some("s3cret".into());
    assert!(miner.submit(nonce).await.accepted);
    pool.stop().await.unwrap();
}

#[tokio::test]
async fn submissions_are_rate_limited_per_connection() {
    let devnet = devnet(None, NO_BLOCKS);
    let limits = Limits {
        submits_per_second: 0.001, // effectively no refill during the test
        submit_burst: 3,
        ..Limits::default()
    };
    let pool = TestPool::start(builder(&devnet, 1).limits(limits)).await;
    let mut flooder = RawMiner::connect(&pool.url(), "flooder", None).await;
    let mut counter = 0;
    for _ in 0..3 {
        let (nonce, c) = share_not_block(&flooder.job, counter);
        counter = c + 1;
        assert!(flooder.submit(nonce).await.accepted);
    }
    let (nonce, _) = share_not_block(&flooder.job, counter);
    assert_eq!(
        reason(&flooder.submit(nonce).await),
        RejectReason::RateLimited
    );

    // Another miner has its own budget.
    let mut other = RawMiner::connect(&pool.url(), "quiet", None).await;
    let (nonce, _) = share_not_block(&other.job, 0);
    assert!(other.submit(nonce).await.accepted);
    pool.stop().await.unwrap();
}

#[tokio::test]
async fn a_stream_must_start_with_a_hello() {
    use nockpool_core::proto::{miner_status, MinerStatus, Status};
    let devnet = devnet(None, NO_BLOCKS);
    let pool = TestPool::start(builder(&devnet, 1)).await;
    let mut client =
        nockpool_core::proto::mining_pool_client::MiningPoolClient::connect(pool.url())
            .await
            .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(MinerStatus {
        kind: Some(miner_status::Kind::Status(Status::default())),
    })
    .await
    .unwrap();
    let mut stream = client
        .subscribe(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let err = stream.message().await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    // An oversized Hello is refused by the message size limit; the pool carries on.
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(hello(&"x".repeat(1 << 20))).await.unwrap();
    let result = client
        .subscribe(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await;
    if let Ok(resp) = result {
        let mut stream = resp.into_inner();
        assert!(stream.message().await.is_err());
    }
    let mut miner = RawMiner::connect(&pool.url(), "fine", None).await;
    let (nonce, _) = share_not_block(&miner.job, 0);
    assert!(miner.submit(nonce).await.accepted);
    pool.stop().await.unwrap();
}
