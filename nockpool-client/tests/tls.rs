//! TLS between miner and pool, over real TCP on 127.0.0.1 with a CA and a pool certificate
//! generated here (rcgen): a TLS miner gets shares accepted; a plaintext miner and a miner that
//! trusts another CA are refused, with errors that say why; bad TLS settings fail at build.

use std::time::Duration;

use nockpool_client::{ClientError, ClientEvent, ClientHandle, PoolClient, PoolClientBuilder};
use nockpool_server::ServerError;
use nockpool_testkit::{builder, devnet, v5_thread_hashrate, wait_for_stats, TestPool};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Upper bound of any single wait: a bug fails the test instead of hanging CI.
const WAIT: Duration = Duration::from_secs(40);
/// Network difficulty at which blocks never come by themselves.
const NO_BLOCKS: u64 = 1 << 62;

/// A CA certificate (PEM) and a pool certificate it signed for 127.0.0.1, with its key.
struct Pki {
    ca: String,
    cert: String,
    key: String,
}

fn pki(name: &str) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    Pki {
        ca: ca.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

/// A TLS pool on the devnet whose shares come every few seconds from one thread.
async fn tls_pool(pki: &Pki) -> TestPool {
    let share_difficulty = (v5_thread_hashrate() / 4.0).max(1.0) as u64;
    TestPool::start(
        builder(&devnet(None, NO_BLOCKS), share_difficulty)
            .tls_pem(pki.cert.as_str(), pki.key.as_str()),
    )
    .await
}

struct Miner {
    handle: ClientHandle,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ClientError>>,
}

fn miner(name: &str, configure: impl FnOnce(PoolClientBuilder) -> PoolClientBuilder) -> Miner {
    let client = configure(
        PoolClient::builder()
            .worker(name)
            .threads(1)
            .backoff(Duration::from_millis(50), Duration::from_millis(500))
            .connect_timeout(Duration::from_secs(2)),
    )
    .build()
    .expect("client builds");
    let handle = client.handle();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(client.run(async {
        let _ = stopped.await;
    }));
    Miner { handle, stop, task }
}

impl Miner {
    /// The first connect failure's error.
    async fn first_connect_error(&self) -> String {
        let mut events = self.handle.events();
        let wait = async {
            loop {
                match events.recv().await {
                    Ok(ClientEvent::ConnectFailed { error, .. }) => return error,
                    Ok(ClientEvent::Connected { pool, .. }) => {
                        panic!("connected to {pool}; expected a refusal")
                    }
                    _ => {}
                }
            }
        };
        tokio::time::timeout(WAIT, wait)
            .await
            .expect("a connect failure")
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("miner stops")
            .expect("miner task")
            .expect("miner run");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_miner_mines_and_plaintext_or_a_wrong_ca_is_refused() {
    let farm = pki("farm");
    let pool = tls_pool(&farm).await;
    let port = pool.addr.port();

    // Plaintext to a TLS pool: the pool never sees a Hello.
    let plain = miner("plaintext", |b| {
        b.pools([format!("http://127.0.0.1:{port}")])
    });
    let error = plain.first_connect_error().await;
    plain.stop().await;
    assert!(
        error.contains("if this pool uses TLS"),
        "plaintext error: {error}"
    );

    // A miner that trusts another CA refuses the pool's certificate, and says so.
    let other = pki("other");
    let wrong = miner("wrong-ca", |b| {
        b.pools([format!("127.0.0.1:{port}")])
            .tls_ca_pem(other.ca.as_str())
    });
    let error = wrong.first_connect_error().await;
    wrong.stop().await;
    assert!(
        error.contains("certificate") && error.contains("UnknownIssuer"),
        "wrong-CA error: {error}"
    );

    // A bare address with the farm's CA: TLS, verified, and shares are accepted.
    let good = miner("tls-miner", |b| {
        b.pools([format!("127.0.0.1:{port}")])
            .tls_ca_pem(farm.ca.as_str())
    });
    let stats = wait_for_stats(&good.handle, WAIT, |s| s.accepted >= 1).await;
    assert_eq!(
        stats.connected_pool.as_deref(),
        Some(&*format!("https://127.0.0.1:{port}"))
    );
    // The pool's accept loop still knows the peer under TLS (per-address limits and bans
    // depend on it).
    let seen = pool.handle.snapshot();
    let worker = seen.workers.iter().find(|w| w.name == "tls-miner");
    assert_eq!(
        worker.and_then(|w| w.addr).map(|a| a.ip()),
        Some(std::net::Ipv4Addr::LOCALHOST.into()),
        "the TLS miner's address is known to the pool"
    );
    good.stop().await;

    let snapshot = pool.handle.snapshot();
    let names: Vec<&str> = snapshot.workers.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["tls-miner"], "only the TLS miner ever registered");
    pool.stop().await.unwrap();
}

#[test]
fn bad_tls_settings_fail_at_build() {
    let farm = pki("farm");
    // An http:// pool while TLS is on would be plaintext.
    let err = PoolClient::builder()
        .pools(["http://127.0.0.1:7777"])
        .tls_ca_pem(farm.ca.as_str())
        .build()
        .err()
        .expect("refused");
    assert!(matches!(err, ClientError::PlaintextWithTls { .. }), "{err}");
    // A CA file that holds no certificate (here: a key), and one that does not exist.
    let err = PoolClient::builder()
        .pools(["127.0.0.1"])
        .tls_ca_pem(farm.key.as_str())
        .build()
        .err()
        .expect("refused");
    assert!(matches!(err, ClientError::Tls(_)), "{err}");
    let err = PoolClient::builder()
        .pools(["127.0.0.1"])
        .tls_ca_file("/nonexistent/ca.pem")
        .build()
        .err()
        .expect("refused");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    // https:// alone turns TLS on (system roots); every pool then uses it.
    let client = PoolClient::builder()
        .pools(["https://pool.lan", "10.0.0.2"])
        .build();
    if let Ok(client) = client {
        let pools: Vec<String> = client.pools().iter().map(|p| p.to_string()).collect();
        assert_eq!(pools, ["https://pool.lan:7777", "https://10.0.0.2:7777"]);
    } else if let Err(err) = client {
        // A machine without system root certificates says so.
        assert!(matches!(err, ClientError::Tls(_)), "{err}");
    }

    // The pool refuses a key that does not match its certificate, naming the setting.
    let other = pki("other");
    let err = builder(&devnet(None, NO_BLOCKS), 1)
        .tls_pem(farm.cert.as_str(), other.key.as_str())
        .build()
        .err()
        .expect("refused");
    assert!(
        matches!(err, ServerError::Config { setting: "tls", .. }),
        "{err}"
    );
}
