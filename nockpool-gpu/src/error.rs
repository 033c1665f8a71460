use thiserror::Error;

/// Errors from the GPU engine: no usable adapter, a bad `--gpu` selection, a device that failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum GpuError {
    /// No Vulkan, Metal or DX12 adapter was found.
    #[error(
        "no GPU adapter found (Vulkan, Metal or DX12): install the GPU's driver and its Vulkan \
         loader (on Debian: `apt-get install mesa-vulkan-drivers` gives the lavapipe software \
         adapter for testing), or mine with CPU threads only"
    )]
    NoAdapter,
    /// A `--gpu` value that is neither `all` nor a comma-separated list of indices.
    #[error("invalid GPU selection {0:?}: use `all` or comma-separated indices such as `0,1`")]
    InvalidSelection(String),
    /// A selected index past the adapters found.
    #[error("GPU index {index} does not exist: {found} adapter(s) found (indices 0..{found})")]
    NoSuchAdapter {
        /// The index asked for.
        index: usize,
        /// How many adapters there are.
        found: usize,
    },
    /// The adapter refused to open a device with what the engine needs.
    #[error("GPU {device}: could not open a device: {reason}")]
    DeviceOpen {
        /// The adapter's name.
        device: String,
        /// The driver's reason.
        reason: String,
    },
    /// The driver rejected the compute shader.
    #[error("GPU {device}: the driver rejected the compute shader: {reason}")]
    Shader {
        /// The adapter's name.
        device: String,
        /// The driver's reason.
        reason: String,
    },
    /// The device failed while mining (lost, timed out, or a mapping failed).
    #[error("GPU {device} failed: {reason}; it stops mining (restart the miner to retry)")]
    DeviceFailed {
        /// The adapter's name.
        device: String,
        /// What happened.
        reason: String,
    },
    /// Building the engine with settings it cannot use.
    #[error("invalid GPU engine setting: {0}")]
    InvalidSetting(String),
}
