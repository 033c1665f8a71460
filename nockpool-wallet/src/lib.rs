//! nockpool-wallet (work in progress).
