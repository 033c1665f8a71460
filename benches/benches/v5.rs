//! The version-5 mining digest: one nonce, batched nonces (every kernel the CPU supports), and
//! `CpuMiner` on 1 and 2 threads; then the goal ratios measured in this process.
//!
//! Goal: v5 nonce attempts per core ≥ 1.25 × 1 / (34 × R), where R is 1.4 × the better of
//! twenty-first's single `permutation()` and its `hash_pair_many` over 1,024 pairs (per hash);
//! and 2 threads ≥ 1.9 × one thread.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use nockpool_benches::{conditions, race, Contender};

mod reference;
use nockpool_core::{Digest, JobParams, Target};
use nockpool_pow::bench::BenchConfig;
use nockpool_pow::kernel::{self, Kernel};
use nockpool_pow::{v5, CpuMiner, MiningJob, PowEngine, V5Engine};
use twenty_first::prelude::{BFieldElement, Digest as TfDigest, Tip5 as TfTip5};
use twenty_first::util_types::sponge::Domain;

const COMMITMENT: [u64; 5] = [
    1719088396852664599,
    10533677896651587115,
    15967884491235295106,
    13478381889017836169,
    3690138606051615316,
];

fn nonces(n: usize) -> Vec<[u64; 5]> {
    (0..n as u64).map(|i| [i, 0, 0, 3, 42]).collect()
}

fn digest(c: &mut Criterion) {
    let before = kernel::current();
    let mut group = c.benchmark_group("v5");
    for k in Kernel::supported() {
        kernel::select(k).expect("supported");
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("digest (1 nonce, pow_len 64) [{k}]"), |b| {
            let n = [1, 2, 3, 4, 5];
            b.iter(|| v5::digest(black_box(&COMMITMENT), black_box(&n), 64))
        });
        for n in [8usize, 64] {
            let batch = nonces(n);
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(format!("digest_many x{n} (pow_len 64) [{k}]"), |b| {
                b.iter(|| v5::digest_many(black_box(&COMMITMENT), black_box(&batch), 64))
            });
        }
    }
    group.finish();
    kernel::select(before).expect("supported");
}

/// Nonces per timed iteration of the miner benches.
const MINER_NONCES: u64 = 4096;

fn miner(c: &mut Criterion) {
    let mut group = c.benchmark_group("cpu_miner");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(MINER_NONCES));
    let engine = Arc::new(V5Engine::new());
    let params = JobParams::v5(Digest::new(COMMITMENT).unwrap(), 64).unwrap();
    let prepared = engine.prepare(&params).unwrap();
    // A target no digest meets in practice: measures grinding, not callbacks.
    let target = Target::from_u320(nockpool_core::U320::ZERO);
    for threads in [1usize, 2] {
        let miner = CpuMiner::new(engine.clone(), threads, |_| {});
        let mut job_seq = 0;
        let k = kernel::current();
        group.bench_function(format!("{threads} thread(s), pow_len 64 [{k}]"), |b| {
            b.iter_custom(|iters| {
                let wanted = iters * MINER_NONCES;
                let before = miner.hashes();
                job_seq += 1;
                let start = Instant::now();
                miner.set_job(MiningJob::new(job_seq, prepared.clone(), target, 7));
                while miner.hashes() - before < wanted {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let elapsed = start.elapsed();
                let done = miner.hashes() - before;
                miner.pause();
                // Scale to exactly `wanted` nonces (the counter advances in whole chunks).
                elapsed.mul_f64(wanted as f64 / done as f64)
            })
        });
        miner.pause();
        miner.wait_idle(Duration::from_secs(10));
    }
    group.finish();
}

/// The goal ratios, every contender timed in interleaved slices in this process.
fn ratios() {
    let before = kernel::current();
    let batch = nonces(64);
    let states: Vec<[TfDigest; 2]> = (0..reference::PAIRS as u64)
        .map(|i| {
            let d = |o: u64| {
                TfDigest::new(std::array::from_fn(|j| {
                    BFieldElement::new(i * 10 + o + j as u64)
                }))
            };
            [d(0), d(5)]
        })
        .collect();
    let mut tf = TfTip5::new(Domain::FixedLength);
    let mut contenders = reference::contenders(&mut tf, &states);
    let kernels = Kernel::supported();
    for &k in &kernels {
        let batch = &batch;
        contenders.push(Contender::new(
            format!("nockpool v5 digest_many x64 [{k}]"),
            64.0,
            move || {
                kernel::select(k).expect("supported");
                black_box(v5::digest_many(&COMMITMENT, batch, 64));
            },
        ));
        contenders.push(Contender::new(
            format!("nockpool v5 digest (1 nonce) [{k}]"),
            1.0,
            move || {
                kernel::select(k).expect("supported");
                black_box(v5::digest(&COMMITMENT, &batch[1], 64));
            },
        ));
    }
    let best = race(&mut contenders, 25, Duration::from_millis(3));
    kernel::select(before).expect("supported");

    println!("\nv5 goal ratios (best of 25 interleaved 3 ms slices per contender)");
    println!("{}", conditions());
    let r = reference::r_ns(&best);
    let reference = 1e9 / (34.0 * r);
    println!(
        "  R = {r:.1} ns; reference rate 1/(34 R) = {:.1} k/s; goal 1.25× = {:.1} k/s per core",
        reference / 1e3,
        1.25 * reference / 1e3
    );
    for (i, k) in kernels.iter().enumerate() {
        let (many, one) = (best[2 + 2 * i], best[3 + 2 * i]);
        let rate = 1e9 / many;
        println!(
            "  [{k}] digest_many {:.1} k/s per core = {:.3} × reference (goal ≥ 1.25); \
             {:.1} ns per permutation; one nonce {:.2} µs",
            rate / 1e3,
            rate / reference,
            many / 34.0,
            one / 1e3
        );
    }

    // Scaling: the miner's own search loop on 1 and 2 threads, same kernel, back to back.
    let k = kernel::current();
    let report = nockpool_pow::bench::run(
        &BenchConfig::new()
            .kernels(vec![k])
            .threads(vec![1, 2, 1, 2])
            .duration(Duration::from_millis(1500)),
    );
    let rate = |t: usize| {
        report
            .results
            .iter()
            .filter(|r| r.threads == t)
            .map(|r| r.nonces_per_sec)
            .fold(0.0, f64::max)
    };
    println!(
        "  [{k}] search loop: 1 thread {:.1} k/s, 2 threads {:.1} k/s: scaling {:.2}× (goal ≥ 1.9; \
         best of two runs each; needs two idle cores)",
        rate(1) / 1e3,
        rate(2) / 1e3,
        rate(2) / rate(1)
    );
    println!("{}", conditions());
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    digest(&mut c);
    miner(&mut c);
    c.final_summary();
    ratios();
}
