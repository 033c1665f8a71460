//! The miner <-> pool protocol on the wire (feature `proto`): the messages generated from
//! `proto/nockpool/v1/pool.proto` ([`proto`](crate::proto)), the conversions between them and
//! core's types, and the metadata key of the farm token.
//!
//! Decoding ([`TryFrom`]) validates everything a peer controls: five canonical belts per
//! digest or nonce, a power-of-two puzzle length, targets of at most 320 bits, a canonical nonce
//! prefix; it never panics. Encoding ([`From`]) writes targets as minimal little-endian bytes.

use crate::proto;
use crate::{CoreError, Digest, Job, JobParams, Nonce, Share, Target, P, U320};

/// The request metadata key that carries the farm token (`pool.proto`, service comment).
pub const TOKEN_METADATA_KEY: &str = "x-nockpool-token";

fn field(field: &'static str) -> impl FnOnce(CoreError) -> CoreError {
    move |reason| CoreError::InvalidField {
        field,
        reason: Box::new(reason),
    }
}

/// A target as the wire carries it: little-endian bytes, trailing zeros dropped.
fn target_bytes(target: &Target) -> Vec<u8> {
    let bytes = target.value().to_le_bytes();
    let len = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    bytes[..len].to_vec()
}

fn target_from_bytes(bytes: &[u8], name: &'static str) -> Result<Target, CoreError> {
    U320::from_le_bytes(bytes)
        .map(Target::from_u320)
        .map_err(field(name))
}

/// An optional five-belt field: empty means absent.
fn optional_belts<T>(
    limbs: &[u64],
    name: &'static str,
    make: impl FnOnce(&[u64]) -> Result<T, CoreError>,
) -> Result<Option<T>, CoreError> {
    if limbs.is_empty() {
        Ok(None)
    } else {
        make(limbs).map(Some).map_err(field(name))
    }
}

impl TryFrom<&proto::Job> for Job {
    type Error = CoreError;

    fn try_from(job: &proto::Job) -> Result<Job, CoreError> {
        let commitment = Digest::from_slice(&job.commitment).map_err(field("commitment"))?;
        crate::validate_pow_len(job.pow_len).map_err(field("pow_len"))?;
        if job.nonce_prefix >= P {
            return Err(field("nonce_prefix")(CoreError::NonCanonical {
                index: 4,
                value: job.nonce_prefix,
            }));
        }
        Ok(Job {
            job_id: job.job_id.clone(),
            params: JobParams {
                commitment,
                pow_len: job.pow_len,
                version: job.pow_version,
            },
            share_target: target_from_bytes(&job.share_target, "share_target")?,
            network_target: target_from_bytes(&job.network_target, "network_target")?,
            share_difficulty: job.share_difficulty,
            height: job.height,
            nonce_prefix: job.nonce_prefix,
            clean_jobs: job.clean_jobs,
        })
    }
}

impl From<&Job> for proto::Job {
    fn from(job: &Job) -> proto::Job {
        proto::Job {
            job_id: job.job_id.clone(),
            commitment: job.params.commitment.limbs().to_vec(),
            share_target: target_bytes(&job.share_target),
            network_target: target_bytes(&job.network_target),
            height: job.height,
            pow_version: job.params.version,
            pow_len: job.params.pow_len,
            clean_jobs: job.clean_jobs,
            nonce_prefix: job.nonce_prefix,
            share_difficulty: job.share_difficulty,
        }
    }
}

impl TryFrom<&proto::WorkResult> for Share {
    type Error = CoreError;

    fn try_from(result: &proto::WorkResult) -> Result<Share, CoreError> {
        Ok(Share {
            connection_id: result.connection_id,
            job_id: result.job_id.clone(),
            nonce: Nonce::from_slice(&result.nonce).map_err(field("nonce"))?,
            digest: optional_belts(&result.digest, "digest", Digest::from_slice)?,
            submission_id: result.submission_id,
            commitment: optional_belts(&result.commitment, "commitment", Digest::from_slice)?,
            pow_len: result.pow_len,
            height: result.height,
        })
    }
}

impl From<&Share> for proto::WorkResult {
    fn from(share: &Share) -> proto::WorkResult {
        proto::WorkResult {
            connection_id: share.connection_id,
            job_id: share.job_id.clone(),
            nonce: share.nonce.limbs().to_vec(),
            digest: share.digest.map(|d| d.limbs().to_vec()).unwrap_or_default(),
            submission_id: share.submission_id,
            commitment: share
                .commitment
                .map(|c| c.limbs().to_vec())
                .unwrap_or_default(),
            pow_len: share.pow_len,
            height: share.height,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn belts() -> impl Strategy<Value = [u64; 5]> {
        proptest::array::uniform5(0..P)
    }

    fn target() -> impl Strategy<Value = Target> {
        belts().prop_map(|digits| Target::from_u320(U320::from_base_p(&digits)))
    }

    prop_compose! {
        fn job()(
            job_id in ".{0,40}",
            commitment in belts(),
            pow_len_log in 0u32..=16,
            version in any::<u64>(),
            share_target in target(),
            network_target in target(),
            share_difficulty in any::<u64>(),
            height in any::<u64>(),
            nonce_prefix in 0..P,
            clean_jobs in any::<bool>(),
        ) -> Job {
            Job {
                job_id,
                params: JobParams {
                    commitment: Digest::new(commitment).unwrap(),
                    pow_len: 1 << pow_len_log,
                    version,
                },
                share_target,
                network_target,
                share_difficulty,
                height,
                nonce_prefix,
                clean_jobs,
            }
        }
    }

    prop_compose! {
        fn share()(
            connection_id in any::<u64>(),
            job_id in ".{0,40}",
            nonce in belts(),
            digest in proptest::option::of(belts()),
            submission_id in any::<u64>(),
            commitment in proptest::option::of(belts()),
            pow_len in any::<u64>(),
            height in any::<u64>(),
        ) -> Share {
            Share {
                connection_id,
                job_id,
                nonce: Nonce::new(nonce).unwrap(),
                digest: digest.map(|d| Digest::new(d).unwrap()),
                submission_id,
                commitment: commitment.map(|c| Digest::new(c).unwrap()),
                pow_len,
                height,
            }
        }
    }

    proptest! {
        #[test]
        fn jobs_round_trip(job in job()) {
            let wire = proto::Job::from(&job);
            prop_assert!(wire.share_target.len() <= 40 && wire.network_target.len() <= 40);
            prop_assert_eq!(Job::try_from(&wire), Ok(job));
        }

        #[test]
        fn shares_round_trip(share in share()) {
            let wire = proto::WorkResult::from(&share);
            prop_assert_eq!(Share::try_from(&wire), Ok(share));
        }

        /// Whatever a peer sends decodes or is refused with a named field; never a panic, and
        /// what decodes re-encodes to the same message (targets in minimal form).
        #[test]
        fn any_job_message_decodes_or_names_the_bad_field(
            commitment in proptest::collection::vec(any::<u64>(), 0..7),
            share_target in proptest::collection::vec(any::<u8>(), 0..48),
            pow_len in prop_oneof![Just(64u64), any::<u64>()],
            nonce_prefix in prop_oneof![0..P, any::<u64>()],
        ) {
            let wire = proto::Job {
                job_id: "j".into(),
                commitment,
                share_target,
                network_target: vec![1],
                pow_len,
                nonce_prefix,
                ..proto::Job::default()
            };
            match Job::try_from(&wire) {
                Ok(job) => {
                    let again = proto::Job::from(&job);
                    prop_assert_eq!(&again.commitment, &wire.commitment);
                    prop_assert_eq!(
                        Job::try_from(&again).map(|j| j.share_target),
                        Ok(job.share_target)
                    );
                }
                Err(CoreError::InvalidField { field, .. }) => prop_assert!(
                    ["commitment", "pow_len", "nonce_prefix", "share_target"].contains(&field)
                ),
                Err(other) => prop_assert!(false, "unexpected error {other}"),
            }
        }
    }

    #[test]
    fn bad_fields_are_named() {
        let good = proto::Job::from(&Job {
            job_id: "j".into(),
            params: JobParams::v5(Digest::new([1, 2, 3, 4, 5]).unwrap(), 64).unwrap(),
            share_target: Target::MAX,
            network_target: Target::MAX,
            share_difficulty: 1,
            height: 7,
            nonce_prefix: 9,
            clean_jobs: true,
        });
        let named = |wire: proto::Job| match Job::try_from(&wire) {
            Err(CoreError::InvalidField { field, .. }) => field,
            other => panic!("expected a named field, got {other:?}"),
        };
        assert_eq!(
            named(proto::Job {
                commitment: vec![1, 2, 3],
                ..good.clone()
            }),
            "commitment"
        );
        assert_eq!(
            named(proto::Job {
                pow_len: 3,
                ..good.clone()
            }),
            "pow_len"
        );
        assert_eq!(
            named(proto::Job {
                nonce_prefix: P,
                ..good.clone()
            }),
            "nonce_prefix"
        );
        assert_eq!(
            named(proto::Job {
                network_target: vec![1; 41],
                ..good.clone()
            }),
            "network_target"
        );
        let share = proto::WorkResult {
            nonce: vec![P, 0, 0, 0, 0],
            ..proto::WorkResult::default()
        };
        assert!(matches!(
            Share::try_from(&share),
            Err(CoreError::InvalidField { field: "nonce", .. })
        ));
    }
}
