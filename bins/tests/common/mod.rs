//! Runs the stock binaries as child processes and waits on their log lines (never on time).
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A farm address for tests (the one in the crate docs).
pub const TEST_ADDRESS: &str = "9yPePjfWAdUnzaQKyxcRXKRa5PpUzKKEwtpECBZsUYt9Jd7egSDEWoV";

#[derive(Default)]
struct Log {
    lines: Vec<String>,
    closed: usize,
}

/// A running binary and every line it has logged so far.
pub struct Proc {
    pub name: String,
    child: Child,
    log: Arc<(Mutex<Log>, Condvar)>,
}

impl Proc {
    /// Starts `command` with its stdout and stderr collected line by line.
    pub fn spawn(name: &str, mut command: Command) -> Proc {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let log = Arc::new((Mutex::new(Log::default()), Condvar::new()));
        let out = child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>);
        let err = child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn std::io::Read + Send>);
        for stream in [out, err].into_iter().flatten() {
            let log = log.clone();
            let name = name.to_owned();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    println!("[{name}] {line}");
                    log.0.lock().unwrap().lines.push(line);
                    log.1.notify_all();
                }
                log.0.lock().unwrap().closed += 1;
                log.1.notify_all();
            });
        }
        Proc {
            name: name.to_owned(),
            child,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.log.0.lock().unwrap().lines.clone()
    }

    /// Lines so far that contain `text`.
    pub fn count(&self, text: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(text)).count()
    }

    /// Waits until `pred` holds for the lines logged so far; panics (naming `what`) after
    /// `limit`, which bounds a broken run and is not a synchronisation.
    pub fn wait_until(&self, what: &str, limit: Duration, pred: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + limit;
        let mut log = self.log.0.lock().unwrap();
        loop {
            if pred(&log.lines) {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                panic!("{}: timed out waiting for {what}", self.name);
            }
            if log.closed == 2 {
                panic!("{}: its output ended while waiting for {what}", self.name);
            }
            log = self.log.1.wait_timeout(log, deadline - now).unwrap().0;
        }
    }

    /// Waits until at least `n` lines contain `text`.
    pub fn wait_count(&self, text: &str, n: usize, limit: Duration) {
        self.wait_until(&format!("{n} lines with {text:?}"), limit, |lines| {
            lines.iter().filter(|l| l.contains(text)).count() >= n
        });
    }

    /// The first line that contains `text`, once there is one.
    pub fn wait_line(&self, text: &str, limit: Duration) -> String {
        self.wait_count(text, 1, limit);
        self.lines()
            .into_iter()
            .find(|l| l.contains(text))
            .unwrap_or_default()
    }

    /// Sends a signal (`TERM`, `KILL`, ...).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("kill(1) is needed");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// Waits for the process to exit (up to `limit`, then kills it and panics): its output
    /// pipes close when it does.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        {
            let mut log = self.log.0.lock().unwrap();
            while log.closed < 2 {
                let now = Instant::now();
                if now >= deadline {
                    drop(log);
                    let _ = self.child.kill();
                    panic!("{} did not exit within {limit:?}", self.name);
                }
                log = self.log.1.wait_timeout(log, deadline - now).unwrap().0;
            }
        }
        self.child.wait().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `pool-server` command on the devnet, logging at info.
pub fn pool_server(data_dir: &Path, listen: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pool-server"));
    command
        .args(["--address", listen, "--log", "info"])
        // Its own status port: tests run side by side (and 8080 may be in use here).
        .args(["--http-address", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        // No .env of the developer's, and no payee unless a test names one.
        .current_dir(data_dir.parent().unwrap_or(data_dir))
        .env("MINING_PUBKEY", "")
        .env_remove("POOL_TOKEN")
        .env_remove("POOL_HTTP_TOKEN")
        .env_remove("POOL_ALERT_WEBHOOK")
        .env_remove("RUST_LOG");
    command
}

/// The address a pool-server says it listens on (from its start-up line).
pub fn listen_addr(pool: &Proc) -> String {
    let line = pool.wait_line("pool server listening on ", Duration::from_secs(30));
    line.split("pool server listening on ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_default()
        .to_owned()
}
