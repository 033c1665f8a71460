//! An embedded pool: a `PoolServer` on the embedded devnet (a simulated development chain, not
//! Nockchain mainnet) and a `PoolClient`, in one process, over real gRPC on 127.0.0.1.
//! Mines three devnet blocks at a tiny difficulty, prints what happened, and exits.
//!
//! ```text
//! cargo run -p nockpool-examples --example embedded_pool
//! ```

use std::time::{Duration, Instant};

use nockpool_client::{format_hashrate, PoolClient};
use nockpool_core::{Digest, PubkeyHash};
use nockpool_server::{Devnet, PoolServer, VardiffConfig};
use nockpool_testkit::{v5_thread_hashrate, wait_for_stats};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    // Tiny difficulties, scaled to this machine: about a block a second, ten shares a block.
    let hashrate = v5_thread_hashrate();
    let network_difficulty = (hashrate as u64).max(16);
    let share_difficulty = (network_difficulty / 10).max(1);
    println!(
        "one V5 thread grinds {} here; network difficulty {network_difficulty}, share difficulty {share_difficulty}",
        format_hashrate(hashrate)
    );

    // The chain: a devnet with a fixed network difficulty (no retargeting).
    let devnet = Devnet::builder()
        .data_dir(data.path())
        .initial_difficulty(network_difficulty)
        .retarget(false)
        .open()?;

    // The pool: jobs from the devnet, a fixed share difficulty, state in the same data dir.
    let server = PoolServer::builder()
        .backend(devnet.clone())
        // A placeholder payee: the devnet is a simulation and pays nobody.
        .mining_address(PubkeyHash::from_digest(Digest::new([1, 2, 3, 4, 5])?))
        .data_dir(data.path())
        .vardiff(VardiffConfig::fixed(share_difficulty))
        .build()?;
    let pool = server.handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_pool, pool_stopped) = tokio::sync::oneshot::channel::<()>();
    let pool_task = tokio::spawn(server.serve(listener, async {
        let _ = pool_stopped.await;
    }));

    // The miner: the stock V5 engine on one thread.
    let client = PoolClient::builder()
        .pools([format!("http://{addr}")])
        .worker("embedded-miner")
        .threads(1)
        .build()?;
    let miner = client.handle();
    let (stop_miner, miner_stopped) = tokio::sync::oneshot::channel::<()>();
    let miner_task = tokio::spawn(client.run(async {
        let _ = miner_stopped.await;
    }));

    let start_height = devnet.height();
    let started = Instant::now();
    println!("pool on {addr}, devnet at height {start_height}; mining three blocks...");
    let first = wait_for_stats(&miner, Duration::from_secs(120), |s| s.blocks_found >= 1).await;
    let first_block = started.elapsed();
    println!("first block after {first_block:.2?} ({first})");
    let stats = wait_for_stats(&miner, Duration::from_secs(120), |s| s.blocks_found >= 3).await;
    println!("three blocks after {:.2?}", started.elapsed());

    let _ = stop_miner.send(());
    miner_task.await??;
    let _ = stop_pool.send(());
    pool_task.await??;

    let snapshot = pool.snapshot();
    println!("miner: {stats}");
    println!(
        "pool:  {} blocks found, farm hashrate estimate {} from accepted shares",
        snapshot.blocks_found,
        format_hashrate(snapshot.hashrate)
    );
    println!(
        "devnet: height {start_height} -> {} (blocks are submitted to the chain asynchronously)",
        devnet.height()
    );
    devnet.close();
    Ok(())
}
