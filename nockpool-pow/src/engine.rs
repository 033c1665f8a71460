//! The [`PowEngine`] trait, the per-job [`PreparedJob`] and [`V5Engine`].

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nockpool_core::{Digest, JobParams, Nonce, NonceRange, Target};

use crate::kernel::{self, Kernel};
use crate::tip5;
use crate::v5::V5Job;
use crate::PowError;

/// A proof-of-work kernel: a small core with a per-job prepare step. Threads, stats and
/// reconnects live outside it ([`CpuMiner`](crate::CpuMiner), the pool client).
pub trait PowEngine: Send + Sync + 'static {
    /// Per-job precomputation (constant hashes, validated parameters), done once per job.
    fn prepare(&self, job: &JobParams) -> Result<PreparedJob, PowError>;

    /// The digest of one nonce (what the pool server uses to check a share).
    fn digest(&self, job: &PreparedJob, nonce: &Nonce) -> Digest;

    /// Tries the nonces of `range` in order, calls `found` for every digest `<=` `target`,
    /// returns early (within about a millisecond of work) once `stop` is set, and returns how
    /// many nonces were actually tried.
    ///
    /// The default runs [`digest`](PowEngine::digest) one nonce at a time, checking `stop`
    /// before each, and stops at the end of the range or at a nonce the range cannot form (a
    /// non-canonical prefix or lane). An engine with a faster batched path (SIMD lanes, a GPU)
    /// overrides it; an engine that only changes `digest` inherits a correct search.
    fn search(
        &self,
        job: &PreparedJob,
        range: NonceRange,
        target: &Target,
        stop: &AtomicBool,
        found: &mut dyn FnMut(Nonce, Digest),
    ) -> u64 {
        let mut tried = 0u64;
        while tried < range.count && !stop.load(Ordering::Relaxed) {
            let Some(nonce) = range.nonce(tried) else {
                break;
            };
            let digest = self.digest(job, &nonce);
            if digest.meets(target) {
                found(nonce, digest);
            }
            tried += 1;
        }
        tried
    }

    /// How many nonces one [`search`](PowEngine::search) call should get to run at full speed
    /// ([`CpuMiner`](crate::CpuMiner) passes ranges of this size; a stop takes effect within
    /// about one such range). CPU kernels keep the default; a GPU engine asks for several of
    /// its dispatches.
    fn search_chunk(&self) -> u64 {
        4096
    }
}

/// A job after [`PowEngine::prepare`]: the job parameters plus an engine-specific payload.
///
/// Third-party engines store whatever they precompute with [`PreparedJob::new`] and read it
/// back with [`PreparedJob::payload`]. Cloning is cheap (the payload is shared).
#[derive(Clone)]
pub struct PreparedJob {
    params: JobParams,
    payload: Arc<dyn Any + Send + Sync>,
}

impl PreparedJob {
    /// Wraps job parameters and an engine's precomputed payload.
    pub fn new<T: Any + Send + Sync>(params: JobParams, payload: T) -> PreparedJob {
        PreparedJob {
            params,
            payload: Arc::new(payload),
        }
    }

    /// Wraps an already shared payload.
    pub fn from_arc(params: JobParams, payload: Arc<dyn Any + Send + Sync>) -> PreparedJob {
        PreparedJob { params, payload }
    }

    /// The job parameters.
    pub fn params(&self) -> &JobParams {
        &self.params
    }

    /// The payload, if it is a `T`.
    pub fn payload<T: Any>(&self) -> Option<&T> {
        self.payload.downcast_ref::<T>()
    }

    /// The shared payload.
    pub fn payload_arc(&self) -> &Arc<dyn Any + Send + Sync> {
        &self.payload
    }
}

impl fmt::Debug for PreparedJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedJob")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// Nonces per batch between `stop` checks in [`V5Engine::search`]; a few hundred
/// microseconds of work.
const SEARCH_BATCH: u64 = 16;

/// The engine for Nockchain proof version %5: pure Tip5 grinding ([`crate::v5`]).
///
/// ```
/// use std::sync::atomic::AtomicBool;
/// use nockpool_core::{Digest, JobParams, NonceRange, Target};
/// use nockpool_pow::{PowEngine, V5Engine};
///
/// let engine = V5Engine::new();
/// let job = engine.prepare(&JobParams::v5(Digest::new([1, 2, 3, 4, 5]).unwrap(), 64).unwrap()).unwrap();
/// let range = NonceRange { prefix: 7, lane: 0, start: 0, count: 4 };
/// let mut shares = Vec::new();
/// let tried = engine.search(&job, range, &Target::MAX, &AtomicBool::new(false), &mut |n, d| shares.push((n, d)));
/// assert_eq!(tried, 4);
/// assert_eq!(shares.len(), 4); // every digest meets the maximum target
/// assert_eq!(engine.digest(&job, &shares[0].0), shares[0].1);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct V5Engine {
    /// `None`: the selected kernel ([`kernel::current`]) at each call.
    kernel: Option<Kernel>,
}

impl V5Engine {
    /// The version-5 engine; it hashes with the kernel selected at the time of each call
    /// ([`kernel::current`], chosen by [`kernel::autotune`] at start-up).
    pub fn new() -> V5Engine {
        V5Engine { kernel: None }
    }

    /// An engine that always hashes with `kernel` (for benchmarks and comparisons).
    ///
    /// # Errors
    /// [`PowError::UnsupportedKernel`] if this CPU cannot run it.
    pub fn with_kernel(kernel: Kernel) -> Result<V5Engine, PowError> {
        if kernel.is_supported() {
            Ok(V5Engine {
                kernel: Some(kernel),
            })
        } else {
            Err(PowError::UnsupportedKernel(kernel.name()))
        }
    }

    /// The kernel this engine hashes with now.
    pub fn kernel(&self) -> Kernel {
        self.kernel.unwrap_or_else(kernel::current)
    }

    /// The precomputed job of `job`, or one computed now if `job` came from another engine.
    ///
    /// # Panics
    /// If `job` was not prepared by a [`V5Engine`] and its parameters are not a valid version-5
    /// job (a programming error: prepare jobs with the engine that runs them).
    fn v5_job<'a>(&self, job: &'a PreparedJob) -> std::borrow::Cow<'a, V5Job> {
        match job.payload::<V5Job>() {
            Some(v5job) => std::borrow::Cow::Borrowed(v5job),
            None => match V5Job::from_params(job.params()) {
                Ok(v5job) => std::borrow::Cow::Owned(v5job),
                Err(err) => panic!("V5Engine given a job it cannot grind: {err}"),
            },
        }
    }
}

impl PowEngine for V5Engine {
    fn prepare(&self, job: &JobParams) -> Result<PreparedJob, PowError> {
        let v5job = V5Job::from_params(job)?;
        Ok(PreparedJob::new(*job, v5job))
    }

    fn digest(&self, job: &PreparedJob, nonce: &Nonce) -> Digest {
        self.v5_job(job).digest_with(self.kernel(), nonce)
    }

    fn search(
        &self,
        job: &PreparedJob,
        range: NonceRange,
        target: &Target,
        stop: &AtomicBool,
        found: &mut dyn FnMut(Nonce, Digest),
    ) -> u64 {
        let v5job = self.v5_job(job);
        let kernel = self.kernel();
        let mut tried = 0u64;
        let mut batch: Vec<[u64; 5]> = Vec::with_capacity(SEARCH_BATCH as usize);
        let mut digests: Vec<[u64; 5]> = Vec::with_capacity(SEARCH_BATCH as usize);
        while tried < range.count {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            batch.clear();
            let end = (tried + SEARCH_BATCH).min(range.count);
            for i in tried..end {
                match range.nonce(i) {
                    Some(nonce) => batch.push(nonce.to_limbs()),
                    None => break,
                }
            }
            if batch.is_empty() {
                // The range's prefix/lane are not canonical, or the counter ran out.
                break;
            }
            v5job.digest_limbs_into_with(kernel, &batch, &mut digests);
            for (nonce, digest) in batch.iter().zip(digests.iter()) {
                let digest = tip5::digest_from_canonical(*digest);
                if digest.meets(target) {
                    found(
                        Nonce::new(*nonce).expect("range nonces are canonical"),
                        digest,
                    );
                }
            }
            tried += batch.len() as u64;
        }
        tried
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v5;
    use nockpool_core::Digest;

    fn params(version: u64, pow_len: u64) -> JobParams {
        JobParams {
            commitment: Digest::new([1, 2, 3, 4, 5]).unwrap(),
            pow_len,
            version,
        }
    }

    #[test]
    fn prepare_refuses_other_versions_and_bad_pow_len() {
        let engine = V5Engine::new();
        assert_eq!(
            engine.prepare(&params(3, 64)).unwrap_err(),
            PowError::UnsupportedVersion {
                version: 3,
                supported: 5
            }
        );
        assert_eq!(
            engine.prepare(&params(5, 48)).unwrap_err(),
            PowError::InvalidPowLen(48)
        );
        assert_eq!(
            engine.prepare(&params(5, 1 << 17)).unwrap_err(),
            PowError::InvalidPowLen(1 << 17)
        );
        let job = engine.prepare(&params(5, 64)).unwrap();
        assert!(job.payload::<V5Job>().is_some());
        assert_eq!(job.params(), &params(5, 64));
    }

    #[test]
    fn every_supported_kernel_searches_and_digests_alike() {
        let reference = V5Engine::with_kernel(Kernel::Portable).unwrap();
        let job = reference.prepare(&params(5, 16)).unwrap();
        let range = NonceRange {
            prefix: 3,
            lane: 1,
            start: 5,
            count: 37, // not a multiple of any batch width
        };
        let target = Target::from_difficulty(nockpool_core::Difficulty::new(2).unwrap());
        let found = |engine: &V5Engine| {
            let mut shares = Vec::new();
            let tried = engine.search(
                &job,
                range,
                &target,
                &AtomicBool::new(false),
                &mut |n, d| shares.push((n, d)),
            );
            (tried, shares)
        };
        let expected = found(&reference);
        assert!(!expected.1.is_empty());
        for kernel in Kernel::supported() {
            let engine = V5Engine::with_kernel(kernel).unwrap();
            assert_eq!(engine.kernel(), kernel);
            assert_eq!(found(&engine), expected, "{kernel}");
            let (nonce, digest) = expected.1[0];
            assert_eq!(engine.digest(&job, &nonce), digest, "{kernel}");
        }
        assert_eq!(V5Engine::new().kernel(), kernel::current());
    }

    #[test]
    fn search_stops_when_flag_set() {
        let engine = V5Engine::new();
        let job = engine.prepare(&params(5, 64)).unwrap();
        let range = NonceRange {
            prefix: 1,
            lane: 0,
            start: 0,
            count: 1_000_000,
        };
        let stop = AtomicBool::new(true);
        let tried = engine.search(&job, range, &Target::MAX, &stop, &mut |_, _| {
            panic!("nothing should be tried")
        });
        assert_eq!(tried, 0);
    }

    #[test]
    fn search_reports_exactly_the_meeting_digests() {
        let engine = V5Engine::new();
        let job = engine.prepare(&params(5, 16)).unwrap();
        let range = NonceRange {
            prefix: 9,
            lane: 2,
            start: u128::from(nockpool_core::P) - 3, // crosses a limb carry
            count: 40,
        };
        // Work 2 target: about half the digests meet it.
        let target = Target::from_difficulty(nockpool_core::Difficulty::new(2).unwrap());
        let mut reported = Vec::new();
        let tried = engine.search(
            &job,
            range,
            &target,
            &AtomicBool::new(false),
            &mut |n, d| reported.push((n, d)),
        );
        assert_eq!(tried, 40);
        let expected: Vec<(Nonce, Digest)> = (0..40)
            .map(|i| range.nonce(i).unwrap())
            .map(|n| {
                (
                    n,
                    v5::digest(job.params().commitment.limbs(), n.limbs(), 16),
                )
            })
            .filter(|(_, d)| Digest::new(*d).unwrap().meets(&target))
            .map(|(n, d)| (n, Digest::new(d).unwrap()))
            .collect();
        assert_eq!(reported, expected);
        assert!(!expected.is_empty() && expected.len() < 40);
    }

    /// An engine that implements only `prepare` and `digest`.
    struct DigestOnly(V5Engine);

    impl PowEngine for DigestOnly {
        fn prepare(&self, job: &JobParams) -> Result<PreparedJob, PowError> {
            self.0.prepare(job)
        }
        fn digest(&self, job: &PreparedJob, nonce: &Nonce) -> Digest {
            self.0.digest(job, nonce)
        }
    }

    #[test]
    fn default_search_finds_what_the_batched_search_finds() {
        let batched = V5Engine::new();
        let default = DigestOnly(V5Engine::new());
        let job = batched.prepare(&params(5, 16)).unwrap();
        let target = Target::from_difficulty(nockpool_core::Difficulty::new(3).unwrap());
        let range = NonceRange {
            prefix: 4,
            lane: 1,
            start: u128::from(nockpool_core::P) - 5, // crosses a limb carry
            count: 37,
        };
        let run = |engine: &dyn PowEngine, range: NonceRange, stop: bool| {
            let mut found = Vec::new();
            let tried = engine.search(&job, range, &target, &AtomicBool::new(stop), &mut |n, d| {
                found.push((n, d))
            });
            (tried, found)
        };
        let (tried, found) = run(&default, range, false);
        assert_eq!((tried, &found), (37, &run(&batched, range, false).1));
        assert!(!found.is_empty() && found.len() < 37);
        assert_eq!(run(&default, range, true), (0, Vec::new()));
        let bad_lane = NonceRange {
            lane: nockpool_core::P,
            ..range
        };
        assert_eq!(run(&default, bad_lane, false), (0, Vec::new()));
    }

    #[test]
    fn search_of_non_canonical_prefix_tries_nothing() {
        let engine = V5Engine::new();
        let job = engine.prepare(&params(5, 1)).unwrap();
        let range = NonceRange {
            prefix: nockpool_core::P,
            lane: 0,
            start: 0,
            count: 10,
        };
        let tried = engine.search(
            &job,
            range,
            &Target::MAX,
            &AtomicBool::new(false),
            &mut |_, _| {},
        );
        assert_eq!(tried, 0);
    }
}
