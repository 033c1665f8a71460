//! Which CPU kernel computes Tip5 and the version-5 digest, chosen by measurement.
//!
//! Every kernel computes the same function (each is checked against a plain scalar oracle and
//! the spec vectors in the tests); they differ in speed, which depends on the CPU. [`autotune`]
//! runs every kernel the CPU supports on the real v5 pipeline for a few tens of milliseconds and
//! selects the fastest; the miner and the pool server call it once at start-up and log its
//! [`Tuning`]. Everything in this crate that hashes ([`crate::tip5::permute`],
//! [`crate::tip5::permute_many`], [`crate::v5::digest`], [`crate::v5::digest_many`],
//! [`crate::V5Engine`]) uses the selected kernel.
//!
//! Until [`autotune`] or [`select`] runs, the selection is made lazily and cheaply on first use
//! from CPU features alone: the kernel named by the `NOCKPOOL_POW_KERNEL` environment variable
//! if the CPU supports it, otherwise the first supported one of [`Kernel::ALL`] (AVX-512, AVX2,
//! portable). Nothing is timed behind the caller's back.
//!
//! ```
//! use nockpool_pow::kernel::{self, Kernel};
//!
//! assert!(Kernel::Portable.is_supported());
//! kernel::select(Kernel::Portable).unwrap();
//! assert_eq!(kernel::current(), Kernel::Portable);
//! assert_eq!(nockpool_pow::tip5::kernel_name(), "portable");
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crate::v5_kernel::{self, KernelConsts};
use crate::PowError;

/// The environment variable that forces a kernel (`avx512`, `avx2` or `portable`).
pub const KERNEL_ENV: &str = "NOCKPOOL_POW_KERNEL";

/// A CPU implementation of Tip5 and the v5 pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kernel {
    /// x86-64 AVX-512 (F, BW, DQ, VBMI): 8 states per vector, the byte S-box with `vpermi2b`;
    /// single states across the words of two vectors with IFMA (`vpmadd52luq`) where the CPU
    /// has it (every CPU with VBMI so far does), else on the portable path.
    Avx512,
    /// x86-64 AVX2: 4 states per vector.
    Avx2,
    /// Plain Rust, several independent states interleaved: runs everywhere.
    Portable,
}

impl Kernel {
    /// Every kernel, in the order the feature-based default prefers them.
    pub const ALL: [Kernel; 3] = [Kernel::Avx512, Kernel::Avx2, Kernel::Portable];

    /// The kernel's name in logs, benchmark tables and `NOCKPOOL_POW_KERNEL`.
    pub const fn name(self) -> &'static str {
        match self {
            Kernel::Avx512 => "avx512",
            Kernel::Avx2 => "avx2",
            Kernel::Portable => "portable",
        }
    }

    /// The kernel called `name` (as [`Kernel::name`] writes it).
    pub fn from_name(name: &str) -> Option<Kernel> {
        Kernel::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether this CPU can run the kernel (checked at run time).
    pub fn is_supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => crate::tip5::avx512::available(),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => crate::tip5::avx2::available(),
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx512 | Kernel::Avx2 => false,
            Kernel::Portable => true,
        }
    }

    /// The kernels this CPU supports, in [`Kernel::ALL`] order (never empty).
    pub fn supported() -> Vec<Kernel> {
        Kernel::ALL
            .into_iter()
            .filter(|k| k.is_supported())
            .collect()
    }

    /// States hashed side by side in one batch.
    pub const fn batch_width(self) -> usize {
        match self {
            Kernel::Avx512 => 8,
            Kernel::Avx2 => 4,
            Kernel::Portable => 1,
        }
    }

    fn code(self) -> u8 {
        match self {
            Kernel::Avx512 => 1,
            Kernel::Avx2 => 2,
            Kernel::Portable => 3,
        }
    }

    fn from_code(code: u8) -> Option<Kernel> {
        Kernel::ALL.into_iter().find(|k| k.code() == code)
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The selected kernel (`Kernel::code`), 0 until the first use or selection.
static SELECTED: AtomicU8 = AtomicU8::new(0);

/// The kernel everything in this crate hashes with now (see the module docs for how it is
/// chosen before [`autotune`] or [`select`] runs).
pub fn current() -> Kernel {
    match Kernel::from_code(SELECTED.load(Ordering::Relaxed)) {
        Some(kernel) => kernel,
        None => {
            let kernel = forced().ok().flatten().unwrap_or_else(feature_default);
            // A concurrent select() wins over this default.
            let _ =
                SELECTED.compare_exchange(0, kernel.code(), Ordering::Relaxed, Ordering::Relaxed);
            Kernel::from_code(SELECTED.load(Ordering::Relaxed)).unwrap_or(kernel)
        }
    }
}

/// Makes `kernel` the one everything hashes with, from now on.
///
/// # Errors
/// [`PowError::UnsupportedKernel`] if this CPU cannot run it (nothing changes).
pub fn select(kernel: Kernel) -> Result<(), PowError> {
    if !kernel.is_supported() {
        return Err(PowError::UnsupportedKernel(kernel.name()));
    }
    SELECTED.store(kernel.code(), Ordering::Relaxed);
    Ok(())
}

/// The first supported kernel of [`Kernel::ALL`].
fn feature_default() -> Kernel {
    Kernel::ALL
        .into_iter()
        .find(|k| k.is_supported())
        .unwrap_or(Kernel::Portable)
}

/// The kernel `NOCKPOOL_POW_KERNEL` names: `Ok(None)` if it is unset or empty, an error
/// message if it names an unknown kernel or one this CPU cannot run.
fn forced() -> Result<Option<Kernel>, String> {
    let Ok(value) = std::env::var(KERNEL_ENV) else {
        return Ok(None);
    };
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    match Kernel::from_name(value) {
        Some(kernel) if kernel.is_supported() => Ok(Some(kernel)),
        Some(kernel) => Err(format!(
            "{KERNEL_ENV}={kernel} ignored: this CPU cannot run it (supported: {})",
            names(&Kernel::supported())
        )),
        None => Err(format!(
            "{KERNEL_ENV}={value:?} ignored: not a kernel (known: {})",
            names(&Kernel::ALL)
        )),
    }
}

fn names(kernels: &[Kernel]) -> String {
    kernels
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One kernel's measured speed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KernelRate {
    /// The kernel.
    pub kernel: Kernel,
    /// Version-5 nonce attempts per second on one thread (`pow_len` 64), best of the timed
    /// slices.
    pub nonces_per_sec: f64,
}

/// What [`autotune`] measured and chose.
///
/// `Display` writes the log line: `kernel avx512 118.2 k/s, avx2 60.1 k/s, portable 33.0 k/s:
/// using avx512 (fastest)`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Tuning {
    /// Every supported kernel's rate, in [`Kernel::ALL`] order.
    pub rates: Vec<KernelRate>,
    /// The kernel now selected.
    pub chosen: Kernel,
    /// Whether `NOCKPOOL_POW_KERNEL` forced the choice (the rates are measured anyway).
    pub forced: bool,
    /// Why `NOCKPOOL_POW_KERNEL` was ignored, if it was set to something unusable.
    pub env_ignored: Option<String>,
}

impl fmt::Display for Tuning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("kernel ")?;
        for (i, rate) in self.rates.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} {:.1} k/s", rate.kernel, rate.nonces_per_sec / 1e3)?;
        }
        let why = if self.forced {
            "forced by NOCKPOOL_POW_KERNEL"
        } else {
            "fastest"
        };
        write!(f, ": using {} ({why})", self.chosen)?;
        if let Some(note) = &self.env_ignored {
            write!(f, "; {note}")?;
        }
        Ok(())
    }
}

/// The time [`autotune`] spends per supported kernel by default.
pub const DEFAULT_TUNING_TIME: Duration = Duration::from_millis(40);

/// Times every supported kernel on the v5 pipeline (`pow_len` 64, one thread) for about
/// `per_kernel` each, selects the fastest (or the one `NOCKPOOL_POW_KERNEL` forces) and
/// returns what it measured. Blocks the calling thread for about `per_kernel` times the number
/// of supported kernels; call it once at start-up, before mining threads start.
///
/// The kernels take turns in short slices and each keeps its best slice, so a burst of load
/// from other processes slows one slice, not one kernel.
pub fn autotune(per_kernel: Duration) -> Tuning {
    let kernels = Kernel::supported();
    let rates = measure(&kernels, per_kernel);
    let (forced_kernel, env_ignored) = match forced() {
        Ok(kernel) => (kernel, None),
        Err(note) => (None, Some(note)),
    };
    let fastest = rates
        .iter()
        .max_by(|a, b| a.nonces_per_sec.total_cmp(&b.nonces_per_sec))
        .map(|r| r.kernel)
        .unwrap_or(Kernel::Portable);
    let chosen = forced_kernel.unwrap_or(fastest);
    SELECTED.store(chosen.code(), Ordering::Relaxed);
    Tuning {
        rates,
        chosen,
        forced: forced_kernel.is_some(),
        env_ignored,
    }
}

/// Slices per kernel in [`measure`].
const SLICES: u32 = 4;

/// Best single-thread v5 rate of each kernel over [`SLICES`] interleaved slices.
fn measure(kernels: &[Kernel], per_kernel: Duration) -> Vec<KernelRate> {
    let consts = tuning_job();
    let nonces: Vec<[u64; 5]> = (0..64u64).map(|i| [i, 0, 0, 0, 1]).collect();
    let mut out = Vec::with_capacity(nonces.len());
    let slice = per_kernel / SLICES;
    let mut best = vec![0f64; kernels.len()];
    for _ in 0..SLICES {
        for (kernel, best) in kernels.iter().zip(best.iter_mut()) {
            let mut batch = kernel.batch_width();
            // Untimed warm-up (first-touch, caches), then at least one timed batch.
            v5_kernel::digest_many_with(*kernel, &consts, &nonces[..batch], &mut out);
            let start = Instant::now();
            let mut done = 0usize;
            while done == 0 || start.elapsed() < slice {
                v5_kernel::digest_many_with(*kernel, &consts, &nonces[..batch], &mut out);
                done += batch;
                batch = (batch * 2).min(nonces.len());
            }
            let rate = done as f64 / start.elapsed().as_secs_f64();
            *best = best.max(rate);
        }
    }
    kernels
        .iter()
        .zip(best)
        .map(|(&kernel, nonces_per_sec)| KernelRate {
            kernel,
            nonces_per_sec,
        })
        .collect()
}

/// A fixed job for timing (the digest values do not matter, only the work).
fn tuning_job() -> KernelConsts {
    let job = crate::v5::V5Job::new(
        nockpool_core::Digest::new([1, 2, 3, 4, 5]).expect("small limbs are canonical"),
        64,
    )
    .expect("64 is a valid pow_len");
    job.kernel_consts().clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_portable_is_always_supported() {
        for kernel in Kernel::ALL {
            assert_eq!(Kernel::from_name(kernel.name()), Some(kernel));
            assert_eq!(Kernel::from_code(kernel.code()), Some(kernel));
        }
        assert_eq!(Kernel::from_name("sse2"), None);
        assert!(Kernel::supported().contains(&Kernel::Portable));
    }

    #[test]
    fn tuning_measures_every_supported_kernel_and_formats_a_log_line() {
        let before = current();
        let tuning = autotune(Duration::from_millis(4));
        let measured: Vec<Kernel> = tuning.rates.iter().map(|r| r.kernel).collect();
        assert_eq!(measured, Kernel::supported());
        assert!(tuning.rates.iter().all(|r| r.nonces_per_sec > 0.0));
        assert_eq!(current(), tuning.chosen);
        let line = tuning.to_string();
        assert!(line.starts_with("kernel "), "{line}");
        assert!(line.contains(&format!("using {}", tuning.chosen)), "{line}");
        select(before).unwrap();
    }
}
