//! The version-%5 search on every GPU adapter found (calibrated as the miner does), beside the
//! best CPU kernel on all cores of the same host, in one run: the GPU figure of BENCHES.md.
//!
//! `cargo bench -p nockpool-gpu --bench search` (software adapters such as lavapipe are
//! included and labelled; their figure is a CPU figure, not a GPU one).

use std::hint::black_box;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nockpool_core::{Digest, JobParams, NonceRange, Target, U320};
use nockpool_gpu::{GpuEngine, GpuSelection};
use nockpool_pow::{CpuMiner, MiningJob, PowEngine, V5Engine};

const COMMITMENT: [u64; 5] = [
    1719088396852664599,
    10533677896651587115,
    15967884491235295106,
    13478381889017836169,
    3690138606051615316,
];

fn params() -> JobParams {
    JobParams::v5(Digest::new(COMMITMENT).expect("canonical"), 64).expect("valid")
}

/// A target no digest meets in practice: measures grinding, not share handling.
fn nothing() -> Target {
    Target::from_u320(U320::ZERO)
}

fn gpu(c: &mut Criterion) {
    let engines = match GpuEngine::open(&GpuSelection::All) {
        Ok(engines) => engines,
        Err(err) => {
            eprintln!("NOTICE: no GPU benchmark: {err}");
            return;
        }
    };
    let mut group = c.benchmark_group("gpu_search");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for engine in &engines {
        let info = engine.info();
        eprintln!(
            "{info} (calibration: {:.0} nonces/s)",
            info.calibration_rate
        );
        let job = engine.prepare(&params()).expect("valid job");
        // Eight dispatches per call: the pipeline (two in flight) stays full.
        let per_call = u64::from(info.batch_size) * 8;
        let mut start = 0u128;
        let label = format!(
            "{} #{} ({}, {}, {}), pow_len 64",
            info.adapter.name,
            info.adapter.index,
            info.adapter.backend,
            info.adapter.kind,
            info.arith.name()
        );
        group.throughput(Throughput::Elements(per_call));
        group.bench_function(label, |b| {
            b.iter(|| {
                let range = NonceRange {
                    prefix: 42,
                    lane: 1000,
                    start,
                    count: per_call,
                };
                start += u128::from(per_call);
                let tried = engine.search(
                    &job,
                    range,
                    &nothing(),
                    &AtomicBool::new(false),
                    &mut |_, _| {},
                );
                black_box(tried)
            })
        });
    }
    group.finish();
}

/// The CPU reference of the same run: `CpuMiner` with the best kernel on every core.
fn cpu(c: &mut Criterion) {
    const NONCES: u64 = 4096;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut group = c.benchmark_group("cpu_search_same_host");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(NONCES));
    let engine = Arc::new(V5Engine::new());
    let prepared = engine.prepare(&params()).expect("valid job");
    let miner = CpuMiner::new(engine, threads, |_| {});
    let mut job_seq = 0;
    group.bench_function(
        format!(
            "CpuMiner, {threads} threads, {} kernel, pow_len 64",
            nockpool_pow::tip5::kernel_name()
        ),
        |b| {
            b.iter_custom(|iters| {
                let wanted = iters * NONCES;
                let before = miner.hashes();
                job_seq += 1;
                let begin = Instant::now();
                miner.set_job(MiningJob::new(job_seq, prepared.clone(), nothing(), 7));
                let mut done = 0;
                while done < wanted {
                    std::thread::sleep(Duration::from_micros(200));
                    done = miner.hashes() - before;
                }
                let took = begin.elapsed();
                miner.pause();
                // Scale to exactly `wanted` nonces (the count moves in whole chunks).
                took.mul_f64(wanted as f64 / done as f64)
            })
        },
    );
    group.finish();
}

criterion_group!(benches, gpu, cpu);
criterion_main!(benches);
