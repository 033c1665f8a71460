//! The tonic `MiningPool` service: one task per Subscribe stream, one check per SubmitWork.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use nockpool_core::proto::mining_pool_server::MiningPool;
use nockpool_core::proto::{
    miner_status, MinerStatus, NoticeKind, SubmitAck, WorkOrder, WorkResult,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::pool::{as_hello, notice, Pool};
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

type WorkStream = Pin<Box<dyn Stream<Item = Result<WorkOrder, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl MiningPool for PoolService {
    type SubscribeStream = WorkStream;

    async fn subscribe(
        &self,
        request: Request<Streaming<MinerStatus>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        if !self.pool.authorized(token(&request).as_deref()) {
            tracing::warn!(
                addr = ?request.remote_addr(),
                "refused a miner: missing or wrong farm token"
            );
            return Err(Status::unauthenticated(format!(
                "this pool requires a farm token (metadata {TOKEN_METADATA_KEY})"
            )));
        }
        let addr = request.remote_addr();
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(self.pool.config.limits.outbound_queue);
        tokio::spawn(run_connection(self.pool.clone(), inbound, tx, addr));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn submit_work(
        &self,
        request: Request<WorkResult>,
    ) -> Result<Response<SubmitAck>, Status> {
        let authorized = self.pool.authorized(token(&request).as_deref());
        let ack = self.pool.submit(authorized, request.into_inner()).await;
        Ok(Response::new(ack))
    }
}

/// Resolves once the pool is shutting down (at once if it already is).
pub(crate) async fn stopped(rx: &mut tokio::sync::watch::Receiver<bool>) {
    if rx.wait_for(|&s| s).await.is_err() {
        // The pool is gone: that is a shutdown too.
    }
}

/// Serves one Subscribe stream from its Hello to its end.
async fn run_connection(
    pool: Arc<Pool>,
    mut inbound: Streaming<MinerStatus>,
    tx: mpsc::Sender<Result<WorkOrder, Status>>,
    addr: Option<std::net::SocketAddr>,
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
            let _ = tx.send(Err(status)).await;
            return;
        }
        Err(_) => {
            let _ = tx
                .send(Err(Status::deadline_exceeded(
                    "no Hello within the time limit",
                )))
                .await;
            return;
        }
    };
    let Some(hello) = hello else {
        let _ = tx
            .send(Err(Status::invalid_argument(
                "the first message of a Subscribe stream must be a Hello",
            )))
            .await;
        return;
    };
    let registered = match pool.register(&hello, addr, tx.clone()) {
        Ok(r) => r,
        Err(status) => {
            tracing::warn!(addr = ?addr, "refused a miner: {}", status.message());
            let _ = tx.send(Err(status)).await;
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
                Ok(None) => break "stream closed by the miner".to_owned(),
                Err(status) => break format!("stream error: {}", status.message()),
            },
            () = registered.kick.notified() => {
                break "not reading its stream (outbound queue full)".to_owned();
            }
            () = stopped(&mut shutdown) => {
                let _ = tx.try_send(Ok(notice(
                    NoticeKind::ShuttingDown,
                    "the pool is shutting down; reconnect shortly".to_owned(),
                    0,
                    None,
                )));
                break "pool shutting down".to_owned();
            }
        }
    };
    pool.deregister(id, &reason);
    if reason.starts_with("not reading") {
        let _ = tx.try_send(Err(Status::resource_exhausted(
            "dropped: the miner did not read its job stream",
        )));
    }
}
