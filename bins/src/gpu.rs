//! The miner's GPU flags and start-up (feature `gpu`): which adapters to open, how each is
//! logged, and what happens when none can be opened.

use nockpool_gpu::{GpuEngine, GpuError, GpuSelection};
use nockpool_pow::bench::BenchReport;
use tracing::{info, warn};

/// The miner's GPU flags.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct GpuArgs {
    /// Mine on GPUs beside the CPU threads: `all` (software adapters such as lavapipe
    /// included) or adapter indices such as `0,1` (see --list-gpus). With `-t 0` the miner
    /// mines on the GPUs only, and exits with an error if none can be opened.
    #[arg(long, env = "MINER_GPU", value_name = "all|0,1")]
    pub gpu: Option<GpuSelection>,

    /// List the GPU adapters this machine offers, then exit.
    #[arg(long)]
    pub list_gpus: bool,
}

/// Whether `--list-gpus` is on the command line (checked before the other flags, which
/// require a pool address).
pub fn list_requested() -> bool {
    std::env::args_os().skip(1).any(|a| a == "--list-gpus")
}

/// One line per adapter (for `--list-gpus`), or the reason there is none.
pub fn adapter_list() -> String {
    let adapters = nockpool_gpu::adapters();
    if adapters.is_empty() {
        return GpuError::NoAdapter.to_string();
    }
    adapters
        .iter()
        .map(|a| {
            let int64 = if a.int64 { "int64" } else { "no int64" };
            format!("{a}, {int64}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Opens the GPUs `args` selects (none without `--gpu`) and logs each one's name, backend and
/// settings. If they cannot be opened, the miner goes on with its `cpu_threads`, or, with none,
/// the error is returned (the miner exits non-zero).
pub fn open(args: &GpuArgs, cpu_threads: usize) -> Result<Vec<(String, GpuEngine)>, GpuError> {
    let Some(selection) = &args.gpu else {
        return Ok(Vec::new());
    };
    info!("opening GPU(s) {selection}: compiling and calibrating the shader");
    match GpuEngine::open(selection) {
        Ok(engines) => Ok(engines
            .into_iter()
            .map(|engine| {
                let info = engine.info();
                let a = &info.adapter;
                info!(
                    "GPU {}: {} ({}, {}{}), {} path, workgroup {}, batch {} nonces",
                    a.index,
                    a.name,
                    a.backend,
                    a.kind,
                    if a.software {
                        ": runs on the CPU, correct but slow"
                    } else {
                        ""
                    },
                    info.arith.name(),
                    info.workgroup_size,
                    info.batch_size
                );
                (format!("gpu{} {}", a.index, a.name), engine)
            })
            .collect()),
        Err(err) if cpu_threads > 0 => {
            warn!("GPU mining is off: {err}; mining with {cpu_threads} CPU threads");
            Ok(Vec::new())
        }
        Err(err) => Err(err),
    }
}

/// `miner --bench --gpu …`: times each selected GPU for `duration` (after its start-up
/// calibration) and appends it to `report`. A GPU that cannot be opened is logged and left out;
/// the CPU table is still printed.
pub fn bench(args: &GpuArgs, duration: std::time::Duration, report: &mut BenchReport) {
    if args.gpu.is_none() {
        return;
    }
    // `cpu_threads` 1: a GPU that cannot be opened is a warning here, not an exit.
    let engines = match open(args, 1) {
        Ok(engines) => engines,
        Err(err) => {
            warn!("no GPU benchmark: {err}");
            return;
        }
    };
    for (name, engine) in engines {
        let (nonces, elapsed) = engine.bench(duration);
        if let Some(err) = engine.failure() {
            warn!("{name}: benchmark stopped by a GPU failure: {err}");
        }
        report.push_device(name, nonces, elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Flags {
        #[command(flatten)]
        gpu: GpuArgs,
    }

    #[test]
    fn flags_parse() {
        let f = Flags::try_parse_from(["miner", "--gpu", "all"]).unwrap();
        assert_eq!(f.gpu.gpu, Some(GpuSelection::All));
        let f = Flags::try_parse_from(["miner", "--gpu", "0,1"]).unwrap();
        assert_eq!(f.gpu.gpu, Some(GpuSelection::Indices(vec![0, 1])));
        let f = Flags::try_parse_from(["miner", "--list-gpus"]).unwrap();
        assert!(f.gpu.list_gpus && f.gpu.gpu.is_none());
        let err = Flags::try_parse_from(["miner", "--gpu", "first"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("use `all` or comma-separated indices"),
            "{err}"
        );
    }

    #[test]
    fn no_flag_opens_nothing() {
        assert!(open(&GpuArgs::default(), 0).unwrap().is_empty());
    }

    #[test]
    fn an_index_past_the_adapters_is_an_error_only_without_cpu_threads() {
        let args = GpuArgs {
            gpu: Some(GpuSelection::Indices(vec![99])),
            list_gpus: false,
        };
        assert!(open(&args, 2).unwrap().is_empty());
        let err = open(&args, 0).unwrap_err();
        assert!(
            matches!(
                err,
                GpuError::NoAdapter | GpuError::NoSuchAdapter { index: 99, .. }
            ),
            "{err}"
        );
    }
}
