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
    /// Farm token miners must present (none: open pool).
    #[arg(long, env = "POOL_TOKEN")]
    pub token: Option<String>,
    /// Seconds between shares each miner should settle at (vardiff).
    #[arg(long, default_value_t = 10)]
    pub share_interval: u64,
    /// Share difficulty a new miner starts at when its hello gives no thread count (vardiff).
    #[arg(long, default_value_t = 1024)]
    pub start_difficulty: u64,
    /// Hashes per second assumed per miner thread, to pick a new miner's first difficulty from
    /// its thread count (0: always start at --start-difficulty).
    #[arg(long, default_value_t = crate::DEFAULT_PER_THREAD_HASHRATE)]
    pub thread_hashrate: f64,
    /// Most miners accepted from one IP address (a farm behind NAT may need more).
    #[arg(long, default_value_t = Limits::default().max_connections_per_ip)]
    pub max_miners_per_ip: usize,
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

    /// A pool builder with these settings; the caller adds the backend and the payees, then
    /// builds (which validates). Values the flags cannot mean (a zero interval) are raised
    /// to the smallest that works.
    pub fn builder(&self) -> PoolServerBuilder {
        PoolServer::builder()
            .listen(self.address)
            .data_dir(&self.data_dir)
            .token(self.token.clone().filter(|t| !t.is_empty()))
            .vardiff(VardiffConfig {
                target_share_interval: Duration::from_secs(self.share_interval.max(1)),
                initial_difficulty: self.start_difficulty.max(1),
                per_thread_hashrate: self.thread_hashrate.max(0.0),
                ..VardiffConfig::default()
            })
            .limits(Limits {
                max_connections_per_ip: self.max_miners_per_ip.max(1),
                ..Limits::default()
            })
            .http(Some(self.http.config()))
    }
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
}
