//! What a running pool tells its embedder: a stream of [`PoolEvent`]s and [`PoolSnapshot`]s.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use nockpool_core::proto::RejectReason;
use nockpool_core::Digest;
use tokio::sync::broadcast;

use crate::{BlockOutcome, BlockRecord, ChainStatus};

/// Something that happened in the pool, broadcast to every [`PoolHandle::events`] receiver.
///
/// [`PoolHandle::events`]: crate::PoolHandle::events
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum PoolEvent {
    /// The server is accepting connections.
    Listening {
        /// The bound address.
        addr: SocketAddr,
    },
    /// A miner sent its Hello and was given a connection id and nonce prefix.
    MinerConnected {
        /// The connection id (echoed in every SubmitWork).
        connection_id: u64,
        /// The worker name it announced (sanitised).
        worker: String,
        /// Its address, when known.
        addr: Option<SocketAddr>,
        /// The nonce prefix (limb 4) it was given.
        nonce_prefix: u64,
    },
    /// A miner's stream ended.
    MinerDisconnected {
        /// The connection id.
        connection_id: u64,
        /// The worker name.
        worker: String,
        /// Why, in words.
        reason: String,
    },
    /// A new job (from a new template) was pushed to the miners.
    JobBroadcast {
        /// The job id (template-level; a connection re-issued a job after a difficulty change
        /// gets a suffixed id).
        job_id: String,
        /// Height of the block being mined.
        height: u64,
        /// How many miners the job reached.
        miners: usize,
        /// How long queueing the job to every miner took.
        fanout: Duration,
    },
    /// A connection's share difficulty changed (vardiff).
    DifficultyChanged {
        /// The connection id.
        connection_id: u64,
        /// The worker name.
        worker: String,
        /// The new difficulty.
        difficulty: u64,
    },
    /// A share passed every check and was credited.
    ShareAccepted {
        /// The connection id.
        connection_id: u64,
        /// The worker name.
        worker: String,
        /// The job it was for.
        job_id: String,
        /// The difficulty credited.
        difficulty: u64,
        /// Whether it also met the network target.
        block_candidate: bool,
        /// How long checking and crediting it took (a found block: including its durable write).
        check_time: Duration,
    },
    /// A share was refused.
    ShareRejected {
        /// The connection id it claimed (0 when there was none).
        connection_id: u64,
        /// The worker name (empty when the connection is unknown).
        worker: String,
        /// Why.
        reason: RejectReason,
        /// How long checking it took.
        check_time: Duration,
    },
    /// A share met the network target; the block is persisted and being submitted.
    BlockFound {
        /// The pool's sequence number for the block.
        id: u64,
        /// Height of the block.
        height: u64,
        /// Who found it.
        worker: String,
        /// Its proof-of-work digest.
        digest: Digest,
    },
    /// The backend's verdict on a found block.
    BlockOutcome {
        /// The pool's sequence number for the block.
        id: u64,
        /// Height of the block.
        height: u64,
        /// What the chain said.
        outcome: BlockOutcome,
    },
    /// The pool's database failed (a full disk, an I/O error): found blocks are not
    /// acknowledged until it recovers (miners keep them and retry); the pool reopens it by
    /// itself.
    StorageFailed {
        /// The error.
        error: String,
    },
    /// Writes to the pool's database succeed again after a failure.
    StorageRecovered,
    /// The status API and dashboard are being served.
    HttpListening {
        /// The bound address.
        addr: SocketAddr,
    },
    /// The status API's address could not be bound; the pool mines on without it.
    HttpUnavailable {
        /// The address that was asked for.
        addr: SocketAddr,
        /// Why it could not be bound.
        error: String,
    },
    /// A connection sent too many invalid shares: it was cut and its address banned.
    AddressBanned {
        /// The connection that was cut.
        connection_id: u64,
        /// Its worker name.
        worker: String,
        /// The ban.
        ban: BanSnapshot,
    },
    /// Submitting a found block failed; it is retried.
    BlockSubmitFailed {
        /// The pool's sequence number for the block.
        id: u64,
        /// Height of the block.
        height: u64,
        /// The error.
        error: String,
        /// Attempts so far.
        attempts: u32,
    },
}

/// One worker (miner name) as the pool sees it; several connections may share a name.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct WorkerSnapshot {
    /// The worker name.
    pub name: String,
    /// Address of its most recent connection.
    pub addr: Option<SocketAddr>,
    /// Live connections under this name.
    pub connections: usize,
    /// Accepted shares (lifetime, persisted).
    pub accepted: u64,
    /// Sum of the difficulty of accepted shares (lifetime, persisted).
    pub accepted_work: u128,
    /// Rejected shares by reason (lifetime, persisted).
    pub rejected: BTreeMap<RejectReason, u64>,
    /// Blocks found (lifetime, persisted).
    pub blocks_found: u64,
    /// When it last had a share accepted.
    pub last_share_at: Option<SystemTime>,
    /// Hashrate estimated from accepted share difficulty over the last 10 minutes (H/s).
    pub hashrate: f64,
    /// Hashrate the miner itself reported (sum over its live connections), if any.
    pub reported_hashrate: Option<f64>,
    /// Share difficulty of its newest live connection.
    pub difficulty: Option<u64>,
    /// When its newest live connection registered (`None`: not connected).
    pub connected_since: Option<SystemTime>,
    /// Threads announced, summed over its live connections.
    pub threads: Option<u32>,
    /// The client version its newest live connection announced (cleaned of control characters).
    pub client_version: Option<String>,
}

/// An address refused for sending too many invalid shares.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BanSnapshot {
    /// The banned address.
    pub ip: IpAddr,
    /// When the ban ends.
    pub until: SystemTime,
    /// Invalid shares its connection sent within the window when it was banned.
    pub invalid_shares: u32,
}

/// Whether a database of the data dir can be written.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageHealth {
    /// The last write succeeded.
    Ok,
    /// Writes fail since `since`; the database is reopened by itself once they succeed again.
    Failing {
        /// When the first of these failures happened.
        since: SystemTime,
        /// The latest error.
        error: String,
    },
}

/// The job currently being mined.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobSnapshot {
    /// Template-level job id.
    pub job_id: String,
    /// Height of the block being mined.
    pub height: u64,
    /// The block commitment.
    pub commitment: Digest,
    /// When the template arrived.
    pub since: SystemTime,
    /// The network target a block must meet.
    pub network_target: nockpool_core::Target,
}

/// A point-in-time view of the pool.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PoolSnapshot {
    /// The bound address, once listening.
    pub listen_addr: Option<SocketAddr>,
    /// How long the pool has been running.
    pub uptime: Duration,
    /// Live miner connections.
    pub connections: usize,
    /// TCP connections that have not completed the HTTP/2 handshake yet (closed after
    /// [`Limits::handshake_timeout`](crate::Limits::handshake_timeout)).
    pub handshaking: usize,
    /// Every worker seen (live or persisted), sorted by name.
    pub workers: Vec<WorkerSnapshot>,
    /// Farm hashrate estimated from accepted shares (H/s).
    pub hashrate: f64,
    /// The job being mined.
    pub current_job: Option<JobSnapshot>,
    /// Blocks found (lifetime, from the data dir).
    pub blocks_found: u64,
    /// The most recent found blocks (up to 50), newest last.
    pub recent_blocks: Vec<BlockRecord>,
    /// The backend's last reported status.
    pub chain: Option<ChainStatus>,
    /// Why the backend's last status call failed (`None`: it answered); while this is set,
    /// [`chain`](Self::chain) is the last status that did arrive.
    pub chain_error: Option<String>,
    /// Whether the pool's database (found blocks, worker totals) can be written.
    pub storage: StorageHealth,
    /// Addresses banned now for invalid shares ([`Limits::ban_invalid_shares`]).
    ///
    /// [`Limits::ban_invalid_shares`]: crate::Limits::ban_invalid_shares
    pub bans: Vec<BanSnapshot>,
    /// Bans since the pool started.
    pub bans_total: u64,
}

/// The pool's event channel: every part of the pool emits into it, every [`PoolHandle::events`]
/// receiver reads from it.
///
/// [`PoolHandle::events`]: crate::PoolHandle::events
#[derive(Clone, Debug)]
pub(crate) struct EventBus(broadcast::Sender<PoolEvent>);

impl EventBus {
    /// A channel keeping the last `capacity` events for slow receivers.
    pub(crate) fn new(capacity: usize) -> EventBus {
        EventBus(broadcast::channel(capacity).0)
    }

    pub(crate) fn emit(&self, event: PoolEvent) {
        // No receivers is fine.
        let _ = self.0.send(event);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<PoolEvent> {
        self.0.subscribe()
    }
}
