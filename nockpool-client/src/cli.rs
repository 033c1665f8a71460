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
    #[arg(
        required_unless_present = "bench",
        env = "POOL_ADDRESS",
        value_delimiter = ','
    )]
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

    /// Measure this machine instead of mining: v5 nonce attempts per second for every kernel
    /// the CPU supports, on 1, 2, 4, … threads up to --threads (default: every core), printed
    /// as a table; then exit. No pool is needed.
    #[arg(long)]
    pub bench: bool,

    /// With --bench: print the results as one JSON object instead of a table.
    #[arg(long, requires = "bench")]
    pub json: bool,

    /// With --bench: seconds to time each kernel and thread count.
    #[arg(long, requires = "bench", default_value_t = 1.0, value_parser = positive_seconds)]
    pub bench_secs: f64,
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= 3600.0 => Ok(secs),
        _ => Err(format!(
            "{text:?} is not a number of seconds from 0 to 3600"
        )),
    }
}

impl MinerArgs {
    /// What `--bench` measures: every supported kernel, on 1, 2, 4, … threads up to
    /// `--threads` (default: every core), `--bench-secs` per point.
    pub fn bench_config(&self) -> nockpool_pow::bench::BenchConfig {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        nockpool_pow::bench::BenchConfig::new()
            .up_to_threads(self.threads.unwrap_or(cores))
            .duration(Duration::from_secs_f64(self.bench_secs))
    }

    /// A client builder with these settings; the caller adds the engine (default `V5Engine`)
    /// and anything else, then builds (which validates).
    pub fn builder(&self) -> PoolClientBuilder {
        let mut builder = PoolClient::builder()
            .pools(&self.pools)
            .token(self.token.clone())
            .stats_log_interval(Duration::from_secs(self.report_secs.max(1)))
            // A person watching: one line kept current; a log file or journal: log lines.
            .stats_on_terminal(std::io::IsTerminal::is_terminal(&std::io::stdout()));
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
    fn bench_needs_no_pool_and_its_options_need_bench() {
        let args = Miner::try_parse_from([
            "miner",
            "--bench",
            "--json",
            "-t",
            "2",
            "--bench-secs",
            "0.5",
        ])
        .unwrap()
        .args;
        assert!(args.bench && args.json && args.pools.is_empty());
        let config = args.bench_config();
        assert_eq!(config.threads, [1, 2]);
        assert_eq!(config.duration, Duration::from_millis(500));
        assert!(config
            .kernels
            .contains(&nockpool_pow::kernel::Kernel::Portable));
        let args = Miner::try_parse_from(["miner", "--bench"]).unwrap().args;
        assert!(args.bench && !args.json);
        assert_eq!(args.bench_config().duration, Duration::from_secs(1));
        for bad in [
            &["miner", "10.0.0.1", "--json"][..],
            &["miner", "10.0.0.1", "--bench-secs", "2"],
            &["miner", "--bench", "--bench-secs", "0"],
            &["miner", "--bench", "--bench-secs", "nan"],
        ] {
            assert!(Miner::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn defaults_come_from_the_library() {
        let args = Miner::try_parse_from(["miner", "10.0.0.1"]).unwrap().args;
        let client = args.builder().build().unwrap();
        assert_eq!(client.threads(), crate::default_threads());
        assert_eq!(client.worker(), crate::default_worker_name());
    }
}
