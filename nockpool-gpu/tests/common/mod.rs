//! Shared set-up of the GPU tests: every adapter found (lavapipe in CI), on every arithmetic
//! path it supports, opened once per test binary.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::sync::OnceLock;

use nockpool_gpu::{Arith, GpuEngine, GpuError, GpuSelection};

/// Small fixed sizes: no calibration in most tests, and several dispatches per search.
pub const WORKGROUP: u32 = 64;
pub const BATCH: u32 = 512;

/// The engines to test, or an empty slice (tests return early) when the machine has no
/// adapter, except under `CI=true`, where that is a failure: CI installs lavapipe.
pub fn engines() -> &'static [GpuEngine] {
    static ENGINES: OnceLock<Vec<GpuEngine>> = OnceLock::new();
    ENGINES.get_or_init(|| {
        let adapters = nockpool_gpu::adapters();
        if adapters.is_empty() {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(
                !ci,
                "CI=true but no GPU adapter was found: {} (.ci/run installs lavapipe)",
                GpuError::NoAdapter
            );
            eprintln!("NOTICE: skipping GPU tests: {}", GpuError::NoAdapter);
            return Vec::new();
        }
        let builder = GpuEngine::builder()
            .workgroup_size(WORKGROUP)
            .batch_size(BATCH);
        let mut engines = builder
            .clone()
            .arith(Arith::U32)
            .open(&GpuSelection::All)
            .expect("the 32-bit path opens on every adapter");
        let int64: Vec<usize> = adapters
            .iter()
            .filter(|a| a.int64)
            .map(|a| a.index)
            .collect();
        if int64.is_empty() {
            eprintln!("NOTICE: no adapter has SHADER_INT64; the int64 path is not tested");
        } else {
            engines.extend(
                builder
                    .arith(Arith::U64)
                    .open(&GpuSelection::Indices(int64))
                    .expect("the int64 path opens where SHADER_INT64 is offered"),
            );
        }
        for engine in &engines {
            eprintln!("testing on {}", engine.info());
        }
        engines
    })
}

/// The spec's JSON fixture, or `None` (with a notice) when `../shared/spec` is absent.
/// `NOCKPOOL_SPEC_DIR` points elsewhere (a checkout without `../shared` beside it).
pub fn spec_json(name: &str) -> Option<serde_json::Value> {
    let dir = std::env::var_os("NOCKPOOL_SPEC_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec"));
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("spec fixture is valid JSON")),
        Err(err) => {
            eprintln!("NOTICE: skipping: {} not readable ({err})", path.display());
            None
        }
    }
}

/// A JSON array of `N` u64.
pub fn u64_array<const N: usize>(v: &serde_json::Value) -> [u64; N] {
    let values: Vec<u64> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("u64"))
        .collect();
    values.try_into().expect("array length")
}
