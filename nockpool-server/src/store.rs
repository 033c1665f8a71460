//! The pool's own storage (redb under the data dir): found blocks and per-worker totals.
//!
//! Found blocks are written with immediate durability *before* the finder gets its ack; worker
//! totals are flushed periodically and at shutdown (losing at most one flush interval of
//! counters in a crash, never a block). The last few block templates are kept too, so that a
//! block found on one of them before a restart can still be recognised after it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nockpool_core::{Digest, Nonce, Target, U320};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::events::{EventBus, PoolEvent, StorageHealth};
use crate::reopen::{DbFailure, Opener, ReopeningDb};
use crate::{BlockOutcome, BlockTemplate, FoundBlock, ServerError};

const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("found_blocks");
const WORKERS: TableDefinition<&str, &[u8]> = TableDefinition::new("workers");
const TEMPLATES: TableDefinition<u64, &[u8]> = TableDefinition::new("templates");
/// Small facts about the data dir itself (e.g. when writes last succeeded a probe).
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The key [`Store::probe`] writes.
const META_PROBE: &str = "probe_unix_ms";

/// Templates kept on disk (the newest ones; older ones are pruned as new ones arrive).
pub(crate) const TEMPLATES_STORED: usize = 16;

/// The file name of the pool's database inside the data dir.
pub(crate) const POOL_DB_FILE: &str = "pool.redb";

/// A found block as the pool keeps it: the block itself and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRecord {
    /// The pool's sequence number for this block (unique in its data dir).
    pub id: u64,
    /// The block.
    pub block: FoundBlock,
    /// The backend's verdict; `None` while submission is pending (it is retried, also after a
    /// restart).
    pub outcome: Option<BlockOutcome>,
    /// Submission attempts so far.
    pub attempts: u32,
    /// The last submission error, if any.
    pub last_error: Option<String>,
}

/// Lifetime counters of one worker, persisted across restarts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct WorkerTotals {
    pub(crate) accepted: u64,
    pub(crate) accepted_work: u128,
    pub(crate) rejected: BTreeMap<String, u64>,
    pub(crate) blocks_found: u64,
    pub(crate) last_share_unix_ms: Option<u64>,
    /// The share difficulty its connections had last (a new connection starts there, also
    /// after a restart of the pool). Absent in data dirs of older builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) difficulty: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind")]
enum StoredOutcome {
    Accepted { block_id: Option<String> },
    Rejected { reason: String },
    Stale,
}

#[derive(Serialize, Deserialize)]
struct StoredBlock {
    id: u64,
    height: u64,
    worker: String,
    nonce: [u64; 5],
    digest: [u64; 5],
    commitment: [u64; 5],
    /// Decimal.
    network_target: String,
    version: u64,
    pow_len: u64,
    template_created_unix_ms: u64,
    found_unix_ms: u64,
    outcome: Option<StoredOutcome>,
    attempts: u32,
    last_error: Option<String>,
}

pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) fn from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// A block template as stored (so a block found on it survives a restart of the pool).
#[derive(Serialize, Deserialize)]
struct StoredTemplate {
    commitment: [u64; 5],
    /// Decimal.
    network_target: String,
    height: u64,
    version: u64,
    pow_len: u64,
    created_unix_ms: u64,
}

impl StoredTemplate {
    fn from_template(t: &BlockTemplate) -> StoredTemplate {
        StoredTemplate {
            commitment: t.commitment.to_limbs(),
            network_target: t.network_target.value().to_string(),
            height: t.height,
            version: t.version,
            pow_len: t.pow_len,
            created_unix_ms: unix_ms(t.created_at),
        }
    }

    fn into_template(self) -> Result<BlockTemplate, String> {
        let target: U320 = self.network_target.parse().map_err(|e| format!("{e}"))?;
        Ok(BlockTemplate {
            commitment: Digest::new(self.commitment).map_err(|e| e.to_string())?,
            network_target: Target::from_u320(target),
            height: self.height,
            version: self.version,
            pow_len: self.pow_len,
            created_at: from_unix_ms(self.created_unix_ms),
        })
    }
}

impl StoredBlock {
    fn from_record(r: &BlockRecord) -> StoredBlock {
        let b = &r.block;
        StoredBlock {
            id: r.id,
            height: b.template.height,
            worker: b.worker.clone(),
            nonce: b.nonce.to_limbs(),
            digest: b.digest.to_limbs(),
            commitment: b.template.commitment.to_limbs(),
            network_target: b.template.network_target.value().to_string(),
            version: b.template.version,
            pow_len: b.template.pow_len,
            template_created_unix_ms: unix_ms(b.template.created_at),
            found_unix_ms: unix_ms(b.found_at),
            outcome: r.outcome.as_ref().map(|o| match o {
                BlockOutcome::Accepted { block_id } => StoredOutcome::Accepted {
                    block_id: block_id.clone(),
                },
                BlockOutcome::Rejected { reason } => StoredOutcome::Rejected {
                    reason: reason.clone(),
                },
                BlockOutcome::Stale => StoredOutcome::Stale,
            }),
            attempts: r.attempts,
            last_error: r.last_error.clone(),
        }
    }

    fn into_record(self) -> Result<BlockRecord, String> {
        let target: U320 = self.network_target.parse().map_err(|e| format!("{e}"))?;
        let digest = |l: [u64; 5]| Digest::new(l).map_err(|e| e.to_string());
        Ok(BlockRecord {
            id: self.id,
            block: FoundBlock {
                template: BlockTemplate {
                    commitment: digest(self.commitment)?,
                    network_target: Target::from_u320(target),
                    height: self.height,
                    version: self.version,
                    pow_len: self.pow_len,
                    created_at: from_unix_ms(self.template_created_unix_ms),
                },
                nonce: Nonce::new(self.nonce).map_err(|e| e.to_string())?,
                digest: digest(self.digest)?,
                worker: self.worker,
                found_at: from_unix_ms(self.found_unix_ms),
            },
            outcome: self.outcome.map(|o| match o {
                StoredOutcome::Accepted { block_id } => BlockOutcome::Accepted { block_id },
                StoredOutcome::Rejected { reason } => BlockOutcome::Rejected { reason },
                StoredOutcome::Stale => BlockOutcome::Stale,
            }),
            attempts: self.attempts,
            last_error: self.last_error,
        })
    }
}

/// The pool's database. `close` releases the file so a new server can open the same data dir
/// in the same process. After a failed write the file is reopened by the next operation (see
/// [`ReopeningDb`]).
pub(crate) struct Store {
    db: ReopeningDb,
}

fn storage<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    operation: &'static str,
) -> impl Fn(E) -> ServerError {
    move |e| ServerError::Storage {
        operation,
        source: e.into(),
    }
}

/// Creates the pool's tables inside `txn`, so that readers never see "table does not exist".
fn tables(txn: &redb::WriteTransaction) -> Result<(), redb::TableError> {
    txn.open_table(BLOCKS)?;
    txn.open_table(TEMPLATES)?;
    txn.open_table(WORKERS)?;
    txn.open_table(META)?;
    Ok(())
}

/// Creates the tables on a database opened without [`nockpool_core::open_db`] (tests' disks).
#[cfg(test)]
pub(crate) fn create_tables(db: &redb::Database) -> Result<(), String> {
    let txn = db.begin_write().map_err(|e| e.to_string())?;
    tables(&txn).map_err(|e| e.to_string())?;
    txn.commit().map_err(|e| e.to_string())
}

/// What a failure of the pool's database means, for its log line and status.
fn failure(e: DbFailure<ServerError>) -> ServerError {
    match e {
        DbFailure::Failed(e) => e,
        other => storage("use the pool database")(other.to_string()),
    }
}

impl Store {
    /// Opens (or creates) `data_dir/pool.redb`; with no data dir, an in-memory database.
    /// `events` hears when writes start failing and when they recover.
    pub(crate) fn open(data_dir: Option<&Path>, events: EventBus) -> Result<Store, ServerError> {
        let create = |db: nockpool_core::CoreError| storage("open the pool database")(db);
        let db = match data_dir {
            Some(dir) => {
                let dir = dir.to_owned();
                let name = format!("pool database {}", dir.join(POOL_DB_FILE).display());
                let opener: Opener = Box::new(move || {
                    nockpool_core::open_db(Some(&dir), POOL_DB_FILE, tables)
                        .map_err(|e| e.to_string())
                });
                ReopeningDb::open(name, opener).map_err(storage("open the pool database"))?
            }
            None => {
                let db = nockpool_core::open_db(None, POOL_DB_FILE, tables).map_err(create)?;
                ReopeningDb::in_memory("in-memory pool database".into(), db)
            }
        };
        Ok(Store::with_db(db, events))
    }

    /// A store on a database `opener` opens (and opens again after a failure), e.g. through a
    /// backend that fails on demand. It reopens on the first operation after each failure (no
    /// [`REOPEN_INTERVAL`](crate::reopen::REOPEN_INTERVAL) between attempts), so these tests
    /// need no clock; `reopen.rs` tests the interval.
    #[cfg(test)]
    pub(crate) fn open_with(opener: Opener, events: EventBus) -> Result<Store, ServerError> {
        let db = ReopeningDb::open("test pool database".into(), opener)
            .map_err(storage("open the pool database"))?
            .reopen_interval(std::time::Duration::ZERO);
        Ok(Store::with_db(db, events))
    }

    fn with_db(db: ReopeningDb, events: EventBus) -> Store {
        let db = db.on_change(move |health| {
            events.emit(match health {
                StorageHealth::Ok => PoolEvent::StorageRecovered,
                StorageHealth::Failing { error, .. } => PoolEvent::StorageFailed {
                    error: error.clone(),
                },
            })
        });
        Store { db }
    }

    /// Whether the last write succeeded.
    pub(crate) fn health(&self) -> StorageHealth {
        self.db.health()
    }

    /// While writes fail: reopens the database and tries a small write, so the health recovers
    /// as soon as the disk does.
    pub(crate) fn probe(&self) {
        self.db.probe(|db| {
            let txn = db.begin_write().map_err(storage("begin"))?;
            {
                let mut table = txn.open_table(META).map_err(storage("open table"))?;
                let now = unix_ms(SystemTime::now()).to_le_bytes();
                table
                    .insert(META_PROBE, now.as_slice())
                    .map_err(storage("write the probe"))?;
            }
            txn.commit().map_err(storage("commit the probe"))
        });
    }

    /// Every stored block, oldest first. Records that do not decode are skipped with a warning.
    pub(crate) fn load_blocks(&self) -> Result<Vec<BlockRecord>, ServerError> {
        self.db
            .read(|db| {
                let txn = db.begin_read().map_err(storage("begin read"))?;
                let table = txn.open_table(BLOCKS).map_err(storage("open table"))?;
                let mut out = Vec::new();
                for entry in table.iter().map_err(storage("iterate"))? {
                    let (key, value) = entry.map_err(storage("read"))?;
                    out.extend(decode_block(key.value(), value.value()));
                }
                Ok(out)
            })
            .map_err(failure)
    }

    /// Up to `limit` blocks with ids below `before` (all when `None`), newest first. Records
    /// that do not decode are skipped with a warning.
    pub(crate) fn blocks_page(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<BlockRecord>, ServerError> {
        self.db
            .read(|db| {
                let txn = db.begin_read().map_err(storage("begin read"))?;
                let table = txn.open_table(BLOCKS).map_err(storage("open table"))?;
                let range = match before {
                    Some(before) => table.range(..before),
                    None => table.range(0..),
                }
                .map_err(storage("iterate"))?;
                let mut out = Vec::new();
                for entry in range.rev() {
                    if out.len() >= limit {
                        break;
                    }
                    let (key, value) = entry.map_err(storage("read"))?;
                    out.extend(decode_block(key.value(), value.value()));
                }
                Ok(out)
            })
            .map_err(failure)
    }

    /// Writes a block record durably (the call returns after the data is on disk).
    pub(crate) fn put_block(&self, record: &BlockRecord) -> Result<(), ServerError> {
        let bytes = serde_json::to_vec(&StoredBlock::from_record(record))
            .map_err(storage("encode block"))?;
        self.db
            .write(|db| {
                let txn = db.begin_write().map_err(storage("begin"))?;
                {
                    let mut table = txn.open_table(BLOCKS).map_err(storage("open table"))?;
                    table
                        .insert(record.id, bytes.as_slice())
                        .map_err(storage("insert block"))?;
                }
                txn.commit().map_err(storage("commit block"))
            })
            .map_err(failure)
    }

    pub(crate) fn load_workers(&self) -> Result<Vec<(String, WorkerTotals)>, ServerError> {
        self.db
            .read(|db| {
                let txn = db.begin_read().map_err(storage("begin read"))?;
                let table = txn.open_table(WORKERS).map_err(storage("open table"))?;
                let mut out = Vec::new();
                for entry in table.iter().map_err(storage("iterate"))? {
                    let (key, value) = entry.map_err(storage("read"))?;
                    match serde_json::from_slice::<WorkerTotals>(value.value()) {
                        Ok(t) => out.push((key.value().to_owned(), t)),
                        Err(e) => {
                            tracing::warn!("skipping unreadable worker {:?}: {e}", key.value())
                        }
                    }
                }
                Ok(out)
            })
            .map_err(failure)
    }

    /// Writes `workers`' totals and deletes the `forgotten` names, in one transaction.
    pub(crate) fn put_workers(
        &self,
        workers: &[(String, WorkerTotals)],
        forgotten: &[String],
    ) -> Result<(), ServerError> {
        if workers.is_empty() && forgotten.is_empty() {
            return Ok(());
        }
        let encoded = workers
            .iter()
            .map(|(name, t)| serde_json::to_vec(t).map(|b| (name.as_str(), b)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(storage("encode worker"))?;
        self.db
            .write(|db| {
                let txn = db.begin_write().map_err(storage("begin"))?;
                {
                    let mut table = txn.open_table(WORKERS).map_err(storage("open table"))?;
                    for (name, bytes) in &encoded {
                        table
                            .insert(*name, bytes.as_slice())
                            .map_err(storage("insert worker"))?;
                    }
                    for name in forgotten {
                        table
                            .remove(name.as_str())
                            .map_err(storage("delete worker"))?;
                    }
                }
                txn.commit().map_err(storage("commit workers"))
            })
            .map_err(failure)
    }

    /// The stored templates, oldest first (unreadable ones are skipped with a warning).
    pub(crate) fn load_templates(&self) -> Result<Vec<BlockTemplate>, ServerError> {
        self.db
            .read(|db| {
                let txn = db.begin_read().map_err(storage("begin read"))?;
                let table = txn.open_table(TEMPLATES).map_err(storage("open table"))?;
                let mut out = Vec::new();
                for entry in table.iter().map_err(storage("iterate"))? {
                    let (key, value) = entry.map_err(storage("read"))?;
                    match serde_json::from_slice::<StoredTemplate>(value.value())
                        .map_err(|e| e.to_string())
                        .and_then(StoredTemplate::into_template)
                    {
                        Ok(t) => out.push(t),
                        Err(e) => {
                            tracing::warn!("skipping unreadable template #{}: {e}", key.value())
                        }
                    }
                }
                Ok(out)
            })
            .map_err(failure)
    }

    /// Appends a template durably and prunes all but the newest [`TEMPLATES_STORED`].
    pub(crate) fn put_template(&self, template: &BlockTemplate) -> Result<(), ServerError> {
        let bytes = serde_json::to_vec(&StoredTemplate::from_template(template))
            .map_err(storage("encode template"))?;
        self.db
            .write(|db| {
                let txn = db.begin_write().map_err(storage("begin"))?;
                {
                    let mut table = txn.open_table(TEMPLATES).map_err(storage("open table"))?;
                    let next = table
                        .last()
                        .map_err(storage("read"))?
                        .map_or(0, |(k, _)| k.value() + 1);
                    table
                        .insert(next, bytes.as_slice())
                        .map_err(storage("insert template"))?;
                    let keep_from = (next + 1).saturating_sub(TEMPLATES_STORED as u64);
                    table
                        .retain(|k, _| k >= keep_from)
                        .map_err(storage("prune templates"))?;
                }
                txn.commit().map_err(storage("commit template"))
            })
            .map_err(failure)
    }

    /// Closes the database file; later writes fail with a storage error.
    pub(crate) fn close(&self) {
        self.db.close();
    }
}

/// A stored block record, or `None` (with a warning) when it does not decode: one bad record
/// must not hide the others.
fn decode_block(id: u64, bytes: &[u8]) -> Option<BlockRecord> {
    match serde_json::from_slice::<StoredBlock>(bytes)
        .map_err(|e| e.to_string())
        .and_then(StoredBlock::into_record)
    {
        Ok(record) => Some(record),
        Err(e) => {
            tracing::warn!("skipping unreadable found block #{id}: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: u64) -> BlockRecord {
        BlockRecord {
            id,
            block: FoundBlock {
                template: BlockTemplate {
                    commitment: Digest::new([1, 2, 3, 4, 5]).unwrap(),
                    network_target: Target::from_u320(U320::from_u128(123_456_789)),
                    height: 42,
                    version: 5,
                    pow_len: 64,
                    created_at: from_unix_ms(1_700_000_000_000),
                },
                nonce: Nonce::new([6, 7, 8, 9, 10]).unwrap(),
                digest: Digest::new([11, 12, 13, 14, 15]).unwrap(),
                worker: "rig-1".into(),
                found_at: from_unix_ms(1_700_000_001_000),
            },
            outcome: None,
            attempts: 0,
            last_error: None,
        }
    }

    #[test]
    fn blocks_and_workers_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(Some(dir.path()), EventBus::new(16)).unwrap();
        let mut rec = sample(1);
        store.put_block(&rec).unwrap();
        rec.outcome = Some(BlockOutcome::Accepted {
            block_id: Some("abc".into()),
        });
        rec.attempts = 1;
        store.put_block(&rec).unwrap();
        store.put_block(&sample(2)).unwrap();
        let totals = WorkerTotals {
            accepted: 3,
            accepted_work: 3000,
            blocks_found: 1,
            ..WorkerTotals::default()
        };
        store
            .put_workers(&[("rig-1".to_owned(), totals.clone())], &[])
            .unwrap();
        store.close();
        assert!(store.put_block(&sample(3)).is_err());

        let store = Store::open(Some(dir.path()), EventBus::new(16)).unwrap();
        let blocks = store.load_blocks().unwrap();
        assert_eq!(blocks, vec![rec, sample(2)]);
        assert_eq!(
            store.load_workers().unwrap(),
            vec![("rig-1".into(), totals)]
        );
    }

    #[test]
    fn templates_survive_reopen_and_only_the_newest_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(Some(dir.path()), EventBus::new(16)).unwrap();
        let template = |h: u64| BlockTemplate {
            height: h,
            commitment: Digest::new([h, 2, 3, 4, 5]).unwrap(),
            ..sample(1).block.template
        };
        let total = TEMPLATES_STORED as u64 + 3;
        for h in 0..total {
            store.put_template(&template(h)).unwrap();
        }
        store.close();
        let store = Store::open(Some(dir.path()), EventBus::new(16)).unwrap();
        let loaded = store.load_templates().unwrap();
        let expected: Vec<BlockTemplate> = (3..total).map(template).collect();
        assert_eq!(loaded, expected);
    }

    #[test]
    fn after_a_failed_write_the_store_reopens_itself_once_the_disk_allows() {
        use crate::reopen::testing::{test_disk_opener, TestDisk};
        let dir = tempfile::tempdir().unwrap();
        let full = TestDisk::default();
        let events = EventBus::new(16);
        let mut rx = events.subscribe();
        let opener = test_disk_opener(&dir.path().join(POOL_DB_FILE), full.clone(), create_tables);
        let store = Store::open_with(opener, events).unwrap();
        store.put_block(&sample(1)).unwrap();
        assert_eq!(store.health(), StorageHealth::Ok);

        full.set_full(true);
        assert!(store.put_block(&sample(2)).is_err());
        assert!(matches!(store.health(), StorageHealth::Failing { .. }));
        assert!(matches!(rx.try_recv(), Ok(PoolEvent::StorageFailed { .. })));
        // Still full: the reopen (or the write) fails again; nothing half-written appears.
        assert!(store.put_block(&sample(2)).is_err());
        store.probe();
        assert!(matches!(store.health(), StorageHealth::Failing { .. }));

        // Space again: the probe reopens the file and a write succeeds.
        full.set_full(false);
        store.probe();
        assert_eq!(store.health(), StorageHealth::Ok);
        assert_eq!(rx.try_recv().ok(), Some(PoolEvent::StorageRecovered));
        store.put_block(&sample(2)).unwrap();
        let ids: Vec<u64> = store.load_blocks().unwrap().iter().map(|b| b.id).collect();
        assert_eq!(ids, vec![1, 2]);
    }
}
