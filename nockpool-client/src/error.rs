use thiserror::Error;

/// Everything that can go wrong while configuring or starting a [`crate::PoolClient`].
///
/// Network trouble at run time is not an error: the client reconnects forever and reports it
/// through [`crate::ClientEvent`]s and [`crate::ClientStats`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No pool address was given.
    #[error("no pool address given: pass at least one (IP, IP:port or http:// URL)")]
    NoPools,
    /// A pool address did not parse.
    #[error("invalid pool address {address:?}: {reason}")]
    InvalidPoolAddress {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The worker name is empty or too long.
    #[error("invalid worker name {0:?}: use 1 to 64 printable characters")]
    InvalidWorkerName(String),
    /// The farm token cannot travel in gRPC metadata.
    #[error("invalid farm token: use printable ASCII without spaces")]
    InvalidToken,
    /// Zero mining threads and no device engine: nothing would mine.
    #[error(
        "nothing to mine with: threads must be at least 1 unless a device engine (GPU) is added"
    )]
    ZeroThreads,
    /// The backoff bounds are unusable.
    #[error("invalid backoff: need 0 < min ({min:?}) <= max ({max:?})")]
    InvalidBackoff {
        /// The smallest delay requested.
        min: std::time::Duration,
        /// The largest delay requested.
        max: std::time::Duration,
    },
    /// A duration setting was zero.
    #[error("{0} must be greater than zero")]
    ZeroDuration(&'static str),
    /// TLS is on (a CA, the system roots or an `https://` pool) but this pool was given as
    /// `http://`: its connection would be plaintext.
    #[error(
        "pool {address} is plaintext (http://) but TLS is on: write it without a scheme or as \
         https://, or turn TLS off"
    )]
    PlaintextWithTls {
        /// The pool as given.
        address: String,
    },
    /// The TLS settings cannot be used (unreadable CA file, no certificate in it, no system
    /// roots).
    #[error("TLS setup: {0}")]
    Tls(String),
}
