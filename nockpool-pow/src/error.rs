use nockpool_core::CoreError;
use thiserror::Error;

/// Errors from the proof-of-work kernel: untrusted numbers that are not field elements, job
/// parameters the kernel cannot grind, and jobs prepared by a different engine.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PowError {
    /// A field element was not canonical (every Tip5 input must be `< p`; Nockchain crashes on
    /// such input, so it is refused here rather than reduced).
    #[error(
        "field element {value} at index {index} is not canonical (must be < p = 2^64 - 2^32 + 1)"
    )]
    NonCanonical {
        /// Position of the offending value in its input (0 for a single value).
        index: usize,
        /// The offending value.
        value: u64,
    },
    /// `pow_len` must be a power of two from 1 to 65,536.
    #[error("pow_len {0} is invalid: it must be a power of two from 1 to 65536")]
    InvalidPowLen(u64),
    /// The engine cannot grind this proof version.
    #[error(
        "proof version {version} is not supported by this engine (it grinds version {supported})"
    )]
    UnsupportedVersion {
        /// The version the job asked for.
        version: u64,
        /// The version the engine grinds.
        supported: u64,
    },
    /// A nonce prefix (limb 4) or lane (limb 3) was not a canonical field element.
    #[error("nonce layout value {0} is not canonical (must be < p)")]
    InvalidNonceLayout(u64),
    /// The CPU cannot run the kernel that was asked for.
    #[error("the {0} kernel cannot run on this CPU; pick one of nockpool_pow::kernel::Kernel::supported()")]
    UnsupportedKernel(&'static str),
    /// A value from `nockpool-core` did not validate.
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// Index of the first limb `>= p`, as an error.
pub(crate) fn check_canonical(values: &[u64]) -> Result<(), PowError> {
    match values.iter().position(|&v| v >= nockpool_core::P) {
        Some(index) => Err(PowError::NonCanonical {
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}
