//! Job fan-out and vardiff over real gRPC.

use nockpool_core::proto::mining_pool_client::MiningPoolClient;
use nockpool_core::proto::work_order;
use nockpool_server::{PoolEvent, VardiffConfig};
use nockpool_testkit::*;

const NO_BLOCKS: u64 = 1 << 40;

#[tokio::test]
async fn a_new_template_reaches_every_subscribed_miner() {
    let devnet = devnet(None, NO_BLOCKS);
    let mut pool = TestPool::start(builder(&devnet, 1)).await;
    let mut miners = Vec::new();
    for i in 0..4 {
        miners.push(RawMiner::connect(&pool.url(), &format!("rig-{i}"), None).await);
    }
    // Distinct nonce prefixes and connection ids.
    let mut prefixes: Vec<u64> = miners.iter().map(|m| m.welcome.nonce_prefix).collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    assert_eq!(prefixes.len(), 4);

    let first = miners[0].job.clone();
    let template = devnet.force_new_template().unwrap();
    let ev = wait_for(
        &mut pool.events,
        |e| matches!(e, PoolEvent::JobBroadcast { height, .. } if *height == template.height),
    )
    .await;
    let PoolEvent::JobBroadcast {
        job_id,
        miners: reached,
        ..
    } = ev
    else {
        unreachable!()
    };
    assert_eq!(reached, 4);
    for m in &mut miners {
        let job = m.next_job().await;
        assert_eq!(job.job_id, job_id);
        assert!(job.clean_jobs);
        assert_eq!(job.height, first.height + 1);
        assert_eq!(job.commitment, template.commitment.limbs().to_vec());
        assert_eq!(job.nonce_prefix, m.welcome.nonce_prefix);
    }
    let snap = pool.handle.snapshot();
    assert_eq!(snap.current_job.unwrap().height, template.height);
    assert_eq!(snap.connections, 4);

    // A miner that leaves is no longer counted.
    drop(miners.pop());
    wait_for(&mut pool.events, |e| {
        matches!(e, PoolEvent::MinerDisconnected { .. })
    })
    .await;
    devnet.force_new_template().unwrap();
    let ev = wait_for(&mut pool.events, |e| {
        matches!(e, PoolEvent::JobBroadcast { .. })
    })
    .await;
    assert!(matches!(ev, PoolEvent::JobBroadcast { miners: 3, .. }));
    pool.stop().await.unwrap();
}

#[tokio::test]
async fn vardiff_raises_a_fast_miner_and_credits_old_jobs_at_their_difficulty() {
    let devnet = devnet(None, NO_BLOCKS);
    let vardiff = VardiffConfig {
        initial_difficulty: 1,
        // Start at 1 whatever the Hello's thread count says.
        per_thread_hashrate: 0.0,
        retarget_shares: 3,
        ..VardiffConfig::default()
    };
    let pool = TestPool::start(builder(&devnet, 1).vardiff(vardiff)).await;
    let mut miner = RawMiner::connect(&pool.url(), "fast", None).await;
    assert_eq!(miner.job.share_difficulty, 1);
    let old_job = miner.job.clone();
    // Three shares within milliseconds at a 10 s target: far too easy.
    let mut counter = 0;
    for _ in 0..3 {
        let (nonce, c) = share_not_block(&old_job, counter);
        counter = c + 1;
        let ack = miner.submit(nonce).await;
        assert!(ack.accepted);
        assert_eq!(ack.credited_difficulty, 1);
    }
    // The pool pushes the new difficulty, then re-issues the job at it (not clean).
    let set = match next_order(&mut miner.stream).await {
        work_order::Kind::SetDifficulty(s) => s.difficulty,
        other => panic!("expected SetDifficulty, got {other:?}"),
    };
    assert!(set > 1);
    let job = miner.next_job().await;
    assert!(!job.clean_jobs);
    assert_eq!(job.share_difficulty, set);
    assert_ne!(job.job_id, old_job.job_id);
    assert_eq!(job.commitment, old_job.commitment);

    // A share for the previous job is still credited, at the previous difficulty.
    let (nonce, _) = share_not_block(&old_job, counter);
    let ack = miner.submit_for(&old_job.job_id, nonce).await;
    assert!(ack.accepted);
    assert_eq!(ack.credited_difficulty, 1);
    let snap = pool.handle.snapshot();
    assert_eq!(snap.workers[0].difficulty, Some(set));
    assert_eq!(snap.workers[0].accepted_work, 4);

    // The miner reconnects, naming its previous connection: it keeps its difficulty, gets a
    // fresh prefix, and a share it queued on the old connection is still credited.
    let old_cid = miner.welcome.connection_id;
    let (queued, _) = share_not_block(&job, counter + 1);
    let mut events = pool.handle.events();
    drop(miner);
    wait_for(&mut events, |e| {
        matches!(e, PoolEvent::MinerDisconnected { .. })
    })
    .await;
    let client = MiningPoolClient::connect(pool.url()).await.unwrap();
    let mut again = RawMiner::connect_full(client, hello_resuming("fast", old_cid), None).await;
    assert_ne!(again.welcome.connection_id, old_cid);
    assert_eq!(again.job.share_difficulty, set);
    let ack = again
        .submit_raw(nockpool_core::proto::WorkResult {
            connection_id: old_cid,
            job_id: job.job_id.clone(),
            nonce: queued.limbs().to_vec(),
            digest: Vec::new(),
            submission_id: 99,
            ..Default::default()
        })
        .await;
    assert!(ack.accepted, "{ack:?}");
    assert_eq!(ack.credited_difficulty, set);
    pool.stop().await.unwrap();
}

#[tokio::test]
async fn a_big_rig_starts_at_the_difficulty_its_threads_imply_and_a_status_corrects_it() {
    let devnet = devnet(None, NO_BLOCKS);
    let pool = TestPool::start(builder(&devnet, 1).vardiff(VardiffConfig::default())).await;
    let client = MiningPoolClient::connect(pool.url()).await.unwrap();
    let mut hello = hello("rack-1");
    if let Some(nockpool_core::proto::miner_status::Kind::Hello(h)) = &mut hello.kind {
        h.threads = 15;
    }
    let mut miner = RawMiner::connect_full(client, hello, None).await;
    // 15 threads x 300 kH/s (the default estimate) x 10 s: not the fixed 1,024 that had a
    // rig like this submitting thousands of shares a second.
    assert_eq!(miner.job.share_difficulty, 45_000_000);

    // The miner reports 100 MH/s: far off, so the difficulty jumps to 1e9 at once.
    let status = nockpool_core::proto::Status {
        hashrate_1m: 1e8,
        ..Default::default()
    };
    miner
        .up
        .send(nockpool_core::proto::MinerStatus {
            kind: Some(nockpool_core::proto::miner_status::Kind::Status(status)),
        })
        .await
        .unwrap();
    let set = match next_order(&mut miner.stream).await {
        work_order::Kind::SetDifficulty(s) => s.difficulty,
        other => panic!("expected SetDifficulty, got {other:?}"),
    };
    assert_eq!(set, 1_000_000_000);
    let job = miner.next_job().await;
    assert_eq!(job.share_difficulty, 1_000_000_000);
    assert!(!job.clean_jobs);
    let snap = pool.handle.snapshot();
    assert_eq!(snap.workers[0].difficulty, Some(1_000_000_000));
    assert_eq!(snap.workers[0].reported_hashrate, Some(1e8));
    pool.stop().await.unwrap();
}

/// Issue 10, item 6: a worker's share difficulty survives a pool restart, so a slow miner's
/// first share after it does not wait for a difficulty made for the default per-thread rate.
#[tokio::test]
async fn a_workers_difficulty_survives_a_pool_restart() {
    let dir = tempfile::tempdir().unwrap();
    let start = |devnet: &nockpool_server::Devnet| {
        TestPool::start(
            builder(devnet, 1)
                .vardiff(VardiffConfig::default())
                .data_dir(dir.path()),
        )
    };
    let devnet1 = devnet(Some(dir.path()), NO_BLOCKS);
    let pool = start(&devnet1).await;
    let mut miner = RawMiner::connect(&pool.url(), "slow-cpu", None).await;
    // One thread at the default 300 kH/s estimate.
    assert_eq!(miner.job.share_difficulty, 3_000_000);
    // It really does 2 kH/s: 20,000 at the 10 s share interval.
    let status = nockpool_core::proto::Status {
        hashrate_1m: 2_000.0,
        ..Default::default()
    };
    miner
        .up
        .send(nockpool_core::proto::MinerStatus {
            kind: Some(nockpool_core::proto::miner_status::Kind::Status(status)),
        })
        .await
        .unwrap();
    assert_eq!(miner.next_job().await.share_difficulty, 20_000);
    drop(miner);
    pool.stop().await.unwrap();
    drop(devnet1);

    // After the restart its new connection starts where the old one ended.
    let devnet2 = devnet(Some(dir.path()), NO_BLOCKS);
    let pool = start(&devnet2).await;
    let miner = RawMiner::connect(&pool.url(), "slow-cpu", None).await;
    assert_eq!(miner.job.share_difficulty, 20_000);
    // Another worker still starts from its threads.
    let other = RawMiner::connect(&pool.url(), "new-rig", None).await;
    assert_eq!(other.job.share_difficulty, 3_000_000);
    pool.stop().await.unwrap();
}

/// Issue 10, item 6: a miner that states its measured hashrate in its Hello starts at the
/// difficulty that rate implies, not at what its thread count would at the default rate.
#[tokio::test]
async fn a_hello_with_a_measured_hashrate_starts_there() {
    let devnet = devnet(None, NO_BLOCKS);
    let pool = TestPool::start(builder(&devnet, 1).vardiff(VardiffConfig::default())).await;
    let client = MiningPoolClient::connect(pool.url()).await.unwrap();
    let mut hello = hello("measured");
    if let Some(nockpool_core::proto::miner_status::Kind::Hello(h)) = &mut hello.kind {
        h.threads = 8;
        h.hashrate = 5_000.0;
    }
    let miner = RawMiner::connect_full(client, hello, None).await;
    // 5 kH/s at the 10 s share interval, not 8 threads x 300 kH/s.
    assert_eq!(miner.job.share_difficulty, 50_000);
    assert_eq!(pool.handle.snapshot().workers[0].difficulty, Some(50_000));
    pool.stop().await.unwrap();
}

/// Issue 15: `fixed_difficulty` turns vardiff off. Neither the threads a Hello announces, nor
/// a reported hashrate, nor a burst of shares moves the difficulty; and at difficulty 1 every
/// nonce of the connection's prefix is a share (what `pool-loadtest` relies on), each still
/// checked with its full digest.
#[tokio::test]
async fn a_fixed_difficulty_holds_whatever_the_miner_says_or_does() {
    let devnet = devnet(None, NO_BLOCKS);
    let builder = builder(&devnet, 1)
        .vardiff(VardiffConfig::default())
        .fixed_difficulty(1);
    let mut pool = TestPool::start(builder).await;
    let client = MiningPoolClient::connect(pool.url()).await.unwrap();
    let mut hello = hello("rack-1");
    if let Some(nockpool_core::proto::miner_status::Kind::Hello(h)) = &mut hello.kind {
        h.threads = 15;
        h.hashrate = 1e7;
    }
    let mut miner = RawMiner::connect_full(client, hello, None).await;
    assert_eq!(miner.job.share_difficulty, 1);
    let status = nockpool_core::proto::Status {
        hashrate_1m: 1e8,
        ..Default::default()
    };
    miner
        .up
        .send(nockpool_core::proto::MinerStatus {
            kind: Some(nockpool_core::proto::miner_status::Kind::Status(status)),
        })
        .await
        .unwrap();
    let prefix = miner.welcome.nonce_prefix;
    for counter in 0..12 {
        let nonce = nockpool_core::Nonce::new([counter, 0, 0, 0, prefix]).unwrap();
        let ack = miner.submit(nonce).await;
        assert!(ack.accepted, "nonce {counter}: {ack:?}");
        assert_eq!(ack.credited_difficulty, 1);
    }
    // Had vardiff moved, a SetDifficulty and a re-issued job would be queued before the next
    // template's job (the stream is ordered).
    let template = devnet.force_new_template().unwrap();
    wait_for(
        &mut pool.events,
        |e| matches!(e, PoolEvent::JobBroadcast { height, .. } if *height == template.height),
    )
    .await;
    match next_order(&mut miner.stream).await {
        work_order::Kind::Job(job) => {
            assert!(job.clean_jobs);
            assert_eq!(job.share_difficulty, 1);
        }
        other => panic!("expected the new template's job, got {other:?}"),
    }
    assert_eq!(pool.handle.snapshot().workers[0].difficulty, Some(1));
    pool.stop().await.unwrap();
}

#[tokio::test]
async fn a_fixed_difficulty_of_zero_is_refused() {
    let devnet = devnet(None, NO_BLOCKS);
    let err = builder(&devnet, 1).fixed_difficulty(0).build().err();
    assert!(matches!(
        err,
        Some(nockpool_server::ServerError::Config {
            setting: "fixed_difficulty",
            ..
        })
    ));
}
