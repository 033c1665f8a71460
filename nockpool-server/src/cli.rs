//! The stock `pool-server`'s flags (feature `cli`), each with an environment fallback, for a
//! binary to `#[command(flatten)]`; flags added here reach the binary unchanged. The node
//! backend's flags are `nockpool_nockchain::NodeArgs`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nockpool_core::{ChainError, MiningShare};

use crate::{Devnet, Limits, PoolServer, PoolServerBuilder, VardiffConfig};

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
    /// Serve miners over TLS with this PEM certificate chain (leaf first); needs --tls-key.
    /// Plaintext miners are then refused.
    #[arg(long, env = "POOL_TLS_CERT", value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "POOL_TLS_KEY", value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The embedded devnet's settings.
    #[command(flatten)]
    pub devnet: DevnetArgs,
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
        let builder = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => PoolServer::builder().tls_files(cert, key),
            _ => PoolServer::builder(),
        };
        builder
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
