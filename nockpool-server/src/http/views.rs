//! The JSON the API answers with. Field names are part of the API (the README documents them):
//! change them only with a note there. Times are Unix seconds (`*_unix`) or ages in seconds
//! (`*_age_secs`); hashrates are hashes per second.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

use nockpool_core::Target;
use serde::Serialize;

use super::monitor::{backend_up, Monitor, WorkerView};
use crate::events::{PoolSnapshot, StorageHealth, WorkerSnapshot};
use crate::store::unix_ms;
use crate::{BlockOutcome, BlockRecord};

fn unix(t: SystemTime) -> u64 {
    unix_ms(t) / 1000
}

fn age_secs(now: SystemTime, then: SystemTime) -> u64 {
    now.duration_since(then).map_or(0, |d| d.as_secs())
}

/// `/api/status`.
#[derive(Serialize)]
pub(crate) struct Status {
    version: &'static str,
    uptime_secs: u64,
    listen_address: Option<String>,
    backend: Option<String>,
    backend_up: Option<bool>,
    backend_error: Option<String>,
    backend_version: Option<String>,
    chain_height: Option<u64>,
    chain_synced: Option<bool>,
    chain_peers: Option<u32>,
    last_candidate_age_secs: Option<u64>,
    proofs_in_flight: Option<u32>,
    warnings: Vec<String>,
    job_id: Option<String>,
    job_height: Option<u64>,
    job_age_secs: Option<u64>,
    /// Decimal (up to 96 digits: too wide for a JSON number).
    network_target: Option<String>,
    network_difficulty: Option<f64>,
    miners_connected: usize,
    workers_online: usize,
    workers_offline: usize,
    offline_after_secs: u64,
    hashrate_1m: f64,
    hashrate_5m: f64,
    hashrate_1h: f64,
    /// Since the pool started (every refusal, also those no worker can be blamed for).
    shares_accepted: u64,
    shares_rejected: u64,
    shares_rejected_by_reason: BTreeMap<String, u64>,
    blocks_found: u64,
    storage_ok: bool,
    storage_error: Option<String>,
    /// `[unix seconds, H/s (1-minute rate)]`, oldest first, one per check.
    hashrate_history: Vec<(u64, f64)>,
}

impl Status {
    pub(crate) fn new(snap: &PoolSnapshot, monitor: &Monitor, now: Instant) -> Status {
        let wall = monitor.wall_now();
        let views = monitor.workers(now);
        let online = snap
            .workers
            .iter()
            .filter(|w| views.get(&w.name).is_some_and(|v| v.online))
            .count();
        let (accepted, by_reason) = monitor.share_counts();
        let chain = snap.chain.as_ref();
        let job = snap.current_job.as_ref();
        let [hashrate_1m, hashrate_5m, hashrate_1h] = monitor.farm_rates(now);
        let (storage_ok, storage_error) = match &snap.storage {
            StorageHealth::Ok => (true, None),
            StorageHealth::Failing { error, .. } => (false, Some(error.clone())),
        };
        Status {
            version: env!("CARGO_PKG_VERSION"),
            uptime_secs: snap.uptime.as_secs(),
            listen_address: snap.listen_addr.map(|a| a.to_string()),
            backend: chain.map(|c| c.backend.clone()),
            backend_up: backend_up(snap),
            backend_error: snap.chain_error.clone(),
            backend_version: chain.and_then(|c| c.version.clone()),
            chain_height: chain.and_then(|c| c.height),
            chain_synced: chain.map(|c| c.synced),
            chain_peers: chain.and_then(|c| c.peers),
            last_candidate_age_secs: chain
                .and_then(|c| c.last_template_at)
                .map(|t| age_secs(wall, t)),
            proofs_in_flight: chain.map(|c| c.proofs_in_flight),
            warnings: chain.map(|c| c.warnings.clone()).unwrap_or_default(),
            job_id: job.map(|j| j.job_id.clone()),
            job_height: job.map(|j| j.height),
            job_age_secs: job.map(|j| age_secs(wall, j.since)),
            network_target: job.map(|j| j.network_target.to_string()),
            network_difficulty: job.map(|j| difficulty_of(j.network_target)),
            miners_connected: snap.connections,
            workers_online: online,
            workers_offline: snap.workers.len() - online,
            offline_after_secs: monitor.offline_after().as_secs(),
            hashrate_1m,
            hashrate_5m,
            hashrate_1h,
            shares_accepted: accepted,
            shares_rejected: by_reason.values().sum(),
            shares_rejected_by_reason: by_reason,
            blocks_found: snap.blocks_found,
            storage_ok,
            storage_error,
            hashrate_history: monitor
                .history()
                .into_iter()
                .map(|(t, r)| (unix(t), r))
                .collect(),
        }
    }
}

/// The expected attempts to meet `target` (the pool's notion of difficulty).
fn difficulty_of(target: Target) -> f64 {
    target.work_f64()
}

/// One worker in `/api/workers` and `/api/workers/{name}`.
#[derive(Serialize)]
pub(crate) struct Worker {
    name: String,
    online: bool,
    address: Option<String>,
    connections: usize,
    connected_since_unix: Option<u64>,
    last_share_unix: Option<u64>,
    last_seen_age_secs: Option<u64>,
    client_version: Option<String>,
    threads: Option<u32>,
    reported_hashrate: Option<f64>,
    hashrate_1m: f64,
    hashrate_5m: f64,
    hashrate_1h: f64,
    accepted: u64,
    rejected: u64,
    rejected_by_reason: BTreeMap<String, u64>,
    difficulty: Option<u64>,
    blocks_found: u64,
}

impl Worker {
    pub(crate) fn new(w: &WorkerSnapshot, view: Option<&WorkerView>, wall: SystemTime) -> Worker {
        let [hashrate_1m, hashrate_5m, hashrate_1h] = view.map_or([0.0; 3], |v| v.rates);
        let rejected_by_reason: BTreeMap<String, u64> = w
            .rejected
            .iter()
            .map(|(r, n)| (super::reason_label(*r), *n))
            .collect();
        Worker {
            name: w.name.clone(),
            online: view.is_some_and(|v| v.online),
            address: w.addr.map(|a| a.to_string()),
            connections: w.connections,
            connected_since_unix: w.connected_since.map(unix),
            last_share_unix: w.last_share_at.map(unix),
            last_seen_age_secs: view
                .and_then(|v| v.last_activity)
                .map(|t| age_secs(wall, t)),
            client_version: w.client_version.clone(),
            threads: w.threads,
            reported_hashrate: w.reported_hashrate,
            hashrate_1m,
            hashrate_5m,
            hashrate_1h,
            accepted: w.accepted,
            rejected: rejected_by_reason.values().sum(),
            rejected_by_reason,
            difficulty: w.difficulty,
            blocks_found: w.blocks_found,
        }
    }
}

/// `/api/workers`.
#[derive(Serialize)]
pub(crate) struct Workers {
    pub(crate) workers: Vec<Worker>,
}

/// One found block in `/api/blocks`.
#[derive(Serialize)]
pub(crate) struct Block {
    id: u64,
    height: u64,
    found_unix: u64,
    worker: String,
    digest: String,
    /// `pending`, `accepted`, `rejected` or `stale`.
    outcome: &'static str,
    /// The chain's id of an accepted block, when it gave one.
    block_id: Option<String>,
    /// Why the chain rejected it.
    reject_reason: Option<String>,
    attempts: u32,
    last_error: Option<String>,
}

/// The API's word for a block's outcome.
pub(crate) fn outcome_word(outcome: Option<&BlockOutcome>) -> &'static str {
    match outcome {
        None => "pending",
        Some(BlockOutcome::Accepted { .. }) => "accepted",
        Some(BlockOutcome::Rejected { .. }) => "rejected",
        Some(BlockOutcome::Stale) => "stale",
    }
}

impl From<&BlockRecord> for Block {
    fn from(r: &BlockRecord) -> Block {
        let b = &r.block;
        Block {
            id: r.id,
            height: b.template.height,
            found_unix: unix(b.found_at),
            worker: b.worker.clone(),
            digest: b.digest.to_string(),
            outcome: outcome_word(r.outcome.as_ref()),
            block_id: match &r.outcome {
                Some(BlockOutcome::Accepted { block_id }) => block_id.clone(),
                _ => None,
            },
            reject_reason: match &r.outcome {
                Some(BlockOutcome::Rejected { reason }) => Some(reason.clone()),
                _ => None,
            },
            attempts: r.attempts,
            last_error: r.last_error.clone(),
        }
    }
}

/// `/api/blocks`: a page, newest first; pass `next_before` as `before` for the next one.
#[derive(Serialize)]
pub(crate) struct Blocks {
    pub(crate) blocks: Vec<Block>,
    pub(crate) next_before: Option<u64>,
}

/// `/health`.
#[derive(Serialize)]
pub(crate) struct Health {
    pub(crate) status: &'static str,
    pub(crate) reasons: Vec<String>,
}

/// Every error answer.
#[derive(Serialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: String,
}
