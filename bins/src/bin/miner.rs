//! `miner`: mines for a nockpool pool server with the stock V5 engine on N threads.
//!
//! ```text
//! miner 192.168.1.100                  # one pool, port 7777, cores - 1 threads
//! miner 192.168.1.100 10.0.0.2:7000    # primary, then backup (failover in order)
//! miner -t 15 -l debug --worker rack3-node17 --token "$POOL_TOKEN" http://pool.lan:7777
//! ```

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use nockpool_client::PoolClient;
use nockpool_pow::V5Engine;
use tracing::info;

/// Command-line flags (each with an environment fallback; `.env` is read first).
#[derive(Parser, Debug)]
#[command(
    name = "miner",
    version,
    about = "Mine Nockchain for a nockpool pool server (real hashrate in the log)"
)]
struct Args {
    /// Pool address(es): IP, IP:port (default port 7777), host\[:port\] or http:// URL.
    /// Several are tried in order (failover); the miner returns to the first when it is back.
    #[arg(env = "POOL_ADDRESS", value_delimiter = ',')]
    #[cfg_attr(not(feature = "gpu"), arg(required = true))]
    #[cfg_attr(feature = "gpu", arg(required_unless_present = "list_gpus"))]
    pools: Vec<String>,

    /// Mining threads (default: CPU cores - 1, at least 1; 0 with --gpu: GPUs only).
    #[arg(short = 't', long, env = "MINER_THREADS")]
    threads: Option<usize>,

    /// GPU mining (built with the `gpu` feature).
    #[cfg(feature = "gpu")]
    #[command(flatten)]
    gpu: nockpool_bins::gpu::GpuArgs,

    /// Log level or filter (error, warn, info, debug, trace); default RUST_LOG, else info.
    #[arg(short = 'l', long = "log")]
    log: Option<String>,

    /// Worker name shown by the pool (default: this machine's hostname).
    #[arg(long, env = "WORKER_NAME")]
    worker: Option<String>,

    /// Farm token, if the pool requires one.
    #[arg(long, env = "POOL_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// Seconds between hashrate/share summary lines in the log.
    #[arg(long, env = "MINER_REPORT_SECS", default_value_t = 30)]
    report_secs: u64,
}

fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1))
        .unwrap_or(1)
        .max(1)
}

fn hostname() -> String {
    let from_file = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok());
    from_file
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "miner".to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    nockpool_bins::load_dotenv();
    let args = Args::parse();
    nockpool_bins::init_tracing(args.log.as_deref())?;

    #[cfg(feature = "gpu")]
    if args.gpu.list_gpus {
        println!("{}", nockpool_bins::gpu::adapter_list());
        return Ok(());
    }
    let threads = args.threads.unwrap_or_else(default_threads);
    let worker = args.worker.unwrap_or_else(hostname);
    #[allow(unused_mut)]
    let mut builder = PoolClient::builder()
        .pools(&args.pools)
        .worker(&worker)
        .token(args.token)
        .engine(V5Engine::new())
        .threads(threads);
    #[cfg(feature = "gpu")]
    for (name, engine) in nockpool_bins::gpu::open(&args.gpu, threads)
        .context("cannot mine on the GPU(s), and -t 0 leaves no CPU thread")?
    {
        builder = builder.device(name, engine);
    }
    let client = builder.build().context("bad miner settings")?;
    let pools: Vec<String> = client.pools().iter().map(|p| p.to_string()).collect();
    info!(
        "miner {worker} starting: {threads} threads, pools {}",
        pools.join(" then ")
    );

    let handle = client.handle();
    let every = Duration::from_secs(args.report_secs.max(1));
    let reporter = tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tick.tick().await;
            info!("{}", handle.stats());
        }
    });
    let summary = client.handle();
    client.run(nockpool_bins::shutdown_signal()).await?;
    reporter.abort();
    let stats = summary.stats();
    info!(
        "miner stopped after {} hashes: {}",
        stats.total_hashes, stats
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_parse_as_documented() {
        Args::command().debug_assert();
        let args = Args::try_parse_from([
            "miner",
            "192.168.1.100",
            "10.0.0.2:7000",
            "-t",
            "3",
            "-l",
            "debug",
            "--worker",
            "rack3-node17",
        ])
        .unwrap();
        assert_eq!(args.pools, ["192.168.1.100", "10.0.0.2:7000"]);
        assert_eq!(args.threads, Some(3));
        assert_eq!(args.log.as_deref(), Some("debug"));
        assert_eq!(args.worker.as_deref(), Some("rack3-node17"));
        assert_eq!(args.report_secs, 30);
    }

    #[test]
    fn defaults_are_sane() {
        assert!(default_threads() >= 1);
        assert!(!hostname().is_empty());
    }
}
