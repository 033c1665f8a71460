//! The node's private gRPC API, generated from `proto/nockchain/` by `build.rs`.

#![allow(missing_docs, unreachable_pub, clippy::all)]

/// `nockchain.common.v1`.
pub mod common {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("nockchain.common.v1");
    }
}

/// `nockchain.private.v1`.
pub mod private {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("nockchain.private.v1");
    }
}
