use std::path::{Path, PathBuf};

use thiserror::Error;

/// Errors from building core values out of untrusted input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A field element was not canonical (it must be `< p`).
    #[error(
        "field element {value} at limb {index} is not canonical (must be < p = 2^64 - 2^32 + 1)"
    )]
    NonCanonical {
        /// Which limb (0-based).
        index: usize,
        /// The offending value.
        value: u64,
    },
    /// A slice had the wrong number of limbs.
    #[error("expected {expected} limbs, got {got}")]
    WrongLength {
        /// The length required.
        expected: usize,
        /// The length supplied.
        got: usize,
    },
    /// `pow_len` must be a power of two from 1 to 65,536.
    #[error("pow_len {0} is invalid: it must be a power of two from 1 to 65536")]
    InvalidPowLen(u64),
    /// A difficulty of zero has no target.
    #[error("difficulty must be at least 1")]
    ZeroDifficulty,
    /// A Nockchain address did not parse.
    #[error("invalid Nockchain address: {0}")]
    InvalidAddress(String),
    /// A number did not fit or did not parse.
    #[error("invalid number: {0}")]
    InvalidNumber(String),
    /// A field of a protocol message did not hold a valid value.
    #[error("invalid {field} in the message: {reason}")]
    InvalidField {
        /// The field's name in `pool.proto`.
        field: &'static str,
        /// What was wrong with it.
        reason: Box<CoreError>,
    },
    /// A data directory could not be created.
    #[error("cannot create the data dir {}: {reason}", .dir.display())]
    DataDir {
        /// The directory.
        dir: PathBuf,
        /// What the operating system said.
        reason: String,
    },
    /// A database file could not be opened (or the in-memory one created, `path: None`).
    #[error(
        "cannot open the database {}: {reason} (is another pool server using this data dir?)",
        database_name(.path.as_deref())
    )]
    Database {
        /// The database file; `None` for an in-memory database.
        path: Option<PathBuf>,
        /// What the database library said.
        reason: String,
    },
    /// Bytes that should hold a jammed noun could not be decoded (`noun::cue`).
    #[error("cannot decode jammed noun (bit {bit}): {reason}")]
    BadJam {
        /// Bit offset where decoding stopped.
        bit: u64,
        /// What was wrong.
        reason: crate::noun::CueFailure,
    },
}

fn database_name(path: Option<&Path>) -> String {
    path.map_or_else(|| "(in memory)".into(), |p| p.display().to_string())
}
