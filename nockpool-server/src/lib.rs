//! `nockpool-server`: the pool server library (`PoolServer`), its chain backends and storage.

mod backend;

pub use backend::{
    BlockOutcome, BlockTemplate, ChainBackend, ChainError, ChainStatus, FoundBlock, TemplateStream,
};
