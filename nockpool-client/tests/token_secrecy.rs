//! The farm token never reaches a log: a pool that requires one and the miners that present
//! it (the right one, and a wrong one) run a whole session over real gRPC on 127.0.0.1 while
//! every log line of every crate — ours, tonic, h2, hyper, rustls — is captured at trace level;
//! neither token string may appear in them.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nockpool_client::{ClientEvent, PoolClient};
use nockpool_core::proto::{MinerStatus, WorkResult};
use nockpool_testkit::{
    builder, devnet, hello, v5_thread_hashrate, wait_for_stats, with_token, TestPool,
};
use tokio::sync::oneshot;
use tokio_stream::wrappers::ReceiverStream;

const TOKEN: &str = "farm-token-7f3a91c2e4b8d6";
const WRONG_TOKEN: &str = "guessed-token-51d0e7a2c9";
const WAIT: Duration = Duration::from_secs(40);

/// Every formatted log line, kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_farm_token_is_never_logged() {
    let logs = Captured::default();
    let writer = logs.clone();
    // Trace level for every target, `log` records (rustls) included.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .expect("the only subscriber in this test binary");

    let share_difficulty = (v5_thread_hashrate() / 4.0).max(1.0) as u64;
    let pool = TestPool::start(
        builder(&devnet(None, 1 << 62), share_difficulty).token(Some(TOKEN.to_owned())),
    )
    .await;

    // A miner with the right token mines and gets shares accepted.
    let client = PoolClient::builder()
        .pools([pool.url()])
        .token(Some(TOKEN.to_owned()))
        .worker("with-token")
        .threads(1)
        .build()
        .unwrap();
    let handle = client.handle();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(client.run(async {
        let _ = stopped.await;
    }));
    wait_for_stats(&handle, WAIT, |s| s.accepted >= 1).await;
    let _ = stop.send(());
    tokio::time::timeout(WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    // A miner with a wrong token is refused.
    let client = PoolClient::builder()
        .pools([pool.url()])
        .token(Some(WRONG_TOKEN.to_owned()))
        .worker("wrong-token")
        .threads(1)
        .build()
        .unwrap();
    let mut events = client.handle().events();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(client.run(async {
        let _ = stopped.await;
    }));
    let refusal = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(ClientEvent::ConnectFailed { error, .. }) = events.recv().await {
                return error;
            }
        }
    })
    .await
    .unwrap();
    assert!(refusal.contains("farm token"), "{refusal}");
    let _ = stop.send(());
    tokio::time::timeout(WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    // Raw calls with the wrong token: a Subscribe and a submission.
    let mut raw = nockpool_core::proto::mining_pool_client::MiningPoolClient::connect(pool.url())
        .await
        .unwrap();
    let (up, rx) = tokio::sync::mpsc::channel::<MinerStatus>(1);
    up.send(hello("raw")).await.unwrap();
    let status = raw
        .subscribe(with_token(ReceiverStream::new(rx), Some(WRONG_TOKEN)))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let ack = raw
        .submit_work(with_token(WorkResult::default(), Some(WRONG_TOKEN)))
        .await
        .unwrap()
        .into_inner();
    assert!(!ack.accepted);

    pool.stop().await.unwrap();

    let text = logs.text();
    // The capture saw the session, down to the HTTP/2 frames...
    assert!(text.contains("pool server listening"), "logs:\n{text}");
    assert!(text.contains("refused a miner"), "logs:\n{text}");
    assert!(text.contains("TRACE"), "no trace-level line captured");
    // ...and neither token.
    for token in [TOKEN, WRONG_TOKEN] {
        if let Some(at) = text.find(token) {
            let line = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
            panic!("the token {token:?} was logged: {}", &text[line..end]);
        }
    }
}
