//! The node's gRPC API, generated from `proto/nockchain/` by `build.rs`: module `proto` is the
//! proto package `nockchain`.

#![allow(missing_docs, unreachable_pub, clippy::all)]

/// `nockchain.common`.
pub mod common {
    /// `nockchain.common.v1`.
    pub mod v1 {
        tonic::include_proto!("nockchain.common.v1");
    }
    /// `nockchain.common.v2`.
    pub mod v2 {
        tonic::include_proto!("nockchain.common.v2");
    }
}

/// `nockchain.private`: the node's always-on, loopback-only `NockAppService`.
pub mod private {
    /// `nockchain.private.v1`.
    pub mod v1 {
        tonic::include_proto!("nockchain.private.v1");
    }
}

/// `nockchain.public`: the node's opt-in `NockchainService`.
pub mod public {
    /// `nockchain.public.v2`.
    pub mod v2 {
        tonic::include_proto!("nockchain.public.v2");
    }
}
