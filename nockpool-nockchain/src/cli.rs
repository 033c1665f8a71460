//! The stock `pool-server`'s node-backend flags (feature `cli`), each with an environment
//! fallback, for a binary to `#[command(flatten)]`.

use std::path::Path;
use std::time::Duration;

use nockpool_core::{ChainError, MiningShare};

use crate::{CommandProver, NockchainNode, DEFAULT_NODE_GRPC};

/// What `pool-server --backend node` reads about the node and its prover.
#[derive(Clone, Debug, clap::Args)]
pub struct NodeArgs {
    /// Node backend: the Nockchain node's private gRPC address.
    #[arg(long, env = "NODE_GRPC", default_value = DEFAULT_NODE_GRPC)]
    pub node_grpc: String,
    /// Node backend: the prover program run once per found block (stdin: jammed cause,
    /// stdout: jammed submit poke; built from Nockchain's sources).
    #[arg(long, env = "PROVER_CMD", value_name = "COMMAND")]
    pub prover_cmd: Option<String>,
    /// Node backend: seconds one proof may take before it is abandoned.
    #[arg(long, env = "PROVER_TIMEOUT", default_value_t = 240)]
    pub prover_timeout: u64,
    /// Node backend: start and supervise the node with this command line (restarted if it
    /// dies, stopped on shutdown); without it, connect to a node you run.
    #[arg(long, env = "NODE_CMD", value_name = "COMMAND")]
    pub node_cmd: Option<String>,
}

impl NodeArgs {
    /// Starts the node backend (and the node itself with `--node-cmd`), keeping its found
    /// blocks in `data_dir`. `payees` are the farm's addresses (the pool server sets them on the
    /// node): the node mines real blocks, so there must be one. Call
    /// [`NockchainNode::shutdown`] when done.
    pub fn start(
        &self,
        data_dir: &Path,
        payees: &[MiningShare],
    ) -> Result<NockchainNode, ChainError> {
        if payees.is_empty() {
            return Err(ChainError::Config {
                setting: "mining address",
                reason: "the node backend mines real blocks: give the farm's address with \
                         --pubkey / MINING_PUBKEY"
                    .into(),
            });
        }
        let Some(prover_cmd) = self.prover_cmd.as_deref().filter(|c| !c.trim().is_empty()) else {
            return Err(ChainError::Config {
                setting: "prover",
                reason: "the node backend needs --prover-cmd / PROVER_CMD: a program built from \
                         Nockchain's sources that proves a found block (see the README, \"Run \
                         against a real Nockchain node\")"
                    .into(),
            });
        };
        let mut builder = NockchainNode::builder()
            .grpc(self.node_grpc.clone())
            .prover(
                CommandProver::new(prover_cmd)
                    .timeout(Duration::from_secs(self.prover_timeout.max(1))),
            )
            .data_dir(data_dir);
        if let Some(node_cmd) = self.node_cmd.as_deref().filter(|c| !c.trim().is_empty()) {
            builder = builder.supervise(node_cmd);
        }
        tracing::info!("backend: Nockchain node at {}", self.node_grpc);
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Server {
        #[command(flatten)]
        node: NodeArgs,
    }

    #[test]
    fn flags_keep_their_names_and_defaults() {
        Server::command().debug_assert();
        let args = Server::try_parse_from(["pool-server"]).unwrap().node;
        assert_eq!(args.node_grpc, DEFAULT_NODE_GRPC);
        assert_eq!(args.prover_timeout, 240);
        let args = Server::try_parse_from([
            "pool-server",
            "--node-grpc",
            "http://10.0.0.9:5555",
            "--prover-cmd",
            "prove",
            "--node-cmd",
            "nockchain",
        ])
        .unwrap()
        .node;
        assert_eq!(args.node_grpc, "http://10.0.0.9:5555");
        assert_eq!(args.prover_cmd.as_deref(), Some("prove"));
        assert_eq!(args.node_cmd.as_deref(), Some("nockchain"));
    }

    #[tokio::test]
    async fn refuses_to_start_without_a_payee_or_a_prover() {
        let dir = std::env::temp_dir();
        let payee: MiningShare = "9yPePjfWAdUnzaQKyxcRXKRa5PpUzKKEwtpECBZsUYt9Jd7egSDEWoV"
            .parse()
            .unwrap();
        let no_prover = Server::try_parse_from(["pool-server"]).unwrap().node;
        let setting = |r: Result<NockchainNode, ChainError>| match r {
            Err(ChainError::Config { setting, .. }) => setting,
            other => panic!("expected a configuration error, got {:?}", other.err()),
        };
        assert_eq!(setting(no_prover.start(&dir, &[payee])), "prover");
        let blank = Server::try_parse_from(["pool-server", "--prover-cmd", " "])
            .unwrap()
            .node;
        assert_eq!(setting(blank.start(&dir, &[payee])), "prover");
        assert_eq!(setting(blank.start(&dir, &[])), "mining address");
    }
}
