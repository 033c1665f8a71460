//! nockpool-pow (work in progress).
