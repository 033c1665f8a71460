//! The crate's error type: what can go wrong talking to a node.

use nockpool_core::ChainError;
use thiserror::Error;

/// Errors from [`NodeClient`](crate::NodeClient) calls. The node backend turns them into
/// [`ChainError`]s (`From`).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The node's address is not a usable URL.
    #[error("bad node gRPC address {url:?}: {reason}")]
    InvalidUrl {
        /// The address as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No connection could be made.
    #[error(
        "cannot reach the node at {url}: {reason} (is `nockchain` running with its gRPC server \
         on that address?)"
    )]
    Unreachable {
        /// The node's address.
        url: String,
        /// What the transport said.
        reason: String,
    },
    /// A call failed in transport or timed out; retrying later may work.
    #[error("{operation}: {reason}")]
    Unavailable {
        /// The call (e.g. `peek [%heavy ~]`).
        operation: String,
        /// What went wrong.
        reason: String,
    },
    /// The node does not serve this call (an older release).
    #[error("{operation}: the node does not serve this call (too old a release?)")]
    Unimplemented {
        /// The call.
        operation: String,
    },
    /// The node answered the call with an error.
    #[error("{operation} failed: {message} (code {code})")]
    Refused {
        /// The call.
        operation: String,
        /// The node's error code.
        code: i32,
        /// The node's message.
        message: String,
    },
    /// The node's answer could not be read.
    #[error("{operation}: malformed answer: {reason}")]
    Malformed {
        /// The call.
        operation: String,
        /// What was wrong with the answer.
        reason: String,
    },
}

impl From<NodeError> for ChainError {
    fn from(error: NodeError) -> ChainError {
        match error {
            NodeError::InvalidUrl { url, reason } => ChainError::Config {
                setting: "node gRPC address",
                reason: format!("{url}: {reason}"),
            },
            NodeError::Unreachable { url, reason } => ChainError::Unavailable {
                operation: format!("connect to {url}"),
                reason,
            },
            NodeError::Unavailable { operation, reason } => {
                ChainError::Unavailable { operation, reason }
            }
            error @ NodeError::Unimplemented { .. } => ChainError::Unsupported {
                reason: error.to_string(),
            },
            NodeError::Refused {
                operation,
                code,
                message,
            } => ChainError::Protocol {
                operation,
                reason: format!("failed: {message} (code {code})"),
            },
            NodeError::Malformed { operation, reason } => {
                ChainError::Protocol { operation, reason }
            }
        }
    }
}
