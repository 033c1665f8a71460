//! Test helpers: read the shared spec's JSON fixtures in place (never copied into the repo).

use std::path::PathBuf;

/// `../shared/spec/<name>` relative to the repository root.
pub(crate) fn spec_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/spec")
        .join(name)
}

/// The parsed fixture, or `None` (with a notice) when `../shared/spec` is absent.
pub(crate) fn spec_json(name: &str) -> Option<serde_json::Value> {
    let path = spec_path(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("spec fixture is valid JSON")),
        Err(err) => {
            eprintln!(
                "NOTICE: skipping: spec fixture {} not readable ({err})",
                path.display()
            );
            None
        }
    }
}

/// A JSON array of u64 (or decimal strings) as a Vec.
pub(crate) fn u64_vec(v: &serde_json::Value) -> Vec<u64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| {
            x.as_u64()
                .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
                .expect("u64")
        })
        .collect()
}

/// A JSON array of exactly `N` u64.
pub(crate) fn u64_array<const N: usize>(v: &serde_json::Value) -> [u64; N] {
    u64_vec(v).try_into().expect("array length")
}
