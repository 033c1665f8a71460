//! The stock `miner` binary with `--gpu` (feature `gpu`): mining on the GPU alone (`-t 0`)
//! through a pool on the (simulated) devnet, and exiting non-zero when the GPU it was told to
//! use cannot be opened. On lavapipe in CI.

#![cfg(feature = "gpu")]

use std::process::{Command, Stdio};
use std::time::Duration;

use nockpool_server::PoolEvent;
use nockpool_testkit::{builder, devnet, wait_for, TestPool};

fn no_adapter() -> bool {
    if nockpool_gpu::adapters().is_empty() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true but no GPU adapter was found (.ci/run installs lavapipe)"
        );
        eprintln!("NOTICE: skipping: no GPU adapter");
        return true;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miner_with_gpu_only_mines_through_a_devnet_pool() {
    if no_adapter() {
        return;
    }
    // Low difficulties: a software adapter finds shares and a block within seconds.
    let devnet = devnet(None, 3_000);
    let mut pool = TestPool::start(builder(&devnet, 300)).await;
    let log = std::env::temp_dir().join(format!("nockpool-miner-gpu-{}.log", std::process::id()));
    let mut miner = Command::new(env!("CARGO_BIN_EXE_miner"))
        .args([
            &pool.url(),
            "-t",
            "0",
            "--gpu",
            "0",
            "--worker",
            "gpu-rig",
            "-l",
            "info",
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("miner starts");
    // Calibration compiles the shader (seconds on lavapipe) before the first share.
    let found = tokio::time::timeout(Duration::from_secs(240), async {
        wait_for(
            &mut pool.events,
            |e| matches!(e, PoolEvent::ShareAccepted { worker, .. } if worker == "gpu-rig"),
        )
        .await;
        wait_for(
            &mut pool.events,
            |e| matches!(e, PoolEvent::BlockFound { worker, .. } if worker == "gpu-rig"),
        )
        .await
    })
    .await;
    let _ = miner.kill();
    let _ = miner.wait();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    found.expect("the GPU miner's share and block reached the pool");
    // The start-up names the device and its backend.
    let adapter = &nockpool_gpu::adapters()[0];
    let line = format!(
        "GPU 0: {} ({}, {}",
        adapter.name, adapter.backend, adapter.kind
    );
    assert!(text.contains(&line), "no {line:?} in the log:\n{text}");
    pool.stop().await.unwrap();
    devnet.close();
}

#[test]
fn miner_exits_non_zero_when_its_only_gpu_cannot_be_opened() {
    if no_adapter() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_miner"))
        .args(["http://127.0.0.1:9", "-t", "0", "--gpu", "99"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("miner runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("GPU index 99 does not exist"), "{stderr}");
    assert!(stderr.contains("-t 0 leaves no CPU thread"), "{stderr}");
}
