//! `pool-loadtest` end to end, small: three miners for a second against an in-process pool at
//! fixed difficulty 1. Checks that the tool connects, that every nonce it submits without
//! grinding is accepted, and that its last stdout line is the JSON report.

use std::process::Command;

use nockpool_testkit::{builder, devnet, TestPool};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_miners_for_a_second_report_one_json_line() {
    let devnet = devnet(None, 1 << 40);
    let pool = TestPool::start(builder(&devnet, 1).fixed_difficulty(1)).await;
    let url = pool.url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_pool-loadtest"))
            .args(["--pool", &url, "--miners", "3", "--seconds", "1"])
            .args(["--share-rate", "5", "--json", "--server-pid"])
            .arg(std::process::id().to_string())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let report: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(report["miners_connected"], 3, "{last}");
    assert_eq!(report["errors"], 0, "{last}");
    assert_eq!(report["rejected"], serde_json::json!({}), "{last}");
    assert!(report["acked_shares"].as_u64().unwrap() >= 3, "{last}");
    assert!(
        report["server_peak_rss_kib"].as_u64().unwrap() > 0,
        "{last}"
    );
    // Every accepted share was credited by the pool itself.
    let credited: u64 = pool
        .handle
        .snapshot()
        .workers
        .iter()
        .map(|w| w.accepted)
        .sum();
    assert_eq!(Some(credited), report["acked_shares"].as_u64());
    pool.stop().await.unwrap();
}

#[test]
fn a_pool_off_this_machine_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_pool-loadtest"))
        .args(["--pool", "http://192.0.2.1:7777", "--miners", "1"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("only loads a pool on this machine"));
}
