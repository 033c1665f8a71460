//! `pool-server`: the farm's pool server. Flags (and `.env`) → `PoolServer` → run until ctrl-c.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use nockpool_core::{Digest, MiningShare, PubkeyHash, P};
use nockpool_nockchain::{CommandProver, NockchainNode, NodeSupervisor, DEFAULT_NODE_GRPC};
use nockpool_server::{ChainBackend, Devnet, Limits, PoolServer, VardiffConfig};

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
struct Args {
    /// Farm payout address, ADDR or ADDR:SHARE (v1 address, or a v0 public key, converted);
    /// repeat once to split the coinbase.
    #[arg(
        short = 'p',
        long = "pubkey",
        env = "MINING_PUBKEY",
        value_name = "ADDR[:SHARE]"
    )]
    pubkeys: Vec<String>,
    /// Address miners connect to.
    #[arg(
        short = 'a',
        long,
        env = "POOL_SERVER_ADDRESS",
        default_value = "0.0.0.0:7777"
    )]
    address: SocketAddr,
    /// Log filter (e.g. info, debug, info,nockpool_server=debug); default: RUST_LOG, else info.
    #[arg(short = 'l', long = "log")]
    log: Option<String>,
    /// Where found blocks, worker totals and the devnet chain are kept.
    #[arg(long, env = "POOL_DATA_DIR", default_value = "./data/pool")]
    data_dir: PathBuf,
    /// Farm token miners must present (none: open pool).
    #[arg(long, env = "POOL_TOKEN")]
    token: Option<String>,
    /// Chain backend.
    #[arg(long, value_enum, default_value = "devnet")]
    backend: Backend,
    /// Node backend: the Nockchain node's private gRPC address.
    #[arg(long, env = "NODE_GRPC", default_value = DEFAULT_NODE_GRPC)]
    node_grpc: String,
    /// Node backend: the prover program run once per found block (stdin: jammed cause,
    /// stdout: jammed submit poke; built from Nockchain's sources).
    #[arg(long, env = "PROVER_CMD", value_name = "COMMAND")]
    prover_cmd: Option<String>,
    /// Node backend: seconds one proof may take before it is abandoned.
    #[arg(long, env = "PROVER_TIMEOUT", default_value_t = 240)]
    prover_timeout: u64,
    /// Node backend: start and supervise the node with this command line (restarted if it
    /// dies, stopped on shutdown); without it, connect to a node you run.
    #[arg(long, env = "NODE_CMD", value_name = "COMMAND")]
    node_cmd: Option<String>,
    /// Devnet: network difficulty of a new chain (a reloaded chain keeps its own).
    #[arg(long, default_value_t = 1 << 16)]
    devnet_difficulty: u64,
    /// Devnet: block time difficulty is retargeted toward, in seconds.
    #[arg(long, default_value_t = 30)]
    devnet_block_time: u64,
    /// Devnet: simulate another miner finding a block every this many seconds.
    #[arg(long, value_name = "SECS")]
    devnet_competitor: Option<u64>,
    /// Seconds between shares each miner should settle at (vardiff).
    #[arg(long, default_value_t = 10)]
    share_interval: u64,
    /// Share difficulty a new miner starts at when its hello gives no thread count (vardiff).
    #[arg(long, default_value_t = 1024)]
    start_difficulty: u64,
    /// Hashes per second assumed per miner thread, to pick a new miner's first difficulty from
    /// its thread count (0: always start at --start-difficulty).
    #[arg(long, default_value_t = nockpool_server::DEFAULT_PER_THREAD_HASHRATE)]
    thread_hashrate: f64,
    /// Most miners accepted from one IP address (a farm behind NAT may need more).
    #[arg(long, default_value_t = Limits::default().max_connections_per_ip)]
    max_miners_per_ip: usize,
}

fn parse_share(text: &str) -> anyhow::Result<MiningShare> {
    MiningShare::parse_with(text, |addr| {
        nockpool_wallet::parse_mining_address(addr).map_err(anyhow::Error::from)
    })
    .with_context(|| format!("--pubkey {text:?} is not a Nockchain address[:SHARE]"))
}

fn development_address() -> PubkeyHash {
    let limbs: [u64; 5] = std::array::from_fn(|_| rand::random::<u64>() % P);
    PubkeyHash::from_digest(Digest::new(limbs).unwrap_or_default())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    nockpool_bins::load_dotenv();
    let args = Args::parse();
    nockpool_bins::init_tracing(args.log.as_deref())?;

    let mut payees = args
        .pubkeys
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| parse_share(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if payees.len() > 2 {
        bail!(
            "at most two --pubkey addresses may split the coinbase ({} given)",
            payees.len()
        );
    }
    let mut supervisor = None;
    let backend: Arc<dyn ChainBackend> = match args.backend {
        Backend::Devnet => {
            if payees.is_empty() {
                let dev = development_address();
                tracing::warn!("!!! no MINING_PUBKEY / --pubkey given: paying the devnet's coinbase to a generated development address {dev} whose key nobody holds. Set MINING_PUBKEY before mining anything real. !!!");
                payees.push(MiningShare {
                    address: dev,
                    share: 1,
                });
            }
            tracing::warn!("backend: devnet, a SIMULATED development chain (not Nockchain); its blocks have no value");
            let devnet = Devnet::builder()
                .data_dir(&args.data_dir)
                .initial_difficulty(args.devnet_difficulty)
                .block_time(Duration::from_secs(args.devnet_block_time))
                .competitor_interval(args.devnet_competitor.map(Duration::from_secs))
                .open()
                .context("cannot open the devnet")?;
            Arc::new(devnet)
        }
        Backend::Node => {
            if payees.is_empty() {
                bail!("the node backend mines real blocks: give the farm's address with --pubkey / MINING_PUBKEY");
            }
            let Some(prover_cmd) = args.prover_cmd.filter(|c| !c.trim().is_empty()) else {
                bail!("the node backend needs --prover-cmd / PROVER_CMD: a program built from Nockchain's sources that proves a found block (see the README, \"Run against a real Nockchain node\")");
            };
            if let Some(node_cmd) = args.node_cmd.filter(|c| !c.trim().is_empty()) {
                supervisor = Some(NodeSupervisor::spawn(node_cmd));
            }
            tracing::info!("backend: Nockchain node at {}", args.node_grpc);
            let node = NockchainNode::builder()
                .grpc(args.node_grpc.clone())
                .prover(
                    CommandProver::new(prover_cmd)
                        .timeout(Duration::from_secs(args.prover_timeout.max(1))),
                )
                .data_dir(&args.data_dir)
                .build()
                .context("cannot start the node backend")?;
            Arc::new(node)
        }
    };
    let mut builder = PoolServer::builder()
        .listen(args.address)
        .backend(backend)
        .data_dir(&args.data_dir)
        .token(args.token.filter(|t| !t.is_empty()))
        .vardiff(VardiffConfig {
            target_share_interval: Duration::from_secs(args.share_interval.max(1)),
            initial_difficulty: args.start_difficulty.max(1),
            per_thread_hashrate: args.thread_hashrate.max(0.0),
            ..VardiffConfig::default()
        });
    builder = builder.limits(Limits {
        max_connections_per_ip: args.max_miners_per_ip.max(1),
        ..Limits::default()
    });
    for payee in payees {
        builder = builder.mining_address(payee);
    }
    let result = match builder.build() {
        Ok(server) => server.run(nockpool_bins::shutdown_signal()).await,
        Err(e) => Err(e),
    };
    if let Some(supervisor) = supervisor {
        supervisor.stop().await;
    }
    result?;
    Ok(())
}
