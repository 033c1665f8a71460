//! Tip5 permutation and hashing: nockpool-pow (Nockchain's 7-round Tip5) against the
//! `twenty-first` crate's Tip5 (5 rounds, other constants) in the same criterion groups.
//! Multiply twenty-first's times by 7/5 = 1.4 for a 7-round-equivalent reference.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
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

fn permutation(c: &mut Criterion) {
    let mut group = c.benchmark_group("permutation");
    let one = states(1)[0];

    group.throughput(Throughput::Elements(1));
    group.bench_function("nockpool/permute (7 rounds, single)", |b| {
        let mut s = one;
        b.iter(|| {
            tip5::permute(black_box(&mut s));
        })
    });
    group.bench_function("twenty-first/permutation (5 rounds, single)", |b| {
        let mut t = TfTip5::new(Domain::FixedLength);
        for (slot, &v) in t.state.iter_mut().zip(one.iter()) {
            *slot = BFieldElement::new(v);
        }
        b.iter(|| {
            black_box(&mut t).permutation();
        })
    });

    for n in [8usize, 64] {
        group.throughput(Throughput::Elements(n as u64));
        let batch = states(n);
        group.bench_function(format!("nockpool/permute_many x{n} (7 rounds)"), |b| {
            b.iter_batched_ref(
                || batch.clone(),
                |s| tip5::permute_many(black_box(s)),
                BatchSize::SmallInput,
            )
        });
        let pairs: Vec<[TfDigest; 2]> = batch
            .iter()
            .map(|s| {
                let d =
                    |o: usize| TfDigest::new(std::array::from_fn(|i| BFieldElement::new(s[o + i])));
                [d(0), d(5)]
            })
            .collect();
        group.bench_function(
            format!("twenty-first/hash_pair_many x{n} (5 rounds)"),
            |b| b.iter(|| TfTip5::hash_pair_many(black_box(&pairs))),
        );
    }
    group.finish();
}

fn hashing(c: &mut Criterion) {
    let mut group = c.benchmark_group("hash");
    group.throughput(Throughput::Elements(1));
    let words: Vec<u64> = states(13).concat();
    let ten: [u64; 10] = words[..10].try_into().unwrap();
    group.bench_function("nockpool/hash_10", |b| {
        b.iter(|| tip5::hash_10(black_box(&ten)))
    });
    let tf_ten: [BFieldElement; 10] = std::array::from_fn(|i| BFieldElement::new(ten[i]));
    group.bench_function("twenty-first/hash_10 (5 rounds)", |b| {
        b.iter(|| TfTip5::hash_10(black_box(&tf_ten)))
    });
    for len in [10usize, 194] {
        let input = &words[..len];
        group.bench_function(format!("nockpool/hash_varlen {len}"), |b| {
            b.iter(|| tip5::hash_varlen(black_box(input)))
        });
        let tf_input: Vec<BFieldElement> = input.iter().map(|&v| BFieldElement::new(v)).collect();
        group.bench_function(format!("twenty-first/hash_varlen {len} (5 rounds)"), |b| {
            b.iter(|| TfTip5::hash_varlen(black_box(&tf_input)))
        });
    }
    group.finish();
}

criterion_group!(benches, permutation, hashing);
criterion_main!(benches);
