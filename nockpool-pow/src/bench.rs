//! The miner's benchmark mode (`miner --bench`): version-5 nonce attempts per second for every
//! kernel this CPU supports, on 1, 2, 4, … up to N threads, through the same
//! [`PowEngine::search`] loop the miner runs.
//!
//! This is the number a farm compares machines and builds by. It measures wall-clock rates, so
//! other load on the machine lowers them; [`BenchReport`] records the CPU it ran on.
//!
//! ```
//! use std::time::Duration;
//! use nockpool_pow::bench::{self, BenchConfig};
//!
//! let config = BenchConfig::new()
//!     .threads(vec![1])
//!     .duration(Duration::from_millis(20));
//! let report = bench::run(&config);
//! assert!(report.results.iter().all(|r| r.nonces_per_sec > 0.0));
//! println!("{report}");
//! assert!(report.to_json().starts_with('{'));
//! ```

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use nockpool_core::{Digest, JobParams, NonceRange, Target, U320};

use crate::kernel::{self, Kernel};
use crate::{PowEngine, V5Engine};

/// What [`run`] measures: kernels, thread counts, time per measurement.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BenchConfig {
    /// Kernels to measure (unsupported ones are skipped).
    pub kernels: Vec<Kernel>,
    /// Thread counts to measure each kernel on.
    pub threads: Vec<usize>,
    /// Timed duration of each (kernel, threads) point, after a short warm-up.
    pub duration: Duration,
    /// Puzzle length of the job (Nockchain's is 64).
    pub pow_len: u64,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig::new()
    }
}

impl BenchConfig {
    /// Every supported kernel on 1, 2, 4, … threads up to N (N = the CPUs available to this
    /// process, always included), one second per point, `pow_len` 64.
    pub fn new() -> BenchConfig {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        BenchConfig {
            kernels: Kernel::supported(),
            threads: doubling_up_to(cpus),
            duration: Duration::from_secs(1),
            pow_len: 64,
        }
    }

    /// Measure on 1, 2, 4, … threads up to `max` (always included; at least 1).
    pub fn up_to_threads(self, max: usize) -> BenchConfig {
        self.threads(doubling_up_to(max.max(1)))
    }

    /// Measure these kernels.
    pub fn kernels(mut self, kernels: Vec<Kernel>) -> BenchConfig {
        self.kernels = kernels;
        self
    }

    /// Measure on these thread counts (zeros are skipped).
    pub fn threads(mut self, threads: Vec<usize>) -> BenchConfig {
        self.threads = threads;
        self
    }

    /// Time each point for this long.
    pub fn duration(mut self, duration: Duration) -> BenchConfig {
        self.duration = duration;
        self
    }
}

/// One measured point.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct BenchResult {
    /// The kernel.
    pub kernel: Kernel,
    /// Mining threads.
    pub threads: usize,
    /// Nonces tried by all threads together in the timed window.
    pub nonces: u64,
    /// Length of the timed window.
    pub seconds: f64,
    /// `nonces / seconds`, all threads together.
    pub nonces_per_sec: f64,
}

/// Everything [`run`] measured.
///
/// `Display` writes the text table ([`BenchReport::to_text`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BenchReport {
    /// The CPU, as the operating system names it ([`cpu_model`]).
    pub cpu: String,
    /// Puzzle length of the job.
    pub pow_len: u64,
    /// The kernel selected in this process when the benchmark ran ([`kernel::current`]).
    pub selected: Kernel,
    /// Every point, kernel by kernel in the order measured, thread counts ascending.
    pub results: Vec<BenchResult>,
    /// Other engines the caller measured and appended ([`BenchReport::push_device`]), such as
    /// GPUs: this crate knows only the CPU kernels.
    pub devices: Vec<DeviceResult>,
}

/// One non-CPU engine's measurement (a GPU), appended by the caller.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct DeviceResult {
    /// The engine's name as the miner shows it, e.g. `gpu0 NVIDIA H100 (Vulkan)`.
    pub name: String,
    /// Nonces tried in the timed window.
    pub nonces: u64,
    /// Length of the timed window.
    pub seconds: f64,
    /// `nonces / seconds`.
    pub nonces_per_sec: f64,
}

impl BenchReport {
    /// Appends a measurement made outside this crate (a GPU engine's own benchmark).
    pub fn push_device(&mut self, name: impl Into<String>, nonces: u64, seconds: f64) {
        let nonces_per_sec = if seconds > 0.0 {
            nonces as f64 / seconds
        } else {
            0.0
        };
        self.devices.push(DeviceResult {
            name: name.into(),
            nonces,
            seconds,
            nonces_per_sec,
        });
    }

    /// The fastest kernel's result on `threads` threads.
    pub fn best(&self, threads: usize) -> Option<&BenchResult> {
        self.results
            .iter()
            .filter(|r| r.threads == threads)
            .max_by(|a, b| a.nonces_per_sec.total_cmp(&b.nonces_per_sec))
    }

    /// A table, one row per kernel, one column per thread count, in nonces per second.
    pub fn to_text(&self) -> String {
        let mut threads: Vec<usize> = self.results.iter().map(|r| r.threads).collect();
        threads.sort_unstable();
        threads.dedup();
        let mut kernels: Vec<Kernel> = Vec::new();
        for r in &self.results {
            if !kernels.contains(&r.kernel) {
                kernels.push(r.kernel);
            }
        }
        let mut out = format!(
            "v5 nonce attempts per second (pow_len {}) on {}; selected kernel {}\n",
            self.pow_len, self.cpu, self.selected
        );
        let _ = write!(out, "{:<10}", "kernel");
        for t in &threads {
            let label = if *t == 1 {
                "1 thread".to_string()
            } else {
                format!("{t} threads")
            };
            let _ = write!(out, " {label:>12}");
        }
        out.push('\n');
        for k in &kernels {
            let _ = write!(out, "{:<10}", k.name());
            for t in &threads {
                match self
                    .results
                    .iter()
                    .find(|r| r.kernel == *k && r.threads == *t)
                {
                    Some(r) => {
                        let _ = write!(out, " {:>12}", format_rate(r.nonces_per_sec));
                    }
                    None => {
                        let _ = write!(out, " {:>12}", "-");
                    }
                }
            }
            out.push('\n');
        }
        for d in &self.devices {
            let _ = writeln!(out, "{}: {}", d.name, format_rate(d.nonces_per_sec));
        }
        out
    }

    /// The report as one JSON object: `{"cpu", "pow_len", "selected", "results": [{"kernel",
    /// "threads", "nonces", "seconds", "nonces_per_sec"}, …], "devices": [{"name", "nonces",
    /// "seconds", "nonces_per_sec"}, …]}`.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        let _ = write!(
            out,
            "\"cpu\":{},\"pow_len\":{},\"selected\":\"{}\",\"results\":[",
            json_string(&self.cpu),
            self.pow_len,
            self.selected
        );
        for (i, r) in self.results.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"kernel\":\"{}\",\"threads\":{},\"nonces\":{},\"seconds\":{:.6},\"nonces_per_sec\":{:.1}}}",
                r.kernel, r.threads, r.nonces, r.seconds, r.nonces_per_sec
            );
        }
        out.push_str("],\"devices\":[");
        for (i, d) in self.devices.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"name\":{},\"nonces\":{},\"seconds\":{:.6},\"nonces_per_sec\":{:.1}}}",
                json_string(&d.name),
                d.nonces,
                d.seconds,
                d.nonces_per_sec
            );
        }
        out.push_str("]}");
        out
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// `[1, 2, 4, …, max]`: doubling, with `max` itself last.
fn doubling_up_to(max: usize) -> Vec<usize> {
    let mut counts: Vec<usize> = std::iter::successors(Some(1usize), |n| n.checked_mul(2))
        .take_while(|&n| n < max)
        .collect();
    counts.push(max);
    counts
}

/// `812 /s`, `117.3 k/s`, `1.21 M/s`.
fn format_rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2} M/s", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1} k/s", per_sec / 1e3)
    } else {
        format!("{per_sec:.0} /s")
    }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The CPU's model name as the operating system reports it (Linux: `model name`, `cpu
/// family` and `model` from `/proc/cpuinfo`), or `"unknown CPU"`.
pub fn cpu_model() -> String {
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return "unknown CPU".to_string();
    };
    let field = |name: &str| {
        info.lines()
            .find(|l| l.split(':').next().map(str::trim) == Some(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    match (field("model name"), field("cpu family"), field("model")) {
        (Some(name), Some(family), Some(model)) => {
            format!("{name} (family {family}, model {model})")
        }
        (Some(name), _, _) => name,
        _ => "unknown CPU".to_string(),
    }
}

/// Nonces per `search` call in the benchmark loop (the deadline is checked between calls).
const CHUNK: u64 = 256;

/// Runs the benchmark: every configured kernel the CPU supports, on every configured thread
/// count, each point timed for [`BenchConfig::duration`]. Blocks until done (about
/// kernels × thread counts × duration).
///
/// # Panics
/// If `config.pow_len` is not a valid puzzle length (a power of two up to 65,536).
pub fn run(config: &BenchConfig) -> BenchReport {
    let params = JobParams::v5(
        Digest::new([1, 2, 3, 4, 5]).expect("small limbs are canonical"),
        config.pow_len,
    )
    .expect("the benchmark's pow_len must be a power of two up to 65536");
    let mut results = Vec::new();
    for &kernel in config.kernels.iter().filter(|k| k.is_supported()) {
        let engine = V5Engine::with_kernel(kernel).expect("supported kernels are accepted");
        let job = engine.prepare(&params).expect("a valid v5 job");
        for &threads in config.threads.iter().filter(|&&t| t > 0) {
            results.push(measure(&engine, &job, kernel, threads, config.duration));
        }
    }
    BenchReport {
        cpu: cpu_model(),
        pow_len: config.pow_len,
        selected: kernel::current(),
        results,
        devices: Vec::new(),
    }
}

/// `threads` threads grinding disjoint nonce lanes for `duration` after a warm-up chunk each.
fn measure(
    engine: &V5Engine,
    job: &crate::PreparedJob,
    kernel: Kernel,
    threads: usize,
    duration: Duration,
) -> BenchResult {
    // No digest meets a zero target: this measures grinding, not share callbacks.
    let target = Target::from_u320(U320::ZERO);
    let never = AtomicBool::new(false);
    let start_line = Barrier::new(threads + 1);
    let started = std::sync::OnceLock::new();
    let stop = AtomicBool::new(false);
    let counts: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|lane| {
                let (start_line, stop, never, target) = (&start_line, &stop, &never, &target);
                scope.spawn(move || {
                    let mut range = NonceRange {
                        prefix: 1,
                        lane: lane as u64,
                        start: 0,
                        count: CHUNK,
                    };
                    // Warm-up: caches, page faults, frequency.
                    let warm = engine.search(job, range, target, never, &mut |_, _| {});
                    range.start += u128::from(warm);
                    start_line.wait();
                    let mut tried = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let n = engine.search(job, range, target, never, &mut |_, _| {});
                        tried += n;
                        range.start += u128::from(n);
                    }
                    tried
                })
            })
            .collect();
        start_line.wait();
        let _ = started.set(Instant::now());
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .map(|w| w.join().expect("benchmark threads do not panic"))
            .collect()
    });
    // Threads finish the chunk they are in; the window ends when the last one returns.
    let seconds = started
        .get()
        .map_or(duration, Instant::elapsed)
        .as_secs_f64();
    let nonces: u64 = counts.iter().sum();
    BenchResult {
        kernel,
        threads,
        nonces,
        seconds,
        nonces_per_sec: nonces as f64 / seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_formats_text_and_json() {
        let report = BenchReport {
            cpu: "Test \"CPU\"\\1".to_string(),
            pow_len: 64,
            selected: Kernel::Portable,
            results: vec![
                BenchResult {
                    kernel: Kernel::Portable,
                    threads: 1,
                    nonces: 1000,
                    seconds: 0.5,
                    nonces_per_sec: 2000.0,
                },
                BenchResult {
                    kernel: Kernel::Portable,
                    threads: 2,
                    nonces: 3_000_000,
                    seconds: 1.0,
                    nonces_per_sec: 3e6,
                },
            ],
            devices: Vec::new(),
        };
        let mut report = report;
        report.push_device("gpu0 Test GPU (Vulkan)", 5_000_000, 2.0);
        let text = report.to_text();
        assert!(text.contains("gpu0 Test GPU (Vulkan): 2.50 M/s"), "{text}");
        assert!(text.contains("1 thread"), "{text}");
        assert!(text.contains("2 threads"), "{text}");
        assert!(text.contains("portable"), "{text}");
        assert!(
            text.contains("2.0 k/s") && text.contains("3.00 M/s"),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["cpu"], "Test \"CPU\"\\1");
        assert_eq!(json["selected"], "portable");
        assert_eq!(json["results"][1]["threads"], 2);
        assert_eq!(json["results"][1]["nonces"], 3_000_000);
        assert_eq!(json["results"][0]["nonces_per_sec"], 2000.0);
        assert_eq!(json["devices"][0]["name"], "gpu0 Test GPU (Vulkan)");
        assert_eq!(json["devices"][0]["nonces_per_sec"], 2.5e6);
        assert_eq!(report.best(2).map(|r| r.nonces), Some(3_000_000));
    }

    #[test]
    fn thread_counts_double_up_to_the_maximum() {
        assert_eq!(doubling_up_to(1), [1]);
        assert_eq!(doubling_up_to(2), [1, 2]);
        assert_eq!(doubling_up_to(6), [1, 2, 4, 6]);
        assert_eq!(doubling_up_to(16), [1, 2, 4, 8, 16]);
        assert_eq!(BenchConfig::new().up_to_threads(0).threads, [1]);
    }

    #[test]
    fn run_measures_each_supported_kernel_and_thread_count() {
        let config = BenchConfig::new()
            .threads(vec![1, 2])
            .duration(Duration::from_millis(10));
        let report = run(&config);
        let supported = Kernel::supported();
        assert_eq!(report.results.len(), supported.len() * 2);
        for (i, r) in report.results.iter().enumerate() {
            assert_eq!(r.kernel, supported[i / 2]);
            assert_eq!(r.threads, 1 + i % 2);
            assert!(r.nonces > 0 && r.nonces_per_sec > 0.0);
            assert!(r.seconds >= 0.01, "{}", r.seconds);
        }
    }
}
