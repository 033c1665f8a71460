//! The version-5 mining digest: one nonce, batched nonces, and `CpuMiner` on 1 and 2 threads.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nockpool_core::{Digest, JobParams, Target};
use nockpool_pow::{v5, CpuMiner, MiningJob, PowEngine, V5Engine};

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
    let mut group = c.benchmark_group("v5");
    group.throughput(Throughput::Elements(1));
    group.bench_function("digest (1 nonce, pow_len 64)", |b| {
        let n = [1, 2, 3, 4, 5];
        b.iter(|| v5::digest(black_box(&COMMITMENT), black_box(&n), 64))
    });
    for n in [8usize, 64] {
        let batch = nonces(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("digest_many x{n} (pow_len 64)"), |b| {
            b.iter(|| v5::digest_many(black_box(&COMMITMENT), black_box(&batch), 64))
        });
    }
    group.finish();
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
        group.bench_function(format!("{threads} thread(s), pow_len 64"), |b| {
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

criterion_group!(benches, digest, miner);
criterion_main!(benches);
