//! A GPU engine mining through a real pool server on the (simulated) devnet, over real gRPC on
//! 127.0.0.1: shares accepted and a block found, with the device's hashrate reported on its own.

use std::time::Duration;

use nockpool_client::{ClientEvent, PoolClient};
use nockpool_gpu::{Arith, GpuEngine, GpuSelection};
use nockpool_testkit::{builder, devnet, TestPool};
use tokio::sync::oneshot;
use tokio::time::{timeout_at, Instant};

/// Upper bound of the whole wait: a bug fails the test instead of hanging CI.
const WAIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpu_only_miner_finds_shares_and_a_block_through_a_devnet_pool() {
    if nockpool_gpu::adapters().is_empty() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true but no GPU adapter was found (.ci/run installs lavapipe)"
        );
        eprintln!("NOTICE: skipping: no GPU adapter");
        return;
    }
    let mut engines = GpuEngine::builder()
        .arith(Arith::U32)
        .workgroup_size(64)
        .batch_size(512)
        .open(&GpuSelection::Indices(vec![0]))
        .expect("adapter 0 opens");
    let gpu = engines.remove(0);
    let name = format!("GPU {}", gpu.info().adapter.index);
    // This device's real speed here (it includes the driver's first compile), so that the
    // difficulties give a block in a few seconds on lavapipe or on a real GPU alike.
    let (tried, took) = tokio::task::block_in_place(|| gpu.bench(Duration::from_secs(1)));
    let rate = tried as f64 / took.as_secs_f64();
    eprintln!("{}: {rate:.0} nonces/s", gpu.info());
    assert!(rate > 0.0);

    let devnet = devnet(None, ((rate * 3.0) as u64).max(16));
    let pool = TestPool::start(builder(&devnet, ((rate / 4.0) as u64).max(1))).await;
    let url = pool.url();

    // `-t 0 --gpu 0`: no CPU thread, the GPU alone.
    let client = PoolClient::builder()
        .pools([url])
        .worker("gpu-rig")
        .threads(0)
        .device(name.clone(), gpu)
        .backoff(Duration::from_millis(50), Duration::from_millis(500))
        .build()
        .expect("a client with a device and no threads builds");
    let handle = client.handle();
    let mut events = handle.events();
    let (stop_miner, miner_stopped) = oneshot::channel::<()>();
    let miner = tokio::spawn(client.run(async {
        let _ = miner_stopped.await;
    }));

    let deadline = Instant::now() + WAIT;
    let (mut accepted, mut block) = (0, false);
    while accepted < 3 || !block {
        match timeout_at(deadline, events.recv()).await {
            Ok(Ok(ClientEvent::ShareAccepted { block: b, .. })) => {
                accepted += 1;
                block |= b;
            }
            Ok(Ok(ClientEvent::ShareRejected { reason, .. })) => {
                panic!("the pool rejected a GPU share: {reason:?}")
            }
            Ok(_) => {}
            Err(_) => panic!("timed out: {accepted} shares accepted, block found: {block}"),
        }
    }

    let _ = stop_miner.send(());
    miner.await.unwrap().unwrap();
    let stats = handle.stats();
    assert!(stats.accepted >= 3 && stats.blocks_found >= 1, "{stats:?}");
    assert_eq!(stats.rejected_total(), 0);
    // The only engine is the GPU, and the hashrate is its own.
    assert_eq!(stats.engines.len(), 1, "{stats:?}");
    assert_eq!(stats.engines[0].name, name);
    assert_eq!(stats.engines[0].total_hashes, stats.total_hashes);
    assert!(stats.total_hashes > 0);
    pool.stop().await.unwrap();
    devnet.close();
}
