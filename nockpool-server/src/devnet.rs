//! The embedded development chain (**simulated**; not Nockchain).
//!
//! A real local chain for running a pool with no node: templates are built from its tip,
//! submitted blocks are checked with the real version-5 proof-of-work digest and the real
//! target math, difficulty is retargeted toward a block time, and blocks are persisted (redb,
//! `<data dir>/devnet.redb`) and reloaded on restart so the height continues.
//!
//! What it is not: its block commitment is a Tip5 hash of its own fields (tag, parent id,
//! height, timestamp, difficulty, puzzle length, payees, a template counter), **not** Nockchain's
//! `block-commitment` of a page; its blocks carry no transactions and no STARK proof; "other
//! miners" are simulated by [`Devnet::force_new_template`] and the optional competitor timer,
//! which append blocks without proof of work.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use nockpool_core::{validate_pow_len, Difficulty, Digest, MiningShare, Nonce, PubkeyHash, Target};
use nockpool_pow::tip5;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::events::StorageHealth;
use crate::reopen::{DbFailure, Opener, ReopeningDb};
use crate::store::{from_unix_ms, unix_ms};
use crate::{
    BlockOutcome, BlockTemplate, ChainBackend, ChainError, ChainStatus, FoundBlock, TemplateStream,
};

const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("devnet_blocks");
/// Templates on the current tip (cleared when the tip moves), so a block found just before a
/// restart can still be accepted after it.
const TEMPLATES: TableDefinition<&str, &[u8]> = TableDefinition::new("devnet_templates");

/// Facts about the chain itself (the generated development address).
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("devnet_meta");
/// The [`META`] key of the development address.
const META_DEV_ADDRESS: &str = "development_address";

/// The file name of the devnet's database inside its data dir.
pub const DEVNET_DB_FILE: &str = "devnet.redb";

/// Domain tag hashed into every devnet commitment (`"devnet"` as a little-endian atom).
const TAG_COMMITMENT: u64 = u64::from_le_bytes(*b"devnet\0\0");
/// Domain tag of a devnet block id.
const TAG_BLOCK: u64 = u64::from_le_bytes(*b"dvblock\0");
/// Domain tag of a simulated (no proof-of-work) block id.
const TAG_SIMULATED: u64 = u64::from_le_bytes(*b"dvsimul\0");
/// Templates remembered (current and superseded), so late blocks are `Stale`, not unknown.
const TEMPLATES_KEPT: usize = 64;
/// Largest retarget step per block (up or down) before damping.
const RETARGET_CLAMP: f64 = 4.0;

/// Who produced a devnet block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DevnetMiner {
    /// Mined through the pool: the worker name.
    Pool {
        /// The worker that found it.
        worker: String,
    },
    /// A simulated external block ([`Devnet::force_new_template`] or the competitor timer);
    /// it has no proof of work.
    Simulated,
}

/// One block of the development chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevnetBlock {
    /// Height (the first block after the implicit genesis is 1).
    pub height: u64,
    /// The devnet block id (a Tip5 hash, see the module docs).
    pub block_id: Digest,
    /// The parent's block id.
    pub parent: Digest,
    /// The template commitment it was mined on.
    pub commitment: Digest,
    /// The winning nonce (`None` for simulated blocks).
    pub nonce: Option<Nonce>,
    /// Its proof-of-work digest (`None` for simulated blocks).
    pub pow_digest: Option<Digest>,
    /// The network difficulty it was mined at.
    pub difficulty: u64,
    /// The difficulty the next block must meet (after retargeting).
    pub next_difficulty: u64,
    /// When it was added.
    pub timestamp: SystemTime,
    /// Who produced it.
    pub miner: DevnetMiner,
}

#[derive(Serialize, Deserialize)]
struct StoredBlock {
    height: u64,
    block_id: [u64; 5],
    parent: [u64; 5],
    commitment: [u64; 5],
    nonce: Option<[u64; 5]>,
    pow_digest: Option<[u64; 5]>,
    difficulty: u64,
    next_difficulty: u64,
    timestamp_unix_ms: u64,
    miner: DevnetMiner,
}

impl StoredBlock {
    fn from_block(b: &DevnetBlock) -> StoredBlock {
        StoredBlock {
            height: b.height,
            block_id: b.block_id.to_limbs(),
            parent: b.parent.to_limbs(),
            commitment: b.commitment.to_limbs(),
            nonce: b.nonce.map(|n| n.to_limbs()),
            pow_digest: b.pow_digest.map(|d| d.to_limbs()),
            difficulty: b.difficulty,
            next_difficulty: b.next_difficulty,
            timestamp_unix_ms: unix_ms(b.timestamp),
            miner: b.miner.clone(),
        }
    }

    fn into_block(self) -> Result<DevnetBlock, ChainError> {
        let bad = |e: nockpool_core::CoreError| ChainError::storage("decode a devnet block", e);
        Ok(DevnetBlock {
            height: self.height,
            block_id: Digest::new(self.block_id).map_err(bad)?,
            parent: Digest::new(self.parent).map_err(bad)?,
            commitment: Digest::new(self.commitment).map_err(bad)?,
            nonce: self.nonce.map(Nonce::new).transpose().map_err(bad)?,
            pow_digest: self.pow_digest.map(Digest::new).transpose().map_err(bad)?,
            difficulty: self.difficulty,
            next_difficulty: self.next_difficulty,
            timestamp: from_unix_ms(self.timestamp_unix_ms),
            miner: self.miner,
        })
    }
}

/// What the devnet remembers about a template it handed out.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct KnownTemplate {
    commitment: [u64; 5],
    parent: [u64; 5],
    height: u64,
    difficulty: u64,
    pow_len: u64,
}

/// Configures a [`Devnet`]; see [`Devnet::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct DevnetBuilder {
    data_dir: Option<PathBuf>,
    initial_difficulty: u64,
    min_difficulty: u64,
    block_time: Duration,
    retarget: bool,
    competitor_interval: Option<Duration>,
    pow_len: u64,
}

impl DevnetBuilder {
    /// Where the chain is stored (`<dir>/devnet.redb`). Without one the chain lives in memory
    /// and starts from the genesis on every run.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Network difficulty of a new chain (default 65,536; tests use a tiny one). A chain
    /// reloaded from disk keeps the difficulty it had.
    pub fn initial_difficulty(mut self, difficulty: u64) -> Self {
        self.initial_difficulty = difficulty;
        self
    }

    /// The retarget floor (default 1).
    pub fn min_difficulty(mut self, difficulty: u64) -> Self {
        self.min_difficulty = difficulty;
        self
    }

    /// The block time difficulty is retargeted toward (default 30 s).
    pub fn block_time(mut self, block_time: Duration) -> Self {
        self.block_time = block_time;
        self
    }

    /// Whether difficulty is retargeted at all (default true; tests may fix it).
    pub fn retarget(mut self, retarget: bool) -> Self {
        self.retarget = retarget;
        self
    }

    /// `Some(d)`: a simulated external miner adds a block every `d` (making the pool's current
    /// job stale), to exercise stale handling. Default `None`. Uses `tokio::time`, so tests can
    /// pause and advance it.
    pub fn competitor_interval(mut self, interval: Option<Duration>) -> Self {
        self.competitor_interval = interval;
        self
    }

    /// Puzzle length of the templates (default 64, as on mainnet).
    pub fn pow_len(mut self, pow_len: u64) -> Self {
        self.pow_len = pow_len;
        self
    }

    /// Opens (or creates) the chain and builds its first template.
    pub fn open(self) -> Result<Devnet, ChainError> {
        validate_pow_len(self.pow_len).map_err(|e| ChainError::Config {
            setting: "devnet pow_len",
            reason: e.to_string(),
        })?;
        if self.initial_difficulty == 0 || self.min_difficulty == 0 {
            return Err(ChainError::Config {
                setting: "devnet difficulty",
                reason: "it must be at least 1".into(),
            });
        }
        if self.block_time.is_zero() {
            return Err(ChainError::Config {
                setting: "devnet block time",
                reason: "it must be above zero".into(),
            });
        }
        if self.competitor_interval.is_some_and(|d| d.is_zero()) {
            return Err(ChainError::Config {
                setting: "devnet competitor interval",
                reason: "it must be above zero".into(),
            });
        }
        let db = match &self.data_dir {
            Some(dir) => {
                let dir = dir.clone();
                let name = format!("devnet database {}", dir.join(DEVNET_DB_FILE).display());
                let opener: Opener = Box::new(move || {
                    nockpool_core::open_db(Some(&dir), DEVNET_DB_FILE, tables)
                        .map_err(|e| e.to_string())
                });
                ReopeningDb::open(name, opener)
                    .map_err(|e| ChainError::storage("open the devnet database", e))?
            }
            None => {
                let db = nockpool_core::open_db(None, DEVNET_DB_FILE, tables)
                    .map_err(|e| ChainError::storage("open the devnet database", e))?;
                ReopeningDb::in_memory("in-memory devnet database".into(), db)
            }
        };
        self.open_on(db)
    }

    /// Opens the chain on a database `opener` opens (again after every failure): for tests
    /// with a disk that fails or stalls on demand.
    #[cfg(test)]
    fn open_with(self, opener: Opener) -> Result<Devnet, ChainError> {
        // Reopens on the first operation after a failure (see `Store::open_with`).
        let db = ReopeningDb::open("test devnet database".into(), opener)
            .map_err(|e| ChainError::storage("open the devnet database", e))?
            .reopen_interval(std::time::Duration::ZERO);
        self.open_on(db)
    }

    /// Opens the chain on `db` (see [`DevnetBuilder::open`]).
    fn open_on(self, db: ReopeningDb) -> Result<Devnet, ChainError> {
        let tip = db.read(load_tip).map_err(failure)?;
        let difficulty = tip
            .as_ref()
            .map_or(self.initial_difficulty, |t| t.next_difficulty)
            .max(1);
        let tip_id = match &tip {
            Some(t) => t.block_id,
            None => genesis_id()?,
        };
        let known = db
            .read(load_templates)
            .map_err(failure)?
            .into_iter()
            .filter(|k| k.parent == tip_id.to_limbs())
            .collect();
        let mut chain = Chain {
            tip,
            difficulty,
            template: None,
            known,
            template_counter: 0,
            mining: Vec::new(),
            mining_since: tokio::time::Instant::now(),
        };
        let template = chain.next_template(self.pow_len)?;
        db.write(|db| persist_template(db, chain.known.back()))
            .map_err(failure)?;
        let (tx, _) = watch::channel(Some(template));
        if let Some(tip) = &chain.tip {
            tracing::info!(
                "devnet (simulated development chain) reloaded: tip height {}, difficulty {}",
                tip.height,
                chain.difficulty
            );
        }
        Ok(Devnet {
            inner: Arc::new(Inner {
                config: self,
                db,
                chain: Mutex::new(chain),
                templates: tx,
                competitor_started: AtomicBool::new(false),
            }),
        })
    }
}

fn storage(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ChainError {
    ChainError::storage("read or write the devnet database", e)
}

/// Creates the chain's tables inside `txn`, so that readers never see "table does not exist".
fn tables(txn: &redb::WriteTransaction) -> Result<(), redb::TableError> {
    txn.open_table(BLOCKS)?;
    txn.open_table(TEMPLATES)?;
    txn.open_table(META)?;
    Ok(())
}

/// Creates the tables on a database opened without [`nockpool_core::open_db`] (tests' disks).
#[cfg(test)]
fn create_tables(db: &Database) -> Result<(), String> {
    let txn = db.begin_write().map_err(|e| e.to_string())?;
    tables(&txn).map_err(|e| e.to_string())?;
    txn.commit().map_err(|e| e.to_string())
}

/// The chain's error for a failure of its database.
fn failure(e: DbFailure<ChainError>) -> ChainError {
    match e {
        DbFailure::Failed(e) => e,
        DbFailure::Closed => ChainError::Closed,
        other => ChainError::storage("use the devnet database", other.to_string()),
    }
}

fn load_tip(db: &Database) -> Result<Option<DevnetBlock>, ChainError> {
    let txn = db.begin_read().map_err(storage)?;
    let table = txn.open_table(BLOCKS).map_err(storage)?;
    let Some((_, value)) = table.last().map_err(storage)? else {
        return Ok(None);
    };
    let stored: StoredBlock = serde_json::from_slice(value.value())
        .map_err(|e| ChainError::storage("decode a devnet block", e))?;
    stored.into_block().map(Some)
}

fn load_templates(db: &Database) -> Result<Vec<KnownTemplate>, ChainError> {
    let txn = db.begin_read().map_err(storage)?;
    let table = txn.open_table(TEMPLATES).map_err(storage)?;
    let mut out = Vec::new();
    for entry in table.iter().map_err(storage)? {
        let (_, value) = entry.map_err(storage)?;
        if let Ok(k) = serde_json::from_slice::<KnownTemplate>(value.value()) {
            out.push(k);
        }
    }
    Ok(out)
}

fn template_key(commitment: &[u64; 5]) -> String {
    commitment.map(|l| format!("{l:016x}")).concat()
}

fn persist_template(db: &Database, known: Option<&KnownTemplate>) -> Result<(), ChainError> {
    let Some(known) = known else { return Ok(()) };
    let bytes = serde_json::to_vec(known)
        .map_err(|e| ChainError::storage("encode a devnet template", e))?;
    let txn = db.begin_write().map_err(storage)?;
    {
        let mut table = txn.open_table(TEMPLATES).map_err(storage)?;
        table
            .insert(template_key(&known.commitment).as_str(), bytes.as_slice())
            .map_err(storage)?;
    }
    txn.commit().map_err(storage)
}

fn hash(input: &[u64]) -> Result<Digest, ChainError> {
    tip5::try_hash_varlen(input).map_err(|e| ChainError::Protocol {
        operation: "devnet hash".into(),
        reason: e.to_string(),
    })
}

/// The id of the implicit genesis block every devnet chain starts from.
fn genesis_id() -> Result<Digest, ChainError> {
    hash(&[TAG_BLOCK, 0])
}

/// Splits a `u64` into two 32-bit words (both canonical field elements).
fn split(v: u64) -> [u64; 2] {
    [v & 0xFFFF_FFFF, v >> 32]
}

struct Chain {
    tip: Option<DevnetBlock>,
    /// Network difficulty of the block being mined.
    difficulty: u64,
    template: Option<BlockTemplate>,
    /// Recent templates, oldest first (the current one last).
    known: VecDeque<KnownTemplate>,
    template_counter: u64,
    mining: Vec<MiningShare>,
    /// When mining on the current tip began (for retargeting; tokio's clock).
    mining_since: tokio::time::Instant,
}

impl Chain {
    fn height(&self) -> u64 {
        self.tip.as_ref().map_or(0, |t| t.height)
    }

    fn network_target(&self) -> Target {
        Difficulty::saturating(self.difficulty).target()
    }

    /// Builds (and installs) a fresh template on the current tip.
    fn next_template(&mut self, pow_len: u64) -> Result<BlockTemplate, ChainError> {
        let parent = match &self.tip {
            Some(t) => t.block_id,
            None => genesis_id()?,
        };
        let height = self.height() + 1;
        let now = SystemTime::now();
        self.template_counter += 1;
        let mut input = vec![TAG_COMMITMENT];
        input.extend_from_slice(parent.limbs());
        input.push(height);
        input.extend_from_slice(&split(unix_ms(now)));
        input.extend_from_slice(&split(self.difficulty));
        input.push(pow_len);
        input.extend_from_slice(&split(self.template_counter));
        input.push(self.mining.len() as u64);
        for m in &self.mining {
            input.extend_from_slice(m.address.digest().limbs());
            input.extend_from_slice(&split(m.share));
        }
        let template = BlockTemplate {
            commitment: hash(&input)?,
            network_target: self.network_target(),
            height,
            version: nockpool_pow::v5::VERSION,
            pow_len,
            created_at: now,
        };
        self.known.push_back(KnownTemplate {
            commitment: template.commitment.to_limbs(),
            parent: parent.to_limbs(),
            height,
            difficulty: self.difficulty,
            pow_len,
        });
        while self.known.len() > TEMPLATES_KEPT {
            self.known.pop_front();
        }
        self.template = Some(template.clone());
        Ok(template)
    }
}

struct Inner {
    config: DevnetBuilder,
    /// Written under the `chain` lock, and only from blocking threads (never an async one: a
    /// slow disk must not stall the pool's miners).
    db: ReopeningDb,
    chain: Mutex<Chain>,
    templates: watch::Sender<Option<BlockTemplate>>,
    competitor_started: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The embedded development chain: a [`ChainBackend`] with real proof-of-work checks and
/// persistence but simulated everything else (see the module docs). Cheap to clone.
///
/// ```
/// # fn main() -> Result<(), nockpool_server::ChainError> {
/// use nockpool_server::Devnet;
///
/// let devnet = Devnet::builder().initial_difficulty(8).open()?; // in memory
/// assert_eq!(devnet.height(), 0);
/// let template = devnet.force_new_template()?; // a simulated external block
/// assert_eq!((devnet.height(), template.height), (1, 2));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Devnet {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Devnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devnet")
            .field("height", &self.height())
            .field("difficulty", &self.difficulty())
            .finish_non_exhaustive()
    }
}

impl Devnet {
    /// A builder with the defaults (in memory, difficulty 65,536, 30 s blocks, no competitor,
    /// `pow_len` 64).
    pub fn builder() -> DevnetBuilder {
        DevnetBuilder {
            data_dir: None,
            initial_difficulty: 1 << 16,
            min_difficulty: 1,
            block_time: Duration::from_secs(30),
            retarget: true,
            competitor_interval: None,
            pow_len: 64,
        }
    }

    /// Height of the tip (0 before the first block).
    pub fn height(&self) -> u64 {
        lock(&self.inner.chain).height()
    }

    /// The network difficulty of the block being mined.
    pub fn difficulty(&self) -> u64 {
        lock(&self.inner.chain).difficulty
    }

    /// The tip block, if any block was added yet.
    pub fn tip(&self) -> Option<DevnetBlock> {
        lock(&self.inner.chain).tip.clone()
    }

    /// The template being mined now.
    pub fn current_template(&self) -> Option<BlockTemplate> {
        lock(&self.inner.chain).template.clone()
    }

    /// Every stored block, from height 1 up.
    pub fn blocks(&self) -> Result<Vec<DevnetBlock>, ChainError> {
        self.inner
            .db
            .read(|db| {
                let txn = db.begin_read().map_err(storage)?;
                let table = txn.open_table(BLOCKS).map_err(storage)?;
                let mut out = Vec::new();
                for entry in table.iter().map_err(storage)? {
                    let (_, value) = entry.map_err(storage)?;
                    let stored: StoredBlock = serde_json::from_slice(value.value())
                        .map_err(|e| ChainError::storage("decode a devnet block", e))?;
                    out.push(stored.into_block()?);
                }
                Ok(out)
            })
            .map_err(failure)
    }

    /// The address a farm that names none is paid to: generated once per data dir (nobody
    /// holds its key) and kept, so it stays the same across restarts. An in-memory devnet
    /// generates a new one each run.
    pub fn development_address(&self) -> Result<PubkeyHash, ChainError> {
        let stored = self
            .inner
            .db
            .read(|db| {
                let txn = db.begin_read().map_err(storage)?;
                let table = txn.open_table(META).map_err(storage)?;
                let value = table.get(META_DEV_ADDRESS).map_err(storage)?;
                Ok(value.map(|v| v.value().to_vec()))
            })
            .map_err(failure)?;
        if let Some(bytes) = stored {
            let text = String::from_utf8(bytes)
                .map_err(|e| ChainError::storage("decode the development address", e))?;
            return text.parse().map_err(|e| {
                ChainError::storage("decode the development address", format!("{text:?}: {e}"))
            });
        }
        let limbs: [u64; 5] = std::array::from_fn(|_| rand::random::<u64>() % nockpool_core::P);
        let digest = Digest::new(limbs).map_err(|e| ChainError::Protocol {
            operation: "generate a development address".into(),
            reason: e.to_string(),
        })?;
        let address = PubkeyHash::from_digest(digest);
        let text = address.to_string();
        self.inner
            .db
            .write(|db| {
                let txn = db.begin_write().map_err(storage)?;
                {
                    let mut table = txn.open_table(META).map_err(storage)?;
                    table
                        .insert(META_DEV_ADDRESS, text.as_bytes())
                        .map_err(storage)?;
                }
                txn.commit().map_err(storage)
            })
            .map_err(failure)?;
        Ok(address)
    }

    /// Simulates "another miner found a block" now: appends a block without proof of work and
    /// publishes a template on it (every older template becomes stale). Returns the new template.
    pub fn force_new_template(&self) -> Result<BlockTemplate, ChainError> {
        let mut chain = lock(&self.inner.chain);
        let Some(template) = chain.template.clone() else {
            return Err(ChainError::Closed);
        };
        let parent = match &chain.tip {
            Some(t) => t.block_id,
            None => genesis_id()?,
        };
        let mut input = vec![TAG_SIMULATED];
        input.extend_from_slice(template.commitment.limbs());
        let block = DevnetBlock {
            height: template.height,
            block_id: hash(&input)?,
            parent,
            commitment: template.commitment,
            nonce: None,
            pow_digest: None,
            difficulty: chain.difficulty,
            // Simulated blocks do not retarget: their timing is not the chain's hashrate.
            next_difficulty: chain.difficulty,
            timestamp: SystemTime::now(),
            miner: DevnetMiner::Simulated,
        };
        tracing::info!(
            "devnet: simulated external block at height {}",
            block.height
        );
        self.append(&mut chain, block)
    }

    /// Releases the database file (also done when the last clone is dropped).
    pub fn close(&self) {
        self.inner.db.close();
    }

    /// Persists `block`, makes it the tip and publishes the next template.
    fn append(&self, chain: &mut Chain, block: DevnetBlock) -> Result<BlockTemplate, ChainError> {
        let bytes = serde_json::to_vec(&StoredBlock::from_block(&block))
            .map_err(|e| ChainError::storage("encode a devnet block", e))?;
        self.inner
            .db
            .write(|db| {
                let txn = db.begin_write().map_err(storage)?;
                {
                    let mut table = txn.open_table(BLOCKS).map_err(storage)?;
                    table
                        .insert(block.height, bytes.as_slice())
                        .map_err(storage)?;
                }
                // Every template on the old tip is stale now.
                txn.delete_table(TEMPLATES).map_err(storage)?;
                txn.commit().map_err(storage)
            })
            .map_err(failure)?;
        chain.difficulty = block.next_difficulty.max(1);
        chain.tip = Some(block);
        chain.mining_since = tokio::time::Instant::now();
        let template = chain.next_template(self.inner.config.pow_len)?;
        self.persist_latest(chain)?;
        self.inner.templates.send_replace(Some(template.clone()));
        Ok(template)
    }

    fn persist_latest(&self, chain: &Chain) -> Result<(), ChainError> {
        self.inner
            .db
            .write(|db| persist_template(db, chain.known.back()))
            .map_err(failure)
    }

    /// [`ChainBackend::submit_block`], on a thread that may block.
    fn submit_blocking(&self, block: FoundBlock) -> Result<BlockOutcome, ChainError> {
        let mut chain = lock(&self.inner.chain);
        let commitment = block.template.commitment.to_limbs();
        let Some(known) = chain
            .known
            .iter()
            .find(|k| k.commitment == commitment)
            .cloned()
        else {
            return Ok(BlockOutcome::Rejected {
                reason: "unknown commitment: not a template of this devnet".into(),
            });
        };
        let parent = match &chain.tip {
            Some(t) => t.block_id,
            None => genesis_id()?,
        };
        if known.parent != parent.to_limbs() {
            return Ok(BlockOutcome::Stale);
        }
        let digest =
            nockpool_pow::v5::try_digest(&known.commitment, block.nonce.limbs(), known.pow_len)
                .map_err(|e| ChainError::Protocol {
                    operation: "the devnet's digest of a found block".into(),
                    reason: e.to_string(),
                })?;
        if digest != block.digest {
            return Ok(BlockOutcome::Rejected {
                reason: format!("digest mismatch: the nonce hashes to {digest}"),
            });
        }
        if !digest.meets(&Difficulty::saturating(known.difficulty).target()) {
            return Ok(BlockOutcome::Rejected {
                reason: "the digest does not meet the network target".into(),
            });
        }
        let mut input = vec![TAG_BLOCK];
        input.extend_from_slice(&known.commitment);
        input.extend_from_slice(block.nonce.limbs());
        let new = DevnetBlock {
            height: known.height,
            block_id: hash(&input)?,
            parent,
            commitment: block.template.commitment,
            nonce: Some(block.nonce),
            pow_digest: Some(digest),
            difficulty: known.difficulty,
            next_difficulty: self.retargeted(&chain),
            timestamp: SystemTime::now(),
            miner: DevnetMiner::Pool {
                worker: block.worker.clone(),
            },
        };
        let id = new.block_id.to_base58();
        let (height, next_difficulty) = (new.height, new.next_difficulty);
        self.append(&mut chain, new)?;
        tracing::info!(
            "devnet: block {id} accepted at height {height} (found by {}); next difficulty \
             {next_difficulty}",
            block.worker,
        );
        Ok(BlockOutcome::Accepted { block_id: Some(id) })
    }

    fn retargeted(&self, chain: &Chain) -> u64 {
        let cfg = &self.inner.config;
        if !cfg.retarget {
            return chain.difficulty;
        }
        let actual = chain.mining_since.elapsed().as_secs_f64().max(0.001);
        let factor = (cfg.block_time.as_secs_f64() / actual)
            .clamp(1.0 / RETARGET_CLAMP, RETARGET_CLAMP)
            .sqrt(); // damped: one block time is a very noisy sample
        let next = (chain.difficulty as f64 * factor).round();
        let next = if next >= u64::MAX as f64 {
            u64::MAX
        } else {
            next as u64
        };
        next.max(cfg.min_difficulty).max(1)
    }

    fn start_competitor(&self) {
        let Some(interval) = self.inner.config.competitor_interval else {
            return;
        };
        if self.inner.competitor_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut timer =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            loop {
                timer.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let devnet = Devnet { inner };
                let added = tokio::task::spawn_blocking(move || devnet.force_new_template())
                    .await
                    .unwrap_or_else(|e| Err(ChainError::storage("add a simulated block", e)));
                if let Err(e) = added {
                    tracing::debug!("devnet competitor stopped: {e}");
                    return;
                }
            }
        });
    }
}

#[async_trait]
impl ChainBackend for Devnet {
    async fn templates(&self) -> Result<TemplateStream, ChainError> {
        self.start_competitor();
        Ok(self.inner.templates.subscribe())
    }

    async fn submit_block(&self, block: FoundBlock) -> Result<BlockOutcome, ChainError> {
        // Checking is quick, but the append is a durable write: not on an async thread.
        let devnet = self.clone();
        tokio::task::spawn_blocking(move || devnet.submit_blocking(block))
            .await
            .map_err(|e| ChainError::storage("run the devnet's writer", e))?
    }

    async fn status(&self) -> Result<ChainStatus, ChainError> {
        // From the published template, not the chain's lock: a block being written (slowly)
        // holds that, and the pool asks for the status from an async thread.
        let template = self.inner.templates.borrow().clone();
        let mut warnings =
            vec!["simulated development chain: its blocks are not Nockchain blocks".to_owned()];
        if let StorageHealth::Failing { error, .. } = self.inner.db.health() {
            warnings.push(format!(
                "the devnet database cannot be written ({error}): no block can be added until \
                 it recovers"
            ));
        }
        Ok(ChainStatus {
            backend: "devnet".into(),
            connected: true,
            version: Some(concat!("nockpool devnet ", env!("CARGO_PKG_VERSION")).into()),
            height: template.as_ref().map(|t| t.height.saturating_sub(1)),
            synced: true,
            peers: Some(0),
            last_template_at: template.as_ref().map(|t| t.created_at),
            proofs_in_flight: 0,
            warnings,
        })
    }

    async fn set_mining_addresses(&self, shares: &[MiningShare]) -> Result<(), ChainError> {
        let devnet = self.clone();
        let shares = shares.to_vec();
        tokio::task::spawn_blocking(move || {
            let mut chain = lock(&devnet.inner.chain);
            if chain.mining == shares {
                return Ok(());
            }
            chain.mining = shares;
            let template = chain.next_template(devnet.inner.config.pow_len)?;
            devnet.persist_latest(&chain)?;
            devnet.inner.templates.send_replace(Some(template));
            Ok(())
        })
        .await
        .map_err(|e| ChainError::storage("run the devnet's writer", e))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real block for the current template: grinds nonces with the v5 digest.
    fn solve(devnet: &Devnet, worker: &str) -> FoundBlock {
        let template = devnet.current_template().unwrap();
        for counter in 0..100_000u64 {
            let nonce = Nonce::new([counter, 0, 0, 0, 7]).unwrap();
            let d = nockpool_pow::v5::try_digest(
                template.commitment.limbs(),
                nonce.limbs(),
                template.pow_len,
            )
            .unwrap();
            if d.meets(&template.network_target) {
                return FoundBlock {
                    template,
                    nonce,
                    digest: d,
                    worker: worker.into(),
                    found_at: SystemTime::now(),
                };
            }
        }
        panic!("no block in 100k nonces");
    }

    #[tokio::test]
    async fn checks_blocks_with_the_real_digest_and_target() {
        let devnet = Devnet::builder()
            .initial_difficulty(4)
            .retarget(false)
            .open()
            .unwrap();
        let good = solve(&devnet, "w");

        let mut wrong_digest = good.clone();
        wrong_digest.digest = Digest::new([1, 2, 3, 4, 5]).unwrap();
        assert!(matches!(
            devnet.submit_block(wrong_digest).await.unwrap(),
            BlockOutcome::Rejected { .. }
        ));
        // A nonce whose digest misses the network target.
        let t = good.template.clone();
        let (nonce, digest) = (0..1000u64)
            .map(|c| Nonce::new([c, 1, 0, 0, 7]).unwrap())
            .map(|n| {
                let d = nockpool_pow::v5::try_digest(t.commitment.limbs(), n.limbs(), t.pow_len);
                (n, d.unwrap())
            })
            .find(|(_, d)| !d.meets(&t.network_target))
            .unwrap();
        let low = FoundBlock {
            nonce,
            digest,
            ..good.clone()
        };
        assert!(matches!(
            devnet.submit_block(low).await.unwrap(),
            BlockOutcome::Rejected { .. }
        ));
        let mut unknown = good.clone();
        unknown.template.commitment = Digest::new([9, 9, 9, 9, 9]).unwrap();
        assert!(matches!(
            devnet.submit_block(unknown).await.unwrap(),
            BlockOutcome::Rejected { .. }
        ));
        assert_eq!(devnet.height(), 0);

        assert!(matches!(
            devnet.submit_block(good.clone()).await.unwrap(),
            BlockOutcome::Accepted { block_id: Some(_) }
        ));
        assert_eq!(devnet.height(), 1);
        // The same block again: its parent is no longer the tip.
        assert_eq!(
            devnet.submit_block(good).await.unwrap(),
            BlockOutcome::Stale
        );
    }

    #[tokio::test]
    async fn chain_reloads_and_continues() {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            Devnet::builder()
                .data_dir(dir.path())
                .initial_difficulty(2)
                .retarget(false)
                .open()
                .unwrap()
        };
        let devnet = open();
        let block = solve(&devnet, "w");
        devnet.submit_block(block).await.unwrap();
        devnet.force_new_template().unwrap();
        // A block found on the current template just before a restart...
        let pending = solve(&devnet, "w");
        let before = devnet.blocks().unwrap();
        assert_eq!(before.len(), 2);
        assert!(matches!(before[1].miner, DevnetMiner::Simulated));
        drop(devnet);

        let devnet = open();
        assert_eq!(devnet.height(), 2);
        assert_eq!(devnet.blocks().unwrap(), before);
        assert_eq!(devnet.current_template().unwrap().height, 3);
        assert_eq!(devnet.tip().unwrap().parent, before[0].block_id);
        // ...is still accepted after it.
        let outcome = devnet.submit_block(pending).await.unwrap();
        assert!(
            matches!(outcome, BlockOutcome::Accepted { .. }),
            "{outcome:?}"
        );
        assert_eq!(devnet.height(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn difficulty_retargets_toward_the_block_time() {
        let devnet = Devnet::builder()
            .initial_difficulty(16)
            .block_time(Duration::from_secs(30))
            .open()
            .unwrap();
        // A block after 7.5 s (4x too fast): difficulty x2 (the square root of the clamp).
        tokio::time::advance(Duration::from_millis(7500)).await;
        devnet.submit_block(solve(&devnet, "w")).await.unwrap();
        assert_eq!(devnet.difficulty(), 32);
        // Right on time: unchanged.
        tokio::time::advance(Duration::from_secs(30)).await;
        devnet.submit_block(solve(&devnet, "w")).await.unwrap();
        assert_eq!(devnet.difficulty(), 32);
        // Far too slow: halved (clamped).
        tokio::time::advance(Duration::from_secs(600)).await;
        devnet.submit_block(solve(&devnet, "w")).await.unwrap();
        assert_eq!(devnet.difficulty(), 16);
        assert_eq!(devnet.tip().unwrap().next_difficulty, 16);
    }

    #[tokio::test(start_paused = true)]
    async fn competitor_adds_blocks_on_its_interval() {
        let devnet = Devnet::builder()
            .competitor_interval(Some(Duration::from_secs(20)))
            .open()
            .unwrap();
        let mut templates = devnet.templates().await.unwrap();
        let start = tokio::time::Instant::now();
        for height in 1..=3u64 {
            templates.changed().await.unwrap();
            assert_eq!(devnet.height(), height);
            assert_eq!(start.elapsed(), Duration::from_secs(20 * height));
            let t = templates.borrow_and_update().clone().unwrap();
            assert_eq!(t.height, height + 1);
        }
    }

    #[tokio::test]
    async fn mining_addresses_change_the_commitment() {
        let devnet = Devnet::builder().open().unwrap();
        let before = devnet.current_template().unwrap();
        let share = MiningShare {
            address: PubkeyHash::from_digest(Digest::new([1, 2, 3, 4, 5]).unwrap()),
            share: 1,
        };
        devnet.set_mining_addresses(&[share]).await.unwrap();
        let after = devnet.current_template().unwrap();
        assert_ne!(before.commitment, after.commitment);
        assert_eq!(before.height, after.height);
        // Setting the same again publishes nothing new.
        devnet.set_mining_addresses(&[share]).await.unwrap();
        assert_eq!(devnet.current_template().unwrap(), after);
        let status = devnet.status().await.unwrap();
        assert_eq!(
            (status.backend.as_str(), status.height),
            ("devnet", Some(0))
        );
    }

    fn on_test_disk(dir: &std::path::Path, disk: &crate::reopen::testing::TestDisk) -> Devnet {
        let opener = crate::reopen::testing::test_disk_opener(
            &dir.join(DEVNET_DB_FILE),
            disk.clone(),
            create_tables,
        );
        Devnet::builder()
            .initial_difficulty(4)
            .retarget(false)
            .open_with(opener)
            .unwrap()
    }

    /// Issue 10, item 3: the append is a durable write; on an async thread a slow disk would
    /// stall everything else the runtime runs (every miner's stream, in a pool).
    #[tokio::test(flavor = "current_thread")]
    async fn a_slow_disk_does_not_stall_the_async_threads() {
        let dir = tempfile::tempdir().unwrap();
        let disk = crate::reopen::testing::TestDisk::default();
        let devnet = on_test_disk(dir.path(), &disk);
        let block = solve(&devnet, "w");
        disk.stall();
        // Bounds the test if the write does block the (only) runtime thread.
        let watchdog = disk.release_after(Duration::from_secs(10));
        let submitting = devnet.clone();
        let submit = tokio::spawn(async move { submitting.submit_block(block).await });
        disk.stalled().await;
        // The block's write waits on the disk; the runtime's thread is free meanwhile.
        let status = devnet.status().await.unwrap();
        assert!(
            !disk.timed_out(),
            "the runtime thread was blocked until the watchdog released the disk"
        );
        assert_eq!(status.height, Some(0));
        disk.release();
        let outcome = submit.await.unwrap().unwrap();
        assert!(
            matches!(outcome, BlockOutcome::Accepted { .. }),
            "{outcome:?}"
        );
        assert_eq!(devnet.height(), 1);
        watchdog.join().unwrap();
    }

    /// Issue 10, item 1: after a failed write redb refuses every transaction until it is
    /// reopened; the devnet reopens it by itself once writes succeed again.
    #[tokio::test]
    async fn after_a_failed_append_the_chain_reopens_its_database_and_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let disk = crate::reopen::testing::TestDisk::default();
        let devnet = on_test_disk(dir.path(), &disk);
        let block = solve(&devnet, "w");
        disk.set_full(true);
        assert!(matches!(
            devnet.submit_block(block.clone()).await,
            Err(ChainError::Storage { .. })
        ));
        assert_eq!(devnet.height(), 0, "nothing half-added");
        let status = devnet.status().await.unwrap();
        assert!(
            status
                .warnings
                .iter()
                .any(|w| w.contains("cannot be written")),
            "{status:?}"
        );
        disk.set_full(false);
        let outcome = devnet.submit_block(block).await.unwrap();
        assert!(
            matches!(outcome, BlockOutcome::Accepted { .. }),
            "{outcome:?}"
        );
        assert_eq!(devnet.height(), 1);
        assert_eq!(devnet.status().await.unwrap().warnings.len(), 1);
        assert_eq!(devnet.blocks().unwrap().len(), 1);
    }

    /// Issue 10, item 4: a farm that names no address is paid to the same generated address
    /// after a restart.
    #[test]
    fn the_development_address_is_kept_in_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let open = |dir: &std::path::Path| Devnet::builder().data_dir(dir).open().unwrap();
        let first = open(dir.path()).development_address().unwrap();
        let devnet = open(dir.path());
        assert_eq!(devnet.development_address().unwrap(), first);
        assert_eq!(devnet.development_address().unwrap(), first);
        drop(devnet);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(open(other.path()).development_address().unwrap(), first);
    }
}
