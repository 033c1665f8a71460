//! Share checks: one submission from its bytes to its answer. Every check the pool makes is
//! here (token, sizes, connection and job, staleness, the digest against the share target,
//! duplicates), and every accepted share, found block or not, goes through one
//! [`Shares::credit_share`].
//!
//! The top of the pool: it uses connections, jobs, blocks and accounting, and none of them
//! uses it. Its answers are typed ([`Accepted`], [`SubmitError`]); the gRPC service turns them
//! into protocol messages and statuses.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use nockpool_core::proto::{RejectReason, WorkResult};
use nockpool_core::{clean_peer_text, Digest, Nonce, MAX_PEER_TEXT};
use nockpool_pow::PowEngine;

use super::accounting::Accounting;
use super::bans::Bans;
use super::blocks::{recorded_notice, Blocks, Claimed};
use super::conns::{Conns, Miss};
use super::jobs::{share_target, BlockSource, Jobs};
use super::sync::lock;
use crate::events::{EventBus, PoolEvent};
use crate::FoundBlock;

/// Longest job id accepted in a submission.
const MAX_JOB_ID_LEN: usize = 128;

/// A share the pool took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Accepted {
    /// The difficulty credited (0 for a block that was on record already).
    pub(crate) credited_difficulty: u64,
    /// It met the network target: a found block, on record.
    pub(crate) block_candidate: bool,
    /// For the miner's log ("block candidate accepted", ...); empty for a plain share.
    pub(crate) message: Cow<'static, str>,
}

/// A share the pool refused, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub(crate) reason: RejectReason,
    pub(crate) message: Cow<'static, str>,
}

impl Rejection {
    fn new(reason: RejectReason, message: impl Into<Cow<'static, str>>) -> Rejection {
        Rejection {
            reason,
            message: message.into(),
        }
    }
}

/// Why a submission was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SubmitError {
    /// Refused for good, with a reason code (resending it changes nothing).
    Rejected(Rejection),
    /// It found a block, and the block could not be put on record (the pool's storage
    /// failed). Nothing was credited or remembered: the miner keeps it and sends it again.
    BlockNotRecorded {
        /// The storage error.
        error: String,
    },
    /// The same submission, or the same block, is being checked or recorded right now: send
    /// it again shortly for the answer.
    InProgress,
}

/// The parts of the pool a share touches.
pub(super) struct ShareContext<'a> {
    pub(super) conns: &'a Conns,
    pub(super) jobs: &'a Jobs,
    pub(super) blocks: &'a Blocks,
    pub(super) accounting: &'a Accounting,
    pub(super) bans: &'a Bans,
    pub(super) events: &'a EventBus,
    /// When the submission arrived (real time: what the share-check latency measures).
    pub(super) received: std::time::Instant,
}

/// A submission that was not accepted.
enum Refusal {
    /// A new rejection: counted against the worker (when the connection is known).
    New {
        worker: Option<Arc<str>>,
        rejection: Rejection,
    },
    /// An answer that counts nothing: a rejection given before (to a retry), or a retriable
    /// error.
    Told(SubmitError),
}

fn refuse(
    worker: Option<&Arc<str>>,
    reason: RejectReason,
    message: impl Into<Cow<'static, str>>,
) -> Result<Accepted, Refusal> {
    Err(Refusal::New {
        worker: worker.cloned(),
        rejection: Rejection::new(reason, message),
    })
}

/// The answer a seen nonce's submitter got (or is about to get).
enum SeenAnswer {
    /// Still being checked and credited.
    Pending,
    Answered(Result<Accepted, Rejection>),
}

/// A nonce of a template that was submitted, and the answer its submitter got.
struct SeenShare {
    connection_id: u64,
    submission_id: u64,
    answer: SeenAnswer,
}

/// One accepted share on its way to being credited.
struct Credit {
    connection_id: u64,
    worker: Arc<str>,
    job_id: String,
    difficulty: u64,
    /// The block it found, if it met the network target.
    block: Option<FoundBlock>,
    answer: Accepted,
}

/// The share checker.
pub(super) struct Shares {
    engine: Arc<dyn PowEngine>,
    stale_grace: Duration,
    /// Submitted nonces by template sequence number (templates the jobs part no longer keeps
    /// are dropped).
    seen: Mutex<BTreeMap<u64, HashMap<Nonce, SeenShare>>>,
}

impl Shares {
    pub(super) fn new(engine: Arc<dyn PowEngine>, stale_grace: Duration) -> Shares {
        Shares {
            engine,
            stale_grace,
            seen: Mutex::new(BTreeMap::new()),
        }
    }

    /// Checks one share and credits it; never panics on any input.
    pub(super) async fn submit(
        &self,
        ctx: &ShareContext<'_>,
        authorized: bool,
        peer: Option<IpAddr>,
        req: &WorkResult,
        now: Instant,
    ) -> Result<Accepted, SubmitError> {
        match self.check(ctx, authorized, peer, req, now).await {
            Ok(accepted) => Ok(accepted),
            Err(Refusal::Told(error)) => Err(error),
            Err(Refusal::New { worker, rejection }) => {
                ctx.accounting.reject(worker.as_deref(), rejection.reason);
                ctx.events.emit(PoolEvent::ShareRejected {
                    connection_id: req.connection_id,
                    worker: worker.as_deref().unwrap_or_default().to_owned(),
                    reason: rejection.reason,
                    check_time: ctx.received.elapsed(),
                });
                tracing::debug!(
                    connection_id = req.connection_id,
                    job = %clean_peer_text(&req.job_id, MAX_PEER_TEXT),
                    "share rejected: {} ({})",
                    rejection.reason.as_str_name(),
                    rejection.message
                );
                if let Some(worker) = &worker {
                    self.count_invalid(ctx, req.connection_id, worker, rejection.reason, now);
                }
                Err(SubmitError::Rejected(rejection))
            }
        }
    }

    /// Counts an invalid share against its connection; past the threshold the connection is
    /// cut and its address banned.
    fn count_invalid(
        &self,
        ctx: &ShareContext<'_>,
        connection_id: u64,
        worker: &str,
        reason: RejectReason,
        now: Instant,
    ) {
        let Some((ip, count)) = ctx.conns.record_invalid(connection_id, reason, now) else {
            return;
        };
        let Some(ip) = ip else {
            tracing::warn!(
                worker,
                connection_id,
                "cut a connection: {count} invalid shares"
            );
            return;
        };
        let ban = ctx.bans.ban(ip, count, now);
        tracing::warn!(
            worker,
            connection_id,
            "banned {ip} for {} s: its connection sent {count} invalid shares within the ban \
             window (--ban-invalid-shares, --ban-window)",
            ctx.bans.duration().as_secs()
        );
        ctx.events.emit(PoolEvent::AddressBanned {
            connection_id,
            worker: worker.to_owned(),
            ban,
        });
    }

    async fn check(
        &self,
        ctx: &ShareContext<'_>,
        authorized: bool,
        peer: Option<IpAddr>,
        req: &WorkResult,
        now: Instant,
    ) -> Result<Accepted, Refusal> {
        let cid = req.connection_id;
        if !authorized {
            return refuse(
                None,
                RejectReason::Unauthorized,
                "missing or wrong farm token",
            );
        }
        // Refused before any work is spent on it.
        if peer.is_some_and(|ip| ctx.bans.banned_until(ip, now).is_some()) {
            return Err(Refusal::Told(SubmitError::Rejected(Rejection::new(
                RejectReason::RateLimited,
                "your address is banned for sending too many invalid shares",
            ))));
        }
        // Malformed submissions count against their connection (and towards its ban) too.
        if req.job_id.len() > MAX_JOB_ID_LEN {
            let worker = ctx.conns.worker(cid);
            return refuse(worker.as_ref(), RejectReason::Malformed, "job id too long");
        }
        let nonce = match Nonce::from_slice(&req.nonce) {
            Ok(n) => n,
            Err(e) => {
                let worker = ctx.conns.worker(cid);
                return refuse(
                    worker.as_ref(),
                    RejectReason::Malformed,
                    format!("bad nonce: {e}"),
                );
            }
        };
        let hit = match ctx.conns.lookup(cid, &req.job_id, &nonce, ctx.jobs, now) {
            Ok(hit) => hit,
            Err(Miss {
                worker: Some(worker),
                reason,
                message,
            }) if !req.commitment.is_empty()
                && matches!(
                    reason,
                    RejectReason::WrongPrefix | RejectReason::UnknownJob | RejectReason::Stale
                ) =>
            {
                // Perhaps a block found under an earlier connection (or an earlier run of
                // the pool), resubmitted on this one.
                let original = Rejection::new(reason, message);
                return self
                    .recover_block(ctx, req, nonce, worker, original, now)
                    .await;
            }
            Err(miss) => return refuse(miss.worker.as_ref(), miss.reason, miss.message),
        };
        let worker = Some(&hit.worker);
        let Some(entry) = ctx.jobs.entry(hit.template_seq) else {
            return refuse(worker, RejectReason::Stale, "job is stale");
        };
        if !entry.within_grace(now, self.stale_grace) {
            return refuse(worker, RejectReason::Stale, "job is stale");
        }
        let digest = self.engine.digest(&entry.prepared, &nonce);
        if !digest.meets(&hit.share_target) {
            return refuse(
                worker,
                RejectReason::LowDifficulty,
                "digest does not meet the share target",
            );
        }
        let block = digest.meets(&entry.template.network_target);
        let answer = Accepted {
            credited_difficulty: hit.difficulty,
            block_candidate: block,
            message: if block {
                "block candidate accepted".into()
            } else {
                "".into()
            },
        };
        if let Some(answer) = self.first_sight(ctx, entry.seq, nonce, req, worker) {
            return answer;
        }
        let block = block.then(|| FoundBlock {
            template: entry.template.clone(),
            nonce,
            digest,
            worker: hit.worker.to_string(),
            found_at: SystemTime::now(),
        });
        let credit = Credit {
            connection_id: cid,
            worker: hit.worker.clone(),
            job_id: req.job_id.clone(),
            difficulty: hit.difficulty,
            block,
            answer,
        };
        let result = self.credit_share(ctx, credit, now).await;
        self.settle(entry.seq, nonce, &result);
        result
    }

    /// Notes a nonce of template `seq` as submitted (its answer pending); `None` the first
    /// time. A retry of the same submission (same connection and submission id) gets the
    /// answer the first one got, counted once; anyone else's is a duplicate.
    fn first_sight(
        &self,
        ctx: &ShareContext<'_>,
        seq: u64,
        nonce: Nonce,
        req: &WorkResult,
        worker: Option<&Arc<str>>,
    ) -> Option<Result<Accepted, Refusal>> {
        let oldest_kept = ctx.jobs.oldest_kept();
        let mut seen = lock(&self.seen);
        let of_template = seen.entry(seq).or_default();
        if let Some(prev) = of_template.get(&nonce) {
            let retry = prev.connection_id == req.connection_id
                && req.submission_id != 0
                && prev.submission_id == req.submission_id;
            if !retry {
                drop(seen);
                return Some(refuse(worker, RejectReason::Duplicate, "duplicate share"));
            }
            return Some(match &prev.answer {
                SeenAnswer::Pending => Err(Refusal::Told(SubmitError::InProgress)),
                SeenAnswer::Answered(Ok(accepted)) => Ok(accepted.clone()),
                SeenAnswer::Answered(Err(rejection)) => {
                    Err(Refusal::Told(SubmitError::Rejected(rejection.clone())))
                }
            });
        }
        of_template.insert(
            nonce,
            SeenShare {
                connection_id: req.connection_id,
                submission_id: req.submission_id,
                answer: SeenAnswer::Pending,
            },
        );
        // Shares for a template the jobs part forgot are stale before they get here.
        seen.retain(|&kept, _| kept >= oldest_kept);
        None
    }

    /// Records what a submission was told, for its retries; after a retriable error nothing is
    /// kept (the retry is checked afresh, not taken for a duplicate).
    fn settle(&self, seq: u64, nonce: Nonce, result: &Result<Accepted, Refusal>) {
        let answer = match result {
            Ok(accepted) => Some(Ok(accepted.clone())),
            Err(Refusal::New { rejection, .. })
            | Err(Refusal::Told(SubmitError::Rejected(rejection))) => Some(Err(rejection.clone())),
            Err(Refusal::Told(_)) => None,
        };
        let mut seen = lock(&self.seen);
        let Some(of_template) = seen.get_mut(&seq) else {
            return;
        };
        match answer {
            Some(answer) => {
                if let Some(slot) = of_template.get_mut(&nonce) {
                    slot.answer = SeenAnswer::Answered(answer);
                }
            }
            None => {
                of_template.remove(&nonce);
            }
        }
    }

    /// A submission whose nonce prefix or job this connection does not know, carrying its
    /// job's commitment: accepted as a found block when the commitment is a template the pool
    /// still considers current (see [`Jobs::find_for_block`]) and the digest meets that
    /// template's network target; credited to the submitting (live) connection's worker at
    /// its current difficulty. Anything else keeps the `original` rejection (a mere share is
    /// never credited this way).
    async fn recover_block(
        &self,
        ctx: &ShareContext<'_>,
        req: &WorkResult,
        nonce: Nonce,
        worker: Arc<str>,
        original: Rejection,
        now: Instant,
    ) -> Result<Accepted, Refusal> {
        let cid = req.connection_id;
        let keep = |original: Rejection| {
            Err(Refusal::New {
                worker: Some(worker.clone()),
                rejection: original,
            })
        };
        let Ok(commitment) = Digest::from_slice(&req.commitment) else {
            return refuse(
                Some(&worker),
                RejectReason::Malformed,
                "commitment is not 5 canonical field elements",
            );
        };
        if let Some(claimed) = ctx.blocks.claimed(commitment, nonce) {
            return answer_claimed(claimed, &worker);
        }
        let Some(vardiff) = ctx.conns.live_difficulty(cid) else {
            return keep(original);
        };
        let Some((source, live)) =
            ctx.jobs
                .find_for_block(commitment, req.pow_len, now, self.stale_grace)
        else {
            return keep(original);
        };
        let (template, digest) = match source {
            BlockSource::Entry(e) => (e.template.clone(), self.engine.digest(&e.prepared, &nonce)),
            BlockSource::Restored(t) => match ctx.jobs.prepare(&t) {
                Ok(prepared) => {
                    let digest = self.engine.digest(&prepared, &nonce);
                    (t, digest)
                }
                Err(_) => return keep(original),
            },
        };
        if !digest.meets(&template.network_target) {
            return keep(original);
        }
        if !live {
            return refuse(
                Some(&worker),
                RejectReason::Stale,
                "block for a superseded template",
            );
        }
        // Credited like a share of this connection's current difficulty (never above the
        // network's, as for every job).
        let (_, difficulty) = share_target(template.network_target, vardiff);
        tracing::info!(
            worker = %worker,
            connection_id = cid,
            height = template.height,
            "a block found under an earlier connection was resubmitted on this one"
        );
        let credit = Credit {
            connection_id: cid,
            worker: worker.clone(),
            // Not one of ours: the miner's words, shown only cleaned.
            job_id: clean_peer_text(&req.job_id, MAX_PEER_TEXT),
            difficulty,
            block: Some(FoundBlock {
                template,
                nonce,
                digest,
                worker: worker.to_string(),
                found_at: SystemTime::now(),
            }),
            answer: Accepted {
                credited_difficulty: difficulty,
                block_candidate: true,
                message: "block candidate accepted (found under an earlier connection)".into(),
            },
        };
        self.credit_share(ctx, credit, now).await
    }

    /// The one way a share is credited: a found block is claimed and put on record first (if
    /// that fails, nothing is credited); then the worker's totals, the connection's vardiff and
    /// the event.
    async fn credit_share(
        &self,
        ctx: &ShareContext<'_>,
        credit: Credit,
        now: Instant,
    ) -> Result<Accepted, Refusal> {
        let Credit {
            connection_id: cid,
            worker,
            job_id,
            difficulty,
            block,
            answer,
        } = credit;
        let is_block = block.is_some();
        if let Some(found) = block {
            let (commitment, nonce) = (found.template.commitment, found.nonce);
            let claim = match ctx.blocks.claim(commitment, nonce) {
                Ok(claim) => claim,
                // Recorded (or being recorded) by another submission of the same block.
                Err(claimed) => return answer_claimed(claimed, &worker),
            };
            match ctx.blocks.record(claim, found).await {
                Ok(record) => {
                    ctx.conns.notify_worker(
                        Some(cid),
                        &record.block.worker,
                        recorded_notice(&record),
                    );
                    ctx.blocks.submit(record);
                }
                Err(e) => {
                    return Err(Refusal::Told(SubmitError::BlockNotRecorded {
                        error: e.to_string(),
                    }))
                }
            }
        }
        ctx.accounting
            .credit(&worker, difficulty, is_block, now, SystemTime::now());
        ctx.conns
            .record_share(cid, difficulty, ctx.jobs, ctx.accounting, now);
        tracing::debug!(
            worker = %worker,
            job = %job_id,
            difficulty,
            block = is_block,
            "share accepted"
        );
        ctx.events.emit(PoolEvent::ShareAccepted {
            connection_id: cid,
            worker: worker.to_string(),
            job_id,
            difficulty,
            block_candidate: is_block,
            check_time: ctx.received.elapsed(),
        });
        Ok(answer)
    }
}

/// The answer to a block that is already on record: the same acceptance for its finder (who
/// may simply never have received the first answer), with no new credit; a duplicate for
/// anyone else. While it is being recorded: ask again.
fn answer_claimed(claimed: Claimed, worker: &Arc<str>) -> Result<Accepted, Refusal> {
    match claimed {
        Claimed::Recording => Err(Refusal::Told(SubmitError::InProgress)),
        Claimed::Recorded { finder } if finder == **worker => Ok(Accepted {
            credited_difficulty: 0,
            block_candidate: true,
            message: "block candidate already recorded".into(),
        }),
        Claimed::Recorded { .. } => refuse(
            Some(worker),
            RejectReason::Duplicate,
            "this block is already recorded",
        ),
    }
}
