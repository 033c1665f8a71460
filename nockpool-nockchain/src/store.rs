//! Found blocks on their way to the node, persisted before anything else happens to them
//! (`<data dir>/nockchain-node.redb`), so a crash between finding, proving and submitting
//! never loses a nonce.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nockpool_core::{ChainError, FoundBlock};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

/// File name of the node backend's database inside the data directory.
pub const NODE_DB_FILE: &str = "nockchain-node.redb";

/// Key: `<commitment limbs>/<nonce limbs>` in hex; value: JSON [`Submission`].
const SUBMISSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("node_submissions");
/// Key: same as above; value: the jammed submit poke the prover produced.
const POKES: TableDefinition<&str, &[u8]> = TableDefinition::new("node_pokes");

/// Where one found block stands.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Persisted; not proved yet.
    Found,
    /// The prover's poke is stored; not yet poked to the node.
    Proved,
    /// Poked to the node; acceptance not yet confirmed.
    Submitted,
    /// Final: accepted, rejected or stale (see `outcome`).
    Done,
}

/// One found block's record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Submission {
    pub(crate) height: u64,
    pub(crate) version: u64,
    pub(crate) pow_len: u64,
    pub(crate) commitment: [u64; 5],
    pub(crate) nonce: [u64; 5],
    pub(crate) digest: [u64; 5],
    pub(crate) worker: String,
    pub(crate) found_at_ms: u64,
    pub(crate) stage: Stage,
    /// `accepted <id>`, `rejected: <reason>`, `stale`, once known.
    pub(crate) outcome: Option<String>,
    /// Milliseconds from the share's arrival to the submit poke.
    pub(crate) found_to_poke_ms: Option<u64>,
    /// Proof attempts made.
    pub(crate) proof_attempts: u32,
}

impl Submission {
    pub(crate) fn new(block: &FoundBlock) -> Submission {
        Submission {
            height: block.template.height,
            version: block.template.version,
            pow_len: block.template.pow_len,
            commitment: block.template.commitment.to_limbs(),
            nonce: block.nonce.to_limbs(),
            digest: block.digest.to_limbs(),
            worker: block.worker.clone(),
            found_at_ms: millis(block.found_at),
            stage: Stage::Found,
            outcome: None,
            found_to_poke_ms: None,
            proof_attempts: 0,
        }
    }

    pub(crate) fn key(&self) -> String {
        key_of(&self.commitment, &self.nonce)
    }
}

pub(crate) fn key_of(commitment: &[u64; 5], nonce: &[u64; 5]) -> String {
    let hex = |limbs: &[u64; 5]| {
        limbs
            .iter()
            .map(|l| format!("{l:016x}"))
            .collect::<Vec<_>>()
            .join("")
    };
    format!("{}/{}", hex(commitment), hex(nonce))
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64
}

fn storage<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    operation: &'static str,
) -> impl Fn(E) -> ChainError {
    move |e| ChainError::storage(operation, e)
}

/// The redb-backed store (in memory when no data directory is given).
pub(crate) struct SubmissionStore {
    db: Mutex<Database>,
}

impl SubmissionStore {
    pub(crate) fn open(dir: Option<&Path>) -> Result<SubmissionStore, ChainError> {
        let db = nockpool_core::open_db(dir, NODE_DB_FILE, |txn| {
            txn.open_table(SUBMISSIONS)?;
            txn.open_table(POKES)?;
            Ok(())
        })
        .map_err(storage("open the node block store"))?;
        Ok(SubmissionStore { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Database> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes a record durably (returns after the commit).
    pub(crate) fn put(&self, record: &Submission) -> Result<(), ChainError> {
        let bytes = serde_json::to_vec(record).map_err(storage("encode a found block record"))?;
        let db = self.db();
        let txn = db
            .begin_write()
            .map_err(storage("begin a node block store transaction"))?;
        {
            let mut table = txn
                .open_table(SUBMISSIONS)
                .map_err(storage("open a node block store table"))?;
            table
                .insert(record.key().as_str(), bytes.as_slice())
                .map_err(storage("write a found block record"))?;
        }
        txn.commit()
            .map_err(storage("commit to the node block store"))
    }

    /// Stores the prover's jammed poke for a record (so a retry never proves twice).
    pub(crate) fn put_poke(&self, key: &str, poke_jam: &[u8]) -> Result<(), ChainError> {
        let db = self.db();
        let txn = db
            .begin_write()
            .map_err(storage("begin a node block store transaction"))?;
        {
            let mut table = txn
                .open_table(POKES)
                .map_err(storage("open a node block store table"))?;
            table
                .insert(key, poke_jam)
                .map_err(storage("write a submit poke"))?;
        }
        txn.commit()
            .map_err(storage("commit to the node block store"))
    }

    pub(crate) fn get(&self, key: &str) -> Result<Option<Submission>, ChainError> {
        let db = self.db();
        let txn = db
            .begin_read()
            .map_err(storage("read the node block store"))?;
        let table = txn
            .open_table(SUBMISSIONS)
            .map_err(storage("open a node block store table"))?;
        let Some(value) = table
            .get(key)
            .map_err(storage("read the node block store"))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(value.value())
            .map(Some)
            .map_err(storage("decode a found block record"))
    }

    pub(crate) fn poke(&self, key: &str) -> Result<Option<Vec<u8>>, ChainError> {
        let db = self.db();
        let txn = db
            .begin_read()
            .map_err(storage("read the node block store"))?;
        let table = txn
            .open_table(POKES)
            .map_err(storage("open a node block store table"))?;
        Ok(table
            .get(key)
            .map_err(storage("read the node block store"))?
            .map(|v| v.value().to_vec()))
    }

    /// Every record, in key order.
    pub(crate) fn all(&self) -> Result<Vec<Submission>, ChainError> {
        let db = self.db();
        let txn = db
            .begin_read()
            .map_err(storage("read the node block store"))?;
        let table = txn
            .open_table(SUBMISSIONS)
            .map_err(storage("open a node block store table"))?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(storage("read the node block store"))? {
            let (key, value) = entry.map_err(storage("read the node block store"))?;
            match serde_json::from_slice::<Submission>(value.value()) {
                Ok(r) => out.push(r),
                Err(e) => {
                    tracing::warn!("skipping unreadable node submission {}: {e}", key.value())
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nockpool_core::noun::cue;

    /// A `nockchain-node.redb` written by the build before the crate split (a short run of
    /// `pool-server --backend node` against the fake node and fake prover): it opens unchanged.
    #[test]
    fn opens_a_store_written_by_an_earlier_build() {
        let dir = tempfile::tempdir().unwrap();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/data-dir/node")
            .join(NODE_DB_FILE);
        std::fs::copy(fixture, dir.path().join(NODE_DB_FILE)).unwrap();
        let store = SubmissionStore::open(Some(dir.path())).unwrap();
        let all = store.all().unwrap();
        assert_eq!(all.len(), 111);
        assert!(all.iter().all(|s| s.stage == Stage::Done));
        let accepted: Vec<_> = all
            .iter()
            .filter(|s| {
                s.outcome
                    .as_deref()
                    .is_some_and(|o| o.starts_with("accepted"))
            })
            .collect();
        assert_eq!(accepted.len(), 1);
        assert_eq!(
            accepted[0].outcome.as_deref(),
            Some("accepted 35cDbTFYAW3bgT9iFdzMqAAW53Yur9eMMzS281bf1UG8E")
        );
        let stale = all.iter().filter(|s| s.outcome.as_deref() == Some("stale"));
        assert_eq!(stale.count(), 110);
        for s in &all {
            assert_eq!(s.worker, "fixture-node-rig");
            assert_eq!((s.height, s.version, s.pow_len), (42, 5, 2));
            // The fields decode in their places: the stored digest is the nonce's real digest.
            let digest = nockpool_pow::v5::digest(&s.commitment, &s.nonce, s.pow_len);
            assert_eq!(s.digest, digest);
            assert_eq!(store.get(&s.key()).unwrap().map(|r| r.nonce), Some(s.nonce));
        }
        let pokes: Vec<Vec<u8>> = all
            .iter()
            .filter_map(|s| store.poke(&s.key()).unwrap())
            .collect();
        assert_eq!(pokes.len(), 3);
        for poke in pokes {
            let noun = cue(&poke).unwrap();
            let [command, pow, ..] = noun.as_tuple::<7>().unwrap();
            assert!(command.is_cord("command") && pow.is_cord("pow"));
        }
    }
}
