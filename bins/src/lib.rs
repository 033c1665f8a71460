//! Shared start-up helpers for the stock binaries (`pool-server`, `miner`,
//! `nockchain-wallet`): `.env` loading, logging and the shutdown signal.
