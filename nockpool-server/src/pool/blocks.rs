//! Found blocks: which blocks this data dir has on record (each once, with its finder), writing
//! a new one to the store before anyone is told about it, queueing it for submission, storing
//! the chain's verdict, and the notices that tell the finder.
//!
//! Calls nothing else in the pool: it hands back the notices, and the caller delivers them.
//! Its two locks are leaves.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use nockpool_core::proto::{self, work_order, NoticeKind, WorkOrder};
use nockpool_core::{Digest, Nonce};
use tokio::sync::mpsc;

use super::sync::lock;
use crate::events::{EventBus, PoolEvent};
use crate::store::{BlockRecord, Store};
use crate::{BlockOutcome, FoundBlock, ServerError};

/// Found blocks kept in memory for snapshots.
const RECENT_BLOCKS: usize = 50;

/// Where a found block stands.
enum OnRecord {
    /// Its write is in progress.
    Recording,
    /// On record, credited to `finder`.
    Recorded { finder: String },
    /// Its last write failed; a retry is written under the same id, so that a write that
    /// reached the disk after all is overwritten, not doubled.
    NotRecorded { id: u64 },
}

/// Why a block cannot be claimed.
pub(super) enum Claimed {
    /// It is on record, found by `finder`.
    Recorded { finder: String },
    /// Another submission of it is being recorded right now.
    Recording,
}

/// The right to record one block (see [`Blocks::claim`]).
pub(super) struct Claim {
    key: (Digest, Nonce),
    /// The id of an earlier, failed attempt.
    id: Option<u64>,
}

#[derive(Default)]
struct BlockBook {
    next_id: u64,
    total: u64,
    recent: VecDeque<BlockRecord>,
}

/// The found blocks of this data dir.
pub(super) struct Blocks {
    store: Arc<Store>,
    events: EventBus,
    /// Where recorded blocks go to be submitted.
    found_tx: mpsc::UnboundedSender<BlockRecord>,
    /// Every found block on record (or being recorded), by (commitment, nonce): a block is
    /// recorded once, however often and on whichever connection it is resubmitted.
    found: Mutex<HashMap<(Digest, Nonce), OnRecord>>,
    book: Mutex<BlockBook>,
}

/// A notice for the miners, about a block.
fn notice(kind: NoticeKind, message: String, height: u64, digest: &Digest) -> WorkOrder {
    WorkOrder {
        kind: Some(work_order::Kind::Notice(proto::Notice {
            kind: kind as i32,
            message,
            height,
            block_digest: digest.limbs().to_vec(),
        })),
    }
}

/// The notice telling a finder its block is on record.
pub(super) fn recorded_notice(record: &BlockRecord) -> WorkOrder {
    let b = &record.block;
    notice(
        NoticeKind::BlockFound,
        format!(
            "block candidate at height {} recorded; submitting",
            b.template.height
        ),
        b.template.height,
        &b.digest,
    )
}

fn outcome_notice(record: &BlockRecord, outcome: &BlockOutcome) -> WorkOrder {
    let b = &record.block;
    let height = b.template.height;
    let (kind, text) = match outcome {
        BlockOutcome::Accepted { block_id } => (
            NoticeKind::BlockAccepted,
            format!(
                "block at height {height} accepted{}",
                block_id
                    .as_deref()
                    .map(|id| format!(" (id {id})"))
                    .unwrap_or_default()
            ),
        ),
        BlockOutcome::Rejected { reason } => (
            NoticeKind::BlockRejected,
            format!("block at height {height} rejected: {reason}"),
        ),
        BlockOutcome::Stale => (
            NoticeKind::BlockStale,
            format!("block at height {height} was stale"),
        ),
    };
    notice(kind, text, height, &b.digest)
}

impl Blocks {
    /// Starts from the blocks an earlier run stored (oldest first).
    pub(super) fn new(
        store: Arc<Store>,
        stored: Vec<BlockRecord>,
        events: EventBus,
        found_tx: mpsc::UnboundedSender<BlockRecord>,
    ) -> Blocks {
        let found = stored
            .iter()
            .map(|r| {
                let key = (r.block.template.commitment, r.block.nonce);
                let finder = r.block.worker.clone();
                (key, OnRecord::Recorded { finder })
            })
            .collect();
        let book = BlockBook {
            next_id: stored.last().map_or(1, |r| r.id + 1),
            total: stored.len() as u64,
            recent: stored
                .iter()
                .skip(stored.len().saturating_sub(RECENT_BLOCKS))
                .cloned()
                .collect(),
        };
        Blocks {
            store,
            events,
            found_tx,
            found: Mutex::new(found),
            book: Mutex::new(book),
        }
    }

    /// Where the block with this commitment and nonce stands, unless it is free to claim.
    pub(super) fn claimed(&self, commitment: Digest, nonce: Nonce) -> Option<Claimed> {
        match lock(&self.found).get(&(commitment, nonce))? {
            OnRecord::Recorded { finder } => Some(Claimed::Recorded {
                finder: finder.clone(),
            }),
            OnRecord::Recording => Some(Claimed::Recording),
            OnRecord::NotRecorded { .. } => None,
        }
    }

    /// Claims the block for recording; refused while it is on record or being recorded.
    pub(super) fn claim(&self, commitment: Digest, nonce: Nonce) -> Result<Claim, Claimed> {
        let key = (commitment, nonce);
        let mut found = lock(&self.found);
        let id = match found.get(&key) {
            None => None,
            Some(OnRecord::NotRecorded { id }) => Some(*id),
            Some(OnRecord::Recording) => return Err(Claimed::Recording),
            Some(OnRecord::Recorded { finder }) => {
                return Err(Claimed::Recorded {
                    finder: finder.clone(),
                })
            }
        };
        found.insert(key, OnRecord::Recording);
        Ok(Claim { key, id })
    }

    /// Records a claimed block: writes it to the store, durably, before anyone is told (the
    /// finder's answer, the log line, the event). When the write fails nothing is told and
    /// the block may be claimed again. [`Blocks::submit`] then queues it for the chain.
    pub(super) async fn record(
        &self,
        claim: Claim,
        block: FoundBlock,
    ) -> Result<BlockRecord, ServerError> {
        let id = claim.id.unwrap_or_else(|| {
            let mut book = lock(&self.book);
            let id = book.next_id;
            book.next_id += 1;
            id
        });
        let record = BlockRecord {
            id,
            block,
            outcome: None,
            attempts: 0,
            last_error: None,
        };
        let store = self.store.clone();
        let to_store = record.clone();
        let persisted = tokio::task::spawn_blocking(move || store.put_block(&to_store))
            .await
            .unwrap_or_else(|e| {
                Err(ServerError::Storage {
                    operation: "run the block writer",
                    source: e.into(),
                })
            });
        let b = &record.block;
        if let Err(e) = persisted {
            lock(&self.found).insert(claim.key, OnRecord::NotRecorded { id });
            tracing::error!(
                "found block at height {} by {} (digest {}) could NOT be recorded: {e}; not \
                 acknowledged, the miner keeps it and sends it again",
                b.template.height,
                b.worker,
                b.digest
            );
            return Err(e);
        }
        let finder = b.worker.clone();
        lock(&self.found).insert(claim.key, OnRecord::Recorded { finder });
        tracing::info!(
            "*** BLOCK FOUND *** height {} by {} digest {} (block #{}) — submitting",
            b.template.height,
            b.worker,
            b.digest,
            record.id
        );
        self.remember(record.clone());
        self.events.emit(PoolEvent::BlockFound {
            id: record.id,
            height: b.template.height,
            worker: b.worker.clone(),
            digest: b.digest,
        });
        Ok(record)
    }

    /// Queues a recorded block for submission to the chain.
    pub(super) fn submit(&self, record: BlockRecord) {
        if self.found_tx.send(record).is_err() {
            tracing::error!("block submitter is not running; the block stays pending on disk");
        }
    }

    fn remember(&self, record: BlockRecord) {
        let mut book = lock(&self.book);
        book.total += 1;
        book.recent.push_back(record);
        while book.recent.len() > RECENT_BLOCKS {
            book.recent.pop_front();
        }
    }

    /// Stores a block's submission result (or error); returns the notice for its finder when
    /// the chain gave a verdict.
    pub(super) async fn update(&self, record: &BlockRecord) -> Option<WorkOrder> {
        {
            let mut book = lock(&self.book);
            if let Some(r) = book.recent.iter_mut().find(|r| r.id == record.id) {
                *r = record.clone();
            }
        }
        let store = self.store.clone();
        let to_store = record.clone();
        let result = tokio::task::spawn_blocking(move || store.put_block(&to_store)).await;
        if !matches!(result, Ok(Ok(()))) {
            tracing::warn!("could not store the outcome of found block #{}", record.id);
        }
        let outcome = record.outcome.as_ref()?;
        Some(outcome_notice(record, outcome))
    }

    /// Blocks found earlier whose submission never got an answer (resubmitted at start).
    pub(super) fn pending(&self) -> Vec<BlockRecord> {
        match self.store.load_blocks() {
            Ok(blocks) => blocks.into_iter().filter(|b| b.outcome.is_none()).collect(),
            Err(e) => {
                tracing::error!("cannot read found blocks to resubmit: {e}");
                Vec::new()
            }
        }
    }

    /// Blocks on record.
    pub(super) fn total(&self) -> u64 {
        lock(&self.book).total
    }

    /// The most recent blocks, oldest first.
    pub(super) fn recent(&self) -> Vec<BlockRecord> {
        lock(&self.book).recent.iter().cloned().collect()
    }
}
