//! The crate's error type.

use std::net::SocketAddr;

use thiserror::Error;

use crate::ChainError;

/// What to check after a failed bind, by what the operating system said.
fn bind_hint(source: &std::io::Error) -> &'static str {
    match source.kind() {
        std::io::ErrorKind::AddrInUse => " (is another pool server running on that port?)",
        std::io::ErrorKind::AddrNotAvailable => {
            " (that address is not one of this machine's; use 0.0.0.0 to listen on all of them)"
        }
        std::io::ErrorKind::PermissionDenied => {
            " (ports below 1024 need privileges; the pool's port is 7777)"
        }
        _ => "",
    }
}

/// Errors from building or running a [`PoolServer`](crate::PoolServer).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A builder setting is missing or out of range.
    #[error("invalid pool server configuration: {setting}: {reason}")]
    Config {
        /// Which setting (e.g. `backend`, `vardiff.min_difficulty`).
        setting: &'static str,
        /// What is wrong with it, and what to do.
        reason: String,
    },
    /// The listen address could not be bound (in use, not this machine's, or not permitted).
    #[error("cannot listen on {addr}: {source}{}", bind_hint(source))]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The data directory or its database could not be opened, read or written.
    #[error("pool storage error: cannot {operation}: {source}")]
    Storage {
        /// What was being done (e.g. `commit a found block`).
        operation: &'static str,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
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
