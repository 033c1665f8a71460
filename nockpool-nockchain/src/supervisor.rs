//! [`NodeSupervisor`]: runs the Nockchain node as a child of the pool server (`--node-cmd`),
//! so one command starts the farm's head: restarts it with backoff when it dies, forwards its
//! output to the log with a `[nockchain]` prefix, and stops it cleanly (SIGTERM, then SIGKILL
//! after a grace period) on shutdown. The [`NockchainNode`](crate::NockchainNode) backend
//! waits for its gRPC to answer and reconnects on its own.

use std::process::Stdio;
use std::time::{Duration, Instant};

use nockpool_core::Backoff;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// What happened to the supervised node process.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SupervisorEvent {
    /// The node process started.
    Started {
        /// Its process id.
        pid: u32,
    },
    /// The node process exited (`code` is `None` when a signal ended it).
    Exited {
        /// The exit code.
        code: Option<i32>,
    },
    /// The command could not be started at all.
    SpawnFailed {
        /// Why.
        reason: String,
    },
    /// The supervisor stopped the node for good.
    Stopped,
}

/// Runs and restarts a node command line (see the module docs).
#[derive(Debug)]
pub struct NodeSupervisor {
    stop: watch::Sender<bool>,
    events: broadcast::Sender<SupervisorEvent>,
    task: Option<JoinHandle<()>>,
}

/// Settings of a [`NodeSupervisor`].
#[derive(Clone, Debug)]
struct Settings {
    command: String,
    backoff_initial: Duration,
    backoff_max: Duration,
    grace: Duration,
}

impl NodeSupervisor {
    /// Starts `command` (a shell command line, e.g. `nockchain --bind …`, run by `sh -c` in
    /// the current directory, which holds the node's state) and keeps it running. Restarts
    /// back off from about 1 s to 60 s (with jitter); stopping waits up to 60 s for a clean exit.
    pub fn spawn(command: impl Into<String>) -> NodeSupervisor {
        NodeSupervisor::spawn_with(
            command,
            Duration::from_secs(1),
            Duration::from_secs(60),
            Duration::from_secs(60),
        )
    }

    /// [`NodeSupervisor::spawn`] with explicit restart backoff and stop grace period.
    pub fn spawn_with(
        command: impl Into<String>,
        backoff_initial: Duration,
        backoff_max: Duration,
        grace: Duration,
    ) -> NodeSupervisor {
        let (stop, stop_rx) = watch::channel(false);
        let (events, _) = broadcast::channel(64);
        let settings = Settings {
            command: command.into(),
            backoff_initial,
            backoff_max: backoff_max.max(backoff_initial),
            grace,
        };
        let task = tokio::spawn(supervise(settings, stop_rx, events.clone()));
        NodeSupervisor {
            stop,
            events,
            task: Some(task),
        }
    }

    /// Subscribes to what happens to the node process.
    pub fn events(&self) -> broadcast::Receiver<SupervisorEvent> {
        self.events.subscribe()
    }

    /// Stops the node cleanly (SIGTERM, then SIGKILL after the grace period) and waits.
    pub async fn stop(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for NodeSupervisor {
    /// Dropped without [`stop`](NodeSupervisor::stop), it still stops the node cleanly, in the
    /// background (while the runtime lives).
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

async fn supervise(
    settings: Settings,
    mut stop: watch::Receiver<bool>,
    events: broadcast::Sender<SupervisorEvent>,
) {
    let mut backoff = Backoff::new(settings.backoff_initial, settings.backoff_max);
    loop {
        if *stop.borrow() {
            break;
        }
        let started = Instant::now();
        let spawned = Command::new("sh")
            .arg("-c")
            .arg(&settings.command)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        match spawned {
            Ok(mut child) => {
                let pid = child.id().unwrap_or(0);
                tracing::info!(
                    "started the Nockchain node (pid {pid}): {}",
                    settings.command
                );
                let _ = events.send(SupervisorEvent::Started { pid });
                forward(child.stdout.take(), pid);
                forward(child.stderr.take(), pid);
                tokio::select! {
                    status = child.wait() => {
                        let code = status.ok().and_then(|s| s.code());
                        tracing::warn!("the Nockchain node (pid {pid}) exited with {code:?}");
                        let _ = events.send(SupervisorEvent::Exited { code });
                    }
                    () = stop_requested(&mut stop) => {
                        stop_child(&mut child, pid, settings.grace).await;
                        break;
                    }
                }
            }
            Err(e) => {
                let reason = format!("cannot start the node `{}`: {e}", settings.command);
                tracing::error!("{reason}");
                let _ = events.send(SupervisorEvent::SpawnFailed { reason });
            }
        }
        // A node that ran for a while was healthy: restart it soon.
        if started.elapsed() > settings.backoff_max {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        tracing::info!("restarting the Nockchain node in {delay:?}");
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stop_requested(&mut stop) => break,
        }
    }
    let _ = events.send(SupervisorEvent::Stopped);
}

/// Asks the node to exit cleanly (a NockApp treats SIGTERM like Ctrl-C: it runs its exit
/// driver), waits up to `grace` for every process of its group to be gone, then kills the rest.
async fn stop_child(child: &mut Child, pid: u32, grace: Duration) {
    tracing::info!("stopping the Nockchain node (pid {pid})");
    // The node runs in its own process group (the shell and the node in it), so the signal
    // reaches the node whether or not the shell exec'd it. SIGTERM, not SIGINT: a process
    // started from a non-interactive shell's background job ignores SIGINT.
    let group = format!("-{pid}");
    let signalled = Command::new("kill")
        .args(["-TERM", "--", &group])
        .status()
        .await
        .is_ok_and(|s| s.success());
    let deadline = tokio::time::Instant::now() + grace;
    if signalled {
        let _ = tokio::time::timeout_at(deadline, child.wait()).await;
        // The shell may be gone while the node is still saving its state.
        while group_alive(&group).await {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!("the Nockchain node did not exit within {grace:?}; killing it");
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    crate::prover::kill_group("KILL", pid);
    let _ = child.kill().await;
    tracing::info!("the Nockchain node has stopped");
}

/// Whether any live (non-zombie) process of the group `-<pgid>` remains: read from `/proc`
/// where there is one (an orphaned zombie may wait a while for its reaper), else `kill -0`.
async fn group_alive(group: &str) -> bool {
    let pgid = group.trim_start_matches('-');
    if let Ok(entries) = std::fs::read_dir("/proc") {
        return entries.flatten().any(|entry| {
            let is_pid = entry
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit());
            if !is_pid {
                return false;
            }
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                return false;
            };
            // `pid (comm) state ppid pgrp …`; comm may contain spaces and parentheses.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let mut fields = rest.split_whitespace();
            let state = fields.next();
            let _ppid = fields.next();
            fields.next() == Some(pgid) && state != Some("Z") && state != Some("X")
        });
    }
    Command::new("kill")
        .args(["-0", "--", group])
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// Resolves once `stop` is set (or its sender is gone).
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn forward(stream: Option<impl AsyncRead + Unpin + Send + 'static>, pid: u32) {
    let Some(stream) = stream else { return };
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::info!(target: "nockchain", "[nockchain {pid}] {line}");
        }
    });
}
