//! Tip5 permutation and hashing: nockpool-pow (Nockchain's 7-round Tip5), every kernel the CPU
//! supports, against the `twenty-first` crate's Tip5 (5 rounds, other constants) in the same
//! criterion groups; then the goal ratios measured in this process.
//!
//! Multiply twenty-first's times by 7/5 = 1.4 for a 7-round-equivalent reference. The
//! reference time `R` is 1.4 × the better of twenty-first's single `permutation()` and its
//! `hash_pair_many` over 1,024 pairs (per hash). Goals: batched permutation ≤ 0.8 R, single
//! permutation ≤ 1.4 × twenty-first's single, portable ≤ 1.4 × twenty-first's scalar code.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput};
use nockpool_benches::{conditions, race, twenty_first_uses_avx512, Contender};

mod reference;
use nockpool_pow::kernel::{self, Kernel};
use nockpool_pow::tip5;
use twenty_first::prelude::{BFieldElement, Digest as TfDigest, Tip5 as TfTip5};
use twenty_first::util_types::sponge::Domain;

/// Deterministic pseudo-random canonical states (xorshift; no RNG dependency needed).
fn states(n: usize) -> Vec<[u64; 16]> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            std::array::from_fn(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % nockpool_core::P
            })
        })
        .collect()
}

/// twenty-first's pairs for `hash_pair_many`, from the same states.
fn pairs(batch: &[[u64; 16]]) -> Vec<[TfDigest; 2]> {
    batch
        .iter()
        .map(|s| {
            let d = |o: usize| TfDigest::new(std::array::from_fn(|i| BFieldElement::new(s[o + i])));
            [d(0), d(5)]
        })
        .collect()
}

fn twenty_first_sponge(state: &[u64; 16]) -> TfTip5 {
    let mut t = TfTip5::new(Domain::FixedLength);
    for (slot, &v) in t.state.iter_mut().zip(state.iter()) {
        *slot = BFieldElement::new(v);
    }
    t
}

const BATCHES: [usize; 3] = [8, 64, 1024];

fn permutation(c: &mut Criterion) {
    let before = kernel::current();
    let mut group = c.benchmark_group("permutation");
    let one = states(1)[0];

    group.throughput(Throughput::Elements(1));
    for k in Kernel::supported() {
        kernel::select(k).expect("supported");
        group.bench_function(format!("nockpool/permute (7 rounds, single) [{k}]"), |b| {
            let mut s = one;
            b.iter(|| tip5::permute(black_box(&mut s)))
        });
    }
    group.bench_function("twenty-first/permutation (5 rounds, single)", |b| {
        let mut t = twenty_first_sponge(&one);
        b.iter(|| black_box(&mut t).permutation())
    });

    for n in BATCHES {
        group.throughput(Throughput::Elements(n as u64));
        let batch = states(n);
        for k in Kernel::supported() {
            kernel::select(k).expect("supported");
            group.bench_function(
                format!("nockpool/permute_many x{n} (7 rounds) [{k}]"),
                |b| {
                    b.iter_batched_ref(
                        || batch.clone(),
                        |s| tip5::permute_many(black_box(s)),
                        BatchSize::SmallInput,
                    )
                },
            );
        }
        let pairs = pairs(&batch);
        group.bench_function(
            format!("twenty-first/hash_pair_many x{n} (5 rounds)"),
            |b| b.iter(|| TfTip5::hash_pair_many(black_box(&pairs))),
        );
    }
    group.finish();
    kernel::select(before).expect("supported");
}

fn hashing(c: &mut Criterion) {
    let mut group = c.benchmark_group("hash");
    group.throughput(Throughput::Elements(1));
    let words: Vec<u64> = states(13).concat();
    let ten: [u64; 10] = words[..10].try_into().unwrap();
    let k = kernel::current();
    group.bench_function(format!("nockpool/hash_10 [{k}]"), |b| {
        b.iter(|| tip5::hash_10(black_box(&ten)))
    });
    let tf_ten: [BFieldElement; 10] = std::array::from_fn(|i| BFieldElement::new(ten[i]));
    group.bench_function("twenty-first/hash_10 (5 rounds)", |b| {
        b.iter(|| TfTip5::hash_10(black_box(&tf_ten)))
    });
    for len in [10usize, 194] {
        let input = &words[..len];
        group.bench_function(format!("nockpool/hash_varlen {len} [{k}]"), |b| {
            b.iter(|| tip5::hash_varlen(black_box(input)))
        });
        let tf_input: Vec<BFieldElement> = input.iter().map(|&v| BFieldElement::new(v)).collect();
        group.bench_function(format!("twenty-first/hash_varlen {len} (5 rounds)"), |b| {
            b.iter(|| TfTip5::hash_varlen(black_box(&tf_input)))
        });
    }
    group.finish();
}

/// The goal ratios, every contender timed in interleaved slices in this process.
fn ratios() {
    let before = kernel::current();
    let one = states(1)[0];
    let batch = states(reference::PAIRS);
    let tf_pairs = pairs(&batch);
    let mut tf = twenty_first_sponge(&one);
    let mut contenders = reference::contenders(&mut tf, &tf_pairs);
    let kernels = Kernel::supported();
    for &k in &kernels {
        let mut single = one;
        contenders.push(Contender::new(
            format!("nockpool permute [{k}]"),
            1.0,
            move || {
                kernel::select(k).expect("supported");
                tip5::permute(black_box(&mut single))
            },
        ));
        let mut many = batch.clone();
        contenders.push(Contender::new(
            format!("nockpool permute_many x1024 [{k}]"),
            1024.0,
            move || {
                kernel::select(k).expect("supported");
                tip5::permute_many(black_box(&mut many))
            },
        ));
    }
    let best = race(&mut contenders, 25, Duration::from_millis(3));
    kernel::select(before).expect("supported");

    println!("\nTip5 goal ratios (best of 25 interleaved 3 ms slices per contender)");
    println!("{}", conditions());
    for (c, ns) in contenders.iter().zip(&best) {
        println!("  {:<48} {:>9.1} ns per permutation", c.name, ns);
    }
    let tf_single = best[0];
    let r = reference::r_ns(&best);
    println!(
        "  R = 1.4 × min(twenty-first single, batched) = {r:.1} ns (7-round reference); \
         twenty-first runs its {} path here",
        if twenty_first_uses_avx512() {
            "AVX-512 (IFMA)"
        } else {
            "scalar"
        }
    );
    for (i, k) in kernels.iter().enumerate() {
        let (single, many) = (best[2 + 2 * i], best[3 + 2 * i]);
        println!(
            "  [{k}] batched {:.3} R (goal ≤ 0.80); single {:.3} × (1.4 × twenty-first single) \
             (goal ≤ 1.00)",
            many / r,
            single / (1.4 * tf_single)
        );
        if *k == Kernel::Portable {
            if twenty_first_uses_avx512() {
                println!(
                    "  [portable] against twenty-first's scalar code: not measurable here \
                     (twenty-first always takes its AVX-512 path on this CPU); see BENCHES.md \
                     for instruction counts under callgrind, where AVX-512 is hidden"
                );
            } else {
                println!(
                    "  [portable] batched {:.3} × (1.4 × twenty-first scalar single) (goal ≤ 1.00)",
                    many / (1.4 * tf_single)
                );
            }
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    permutation(&mut c);
    hashing(&mut c);
    c.final_summary();
    ratios();
}
