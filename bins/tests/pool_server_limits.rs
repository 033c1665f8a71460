//! `pool-server` and its process limits (issue 16): the descriptor soft limit is raised at
//! start-up, running out of descriptors is logged instead of silently refusing miners, and
//! limit flags that mean nothing are refused before anything starts.

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(60);

/// `pool-server` started by a shell that first applies `ulimit`.
fn pool_server_under(ulimit: &str, data_dir: &Path) -> Command {
    let plain = pool_server(data_dir, "127.0.0.1:0");
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit {ulimit} && exec \"$0\" \"$@\""))
        .arg(plain.get_program())
        .args(plain.get_args())
        .current_dir(data_dir.parent().unwrap_or(data_dir))
        .env("MINING_PUBKEY", "")
        .env_remove("POOL_TOKEN")
        .env_remove("RUST_LOG");
    command
}

#[test]
fn the_soft_descriptor_limit_is_raised_to_the_hard_limit() {
    let dir = tempfile::tempdir().unwrap();
    let pool = Proc::spawn(
        "pool-server",
        pool_server_under("-Sn 256", &dir.path().join("pool")),
    );
    let line = pool.wait_line("open-file limit", LIMIT);
    let hard = Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .unwrap();
    let hard = String::from_utf8_lossy(&hard.stdout).trim().to_owned();
    if hard == "256" || hard == "unlimited" {
        // Nothing to raise to (or no number to compare): the line still says what it is.
        assert!(line.contains("open-file limit"), "{line}");
    } else {
        assert!(
            line.contains(&format!("raised from 256 to {hard}")),
            "{line} (hard limit {hard})"
        );
    }
    listen_addr(&pool);
}

#[test]
fn running_out_of_descriptors_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    // Soft and hard both 64: nothing to raise; a few dozen idle sockets use up the rest.
    let pool = Proc::spawn(
        "pool-server",
        pool_server_under("-n 64", &dir.path().join("pool")),
    );
    let addr = listen_addr(&pool);
    let mut sockets = Vec::new();
    for _ in 0..80 {
        if let Ok(s) = TcpStream::connect(&addr) {
            sockets.push(s);
        }
    }
    let line = pool.wait_line("accepting a connection failed", LIMIT);
    assert!(line.contains("raise the descriptor limit"), "{line}");
    drop(sockets);
}

#[test]
fn meaningless_limit_values_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (["--max-miners-per-ip", "0"], "0 is not allowed here"),
        (["--ban-seconds", "0"], "0 is not allowed here"),
        (["--token", ""], "the farm token is empty"),
    ] {
        let out = pool_server(&dir.path().join("pool"), "127.0.0.1:0")
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was taken");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(stderr.contains(args[0]), "{args:?}: {stderr}");
    }
}
