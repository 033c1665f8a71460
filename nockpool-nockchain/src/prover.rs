//! Turning a winning nonce into the submit poke the node accepts: the [`BlockProver`] trait and
//! [`CommandProver`], which runs an operator-supplied prover program per found block
//! (`nockchain-prover.md` §3).

use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use nockpool_core::noun::{cue, jam, Noun};
use nockpool_core::{Digest, Nonce};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::nouns;

/// Default time a prover gets for one block: below the ≈300 s life of a candidate.
pub const DEFAULT_PROVER_TIMEOUT: Duration = Duration::from_secs(240);

/// Largest submit poke read from a prover's stdout (a real one is ≈100–200 KB).
const MAX_PROVER_OUTPUT: u64 = 16 << 20;

/// What to prove: the node's candidate and the winning nonce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofRequest {
    /// The candidate's proof version (5 today).
    pub version: u64,
    /// The candidate's block commitment.
    pub commitment: Digest,
    /// The winning nonce.
    pub nonce: Nonce,
    /// The candidate's target noun `[%bn (list u32)]`, verbatim from the node.
    pub target: Noun,
    /// The puzzle length.
    pub pow_len: u64,
    /// The proof-of-work digest the pool computed for the nonce.
    pub digest: Digest,
}

impl ProofRequest {
    /// The prover kernel's cause `[version commit nonce target pow-len]`.
    pub fn cause(&self) -> Noun {
        nouns::prover_cause(
            self.version,
            &self.commitment,
            &self.nonce,
            &self.target,
            self.pow_len,
        )
    }

    /// Checks a submit poke `[%command %pow %dumb-zkpow prf dig commit nonce]` against this
    /// request: commitment, nonce, digest atom, proof version and proof object 0. The node
    /// does the full STARK check; this catches a prover built for another release or fed the
    /// wrong input before anything reaches the node.
    pub fn check_poke(&self, poke: &Noun) -> Result<(), String> {
        nouns::check_submit_poke(
            poke,
            self.version,
            &self.commitment,
            &self.nonce,
            &self.digest,
            self.pow_len,
        )
    }
}

/// What a prover made of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofOutcome {
    /// The submit poke `[%command %pow %dumb-zkpow prf dig commit nonce]`.
    Proved(Noun),
    /// The prover says the nonce does not meet the target (the pool's digest and the
    /// prover's disagree: a version or release mismatch).
    MissesTarget,
    /// The prover ran past its time limit and was stopped.
    TimedOut(Duration),
    /// The prover failed; `retryable` when trying again may help (a crash, not bad input).
    Failed {
        /// What went wrong.
        reason: String,
        /// Whether another attempt may succeed.
        retryable: bool,
    },
}

/// Produces the STARK proof for a winning nonce. Runs once per found block, never per share.
///
/// Cancellation is by dropping the future: an implementation must stop its work when that
/// happens (the pool drops it when the candidate is superseded, since the node would ignore
/// the block anyway).
#[async_trait]
pub trait BlockProver: Send + Sync + 'static {
    /// Proves one request.
    async fn prove(&self, request: &ProofRequest) -> ProofOutcome;
}

/// Runs an operator-supplied prover program, one process per proof.
///
/// Contract (`nockchain-prover.md` §3): the command line is run by `sh -c` in its own process
/// group; stdin gets the jam
/// of the cause `[version commit nonce target pow-len]`; stdout must be the jam of the submit
/// poke `[%command %pow %dumb-zkpow prf dig commit nonce]`; stderr is forwarded to the log
/// line by line; exit 0 = proved, 2 = the nonce misses the target, anything else = error. The
/// process group is killed when it exceeds the timeout or when the proof is no longer wanted.
///
/// Nockpool ships no prover: build one from Nockchain's sources (the miner kernel
/// `assets/miner.jam` run on nockvm with the zkvm-jetpack jets) for the release your node runs.
#[derive(Clone, Debug)]
pub struct CommandProver {
    command: String,
    timeout: Duration,
}

impl CommandProver {
    /// A prover that runs `command` (a shell command line) with the default timeout.
    pub fn new(command: impl Into<String>) -> CommandProver {
        CommandProver {
            command: command.into(),
            timeout: DEFAULT_PROVER_TIMEOUT,
        }
    }

    /// Sets the time limit for one proof (default [`DEFAULT_PROVER_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> CommandProver {
        self.timeout = timeout;
        self
    }

    /// The command line.
    pub fn command(&self) -> &str {
        &self.command
    }

    async fn run(&self, request: &ProofRequest) -> ProofOutcome {
        let failed = |reason: String, retryable: bool| ProofOutcome::Failed { reason, retryable };
        let mut child = match Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                return failed(
                    format!("cannot start prover `{}`: {e}", self.command),
                    false,
                )
            }
        };
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return failed("prover pipes unavailable".into(), true);
        };
        let cause = jam(&request.cause());
        let pid = child.id().unwrap_or(0);
        // Cancellation drops this future: the guard then kills the prover's whole process
        // group (the shell and anything it started).
        let mut group = KillGroupOnDrop(Some(pid));
        let forward_logs = async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(target: "nockpool::prover", "[prover {pid}] {line}");
            }
        };
        let feed = async move {
            // A prover may exit without reading its input; that is judged by its exit code.
            let _ = stdin.write_all(&cause).await;
            let _ = stdin.shutdown().await;
        };
        let collect = async move {
            let mut out = Vec::new();
            let read = stdout
                .take(MAX_PROVER_OUTPUT + 1)
                .read_to_end(&mut out)
                .await;
            read.map(|_| out)
        };
        let work = async {
            let ((), (), output, status) = tokio::join!(feed, forward_logs, collect, child.wait());
            (output, status)
        };
        let finished = tokio::time::timeout(self.timeout, work).await;
        let (output, status) = match finished {
            Ok(done) => done,
            Err(_) => {
                drop(group);
                let _ = child.start_kill();
                let _ = child.wait().await;
                return ProofOutcome::TimedOut(self.timeout);
            }
        };
        group.0 = None;
        let status = match status {
            Ok(s) => s,
            Err(e) => return failed(format!("waiting for the prover: {e}"), true),
        };
        match status.code() {
            Some(0) => {}
            Some(2) => return ProofOutcome::MissesTarget,
            Some(code) => return failed(format!("prover exited with code {code}"), true),
            None => return failed(format!("prover was killed ({status})"), true),
        }
        let output = match output {
            Ok(o) => o,
            Err(e) => return failed(format!("reading the prover's output: {e}"), true),
        };
        if output.len() as u64 > MAX_PROVER_OUTPUT {
            return failed(
                format!("prover wrote more than {MAX_PROVER_OUTPUT} bytes"),
                false,
            );
        }
        match cue(&output) {
            Ok(poke) => ProofOutcome::Proved(poke),
            Err(e) => failed(format!("prover output is not a jammed noun: {e}"), false),
        }
    }
}

/// Kills a process group (`kill -KILL -- -<pgid>`) when dropped while still armed.
struct KillGroupOnDrop(Option<u32>);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take().filter(|&p| p > 0) {
            kill_group("KILL", pgid);
        }
    }
}

/// Sends `signal` to every process of the group `pgid`.
pub(crate) fn kill_group(signal: &str, pgid: u32) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[async_trait]
impl BlockProver for CommandProver {
    async fn prove(&self, request: &ProofRequest) -> ProofOutcome {
        self.run(request).await
    }
}
