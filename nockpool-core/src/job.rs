use crate::{CoreError, Digest, Nonce, Target, DIGEST_LEN, P};

/// The largest `pow_len` Nockchain accepts (`2^16`).
pub const MAX_POW_LEN: u64 = 1 << 16;

/// What a proof-of-work engine needs to know about a job: the block commitment and the puzzle
/// length, plus the proof version (nockpool grinds version 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct JobParams {
    /// The block commitment handed out by the chain (the miner's "header").
    pub commitment: Digest,
    /// The puzzle length (`pow-len`): a power of two from 1 to 65,536; mainnet uses 64.
    pub pow_len: u64,
    /// The ZK proof version of the candidate (5 for today's Tip5 lottery).
    pub version: u64,
}

impl JobParams {
    /// Version-5 job parameters, validating `pow_len`.
    pub fn v5(commitment: Digest, pow_len: u64) -> Result<JobParams, CoreError> {
        validate_pow_len(pow_len)?;
        Ok(JobParams {
            commitment,
            pow_len,
            version: 5,
        })
    }
}

/// Checks that `pow_len` is a power of two from 1 to 65,536.
pub fn validate_pow_len(pow_len: u64) -> Result<(), CoreError> {
    if pow_len.is_power_of_two() && pow_len <= MAX_POW_LEN {
        Ok(())
    } else {
        Err(CoreError::InvalidPowLen(pow_len))
    }
}

/// A contiguous run of nonces for one engine call, in nockpool's nonce layout: limb 4 fixed
/// (`prefix`), limb 3 fixed (`lane`), limbs 0–2 a base-p little-endian counter running from
/// `start` for `count` steps (never carrying into limb 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NonceRange {
    /// Connection prefix (limb 4).
    pub prefix: u64,
    /// Thread/lane index (limb 3).
    pub lane: u64,
    /// The counter value of the first nonce (the number `l0 + l1·p + l2·p²`).
    pub start: u128,
    /// How many nonces the range holds.
    pub count: u64,
}

impl NonceRange {
    /// The `i`-th nonce of the range (`i < count`); `None` past the end of the range or when
    /// the prefix or lane is not canonical. (A `u128` counter is below `p³`, so it never
    /// carries into limb 3.)
    pub fn nonce(&self, i: u64) -> Option<Nonce> {
        if i >= self.count {
            return None;
        }
        let counter = self.start.checked_add(i as u128)?;
        let l0 = (counter % P as u128) as u64;
        let rest = counter / P as u128;
        let l1 = (rest % P as u128) as u64;
        let l2 = (rest / P as u128) as u64;
        let limbs: [u64; DIGEST_LEN] = [l0, l1, l2, self.lane, self.prefix];
        Nonce::new(limbs).ok()
    }
}

/// A job as a miner receives it: the puzzle, the two targets and where it sits in the chain
/// (`nockpool.v1.Job` on the wire; see `wire` for the conversions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The pool's id for the job; shares name it.
    pub job_id: String,
    /// Commitment, puzzle length and proof version.
    pub params: JobParams,
    /// What a digest must meet to count as a share for this connection.
    pub share_target: Target,
    /// What a digest must meet to be a block.
    pub network_target: Target,
    /// The share difficulty `share_target` encodes (what an accepted share is credited).
    pub share_difficulty: u64,
    /// Height of the block being mined.
    pub height: u64,
    /// Limb 4 of every nonce of this job (the connection's prefix, `< p`).
    pub nonce_prefix: u64,
    /// Whether every older job is stale now.
    pub clean_jobs: bool,
}

/// A share as a miner submits it: a nonce for a job (`nockpool.v1.WorkResult` on the wire).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share {
    /// The connection the job came on (from its Welcome).
    pub connection_id: u64,
    /// The job the nonce was found for.
    pub job_id: String,
    /// The nonce.
    pub nonce: Nonce,
    /// The digest the miner computed (informational: a pool recomputes it).
    pub digest: Option<Digest>,
    /// Unique per miner process and share, so a retried submission is recognised (0: none).
    pub submission_id: u64,
    /// The job's block commitment, as the job carried it (lets a pool recognise a block whose
    /// job or connection it no longer knows).
    pub commitment: Option<Digest>,
    /// The job's puzzle length.
    pub pow_len: u64,
    /// The job's height (informational).
    pub height: u64,
}
