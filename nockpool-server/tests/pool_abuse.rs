//! Hostile and broken peers, over real sockets on loopback: idle and half-open connections,
//! forged log lines, frozen miners, invalid-share floods, made-up worker names.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nockpool_core::proto::mining_pool_client::MiningPoolClient;
use nockpool_core::proto::{miner_status, Hello, MinerStatus, WorkResult};
use nockpool_server::{Limits, PoolEvent};
use nockpool_testkit::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const NO_BLOCKS: u64 = 1 << 40;
/// A bound on waits that should end far sooner, so a bug fails the test instead of hanging it.
const BOUND: Duration = Duration::from_secs(30);

/// A TCP connection to `pool` from the loopback address `from` (127.0.0.x).
async fn tcp_from(from: IpAddr, pool: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(pool).await.unwrap()
}

/// Reads until the pool closes the socket (whatever it sent first, e.g. its SETTINGS).
async fn closed_by_pool(socket: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    let read_all = async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(BOUND, read_all)
        .await
        .expect("the pool never closed the socket");
}

/// A gRPC client whose connections come from `from`.
async fn client_from(from: IpAddr, pool: &TestPool) -> MiningPoolClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(pool.url())
        .unwrap()
        .local_address(Some(from))
        .connect()
        .await
        .unwrap();
    MiningPoolClient::new(channel)
}

#[tokio::test]
async fn idle_and_half_open_sockets_are_closed_at_the_handshake_deadline() {
    let devnet = devnet(None, NO_BLOCKS);
    let deadline = Duration::from_millis(300);
    let limits = Limits {
        handshake_timeout: deadline,
        ..Limits::default()
    };
    let pool = TestPool::start(builder(&devnet, 1).limits(limits)).await;
    let opened = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(pool.addr).await.unwrap());
    }
    // Half the HTTP/2 preface, then nothing.
    let mut half = TcpStream::connect(pool.addr).await.unwrap();
    half.write_all(&b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..10])
        .await
        .unwrap();
    // A real miner connecting meanwhile is not touched by the deadline.
    let mut miner = RawMiner::connect(&pool.url(), "real", None).await;
    for socket in idle.iter_mut().chain([&mut half]) {
        closed_by_pool(socket).await;
    }
    let closed_after = opened.elapsed();
    println!("21 idle sockets closed {closed_after:?} after opening (deadline {deadline:?})");
    assert!(closed_after >= deadline, "closed before the deadline");
    let snap = pool.handle.snapshot();
    assert_eq!((snap.handshaking, snap.connections), (0, 1));
    let (nonce, _) = share_not_block(&miner.job, 0);
    assert!(miner.submit(nonce).await.accepted);
    pool.stop().await.unwrap();
}

#[tokio::test]
async fn idle_sockets_from_one_address_do_not_lock_out_miners_from_another() {
    let devnet = devnet(None, NO_BLOCKS);
    let limits = Limits {
        max_handshaking_per_ip: 4,
        handshake_timeout: Duration::from_secs(3600),
        ..Limits::default()
    };
    let pool = TestPool::start(builder(&devnet, 1).limits(limits)).await;
    let attacker: IpAddr = [127, 0, 0, 2].into();
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tcp_from(attacker, pool.addr).await);
    }
    // Over the cap: closed at once (long before the hour-long deadline). Sockets are accepted
    // in order, so the four before it hold the cap now.
    let mut over = tcp_from(attacker, pool.addr).await;
    closed_by_pool(&mut over).await;
    assert_eq!(pool.handle.snapshot().handshaking, 4);
    // Real miners from other addresses connect and mine as usual.
    let mut miner = RawMiner::connect(&pool.url(), "real", None).await;
    let other = client_from([127, 0, 0, 3].into(), &pool).await;
    let _other = RawMiner::connect_with(other, "real-2", None).await;
    let (nonce, _) = share_not_block(&miner.job, 0);
    assert!(miner.submit(nonce).await.accepted);
    assert_eq!(pool.handle.snapshot().connections, 2);
    // (Closed before the pool stops, so its graceful shutdown need not wait for them.)
    drop(idle);
    pool.stop().await.unwrap();
}

/// Log output captured from the current thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn hello_with(worker: &str, client_version: &str) -> MinerStatus {
    MinerStatus {
        kind: Some(miner_status::Kind::Hello(Hello {
            worker_name: worker.into(),
            client_version: client_version.into(),
            threads: 1,
            previous_connection_id: 0,
            hashrate: 0.0,
        })),
    }
}

// One thread: the pool's tasks log into this test's subscriber.
#[tokio::test(flavor = "current_thread")]
async fn peer_text_cannot_forge_log_lines_and_is_cut() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let devnet = devnet(None, NO_BLOCKS);
    let pool = TestPool::start(builder(&devnet, 1)).await;
    let client = MiningPoolClient::connect(pool.url()).await.unwrap();
    let forged = "\n*** BLOCK #999 FAKE ***";
    let mut liar = RawMiner::connect_full(
        client.clone(),
        hello_with(&format!("rig{forged}"), &format!("v1\x1b[2J\x07{forged}")),
        None,
    )
    .await;
    let ack = liar
        .submit_raw(WorkResult {
            connection_id: liar.welcome.connection_id,
            job_id: format!("job{forged}"),
            nonce: vec![1, 2, 3, 4, liar.welcome.nonce_prefix],
            ..WorkResult::default()
        })
        .await;
    assert!(!ack.accepted);
    // 10 KB of client version, 4 KB of worker name (together under the 16 KiB message limit).
    let huge = "x".repeat(10 * 1024);
    let long_name = "n".repeat(4 * 1024);
    let _big = RawMiner::connect_full(client, hello_with(&long_name, &huge), None).await;

    let text = logs.text();
    let connected: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("miner connected"))
        .collect();
    assert_eq!(connected.len(), 2, "{text}");
    assert!(
        connected[0].contains("?*** BLOCK #999 FAKE ***")
            && connected[0].contains("client=v1?[2J??*** BLOCK"),
        "{}",
        connected[0]
    );
    assert!(text.contains("job?*** BLOCK #999 FAKE ***"), "{text}");
    for line in text.lines() {
        assert!(
            !line.trim_start().starts_with("***"),
            "a forged line: {line}"
        );
        assert!(!line.contains(['\x1b', '\x07']), "{line:?}");
    }
    // One short line, cut and marked.
    assert!(connected[1].len() < 600, "{} bytes", connected[1].len());
    assert!(connected[1].contains('…'));
    // Snapshots and events carry the cleaned names only.
    for w in pool.handle.snapshot().workers {
        assert!(
            !w.name.contains('\n') && w.name.chars().count() <= 65,
            "{:?}",
            w.name
        );
    }
    pool.stop().await.unwrap();
}

/// A TCP relay that can freeze: after [`Freezer::freeze`] it moves no more bytes either way and
/// keeps both sockets open, as a miner stopped with SIGSTOP (or behind a dead link) does.
struct Freezer {
    addr: SocketAddr,
    frozen: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Freezer {
    async fn start(to: SocketAddr) -> Freezer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let frozen = Arc::new(AtomicBool::new(false));
        let flag = frozen.clone();
        let task = tokio::spawn(async move {
            let (client, _) = listener.accept().await.unwrap();
            let server = TcpStream::connect(to).await.unwrap();
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            let up = tokio::spawn(relay(cr, sw, flag.clone()));
            let down = tokio::spawn(relay(sr, cw, flag));
            let _ = tokio::join!(up, down);
        });
        Freezer { addr, frozen, task }
    }

    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = from.read(&mut buf).await.unwrap_or(0);
        if frozen.load(Ordering::SeqCst) {
            // Hold both sockets open, silent, until the test ends.
            std::future::pending::<()>().await;
        }
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn a_frozen_miner_is_dropped_as_not_reading_not_as_closed() {
    let devnet = devnet(None, NO_BLOCKS);
    let limits = Limits {
        keepalive_interval: Duration::from_millis(200),
        keepalive_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let mut pool = TestPool::start(builder(&devnet, 1).limits(limits)).await;
    let relay = Freezer::start(pool.addr).await;
    let frozen = RawMiner::connect(&format!("http://{}", relay.addr), "frozen", None).await;
    let mut healthy = RawMiner::connect(&pool.url(), "healthy", None).await;
    relay.freeze();
    let reason = match wait_for(
        &mut pool.events,
        |e| matches!(e, PoolEvent::MinerDisconnected { worker, .. } if worker == "frozen"),
    )
    .await
    {
        PoolEvent::MinerDisconnected { reason, .. } => reason,
        _ => unreachable!(),
    };
    println!("frozen miner dropped: {reason}");
    assert!(reason.starts_with("stopped reading"), "{reason}");
    // A miner that answers its pings stays, and a miner that closes its stream is told apart.
    let (nonce, _) = share_not_block(&healthy.job, 0);
    assert!(healthy.submit(nonce).await.accepted);
    drop(healthy);
    let reason = match wait_for(
        &mut pool.events,
        |e| matches!(e, PoolEvent::MinerDisconnected { worker, .. } if worker == "healthy"),
    )
    .await
    {
        PoolEvent::MinerDisconnected { reason, .. } => reason,
        _ => unreachable!(),
    };
    assert!(!reason.starts_with("stopped reading"), "{reason}");
    drop(frozen);
    relay.task.abort();
    pool.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_share_flood_bans_its_address_and_others_keep_getting_acks() {
    let devnet = devnet(None, NO_BLOCKS);
    let limits = Limits {
        ban_invalid_shares: 300,
        // So the flood is checked share by share, not answered by the rate limiter.
        submits_per_second: 100_000.0,
        submit_burst: 100_000,
        ..Limits::default()
    };
    let mut pool = TestPool::start(builder(&devnet, 1).limits(limits)).await;
    let flooder: IpAddr = [127, 0, 0, 2].into();
    let mut good = RawMiner::connect(&pool.url(), "good", None).await;
    let mut bad = RawMiner::connect_with(client_from(flooder, &pool).await, "bad", None).await;

    // Four concurrent streams of shares for a job that does not exist.
    let flood: Vec<_> = (0..4u64)
        .map(|lane| {
            let mut client = bad.client.clone();
            let (connection_id, prefix) = (bad.welcome.connection_id, bad.welcome.nonce_prefix);
            tokio::spawn(async move {
                let (mut rejected, mut refused_as_banned) = (0u32, 0u32);
                for i in 0..400u64 {
                    // Unknown jobs, and every tenth share a malformed nonce (4 limbs).
                    let mut nonce = vec![i, lane, 0, 0, prefix];
                    if i % 10 == 9 {
                        nonce.pop();
                    }
                    let ack = client
                        .submit_work(WorkResult {
                            connection_id,
                            job_id: "no-such-job".into(),
                            nonce,
                            ..WorkResult::default()
                        })
                        .await
                        .unwrap()
                        .into_inner();
                    assert!(!ack.accepted);
                    if ack.message.contains("banned") {
                        refused_as_banned += 1;
                    } else {
                        rejected += 1;
                    }
                }
                (rejected, refused_as_banned)
            })
        })
        .collect();

    // Meanwhile the good miner's shares are acked; each ack's wait is measured.
    let mut latencies = Vec::new();
    let mut start = 0;
    for _ in 0..40 {
        let (nonce, counter) = share_not_block(&good.job, start);
        start = counter + 1;
        let sent = std::time::Instant::now();
        let ack = tokio::time::timeout(BOUND, good.submit(nonce))
            .await
            .expect("no ack for the good miner's share");
        latencies.push(sent.elapsed());
        assert!(ack.accepted, "{ack:?}");
    }
    let mut totals = (0, 0);
    for lane in flood {
        let (rejected, banned) = lane.await.unwrap();
        totals = (totals.0 + rejected, totals.1 + banned);
    }
    latencies.sort();
    println!(
        "flood: {} invalid shares rejected, {} refused as banned; good miner's 40 acks: median \
         {:?}, max {:?}",
        totals.0,
        totals.1,
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );

    let PoolEvent::AddressBanned { worker, ban, .. } = wait_for(&mut pool.events, |e| {
        matches!(e, PoolEvent::AddressBanned { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!((worker.as_str(), ban.ip), ("bad", flooder));
    assert!(ban.invalid_shares > 300);
    assert!(totals.0 >= 301 && totals.1 > 0, "{totals:?}");
    // The flooder's stream is cut with the reason, its address refused, and it is listed.
    let end = loop {
        match tokio::time::timeout(BOUND, bad.stream.message())
            .await
            .unwrap()
        {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the stream ended without a reason"),
            Err(status) => break status,
        }
    };
    assert_eq!(end.code(), tonic::Code::PermissionDenied, "{end:?}");
    let mut again = client_from(flooder, &pool).await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(hello("bad")).await.unwrap();
    let mut refused = again
        .subscribe(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let err = refused.message().await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert!(err.message().contains("banned"), "{}", err.message());
    let snap = pool.handle.snapshot();
    assert_eq!(snap.bans_total, 1);
    assert_eq!(
        snap.bans.iter().map(|b| b.ip).collect::<Vec<_>>(),
        [flooder]
    );
    assert_eq!(snap.connections, 1);
    let (nonce, _) = share_not_block(&good.job, start);
    assert!(good.submit(nonce).await.accepted);
    pool.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_made_up_worker_names_stay_bounded_across_a_restart() {
    const MAX_WORKERS: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let devnet = devnet(Some(dir.path()), NO_BLOCKS);
    let limits = Limits {
        max_workers: MAX_WORKERS,
        // Thousands of short streams from one address, a few at a time.
        max_connections_per_ip: 100_000,
        ..Limits::default()
    };
    let start =
        |limits: Limits| TestPool::start(builder(&devnet, 1).data_dir(dir.path()).limits(limits));
    let pool = start(limits.clone()).await;
    let mut rig = RawMiner::connect(&pool.url(), "rig", None).await;
    let (nonce, _) = share_not_block(&rig.job, 0);
    assert!(rig.submit(nonce).await.accepted);
    drop(rig);

    let client = MiningPoolClient::connect(pool.url()).await.unwrap();
    let started = std::time::Instant::now();
    let mut names = tokio::task::JoinSet::new();
    for lane in 0..8 {
        let client = client.clone();
        names.spawn(async move {
            for i in (lane..10_000).step_by(8) {
                let m = RawMiner::connect_full(client.clone(), hello(&format!("fake-{i}")), None);
                drop(m.await);
            }
        });
    }
    while let Some(done) = names.join_next().await {
        done.unwrap();
    }
    println!("10,000 made-up names connected in {:?}", started.elapsed());
    let check = |snap: nockpool_server::PoolSnapshot| {
        assert!(
            snap.workers.len() <= MAX_WORKERS,
            "{} workers",
            snap.workers.len()
        );
        let rig = snap.workers.iter().find(|w| w.name == "rig");
        assert_eq!(
            rig.map(|w| w.accepted),
            Some(1),
            "the worker with a share is kept"
        );
    };
    check(pool.handle.snapshot());
    pool.stop().await.unwrap();

    // The data dir holds the bounded table too: a restart loads no more, even one allowed far
    // more names (so it is the stored copy that is small, not the load that cuts it).
    let pool = start(Limits {
        max_workers: 100_000,
        ..limits
    })
    .await;
    check(pool.handle.snapshot());
    pool.stop().await.unwrap();
}

#[tokio::test]
async fn the_listen_hint_names_the_real_cause() {
    let devnet = devnet(None, NO_BLOCKS);
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let in_use = builder(&devnet, 1)
        .listen(taken.local_addr().unwrap())
        .build()
        .unwrap()
        .run(std::future::pending())
        .await
        .unwrap_err()
        .to_string();
    assert!(in_use.contains("another pool server"), "{in_use}");
    // 192.0.2.1 (TEST-NET-1) is no interface of this machine.
    let foreign = builder(&devnet, 1)
        .listen("192.0.2.1:7777".parse().unwrap())
        .build()
        .unwrap()
        .run(std::future::pending())
        .await
        .unwrap_err()
        .to_string();
    assert!(!foreign.contains("another pool server"), "{foreign}");
    assert!(foreign.contains("not one of this machine's"), "{foreign}");
}

/// A connection storm: every miner opens its own TCP connection at the same moment, 40 from each
/// source address (a NAT'ed rack), under the default handshake deadline and per-address cap.
/// 400 miners by default (CI); `NOCKPOOL_STORM_MINERS=9000` runs a farm-sized one (both ends in
/// this one process take two descriptors per miner: 10,000 needs a hard limit above 20,000).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_storm_of_real_miners_is_not_cut_by_the_handshake_limits() {
    const PER_ADDRESS: usize = 40;
    let miners: usize = std::env::var("NOCKPOOL_STORM_MINERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(400);
    // Two descriptors per miner in this one process (its socket and the pool's).
    nockpool_server::raise_descriptor_limit().unwrap();
    let devnet = devnet(None, NO_BLOCKS);
    let limits = Limits {
        max_connections: miners.max(Limits::default().max_connections),
        max_connections_per_ip: PER_ADDRESS,
        ..Limits::default()
    };
    assert_eq!(limits.max_handshaking_per_ip, 128);
    assert_eq!(limits.handshake_timeout, Duration::from_secs(10));
    let pool = TestPool::start(builder(&devnet, 1).limits(limits)).await;
    let url = pool.url();
    let started = std::time::Instant::now();
    let mut storm = tokio::task::JoinSet::new();
    for i in 0..miners {
        let from: IpAddr = [
            127,
            0,
            1 + (i / PER_ADDRESS / 250) as u8,
            1 + (i / PER_ADDRESS % 250) as u8,
        ]
        .into();
        let url = url.clone();
        storm.spawn(async move {
            let channel = tonic::transport::Endpoint::from_shared(url)
                .unwrap()
                .local_address(Some(from))
                .connect()
                .await
                .unwrap();
            RawMiner::connect_with(MiningPoolClient::new(channel), &format!("storm-{i}"), None)
                .await
        });
    }
    let mut connected = Vec::with_capacity(miners);
    while let Some(miner) = storm.join_next().await {
        connected.push(miner.expect("a miner of the storm was cut"));
    }
    println!(
        "{miners} miners ({PER_ADDRESS} per address) connected in {:?}",
        started.elapsed()
    );
    let snap = pool.handle.snapshot();
    assert_eq!((snap.connections, snap.handshaking), (miners, 0));
    drop(connected);
    pool.stop().await.unwrap();
}
