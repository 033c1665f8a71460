//! The crate's error type.

use std::net::SocketAddr;

use thiserror::Error;

use crate::ChainError;

/// Errors from building or running a [`PoolServer`](crate::PoolServer).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A builder setting is missing or out of range; the message says which and why.
    #[error("invalid pool server configuration: {0}")]
    Config(String),
    /// The listen address could not be bound (in use, or not permitted).
    #[error("cannot listen on {addr}: {source} (is another pool server running on that port?)")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The data directory or its database could not be opened or written.
    #[error("pool storage error: {0}")]
    Storage(String),
    /// The gRPC transport failed.
    #[error("gRPC transport error: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The chain backend failed in a way the pool cannot recover from.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The server was already run once; build a new one to run again.
    #[error("this pool server has already been run; build a new one")]
    AlreadyRun,
}
