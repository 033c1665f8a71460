//! The stock `pool-server`'s flags (feature `cli`), each with an environment fallback, for a
//! binary to `#[command(flatten)]`; flags added here reach the binary unchanged. The node
//! backend's flags are `nockpool_nockchain::NodeArgs`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nockpool_core::{ChainError, MiningShare};

use crate::{Devnet, HttpConfig, Limits, PoolServer, PoolServerBuilder, VardiffConfig};

/// What the `pool-server` binary reads for the pool itself (backend-independent).
#[derive(Clone, Debug, clap::Args)]
pub struct ServerArgs {
    /// Farm payout address, ADDR or ADDR:SHARE (v1 address, or a v0 public key, converted);
    /// repeat once to split the coinbase.
    #[arg(
        short = 'p',
        long = "pubkey",
        env = "MINING_PUBKEY",
        value_name = "ADDR[:SHARE]"
    )]
    pub pubkeys: Vec<String>,
    /// Address miners connect to.
    #[arg(
        short = 'a',
        long,
        env = "POOL_SERVER_ADDRESS",
        default_value = crate::DEFAULT_LISTEN
    )]
    pub address: SocketAddr,
    /// Where found blocks, worker totals and the devnet chain are kept.
    #[arg(long, env = "POOL_DATA_DIR", default_value = "./data/pool")]
    pub data_dir: PathBuf,
    /// Farm token miners must present (none: open pool). Prefer POOL_TOKEN: flags are visible
    /// to every user in `ps`.
    #[arg(long, env = "POOL_TOKEN", value_parser = parse_token)]
    pub token: Option<String>,
    /// Seconds between shares each miner should settle at (vardiff).
    #[arg(long, default_value_t = 10, value_parser = at_least_one_u64)]
    pub share_interval: u64,
    /// Share difficulty a new miner starts at when its hello gives no thread count (vardiff).
    #[arg(long, default_value_t = 1024, value_parser = at_least_one_u64)]
    pub start_difficulty: u64,
    /// Hashes per second assumed per miner thread, to pick a new miner's first difficulty from
    /// its thread count (0: always start at --start-difficulty).
    #[arg(long, default_value_t = crate::DEFAULT_PER_THREAD_HASHRATE)]
    pub thread_hashrate: f64,
    /// Share difficulty every miner mines at, with vardiff off (none: vardiff picks each
    /// miner's difficulty). 1 makes every nonce a share (load tests).
    #[arg(long, value_name = "D", value_parser = clap::value_parser!(u64).range(1..))]
    pub fixed_difficulty: Option<u64>,
    /// Most miners connected at once (each takes a file descriptor: the pool raises its soft
    /// limit to the hard one at start; keep the hard limit above this).
    #[arg(long, default_value_t = Limits::default().max_connections,
          value_parser = parse_max_miners)]
    pub max_miners: usize,
    /// Most miners accepted from one IP address (a farm behind NAT may need more).
    #[arg(long, default_value_t = Limits::default().max_connections_per_ip, value_parser = at_least_one_usize)]
    pub max_miners_per_ip: usize,
    /// Most connections from one IP address still in the HTTP/2 handshake; more are closed.
    #[arg(long, default_value_t = Limits::default().max_handshaking_per_ip, value_parser = at_least_one_usize)]
    pub max_handshaking_per_ip: usize,
    /// Seconds a new connection has to complete the HTTP/2 handshake.
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().handshake_timeout.as_secs(), value_parser = at_least_one_u64)]
    pub handshake_timeout: u64,
    /// Seconds a new stream has to send its Hello.
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().hello_timeout.as_secs(), value_parser = at_least_one_u64)]
    pub hello_timeout: u64,
    /// Seconds without a frame from a miner before it is pinged (HTTP/2 keepalive).
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().keepalive_interval.as_secs(), value_parser = at_least_one_u64)]
    pub keepalive_interval: u64,
    /// Seconds a miner has to answer a ping before it is dropped as frozen or unreachable.
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().keepalive_timeout.as_secs(), value_parser = at_least_one_u64)]
    pub keepalive_timeout: u64,
    /// Largest message accepted from a miner, in bytes (at least 1024).
    #[arg(long, default_value_t = Limits::default().max_message_bytes, value_parser = parse_message_bytes)]
    pub max_message_bytes: usize,
    /// Sustained share submissions allowed per connection per second.
    #[arg(long, default_value_t = Limits::default().submits_per_second, value_parser = parse_rate)]
    pub submits_per_second: f64,
    /// Submissions a connection may burst above the sustained rate.
    #[arg(long, default_value_t = Limits::default().submit_burst, value_parser = at_least_one_u32)]
    pub submit_burst: u32,
    /// Most worker names remembered (idle, never-credited names are forgotten first).
    #[arg(long, default_value_t = Limits::default().max_workers, value_parser = at_least_one_usize)]
    pub max_workers: usize,
    /// Invalid shares one connection may send per --ban-window; the next one cuts it and bans
    /// its IP address for --ban-seconds.
    #[arg(long, value_name = "N", default_value_t = Limits::default().ban_invalid_shares, value_parser = at_least_one_u32)]
    pub ban_invalid_shares: u32,
    /// Seconds over which invalid shares are counted.
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().ban_window.as_secs(), value_parser = at_least_one_u64)]
    pub ban_window: u64,
    /// Seconds a banned address is refused.
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().ban_duration.as_secs(), value_parser = at_least_one_u64)]
    pub ban_seconds: u64,
    /// Serve miners over TLS with this PEM certificate chain (leaf first); needs --tls-key.
    /// Plaintext miners are then refused.
    #[arg(long, env = "POOL_TLS_CERT", value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "POOL_TLS_KEY", value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The status API, dashboard and alerts.
    #[command(flatten)]
    pub http: HttpArgs,
    /// The embedded devnet's settings.
    #[command(flatten)]
    pub devnet: DevnetArgs,
}

/// The status API's, dashboard's and alerts' flags.
#[derive(Clone, Debug, clap::Args)]
pub struct HttpArgs {
    /// Address of the status API, /metrics and the web dashboard (0.0.0.0:8080 for the LAN).
    #[arg(long, env = "POOL_HTTP_ADDRESS", default_value = crate::DEFAULT_HTTP_ADDRESS)]
    pub http_address: SocketAddr,
    /// Token the API, /metrics and the dashboard require (Bearer header or ?token=); /health
    /// stays open.
    #[arg(long, env = "POOL_HTTP_TOKEN")]
    pub http_token: Option<String>,
    /// Serve no status API, metrics or dashboard (alerts still go to --alert-webhook).
    #[arg(long)]
    pub no_http: bool,
    /// Seconds without a share before a worker is marked offline [default: 300, or 10 share
    /// intervals when longer].
    #[arg(long, value_name = "SECS")]
    pub offline_after: Option<u64>,
    /// http:// URL that gets a JSON POST per alert: worker offline / back online, found
    /// block, backend down / up.
    #[arg(long, env = "POOL_ALERT_WEBHOOK", value_name = "URL")]
    pub alert_webhook: Option<String>,
}

impl HttpArgs {
    /// The status API's settings (with `--no-http`: alerts only, on no address).
    pub fn config(&self) -> HttpConfig {
        HttpConfig::new(self.http_address)
            .serve(!self.no_http)
            .token(self.http_token.clone().filter(|t| !t.is_empty()))
            .offline_after(self.offline_after.map(|s| Duration::from_secs(s.max(1))))
            .alert_webhook(self.alert_webhook.clone().filter(|u| !u.is_empty()))
    }
}

/// The embedded devnet's flags.
#[derive(Clone, Debug, clap::Args)]
pub struct DevnetArgs {
    /// Devnet: network difficulty of a new chain (a reloaded chain keeps its own).
    #[arg(long, default_value_t = 1 << 16)]
    pub devnet_difficulty: u64,
    /// Devnet: block time difficulty is retargeted toward, in seconds.
    #[arg(long, default_value_t = 30)]
    pub devnet_block_time: u64,
    /// Devnet: simulate another miner finding a block every this many seconds.
    #[arg(long, value_name = "SECS")]
    pub devnet_competitor: Option<u64>,
}

impl ServerArgs {
    /// The `--pubkey` texts given, blank ones (an empty `MINING_PUBKEY=` in `.env`) left out.
    pub fn payee_texts(&self) -> impl Iterator<Item = &str> {
        self.pubkeys
            .iter()
            .map(String::as_str)
            .filter(|p| !p.trim().is_empty())
    }

    /// The limits these flags set (parsing already refused values they cannot mean).
    pub fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_miners,
            max_connections_per_ip: self.max_miners_per_ip,
            max_handshaking_per_ip: self.max_handshaking_per_ip,
            handshake_timeout: Duration::from_secs(self.handshake_timeout),
            hello_timeout: Duration::from_secs(self.hello_timeout),
            keepalive_interval: Duration::from_secs(self.keepalive_interval),
            keepalive_timeout: Duration::from_secs(self.keepalive_timeout),
            max_message_bytes: self.max_message_bytes,
            submits_per_second: self.submits_per_second,
            submit_burst: self.submit_burst,
            max_workers: self.max_workers,
            ban_invalid_shares: self.ban_invalid_shares,
            ban_window: Duration::from_secs(self.ban_window),
            ban_duration: Duration::from_secs(self.ban_seconds),
            ..Limits::default()
        }
    }

    /// A pool builder with these settings; the caller adds the backend and the payees, then
    /// builds (which validates again).
    pub fn builder(&self) -> PoolServerBuilder {
        let builder = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => PoolServer::builder().tls_files(cert, key),
            _ => PoolServer::builder(),
        };
        let builder = builder
            .listen(self.address)
            .data_dir(&self.data_dir)
            .token(self.token.clone())
            .vardiff(VardiffConfig {
                target_share_interval: Duration::from_secs(self.share_interval),
                initial_difficulty: self.start_difficulty,
                per_thread_hashrate: self.thread_hashrate.max(0.0),
                ..VardiffConfig::default()
            })
            .limits(self.limits())
            .http(Some(self.http.config()));
        match self.fixed_difficulty {
            Some(difficulty) => builder.fixed_difficulty(difficulty),
            None => builder,
        }
    }
}

/// The most miners one pool may be told to hold: far above what one process's descriptors allow
/// on common systems, so a typo (an extra zero too many) is caught instead of trusted.
const MAX_MINERS_LIMIT: usize = 1_000_000;

fn parse_max_miners(text: &str) -> Result<usize, String> {
    match at_least_one_usize(text)? {
        n if n <= MAX_MINERS_LIMIT => Ok(n),
        _ => Err(format!(
            "give at least 1 and at most {MAX_MINERS_LIMIT} miners"
        )),
    }
}

/// A count or a number of seconds that means nothing at zero.
fn at_least_one_u64(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("0 is not allowed here: give at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("not a whole number: {e}")),
    }
}

fn at_least_one_u32(text: &str) -> Result<u32, String> {
    at_least_one_u64(text).and_then(|n| u32::try_from(n).map_err(|e| e.to_string()))
}

fn at_least_one_usize(text: &str) -> Result<usize, String> {
    at_least_one_u64(text).and_then(|n| usize::try_from(n).map_err(|e| e.to_string()))
}

/// A message size limit: below 1 KiB no Hello fits.
fn parse_message_bytes(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1024 => Ok(n),
        Ok(_) => Err("give at least 1024 (bytes)".to_owned()),
        Err(e) => Err(format!("not a whole number: {e}")),
    }
}

/// A positive, finite rate.
fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(r) if r > 0.0 && r.is_finite() => Ok(r),
        Ok(_) => Err("give a positive number".to_owned()),
        Err(e) => Err(format!("not a number: {e}")),
    }
}

/// The farm token: never empty (which would silently mean an open pool), no spaces or
/// control characters (it travels in a gRPC header).
fn parse_token(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err(
            "the farm token is empty; give one, or leave out --token and unset \
                    POOL_TOKEN for an open pool"
                .to_owned(),
        );
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the farm token must be printable ASCII without spaces".to_owned());
    }
    Ok(text.to_owned())
}

impl DevnetArgs {
    /// Opens the devnet in `data_dir` with these settings (saying loudly that it is simulated).
    pub fn open(&self, data_dir: &Path) -> Result<Devnet, ChainError> {
        tracing::warn!(
            "backend: devnet, a SIMULATED development chain (not Nockchain); its blocks have no \
             value"
        );
        Devnet::builder()
            .data_dir(data_dir)
            .initial_difficulty(self.devnet_difficulty)
            .block_time(Duration::from_secs(self.devnet_block_time))
            .competitor_interval(self.devnet_competitor.map(Duration::from_secs))
            .open()
    }
}

/// The payees of a devnet run: those given, or else the devnet's development address, whose
/// key nobody holds: generated once per data dir and kept there (the same after a restart),
/// with a loud warning to set `MINING_PUBKEY` before mining anything real.
pub fn devnet_payees(
    payees: Vec<MiningShare>,
    devnet: &Devnet,
) -> Result<Vec<MiningShare>, ChainError> {
    if !payees.is_empty() {
        return Ok(payees);
    }
    let dev = devnet.development_address()?;
    tracing::warn!(
        "!!! no MINING_PUBKEY / --pubkey given: paying the devnet's coinbase to a generated \
         development address {dev} whose key nobody holds (kept in the data dir). Set \
         MINING_PUBKEY before mining anything real. !!!"
    );
    Ok(vec![MiningShare {
        address: dev,
        share: 1,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Server {
        #[command(flatten)]
        args: ServerArgs,
    }

    #[test]
    fn flags_keep_their_names_and_defaults() {
        Server::command().debug_assert();
        let args = Server::try_parse_from([
            "pool-server",
            "-p",
            "9yPePjfWAdUnzaQKyxcRXKRa5PpUzKKEwtpECBZsUYt9Jd7egSDEWoV:3",
            "--pubkey",
            "",
            "-a",
            "127.0.0.1:7000",
            "--max-miners-per-ip",
            "500",
            "--devnet-competitor",
            "5",
        ])
        .unwrap()
        .args;
        assert_eq!(args.payee_texts().count(), 1);
        assert_eq!(args.address, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(args.data_dir, PathBuf::from("./data/pool"));
        assert_eq!((args.share_interval, args.start_difficulty), (10, 1024));
        assert_eq!(args.max_miners_per_ip, 500);
        assert_eq!(args.devnet.devnet_difficulty, 1 << 16);
        assert_eq!(args.devnet.devnet_competitor, Some(5));
        let defaults = Server::try_parse_from(["pool-server"]).unwrap().args;
        assert_eq!(defaults.address, crate::DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(
            defaults.http.http_address,
            "127.0.0.1:8080".parse().unwrap()
        );
        assert!(!defaults.http.no_http && defaults.http.offline_after.is_none());
        let http = Server::try_parse_from([
            "pool-server",
            "--http-address",
            "0.0.0.0:9090",
            "--http-token",
            "t",
            "--no-http",
            "--offline-after",
            "120",
            "--alert-webhook",
            "http://127.0.0.1:1/h",
        ])
        .unwrap()
        .args
        .http;
        assert_eq!(http.http_address, "0.0.0.0:9090".parse().unwrap());
        assert_eq!(http.http_token.as_deref(), Some("t"));
        assert!(http.no_http);
        assert_eq!(http.offline_after, Some(120));
        assert_eq!(http.alert_webhook.as_deref(), Some("http://127.0.0.1:1/h"));
        assert_eq!(defaults.payee_texts().count(), 0);
        assert_eq!(defaults.fixed_difficulty, None);
        assert_eq!(defaults.max_miners, Limits::default().max_connections);
        assert_eq!(defaults.limits(), Limits::default());
    }

    #[test]
    fn every_limit_is_a_flag() {
        let args = Server::try_parse_from([
            "pool-server",
            "--max-miners",
            "20000",
            "--max-handshaking-per-ip",
            "50",
            "--handshake-timeout",
            "5",
            "--hello-timeout",
            "7",
            "--keepalive-interval",
            "15",
            "--keepalive-timeout",
            "9",
            "--max-message-bytes",
            "4096",
            "--submits-per-second",
            "12.5",
            "--submit-burst",
            "30",
            "--max-workers",
            "500",
            "--ban-invalid-shares",
            "40",
            "--ban-window",
            "30",
            "--ban-seconds",
            "120",
        ])
        .unwrap()
        .args;
        let limits = args.limits();
        assert_eq!(
            limits,
            Limits {
                max_connections: 20_000,
                max_handshaking_per_ip: 50,
                handshake_timeout: Duration::from_secs(5),
                hello_timeout: Duration::from_secs(7),
                keepalive_interval: Duration::from_secs(15),
                keepalive_timeout: Duration::from_secs(9),
                max_message_bytes: 4096,
                submits_per_second: 12.5,
                submit_burst: 30,
                max_workers: 500,
                ban_invalid_shares: 40,
                ban_window: Duration::from_secs(30),
                ban_duration: Duration::from_secs(120),
                ..Limits::default()
            }
        );
        limits.validate().unwrap();
    }

    #[test]
    fn zero_and_empty_values_are_refused_with_a_reason() {
        for flag in [
            "--max-miners",
            "--max-miners-per-ip",
            "--max-handshaking-per-ip",
            "--handshake-timeout",
            "--hello-timeout",
            "--keepalive-interval",
            "--keepalive-timeout",
            "--max-message-bytes",
            "--submits-per-second",
            "--submit-burst",
            "--max-workers",
            "--ban-invalid-shares",
            "--ban-window",
            "--ban-seconds",
            "--share-interval",
            "--start-difficulty",
        ] {
            let err = match Server::try_parse_from(["pool-server", flag, "0"]) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("{flag} 0 was taken"),
            };
            assert!(err.contains(flag), "{flag}: {err}");
            assert!(
                err.contains("at least 1") || err.contains("positive"),
                "{flag}: {err}"
            );
        }
        let err = Server::try_parse_from(["pool-server", "--token", ""])
            .err()
            .expect("an empty token was taken")
            .to_string();
        assert!(err.contains("the farm token is empty"), "{err}");
        let err = Server::try_parse_from(["pool-server", "--token", "two words"])
            .err()
            .expect("a token with a space was taken")
            .to_string();
        assert!(err.contains("without spaces"), "{err}");
        let ok = Server::try_parse_from(["pool-server", "--token", "s3cret"]).unwrap();
        assert_eq!(ok.args.token.as_deref(), Some("s3cret"));
    }

    #[test]
    fn fixed_difficulty_and_max_miners_reach_the_builder() {
        let args = Server::try_parse_from([
            "pool-server",
            "--fixed-difficulty",
            "7",
            "--max-miners",
            "12000",
        ])
        .unwrap()
        .args;
        let builder = args.builder();
        assert_eq!(builder.fixed_difficulty, Some(7));
        assert_eq!(builder.limits.max_connections, 12_000);
        for bad in [
            ["--fixed-difficulty", "0"],
            ["--max-miners", "0"],
            ["--max-miners", "10000000"],
        ] {
            let parsed = Server::try_parse_from(["pool-server", bad[0], bad[1]]);
            assert!(parsed.is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn a_devnet_without_payees_pays_a_development_address() {
        let given: MiningShare = "9yPePjfWAdUnzaQKyxcRXKRa5PpUzKKEwtpECBZsUYt9Jd7egSDEWoV"
            .parse()
            .unwrap();
        let devnet = Devnet::builder().open().unwrap();
        assert_eq!(devnet_payees(vec![given], &devnet).unwrap(), vec![given]);
        let [dev] = devnet_payees(Vec::new(), &devnet).unwrap()[..] else {
            panic!("one development payee expected")
        };
        assert_eq!(dev.share, 1);
        assert_ne!(dev.address, given.address);
        assert_eq!(devnet.development_address().unwrap(), dev.address);
    }

    #[test]
    fn tls_needs_both_the_certificate_and_the_key() {
        let parse = |flags: &[&str]| {
            Server::try_parse_from(std::iter::once("pool-server").chain(flags.iter().copied()))
        };
        assert!(parse(&["--tls-cert", "cert.pem"]).is_err());
        assert!(parse(&["--tls-key", "key.pem"]).is_err());
        let args = parse(&["--tls-cert", "cert.pem", "--tls-key", "key.pem"])
            .unwrap()
            .args;
        assert_eq!(args.tls_cert, Some(PathBuf::from("cert.pem")));
        assert_eq!(args.tls_key, Some(PathBuf::from("key.pem")));
    }
}
