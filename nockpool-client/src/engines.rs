//! Every engine a client runs, side by side under one connection: the CPU engine on its
//! threads, and each device engine (a GPU) on a driving thread of its own, on lanes that do not
//! overlap, each with its own hash counter (so each device's hashrate is its own).

use std::time::{Duration, Instant};

use nockpool_pow::{CpuMiner, FoundShare, MiningJob};

use crate::client::Config;

struct Run {
    name: String,
    miner: CpuMiner,
}

/// The running engines of one client.
pub(crate) struct Engines {
    runs: Vec<Run>,
}

impl Engines {
    /// Starts every engine of `config`, idle until a job is set. CPU threads take lanes
    /// `0..threads`; device `i` takes lane `threads + i`.
    pub(crate) fn start(
        config: &Config,
        on_found: impl Fn(FoundShare) + Clone + Send + Sync + 'static,
    ) -> Engines {
        let mut runs = Vec::with_capacity(1 + config.devices.len());
        if config.threads > 0 {
            runs.push(Run {
                name: format!("cpu ({} threads)", config.threads),
                miner: CpuMiner::with_first_lane(
                    config.engine.clone(),
                    config.threads,
                    0,
                    on_found.clone(),
                ),
            });
        }
        for (i, (name, engine)) in config.devices.iter().enumerate() {
            runs.push(Run {
                name: name.clone(),
                miner: CpuMiner::with_first_lane(
                    engine.clone(),
                    1,
                    (config.threads + i) as u64,
                    on_found.clone(),
                ),
            });
        }
        Engines { runs }
    }

    /// Switches every engine to `job`.
    pub(crate) fn set_job(&self, job: MiningJob) {
        for run in &self.runs {
            run.miner.set_job(job.clone());
        }
    }

    /// Stops every engine.
    pub(crate) fn pause(&self) {
        for run in &self.runs {
            run.miner.pause();
        }
    }

    /// Each engine's name and nonces tried since start.
    pub(crate) fn per_engine(&self) -> Vec<(String, u64)> {
        self.runs
            .iter()
            .map(|r| (r.name.clone(), r.miner.hashes()))
            .collect()
    }

    /// Waits up to `timeout` until no engine is searching.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.runs.iter().all(|r| {
            r.miner
                .wait_idle(deadline.saturating_duration_since(Instant::now()))
        })
    }
}
