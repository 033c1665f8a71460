//! Jobs: block templates turned into numbered jobs, which ones are still current, and the job
//! message one connection gets (its prefix and share target on top of the template).
//!
//! Knows nothing about connections: the connections part (`conns`) asks it for the
//! current job and encodes it per connection. Its lock is a leaf (nothing else is locked while
//! it is held) and is only written when a template arrives.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

use nockpool_core::proto;
use nockpool_core::{Difficulty, Digest, Job, JobParams, Target};
use nockpool_pow::{PowEngine, PowError, PreparedJob};

use super::sync::{read, write};
use crate::BlockTemplate;

/// Templates kept for stale checks; shares for anything older are stale outright.
const TEMPLATES_KEPT: usize = 8;

/// One template turned into a job.
pub(super) struct TemplateEntry {
    /// Sequence number in this process (1, 2, ...).
    pub(super) seq: u64,
    /// The template-level job id (`<instance>-<seq>`).
    pub(super) job_id: String,
    pub(super) template: BlockTemplate,
    pub(super) prepared: PreparedJob,
    pub(super) received_wall: SystemTime,
    superseded_at: OnceLock<Instant>,
}

impl TemplateEntry {
    /// Whether shares for this template are still accepted at `now`: it is current, or it was
    /// superseded no longer than `grace` ago.
    pub(super) fn within_grace(&self, now: Instant, grace: Duration) -> bool {
        self.superseded_at
            .get()
            .is_none_or(|&at| now.saturating_duration_since(at) <= grace)
    }
}

/// What a connection remembers about a job it was sent.
#[derive(Clone, Debug)]
pub(super) struct IssuedJob {
    pub(super) job_id: String,
    pub(super) template_seq: u64,
    /// The difficulty a share of this job is credited at.
    pub(super) difficulty: u64,
    pub(super) share_target: Target,
}

/// A template a resubmitted block may have been found on (see [`Jobs::find_for_block`]).
pub(super) enum BlockSource {
    /// One of this process's recent templates.
    Entry(Arc<TemplateEntry>),
    /// A template an earlier run of the pool handed out.
    Restored(BlockTemplate),
}

#[derive(Default)]
struct JobState {
    current: Option<Arc<TemplateEntry>>,
    recent: VecDeque<Arc<TemplateEntry>>,
    next_seq: u64,
    /// Templates of an earlier run of this pool (from the store): a block found on one of them
    /// before a restart is still recognised after it.
    restored: Vec<BlockTemplate>,
}

/// The pool's templates and jobs.
pub(super) struct Jobs {
    engine: Arc<dyn PowEngine>,
    /// Prefix of every job id this process hands out (random, so ids from before a restart
    /// are never mistaken for current ones).
    instance: u32,
    state: RwLock<JobState>,
}

/// The difficulty a target represents, saturated to `u64` and at least 1.
pub(super) fn target_difficulty(t: &Target) -> u64 {
    t.work()
        .to_u128()
        .map_or(u64::MAX, |w| w.min(u64::MAX as u128) as u64)
        .max(1)
}

/// The share target and credited difficulty of a job at vardiff `difficulty` on a template with
/// target `network`: never harder than the network's, so every block is also a share.
pub(super) fn share_target(network: Target, difficulty: Difficulty) -> (Target, u64) {
    let vardiff_target = difficulty.target();
    if network >= vardiff_target {
        (network, target_difficulty(&network))
    } else {
        (vardiff_target, difficulty.get())
    }
}

/// The job message for one connection, and what to remember about it.
pub(super) fn job_for(
    entry: &TemplateEntry,
    job_id: String,
    prefix: u64,
    difficulty: Difficulty,
    clean: bool,
) -> (proto::Job, IssuedJob) {
    let network = entry.template.network_target;
    let (share_target, share_difficulty) = share_target(network, difficulty);
    let job = Job {
        job_id: job_id.clone(),
        params: JobParams {
            commitment: entry.template.commitment,
            pow_len: entry.template.pow_len,
            version: entry.template.version,
        },
        share_target,
        network_target: network,
        share_difficulty,
        height: entry.template.height,
        nonce_prefix: prefix,
        clean_jobs: clean,
    };
    let issued = IssuedJob {
        job_id,
        template_seq: entry.seq,
        difficulty: share_difficulty,
        share_target,
    };
    (proto::Job::from(&job), issued)
}

fn same_work(a: &BlockTemplate, b: &BlockTemplate) -> bool {
    a.commitment == b.commitment
        && a.network_target == b.network_target
        && a.height == b.height
        && a.pow_len == b.pow_len
        && a.version == b.version
}

impl Jobs {
    pub(super) fn new(
        engine: Arc<dyn PowEngine>,
        instance: u32,
        restored: Vec<BlockTemplate>,
    ) -> Jobs {
        Jobs {
            engine,
            instance,
            state: RwLock::new(JobState {
                next_seq: 1,
                restored,
                ..JobState::default()
            }),
        }
    }

    /// The engine's per-job precomputation for `template`.
    pub(super) fn prepare(&self, template: &BlockTemplate) -> Result<PreparedJob, PowError> {
        self.engine.prepare(&JobParams {
            commitment: template.commitment,
            pow_len: template.pow_len,
            version: template.version,
        })
    }

    /// Whether `template` is the work the current job already is.
    pub(super) fn is_current(&self, template: &BlockTemplate) -> bool {
        read(&self.state)
            .current
            .as_ref()
            .is_some_and(|cur| same_work(&cur.template, template))
    }

    /// Makes `template` the current job (the previous one starts its grace period at `now`);
    /// `None` if it is the current work already.
    pub(super) fn install(
        &self,
        template: BlockTemplate,
        prepared: PreparedJob,
        now: Instant,
    ) -> Option<Arc<TemplateEntry>> {
        let mut st = write(&self.state);
        if st
            .current
            .as_ref()
            .is_some_and(|cur| same_work(&cur.template, &template))
        {
            return None;
        }
        if let Some(cur) = &st.current {
            let _ = cur.superseded_at.set(now);
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        let entry = Arc::new(TemplateEntry {
            seq,
            job_id: format!("{:08x}-{seq}", self.instance),
            template,
            prepared,
            received_wall: SystemTime::now(),
            superseded_at: OnceLock::new(),
        });
        st.current = Some(entry.clone());
        st.recent.push_back(entry.clone());
        while st.recent.len() > TEMPLATES_KEPT {
            st.recent.pop_front();
        }
        Some(entry)
    }

    /// The job being mined now.
    pub(super) fn current(&self) -> Option<Arc<TemplateEntry>> {
        read(&self.state).current.clone()
    }

    /// A template still kept, by sequence number.
    pub(super) fn entry(&self, seq: u64) -> Option<Arc<TemplateEntry>> {
        read(&self.state)
            .recent
            .iter()
            .find(|e| e.seq == seq)
            .cloned()
    }

    /// The oldest sequence number still kept (every older one is gone for good).
    pub(super) fn oldest_kept(&self) -> u64 {
        read(&self.state).recent.front().map_or(0, |e| e.seq)
    }

    /// Whether `job_id` is one of this process's jobs for a template older than the current
    /// one (stale), as opposed to an id it never handed out (unknown).
    pub(super) fn is_older_job(&self, job_id: &str) -> bool {
        let current_seq = read(&self.state).current.as_ref().map_or(0, |c| c.seq);
        job_id
            .strip_prefix(&format!("{:08x}-", self.instance))
            .and_then(|rest| rest.split('.').next())
            .and_then(|seq| seq.parse::<u64>().ok())
            .is_some_and(|seq| seq < current_seq)
    }

    /// The template a resubmitted block names by its commitment (and puzzle length, when
    /// given), and whether it still counts as current at `now`: the current template, one
    /// superseded within `grace`, or one at the current height (also one from before a
    /// restart). `None` if no kept template has that commitment.
    pub(super) fn find_for_block(
        &self,
        commitment: Digest,
        pow_len: u64,
        now: Instant,
        grace: Duration,
    ) -> Option<(BlockSource, bool)> {
        let pow_len_matches = |t: &BlockTemplate| pow_len == 0 || t.pow_len == pow_len;
        let st = read(&self.state);
        let current = st.current.as_ref();
        let current_height = current.map_or(0, |c| c.template.height);
        let in_recent = st
            .recent
            .iter()
            .rev()
            .find(|e| e.template.commitment == commitment && pow_len_matches(&e.template));
        if let Some(e) = in_recent {
            let live = current.is_some_and(|c| c.seq == e.seq)
                || e.within_grace(now, grace)
                || e.template.height >= current_height;
            return Some((BlockSource::Entry(e.clone()), live));
        }
        st.restored
            .iter()
            .rev()
            .find(|t| t.commitment == commitment && pow_len_matches(t))
            .map(|t| (BlockSource::Restored(t.clone()), t.height >= current_height))
    }

    /// The current template's height, if there is one.
    pub(super) fn current_height(&self) -> Option<u64> {
        read(&self.state)
            .current
            .as_ref()
            .map(|c| c.template.height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nockpool_pow::V5Engine;

    fn template(network_difficulty: u64, commitment: u64, height: u64) -> BlockTemplate {
        BlockTemplate {
            commitment: Digest::new([commitment, 2, 3, 4, 5]).unwrap(),
            network_target: Difficulty::saturating(network_difficulty).target(),
            height,
            version: 5,
            pow_len: 64,
            created_at: SystemTime::now(),
        }
    }

    fn entry(network_difficulty: u64) -> TemplateEntry {
        let template = template(network_difficulty, 1, 1);
        let params = JobParams::v5(template.commitment, 64).unwrap();
        TemplateEntry {
            seq: 1,
            job_id: "j".into(),
            prepared: V5Engine::new().prepare(&params).unwrap(),
            template,
            received_wall: SystemTime::now(),
            superseded_at: OnceLock::new(),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever vardiff asks for, the share target is never harder than the network's (so
        /// every block is also a share), the job carries exactly that target, and the credited
        /// difficulty is the target's.
        #[test]
        fn share_target_never_harder_than_network(net in 1u64.., share in 1u64..) {
            let e = entry(net);
            let (job, issued) = job_for(&e, "j".into(), 9, Difficulty::saturating(share), true);
            let network = e.template.network_target;
            proptest::prop_assert!(issued.share_target >= network);
            let decoded = Target::from_u320(
                nockpool_core::U320::from_le_bytes(&job.share_target).unwrap(),
            );
            proptest::prop_assert_eq!(decoded, issued.share_target);
            proptest::prop_assert_eq!(job.share_difficulty, issued.difficulty);
            proptest::prop_assert!(issued.difficulty >= 1);
            if share < net {
                proptest::prop_assert_eq!(issued.difficulty, share);
            } else {
                proptest::prop_assert_eq!(issued.share_target, network);
                proptest::prop_assert!(issued.difficulty <= net);
            }
        }
    }

    #[test]
    fn templates_become_stale_and_old_ones_are_forgotten() {
        let jobs = Jobs::new(Arc::new(V5Engine::new()), 0xabc, Vec::new());
        let t0 = Instant::now();
        let grace = Duration::from_secs(3);
        let first = template(4, 1, 1);
        let e1 = jobs
            .install(first.clone(), jobs.prepare(&first).unwrap(), t0)
            .unwrap();
        assert!(jobs.is_current(&first));
        assert!(jobs
            .install(first.clone(), jobs.prepare(&first).unwrap(), t0)
            .is_none());
        assert_eq!(e1.job_id, "00000abc-1");
        for i in 2..=(TEMPLATES_KEPT as u64 + 1) {
            let t = template(4, i, i);
            jobs.install(t.clone(), jobs.prepare(&t).unwrap(), t0)
                .unwrap();
        }
        assert!(e1.within_grace(t0 + grace, grace));
        assert!(!e1.within_grace(t0 + grace * 2, grace));
        assert!(jobs.entry(1).is_none(), "only the newest are kept");
        assert_eq!(jobs.oldest_kept(), 2);
        assert!(jobs.is_older_job("00000abc-1.3"));
        assert!(!jobs.is_older_job(&format!("00000abc-{}", TEMPLATES_KEPT + 1)));
        assert!(!jobs.is_older_job("00000abd-1"));
    }
}
