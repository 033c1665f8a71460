//! nockpool-client (work in progress).
