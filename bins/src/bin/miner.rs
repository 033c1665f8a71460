//! `miner`: mines for a nockpool pool server with the stock V5 engine on N threads.
//!
//! ```text
//! miner 192.168.1.100                  # one pool, port 7777, cores - 1 threads
//! miner 192.168.1.100 10.0.0.2:7000    # primary, then backup (failover in order)
//! miner -t 15 -l debug --worker rack3-node17 --token "$POOL_TOKEN" http://pool.lan:7777
//! miner --bench [--json] [--gpu all]   # nonces/s per kernel and thread count (and GPU), then exit
//! ```
//!
//! The flags live in `nockpool_client::MinerArgs` (and, with the `gpu` feature,
//! `nockpool_bins::gpu::GpuArgs`: `--gpu all|0,1`, `--list-gpus`); this file parses them and
//! runs the client.

use anyhow::Context;
use clap::Parser;
use nockpool_bins::LogArgs;
use nockpool_client::MinerArgs;
use nockpool_pow::V5Engine;
use tracing::info;

/// Command-line flags (each with an environment fallback; `.env` is read first).
#[derive(Parser, Debug)]
#[command(
    name = "miner",
    version,
    about = "Mine Nockchain for a nockpool pool server (real hashrate in the log)"
)]
struct Cli {
    #[command(flatten)]
    miner: MinerArgs,
    #[cfg(feature = "gpu")]
    #[command(flatten)]
    gpu: nockpool_bins::gpu::GpuArgs,
    #[command(flatten)]
    log: LogArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    nockpool_bins::load_dotenv();
    // Before parsing: listing adapters needs no pool address.
    #[cfg(feature = "gpu")]
    if nockpool_bins::gpu::list_requested() {
        println!("{}", nockpool_bins::gpu::adapter_list());
        return Ok(());
    }
    let cli = Cli::parse();
    nockpool_bins::init_tracing(cli.log.level())?;
    nockpool_bins::tune_kernel();

    if cli.miner.bench {
        let config = cli.miner.bench_config();
        #[allow(unused_mut)]
        let mut report = nockpool_pow::bench::run(&config);
        #[cfg(feature = "gpu")]
        nockpool_bins::gpu::bench(&cli.gpu, config.duration, &mut report);
        if cli.miner.json {
            println!("{}", report.to_json());
        } else {
            print!("{report}");
        }
        return Ok(());
    }

    #[allow(unused_mut)]
    let mut builder = cli.miner.builder().engine(V5Engine::new());
    #[cfg(feature = "gpu")]
    {
        let threads = cli
            .miner
            .threads
            .unwrap_or_else(nockpool_client::default_threads);
        for (name, engine) in nockpool_bins::gpu::open(&cli.gpu, threads)
            .context("cannot mine on the GPU(s), and -t 0 leaves no CPU thread")?
        {
            builder = builder.device(name, engine);
        }
    }
    let client = builder.build().context("bad miner settings")?;
    let pools: Vec<String> = client.pools().iter().map(|p| p.to_string()).collect();
    info!(
        "miner {} starting: {} threads, pools {}",
        client.worker(),
        client.threads(),
        pools.join(" then ")
    );
    let summary = client.handle();
    client.run(nockpool_bins::shutdown_signal()).await?;
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
        Cli::command().debug_assert();
        let cli =
            Cli::try_parse_from(["miner", "192.168.1.100", "-t", "3", "-l", "debug"]).unwrap();
        assert_eq!(cli.miner.pools, ["192.168.1.100"]);
        assert_eq!(cli.miner.threads, Some(3));
        assert_eq!(cli.log.level(), Some("debug"));
        let cli = Cli::try_parse_from(["miner", "--bench", "--json", "-l", "warn"]).unwrap();
        assert!(cli.miner.bench && cli.miner.json && cli.miner.pools.is_empty());
    }
}
