//! The miner's status line (issue 12): plain log lines when its output is not a terminal (the
//! words `accepted N, rejected N` that scripts read), one line redrawn in place on a terminal
//! (run under `script`, which gives it a pseudo-terminal).

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::*;

const LIMIT: Duration = Duration::from_secs(60);

fn miner_args(pool: &str) -> Vec<String> {
    [
        pool,
        "-t",
        "1",
        "--report-secs",
        "1",
        "--log",
        "info",
        "--worker",
        "status-rig",
    ]
    .map(str::to_owned)
    .to_vec()
}

#[test]
fn without_a_terminal_the_status_is_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let pool = Proc::spawn(
        "pool-server",
        pool_server(&dir.path().join("pool"), "127.0.0.1:0"),
    );
    let addr = listen_addr(&pool);
    let mut miner = Command::new(env!("CARGO_BIN_EXE_miner"));
    miner
        .args(miner_args(&addr))
        .env_remove("RUST_LOG")
        .env_remove("POOL_TOKEN");
    let miner = Proc::spawn("miner", miner);
    let line = miner.wait_line("(5m), accepted ", LIMIT);
    assert!(line.contains("hashrate "), "{line}");
    assert!(line.contains(", rejected "), "{line}");
    assert!(line.contains(&format!("pool http://{addr}")), "{line}");
    assert!(line.contains("difficulty "), "{line}");
    assert!(line.contains("kernel "), "{line}");
    assert!(!line.contains('\r') && !line.contains('\x1b'), "{line:?}");
}

#[test]
fn on_a_terminal_the_status_is_one_line_redrawn_in_place() {
    if Command::new("script").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "`script` (util-linux) is required under CI=true"
        );
        eprintln!("SKIPPED: no `script` to give the miner a terminal");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pool = Proc::spawn(
        "pool-server",
        pool_server(&dir.path().join("pool"), "127.0.0.1:0"),
    );
    let addr = listen_addr(&pool);
    let command = std::iter::once(env!("CARGO_BIN_EXE_miner").to_owned())
        .chain(miner_args(&addr))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env_remove("RUST_LOG")
        .env_remove("POOL_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The terminal's bytes as they come (the status line never ends in a newline).
    let seen = Arc::new((Mutex::new(Vec::<u8>::new()), Condvar::new()));
    let mut out = child.stdout.take().unwrap();
    let feed = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            feed.0.lock().unwrap().extend_from_slice(&buf[..n]);
            feed.1.notify_all();
        }
    });
    let redraw = b"\r\x1b[2Khashrate ";
    let deadline = Instant::now() + LIMIT;
    let mut bytes = seen.0.lock().unwrap();
    // Two redraws of the line, the second with a share counted.
    while !(count(&bytes, redraw) >= 2 && has_accepted_share(&bytes)) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no status line redrawn in place:\n{:?}",
            String::from_utf8_lossy(&bytes)
        );
        bytes = seen.1.wait_timeout(bytes, left).unwrap().0;
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    drop(bytes);
    let _ = child.kill();
    let _ = child.wait();
    // The status line itself never ends a line: it is rewritten, not appended.
    for line in text.split('\n') {
        if let Some(at) = line.rfind("\r\x1b[2Khashrate ") {
            assert!(line[at..].contains(", rejected "), "{line:?}");
        }
    }
    drop(pool);
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| w == &needle)
        .count()
}

fn has_accepted_share(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.split("\x1b[2K")
        .filter(|part| part.starts_with("hashrate "))
        .any(|part| !part.contains("accepted 0,"))
}
