//! No found block is lost across a pool restart: a block found under a connection (and job, and
//! nonce prefix) the pool no longer knows is accepted when it is resubmitted on the miner's new
//! connection with its job's commitment, as long as that template is still current; it is
//! recorded once however often it comes back. Mere shares under an unknown connection, job or
//! prefix keep their rejection reasons.

use nockpool_core::proto::{Job, RejectReason, SubmitAck, WorkResult};
use nockpool_core::Nonce;
use nockpool_server::{BlockOutcome, PoolEvent};
use nockpool_testkit::*;

fn reason(ack: &SubmitAck) -> RejectReason {
    RejectReason::try_from(ack.reason).unwrap()
}

/// `nonce`, found on `job`, resubmitted on `cid` with the job's commitment.
fn resubmission(cid: u64, job: &Job, nonce: Nonce, submission_id: u64) -> WorkResult {
    WorkResult {
        connection_id: cid,
        job_id: job.job_id.clone(),
        nonce: nonce.limbs().to_vec(),
        digest: Vec::new(),
        submission_id,
        commitment: job.commitment.clone(),
        pow_len: job.pow_len,
        height: job.height,
    }
}

#[tokio::test]
async fn a_block_the_pool_never_received_before_a_restart_is_accepted_after_it() {
    let dir = tempfile::tempdir().unwrap();
    // Network difficulty 4: about one nonce in four is a block.
    let devnet1 = devnet(Some(dir.path()), 4);
    let pool1 = TestPool::start(builder(&devnet1, 1).data_dir(dir.path())).await;
    let addr = pool1.addr;
    let a = RawMiner::connect(&pool1.url(), "lucky", None).await;
    let old_job = a.job.clone();
    let old_cid = a.welcome.connection_id;
    let network = target_of(&old_job.network_target);
    let (nonce, digest, counter) = grind(&old_job, 0, |d| d.meets(&network));
    // The pool dies before the submission reaches it.
    drop(a);
    pool1.stop().await.unwrap();
    drop(devnet1);

    let devnet2 = devnet(Some(dir.path()), 4);
    assert_eq!(devnet2.height(), 0);
    let mut pool2 = TestPool::start_on(builder(&devnet2, 1).data_dir(dir.path()), addr).await;
    let mut b = RawMiner::connect(&pool2.url(), "lucky", None).await;
    // A fresh template for the same height: the old one is not what the pool now hands out.
    assert_eq!(b.job.height, 1);
    assert_ne!(b.job.commitment, old_job.commitment);
    assert_ne!(b.welcome.nonce_prefix, old_job.nonce_prefix);

    // Under its old connection id the pool cannot credit it to anyone: refused as before.
    let ack = b
        .submit_raw(resubmission(old_cid, &old_job, nonce, 1))
        .await;
    assert_eq!(reason(&ack), RejectReason::UnknownConnection, "{ack:?}");
    // On the miner's live connection, with its commitment: a found block.
    let cid = b.welcome.connection_id;
    let ack = b.submit_raw(resubmission(cid, &old_job, nonce, 2)).await;
    assert!(ack.accepted && ack.block_candidate, "{ack:?}");
    assert_eq!(ack.credited_difficulty, 1);
    let ev = wait_for(&mut pool2.events, |e| {
        matches!(e, PoolEvent::BlockOutcome { .. })
    })
    .await;
    assert!(
        matches!(
            ev,
            PoolEvent::BlockOutcome {
                height: 1,
                outcome: BlockOutcome::Accepted { .. },
                ..
            }
        ),
        "{ev:?}"
    );
    assert_eq!(devnet2.height(), 1);
    let tip = devnet2.tip().unwrap();
    assert_eq!(tip.nonce, Some(nonce));
    assert_eq!(tip.pow_digest, Some(digest));
    assert_eq!(tip.commitment.limbs().to_vec(), old_job.commitment);

    // Sent again (the ack was lost, say): the same acceptance, no second block, no new credit.
    let again = b.submit_raw(resubmission(cid, &old_job, nonce, 3)).await;
    assert!(again.accepted && again.block_candidate, "{again:?}");
    assert_eq!(again.credited_difficulty, 0);
    // Another block on the old template, once the chain has moved past it: stale.
    while b.next_job().await.height < 2 {}
    let (other, _, _) = grind(&old_job, counter + 1, |d| d.meets(&network));
    let late = b.submit_raw(resubmission(cid, &old_job, other, 4)).await;
    assert_eq!(reason(&late), RejectReason::Stale, "{late:?}");

    let snap = pool2.handle.snapshot();
    assert_eq!(snap.blocks_found, 1);
    let lucky = snap.workers.iter().find(|w| w.name == "lucky").unwrap();
    assert_eq!((lucky.accepted, lucky.blocks_found), (1, 1));
    drop(b);
    pool2.stop().await.unwrap();
    drop(devnet2);

    // And after one more restart, the block persisted before it is still known: once only.
    let devnet3 = devnet(Some(dir.path()), 4);
    let pool3 = TestPool::start_on(builder(&devnet3, 1).data_dir(dir.path()), addr).await;
    let mut c = RawMiner::connect(&pool3.url(), "lucky", None).await;
    assert_eq!(c.job.height, 2);
    let cid = c.welcome.connection_id;
    let ack = c.submit_raw(resubmission(cid, &old_job, nonce, 5)).await;
    assert!(ack.accepted && ack.block_candidate, "{ack:?}");
    assert_eq!(ack.credited_difficulty, 0);
    // Someone else claiming it: a duplicate.
    let mut thief = RawMiner::connect(&pool3.url(), "thief", None).await;
    let cid = thief.welcome.connection_id;
    let ack = thief
        .submit_raw(resubmission(cid, &old_job, nonce, 1))
        .await;
    assert_eq!(reason(&ack), RejectReason::Duplicate, "{ack:?}");
    assert_eq!(pool3.handle.snapshot().blocks_found, 1);
    assert_eq!(devnet3.height(), 1);
    pool3.stop().await.unwrap();
}

#[tokio::test]
async fn a_block_acked_just_before_a_restart_is_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let devnet1 = devnet(Some(dir.path()), 4);
    let mut pool1 = TestPool::start(builder(&devnet1, 1).data_dir(dir.path())).await;
    let addr = pool1.addr;
    let mut a = RawMiner::connect(&pool1.url(), "lucky", None).await;
    let job = a.job.clone();
    let network = target_of(&job.network_target);
    let (nonce, _, _) = grind(&job, 0, |d| d.meets(&network));
    // Persisted and acked; the miner never saw the ack.
    let ack = a.submit(nonce).await;
    assert!(ack.accepted && ack.block_candidate);
    wait_for(&mut pool1.events, |e| {
        matches!(e, PoolEvent::BlockOutcome { .. })
    })
    .await;
    drop(a);
    pool1.stop().await.unwrap();
    drop(devnet1);

    let devnet2 = devnet(Some(dir.path()), 4);
    let pool2 = TestPool::start_on(builder(&devnet2, 1).data_dir(dir.path()), addr).await;
    let mut b = RawMiner::connect(&pool2.url(), "lucky", None).await;
    let cid = b.welcome.connection_id;
    let ack = b.submit_raw(resubmission(cid, &job, nonce, 1)).await;
    assert!(ack.accepted && ack.block_candidate, "{ack:?}");
    assert_eq!(ack.credited_difficulty, 0);
    let snap = pool2.handle.snapshot();
    assert_eq!(snap.blocks_found, 1);
    let lucky = snap.workers.iter().find(|w| w.name == "lucky").unwrap();
    assert_eq!((lucky.accepted, lucky.blocks_found), (1, 1));
    assert_eq!(devnet2.height(), 1);
    pool2.stop().await.unwrap();
}

/// Network difficulty high enough that no test share is accidentally a block.
const NO_BLOCKS: u64 = 1 << 40;

#[tokio::test]
async fn a_mere_share_under_an_unknown_connection_job_or_prefix_keeps_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let devnet1 = devnet(Some(dir.path()), NO_BLOCKS);
    let pool1 = TestPool::start(builder(&devnet1, 1).data_dir(dir.path())).await;
    let addr = pool1.addr;
    let a = RawMiner::connect(&pool1.url(), "rig", None).await;
    let old_job = a.job.clone();
    let old_cid = a.welcome.connection_id;
    let (share, _) = share_not_block(&old_job, 0);

    // Same pool, the miner's new connection: the share's prefix is not this connection's.
    let mut b = RawMiner::connect(&pool1.url(), "rig", None).await;
    let cid = b.welcome.connection_id;
    let ack = b.submit_raw(resubmission(cid, &old_job, share, 1)).await;
    assert_eq!(reason(&ack), RejectReason::WrongPrefix, "{ack:?}");
    drop((a, b));
    pool1.stop().await.unwrap();
    drop(devnet1);

    // After a restart: unknown connection, and on a new connection a wrong prefix.
    let devnet2 = devnet(Some(dir.path()), NO_BLOCKS);
    let pool2 = TestPool::start_on(builder(&devnet2, 1).data_dir(dir.path()), addr).await;
    let mut c = RawMiner::connect(&pool2.url(), "rig", None).await;
    let ack = c
        .submit_raw(resubmission(old_cid, &old_job, share, 2))
        .await;
    assert_eq!(reason(&ack), RejectReason::UnknownConnection, "{ack:?}");
    let cid = c.welcome.connection_id;
    let ack = c.submit_raw(resubmission(cid, &old_job, share, 3)).await;
    assert_eq!(reason(&ack), RejectReason::WrongPrefix, "{ack:?}");
    // With this connection's prefix but the old run's job: an unknown job.
    let mine = Nonce::new([7, 0, 0, 0, c.welcome.nonce_prefix]).unwrap();
    let ack = c.submit_raw(resubmission(cid, &old_job, mine, 4)).await;
    assert_eq!(reason(&ack), RejectReason::UnknownJob, "{ack:?}");
    // A commitment that is not 5 field elements is malformed.
    let mut bad = resubmission(cid, &old_job, share, 5);
    bad.commitment = vec![1, 2, 3];
    assert_eq!(reason(&c.submit_raw(bad).await), RejectReason::Malformed);
    let snap = pool2.handle.snapshot();
    let rig = snap.workers.iter().find(|w| w.name == "rig").unwrap();
    assert_eq!(rig.accepted, 0);
    assert_eq!(snap.blocks_found, 0);
    pool2.stop().await.unwrap();
}

/// A retry of a submission is told what the submission was told, also when that was a refusal
/// because another submission of the same block was recorded first (and never the acceptance
/// that the first try was about to get before the block turned out to be on record).
#[tokio::test]
async fn a_retry_is_told_what_the_first_try_was_told() {
    let devnet = devnet(None, 4);
    let pool =
        TestPool::start(builder(&devnet, 1).stale_grace(std::time::Duration::from_secs(3600)))
            .await;
    let mut finder = RawMiner::connect(&pool.url(), "lucky", None).await;
    let job = finder.job.clone();
    let network = target_of(&job.network_target);
    let (first_block, _, counter) = grind(&job, 0, |d| d.meets(&network));
    let (second_block, _, _) = grind(&job, counter + 1, |d| d.meets(&network));

    // The first block reaches the pool first from another worker (with its commitment), the
    // second from another connection of the same worker: both are recorded that way.
    let mut rival = RawMiner::connect(&pool.url(), "rival", None).await;
    let cid = rival.welcome.connection_id;
    let ack = rival
        .submit_raw(resubmission(cid, &job, first_block, 1))
        .await;
    assert!(ack.accepted && ack.block_candidate, "{ack:?}");
    let mut twin = RawMiner::connect(&pool.url(), "lucky", None).await;
    let cid = twin.welcome.connection_id;
    let ack = twin
        .submit_raw(resubmission(cid, &job, second_block, 1))
        .await;
    assert!(ack.accepted && ack.block_candidate, "{ack:?}");

    // Then the finder's own submissions of the two, each tried twice.
    let submit = |nonce: Nonce, submission_id: u64| WorkResult {
        connection_id: finder.welcome.connection_id,
        job_id: job.job_id.clone(),
        nonce: nonce.limbs().to_vec(),
        submission_id,
        ..Default::default()
    };
    let (to_rival, to_twin) = (submit(first_block, 7), submit(second_block, 8));
    let first = finder.submit_raw(to_rival.clone()).await;
    assert_eq!(reason(&first), RejectReason::Duplicate, "{first:?}");
    assert_eq!(finder.submit_raw(to_rival).await, first);
    // Recorded for this very worker: accepted again, without a second credit.
    let first = finder.submit_raw(to_twin.clone()).await;
    assert!(first.accepted && first.block_candidate, "{first:?}");
    assert_eq!(first.credited_difficulty, 0);
    assert_eq!(finder.submit_raw(to_twin).await, first);

    let snap = pool.handle.snapshot();
    assert_eq!(snap.blocks_found, 2);
    let lucky = snap.workers.iter().find(|w| w.name == "lucky").unwrap();
    assert_eq!((lucky.accepted, lucky.blocks_found), (1, 1));
    pool.stop().await.unwrap();
}
