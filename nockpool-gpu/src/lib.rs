//! `nockpool-gpu`: the Nockchain version-%5 proof-of-work search on GPUs.
//!
//! [`GpuEngine`] implements [`nockpool_pow::PowEngine`] on one GPU adapter through
//! [wgpu](https://wgpu.rs) (Vulkan, Metal or DX12) with a WGSL compute shader, bit-exact with
//! [`nockpool_pow::v5::digest`]: the same nonce layout (limb 4 the connection's prefix, limb 3
//! the lane, limbs 0–2 a base-p counter), the same target test, and every candidate recomputed
//! on the CPU before it leaves the engine. A pool client runs it beside CPU threads like any
//! other engine.
//!
//! # Layout
//! - `adapter` — [`adapters`], [`AdapterSummary`], [`GpuSelection`] (`all` or `0,1`).
//! - `engine` — [`GpuEngine`], [`GpuEngineBuilder`] (arithmetic path, workgroup and batch
//!   size; calibrated at start when unset), [`GpuEngineInfo`].
//! - `shader` — the WGSL source, generated per arithmetic path ([`Arith`]): native `u64`
//!   where the adapter has `SHADER_INT64`, else two 32-bit limbs per word.
//! - `error` — [`GpuError`].
//!
//! # Design
//! One nonce per invocation: a %5 nonce is a chain of 34 dependent Tip5 permutations over a
//! 16-word state that fits in registers, and nonces are independent, so the device is filled
//! with nonces rather than splitting one hash across lanes (which would need a cross-lane
//! exchange for every MDS layer: 7 × 34 per nonce). The lookup table lives in workgroup memory,
//! the round constants and the job's constants in read-only storage buffers (the job's uploaded
//! once per job), the MDS layer is unrolled with its entries as literals, and two dispatches
//! are kept in flight so the device never waits for the host's read-back.
//!
//! Software adapters (lavapipe, Mesa's Vulkan on the CPU) are adapters like any other: the
//! tests run on them, and `--gpu all` includes them (logged as "software adapter").
//!
//! # Example
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use nockpool_core::{Digest, JobParams, Nonce, NonceRange, Target};
//! use nockpool_gpu::{GpuEngine, GpuSelection};
//! use nockpool_pow::{v5, PowEngine};
//!
//! for gpu in GpuEngine::open(&GpuSelection::All)? {
//!     println!("{}", gpu.info());
//!     let job = gpu.prepare(&JobParams::v5(Digest::new([1, 2, 3, 4, 5])?, 64)?)?;
//!     let nonce = Nonce::new([6, 7, 8, 9, 10])?;
//!     let on_device = gpu.digest_batch(&job, &[nonce])?;
//!     assert_eq!(on_device[0].to_limbs(), v5::digest(&[1, 2, 3, 4, 5], &[6, 7, 8, 9, 10], 64));
//!
//!     let range = NonceRange { prefix: 7, lane: 1000, start: 0, count: 4096 };
//!     let mut shares = 0;
//!     let tried = gpu.search(&job, range, &Target::MAX, &AtomicBool::new(false), &mut |_, _| shares += 1);
//!     assert_eq!((tried, shares), (4096, 4096));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod adapter;
mod engine;
mod error;
mod shader;

pub use adapter::{adapters, AdapterSummary, GpuSelection};
pub use engine::{GpuEngine, GpuEngineBuilder, GpuEngineInfo};
pub use error::GpuError;
pub use shader::{Arith, MAX_POW_LEN};
