//! `nockpool-benches`: criterion benchmarks for nockpool; `pool-loadtest` with the parts of
//! it worth testing on their own (percentiles, the pool process's `/proc` figures, the report
//! and its JSON line); and the same-process timing helper the Tip5 and v5 benches use to print
//! their ratios against the reference.
//!
//! # Layout
//! - `benches/tip5.rs` — Tip5 permutation (single, batched ×8/×64/×1024) for every kernel the
//!   CPU supports, `hash_10`, `hash_varlen`, each beside the `twenty-first` crate's Tip5 in the
//!   same group; then the goal ratios (batched and single permutation against twenty-first).
//! - `benches/v5.rs` — the version-5 mining digest (single, batched) for every kernel and
//!   `CpuMiner` on 1 and 2 threads; then the goal ratios (nonces per second per core against
//!   the twenty-first reference rate, 2-thread scaling).
//! - `benches/server.rs` — the pool server's hot paths over real gRPC on loopback: a share's
//!   SubmitWork round trip (valid, malformed, low difficulty), the server-side digest alone, and
//!   job fan-out to 1, 32 and 180 subscribed miners.
//! - `src/bin/pool-loadtest.rs` — `pool-loadtest`: up to 20,000 simulated raw-protocol miners
//!   against a pool you run yourself on this machine
//!   (`cargo run --release -p nockpool-benches --bin pool-loadtest -- --help`).
//! - this library — [`LoadReport`] (the table and the one-line JSON), [`percentile`],
//!   [`ProcStats`], [`ensure_loopback`].
//! - [`race`] — interleaved best-of-slices timing for the ratio tables.
//!
//! Results and the machine they came from are recorded in `benches/BENCHES.md`.
//!
//! # Example
//! ```
//! use std::time::Duration;
//! let mut acks = vec![Duration::from_millis(3), Duration::from_millis(1)];
//! acks.sort();
//! assert_eq!(nockpool_benches::percentile(&acks, 0.5), Some(Duration::from_millis(1)));
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

/// The `q`-quantile (0.0–1.0) of `sorted` by the nearest-rank method: the smallest sample with
/// at least `q` of the samples at or below it. `None` for no samples.
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.max(1) - 1).copied()
}

/// Milliseconds, rounded to microseconds (what the JSON carries).
fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Refuses a pool URL whose host is not this machine: the load tool only loads pools on
/// loopback (`localhost`, `127.0.0.0/8`, `::1`).
pub fn ensure_loopback(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{url}: expected http://HOST:PORT"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "{url}: pool-loadtest only loads a pool on this machine (localhost, 127.x.x.x, ::1)"
        ))
    }
}

/// What the kernel says about a process (Linux `/proc/<pid>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStats {
    /// CPU time (user + system) of all its threads so far, at the kernel's 10 ms resolution.
    pub cpu: Duration,
    /// Peak resident set size (`VmHWM`), KiB.
    pub peak_rss_kib: u64,
    /// Resident set size now (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Time its live threads spent runnable but waiting for a CPU (`/proc/<pid>/task/*/
    /// schedstat`, second field): CPU time the machine's other work took from it.
    pub runqueue_wait: Duration,
}

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`, fixed at 100 in Linux's ABI).
const USER_HZ: u64 = 100;

impl ProcStats {
    /// Reads process `pid`'s figures.
    pub fn read(pid: u32) -> std::io::Result<ProcStats> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let mut stats = Self::parse(&status, &stat).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("/proc/{pid}: no VmHWM/VmRSS or CPU time"),
            )
        })?;
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))?.flatten() {
            // A thread that exits meanwhile has no schedstat any more: skip it.
            if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) {
                stats.runqueue_wait += Self::parse_wait(&text).unwrap_or_default();
            }
        }
        Ok(stats)
    }

    /// The run-queue wait of one thread's `schedstat` line (`run_ns wait_ns slices`).
    pub fn parse_wait(schedstat: &str) -> Option<Duration> {
        let ns = schedstat.split_whitespace().nth(1)?.parse().ok()?;
        Some(Duration::from_nanos(ns))
    }

    /// Parses the text of `/proc/<pid>/status` and `/proc/<pid>/stat` (whose `utime` and
    /// `stime`, fields 14 and 15, count every thread's ticks, exited threads included).
    pub fn parse(status: &str, stat: &str) -> Option<ProcStats> {
        let kib = |key: &str| {
            status.lines().find_map(|line| {
                let value = line.strip_prefix(key)?.trim();
                value.strip_suffix("kB")?.trim().parse::<u64>().ok()
            })
        };
        // The command name (field 2) may hold spaces and parentheses: count after the last ')'.
        let after_name = &stat[stat.rfind(')')? + 1..];
        let mut fields = after_name.split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some(ProcStats {
            cpu: Duration::from_millis((utime + stime) * 1000 / USER_HZ),
            peak_rss_kib: kib("VmHWM:")?,
            rss_kib: kib("VmRSS:")?,
            runqueue_wait: Duration::ZERO,
        })
    }
}

/// One load-test run's results: printed as a table and as one JSON line
/// (field meanings in `benches/BENCHES.md`, section "Load").
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LoadReport {
    /// Miners the run tried to connect.
    pub miners: u64,
    /// Miners that got their Welcome and first job.
    pub miners_connected: u64,
    /// Time from a miner's first TCP connect to its first job, median, ms.
    pub connect_p50_ms: Option<f64>,
    /// The same, 99th percentile, ms.
    pub connect_p99_ms: Option<f64>,
    /// Broadcast jobs seen during the measured phase.
    pub fanout_jobs: u64,
    /// Delay of each miner's copy of a broadcast job after the first miner's copy, over every
    /// miner and job of the measured phase, median, ms.
    pub fanout_p50_ms: Option<f64>,
    /// The same, 99th percentile, ms.
    pub fanout_p99_ms: Option<f64>,
    /// The worst job's delay from its first to its last miner, ms.
    pub fanout_max_ms: Option<f64>,
    /// Length of the measured (steady) phase, seconds.
    pub seconds: f64,
    /// SubmitWork calls made in it.
    pub shares_submitted: u64,
    /// Of those, accepted by the pool.
    pub acked_shares: u64,
    /// Accepted shares per second of the measured phase.
    pub acked_shares_per_s: f64,
    /// SubmitWork round trip (every answered call), median, ms.
    pub ack_p50_ms: Option<f64>,
    /// The same, 99th percentile, ms.
    pub ack_p99_ms: Option<f64>,
    /// Rejections by reason code (e.g. `REJECT_REASON_DUPLICATE`).
    pub rejected: BTreeMap<String, u64>,
    /// Connect and transport failures (not share rejections).
    pub errors: u64,
    /// The first error's text.
    pub first_error: Option<String>,
    /// The pool process's CPU time over the whole run (connects included), s.
    pub server_cpu_s: Option<f64>,
    /// The pool process's CPU time during the measured phase only, s.
    pub server_cpu_steady_s: Option<f64>,
    /// `server_cpu_steady_s` per accepted share, µs (includes the fan-out and keep-alives of
    /// that phase).
    pub server_cpu_us_per_ack: Option<f64>,
    /// Time the pool's threads waited for a CPU while runnable during the measured phase, s
    /// (high: the machine's other load, not the pool, set the latencies).
    pub server_runqueue_wait_s: Option<f64>,
    /// The pool process's peak RSS (`VmHWM`) at the end, KiB.
    pub server_peak_rss_kib: Option<u64>,
    /// `server_peak_rss_kib` per connected miner, KiB.
    pub server_peak_rss_kib_per_miner: Option<f64>,
    /// The pool process's RSS at the end of the measured phase, KiB.
    pub server_rss_kib: Option<u64>,
    /// The load tool's own CPU time during the measured phase, s (it shares the machine).
    pub tool_cpu_steady_s: Option<f64>,
    /// One share's digest (`PowEngine::digest`, what the pool computes per share) timed in
    /// this process before the miners connect, median, µs.
    pub digest_us: Option<f64>,
}

/// Samples of one run, turned into a [`LoadReport`] by [`LoadReport::from_samples`].
#[derive(Clone, Debug, Default)]
pub struct LoadSamples {
    /// Miners the run tried to connect.
    pub miners: u64,
    /// Connect times of the miners that connected.
    pub connect: Vec<Duration>,
    /// Per broadcast job: the delay of every receipt after the job's first receipt.
    pub fanout: Vec<Vec<Duration>>,
    /// Length of the measured phase.
    pub steady: Duration,
    /// Round trips of every answered SubmitWork.
    pub acks: Vec<Duration>,
    /// Accepted shares.
    pub accepted: u64,
    /// Rejections by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Connect and transport failures, with the first one's text.
    pub errors: u64,
    /// The first failure's text.
    pub first_error: Option<String>,
    /// The pool process at the start, at the start of the measured phase and at its end.
    pub server: Option<[ProcStats; 3]>,
    /// Median digest time.
    pub digest: Option<Duration>,
    /// The load tool's CPU time during the measured phase.
    pub tool_cpu_steady: Option<Duration>,
}

impl LoadReport {
    /// Percentiles and rates from the raw samples.
    pub fn from_samples(mut s: LoadSamples) -> LoadReport {
        s.connect.sort_unstable();
        s.acks.sort_unstable();
        let mut fan: Vec<Duration> = s.fanout.iter().flatten().copied().collect();
        fan.sort_unstable();
        let fanout_max = s
            .fanout
            .iter()
            .filter_map(|j| j.iter().max())
            .max()
            .copied();
        let secs = s.steady.as_secs_f64();
        let miners_connected = s.connect.len() as u64;
        let (mut server_cpu_s, mut server_cpu_steady_s, mut per_ack) = (None, None, None);
        let mut wait = None;
        let (mut peak, mut peak_per_miner, mut rss) = (None, None, None);
        if let Some([start, steady, end]) = s.server {
            server_cpu_s = Some(end.cpu.saturating_sub(start.cpu).as_secs_f64());
            let steady_cpu = end.cpu.saturating_sub(steady.cpu).as_secs_f64();
            server_cpu_steady_s = Some(steady_cpu);
            wait = Some(
                end.runqueue_wait
                    .saturating_sub(steady.runqueue_wait)
                    .as_secs_f64(),
            );
            per_ack = (s.accepted > 0).then(|| steady_cpu * 1e6 / s.accepted as f64);
            peak = Some(end.peak_rss_kib);
            peak_per_miner =
                (miners_connected > 0).then(|| end.peak_rss_kib as f64 / miners_connected as f64);
            rss = Some(end.rss_kib);
        }
        LoadReport {
            miners: s.miners,
            miners_connected,
            connect_p50_ms: percentile(&s.connect, 0.5).map(ms),
            connect_p99_ms: percentile(&s.connect, 0.99).map(ms),
            fanout_jobs: s.fanout.len() as u64,
            fanout_p50_ms: percentile(&fan, 0.5).map(ms),
            fanout_p99_ms: percentile(&fan, 0.99).map(ms),
            fanout_max_ms: fanout_max.map(ms),
            seconds: secs,
            shares_submitted: s.acks.len() as u64 + s.rejected_transport(),
            acked_shares: s.accepted,
            acked_shares_per_s: if secs > 0.0 {
                s.accepted as f64 / secs
            } else {
                0.0
            },
            ack_p50_ms: percentile(&s.acks, 0.5).map(ms),
            ack_p99_ms: percentile(&s.acks, 0.99).map(ms),
            rejected: s.rejected,
            errors: s.errors,
            first_error: s.first_error,
            server_cpu_s,
            server_cpu_steady_s,
            server_cpu_us_per_ack: per_ack,
            server_runqueue_wait_s: wait,
            server_peak_rss_kib: peak,
            server_peak_rss_kib_per_miner: peak_per_miner,
            server_rss_kib: rss,
            tool_cpu_steady_s: s.tool_cpu_steady.map(|d| d.as_secs_f64()),
            digest_us: s.digest.map(|d| d.as_secs_f64() * 1e6),
        }
    }

    /// The report as one line of JSON (no newline inside).
    pub fn to_json(&self) -> String {
        // Serialising plain numbers, strings and maps cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The report as a human-readable table.
    pub fn table(&self) -> String {
        let opt =
            |v: Option<f64>, unit: &str| v.map_or("-".to_owned(), |v| format!("{v:.2}{unit}"));
        let rows = [
            (
                "miners connected",
                format!("{} / {}", self.miners_connected, self.miners),
            ),
            (
                "connect p50 / p99",
                format!(
                    "{} / {}",
                    opt(self.connect_p50_ms, " ms"),
                    opt(self.connect_p99_ms, " ms")
                ),
            ),
            (
                "fan-out p50 / p99 / max",
                format!(
                    "{} / {} / {} ({} jobs)",
                    opt(self.fanout_p50_ms, " ms"),
                    opt(self.fanout_p99_ms, " ms"),
                    opt(self.fanout_max_ms, " ms"),
                    self.fanout_jobs
                ),
            ),
            (
                "acked shares",
                format!(
                    "{} in {:.1} s = {:.0}/s (submitted {})",
                    self.acked_shares, self.seconds, self.acked_shares_per_s, self.shares_submitted
                ),
            ),
            (
                "ack p50 / p99",
                format!(
                    "{} / {}",
                    opt(self.ack_p50_ms, " ms"),
                    opt(self.ack_p99_ms, " ms")
                ),
            ),
            ("rejected", format!("{:?}", self.rejected)),
            (
                "errors",
                format!(
                    "{}{}",
                    self.errors,
                    self.first_error
                        .as_ref()
                        .map(|e| format!(" (first: {e})"))
                        .unwrap_or_default()
                ),
            ),
            (
                "pool CPU run / measured",
                format!(
                    "{} / {} (the tool, measured: {})",
                    opt(self.server_cpu_s, " s"),
                    opt(self.server_cpu_steady_s, " s"),
                    opt(self.tool_cpu_steady_s, " s")
                ),
            ),
            (
                "pool waiting for a CPU",
                format!(
                    "{} (measured phase)",
                    opt(self.server_runqueue_wait_s, " s")
                ),
            ),
            (
                "pool CPU per acked share",
                format!(
                    "{} (one digest: {})",
                    opt(self.server_cpu_us_per_ack, " µs"),
                    opt(self.digest_us, " µs")
                ),
            ),
            (
                "pool peak RSS",
                format!(
                    "{} KiB ({} per miner), now {} KiB",
                    self.server_peak_rss_kib
                        .map_or("-".to_owned(), |v| v.to_string()),
                    opt(self.server_peak_rss_kib_per_miner, " KiB"),
                    self.server_rss_kib
                        .map_or("-".to_owned(), |v| v.to_string())
                ),
            ),
        ];
        rows.iter().map(|(k, v)| format!("{k:<26} {v}\n")).collect()
    }
}

impl LoadSamples {
    /// SubmitWork calls that got no answer (counted in `errors` too).
    fn rejected_transport(&self) -> u64 {
        self.rejected
            .get(TRANSPORT_ERROR)
            .copied()
            .unwrap_or_default()
    }
}

/// The `rejected` key under which SubmitWork calls that failed in transport are counted.
pub const TRANSPORT_ERROR: &str = "transport_error";

/// One timed contender of a [`race`]: a name, how many items one call processes, the call.
pub struct Contender<'a> {
    /// Printed name.
    pub name: String,
    /// Items (permutations, nonces) one call of `run` processes.
    pub items: f64,
    /// The work.
    pub run: Box<dyn FnMut() + 'a>,
}

impl<'a> Contender<'a> {
    /// A contender processing `items` items per call of `run`.
    pub fn new(name: impl Into<String>, items: f64, run: impl FnMut() + 'a) -> Contender<'a> {
        Contender {
            name: name.into(),
            items,
            run: Box::new(run),
        }
    }
}

/// Times every contender in turn, in `rounds` rounds of one `slice` each, and returns each
/// one's best time per item in nanoseconds (same order).
///
/// Interleaving the contenders and keeping each one's best slice makes the ratios between them
/// robust to load from other processes: a burst of load slows one slice, not one contender.
pub fn race(contenders: &mut [Contender<'_>], rounds: usize, slice: Duration) -> Vec<f64> {
    let mut best = vec![f64::INFINITY; contenders.len()];
    for c in contenders.iter_mut() {
        (c.run)(); // warm-up
    }
    for _ in 0..rounds {
        for (c, best) in contenders.iter_mut().zip(best.iter_mut()) {
            let start = Instant::now();
            let mut calls = 0u64;
            while calls == 0 || start.elapsed() < slice {
                (c.run)();
                calls += 1;
            }
            let per_item = start.elapsed().as_nanos() as f64 / (calls as f64 * c.items);
            *best = best.min(per_item);
        }
    }
    best
}

/// The machine line printed above a ratio table: CPU model and load averages.
pub fn conditions() -> String {
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string());
    format!(
        "CPU: {}; load average (1/5/15 min): {load}",
        nockpool_pow::bench::cpu_model()
    )
}

/// Whether twenty-first 3.1.1 takes its AVX-512 path on this CPU: it needs F, BW, DQ, VBMI
/// and IFMA at run time (`Tip5::avx512_is_available`), and otherwise runs its scalar code.
pub fn twenty_first_uses_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512vbmi")
            && is_x86_feature_detected!("avx512ifma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(d).collect();
        assert_eq!(percentile(&v, 0.5), Some(d(50)));
        assert_eq!(percentile(&v, 0.99), Some(d(99)));
        assert_eq!(percentile(&v, 1.0), Some(d(100)));
        assert_eq!(percentile(&v, 0.0), Some(d(1)));
        assert_eq!(percentile(&[d(7)], 0.99), Some(d(7)));
        assert_eq!(percentile(&[], 0.5), None);
        // Two samples: the p99 is the larger one, the median the smaller.
        assert_eq!(percentile(&[d(1), d(9)], 0.99), Some(d(9)));
        assert_eq!(percentile(&[d(1), d(9)], 0.5), Some(d(1)));
    }

    #[test]
    fn only_loopback_pools_are_loaded() {
        for ok in [
            "http://127.0.0.1:7777",
            "http://localhost:7777",
            "http://127.3.2.1:1/",
            "http://[::1]:7777",
        ] {
            assert_eq!(ensure_loopback(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://192.168.1.100:7777",
            "http://example.com:7777",
            "http://[2001:db8::1]:7777",
            "127.0.0.1:7777",
            "http://127.0.0.1.example.com:7777",
        ] {
            assert!(ensure_loopback(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn proc_figures_parse_and_this_process_reads() {
        let status =
            "Name:\tpool-server\nVmPeak:\t  9 kB\nVmHWM:\t  123456 kB\nVmRSS:\t   100000 kB\n";
        // utime 200 ticks, stime 50 ticks; a command name with a space and a ')'.
        let stat = "4242 (pool (x) srv) S 1 4242 4242 0 -1 4194560 100 0 0 0 200 50 0 0 20 0 9 0";
        let stats = ProcStats::parse(status, stat).unwrap();
        assert_eq!(stats.cpu, Duration::from_millis(2500));
        assert_eq!((stats.peak_rss_kib, stats.rss_kib), (123_456, 100_000));
        assert_eq!(ProcStats::parse("VmRSS:\t1 kB\n", stat), None);
        assert_eq!(ProcStats::parse(status, "1 (x) S 2 3"), None);
        assert_eq!(
            ProcStats::parse_wait("123 4500000000 7\n"),
            Some(Duration::from_millis(4500))
        );
        let me = ProcStats::read(std::process::id()).unwrap();
        assert!(me.peak_rss_kib >= me.rss_kib && me.rss_kib > 0);
    }

    #[test]
    fn the_report_is_one_json_line_with_the_documented_fields() {
        let at = |cpu_ms: u64, hwm: u64| ProcStats {
            cpu: d(cpu_ms),
            peak_rss_kib: hwm,
            rss_kib: hwm / 2,
            runqueue_wait: d(cpu_ms * 2),
        };
        let samples = LoadSamples {
            miners: 4,
            connect: vec![d(40), d(10), d(20)],
            fanout: vec![vec![d(0), d(5), d(9)], vec![d(0), d(30)]],
            steady: Duration::from_secs(2),
            acks: vec![d(2), d(1), d(4), d(3)],
            accepted: 3,
            rejected: BTreeMap::from([
                ("REJECT_REASON_DUPLICATE".to_owned(), 1),
                (TRANSPORT_ERROR.to_owned(), 2),
            ]),
            errors: 3,
            first_error: Some("connect refused\n\"quoted\"".into()),
            server: Some([at(1000, 10), at(1500, 20), at(1800, 300)]),
            digest: Some(Duration::from_micros(26)),
            tool_cpu_steady: Some(d(700)),
        };
        let report = LoadReport::from_samples(samples);
        assert_eq!(report.miners_connected, 3);
        assert_eq!(report.connect_p99_ms, Some(40.0));
        assert_eq!(report.fanout_jobs, 2);
        assert_eq!(report.fanout_p50_ms, Some(5.0));
        assert_eq!(report.fanout_p99_ms, Some(30.0));
        assert_eq!(report.fanout_max_ms, Some(30.0));
        assert_eq!(report.acked_shares_per_s, 1.5);
        assert_eq!(report.shares_submitted, 6);
        assert_eq!(
            (report.ack_p50_ms, report.ack_p99_ms),
            (Some(2.0), Some(4.0))
        );
        assert_eq!(report.server_cpu_s, Some(0.8));
        assert_eq!(report.server_cpu_us_per_ack, Some(100_000.0));
        assert_eq!(report.server_runqueue_wait_s, Some(0.6));
        assert_eq!(report.tool_cpu_steady_s, Some(0.7));
        assert_eq!(report.server_peak_rss_kib, Some(300));
        assert_eq!(report.server_peak_rss_kib_per_miner, Some(100.0));

        let line = report.to_json();
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        for field in [
            "miners_connected",
            "connect_p99_ms",
            "fanout_p50_ms",
            "fanout_p99_ms",
            "acked_shares_per_s",
            "ack_p50_ms",
            "ack_p99_ms",
            "rejected",
            "errors",
            "server_cpu_s",
            "server_peak_rss_kib",
        ] {
            assert!(v.get(field).is_some(), "{field} missing from {line}");
        }
        assert_eq!(v["rejected"]["REJECT_REASON_DUPLICATE"], 1);
        assert_eq!(v["errors"], 3);
        assert_eq!(v["server_peak_rss_kib"], 300);
        assert_eq!(v["first_error"], "connect refused\n\"quoted\"");
        assert!(report.table().contains("3 / 4"));
        // Without the pool's pid the pool figures are null, not zero.
        let bare = LoadReport::from_samples(LoadSamples::default()).to_json();
        let v: serde_json::Value = serde_json::from_str(&bare).unwrap();
        assert!(v["server_cpu_s"].is_null() && v["ack_p99_ms"].is_null());
    }
}
