//! `pool-server`: the farm's pool server. Flags (and `.env`) → `PoolServer` → run until ctrl-c.
//!
//! The flags live in the libraries (`nockpool_server::ServerArgs`, `nockpool_nockchain::NodeArgs`);
//! this file parses them, picks the chain backend and runs the server.

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use nockpool_bins::LogArgs;
use nockpool_core::{ChainBackend, MiningShare};
use nockpool_nockchain::{NockchainNode, NodeArgs};
use nockpool_server::{devnet_payees, ServerArgs};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// The embedded development chain (simulated; not Nockchain).
    Devnet,
    /// A Nockchain node.
    Node,
}

/// nockpool pool server: hands out work to the farm's miners and submits found blocks.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    log: LogArgs,
    /// Chain backend.
    #[arg(long, value_enum, default_value = "devnet")]
    backend: Backend,
    #[command(flatten)]
    node: NodeArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    nockpool_bins::load_dotenv();
    let cli = Cli::parse();
    nockpool_bins::init_tracing(cli.log.level())?;
    // Each miner holds a descriptor; the usual default soft limit (1,024) is far too low.
    match nockpool_server::raise_descriptor_limit() {
        Ok(limit) if limit.now > limit.before => tracing::info!(
            "open-file limit raised from {} to {} (the hard limit)",
            limit.before,
            limit.now
        ),
        Ok(limit) => tracing::info!("open-file limit: {}", limit.now),
        Err(e) => tracing::warn!("could not raise the open-file limit: {e}"),
    }
    // Share checks hash on this process's fastest kernel.
    nockpool_bins::tune_kernel();

    let mut payees = cli
        .server
        .payee_texts()
        .map(|text| {
            nockpool_wallet::parse_mining_share(text)
                .with_context(|| format!("--pubkey {text:?} is not a Nockchain address[:SHARE]"))
        })
        .collect::<anyhow::Result<Vec<MiningShare>>>()?;
    let data_dir = &cli.server.data_dir;
    let (backend, node): (Arc<dyn ChainBackend>, Option<Arc<NockchainNode>>) = match cli.backend {
        Backend::Devnet => {
            let devnet = cli.server.devnet.open(data_dir);
            let devnet = devnet.context("cannot open the devnet")?;
            payees = devnet_payees(payees, &devnet)
                .context("cannot read or keep the devnet's development address")?;
            (Arc::new(devnet), None)
        }
        Backend::Node => {
            let node = cli.node.start(data_dir, &payees);
            let node = Arc::new(node.context("cannot start the node backend")?);
            (node.clone(), Some(node))
        }
    };
    let builder = payees
        .into_iter()
        .fold(cli.server.builder().backend(backend), |b, payee| {
            b.mining_address(payee)
        });
    let result = match builder.build() {
        Ok(server) => server.run(nockpool_bins::shutdown_signal()).await,
        Err(e) => Err(e),
    };
    // Also stops a node started with --node-cmd.
    if let Some(node) = node {
        node.shutdown().await;
    }
    result?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_parse_as_documented() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["pool-server", "--backend", "node", "-l", "debug"]).unwrap();
        assert_eq!(cli.backend, Backend::Node);
        assert_eq!(cli.log.level(), Some("debug"));
    }
}
