//! [`NockchainNode`]: a [`ChainBackend`] that drives a running Nockchain node over the node's
//! private gRPC API (`nockchain.private.v1.NockAppService`, `nockchain-node.md` §2–§3).
//!
//! The mining loop, per connection: `Peek [%heavy ~]` (alive?) → `WatchEffects` (the probe:
//! a 2025 node without it is refused before it is sent anything) → `Peek [%heavy-summary ~]`
//! (whose keys does the node pay now?) → validated `set-mining-key-advanced` poke →
//! `enable-mining %.y` poke → every `%mine-zk` effect becomes the newest [`BlockTemplate`].
//! A lost connection is retried with backoff and the whole sequence redone. Found blocks are
//! persisted, proved by a [`BlockProver`], checked, poked as `[%command %pow %dumb-zkpow …]`
//! and confirmed through effects and peeks.
//!
//! # The mining key is node-wide
//! The node keeps one coinbase split and one mining flag for everyone who mines through it, and
//! a key poke only stores the new split: the candidate the node already holds keeps the split
//! it was built with until the node builds a candidate on a new tip (upstream `inner.hoon`
//! `++do-set-mining-key-advanced`, `lib/miner.hoon` `++heard-new-block`). So when the node paid
//! other keys before our poke, the pool hands out no work until the first candidate on a new
//! tip, and says so in the log and in its status. Every miner sharing a node must use the same
//! payout key, and the pool never sends `enable-mining %.n` (it would stop the others).
//!
//! # Telling our refused block from a peer's
//! The node emits `%liar-block-id` for any bad block it hears. The pool recomputes the ids its
//! block may have ([`possible_block_ids`](crate::possible_block_ids); the exact %5 rule is
//! unconfirmed, see there) and takes a refusal as its own only on a match; otherwise it keeps
//! waiting for the page at its height.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use nockpool_core::noun::{cue, jam, Noun};
use nockpool_core::{
    Backoff, BlockOutcome, BlockTemplate, ChainBackend, ChainError, ChainStatus, Digest,
    FoundBlock, MiningShare, TemplateStream,
};
use tokio::sync::{broadcast, watch};

use crate::nouns::{self, Candidate, Effect};
use crate::possible_block_ids;
use crate::store::{self, Stage, Submission, SubmissionStore};
use crate::{BlockProver, NodeClient, NodeError, ProofOutcome, ProofRequest, DEFAULT_NODE_GRPC};

/// The only proof version whose shares the pool can re-check natively (a Tip5 digest).
pub const NATIVE_PROOF_VERSION: u64 = 5;

/// Effect heads the pool subscribes to: candidates (and the 2025 `%mine` form, to say clearly
/// that it is unsupported), and the node's verdicts on blocks.
const EFFECT_HEADS: [&str; 4] = ["mine-zk", "mine", "liar-block-id", "seen"];

/// How many recent candidates are remembered (to prove a block found on a candidate that was
/// current when its share arrived).
const RECENT_CANDIDATES: usize = 8;

/// Proof attempts per found block when the prover fails in a retryable way.
const PROOF_ATTEMPTS: u32 = 2;

/// Poke attempts per found block while the node is unreachable (then the pool server retries).
const POKE_ATTEMPTS: u32 = 5;

/// Messages on the effect stream that do not decode, with none that does, before the pool
/// calls it a layout mismatch (a real effect is never empty and always a jam).
const LAYOUT_SUSPECT_AFTER: u64 = 3;

/// How often a repeated problem is logged again (the status carries it all along).
const LOG_AGAIN_AFTER: Duration = Duration::from_secs(600);

/// Builds a [`NockchainNode`].
#[derive(Clone)]
pub struct NockchainNodeBuilder {
    grpc: String,
    shares: Vec<MiningShare>,
    prover: Option<Arc<dyn BlockProver>>,
    data_dir: Option<PathBuf>,
    connect_timeout: Duration,
    request_timeout: Duration,
    submit_timeout: Duration,
    confirm_timeout: Duration,
    backoff_initial: Duration,
    backoff_max: Duration,
    v0_passthrough: bool,
    max_concurrent_proofs: usize,
    supervise: Option<String>,
}

impl std::fmt::Debug for NockchainNodeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NockchainNodeBuilder")
            .field("grpc", &self.grpc)
            .field("shares", &self.shares)
            .field("prover", &self.prover.is_some())
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl Default for NockchainNodeBuilder {
    fn default() -> Self {
        NockchainNodeBuilder {
            grpc: DEFAULT_NODE_GRPC.into(),
            shares: Vec::new(),
            prover: None,
            data_dir: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            submit_timeout: Duration::from_secs(120),
            confirm_timeout: Duration::from_secs(60),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            v0_passthrough: true,
            max_concurrent_proofs: 2,
            supervise: None,
        }
    }
}

impl NockchainNodeBuilder {
    /// The node's private gRPC address (default [`DEFAULT_NODE_GRPC`]).
    pub fn grpc(mut self, addr: impl Into<String>) -> Self {
        self.grpc = addr.into();
        self
    }

    /// Adds a coinbase recipient (at most two). Optional: the pool server passes its own
    /// through [`ChainBackend::set_mining_addresses`], which replaces these.
    pub fn mining_share(mut self, share: MiningShare) -> Self {
        self.shares.push(share);
        self
    }

    /// The prover for found blocks (required), e.g. a [`CommandProver`](crate::CommandProver).
    pub fn prover(mut self, prover: impl BlockProver) -> Self {
        self.prover = Some(Arc::new(prover));
        self
    }

    /// Where found blocks are persisted (`<dir>/nockchain-node.redb`). Without one they are
    /// kept in memory only (the pool server still persists its own record of each block).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// TCP connect timeout (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Timeout of one peek or configuration poke (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Timeout of the block poke, during which the node verifies the proof (default 120 s).
    pub fn submit_timeout(mut self, timeout: Duration) -> Self {
        self.submit_timeout = timeout;
        self
    }

    /// How long to wait for the node's verdict on a submitted block (default 60 s).
    pub fn confirm_timeout(mut self, timeout: Duration) -> Self {
        self.confirm_timeout = timeout;
        self
    }

    /// Reconnect backoff: first delay and cap (default 500 ms, doubling up to 30 s, with
    /// jitter; see [`Backoff`]).
    pub fn reconnect_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max.max(initial);
        self
    }

    /// Whether the key poke carries Nockchain's v0 pass-through entry (default yes; see
    /// `nockchain-node.md` §3.4: a node that requires a v0 entry exits without one, and the
    /// entry is harmless on newer nodes).
    pub fn v0_passthrough(mut self, yes: bool) -> Self {
        self.v0_passthrough = yes;
        self
    }

    /// How many found blocks may be proved at once (default 2; each proof takes a CPU core and
    /// gigabytes of memory). Others wait, and are dropped as stale if their candidate is
    /// superseded meanwhile.
    pub fn max_concurrent_proofs(mut self, n: usize) -> Self {
        self.max_concurrent_proofs = n.max(1);
        self
    }

    /// Also runs the node itself: `command` (a shell command line, e.g. `nockchain --bind …`)
    /// under a [`NodeSupervisor`](crate::NodeSupervisor) started by [`build`](Self::build) and
    /// stopped by [`NockchainNode::shutdown`] (`--node-cmd`). Without it, the backend connects
    /// to a node run by someone else.
    pub fn supervise(mut self, command: impl Into<String>) -> Self {
        self.supervise = Some(command.into());
        self
    }

    /// Validates the configuration, opens the block store and starts the mining loop (call
    /// inside a Tokio runtime). The loop connects in the background; see
    /// [`NockchainNode::wait_ready`].
    pub fn build(self) -> Result<NockchainNode, ChainError> {
        let prover = self.prover.clone().ok_or_else(|| ChainError::Config {
            setting: "prover",
            reason: "the node backend needs a block prover (--prover-cmd): a found block \
                         must carry a STARK proof made by Nockchain's prover"
                .into(),
        })?;
        if !self.shares.is_empty() {
            nouns::validate_shares(&self.shares).map_err(bad_shares)?;
        }
        let client = NodeClient::lazy(&self.grpc, self.connect_timeout)?
            .with_request_timeout(self.request_timeout);
        let store = SubmissionStore::open(self.data_dir.as_deref())?;
        let unfinished = store
            .all()?
            .into_iter()
            .filter(|s| s.stage != Stage::Done)
            .count();
        if unfinished > 0 {
            tracing::warn!(
                "{unfinished} found block(s) from an earlier run were not confirmed; the pool \
                 server resubmits them (stale ones are recorded as stale)"
            );
        }
        let (templates, _) = watch::channel(None);
        let (current, _) = watch::channel(None);
        let (shares, _) = watch::channel(self.shares.clone());
        let (probe, _) = watch::channel(Probe::Unknown);
        let (signals, _) = broadcast::channel(256);
        let (stop, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            client,
            prover,
            store,
            templates,
            current,
            shares,
            probe,
            signals,
            stop,
            recent: Mutex::new(VecDeque::new()),
            state: Mutex::new(State::default()),
            proofs_in_flight: AtomicU32::new(0),
            proof_slots: tokio::sync::Semaphore::new(self.max_concurrent_proofs),
            config: self,
        });
        // Last, once nothing can fail: a node started here is stopped by `shutdown`.
        let supervisor = inner
            .config
            .supervise
            .clone()
            .map(crate::NodeSupervisor::spawn);
        let task = tokio::spawn(mining_loop(inner.clone()));
        Ok(NockchainNode {
            inner,
            task: Mutex::new(Some(task)),
            supervisor: Mutex::new(supervisor),
        })
    }
}

/// A [`ChainBackend`] backed by a running Nockchain node (see the module docs).
///
/// ```no_run
/// use nockpool_nockchain::{CommandProver, NockchainNode};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let node = NockchainNode::builder()
///     .grpc("http://127.0.0.1:5555")
///     .mining_share("9yPePjfWAdUnzaQKyxcRXKRa5PpUzKKEwtpECBZsUYt9Jd7egSDEWoV".parse()?)
///     .prover(CommandProver::new("/opt/nockchain/bin/nock-prover"))
///     .data_dir("./data/pool")
///     .build()?;
/// node.wait_ready(std::time::Duration::from_secs(30)).await?;
/// # Ok(())
/// # }
/// ```
pub struct NockchainNode {
    inner: Arc<Inner>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    supervisor: Mutex<Option<crate::NodeSupervisor>>,
}

impl std::fmt::Debug for NockchainNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NockchainNode")
            .field("grpc", &self.inner.config.grpc)
            .finish_non_exhaustive()
    }
}

/// What the first contact with the node showed.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Probe {
    Unknown,
    Ready,
    Unreachable(String),
    Unsupported(String),
}

#[derive(Default)]
struct State {
    connected: bool,
    tip_height: Option<u64>,
    last_candidate_at: Option<SystemTime>,
    candidate_version: Option<u64>,
    warnings: Vec<String>,
    malformed_effects: u64,
    /// Set while the node's candidates may predate our mining key.
    key_gate: Option<KeyGate>,
    /// What this connection's effect stream delivered.
    stream: StreamCounts,
    throttle: Throttle,
}

/// Candidates are held back until one arrives on a tip other than `tip`.
#[derive(Clone, Debug, Default)]
struct KeyGate {
    /// The tip when our key was set (`None`: not read yet; the first read sets it).
    tip: Option<Digest>,
}

/// Per-connection counts of the effect stream, to notice a proto layout mismatch.
#[derive(Clone, Debug, Default)]
struct StreamCounts {
    decoded: u64,
    undecodable: u64,
}

/// Logs a repeated problem at most once per [`LOG_AGAIN_AFTER`] per key.
#[derive(Default)]
struct Throttle {
    last: std::collections::HashMap<String, Instant>,
}

impl Throttle {
    /// Whether a line about `key` may be logged at `now` (and records it if so).
    fn allow(&mut self, key: &str, now: Instant) -> bool {
        match self.last.get(key) {
            Some(at) if now.saturating_duration_since(*at) < LOG_AGAIN_AFTER => false,
            _ => {
                self.last.insert(key.to_string(), now);
                true
            }
        }
    }
}

/// Events the mining loop passes to block submissions.
#[derive(Clone, Debug)]
enum Signal {
    Candidate(Digest),
    Liar { id: Option<Digest>, reason: String },
    Seen,
}

struct Inner {
    config: NockchainNodeBuilder,
    client: NodeClient,
    prover: Arc<dyn BlockProver>,
    store: SubmissionStore,
    templates: watch::Sender<Option<BlockTemplate>>,
    /// The node's current candidate (of any version).
    current: watch::Sender<Option<Candidate>>,
    shares: watch::Sender<Vec<MiningShare>>,
    probe: watch::Sender<Probe>,
    signals: broadcast::Sender<Signal>,
    stop: watch::Sender<bool>,
    recent: Mutex<VecDeque<Candidate>>,
    state: Mutex<State>,
    proofs_in_flight: AtomicU32,
    proof_slots: tokio::sync::Semaphore,
}

impl Inner {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_warning(&self, key: &str, text: Option<String>) {
        let mut state = self.state();
        state.warnings.retain(|w| !w.starts_with(key));
        if let Some(text) = text {
            state.warnings.push(format!("{key}{text}"));
        }
    }

    async fn peek(&self, path: &Noun) -> Result<Option<Noun>, ChainError> {
        Ok(self.client.peek(path).await?.into_value())
    }

    async fn poke(&self, tag: &str, payload: Vec<u8>, timeout: Duration) -> Result<(), ChainError> {
        Ok(self.client.poke(tag, payload, timeout).await?)
    }

    /// The tip's height from `[%heaviest-chain ~]` → `[page-number block-id]`. That peek
    /// answers `[~ ~]` on some kernels whenever the node has heard a block above its heaviest
    /// chain (all through a sync, upstream fe4f5870 `inner.hoon`), so then the tip's own page
    /// (`[%heaviest-block ~]`) is read instead; `None` only if neither answers.
    async fn tip_height(&self) -> Result<Option<u64>, ChainError> {
        let height = match self.peek(&nouns::peek_heaviest_chain()).await? {
            Some(value) => {
                value
                    .head()
                    .and_then(Noun::as_u64)
                    .ok_or_else(|| ChainError::Protocol {
                        operation: "peek [%heaviest-chain ~]".into(),
                        reason: format!("no page number in {value}"),
                    })?
            }
            None => match self.peek(&nouns::peek_heaviest_block()).await? {
                Some(page) => match nouns::summarize_page(&page) {
                    Some(summary) => summary.height,
                    None => return Ok(None),
                },
                None => return Ok(None),
            },
        };
        self.state().tip_height = Some(height);
        Ok(Some(height))
    }

    /// The tip's block id (`[%heavy ~]`).
    async fn tip_id(&self) -> Result<Option<Digest>, ChainError> {
        Ok(self
            .peek(&nouns::peek_heavy())
            .await?
            .and_then(|v| nouns::heavy_block_id(&v)))
    }

    /// Whether a repeated problem named `key` may be logged now (at most once per
    /// [`LOG_AGAIN_AFTER`]; the status shows it all along).
    fn throttled(&self, key: &str) -> bool {
        self.state().throttle.allow(key, Instant::now())
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }
}

fn unavailable(operation: String, reason: String) -> ChainError {
    ChainError::Unavailable { operation, reason }
}

fn bad_shares(reason: String) -> ChainError {
    ChainError::Config {
        setting: "mining address",
        reason,
    }
}

/// Resolves once `stop` is set (or its sender is gone).
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

impl NockchainNode {
    /// A builder with the defaults (node at [`DEFAULT_NODE_GRPC`]).
    pub fn builder() -> NockchainNodeBuilder {
        NockchainNodeBuilder::default()
    }

    /// Waits until the first contact with the node settles: `Ok` once it serves everything
    /// the pool needs; `ChainError::Unsupported` if it is a node the pool cannot use (no
    /// `WatchEffects`); `ChainError::Unavailable` if it did not answer within `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), ChainError> {
        self.settle(timeout, false).await
    }

    /// Waits for the probe to settle; with `first_answer`, an unreachable node ends the wait
    /// at once (`Unavailable`) instead of waiting for a later attempt to succeed.
    async fn settle(&self, timeout: Duration, first_answer: bool) -> Result<(), ChainError> {
        let mut probe = self.inner.probe.subscribe();
        let settled = tokio::time::timeout(timeout, async {
            loop {
                let now = probe.borrow_and_update().clone();
                match now {
                    Probe::Ready => return Ok(()),
                    Probe::Unsupported(reason) => return Err(ChainError::Unsupported { reason }),
                    Probe::Unreachable(why) if first_answer => {
                        return Err(unavailable("reach the node".into(), why))
                    }
                    Probe::Unknown | Probe::Unreachable(_) => {}
                }
                if probe.changed().await.is_err() {
                    return Err(ChainError::Closed);
                }
            }
        })
        .await;
        match settled {
            Ok(result) => result,
            Err(_) => Err(unavailable(
                "reach the node".into(),
                match &*self.inner.probe.borrow() {
                    Probe::Unreachable(why) => why.clone(),
                    _ => format!("no answer from the node at {}", self.inner.config.grpc),
                },
            )),
        }
    }

    /// Stops the mining loop, and the node too if this backend started it
    /// ([`NockchainNodeBuilder::supervise`]); a node run by someone else keeps running, with
    /// mining still enabled on it.
    pub async fn shutdown(&self) {
        self.inner.stop.send_replace(true);
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        let supervisor = self
            .supervisor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(supervisor) = supervisor {
            supervisor.stop().await;
        }
    }
}

impl Drop for NockchainNode {
    fn drop(&mut self) {
        self.inner.stop.send_replace(true);
    }
}

async fn mining_loop(inner: Arc<Inner>) {
    let mut backoff = Backoff::new(inner.config.backoff_initial, inner.config.backoff_max);
    let mut stop = inner.stop.subscribe();
    while !inner.stopped() {
        let started = Instant::now();
        let end = run_session(&inner).await;
        inner.state().connected = false;
        // A session that lasted was healthy: the next one starts from the shortest delay.
        if started.elapsed() > inner.config.backoff_max {
            backoff.reset();
        }
        let delay = match end {
            SessionEnd::Stopped => return,
            SessionEnd::Lost(why) => {
                let delay = backoff.next_delay();
                tracing::warn!(
                    "Nockchain node at {}: {why}; reconnecting in {delay:?}",
                    inner.config.grpc
                );
                inner.set_warning("node: ", Some(why));
                delay
            }
            SessionEnd::Unsupported(why) => {
                tracing::error!("{why}");
                inner.set_warning("node: ", Some(why));
                inner.config.backoff_max
            }
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stop_requested(&mut stop) => return,
        }
    }
}

enum SessionEnd {
    Stopped,
    Lost(String),
    Unsupported(String),
}

/// One connection: probe, configure, then follow the effect stream until it ends.
async fn run_session(inner: &Arc<Inner>) -> SessionEnd {
    let mut stop = inner.stop.subscribe();
    let grpc = &inner.config.grpc;
    // 1. Alive?
    if let Err(e) = inner.peek(&nouns::peek_heavy()).await {
        let why = format!("not answering a peek: {e}");
        inner.probe.send_replace(Probe::Unreachable(why.clone()));
        return SessionEnd::Lost(why);
    }
    // 2. Subscribe first: this is also the probe that the node can hand out candidates at all.
    let mut stream = match inner.client.watch_effects(&EFFECT_HEADS).await {
        Ok(stream) => stream,
        Err(NodeError::Unimplemented { .. }) => {
            let why = format!(
                "the Nockchain node at {grpc} does not serve WatchEffects, so it cannot hand \
                 block candidates to an external miner (it is a 2025 release). Upgrade the node \
                 to a release with the external zk-pow miner; nockpool sent it nothing."
            );
            inner.probe.send_replace(Probe::Unsupported(why.clone()));
            return SessionEnd::Unsupported(why);
        }
        Err(e) => return SessionEnd::Lost(e.to_string()),
    };
    inner.probe.send_replace(Probe::Ready);
    inner.set_warning("node: ", None);
    {
        let mut state = inner.state();
        state.stream = StreamCounts::default();
        state.key_gate = None;
    }
    inner.set_warning("key: ", None);
    // 3. Mining key (validated; never a poke that makes the node exit), then 4. enable.
    let mut shares_rx = inner.shares.subscribe();
    let shares = loop {
        let shares = shares_rx.borrow_and_update().clone();
        if !shares.is_empty() {
            break shares;
        }
        tracing::info!("connected to the Nockchain node at {grpc}; waiting for the mining address");
        tokio::select! {
            changed = shares_rx.changed() => if changed.is_err() { return SessionEnd::Stopped },
            () = stop_requested(&mut stop) => return SessionEnd::Stopped,
        }
    };
    if let Err(e) = set_mining_key(inner, &shares).await {
        return SessionEnd::Lost(format!("setting the mining key: {e}"));
    }
    if let Err(e) = inner
        .poke(
            "enable",
            jam(&nouns::enable_mining_poke()),
            inner.config.request_timeout,
        )
        .await
    {
        return SessionEnd::Lost(format!("enabling mining: {e}"));
    }
    inner.state().connected = true;
    tracing::info!(
        "Nockchain node at {grpc}: mining key set ({}), mining enabled; waiting for candidates",
        describe_shares(&shares)
    );
    if let Ok(Some(h)) = inner.tip_height().await {
        tracing::info!("Nockchain node tip is at height {h}");
    }
    // 5. Follow the effects.
    loop {
        tokio::select! {
            message = stream.message() => match message {
                Ok(Some(message)) => handle_effect(inner, &message.effect).await,
                Ok(None) => return SessionEnd::Lost("the effect stream ended (node restarting?)".into()),
                Err(status) => return SessionEnd::Lost(format!("effect stream: {}", status.message())),
            },
            changed = shares_rx.changed() => {
                if changed.is_err() {
                    return SessionEnd::Stopped;
                }
                let shares = shares_rx.borrow_and_update().clone();
                if let Err(e) = set_mining_key(inner, &shares).await {
                    return SessionEnd::Lost(format!("setting the mining key: {e}"));
                }
            }
            () = stop_requested(&mut stop) => return SessionEnd::Stopped,
        }
    }
}

/// Sets the farm's coinbase split on the node. If the node paid other keys until now, its
/// current candidate still pays them (a key poke does not rebuild it), so candidates are held
/// back until one arrives on a new tip.
async fn set_mining_key(inner: &Inner, shares: &[MiningShare]) -> Result<(), ChainError> {
    // Checked again right before the poke: a bad key list makes the node exit.
    nouns::validate_shares(shares).map_err(bad_shares)?;
    let before = node_keys(inner, shares).await;
    let poke = nouns::set_mining_key_poke(shares, inner.config.v0_passthrough);
    inner
        .poke("setpubkey", jam(&poke), inner.config.request_timeout)
        .await?;
    let ours = describe_shares(shares);
    let why = match before {
        // A hold already in place (keys changed earlier in this connection) stays.
        NodeKeys::Ours | NodeKeys::None => return Ok(()),
        NodeKeys::Other(keys) => format!("it paid {keys} until now"),
        NodeKeys::Unknown(why) => format!("its keys could not be read: {why}"),
    };
    // Read after the ack: every candidate the node builds on a later tip pays our keys.
    let tip = inner.tip_id().await.ok().flatten();
    let text = format!(
        "mining key set to {ours} on the node ({why}); the node's current candidate may still \
         pay the previous key, so no work is handed out until the node builds a candidate on \
         the next block (tip {}) — expect up to one block interval without jobs",
        tip.map_or_else(|| "unknown".into(), |t| t.to_base58())
    );
    tracing::warn!("{text}");
    inner.state().key_gate = Some(KeyGate { tip });
    inner.set_warning("key: ", Some(text));
    inner.templates.send_replace(None);
    Ok(())
}

/// Whose keys the node's coinbase pays, as far as `[%heavy-summary ~]` tells.
enum NodeKeys {
    /// Exactly the farm's addresses (the split's weights cannot be read).
    Ours,
    /// No v1 keys: the node has built no candidate that pays anyone.
    None,
    /// Other keys.
    Other(String),
    /// Not known (a peek error, or an answer this pool cannot read).
    Unknown(String),
}

async fn node_keys(inner: &Inner, shares: &[MiningShare]) -> NodeKeys {
    let value = match inner.peek(&nouns::peek_heavy_summary()).await {
        Ok(Some(value)) => value,
        Ok(None) => return NodeKeys::Unknown("[%heavy-summary ~] has no answer".into()),
        Err(e) => return NodeKeys::Unknown(e.to_string()),
    };
    let Some(mut keys) = nouns::summary_v1_keys(&value) else {
        return NodeKeys::Unknown("[%heavy-summary ~] has no v1 key set".into());
    };
    if keys.is_empty() {
        return NodeKeys::None;
    }
    let mut ours: Vec<Digest> = shares.iter().map(|s| *s.address.digest()).collect();
    ours.sort_by_key(|d| d.to_limbs());
    ours.dedup();
    keys.sort_by_key(|d| d.to_limbs());
    keys.dedup();
    if keys == ours {
        NodeKeys::Ours
    } else {
        NodeKeys::Other(
            keys.iter()
                .map(Digest::to_base58)
                .collect::<Vec<_>>()
                .join(", "),
        )
    }
}

fn describe_shares(shares: &[MiningShare]) -> String {
    shares
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn handle_effect(inner: &Arc<Inner>, bytes: &[u8]) {
    if bytes.is_empty() {
        undecodable_effect(inner, "an empty message");
        return;
    }
    let noun = match cue(bytes) {
        Ok(noun) => noun,
        Err(e) => {
            undecodable_effect(inner, &format!("not a jam: {e}"));
            return;
        }
    };
    {
        let mut state = inner.state();
        state.stream.decoded += 1;
    }
    inner.set_warning("layout: ", None);
    let effect = match nouns::parse_effect(&noun) {
        Ok(effect) => effect,
        Err(why) => {
            let count = {
                let mut state = inner.state();
                state.malformed_effects += 1;
                state.malformed_effects
            };
            if inner.throttled("malformed") {
                tracing::warn!("skipping a malformed effect from the node ({count} so far): {why}");
            }
            return;
        }
    };
    match effect {
        Effect::Candidate(candidate) => new_candidate(inner, candidate).await,
        Effect::OldCandidate => {
            let why = "the node emits 2025-format %mine candidates; nockpool mines %mine-zk \
                       candidates only (upgrade the node)";
            if inner.throttled("old-candidate") {
                tracing::error!("{why}");
            }
            inner.set_warning("candidates: ", Some(why.into()));
        }
        Effect::LiarBlock { id, reason } => {
            // Peers' bad blocks are reported too; a submission of ours decides by the id.
            let id_text = id.map_or_else(|| "with no readable id".into(), |d| d.to_base58());
            tracing::info!("the node refused block {id_text} ({})", clean(&reason));
            let _ = inner.signals.send(Signal::Liar { id, reason });
        }
        Effect::SeenBlock { height } => {
            tracing::debug!("the node saw a block at height {height:?}");
            let _ = inner.signals.send(Signal::Seen);
        }
        Effect::Other(head) if EFFECT_HEADS.contains(&head.as_str()) => {
            tracing::debug!("ignoring effect %{head}")
        }
        Effect::Other(head) => {
            let head = clean(&head);
            let why = format!(
                "the node sends effects nockpool did not subscribe to (%{head}): it ignored \
                 the head filter, so the field number of `WatchEffectsRequest.head_filter` in \
                 nockpool's proto (taken from a fork; upstream's .proto was not available) \
                 likely differs from this node's. Mining still works; the stream carries every \
                 effect the node makes"
            );
            if inner.throttled("filter") {
                tracing::warn!("{why}");
            }
            inner.set_warning("filter: ", Some(why));
        }
    }
}

/// A message on the effect stream that is empty or not a jam. Once several arrive and none
/// decodes, the likeliest cause is a proto layout mismatch: say so, loudly.
fn undecodable_effect(inner: &Inner, why: &str) {
    let (count, decoded) = {
        let mut state = inner.state();
        state.malformed_effects += 1;
        state.stream.undecodable += 1;
        (state.stream.undecodable, state.stream.decoded)
    };
    if decoded == 0 && count >= LAYOUT_SUSPECT_AFTER {
        let text = format!(
            "the node's effect stream delivered {count} message(s) and none decodes ({why}): \
             the field number of `EffectMessage.effect` in nockpool's proto (taken from a fork; \
             upstream's .proto was not available) likely differs from this node's, so nockpool \
             sees no candidates and hands out no work. Report the node's release to nockpool"
        );
        if inner.throttled("layout") {
            tracing::error!("{text}");
        }
        inner.set_warning("layout: ", Some(text));
    } else if inner.throttled("malformed") {
        tracing::warn!("skipping an undecodable effect from the node ({count} so far): {why}");
    }
}

/// Peer-controlled text made safe for one log line.
fn clean(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// Why the node's candidates cannot be mined at this proof version.
fn unsupported_version_text(version: u64) -> String {
    let cause = if version < NATIVE_PROOF_VERSION {
        "the chain is below height 147,500, where proof version %5 starts (or the node runs \
         an older release): nockpool mines %5 only"
    } else {
        "a newer proof version than this nockpool knows: upgrade nockpool"
    };
    format!(
        "the node's candidates use proof version %{version}; nockpool can check only \
         %{NATIVE_PROOF_VERSION} shares natively, so it hands out no work ({cause})"
    )
}

async fn new_candidate(inner: &Arc<Inner>, candidate: Candidate) {
    let now = SystemTime::now();
    {
        let mut state = inner.state();
        state.last_candidate_at = Some(now);
        state.candidate_version = Some(candidate.version);
    }
    if candidate.version != NATIVE_PROOF_VERSION {
        let why = unsupported_version_text(candidate.version);
        if inner.throttled(&format!("version %{}", candidate.version)) {
            tracing::error!("{why}");
        }
        inner.set_warning("version: ", Some(why));
        publish(inner, &candidate, None);
        return;
    }
    inner.set_warning("version: ", None);
    if !past_key_gate(inner).await {
        tracing::info!(
            "holding back candidate {}: it may pay the node's previous mining key (waiting \
             for a candidate on the next block)",
            candidate.commitment
        );
        publish(inner, &candidate, None);
        return;
    }
    // The effect has no height: the candidate builds on the tip (§3.2 note).
    let height = match inner.tip_height().await {
        Ok(Some(tip)) => Some(tip + 1),
        Ok(None) => {
            let last = inner.state().tip_height;
            tracing::warn!(
                "the node does not report its tip height now (syncing?); using the last known \
                 tip {last:?}"
            );
            last.map(|h| h + 1)
        }
        Err(e) => {
            tracing::warn!("could not read the tip height for the new candidate: {e}");
            inner.state().tip_height.map(|h| h + 1)
        }
    };
    let Some(height) = height else {
        let why = "the node has not reported its tip height yet (still syncing?); no work is \
                   handed out until it does, since a found block could not be confirmed";
        if inner.throttled("height") {
            tracing::warn!("{why}");
        }
        inner.set_warning("height: ", Some(why.into()));
        publish(inner, &candidate, None);
        return;
    };
    inner.set_warning("height: ", None);
    let template = BlockTemplate {
        commitment: candidate.commitment,
        network_target: candidate.target,
        height,
        version: candidate.version,
        pow_len: candidate.pow_len,
        created_at: now,
    };
    tracing::info!(
        "new candidate for height {height}: commitment {}, pow-len {}",
        template.commitment,
        template.pow_len
    );
    publish(inner, &candidate, Some(template));
}

/// Makes `candidate` the node's current one and hands out `template` (or no work). Only a
/// candidate handed out is remembered for proving blocks.
fn publish(inner: &Inner, candidate: &Candidate, template: Option<BlockTemplate>) {
    if template.is_some() {
        let mut recent = inner.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.retain(|c| c.commitment != candidate.commitment);
        recent.push_front(candidate.clone());
        recent.truncate(RECENT_CANDIDATES);
    }
    inner.current.send_replace(Some(candidate.clone()));
    let _ = inner.signals.send(Signal::Candidate(candidate.commitment));
    inner.templates.send_replace(template);
}

/// Whether candidates may be handed out: no key hold, or the node's tip has moved since our
/// key was set (so this candidate was built with it).
async fn past_key_gate(inner: &Inner) -> bool {
    let Some(gate) = inner.state().key_gate.clone() else {
        return true;
    };
    let tip = match inner.tip_id().await {
        Ok(Some(tip)) => tip,
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!("could not read the node's tip to check the candidate's key: {e}");
            return false;
        }
    };
    match gate.tip {
        None => {
            if let Some(gate) = inner.state().key_gate.as_mut() {
                gate.tip = Some(tip);
            }
            false
        }
        Some(before) if before == tip => false,
        Some(_) => {
            inner.state().key_gate = None;
            inner.set_warning("key: ", None);
            tracing::info!(
                "the node built a candidate on a new block (tip {}): it pays the farm's mining \
                 key; handing out work again",
                tip.to_base58()
            );
            true
        }
    }
}

#[async_trait]
impl ChainBackend for NockchainNode {
    async fn templates(&self) -> Result<TemplateStream, ChainError> {
        if self.inner.stopped() {
            return Err(ChainError::Closed);
        }
        Ok(self.inner.templates.subscribe())
    }

    async fn submit_block(&self, block: FoundBlock) -> Result<BlockOutcome, ChainError> {
        submit(&self.inner, block).await
    }

    async fn status(&self) -> Result<ChainStatus, ChainError> {
        let state = self.inner.state();
        let mut warnings = state.warnings.clone();
        if state.malformed_effects > 0 {
            warnings.push(format!(
                "{} malformed effect(s) from the node were skipped",
                state.malformed_effects
            ));
        }
        Ok(ChainStatus {
            backend: "node".into(),
            connected: state.connected,
            version: state.candidate_version.map(|v| {
                format!("Nockchain node (private gRPC + WatchEffects), candidate proof %{v}")
            }),
            height: state.tip_height,
            synced: state.connected && state.last_candidate_at.is_some(),
            peers: None,
            last_template_at: state.last_candidate_at,
            proofs_in_flight: self.inner.proofs_in_flight.load(Ordering::Relaxed),
            warnings,
        })
    }

    async fn set_mining_addresses(&self, shares: &[MiningShare]) -> Result<(), ChainError> {
        nouns::validate_shares(shares).map_err(bad_shares)?;
        self.inner.shares.send_replace(shares.to_vec());
        // The loop uses the new shares on its next (re)connection or at once if connected;
        // report what the node looks like so the pool server can refuse an unusable node.
        let wait = self.inner.config.connect_timeout + self.inner.config.request_timeout;
        self.settle(wait, true).await
    }
}

/// Counts a proof in flight for as long as it lives.
struct InFlight<'a>(&'a AtomicU32);

impl<'a> InFlight<'a> {
    fn new(counter: &'a AtomicU32) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn outcome_text(outcome: &BlockOutcome) -> String {
    match outcome {
        BlockOutcome::Accepted { block_id } => {
            format!("accepted {}", block_id.as_deref().unwrap_or("?"))
        }
        BlockOutcome::Rejected { reason } => format!("rejected: {reason}"),
        BlockOutcome::Stale => "stale".into(),
    }
}

fn outcome_from_text(text: &str) -> BlockOutcome {
    if let Some(id) = text.strip_prefix("accepted ") {
        BlockOutcome::Accepted {
            block_id: (id != "?").then(|| id.to_string()),
        }
    } else if let Some(reason) = text.strip_prefix("rejected: ") {
        BlockOutcome::Rejected {
            reason: reason.into(),
        }
    } else {
        BlockOutcome::Stale
    }
}

fn finish(
    inner: &Inner,
    record: &mut Submission,
    outcome: BlockOutcome,
) -> Result<BlockOutcome, ChainError> {
    record.stage = Stage::Done;
    record.outcome = Some(outcome_text(&outcome));
    inner.store.put(record)?;
    tracing::info!(
        "found block at height {} (nonce {:?}): {}",
        record.height,
        record.nonce,
        outcome_text(&outcome)
    );
    Ok(outcome)
}

/// Whether `commitment` is still the node's current candidate.
fn is_current(inner: &Inner, commitment: &Digest) -> bool {
    inner
        .current
        .borrow()
        .as_ref()
        .is_some_and(|c| c.commitment == *commitment)
}

/// Resolves once the node's candidate is no longer `commitment`.
async fn superseded(mut current: watch::Receiver<Option<Candidate>>, commitment: Digest) {
    let _ = current
        .wait_for(|c| c.as_ref().is_none_or(|c| c.commitment != commitment))
        .await;
}

async fn submit(inner: &Arc<Inner>, block: FoundBlock) -> Result<BlockOutcome, ChainError> {
    let commitment = block.template.commitment;
    let key = store::key_of(&commitment.to_limbs(), &block.nonce.to_limbs());
    let mut record = match inner.store.get(&key)? {
        Some(r) if r.stage == Stage::Done => {
            let outcome = outcome_from_text(r.outcome.as_deref().unwrap_or("stale"));
            return Ok(outcome);
        }
        Some(r) => r,
        None => Submission::new(&block),
    };
    // Persist before anything can fail: a found nonce is never lost.
    inner.store.put(&record)?;
    tracing::info!(
        "block found by {} at height {}: nonce {}, digest {}",
        block.worker,
        block.template.height,
        block.nonce,
        block.digest
    );
    if block.template.version != NATIVE_PROOF_VERSION {
        let reason = format!("proof version %{} is not supported", block.template.version);
        return finish(inner, &mut record, BlockOutcome::Rejected { reason });
    }
    let Some(candidate) = usable_candidate(inner, &commitment).await? else {
        // A block poked before (by an earlier run, or an attempt whose answer was lost) may
        // be on the chain although its candidate is gone: ask the node before labelling it.
        let poked = matches!(record.stage, Stage::Proved | Stage::Submitted);
        let outcome = outcome_without_candidate(inner, &record, poked).await?;
        return finish(inner, &mut record, outcome);
    };
    let request = ProofRequest {
        version: candidate.version,
        commitment,
        nonce: block.nonce,
        target: candidate.target_noun.clone(),
        pow_len: candidate.pow_len,
        digest: block.digest,
    };
    let poke_jam = match inner.store.poke(&key)? {
        Some(poke) => poke,
        None => match prove(inner, &mut record, &request).await? {
            Ok(poke) => poke,
            Err(outcome) => return finish(inner, &mut record, outcome),
        },
    };
    // Listen before poking: the node's verdict is broadcast while it handles the poke.
    let signals = inner.signals.subscribe();
    let mut attempt = 0;
    let mut retry = Backoff::new(inner.config.backoff_initial, inner.config.backoff_max);
    loop {
        if !is_current(inner, &commitment) {
            // An earlier attempt may have reached the node although its answer was lost.
            let outcome = outcome_without_candidate(inner, &record, attempt > 0).await?;
            return finish(inner, &mut record, outcome);
        }
        attempt += 1;
        match inner
            .poke("mined", poke_jam.clone(), inner.config.submit_timeout)
            .await
        {
            Ok(()) => break,
            Err(e) if e.is_transient() && attempt < POKE_ATTEMPTS => {
                let delay = retry.next_delay();
                tracing::warn!("submitting the block failed ({e}); retrying in {delay:?}");
                tokio::time::sleep(delay).await;
            }
            Err(e) => {
                inner.store.put(&record)?;
                return Err(e);
            }
        }
    }
    let latency = block.found_at.elapsed().unwrap_or(Duration::ZERO);
    record.found_to_poke_ms = Some(latency.as_millis() as u64);
    record.stage = Stage::Submitted;
    inner.store.put(&record)?;
    tracing::info!(
        "block for height {} poked to the node {latency:?} after its share arrived",
        record.height
    );
    let outcome = confirm(inner, &record, signals).await;
    finish(inner, &mut record, outcome)
}

/// The candidate of `commitment` if it is the node's current one and was handed out. Right
/// after a (re)start no candidate is known yet: this waits for the node's first one (up to the
/// confirm timeout; then `Unavailable`, and the pool server asks again later).
async fn usable_candidate(
    inner: &Inner,
    commitment: &Digest,
) -> Result<Option<Candidate>, ChainError> {
    let mut current = inner.current.subscribe();
    let first = tokio::time::timeout(
        inner.config.confirm_timeout,
        current.wait_for(Option::is_some),
    )
    .await;
    match first {
        Ok(Ok(_)) => {}
        Ok(Err(_)) => return Err(ChainError::Closed),
        Err(_) => {
            return Err(unavailable(
                "wait for the node's candidate".into(),
                format!(
                    "no candidate from the node within {:?}; the block stays pending",
                    inner.config.confirm_timeout
                ),
            ))
        }
    }
    let recent = inner.recent.lock().unwrap_or_else(|p| p.into_inner());
    Ok(recent
        .iter()
        .find(|c| c.commitment == *commitment)
        .filter(|_| is_current(inner, commitment))
        .cloned())
}

/// The outcome of a block whose candidate is no longer the node's. If it `may_be_on_chain`
/// (it was poked, maybe without an answer), the page at its height says: ours → accepted,
/// anything else → stale. A peek error is returned, so the block stays pending.
async fn outcome_without_candidate(
    inner: &Inner,
    record: &Submission,
    may_be_on_chain: bool,
) -> Result<BlockOutcome, ChainError> {
    if !may_be_on_chain {
        tracing::info!("the block's candidate was superseded before it could be submitted");
        return Ok(BlockOutcome::Stale);
    }
    let page = inner.peek(&nouns::peek_heavy_n(record.height)).await?;
    match page.as_ref().and_then(nouns::summarize_page) {
        Some(p) if p.nonce == Some(record.nonce) && p.commitment == Some(record.commitment) => {
            tracing::info!(
                "the node has the block at height {} (submitted earlier; its answer was lost)",
                record.height
            );
            Ok(BlockOutcome::Accepted {
                block_id: Some(p.block_id.to_base58()),
            })
        }
        Some(_) => {
            tracing::info!(
                "another block holds height {}: the block's candidate was superseded",
                record.height
            );
            Ok(BlockOutcome::Stale)
        }
        None => {
            tracing::info!(
                "the node has no block of ours at height {} and its candidate is gone",
                record.height
            );
            Ok(BlockOutcome::Stale)
        }
    }
}

/// Runs the prover (retrying retryable failures) and stores its checked poke. The inner
/// `Err` is a final outcome for the block.
async fn prove(
    inner: &Arc<Inner>,
    record: &mut Submission,
    request: &ProofRequest,
) -> Result<Result<Vec<u8>, BlockOutcome>, ChainError> {
    let _slot = tokio::select! {
        slot = inner.proof_slots.acquire() => slot.ok(),
        () = superseded(inner.current.subscribe(), request.commitment) => {
            tracing::info!("candidate superseded while the block waited for a prover slot");
            return Ok(Err(BlockOutcome::Stale));
        }
    };
    let _in_flight = InFlight::new(&inner.proofs_in_flight);
    loop {
        record.proof_attempts += 1;
        inner.store.put(record)?;
        let started = Instant::now();
        let outcome = tokio::select! {
            outcome = inner.prover.prove(request) => outcome,
            () = superseded(inner.current.subscribe(), request.commitment) => {
                tracing::info!("candidate superseded while proving; the proof was cancelled");
                return Ok(Err(BlockOutcome::Stale));
            }
        };
        let took = started.elapsed();
        match outcome {
            ProofOutcome::Proved(poke) => {
                if let Err(why) = request.check_poke(&poke) {
                    tracing::error!("the prover's output failed the sanity check: {why}");
                    return Ok(Err(BlockOutcome::Rejected {
                        reason: format!("prover output failed the sanity check: {why}"),
                    }));
                }
                let bytes = jam(&poke);
                inner.store.put_poke(&record.key(), &bytes)?;
                record.stage = Stage::Proved;
                inner.store.put(record)?;
                tracing::info!("block proved in {took:?} ({} bytes)", bytes.len());
                return Ok(Ok(bytes));
            }
            ProofOutcome::MissesTarget => {
                let reason = "the prover says the nonce misses the target (pool and prover \
                              disagree on the digest: check the prover's release)";
                tracing::error!("{reason}");
                return Ok(Err(BlockOutcome::Rejected {
                    reason: reason.into(),
                }));
            }
            ProofOutcome::TimedOut(limit) => {
                tracing::error!("the prover did not finish within {limit:?}");
                return Ok(Err(BlockOutcome::Rejected {
                    reason: format!("prover timed out after {limit:?}"),
                }));
            }
            ProofOutcome::Failed { reason, retryable } => {
                tracing::error!(
                    "proving failed (attempt {}): {reason}",
                    record.proof_attempts
                );
                if !retryable || record.proof_attempts >= PROOF_ATTEMPTS {
                    return Ok(Err(BlockOutcome::Rejected {
                        reason: format!("prover failed: {reason}"),
                    }));
                }
            }
        }
    }
}

/// The ids our poked block may have (empty if the stored poke cannot be read: then no
/// `%liar-block-id` is taken as ours, and the page at the height decides).
fn our_block_ids(inner: &Inner, record: &Submission) -> Vec<Digest> {
    let poke = match inner.store.poke(&record.key()) {
        Ok(Some(bytes)) => cue(&bytes).ok(),
        _ => None,
    };
    poke.as_ref()
        .and_then(nouns::submit_poke_proof)
        .map(|(proof, commitment)| possible_block_ids(proof, &commitment))
        .unwrap_or_default()
}

/// Learns the node's verdict on a poked block (`nockchain-node.md` §3.6): the page at the
/// block's height carries our nonce → accepted; a `%liar-block-id` with one of our block's
/// possible ids → rejected (the node emits it for peers' blocks too); another block took the
/// height → stale; nothing at all → the node ignored it.
async fn confirm(
    inner: &Arc<Inner>,
    record: &Submission,
    mut signals: broadcast::Receiver<Signal>,
) -> BlockOutcome {
    let deadline = tokio::time::Instant::now() + inner.config.confirm_timeout;
    let commitment = record.commitment;
    let ours = our_block_ids(inner, record);
    let mut refused: Option<String> = None;
    let mut moved_on = false;
    loop {
        match inner.peek(&nouns::peek_heavy_n(record.height)).await {
            Ok(Some(page)) => match nouns::summarize_page(&page) {
                Some(p) if p.nonce == Some(record.nonce) && p.commitment == Some(commitment) => {
                    return BlockOutcome::Accepted {
                        block_id: Some(p.block_id.to_base58()),
                    };
                }
                Some(_) if moved_on => return BlockOutcome::Stale,
                Some(_) => {}
                None => tracing::warn!("could not read the page at height {}", record.height),
            },
            Ok(None) => {}
            Err(e) => tracing::warn!("checking the block at height {}: {e}", record.height),
        }
        if let Some(reason) = refused.take() {
            return BlockOutcome::Rejected { reason };
        }
        if moved_on {
            return BlockOutcome::Stale;
        }
        let signal = tokio::time::timeout_at(deadline, signals.recv()).await;
        match signal {
            Err(_) => {
                return if is_current(inner, &Digest::new(commitment).unwrap_or_default()) {
                    BlockOutcome::Rejected {
                        reason: format!(
                            "the node neither accepted nor refused the block within {:?}",
                            inner.config.confirm_timeout
                        ),
                    }
                } else {
                    BlockOutcome::Stale
                };
            }
            Ok(Ok(Signal::Liar { id, reason })) => match id {
                Some(id) if ours.contains(&id) => refused = Some(reason),
                _ => tracing::info!(
                    "the refused block is not ours (its id matches none of our block's possible \
                     ids); still waiting for the node's verdict on ours"
                ),
            },
            Ok(Ok(Signal::Candidate(c))) if c.to_limbs() != commitment => moved_on = true,
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(broadcast::error::RecvError::Closed)) => {
                return BlockOutcome::Rejected {
                    reason: "the node backend shut down before the verdict".into(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_problem_is_logged_once_per_interval_per_key() {
        let mut throttle = Throttle::default();
        let t0 = Instant::now();
        assert!(throttle.allow("layout", t0));
        assert!(!throttle.allow("layout", t0 + Duration::from_secs(1)));
        assert!(throttle.allow("filter", t0 + Duration::from_secs(1)));
        assert!(!throttle.allow("layout", t0 + LOG_AGAIN_AFTER - Duration::from_secs(1)));
        assert!(throttle.allow("layout", t0 + LOG_AGAIN_AFTER));
        assert!(!throttle.allow("layout", t0 + LOG_AGAIN_AFTER));
    }

    #[test]
    fn unsupported_versions_name_their_likely_cause() {
        assert!(unsupported_version_text(3).contains("147,500"));
        assert!(unsupported_version_text(6).contains("upgrade nockpool"));
    }
}
