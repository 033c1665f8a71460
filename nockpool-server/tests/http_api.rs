//! The status API, `/metrics`, `/health` and the alert webhook over real TCP on 127.0.0.1,
//! against a real pool on the devnet with raw-protocol miners.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use nockpool_core::{BlockOutcome, ChainBackend, ChainError, ChainStatus, FoundBlock, MiningShare};
use nockpool_server::{HttpConfig, PoolEvent, PoolHandle, TemplateStream};
use nockpool_testkit::{
    builder, devnet, grind, share_not_block, target_of, wait_for, RawMiner, TestPool,
};
use serde_json::Value;
use tokio::sync::mpsc;

/// GETs `path` from `addr`; the status and the body.
async fn get(addr: SocketAddr, path: &str, bearer: Option<&str>) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::get(path).header("host", addr.to_string());
    if let Some(token) = bearer {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let resp = tx
        .send_request(req.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn get_json(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = get(addr, path, None).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")),
    )
}

/// The HTTP address of a started pool (waits for it without sleeping).
async fn http_addr(handle: &PoolHandle) -> SocketAddr {
    let mut events = handle.events();
    if let Some(addr) = handle.http_addr() {
        return addr;
    }
    match wait_for(&mut events, |e| {
        matches!(e, PoolEvent::HttpListening { .. })
    })
    .await
    {
        PoolEvent::HttpListening { addr } => addr,
        _ => unreachable!(),
    }
}

fn local_http() -> HttpConfig {
    HttpConfig::new("127.0.0.1:0".parse().unwrap()).check_interval(Duration::from_millis(50))
}

#[tokio::test]
async fn the_api_shows_workers_shares_and_blocks_of_a_live_pool() {
    let dir = tempfile::tempdir().unwrap();
    let dev = devnet(Some(dir.path()), 64);
    let pool = TestPool::start(
        builder(&dev, 1)
            .data_dir(dir.path())
            .http(Some(local_http())),
    )
    .await;
    let http = http_addr(&pool.handle).await;

    let mut a = RawMiner::connect(&pool.url(), "rig-a", None).await;
    let mut b = RawMiner::connect(&pool.url(), "rig-<b>\"", None).await;
    let mut start = 0;
    for _ in 0..3 {
        let (nonce, c) = share_not_block(&a.job, start);
        start = c + 1;
        assert!(a.submit(nonce).await.accepted);
    }
    let (nonce, _) = share_not_block(&b.job, 0);
    assert!(b.submit(nonce).await.accepted);
    let network = target_of(&a.job.network_target);
    let (block, _, _) = grind(&a.job, start, |d| d.meets(&network));
    let ack = a.submit(block).await;
    assert!(ack.accepted && ack.block_candidate);
    // An unknown job: a rejection by reason.
    let (nonce, _) = share_not_block(&b.job, 1_000);
    assert!(!b.submit_for("no-such-job", nonce).await.accepted);

    let (code, status) = get_json(http, "/api/status").await;
    assert_eq!(code, 200);
    assert_eq!(status["miners_connected"], 2);
    assert_eq!(status["shares_accepted"], 5);
    assert_eq!(status["shares_rejected"], 1);
    assert_eq!(
        status["shares_rejected_by_reason"]["unknown_job"], 1,
        "{status}"
    );
    assert_eq!(status["blocks_found"], 1);
    assert_eq!(status["backend"], "devnet");
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert!(status["job_height"].as_u64().unwrap() >= 1);
    assert!(status["network_difficulty"].as_f64().unwrap() > 1.0);
    assert!(status["hashrate_1m"].as_f64().unwrap() > 0.0);
    assert_eq!(status["storage_ok"], true);

    let (_, workers) = get_json(http, "/api/workers").await;
    let list = workers["workers"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let rig_a = list.iter().find(|w| w["name"] == "rig-a").unwrap();
    assert_eq!(rig_a["accepted"], 4);
    assert_eq!(rig_a["blocks_found"], 1);
    assert_eq!(rig_a["online"], true);
    assert_eq!(rig_a["connections"], 1);
    assert!(rig_a["hashrate_5m"].as_f64().unwrap() > 0.0);
    assert!(rig_a["connected_since_unix"].as_u64().is_some());

    // A peer-chosen name survives as data, and is found by its URL-encoded name.
    let (code, one) = get_json(http, "/api/workers/rig-%3Cb%3E%22").await;
    assert_eq!(code, 200, "{one}");
    assert_eq!(one["name"], "rig-<b>\"");
    let (code, missing) = get_json(http, "/api/workers/nobody").await;
    assert_eq!(code, 404);
    assert!(missing["error"].as_str().unwrap().contains("nobody"));
    let (code, nothing) = get_json(http, "/api/nothing").await;
    assert_eq!(code, 404);
    assert!(nothing["error"].is_string());

    let (code, blocks) = get_json(http, "/api/blocks").await;
    assert_eq!(code, 200);
    let first = &blocks["blocks"][0];
    assert_eq!(first["worker"], "rig-a");
    assert!(["pending", "accepted"].contains(&first["outcome"].as_str().unwrap()));
    assert_eq!(blocks["next_before"], Value::Null);
    let (code, bad) = get_json(http, "/api/blocks?limit=0").await;
    assert_eq!(code, 400);
    assert!(bad["error"].as_str().unwrap().contains("limit"));

    let (code, health) = get_json(http, "/health").await;
    assert_eq!(
        (code, &health["status"]),
        (200, &Value::from("ok")),
        "{health}"
    );

    let (code, metrics) = get(http, "/metrics", None).await;
    assert_eq!(code, 200);
    for line in [
        "nockpool_miners_connected 2",
        "nockpool_shares_total{result=\"accepted\",reason=\"none\"} 5",
        "nockpool_shares_total{result=\"rejected\",reason=\"unknown_job\"} 1",
        "nockpool_blocks_total{outcome=\"found\"} 1",
        "nockpool_blocks_on_record 1",
        "nockpool_backend_up 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }
    assert!(metrics.contains("nockpool_worker_hashrate{worker=\"rig-a\"}"));
    // Label values are escaped: the quote in the peer's name cannot end the label.
    assert!(metrics.contains("worker=\"rig-<b>\\\"\""), "{metrics}");
    assert!(metrics.contains("nockpool_share_check_seconds_count 6"));
    assert!(metrics.contains("nockpool_job_fanout_seconds_bucket"));

    pool.stop().await.unwrap();
}

#[tokio::test]
async fn found_blocks_are_paged_from_the_data_dir_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let dev = devnet(Some(dir.path()), 16);
    let pool = TestPool::start(builder(&dev, 1).data_dir(dir.path())).await;
    let mut miner = RawMiner::connect(&pool.url(), "finder", None).await;
    let network = target_of(&miner.job.network_target);
    let mut start = 0;
    for _ in 0..3 {
        let (nonce, _, c) = grind(&miner.job, start, |d| d.meets(&network));
        start = c + 1;
        assert!(miner.submit(nonce).await.block_candidate);
    }
    drop(miner);
    pool.stop().await.unwrap();

    let pool = TestPool::start(
        builder(&dev, 1)
            .data_dir(dir.path())
            .http(Some(local_http())),
    )
    .await;
    let http = http_addr(&pool.handle).await;
    let (_, page) = get_json(http, "/api/blocks?limit=2").await;
    let ids: Vec<u64> = page["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] > ids[1], "newest first: {ids:?}");
    let next = page["next_before"].as_u64().unwrap();
    assert_eq!(next, ids[1]);
    let (_, rest) = get_json(http, &format!("/api/blocks?before={next}&limit=2")).await;
    assert_eq!(rest["blocks"].as_array().unwrap().len(), 1);
    assert!(rest["blocks"][0]["id"].as_u64().unwrap() < ids[1]);
    assert_eq!(rest["next_before"], Value::Null);
    assert_eq!(rest["blocks"][0]["worker"], "finder");
    pool.stop().await.unwrap();
}

#[tokio::test]
async fn a_token_guards_everything_but_health() {
    let dev = devnet(None, 1 << 20);
    let pool =
        TestPool::start(builder(&dev, 1).http(Some(local_http().token(Some("s3cret".into())))))
            .await;
    let http = http_addr(&pool.handle).await;
    for path in [
        "/",
        "/api/status",
        "/api/workers",
        "/api/blocks",
        "/metrics",
    ] {
        let (code, body) = get(http, path, None).await;
        assert_eq!(code, 401, "{path}");
        assert!(body.contains("token"), "{body}");
        assert_eq!(get(http, path, Some("wrong")).await.0, 401, "{path}");
        assert_eq!(get(http, path, Some("s3cret")).await.0, 200, "{path}");
    }
    assert_eq!(get(http, "/api/status?token=s3cret", None).await.0, 200);
    let (code, _) = get(http, "/health", None).await;
    assert_eq!(code, 200);
    pool.stop().await.unwrap();
}

#[tokio::test]
async fn a_taken_http_port_is_logged_and_the_pool_keeps_mining() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dev = devnet(None, 1 << 20);
    let server = builder(&dev, 1)
        .listen("127.0.0.1:0".parse().unwrap())
        .http(Some(HttpConfig::new(addr)))
        .build()
        .unwrap();
    let handle = server.handle();
    let mut events = handle.events();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stop_rx.await;
    }));
    let failed = wait_for(&mut events, |e| {
        matches!(e, PoolEvent::HttpUnavailable { .. })
    })
    .await;
    assert!(matches!(failed, PoolEvent::HttpUnavailable { addr: a, .. } if a == addr));
    assert_eq!(handle.http_addr(), None);
    // Mining goes on: a miner connects and gets a share accepted.
    let pool_addr = match handle.local_addr() {
        Some(a) => a,
        None => match wait_for(&mut events, |e| matches!(e, PoolEvent::Listening { .. })).await {
            PoolEvent::Listening { addr } => addr,
            _ => unreachable!(),
        },
    };
    let mut miner = RawMiner::connect(&format!("http://{pool_addr}"), "rig", None).await;
    let (nonce, _) = share_not_block(&miner.job, 0);
    assert!(miner.submit(nonce).await.accepted);
    let _ = stop_tx.send(());
    task.await.unwrap().unwrap();
    drop(taken);
}

/// A backend whose status calls fail while `down` is set (templates and blocks go through).
struct Flaky<B> {
    inner: B,
    down: Arc<AtomicBool>,
}

#[async_trait]
impl<B: ChainBackend> ChainBackend for Flaky<B> {
    async fn templates(&self) -> Result<TemplateStream, ChainError> {
        self.inner.templates().await
    }
    async fn submit_block(&self, block: FoundBlock) -> Result<BlockOutcome, ChainError> {
        self.inner.submit_block(block).await
    }
    async fn status(&self) -> Result<ChainStatus, ChainError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(ChainError::Unavailable {
                operation: "status".into(),
                reason: "switched off by the test".into(),
            });
        }
        self.inner.status().await
    }
    async fn set_mining_addresses(&self, shares: &[MiningShare]) -> Result<(), ChainError> {
        self.inner.set_mining_addresses(shares).await
    }
}

/// A webhook receiver on 127.0.0.1: every POST's JSON (after checking its Content-Length),
/// answering 503 to the first `fail_first` of them.
async fn receiver(fail_first: u64) -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let seen = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let (tx, seen) = (tx.clone(), seen.clone());
            async move {
                let length: usize = headers["content-length"].to_str().unwrap().parse().unwrap();
                assert_eq!(length, body.len());
                assert_eq!(headers["content-type"], "application/json");
                let _ = tx.send(serde_json::from_slice::<Value>(&body).unwrap());
                if seen.fetch_add(1, Ordering::SeqCst) < fail_first {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

async fn next_alert(rx: &mut mpsc::UnboundedReceiver<Value>, event: &str) -> Value {
    // A bound so a bug fails the test instead of hanging it; not a synchronisation.
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let alert = rx.recv().await.expect("receiver gone");
            if alert["event"] == event {
                return alert;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {event} alert"))
}

#[tokio::test]
async fn offline_workers_blocks_and_the_backend_fire_the_webhook() {
    let (url, mut alerts) = receiver(1).await;
    // The monitor's wall clock: the real one plus an offset the test moves.
    let offset = Arc::new(AtomicU64::new(0));
    let clock_offset = offset.clone();
    let clock =
        move || SystemTime::now() + Duration::from_secs(clock_offset.load(Ordering::SeqCst));
    let down = Arc::new(AtomicBool::new(true));
    let dev = devnet(None, 64);
    let backend = Flaky {
        inner: dev.clone(),
        down: down.clone(),
    };
    let http = local_http()
        .offline_after(Some(Duration::from_secs(60)))
        .alert_webhook(Some(url))
        .alert_retry(Duration::from_millis(5), Duration::from_millis(10))
        .clock(clock);
    let pool = TestPool::start(
        builder(&dev, 1)
            .backend(backend)
            .status_interval(Duration::from_secs(30))
            .http(Some(http)),
    )
    .await;

    // The backend's first status call fails: down (the first delivery is answered 503 and
    // retried, so the same alert arrives twice).
    let first = next_alert(&mut alerts, "backend_down").await;
    assert!(
        first["reason"].as_str().unwrap().contains("switched off"),
        "{first}"
    );
    assert_eq!(next_alert(&mut alerts, "backend_down").await, first);

    let mut miner = RawMiner::connect(&pool.url(), "rig-7", None).await;
    let (nonce, c) = share_not_block(&miner.job, 0);
    assert!(miner.submit(nonce).await.accepted);
    let http_at = http_addr(&pool.handle).await;
    // Answered only once the status API has counted the share (at the unmoved time).
    let (_, worker) = get_json(http_at, "/api/workers/rig-7").await;
    assert_eq!(
        (&worker["online"], &worker["accepted"]),
        (&Value::Bool(true), &Value::from(1))
    );

    // An hour passes on the monitor's clock without a share: offline.
    offset.store(3600, Ordering::SeqCst);
    let offline = next_alert(&mut alerts, "worker_offline").await;
    assert_eq!(offline["worker"], "rig-7");
    let last_seen = offline["last_seen_unix"].as_u64().unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(last_seen <= now + 1 && last_seen + 60 >= now, "{offline}");
    assert!(offline["hashrate"].as_f64().unwrap() > 0.0, "{offline}");
    let (_, worker) = get_json(http_at, "/api/workers/rig-7").await;
    assert_eq!(worker["online"], false);
    let metrics = get(http_at, "/metrics", None).await.1;
    assert!(
        metrics.contains("nockpool_worker_online{worker=\"rig-7\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("nockpool_workers{state=\"offline\"} 1"),
        "{metrics}"
    );

    // A new share: back online.
    let (nonce, _) = share_not_block(&miner.job, c + 1);
    assert!(miner.submit(nonce).await.accepted);
    let online = next_alert(&mut alerts, "worker_online").await;
    assert_eq!(online["worker"], "rig-7");

    // A found block is announced.
    let network = target_of(&miner.job.network_target);
    let (block, _, _) = grind(&miner.job, c + 10, |d| d.meets(&network));
    assert!(miner.submit(block).await.block_candidate);
    let found = next_alert(&mut alerts, "block_found").await;
    assert_eq!(found["worker"], "rig-7");
    assert!(found["height"].as_u64().unwrap() >= 1);

    // The backend answers again: up.
    down.store(false, Ordering::SeqCst);
    next_alert(&mut alerts, "backend_up").await;
    pool.stop().await.unwrap();
}
