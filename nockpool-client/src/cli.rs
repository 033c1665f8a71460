//! The stock `miner`'s flags (feature `cli`), each with an environment fallback, for a binary
//! to `#[command(flatten)]`; flags added here reach the binary unchanged.

use std::path::PathBuf;
use std::time::Duration;

use crate::{PoolClient, PoolClientBuilder};

/// What the `miner` binary reads from its command line and environment.
#[derive(Clone, Debug, clap::Args)]
pub struct MinerArgs {
    /// Pool address(es): IP, IP:port (default port 7777), host\[:port\] or http(s):// URL.
    /// Several are tried in order (failover); the miner returns to the first when it is back.
    #[arg(required = true, env = "POOL_ADDRESS", value_delimiter = ',')]
    pub pools: Vec<String>,

    /// Mining threads (default: CPU cores - 1, at least 1).
    #[arg(short = 't', long, env = "MINER_THREADS")]
    pub threads: Option<usize>,

    /// Worker name shown by the pool (default: this machine's hostname).
    #[arg(long, env = "WORKER_NAME")]
    pub worker: Option<String>,

    /// Farm token, if the pool requires one.
    #[arg(long, env = "POOL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Connect over TLS, trusting this PEM CA certificate (or the pool's self-signed one).
    #[arg(long, env = "POOL_TLS_CA", value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,

    /// Connect over TLS, trusting the system's root certificates (a pool whose certificate
    /// comes from a public CA). Implied by an https:// pool address.
    #[arg(long, env = "POOL_TLS", conflicts_with = "tls_ca")]
    pub tls: bool,

    /// Seconds between hashrate/share summary lines in the log.
    #[arg(long, env = "MINER_REPORT_SECS", default_value_t = 30)]
    pub report_secs: u64,
}

impl MinerArgs {
    /// A client builder with these settings; the caller adds the engine (default `V5Engine`)
    /// and anything else, then builds (which validates).
    pub fn builder(&self) -> PoolClientBuilder {
        let mut builder = PoolClient::builder()
            .pools(&self.pools)
            .token(self.token.clone())
            .stats_log_interval(Duration::from_secs(self.report_secs.max(1)));
        if let Some(threads) = self.threads {
            builder = builder.threads(threads);
        }
        if let Some(worker) = &self.worker {
            builder = builder.worker(worker);
        }
        if let Some(ca) = &self.tls_ca {
            builder = builder.tls_ca_file(ca);
        } else if self.tls {
            builder = builder.tls_system_roots();
        }
        builder
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Miner {
        #[command(flatten)]
        args: MinerArgs,
    }

    #[test]
    fn flags_parse_as_documented() {
        Miner::command().debug_assert();
        let args = Miner::try_parse_from([
            "miner",
            "192.168.1.100",
            "10.0.0.2:7000",
            "-t",
            "3",
            "--worker",
            "rack3-node17",
        ])
        .unwrap()
        .args;
        assert_eq!(args.pools, ["192.168.1.100", "10.0.0.2:7000"]);
        assert_eq!(args.threads, Some(3));
        assert_eq!(args.worker.as_deref(), Some("rack3-node17"));
        assert_eq!(args.report_secs, 30);
        let client = args.builder().build().unwrap();
        assert_eq!((client.threads(), client.worker()), (3, "rack3-node17"));
        assert_eq!(client.pools().len(), 2);
    }

    #[test]
    fn defaults_come_from_the_library() {
        let args = Miner::try_parse_from(["miner", "10.0.0.1"]).unwrap().args;
        let client = args.builder().build().unwrap();
        assert_eq!(client.threads(), crate::default_threads());
        assert_eq!(client.worker(), crate::default_worker_name());
    }
}
