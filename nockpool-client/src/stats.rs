use std::collections::BTreeMap;
use std::fmt;

use nockpool_core::proto::{NoticeKind, RejectReason};
use nockpool_core::{format_hashrate, Digest};
use tokio::time::Instant;

/// A snapshot of what a [`crate::PoolClient`] has done since it started.
///
/// Counters only grow. Every share the engine finds ends in exactly one of: accepted,
/// rejected (by reason), dropped as stale by the client, or still pending.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Hashes actually computed per second, averaged over the last minute.
    pub hashrate_1m: f64,
    /// Same over the last five minutes.
    pub hashrate_5m: f64,
    /// Hashes computed since start.
    pub total_hashes: u64,
    /// Each engine's own share of the work: the CPU threads and every device (GPU), sampled
    /// from its own counter.
    pub engines: Vec<EngineRate>,
    /// Shares the engine found (digest met the job's share target).
    pub shares_found: u64,
    /// Submission attempts sent to a pool (retries included).
    pub submissions_sent: u64,
    /// Shares the pool accepted.
    pub accepted: u64,
    /// Sum of the difficulty the pool credited for accepted shares.
    pub accepted_difficulty: u64,
    /// Shares the pool rejected, by reason.
    pub rejected: BTreeMap<RejectReason, u64>,
    /// Shares the client dropped unsent because their job was known stale (counted, never
    /// silent).
    pub stale_dropped: u64,
    /// Found shares whose digest also met the network target.
    pub block_candidates: u64,
    /// Block candidates the pool acknowledged as found blocks (persisted by the pool).
    pub blocks_found: u64,
    /// Block candidates the pool rejected (counted in `rejected` too).
    pub blocks_rejected: u64,
    /// Shares and block candidates waiting for an acknowledgement.
    pub pending_submissions: usize,
    /// Set when the client stops: block candidates no pool acknowledged. They were kept in
    /// memory only, so they are lost with the process (each is logged loudly at exit).
    pub undelivered_blocks: usize,
    /// The pool the client is connected to now.
    pub connected_pool: Option<String>,
    /// The connection id the pool gave this session.
    pub connection_id: Option<u64>,
    /// The job being mined now.
    pub current_job_id: Option<String>,
    /// Height of the job being mined now.
    pub current_height: Option<u64>,
    /// Share difficulty of the job being mined now.
    pub share_difficulty: Option<u64>,
    /// Sessions established (Welcome received) since start.
    pub sessions: u64,
    /// Connection attempts that failed.
    pub failed_connects: u64,
    /// The CPU kernel this process hashes with ([`nockpool_pow::kernel::current`], chosen by
    /// `nockpool_pow::kernel::autotune` at start-up); filled in by
    /// [`crate::ClientHandle::stats`], empty in a default value.
    pub kernel: &'static str,
}

/// One engine's hashrate, from the nonces it actually tried.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct EngineRate {
    /// The engine's name (`cpu (N threads)`, or the name a device was added under).
    pub name: String,
    /// Hashes per second over the last minute.
    pub hashrate_1m: f64,
    /// Hashes since start.
    pub total_hashes: u64,
}

impl EngineRate {
    /// An engine's figures.
    pub fn new(name: impl Into<String>, hashrate_1m: f64, total_hashes: u64) -> EngineRate {
        EngineRate {
            name: name.into(),
            hashrate_1m,
            total_hashes,
        }
    }
}

impl ClientStats {
    /// All rejected shares, whatever the reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// Rejected shares for one reason.
    pub fn rejected_for(&self, reason: RejectReason) -> u64 {
        self.rejected.get(&reason).copied().unwrap_or(0)
    }
}

/// One log line: hashrate, share fates, blocks and the pool.
impl fmt::Display for ClientStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hashrate {} (1m) {} (5m)",
            format_hashrate(self.hashrate_1m),
            format_hashrate(self.hashrate_5m),
        )?;
        if self.engines.len() > 1 {
            let parts: Vec<String> = self
                .engines
                .iter()
                .map(|e| format!("{} {}", e.name, format_hashrate(e.hashrate_1m)))
                .collect();
            write!(f, " [{}]", parts.join(", "))?;
        }
        write!(
            f,
            ", accepted {}, rejected {}",
            self.accepted,
            self.rejected_total()
        )?;
        if !self.rejected.is_empty() {
            let reasons: Vec<String> = self
                .rejected
                .iter()
                .map(|(reason, n)| {
                    let name = reason.as_str_name();
                    format!(
                        "{}: {n}",
                        name.strip_prefix("REJECT_REASON_")
                            .unwrap_or(name)
                            .to_lowercase()
                    )
                })
                .collect();
            write!(f, " ({})", reasons.join(", "))?;
        }
        write!(
            f,
            ", stale dropped {}, blocks {}/{}",
            self.stale_dropped, self.blocks_found, self.block_candidates
        )?;
        if self.pending_submissions > 0 {
            write!(f, ", pending {}", self.pending_submissions)?;
        }
        match (&self.connected_pool, self.current_height) {
            (Some(pool), Some(height)) => write!(f, ", pool {pool} at height {height}"),
            (Some(pool), None) => write!(f, ", pool {pool}"),
            (None, _) => write!(f, ", not connected"),
        }?;
        if let (Some(_), Some(difficulty)) = (&self.connected_pool, self.share_difficulty) {
            write!(f, ", difficulty {difficulty}")?;
        }
        if !self.kernel.is_empty() {
            write!(f, ", kernel {}", self.kernel)?;
        }
        Ok(())
    }
}

/// What happens inside a [`crate::PoolClient`], as it happens (see [`crate::ClientHandle::events`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientEvent {
    /// A session is up: the pool answered the Hello with a Welcome.
    Connected {
        /// The pool (`http://host:port`).
        pool: String,
        /// Index of the pool in the configured list (0 = primary).
        pool_index: usize,
        /// The pool's id for this connection.
        connection_id: u64,
        /// Limb 4 of every nonce of this connection.
        nonce_prefix: u64,
    },
    /// A connection attempt failed.
    ConnectFailed {
        /// The pool tried.
        pool: String,
        /// Why.
        error: String,
    },
    /// A session ended.
    Disconnected {
        /// The pool.
        pool: String,
        /// Why.
        reason: String,
    },
    /// A job arrived and the engine switched to it.
    NewJob {
        /// The pool's job id.
        job_id: String,
        /// Block height the job mines.
        height: u64,
        /// Whether older jobs became stale.
        clean: bool,
        /// Share difficulty of the job.
        share_difficulty: u64,
        /// When the job arrived from the network.
        received_at: Instant,
        /// When the engine threads had been told to switch.
        switched_at: Instant,
    },
    /// The pool changed the share difficulty (applies from its next job).
    DifficultyChanged {
        /// The new difficulty.
        difficulty: u64,
    },
    /// The engine found a share whose digest meets the network target.
    BlockCandidate {
        /// The job it solves.
        job_id: String,
        /// Block height.
        height: u64,
        /// Its digest.
        digest: Digest,
    },
    /// The pool accepted a share.
    ShareAccepted {
        /// The job.
        job_id: String,
        /// Difficulty credited.
        difficulty: u64,
        /// Whether the pool acknowledged it as a found block.
        block: bool,
    },
    /// The pool rejected a share.
    ShareRejected {
        /// The job.
        job_id: String,
        /// The pool's reason code.
        reason: RejectReason,
        /// The pool's message.
        message: String,
        /// Whether it was a block candidate.
        block: bool,
    },
    /// The client dropped an unsent share whose job is known stale.
    StaleDropped {
        /// The job.
        job_id: String,
    },
    /// A notice from the pool (block outcomes, shutdown, information).
    Notice {
        /// What it is about.
        kind: NoticeKind,
        /// The pool's text.
        message: String,
        /// Block height, when about a block.
        height: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_line_of_a_fresh_client_reads_zero_not_nan() {
        // Before its first sample a client's rates are 0.0; an empty average must not print
        // NaN or -0 in the status line operators read.
        let stats = ClientStats {
            hashrate_1m: f64::NAN,
            hashrate_5m: -0.0,
            ..ClientStats::default()
        };
        assert!(
            stats
                .to_string()
                .starts_with("hashrate 0 H/s (1m) 0 H/s (5m), accepted 0, rejected 0"),
            "{stats}"
        );
    }

    #[test]
    fn stats_line_names_every_fate() {
        let mut stats = ClientStats {
            hashrate_1m: 1500.0,
            hashrate_5m: 1400.0,
            accepted: 10,
            stale_dropped: 1,
            blocks_found: 2,
            block_candidates: 2,
            connected_pool: Some("http://10.0.0.1:7777".into()),
            current_height: Some(42),
            ..ClientStats::default()
        };
        stats.rejected.insert(RejectReason::Stale, 3);
        assert_eq!(
            stats.to_string(),
            "hashrate 1.50 kH/s (1m) 1.40 kH/s (5m), accepted 10, rejected 3 (stale: 3), \
             stale dropped 1, blocks 2/2, pool http://10.0.0.1:7777 at height 42"
        );
        stats.kernel = "avx2";
        assert!(stats.to_string().ends_with("at height 42, kernel avx2"));
        stats.share_difficulty = Some(4096);
        assert!(stats
            .to_string()
            .ends_with("at height 42, difficulty 4096, kernel avx2"));
    }

    #[test]
    fn stats_line_shows_each_engine_when_there_are_several() {
        let mut stats = ClientStats {
            hashrate_1m: 12_100_000.0,
            hashrate_5m: 12_000_000.0,
            accepted: 4,
            engines: vec![EngineRate::new("cpu (15 threads)", 1_700_000.0, 1)],
            ..ClientStats::default()
        };
        // One engine: the line is the single-engine line.
        assert!(stats
            .to_string()
            .starts_with("hashrate 12.10 MH/s (1m) 12.00 MH/s (5m), accepted 4, rejected 0"));
        stats
            .engines
            .push(EngineRate::new("GPU 0", 10_400_000.0, 2));
        assert!(stats.to_string().starts_with(
            "hashrate 12.10 MH/s (1m) 12.00 MH/s (5m) [cpu (15 threads) 1.70 MH/s, GPU 0 10.40 MH/s], \
             accepted 4, rejected 0, "
        ));
    }
}
