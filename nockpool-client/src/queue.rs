//! The lossless submission queue: every found share stays here until the pool answers it or
//! its job is known stale.

use std::collections::BTreeMap;
use std::time::Duration;

use nockpool_core::{Digest, Nonce};
use tokio::time::Instant;

/// Most non-block shares held at once; past it the oldest is dropped as stale (a miner that has
/// been cut off this long has nothing current in them). Block candidates are never evicted.
pub(crate) const MAX_QUEUED_SHARES: usize = 4096;

const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// One found share on its way to the pool that issued its job.
#[derive(Debug, Clone)]
pub(crate) struct Submission {
    /// Unique per client process; lets the pool recognise a retried submission.
    pub(crate) id: u64,
    /// Index of the pool whose job this solves.
    pub(crate) pool: usize,
    /// The session the job came on (its nonce prefix is in `nonce`).
    pub(crate) connection_id: u64,
    pub(crate) job_id: String,
    pub(crate) height: u64,
    /// The job's commitment and puzzle length.
    pub(crate) commitment: Digest,
    pub(crate) pow_len: u64,
    pub(crate) nonce: Nonce,
    pub(crate) digest: Digest,
    /// The digest meets the job's network target.
    pub(crate) block: bool,
    pub(crate) attempts: u32,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending { not_before: Instant },
    InFlight,
}

impl Submission {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: u64,
        pool: usize,
        connection_id: u64,
        job_id: String,
        height: u64,
        commitment: Digest,
        pow_len: u64,
        nonce: Nonce,
        digest: Digest,
        block: bool,
        now: Instant,
    ) -> Submission {
        Submission {
            id,
            pool,
            connection_id,
            job_id,
            height,
            commitment,
            pow_len,
            nonce,
            digest,
            block,
            attempts: 0,
            state: State::Pending { not_before: now },
        }
    }
}

/// Found shares waiting for an answer, oldest first.
#[derive(Debug, Default)]
pub(crate) struct SubmissionQueue {
    entries: BTreeMap<u64, Submission>,
}

impl SubmissionQueue {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Queues a share; returns the oldest pending non-block share if the queue overflowed.
    pub(crate) fn push(&mut self, submission: Submission) -> Option<Submission> {
        self.entries.insert(submission.id, submission);
        let shares = self.entries.values().filter(|s| !s.block).count();
        if shares <= MAX_QUEUED_SHARES {
            return None;
        }
        let oldest = self
            .entries
            .values()
            .find(|s| !s.block && matches!(s.state, State::Pending { .. }))
            .map(|s| s.id)?;
        self.entries.remove(&oldest)
    }

    /// Up to `limit` submissions for `pool` that may be sent at `now`, block candidates first;
    /// they are marked in flight.
    pub(crate) fn take_ready(
        &mut self,
        pool: usize,
        now: Instant,
        limit: usize,
    ) -> Vec<Submission> {
        let mut ready: Vec<u64> = self
            .entries
            .values()
            .filter(|s| s.pool == pool)
            .filter(|s| matches!(s.state, State::Pending { not_before } if not_before <= now))
            .map(|s| (!s.block, s.id))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        ready.truncate(limit);
        ready
            .into_iter()
            .filter_map(|id| {
                let entry = self.entries.get_mut(&id)?;
                entry.state = State::InFlight;
                entry.attempts += 1;
                Some(entry.clone())
            })
            .collect()
    }

    /// Whether submission `id` is a queued block candidate.
    pub(crate) fn is_block(&self, id: u64) -> bool {
        self.entries.get(&id).is_some_and(|s| s.block)
    }

    /// The pool answered: the submission leaves the queue.
    pub(crate) fn complete(&mut self, id: u64) -> Option<Submission> {
        self.entries.remove(&id)
    }

    /// The attempt failed without an answer: try again after a growing delay.
    pub(crate) fn retry_later(&mut self, id: u64, now: Instant) {
        if let Some(entry) = self.entries.get_mut(&id) {
            let factor = 1u32 << entry.attempts.min(8);
            let delay = RETRY_MIN.saturating_mul(factor).min(RETRY_MAX);
            entry.state = State::Pending {
                not_before: now + delay,
            };
        }
    }

    /// The session ended: whatever was in flight is unanswered and goes back to pending.
    pub(crate) fn session_ended(&mut self, now: Instant) {
        for entry in self.entries.values_mut() {
            if entry.state == State::InFlight {
                entry.state = State::Pending { not_before: now };
            }
        }
    }

    /// Pending non-block shares that are known stale for a session on `pool` whose current
    /// job is at `height`: shares from another pool (no other pool can credit them) and shares
    /// for an older height. Block candidates stay: only their pool's answer settles them (it
    /// recognises them by their commitment even after a restart, and answers stale ones as
    /// stale).
    pub(crate) fn drop_stale(&mut self, pool: usize, height: u64) -> Vec<Submission> {
        let stale: Vec<u64> = self
            .entries
            .values()
            .filter(|s| !s.block && matches!(s.state, State::Pending { .. }))
            .filter(|s| s.pool != pool || s.height < height)
            .map(|s| s.id)
            .collect();
        stale
            .into_iter()
            .filter_map(|id| self.entries.remove(&id))
            .collect()
    }

    /// When the next delayed retry becomes due, if any.
    pub(crate) fn next_retry_at(&self, pool: usize) -> Option<Instant> {
        self.entries
            .values()
            .filter(|s| s.pool == pool)
            .filter_map(|s| match s.state {
                State::Pending { not_before } => Some(not_before),
                State::InFlight => None,
            })
            .min()
    }

    /// Pending block candidates (for logs at shutdown).
    pub(crate) fn pending_blocks(&self) -> usize {
        self.entries.values().filter(|s| s.block).count()
    }

    /// The block candidates no pool has acknowledged yet.
    pub(crate) fn blocks(&self) -> impl Iterator<Item = &Submission> {
        self.entries.values().filter(|s| s.block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(id: u64, pool: usize, height: u64, block: bool, now: Instant) -> Submission {
        let nonce = Nonce::new([id, 0, 0, 0, 9]).unwrap();
        Submission::new(
            id,
            pool,
            1,
            format!("j{height}"),
            height,
            Digest::default(),
            64,
            nonce,
            Digest::default(),
            block,
            now,
        )
    }

    #[test]
    fn blocks_go_first_and_in_flight_is_not_resent() {
        let now = Instant::now();
        let mut q = SubmissionQueue::default();
        q.push(sub(1, 0, 5, false, now));
        q.push(sub(2, 0, 5, true, now));
        q.push(sub(3, 1, 5, false, now));
        let ready: Vec<u64> = q.take_ready(0, now, 10).iter().map(|s| s.id).collect();
        assert_eq!(ready, [2, 1]);
        assert!(q.take_ready(0, now, 10).is_empty());
        assert_eq!(q.len(), 3);
    }

    #[test]
    fn unanswered_attempts_survive_a_session_and_retry_with_delay() {
        let now = Instant::now();
        let mut q = SubmissionQueue::default();
        q.push(sub(1, 0, 5, true, now));
        assert_eq!(q.take_ready(0, now, 10).len(), 1);
        q.retry_later(1, now);
        assert!(q.take_ready(0, now, 10).is_empty());
        let due = q.next_retry_at(0).unwrap();
        assert!(due > now);
        assert_eq!(q.take_ready(0, due, 10)[0].attempts, 2);
        q.session_ended(due);
        let again = q.take_ready(0, due, 10);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].nonce, Nonce::new([1, 0, 0, 0, 9]).unwrap());
        assert!(q.complete(1).is_some());
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn stale_shares_drop_but_block_candidates_stay() {
        let now = Instant::now();
        let mut q = SubmissionQueue::default();
        q.push(sub(1, 0, 5, false, now));
        q.push(sub(2, 0, 6, false, now));
        q.push(sub(3, 0, 5, true, now));
        q.push(sub(4, 1, 6, false, now));
        let dropped: Vec<u64> = q.drop_stale(0, 6).iter().map(|s| s.id).collect();
        assert_eq!(dropped, [1, 4]);
        assert_eq!(q.len(), 2);
        assert_eq!(q.pending_blocks(), 1);
        assert!(q.is_block(3) && !q.is_block(2) && !q.is_block(1));
    }

    #[test]
    fn overflow_evicts_the_oldest_share_never_a_block() {
        let now = Instant::now();
        let mut q = SubmissionQueue::default();
        q.push(sub(0, 0, 1, true, now));
        for id in 1..=MAX_QUEUED_SHARES as u64 {
            assert!(q.push(sub(id, 0, 1, false, now)).is_none());
        }
        let evicted = q.push(sub(99_999, 0, 1, false, now)).unwrap();
        assert_eq!(evicted.id, 1);
        assert_eq!(q.pending_blocks(), 1);
    }
}
