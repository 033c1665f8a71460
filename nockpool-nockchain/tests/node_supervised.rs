//! `--node-cmd`: the supervisor starts a node process (the test-only fake node program), the
//! backend waits for its gRPC, mines on it, and follows it across a crash and restart.

use std::time::Duration;

use nockpool_core::ChainBackend;
use nockpool_nockchain::{CommandProver, NockchainNode, NodeSupervisor, SupervisorEvent};
use nockpool_testkit::{fake_node_command, fake_prover, PATIENCE};

#[tokio::test]
async fn supervised_node_serves_candidates_and_stops_cleanly() {
    // A free loopback port for the child (bound and released; the child binds it again).
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let supervisor = NodeSupervisor::spawn_with(
        fake_node_command(addr),
        Duration::from_millis(20),
        Duration::from_millis(200),
        Duration::from_secs(10),
    );
    let mut events = supervisor.events();
    let node = NockchainNode::builder()
        .grpc(format!("http://{addr}"))
        .mining_share(
            "9yPePjfWAdUnzaQKyxcRXKRa5PpUzKKEwtpECBZsUYt9Jd7egSDEWoV"
                .parse()
                .unwrap(),
        )
        .prover(CommandProver::new(fake_prover("ok")))
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .build()
        .unwrap();
    // The backend retries until the child's gRPC answers, then gets a candidate.
    let mut templates = node.templates().await.unwrap();
    tokio::time::timeout(PATIENCE, templates.wait_for(|t| t.is_some()))
        .await
        .unwrap()
        .unwrap();
    assert!(node.status().await.unwrap().connected);
    tokio::time::timeout(PATIENCE, supervisor.stop())
        .await
        .unwrap();
    let mut saw = Vec::new();
    while let Ok(Ok(event)) = tokio::time::timeout(PATIENCE, events.recv()).await {
        let stopped = event == SupervisorEvent::Stopped;
        saw.push(event);
        if stopped {
            break;
        }
    }
    assert!(
        matches!(saw.first(), Some(SupervisorEvent::Started { .. })),
        "{saw:?}"
    );
    assert_eq!(saw.last(), Some(&SupervisorEvent::Stopped), "{saw:?}");
    node.shutdown().await;
}
