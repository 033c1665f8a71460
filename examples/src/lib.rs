//! Examples are the binaries under `examples/`.
