//! The reference both goal tables measure against (issue 13): twenty-first 3.1.1's single
//! `permutation()` and its `hash_pair_many` over 1,024 pairs, raced in the same process as our
//! kernels. One definition, so the tip5 and v5 benches cannot drift apart on what R means.

use std::hint::black_box;

use nockpool_benches::Contender;
use twenty_first::prelude::{Digest as TfDigest, Tip5 as TfTip5};

/// Pairs [`contenders`] hashes per `hash_pair_many` call.
pub(crate) const PAIRS: usize = 1024;

/// twenty-first's two fastest paths, as the first two contenders of a race (in this order:
/// single, then batched, each per 5-round permutation). `pairs` must hold [`PAIRS`] pairs.
pub(crate) fn contenders<'a>(
    single: &'a mut TfTip5,
    pairs: &'a [[TfDigest; 2]],
) -> Vec<Contender<'a>> {
    assert_eq!(pairs.len(), PAIRS, "the reference batch is {PAIRS} pairs");
    vec![
        Contender::new("twenty-first permutation (5 rounds, single)", 1.0, || {
            black_box(&mut *single).permutation()
        }),
        Contender::new(
            "twenty-first hash_pair_many x1024 (5 rounds)",
            PAIRS as f64,
            move || {
                black_box(TfTip5::hash_pair_many(black_box(pairs)));
            },
        ),
    ]
}

/// R in ns: 1.4 × the faster of the two reference contenders (5 rounds scaled to our 7), from
/// the race's per-item times with the [`contenders`] first.
pub(crate) fn r_ns(best: &[f64]) -> f64 {
    1.4 * best[0].min(best[1])
}
