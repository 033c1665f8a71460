//! The whole farm on one machine: real `PoolServer`s on the (simulated) devnet, real
//! `PoolClient`s running the real V5 engine, real gRPC over 127.0.0.1. Every wait is bounded
//! and woken by events; nothing sleeps to synchronise.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures::stream::{select_all, BoxStream};
use futures::StreamExt;
use nockpool_client::{ClientError, ClientEvent, ClientHandle, ClientStats, PoolClient};
use nockpool_server::{BlockOutcome, Devnet, PoolEvent, PoolHandle};
use nockpool_testkit::{v5_thread_hashrate, LocalPool};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};
use tokio_stream::wrappers::BroadcastStream;

/// Upper bound of any single wait: a bug fails the test instead of hanging CI.
const WAIT: Duration = Duration::from_secs(40);
/// Network difficulty at which blocks never come by themselves.
const NO_BLOCKS: u64 = 1 << 62;

struct Miner {
    name: String,
    handle: ClientHandle,
    /// Subscribed before the client started, so no event is missed.
    events: broadcast::Receiver<ClientEvent>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ClientError>>,
}

impl Miner {
    fn start(name: &str, pools: &[String]) -> Miner {
        Miner::start_with_token(name, pools, None)
    }

    fn start_with_token(name: &str, pools: &[String], token: Option<&str>) -> Miner {
        let client = PoolClient::builder()
            .token(token.map(str::to_owned))
            .pools(pools)
            .worker(name)
            .threads(1)
            .backoff(Duration::from_millis(50), Duration::from_millis(500))
            .connect_timeout(Duration::from_secs(1))
            .primary_probe_interval(Duration::from_millis(200))
            .build()
            .expect("client builds");
        let handle = client.handle();
        let events = handle.events();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(client.run(async {
            let _ = stopped.await;
        }));
        Miner {
            name: name.to_owned(),
            handle,
            events,
            stop,
            task,
        }
    }

    fn stats(&self) -> ClientStats {
        self.handle.stats()
    }

    async fn stop(self) -> ClientStats {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("miner stops")
            .expect("miner task")
            .expect("miner run");
        self.handle.stats()
    }
}

/// Wake-ups: any event from any of the miners or pools.
struct Wake(BoxStream<'static, ()>);

impl Wake {
    fn new(miners: &[&Miner], pools: &[&PoolHandle]) -> Wake {
        let mut streams: Vec<BoxStream<'static, ()>> = Vec::new();
        for m in miners {
            streams.push(BroadcastStream::new(m.handle.events()).map(|_| ()).boxed());
        }
        for p in pools {
            streams.push(BroadcastStream::new(p.events()).map(|_| ()).boxed());
        }
        Wake(select_all(streams).boxed())
    }

    /// Waits until `done()` holds, re-checking on every event, for at most [`WAIT`].
    async fn until(&mut self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done() {
            match timeout_at(deadline, self.0.next()).await {
                Ok(Some(())) => {}
                Ok(None) => panic!("event streams ended while waiting for {what}"),
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }
}

/// The next `Connected` event: (pool index, pool).
async fn connected(events: &mut broadcast::Receiver<ClientEvent>) -> (usize, String) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(ClientEvent::Connected {
            pool_index, pool, ..
        }) = timeout_at(deadline, events.recv())
            .await
            .expect("connected")
        {
            return (pool_index, pool);
        }
    }
}

/// Hashes per second of one V5 thread here (a ~200 ms timed search, once per test binary),
/// so that difficulties give blocks and shares at about the same pace whatever the kernel's
/// speed. The four tests share two cores, so a miner gets roughly a quarter of this.
/// Network difficulty for about one block per `seconds` from `miners` test miners.
fn block_difficulty(miners: u64, seconds: f64) -> u64 {
    ((v5_thread_hashrate() / 4.0 * miners as f64 * seconds) as u64).max(16)
}

/// Share difficulty for about two shares a second per test miner (eight at full speed: far
/// below the pool's rate limit even if the calibration ran slow).
fn share_difficulty() -> u64 {
    ((v5_thread_hashrate() / 4.0 / 2.0) as u64).max(1)
}

fn any_addr() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn nonzero(
    map: &BTreeMap<nockpool_client::RejectReason, u64>,
) -> BTreeMap<nockpool_client::RejectReason, u64> {
    map.iter()
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| (*r, *n))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miners_find_blocks_and_every_share_is_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let pool = LocalPool::start_in(
        dir.path(),
        any_addr(),
        block_difficulty(3, 1.5),
        share_difficulty(),
        None,
    )
    .await;
    let start_height = pool.devnet.height();
    let started = Instant::now();
    let miners: Vec<Miner> = (0..3)
        .map(|i| Miner::start(&format!("m{i}"), &[pool.url()]))
        .collect();
    let mut wake = Wake::new(&miners.iter().collect::<Vec<_>>(), &[&pool.handle]);

    let mut first_block = None;
    // Every miner must also have a share accepted before the check below: on a loaded machine
    // one miner's thread may be scheduled so late that the others find 3 blocks first.
    wake.until(
        "3 blocks found and a share accepted from every miner",
        || {
            let blocks: u64 = miners.iter().map(|m| m.stats().blocks_found).sum();
            if blocks > 0 && first_block.is_none() {
                first_block = Some(started.elapsed());
            }
            blocks >= 3 && miners.iter().all(|m| m.stats().accepted > 0)
        },
    )
    .await;
    let elapsed = started.elapsed();
    let hashrates: Vec<f64> = miners.iter().map(|m| m.stats().hashrate_1m).collect();

    let mut pool_wake = Wake::new(&[], &[&pool.handle]);
    let mut finals = Vec::new();
    for miner in miners {
        let name = miner.name.clone();
        finals.push((name, miner.stop().await));
    }
    let snapshot = pool.handle.snapshot();
    println!(
        "3 miners x 1 thread: first block after {:?}, 3+ blocks after {elapsed:?}; hashrate (1 min avg) per miner {hashrates:.0?} H/s",
        first_block.unwrap_or_default()
    );

    let mut client_blocks = 0;
    for (name, stats) in &finals {
        let worker = snapshot
            .workers
            .iter()
            .find(|w| &w.name == name)
            .unwrap_or_else(|| panic!("pool knows worker {name}"));
        println!(
            "{name}: {} hashes, {} shares found, {} accepted, rejected {:?}, {} blocks; pool says {} accepted, {:?}, {} blocks",
            stats.total_hashes,
            stats.shares_found,
            stats.accepted,
            stats.rejected,
            stats.blocks_found,
            worker.accepted,
            worker.rejected,
            worker.blocks_found
        );
        assert!(stats.accepted > 0, "{name} had shares accepted");
        assert!(
            stats.total_hashes > 0,
            "{name} counts the hashes it computed"
        );
        assert_eq!(
            worker.accepted, stats.accepted,
            "{name}: accepted counted once on each side"
        );
        assert_eq!(
            nonzero(&worker.rejected),
            nonzero(&stats.rejected),
            "{name}: rejections"
        );
        assert_eq!(worker.blocks_found, stats.blocks_found, "{name}: blocks");
        // Every share the engine found has exactly one fate.
        assert_eq!(
            stats.shares_found,
            stats.accepted
                + stats.rejected_total()
                + stats.stale_dropped
                + stats.pending_submissions as u64,
            "{name}: share fates"
        );
        client_blocks += stats.blocks_found;
    }
    assert!(client_blocks >= 3);
    assert_eq!(
        snapshot.blocks_found, client_blocks,
        "pool persisted exactly the acked blocks"
    );
    // The pool submits found blocks to the chain asynchronously. Two miners may solve the same
    // height before the new job reaches them; the chain keeps one and calls the other stale.
    let mut outcomes = Vec::new();
    pool_wake
        .until("the chain's verdict on every found block", || {
            let records = pool.handle.snapshot().recent_blocks;
            outcomes = records.iter().filter_map(|r| r.outcome.clone()).collect();
            records.len() as u64 == client_blocks && outcomes.len() == records.len()
        })
        .await;
    let on_chain = outcomes
        .iter()
        .filter(|o| matches!(o, BlockOutcome::Accepted { .. }))
        .count() as u64;
    println!("chain verdicts: {outcomes:?}");
    assert!(on_chain >= 1);
    assert_eq!(
        pool.devnet.height(),
        start_height + on_chain,
        "the devnet grew by the accepted blocks"
    );
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_template_reaches_every_miner_and_they_switch() {
    let dir = tempfile::tempdir().unwrap();
    let pool =
        LocalPool::start_in(dir.path(), any_addr(), NO_BLOCKS, share_difficulty(), None).await;
    let miners: Vec<Miner> = (0..3)
        .map(|i| Miner::start(&format!("s{i}"), &[pool.url()]))
        .collect();
    let mut wake = Wake::new(&miners.iter().collect::<Vec<_>>(), &[&pool.handle]);
    wake.until("every miner mining with a share accepted", || {
        miners.iter().all(|m| m.stats().accepted > 0)
    })
    .await;

    let old_height = pool.devnet.height();
    let mut pool_events = pool.handle.events();
    let mut miner_events: Vec<broadcast::Receiver<ClientEvent>> =
        miners.iter().map(|m| m.handle.events()).collect();
    let t0 = Instant::now();
    let template = pool
        .devnet
        .force_new_template()
        .expect("simulated external block");
    assert!(template.height > old_height);

    let broadcast_deadline = Instant::now() + WAIT;
    let reached = loop {
        match timeout_at(broadcast_deadline, pool_events.recv())
            .await
            .expect("job broadcast")
        {
            Ok(PoolEvent::JobBroadcast { height, miners, .. }) if height == template.height => {
                break miners
            }
            _ => {}
        }
    };
    assert_eq!(reached, 3, "the job reached every miner");
    let broadcast_at = t0.elapsed();

    let mut latencies = Vec::new();
    for (miner, events) in miners.iter().zip(miner_events.iter_mut()) {
        let deadline = Instant::now() + WAIT;
        let (job_id, switched_at, received_at) = loop {
            match timeout_at(deadline, events.recv())
                .await
                .expect("new job on the miner")
            {
                Ok(ClientEvent::NewJob {
                    job_id,
                    height,
                    switched_at,
                    received_at,
                    ..
                }) if height == template.height => break (job_id, switched_at, received_at),
                _ => {}
            }
        };
        latencies.push((switched_at - t0, switched_at - received_at));
        // The engine really mines the new job: a share for it is accepted. (A share for the
        // old job found just before the switch may still be answered first: the pool accepts
        // those within its stale grace.)
        loop {
            match timeout_at(deadline, events.recv())
                .await
                .expect("share on the new job")
            {
                Ok(ClientEvent::ShareAccepted {
                    job_id: share_job, ..
                }) if share_job == job_id => break,
                Ok(ClientEvent::ShareRejected { reason, .. }) => {
                    panic!("{}: rejected {reason:?} after the switch", miner.name)
                }
                _ => {}
            }
        }
        assert_eq!(miner.stats().current_height, Some(template.height));
    }
    println!("job switch: pool broadcast {broadcast_at:?} after the template; (template -> engine switched, received -> switched) per miner: {latencies:?}");
    for miner in miners {
        miner.stop().await;
    }
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miners_survive_a_pool_restart_and_no_found_block_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (network, share) = (block_difficulty(2, 1.0), share_difficulty());
    let pool = LocalPool::start_in(dir.path(), any_addr(), network, share, None).await;
    let addr = pool.addr;
    let miners: Vec<Miner> = (0..2)
        .map(|i| Miner::start(&format!("r{i}"), &[pool.url()]))
        .collect();
    let blocks = |miners: &[Miner]| miners.iter().map(|m| m.stats().blocks_found).sum::<u64>();
    {
        let mut wake = Wake::new(&miners.iter().collect::<Vec<_>>(), &[&pool.handle]);
        wake.until("a block before the restart", || blocks(&miners) >= 1)
            .await;
    }

    let mut wake = Wake::new(&miners.iter().collect::<Vec<_>>(), &[]);
    pool.stop().await;
    wake.until("every miner noticing the pool is gone", || {
        miners.iter().all(|m| m.stats().connected_pool.is_none())
    })
    .await;
    let before = blocks(&miners);
    let height_before = Devnet::builder().data_dir(dir.path()).open().map(|d| {
        let h = d.height();
        d.close();
        h
    });
    let height_before = height_before.expect("devnet reopens");
    let stopped_at = Instant::now();

    let pool = LocalPool::start_in(dir.path(), addr, network, share, None).await;
    assert_eq!(
        pool.devnet.height(),
        height_before,
        "the chain continues from disk"
    );
    let mut wake = Wake::new(&miners.iter().collect::<Vec<_>>(), &[&pool.handle]);
    wake.until("every miner back on the restarted pool", || {
        miners
            .iter()
            .all(|m| m.stats().sessions >= 2 && m.stats().connected_pool.is_some())
    })
    .await;
    let reconnect = stopped_at.elapsed();
    wake.until("a block after the restart", || blocks(&miners) > before)
        .await;

    let mut pool_wake = Wake::new(&[], &[&pool.handle]);
    let mut finals = Vec::new();
    for miner in miners {
        finals.push(miner.stop().await);
    }
    let acked: u64 = finals.iter().map(|s| s.blocks_found).sum();
    let snapshot = pool.handle.snapshot();
    println!(
        "restart: miners back {reconnect:?} after the pool returned; blocks acked {acked}, pool's lifetime blocks {}",
        snapshot.blocks_found
    );
    // Every block a miner was told about is in the pool's store (persisted before the ack),
    // across the restart, and the pool has no block no miner was told about.
    assert_eq!(snapshot.blocks_found, acked);
    for stats in &finals {
        assert_eq!(
            stats.block_candidates,
            stats.blocks_found + stats.blocks_rejected,
            "every block candidate was answered by the pool: {stats:?}"
        );
    }
    pool_wake
        .until("the devnet to grow after the restart", || {
            pool.devnet.height() > height_before
        })
        .await;
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_to_the_backup_and_back_to_the_primary() {
    let primary_dir = tempfile::tempdir().unwrap();
    let backup_dir = tempfile::tempdir().unwrap();
    let primary = LocalPool::start_in(
        primary_dir.path(),
        any_addr(),
        NO_BLOCKS,
        share_difficulty(),
        None,
    )
    .await;
    let backup = LocalPool::start_in(
        backup_dir.path(),
        any_addr(),
        NO_BLOCKS,
        share_difficulty(),
        None,
    )
    .await;
    let primary_addr = primary.addr;
    let (primary_url, backup_url) = (primary.url(), backup.url());
    let mut miner = Miner::start("f0", &[primary_url.clone(), backup_url.clone()]);
    let mut events = std::mem::replace(&mut miner.events, miner.handle.events());

    assert_eq!(connected(&mut events).await, (0, primary_url.clone()));

    let down_at = Instant::now();
    primary.stop().await;
    assert_eq!(connected(&mut events).await, (1, backup_url.clone()));
    let failover = down_at.elapsed();
    let mut wake = Wake::new(&[&miner], &[&backup.handle]);
    let accepted = miner.stats().accepted;
    wake.until("a share accepted by the backup", || {
        miner.stats().accepted > accepted
    })
    .await;
    assert!(backup
        .handle
        .snapshot()
        .workers
        .iter()
        .any(|w| w.name == "f0" && w.accepted > 0));

    let primary = LocalPool::start_in(
        primary_dir.path(),
        primary_addr,
        NO_BLOCKS,
        share_difficulty(),
        None,
    )
    .await;
    let back_at = Instant::now();
    assert_eq!(connected(&mut events).await, (0, primary_url.clone()));
    let back = back_at.elapsed();
    let mut wake = Wake::new(&[&miner], &[&primary.handle]);
    let accepted = miner.stats().accepted;
    wake.until("a share accepted by the primary again", || {
        miner.stats().accepted > accepted
    })
    .await;
    println!("failover: on the backup {failover:?} after the primary stopped; back on the primary {back:?} after it returned");

    let stats = miner.stop().await;
    assert_eq!(stats.sessions, 3);
    assert_eq!(stats.blocks_rejected, 0);
    primary.stop().await;
    backup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_farm_token_is_presented_and_a_wrong_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let token = Some("farm-s3cret");
    let pool =
        LocalPool::start_in(dir.path(), any_addr(), NO_BLOCKS, share_difficulty(), token).await;
    let good = Miner::start_with_token("good", &[pool.url()], token);
    let mut bad = Miner::start_with_token("bad", &[pool.url()], Some("wrong"));
    let mut wake = Wake::new(&[&good, &bad], &[&pool.handle]);
    wake.until(
        "the good miner credited and the bad one refused twice",
        || good.stats().accepted > 0 && bad.stats().failed_connects >= 2,
    )
    .await;
    let refusal = loop {
        match bad.events.try_recv() {
            Ok(ClientEvent::ConnectFailed { error, .. }) => break error,
            Ok(_) => {}
            Err(e) => panic!("no ConnectFailed event: {e}"),
        }
    };
    assert!(refusal.contains("Unauthenticated"), "{refusal}");
    let bad_stats = bad.stop().await;
    assert_eq!(bad_stats.sessions, 0);
    assert_eq!(bad_stats.total_hashes, 0, "a refused miner does not grind");
    good.stop().await;
    let workers: Vec<String> = pool
        .handle
        .snapshot()
        .workers
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert_eq!(workers, ["good"]);
    pool.stop().await;
}
