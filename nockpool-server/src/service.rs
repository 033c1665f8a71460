//! The tonic `MiningPool` service: one task per Subscribe stream, one check per SubmitWork.
//!
//! The transport edge: the pool's typed answers ([`RegisterError`], [`DisconnectReason`],
//! [`Accepted`], [`SubmitError`]) become protocol messages and gRPC statuses here, and nowhere
//! else.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use nockpool_core::proto::mining_pool_server::MiningPool;
use nockpool_core::proto::{
    self, miner_status, work_order, MinerStatus, NoticeKind, RejectReason, SubmitAck, WorkOrder,
    WorkResult,
};
use nockpool_core::{clean_peer_text, MAX_PEER_TEXT};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::accept::{Liveness, PeerInfo};
use crate::pool::{Accepted, DisconnectReason, Pool, RegisterError, Rejection, SubmitError};
use crate::TOKEN_METADATA_KEY;

pub(crate) struct PoolService {
    pub(crate) pool: Arc<Pool>,
}

fn token<T>(request: &Request<T>) -> Option<Vec<u8>> {
    request
        .metadata()
        .get(TOKEN_METADATA_KEY)
        .map(|v| v.as_bytes().to_vec())
}

/// What the accept loop knows about the request's connection.
fn peer<T>(request: &Request<T>) -> Option<PeerInfo> {
    request.extensions().get::<PeerInfo>().cloned()
}

type WorkStream = Pin<Box<dyn Stream<Item = Result<WorkOrder, Status>> + Send + 'static>>;

/// The status a refused registration ends the stream with.
fn register_status(e: &RegisterError) -> Status {
    match e {
        RegisterError::PoolFull { .. } | RegisterError::TooManyFromAddress { .. } => {
            Status::resource_exhausted(e.to_string())
        }
        RegisterError::Banned { .. } => Status::permission_denied(e.to_string()),
    }
}

fn accepted_ack(a: Accepted) -> SubmitAck {
    SubmitAck {
        accepted: true,
        reason: RejectReason::Unspecified as i32,
        message: a.message.into_owned(),
        block_candidate: a.block_candidate,
        credited_difficulty: a.credited_difficulty,
    }
}

fn rejected_ack(r: Rejection) -> SubmitAck {
    SubmitAck {
        accepted: false,
        reason: r.reason as i32,
        message: r.message.into_owned(),
        block_candidate: false,
        credited_difficulty: 0,
    }
}

/// The answer to one SubmitWork. A block that is not on record is never acked: the miner
/// gets `UNAVAILABLE`, which it retries, keeping the block.
fn submit_answer(result: Result<Accepted, SubmitError>) -> Result<SubmitAck, Status> {
    match result {
        Ok(accepted) => Ok(accepted_ack(accepted)),
        Err(SubmitError::Rejected(rejection)) => Ok(rejected_ack(rejection)),
        Err(SubmitError::BlockNotRecorded { error }) => Err(Status::unavailable(format!(
            "your block could not be recorded ({error}); keep it and send it again"
        ))),
        Err(SubmitError::InProgress) => Err(Status::unavailable(
            "this submission is being recorded right now; send it again for the answer",
        )),
    }
}

#[tonic::async_trait]
impl MiningPool for PoolService {
    type SubscribeStream = WorkStream;

    async fn subscribe(
        &self,
        request: Request<Streaming<MinerStatus>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let peer = peer(&request);
        let addr = peer
            .as_ref()
            .map(|p| p.remote_addr)
            .or_else(|| request.remote_addr());
        if !self.pool.authorized(token(&request).as_deref()) {
            tracing::warn!(
                addr = ?addr,
                "refused a miner: missing or wrong farm token"
            );
            return Err(Status::unauthenticated(format!(
                "this pool requires a farm token (metadata {TOKEN_METADATA_KEY})"
            )));
        }
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(self.pool.config.limits.outbound_queue);
        // Why the stream ends, if it ends in an error: sent after everything queued before it.
        let (end_tx, end_rx) = oneshot::channel::<Status>();
        let liveness = peer.map(|p| p.liveness);
        tokio::spawn(run_connection(
            self.pool.clone(),
            inbound,
            tx,
            end_tx,
            addr,
            liveness,
        ));
        let end = futures::stream::once(end_rx).filter_map(|end| async move { end.ok().map(Err) });
        let stream = ReceiverStream::new(rx).map(Ok).chain(end);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn submit_work(
        &self,
        request: Request<WorkResult>,
    ) -> Result<Response<SubmitAck>, Status> {
        let authorized = self.pool.authorized(token(&request).as_deref());
        let ip = peer(&request)
            .map(|p| p.remote_addr)
            .or_else(|| request.remote_addr())
            .map(|a| a.ip());
        let result = self
            .pool
            .submit(authorized, ip, &request.into_inner())
            .await;
        submit_answer(result).map(Response::new)
    }
}

/// Resolves once the pool is shutting down (at once if it already is).
pub(crate) async fn stopped(rx: &mut tokio::sync::watch::Receiver<bool>) {
    if rx.wait_for(|&s| s).await.is_err() {
        // The pool is gone: that is a shutdown too.
    }
}

/// The Hello, if `msg` is one.
fn as_hello(msg: MinerStatus) -> Option<proto::Hello> {
    match msg.kind {
        Some(miner_status::Kind::Hello(h)) => Some(h),
        _ => None,
    }
}

/// Why a stream that ended by itself ended: a miner silent for the keepalive timeout did not
/// close it (it was frozen or cut off, and the transport gave up on it), whatever the stream
/// itself says.
fn ended(
    pool: &Pool,
    liveness: Option<&Liveness>,
    otherwise: DisconnectReason,
) -> DisconnectReason {
    let timeout = pool.config.limits.keepalive_timeout;
    match liveness.map(Liveness::silent_for) {
        Some(silent) if silent >= timeout => DisconnectReason::StoppedReading { silent },
        _ => otherwise,
    }
}

/// Serves one Subscribe stream from its Hello to its end.
async fn run_connection(
    pool: Arc<Pool>,
    mut inbound: Streaming<MinerStatus>,
    tx: mpsc::Sender<WorkOrder>,
    end: oneshot::Sender<Status>,
    addr: Option<std::net::SocketAddr>,
    liveness: Option<Arc<Liveness>>,
) {
    let mut shutdown = pool.shutdown_signal();
    let hello_timeout = pool.config.limits.hello_timeout;
    let first = tokio::select! {
        r = tokio::time::timeout(hello_timeout, inbound.message()) => r,
        () = stopped(&mut shutdown) => return,
    };
    let hello = match first {
        Ok(Ok(Some(msg))) => as_hello(msg),
        Ok(Ok(None)) => return,
        Ok(Err(status)) => {
            // E.g. a Hello over the message size limit: tell the miner why.
            let _ = end.send(status);
            return;
        }
        Err(_) => {
            let _ = end.send(Status::deadline_exceeded("no Hello within the time limit"));
            return;
        }
    };
    let Some(hello) = hello else {
        let _ = end.send(Status::invalid_argument(
            "the first message of a Subscribe stream must be a Hello",
        ));
        return;
    };
    let registered = match pool.register(&hello, addr, tx.clone()) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(addr = ?addr, "refused a miner: {e}");
            let _ = end.send(register_status(&e));
            return;
        }
    };
    let id = registered.connection_id;
    let reason = loop {
        tokio::select! {
            msg = inbound.message() => match msg {
                Ok(Some(MinerStatus { kind: Some(miner_status::Kind::Status(status)) })) => {
                    pool.miner_status(id, &status);
                }
                Ok(Some(_)) => {} // a repeated Hello or an unknown kind: ignored
                Ok(None) => break ended(&pool, liveness.as_deref(), DisconnectReason::ClosedByMiner),
                Err(status) => break ended(
                    &pool,
                    liveness.as_deref(),
                    DisconnectReason::StreamError(clean_peer_text(status.message(), MAX_PEER_TEXT)),
                ),
            },
            reason = registered.kick.kicked() => break reason,
            () = stopped(&mut shutdown) => {
                let _ = tx.try_send(WorkOrder {
                    kind: Some(work_order::Kind::Notice(proto::Notice {
                        kind: NoticeKind::ShuttingDown as i32,
                        message: "the pool is shutting down; reconnect shortly".to_owned(),
                        height: 0,
                        block_digest: Vec::new(),
                    })),
                });
                break DisconnectReason::ShuttingDown;
            }
        }
    };
    pool.deregister(id, &reason);
    match reason {
        DisconnectReason::NotReading => {
            let _ = end.send(Status::resource_exhausted(
                "dropped: the miner did not read its job stream",
            ));
        }
        DisconnectReason::Banned { .. } => {
            let _ = end.send(Status::permission_denied(format!(
                "dropped and address banned: {reason}"
            )));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_not_on_record_is_a_retriable_status_never_an_ack() {
        let not_recorded = submit_answer(Err(SubmitError::BlockNotRecorded {
            error: "disk full".into(),
        }));
        assert_eq!(
            not_recorded.map_err(|s| s.code()),
            Err(tonic::Code::Unavailable)
        );
        let in_progress = submit_answer(Err(SubmitError::InProgress));
        assert_eq!(
            in_progress.map_err(|s| s.code()),
            Err(tonic::Code::Unavailable)
        );
        let ack = submit_answer(Ok(Accepted {
            credited_difficulty: 3,
            block_candidate: true,
            message: "block candidate accepted".into(),
        }))
        .unwrap();
        assert!(ack.accepted && ack.block_candidate && ack.credited_difficulty == 3);
        let ack = submit_answer(Err(SubmitError::Rejected(Rejection {
            reason: RejectReason::Duplicate,
            message: "duplicate share".into(),
        })))
        .unwrap();
        assert!(!ack.accepted && !ack.block_candidate);
        assert_eq!(ack.reason, RejectReason::Duplicate as i32);
    }
}
