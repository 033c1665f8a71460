//! The GPU engine against the CPU kernel and the spec vectors, on every adapter found
//! (lavapipe in CI) and every arithmetic path it offers.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

use nockpool_core::{Difficulty, Digest, JobParams, Nonce, NonceRange, Target, P, U320};
use nockpool_gpu::GpuEngine;
use nockpool_pow::v5::V5Job;
use nockpool_pow::{PowEngine, V5Engine};
use rand::{Rng, SeedableRng};

use common::{engines, spec_json, u64_array, BATCH};

fn job(engine: &GpuEngine, commitment: [u64; 5], pow_len: u64) -> nockpool_pow::PreparedJob {
    engine
        .prepare(&JobParams::v5(Digest::new(commitment).unwrap(), pow_len).unwrap())
        .unwrap()
}

fn search_all(
    engine: &dyn PowEngine,
    job: &nockpool_pow::PreparedJob,
    range: NonceRange,
    target: &Target,
) -> (u64, Vec<(Nonce, Digest)>) {
    let mut found = Vec::new();
    let tried = engine.search(job, range, target, &AtomicBool::new(false), &mut |n, d| {
        found.push((n, d))
    });
    (tried, found)
}

/// Commitment, nonce, pow_len, expected digest.
type VectorCase = ([u64; 5], [u64; 5], u64, [u64; 5]);

#[test]
fn spec_v5_vectors_on_the_device() {
    let Some(v) = spec_json("tip5-vectors.json") else {
        return;
    };
    let mut cases: Vec<VectorCase> = Vec::new();
    for case in v["pow_v5"]["cases"].as_array().unwrap() {
        cases.push((
            u64_array(&case["commitment"]),
            u64_array(&case["nonce"]),
            case["pow_len"].as_u64().unwrap(),
            u64_array(&case["pow_digest"]),
        ));
    }
    for case in v["pow_fixtures_v0_genesis"]["cases"].as_array().unwrap() {
        cases.push((
            u64_array(&case["commitment"]),
            u64_array(&case["nonce"]),
            case["pow_len"].as_u64().unwrap(),
            u64_array(&case["v5_pow_digest_for_this_commitment_nonce_len"]),
        ));
    }
    assert_eq!(cases.len(), 10);
    for engine in engines() {
        let mut searched = 0;
        for (commitment, nonce, pow_len, expected) in &cases {
            let job = job(engine, *commitment, *pow_len);
            let got = engine
                .digest_batch(&job, &[Nonce::new(*nonce).unwrap()])
                .unwrap();
            assert_eq!(got[0].to_limbs(), *expected, "{}", engine.info());

            // The search finds it at exactly its own digest as the target.
            let n = Nonce::new(*nonce).unwrap();
            // Only where limbs 0-2 as a counter fit the u128 a range starts from.
            let p = u128::from(P);
            let Some(start) = u128::from(nonce[2])
                .checked_mul(p * p)
                .and_then(|x| x.checked_add(u128::from(nonce[1]) * p + u128::from(nonce[0])))
            else {
                continue;
            };
            let range = NonceRange {
                prefix: nonce[4],
                lane: nonce[3],
                start,
                count: 1,
            };
            let target = Target::from_u320(Digest::new(*expected).unwrap().to_u320());
            let (tried, found) = search_all(engine, &job, range, &target);
            assert_eq!(tried, 1);
            assert_eq!(found, vec![(n, Digest::new(*expected).unwrap())]);
            searched += 1;
        }
        assert_eq!(
            searched, 2,
            "two vectors have nonces a range can start from"
        );
    }
}

/// How many random nonces each engine checks against the CPU: `NOCKPOOL_GPU_RANDOM_NONCES`,
/// default 16,384 (about a second per engine on lavapipe with two cores).
fn random_nonce_count() -> usize {
    std::env::var("NOCKPOOL_GPU_RANDOM_NONCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16384)
}

#[test]
fn random_nonces_match_the_cpu_kernel() {
    let total = random_nonce_count();
    for engine in engines() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x6770_7535);
        let mut checked = 0usize;
        let started = std::time::Instant::now();
        while checked < total {
            // A fresh job every 4096 nonces: random commitment and every pow_len up to 64.
            let commitment: [u64; 5] = std::array::from_fn(|_| rng.random_range(0..P));
            let pow_len = 1u64 << rng.random_range(0..=6u32);
            let job = job(engine, commitment, pow_len);
            let n = (total - checked).min(4096);
            let nonces: Vec<Nonce> = (0..n)
                .map(|i| {
                    // Mostly uniform limbs, plus the edges of the field.
                    let limb = |rng: &mut rand::rngs::StdRng| match rng.random_range(0..16u32) {
                        0 => 0,
                        1 => P - 1,
                        2 => rng.random_range(P - (1 << 32)..P),
                        _ => rng.random_range(0..P),
                    };
                    let mut limbs: [u64; 5] = std::array::from_fn(|_| limb(&mut rng));
                    if i == 0 {
                        limbs = [P - 1; 5];
                    }
                    Nonce::new(limbs).unwrap()
                })
                .collect();
            let gpu = engine.digest_batch(&job, &nonces).unwrap();
            let cpu = V5Job::new(Digest::new(commitment).unwrap(), pow_len)
                .unwrap()
                .digest_many(&nonces);
            for (k, (g, c)) in gpu.iter().zip(cpu.iter()).enumerate() {
                assert_eq!(
                    g,
                    c,
                    "{}: nonce {:?}, commitment {commitment:?}, pow_len {pow_len}",
                    engine.info(),
                    nonces[k].limbs()
                );
            }
            assert_eq!(gpu.len(), n);
            checked += n;
        }
        eprintln!(
            "{}: {checked} random nonces equal to the CPU kernel ({:.1} s)",
            engine.info(),
            started.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn search_reports_exactly_the_nonces_the_cpu_finds() {
    let cpu = V5Engine::new();
    let target = Target::from_difficulty(Difficulty::new(3).unwrap());
    // Ranges that cross a carry from limb 0 into limb 1, and from limb 1 into limb 2, and
    // span several dispatches with a partial last one.
    let p = u128::from(P);
    let starts = [0u128, p - 700, p * p - 300, 12_345_678_901_234_567_890];
    for engine in engines() {
        for (k, &start) in starts.iter().enumerate() {
            let job = job(engine, [9, 8, 7, 6, k as u64], 64);
            let range = NonceRange {
                prefix: P - 1 - k as u64,
                lane: 1000 + k as u64,
                start,
                count: u64::from(BATCH) * 2 + 77,
            };
            let (tried, found) = search_all(engine, &job, range, &target);
            let (cpu_tried, expected) = search_all(&cpu, &job, range, &target);
            assert_eq!(tried, range.count);
            assert_eq!(cpu_tried, range.count);
            assert!(
                !expected.is_empty(),
                "difficulty 3 over 1101 nonces finds some"
            );
            assert_eq!(found, expected, "{} start {start}", engine.info());
            assert_eq!(engine.mismatches(), 0);
        }
    }
}

#[test]
fn the_target_test_is_inclusive_and_exact() {
    let cpu = V5Engine::new();
    for engine in engines() {
        let job = job(engine, [5, 4, 3, 2, 1], 64);
        let range = NonceRange {
            prefix: 3,
            lane: 2,
            start: 1_000,
            count: 300,
        };
        // The smallest digest of the range as the target: exactly that nonce meets it, and
        // nothing meets one less.
        let (_, all) = search_all(&cpu, &job, range, &Target::MAX);
        let (best_nonce, best) = *all.iter().min_by_key(|(_, d)| d.to_u320()).unwrap();
        let exact = Target::from_u320(best.to_u320());
        let (_, found) = search_all(engine, &job, range, &exact);
        assert_eq!(found, vec![(best_nonce, best)], "{}", engine.info());
        let below = Target::from_u320(best.to_u320().checked_sub(&U320::ONE).unwrap());
        let (tried, found) = search_all(engine, &job, range, &below);
        assert_eq!((tried, found.len()), (300, 0));

        // Every nonce meets the maximum target (more than the small read-back holds).
        let wide = NonceRange {
            count: 1500,
            ..range
        };
        let (tried, found) = search_all(engine, &job, wide, &Target::MAX);
        assert_eq!(tried, 1500);
        let nonces: Vec<Nonce> = found.iter().map(|(n, _)| *n).collect();
        let expected: Vec<Nonce> = (0..1500).map(|i| wide.nonce(i).unwrap()).collect();
        assert_eq!(nonces, expected);
    }
}

#[test]
fn stop_flag_and_range_edges() {
    for engine in engines() {
        let job = job(engine, [1, 1, 2, 3, 5], 64);
        let range = NonceRange {
            prefix: 8,
            lane: 13,
            start: 0,
            count: 1 << 40,
        };
        // Set before the call: nothing is tried.
        let stop = AtomicBool::new(true);
        let tried = engine.search(&job, range, &Target::MAX, &stop, &mut |_, _| {
            panic!("nothing should be tried")
        });
        assert_eq!(tried, 0);

        // Set during the search (at the first share): it ends within the dispatches in flight,
        // and counts whole dispatches only.
        let stop = AtomicBool::new(false);
        let mut seen = BTreeSet::new();
        let tried = engine.search(&job, range, &Target::MAX, &stop, &mut |n, _| {
            stop.store(true, Ordering::Relaxed);
            seen.insert(n.limbs()[0]);
        });
        assert!(tried > 0 && tried <= 2 * u64::from(BATCH), "tried {tried}");
        assert_eq!(tried % u64::from(BATCH), 0);
        assert_eq!(
            seen.len() as u64,
            tried,
            "every nonce tried meets the max target"
        );

        // A non-canonical prefix or lane tries nothing.
        for bad in [
            NonceRange { prefix: P, ..range },
            NonceRange {
                lane: u64::MAX,
                ..range
            },
        ] {
            let tried = engine.search(
                &job,
                bad,
                &Target::MAX,
                &AtomicBool::new(false),
                &mut |_, _| panic!("nothing should be tried"),
            );
            assert_eq!(tried, 0);
        }

        // The counter ends at u128::MAX: only the nonces that exist are tried.
        let end = NonceRange {
            start: u128::MAX - 5,
            count: 100,
            ..range
        };
        let (tried, found) = search_all(engine, &job, end, &Target::MAX);
        assert_eq!(tried, 6);
        assert_eq!(found.len(), 6);
        assert_eq!(found[5].0, end.nonce(5).unwrap());
    }
}

#[test]
fn jobs_above_the_device_pow_len_are_ground_on_the_cpu() {
    let cpu = V5Engine::new();
    for engine in engines() {
        let job = job(engine, [2, 7, 1, 8, 2], 128);
        let range = NonceRange {
            prefix: 1,
            lane: 1,
            start: 0,
            count: 20,
        };
        let target = Target::from_difficulty(Difficulty::new(2).unwrap());
        assert_eq!(
            search_all(engine, &job, range, &target),
            search_all(&cpu, &job, range, &target)
        );
        assert!(engine
            .digest_batch(&job, &[range.nonce(0).unwrap()])
            .is_err());
    }
}

#[test]
fn jobs_prepared_by_another_engine_are_accepted() {
    let cpu = V5Engine::new();
    for engine in engines() {
        let params = JobParams::v5(Digest::new([3, 1, 4, 1, 5]).unwrap(), 32).unwrap();
        let foreign = cpu.prepare(&params).unwrap();
        let own = engine.prepare(&params).unwrap();
        let range = NonceRange {
            prefix: 9,
            lane: 2,
            start: 77,
            count: 600,
        };
        let target = Target::from_difficulty(Difficulty::new(4).unwrap());
        let a = search_all(engine, &foreign, range, &target);
        let b = search_all(engine, &own, range, &target);
        assert_eq!(a, b);
        assert_eq!(a, search_all(&cpu, &foreign, range, &target));
    }
}

#[test]
fn calibration_picks_sizes_that_work() {
    // The default open: workgroup size and batch calibrated on the device.
    if engines().is_empty() {
        return;
    }
    let gpus = GpuEngine::open(&nockpool_gpu::GpuSelection::Indices(vec![0])).unwrap();
    let gpu = &gpus[0];
    let info = gpu.info();
    eprintln!(
        "calibrated: {info} ({:.0} nonces/s in calibration)",
        info.calibration_rate
    );
    assert!(info.calibration_rate > 0.0);
    assert!([64, 128, 256].contains(&info.workgroup_size));
    assert_eq!(info.batch_size % info.workgroup_size, 0);
    let job = job(gpu, [1, 2, 3, 4, 5], 64);
    let range = NonceRange {
        prefix: 4,
        lane: 4,
        start: 0,
        count: u64::from(info.batch_size) + 3,
    };
    let target = Target::from_difficulty(Difficulty::new(2).unwrap());
    assert_eq!(
        search_all(gpu, &job, range, &target),
        search_all(&V5Engine::new(), &job, range, &target)
    );
}
