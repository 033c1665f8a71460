//! The crate's test-only programs (`src/bin/`) and how a test of another crate finds them.
//!
//! Cargo puts them beside the test executables (`target/<profile>/`). `cargo test --workspace`
//! builds them with everything else (this crate has integration tests, so its binaries are
//! built); a test run of a single crate that finds one missing builds it once with
//! `cargo build -p nockpool-testkit --bins`. A binary that exists is used as it is: after
//! editing one, rebuild it (`cargo build -p nockpool-testkit --bins`) or run the workspace.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The directory cargo writes binaries to for the running test (`target/<profile>`).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().expect("the test executable's directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().unwrap_or(dir).to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

fn build_programs(bin_dir: &Path) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let profile = match bin_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_owned(),
        Some(name) => name.to_owned(),
    };
    let target_dir = bin_dir.parent().unwrap_or(bin_dir);
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "nockpool-testkit", "--bins"])
        .arg("--profile")
        .arg(&profile)
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo build -p nockpool-testkit --bins: {status}"))
    }
}

/// The path of this crate's program `name` (e.g. `nockpool-fake-prover`), built first if it is
/// missing.
///
/// # Panics
/// When the program is missing and cannot be built (a test cannot go on without it).
pub fn program_path(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let dir = bin_dir();
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        if let Err(e) = BUILT.get_or_init(|| build_programs(&dir)) {
            panic!("test program {name} is missing and could not be built: {e}");
        }
    }
    assert!(path.exists(), "test program {} is missing", path.display());
    path
}

/// The command line of the fake prover in `mode`: `ok`, `miss` (exit 2), `fail` (exit 1),
/// `garbage` (exit 0, not a jam), `hang` (never answers), `wrong-nonce` or `wrong-product`.
pub fn fake_prover(mode: &str) -> String {
    format!("{} {mode}", program_path("nockpool-fake-prover").display())
}

/// The command line that runs the fake node as a process on `addr`.
pub fn fake_node_command(addr: std::net::SocketAddr) -> String {
    format!("{} {addr}", program_path("nockpool-fake-node").display())
}
