//! The chain side of a pool: where block templates come from and where found blocks go
//! (feature `chain`). The pool server consumes a [`ChainBackend`]; `nockpool-server`'s devnet and
//! `nockpool-nockchain`'s node backend implement it.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use thiserror::Error;
use tokio::sync::watch;

use crate::{Digest, MiningShare, Nonce, Target};

/// A block candidate to mine on, as handed out by the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockTemplate {
    /// The block commitment (the puzzle's "header"), 5 belts.
    pub commitment: Digest,
    /// The network target a digest must meet for a block.
    pub network_target: Target,
    /// Height of the block being mined.
    pub height: u64,
    /// Proof version of the candidate (5 for the Tip5 lottery).
    pub version: u64,
    /// Puzzle length (`pow-len`; 64 on mainnet).
    pub pow_len: u64,
    /// When the backend produced this template.
    pub created_at: SystemTime,
}

/// The backend's stream of templates: a watch channel, so the newest template always wins and a
/// slow reader never sees an outdated one. `None` until the first template arrives.
pub type TemplateStream = watch::Receiver<Option<BlockTemplate>>;

/// A share that also met the network target, persisted by the pool before it is submitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundBlock {
    /// The template the nonce was found for.
    pub template: BlockTemplate,
    /// The winning nonce.
    pub nonce: Nonce,
    /// The proof-of-work digest the pool recomputed for it.
    pub digest: Digest,
    /// The worker that found it.
    pub worker: String,
    /// When the pool accepted the share.
    pub found_at: SystemTime,
}

/// What became of a submitted block. Exhaustive on purpose: whoever stores or reports an
/// outcome must handle every one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockOutcome {
    /// The chain accepted the block.
    Accepted {
        /// The block's id as the chain names it (base58), when known.
        block_id: Option<String>,
    },
    /// The chain refused the block.
    Rejected {
        /// Why, in the chain's words.
        reason: String,
    },
    /// The block's parent is no longer the tip (or its candidate was superseded).
    Stale,
}

/// A snapshot of the backend for logs and the status API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainStatus {
    /// Which backend this is (`"devnet"`, `"node"`).
    pub backend: String,
    /// Whether the backend currently has a live connection to its chain.
    pub connected: bool,
    /// The chain's software version, when known.
    pub version: Option<String>,
    /// Height of the chain tip, when known.
    pub height: Option<u64>,
    /// Whether the chain considers itself synced.
    pub synced: bool,
    /// Number of peers, when known.
    pub peers: Option<u32>,
    /// When the newest template arrived.
    pub last_template_at: Option<SystemTime>,
    /// Found blocks being proved right now.
    pub proofs_in_flight: u32,
    /// Human-readable warnings (e.g. an unsupported proof version).
    pub warnings: Vec<String>,
}

/// Errors from a chain backend.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The chain cannot be reached right now (no answer, a timeout, a lost connection); the
    /// caller retries later.
    #[error("chain unavailable: {operation}: {reason}")]
    Unavailable {
        /// What was being asked of the chain (e.g. `peek [%heavy ~]`).
        operation: String,
        /// What went wrong.
        reason: String,
    },
    /// A setting of the backend is unusable; fix it and restart.
    #[error("chain backend misconfigured: {setting}: {reason}")]
    Config {
        /// Which setting (e.g. `prover`, `mining address`, `pow_len`).
        setting: &'static str,
        /// What is wrong with it, and what to do.
        reason: String,
    },
    /// The chain cannot serve this pool at all (e.g. a node release without the API the pool
    /// needs); upgrade it.
    #[error("the chain cannot serve this pool: {reason}")]
    Unsupported {
        /// Why, and what to do.
        reason: String,
    },
    /// The chain answered with something the backend cannot use.
    #[error("unexpected answer from the chain to {operation}: {reason}")]
    Protocol {
        /// What was asked.
        operation: String,
        /// What was wrong with the answer.
        reason: String,
    },
    /// The backend's local storage failed.
    #[error("chain backend storage: cannot {operation}: {source}")]
    Storage {
        /// What was being done (e.g. `open the devnet database`).
        operation: &'static str,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The backend has shut down.
    #[error("chain backend has shut down")]
    Closed,
}

impl ChainError {
    /// A [`ChainError::Storage`] for `operation` caused by `source`.
    pub fn storage(
        operation: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> ChainError {
        ChainError::Storage {
            operation,
            source: source.into(),
        }
    }

    /// Whether retrying later may help (the chain was unreachable), as opposed to a setting, a
    /// chain or a local failure that needs someone to act.
    pub fn is_transient(&self) -> bool {
        matches!(self, ChainError::Unavailable { .. })
    }

    /// Whether the pool should refuse to start on this error: the backend cannot work as
    /// configured ([`Config`](ChainError::Config), [`Unsupported`](ChainError::Unsupported)).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            ChainError::Config { .. } | ChainError::Unsupported { .. }
        )
    }
}

/// Where block templates come from and where found blocks go: the embedded devnet or a
/// Nockchain node.
#[async_trait]
pub trait ChainBackend: Send + Sync + 'static {
    /// Subscribes to block templates; the newest one always wins.
    async fn templates(&self) -> Result<TemplateStream, ChainError>;
    /// Submits a found block (proving it first where the chain needs a proof) and reports what
    /// the chain made of it.
    async fn submit_block(&self, block: FoundBlock) -> Result<BlockOutcome, ChainError>;
    /// A status snapshot.
    async fn status(&self) -> Result<ChainStatus, ChainError>;
    /// Tells the backend who the farm's coinbase pays (1–2 entries, called by the pool server
    /// before it asks for templates, and again after errors). The default ignores it, for
    /// backends whose chain is configured elsewhere.
    async fn set_mining_addresses(&self, shares: &[MiningShare]) -> Result<(), ChainError> {
        let _ = shares;
        Ok(())
    }
}

#[async_trait]
impl<T: ChainBackend + ?Sized> ChainBackend for Arc<T> {
    async fn templates(&self) -> Result<TemplateStream, ChainError> {
        (**self).templates().await
    }
    async fn submit_block(&self, block: FoundBlock) -> Result<BlockOutcome, ChainError> {
        (**self).submit_block(block).await
    }
    async fn status(&self) -> Result<ChainStatus, ChainError> {
        (**self).status().await
    }
    async fn set_mining_addresses(&self, shares: &[MiningShare]) -> Result<(), ChainError> {
        (**self).set_mining_addresses(shares).await
    }
}
