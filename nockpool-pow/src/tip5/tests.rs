//! Known answers from `tip5-vectors.json` (read in place) and batched-vs-scalar properties.

use super::*;
use crate::test_vectors::{spec_json, u64_array, u64_vec};
use proptest::prelude::*;

#[test]
fn montify_and_mont_reduction_vectors() {
    let Some(v) = spec_json("tip5-vectors.json") else {
        return;
    };
    for case in v["montify"]["cases"].as_array().unwrap() {
        assert_eq!(
            montify(case["in"].as_u64().unwrap()),
            case["out"].as_u64().unwrap()
        );
    }
    for case in v["mont_reduction"]["cases"].as_array().unwrap() {
        let input: u128 = case["in"].as_str().unwrap().parse().unwrap();
        assert_eq!(mont_reduce(input), case["out"].as_u64().unwrap());
    }
}

#[test]
fn permutation_vectors() {
    let Some(v) = spec_json("tip5-vectors.json") else {
        return;
    };
    let cases = v["permutation"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    let mut batch = Vec::new();
    for case in cases {
        let mut state: [u64; 16] = u64_array(&case["in"]);
        let out: [u64; 16] = u64_array(&case["out"]);
        batch.push(state);
        permute(&mut state);
        assert_eq!(state, out);
        // Raw (Montgomery-form) view.
        let mut raw: [u64; 16] = u64_array(&case["raw_in"]);
        permute_mont(&mut raw);
        assert_eq!(raw, u64_array::<16>(&case["raw_out"]));
        if let Some(trace) = case.get("raw_after_each_round") {
            let rounds = trace.as_array().unwrap();
            assert_eq!(rounds.len(), ROUNDS);
            let mut raw: [u64; 16] = u64_array(&case["raw_in"]);
            for (r, expected) in rounds.iter().enumerate() {
                scalar::round(&mut raw, r);
                assert_eq!(raw, u64_array::<16>(expected), "after round {r}");
            }
        }
    }
    permute_many(&mut batch);
    for (state, case) in batch.iter().zip(cases) {
        assert_eq!(state, &u64_array::<16>(&case["out"]));
    }
    // Every kernel, batched (a batch of 8 fills the AVX-512 lanes, the rest takes the
    // remainder path) and single, on the vectors themselves.
    let inputs: Vec<[u64; 16]> = cases.iter().map(|c| u64_array(&c["in"])).collect();
    let outputs: Vec<[u64; 16]> = cases.iter().map(|c| u64_array(&c["out"])).collect();
    let raw_in: Vec<[u64; 16]> = cases.iter().map(|c| u64_array(&c["raw_in"])).collect();
    let raw_out: Vec<[u64; 16]> = cases.iter().map(|c| u64_array(&c["raw_out"])).collect();
    for kernel in Kernel::ALL {
        if !kernel.is_supported() {
            eprintln!("NOTICE: the {kernel} kernel cannot run on this CPU; not tested");
            continue;
        }
        let mut batch: Vec<[u64; 16]> = inputs.iter().chain(&inputs).copied().collect();
        permute_canonical_many_with(kernel, &mut batch);
        let want: Vec<[u64; 16]> = outputs.iter().chain(&outputs).copied().collect();
        assert_eq!(batch, want, "{kernel}");
        let mut raw_batch: Vec<[u64; 16]> = raw_in.iter().chain(&raw_in).copied().collect();
        permute_mont_many_with(kernel, &mut raw_batch);
        let want: Vec<[u64; 16]> = raw_out.iter().chain(&raw_out).copied().collect();
        assert_eq!(raw_batch, want, "{kernel} raw");
        for (i, case_in) in raw_in.iter().enumerate() {
            let mut raw = *case_in;
            permute_mont_with(kernel, &mut raw);
            assert_eq!(raw, raw_out[i], "{kernel} single");
        }
    }
}

#[test]
fn hash_varlen_vectors() {
    let Some(v) = spec_json("tip5-vectors.json") else {
        return;
    };
    let cases = v["hash_varlen"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 15);
    for case in cases {
        let input = u64_vec(&case["in"]);
        let out: [u64; 5] = u64_array(&case["out"]);
        assert_eq!(hash_varlen(&input), out, "input {input:?}");
        assert_eq!(try_hash_varlen(&input).unwrap().to_limbs(), out);
        let belts: Vec<Belt> = input.iter().map(|&x| Belt::new(x).unwrap()).collect();
        assert_eq!(hash_belts(&belts).to_limbs(), out);
    }
}

#[test]
fn hash_10_vectors() {
    let Some(v) = spec_json("tip5-vectors.json") else {
        return;
    };
    let cases = v["hash_10"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let input: [u64; 10] = u64_array(&case["in"]);
        let out: [u64; 5] = u64_array(&case["out"]);
        assert_eq!(hash_10(&input), out);
        let left = Digest::new(input[..5].try_into().unwrap()).unwrap();
        let right = Digest::new(input[5..].try_into().unwrap()).unwrap();
        assert_eq!(hash_ten(&left, &right).to_limbs(), out);
    }
}

#[test]
fn hash_noun_varlen_vectors() {
    let Some(v) = spec_json("tip5-vectors.json") else {
        return;
    };
    let cases = v["hash_noun_varlen"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    let b = |x: u64| Belt::new(x).unwrap();
    for case in cases {
        let hashed = u64_vec(&case["belts_hashed"]);
        let out: [u64; 5] = u64_array(&case["out"]);
        assert_eq!(hash_varlen(&hashed), out);
        // Rebuild the noun from its description and hash it through the noun API.
        let label = case["noun"].as_str().unwrap();
        let noun = if label.starts_with("[2 5 0]") {
            BeltNoun::list(&[b(2), b(5)])
        } else if label.starts_with("[[1 2] 3]") {
            BeltNoun::cell(
                BeltNoun::cell(BeltNoun::atom(b(1)), BeltNoun::atom(b(2))),
                BeltNoun::atom(b(3)),
            )
        } else {
            // An atom: "<n> (atom)" or a term "%name (cord atom, ...)".
            assert_eq!(hashed.len(), 2, "{label}");
            assert_eq!(hashed[0], 1);
            if let Some(term) = label.strip_prefix('%') {
                let name = term.split(' ').next().unwrap();
                let mut cord = 0u64;
                for &byte in name.as_bytes().iter().rev() {
                    cord = (cord << 8) | byte as u64;
                }
                assert_eq!(cord, hashed[1], "{label}");
            } else {
                let n: u64 = label.split(' ').next().unwrap().parse().unwrap();
                assert_eq!(n, hashed[1], "{label}");
            }
            assert_eq!(hash_atom(b(hashed[1])).to_limbs(), out);
            BeltNoun::atom(b(hashed[1]))
        };
        let mut expected_input = vec![leaf_sequence(&noun).len() as u64];
        expected_input.extend(leaf_sequence(&noun).iter().map(|x| x.value()));
        expected_input.extend(dyck(&noun).iter().map(|x| x.value()));
        assert_eq!(expected_input, hashed, "{label}");
        assert_eq!(hash_noun_varlen(&noun).to_limbs(), out, "{label}");
    }
    assert_eq!(
        hash_belt_list(&[b(2), b(5)]).to_limbs(),
        hash_varlen(&[3, 2, 5, 0, 0, 1, 0, 1])
    );
}

#[test]
fn tog_vectors() {
    let Some(v) = spec_json("tip5-vectors.json") else {
        return;
    };
    let cases = v["tog"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let mut sponge = Sponge::new();
        sponge.try_absorb(&u64_vec(&case["absorb"])).unwrap();
        let n = case["belts_n"].as_u64().unwrap() as usize;
        let got: Vec<u64> = sponge
            .into_tog()
            .belts(n)
            .iter()
            .map(|b| b.value())
            .collect();
        assert_eq!(got, u64_vec(&case["out"]));
    }
}

#[test]
fn digest_encoding_vectors() {
    let Some(v) = spec_json("tip5-vectors.json") else {
        return;
    };
    for case in v["digest_encoding"]["cases"].as_array().unwrap() {
        let digest = Digest::new(u64_array(&case["digest"])).unwrap();
        assert_eq!(digest.to_u320().to_string(), case["atom"].as_str().unwrap());
    }
}

#[test]
#[should_panic(expected = "not canonical")]
fn permute_panics_on_non_canonical_input() {
    let mut state = [0u64; 16];
    state[3] = nockpool_core::P;
    permute(&mut state);
}

#[test]
#[should_panic(expected = "not canonical")]
fn hash_10_panics_on_non_canonical_input() {
    let mut input = [0u64; 10];
    input[9] = u64::MAX;
    hash_10(&input);
}

#[test]
fn try_variants_return_errors_and_do_not_modify() {
    let mut state = [5u64; 16];
    state[7] = nockpool_core::P;
    let before = state;
    assert_eq!(
        try_permute(&mut state),
        Err(PowError::NonCanonical {
            index: 7,
            value: nockpool_core::P
        })
    );
    assert_eq!(state, before);
    let mut many = vec![[1u64; 16], before];
    let copy = many.clone();
    assert_eq!(
        try_permute_many(&mut many),
        Err(PowError::NonCanonical {
            index: 16 + 7,
            value: nockpool_core::P
        })
    );
    assert_eq!(many, copy);
    assert!(try_hash_varlen(&[1, 2, u64::MAX]).is_err());
    assert!(try_hash_10(&[u64::MAX; 10]).is_err());
}

fn canonical_state() -> impl Strategy<Value = [u64; 16]> {
    proptest::array::uniform16(prop_oneof![
        0..nockpool_core::P,
        (nockpool_core::P - 4)..nockpool_core::P,
        0u64..4
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn permute_many_equals_scalar(states in proptest::collection::vec(canonical_state(), 0..21)) {
        let mut batched = states.clone();
        permute_many(&mut batched);
        for (state, out) in states.iter().zip(batched.iter()) {
            let mut single = *state;
            permute(&mut single);
            prop_assert_eq!(&single, out);
        }
    }

    #[test]
    fn every_batched_path_equals_the_scalar_oracle(states in proptest::collection::vec(canonical_state(), 0..26)) {
        let mut oracle = states.clone();
        for s in oracle.iter_mut() {
            scalar::permute_raw(s);
        }
        let mut dispatched = states.clone();
        permute_mont_many(&mut dispatched);
        prop_assert_eq!(&dispatched, &oracle);
        for kernel in Kernel::ALL {
            if kernel.is_supported() {
                let mut batched = states.clone();
                permute_mont_many_with(kernel, &mut batched);
                prop_assert_eq!(&batched, &oracle, "{}", kernel);
            } else {
                eprintln!("NOTICE: the {kernel} kernel cannot run on this CPU; not tested");
            }
        }
    }

    #[test]
    fn single_state_kernels_equal_the_scalar_oracle(state in canonical_state()) {
        let mut oracle = state;
        scalar::permute_raw(&mut oracle);
        let mut dispatched = state;
        permute_mont(&mut dispatched);
        prop_assert_eq!(dispatched, oracle);
        for kernel in Kernel::ALL {
            if kernel.is_supported() {
                let mut single = state;
                permute_mont_with(kernel, &mut single);
                prop_assert_eq!(single, oracle, "{}", kernel);
            } else {
                eprintln!("NOTICE: the {kernel} kernel cannot run on this CPU; not tested");
            }
        }
    }

    #[test]
    fn canonical_paths_of_every_kernel_equal_the_scalar_oracle(
        states in proptest::collection::vec(canonical_state(), 0..21),
    ) {
        // canonical in, canonical out: montify, the raw oracle, de-montify.
        let oracle: Vec<[u64; 16]> = states
            .iter()
            .map(|s| {
                let mut raw = s.map(montify);
                scalar::permute_raw(&mut raw);
                raw.map(|w| mont_reduce(w as u128))
            })
            .collect();
        for kernel in Kernel::ALL {
            if !kernel.is_supported() {
                eprintln!("NOTICE: the {kernel} kernel cannot run on this CPU; not tested");
                continue;
            }
            let mut batched = states.clone();
            permute_canonical_many_with(kernel, &mut batched);
            prop_assert_eq!(&batched, &oracle, "{} batched", kernel);
            for (state, want) in states.iter().zip(&oracle) {
                let mut single = *state;
                permute_canonical_with(kernel, &mut single);
                prop_assert_eq!(&single, want, "{} single", kernel);
            }
        }
    }

    #[test]
    fn permutation_is_montgomery_conjugate(state in canonical_state()) {
        let mut canonical = state;
        permute(&mut canonical);
        let mut raw = state.map(montify);
        scalar::permute_raw(&mut raw);
        prop_assert_eq!(raw.map(|w| mont_reduce(w as u128)), canonical);
    }
}
