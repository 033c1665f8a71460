//! The Nockchain proof-of-work digest for proof version %5 (`nockchain-pow.md` §4.1).
//!
//! Per nonce `n`, for a job with block commitment `c` and puzzle length `len`:
//! 1. `p = reverse(tog.belts(len))` after a fresh sponge absorbs `c ++ n` (the puzzle product);
//! 2. `Hp = hash-noun-varlen(p)` (the null-terminated list);
//! 3. `o = ten(H(%puzzle), ten(c, ten(n, ten(H(len), Hp))))` (digest of proof object 0);
//! 4. `d = hash_varlen(o)` (`hash-proof` of the one-object proof);
//! 5. `pow = ten(H(%zkpow-v5), d)`; a share / block wins iff `pow` as a number `<=` target.
//!
//! `H(%puzzle)`, `H(len)` and `H(%zkpow-v5)` depend only on the job; [`V5Job`] computes them
//! once. For `len = 64` a nonce costs 34 permutations.
//!
//! ```
//! use nockpool_pow::v5;
//!
//! let commitment = [1, 2, 3, 4, 5];
//! let pow = v5::digest(&commitment, &[6, 7, 8, 9, 10], 64);
//! let batch = v5::digest_many(&commitment, &[[6, 7, 8, 9, 10], [0; 5]], 64);
//! assert_eq!(batch[0], pow);
//! ```

use nockpool_core::{validate_pow_len, Digest, JobParams, Nonce};

use crate::error::check_canonical;
use crate::field::Belt;
use crate::kernel::{self, Kernel};
use crate::tip5::{digest_from_canonical, hash_atom, hash_belt_list, hash_ten, Sponge};
use crate::v5_kernel::{self, KernelConsts};
use crate::PowError;

/// The proof version this module grinds.
pub const VERSION: u64 = 5;

/// A Hoon term (cord) as an atom: byte `i` of the text is byte `i` of the little-endian number.
const fn cord(text: &[u8]) -> u64 {
    let mut value = 0u64;
    let mut i = text.len();
    while i > 0 {
        i -= 1;
        value = (value << 8) | text[i] as u64;
    }
    value
}

/// `%puzzle` as an atom.
pub const TERM_PUZZLE: u64 = cord(b"puzzle");
/// `%zkpow-v5` as an atom (the domain tag of the version-5 mining digest).
pub const TERM_ZKPOW_V5: u64 = cord(b"zkpow-v5");

/// The intermediate values of one version-5 digest (for tests and diagnostics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V5Trace {
    /// The puzzle product `p` (the `tog` leaves in reverse), `pow_len` belts.
    pub product: Vec<Belt>,
    /// `hash-noun-varlen(p)`.
    pub product_hash: Digest,
    /// Digest of proof object 0 (`%puzzle [c n len p]`).
    pub object0_hash: Digest,
    /// `hash-proof` of the one-object proof.
    pub proof_digest: Digest,
    /// The tagged mining digest compared with the target.
    pub pow_digest: Digest,
}

/// A version-5 job with its per-job constants computed once: `H(%puzzle)`, `H(pow_len)`,
/// `H(%zkpow-v5)`.
///
/// ```
/// use nockpool_core::{Digest, Nonce};
/// use nockpool_pow::v5::{self, V5Job};
///
/// let c = Digest::new([1, 2, 3, 4, 5]).unwrap();
/// let job = V5Job::new(c, 64).unwrap();
/// let n = Nonce::new([6, 7, 8, 9, 10]).unwrap();
/// assert_eq!(job.digest(&n).to_limbs(), v5::digest(&[1, 2, 3, 4, 5], &[6, 7, 8, 9, 10], 64));
/// assert!(V5Job::new(c, 63).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V5Job {
    commitment: Digest,
    pow_len: u64,
    h_puzzle: Digest,
    h_len: Digest,
    h_tag: Digest,
    kernel: KernelConsts,
}

impl V5Job {
    /// Precomputes a job; `pow_len` must be a power of two from 1 to 65,536.
    pub fn new(commitment: Digest, pow_len: u64) -> Result<V5Job, PowError> {
        validate_pow_len(pow_len).map_err(|_| PowError::InvalidPowLen(pow_len))?;
        let h_puzzle = hash_atom(Belt::from_reduced(TERM_PUZZLE));
        let h_len = hash_atom(Belt::from_reduced(pow_len));
        let h_tag = hash_atom(Belt::from_reduced(TERM_ZKPOW_V5));
        let kernel = KernelConsts::new(
            pow_len,
            commitment.limbs(),
            h_puzzle.limbs(),
            h_len.limbs(),
            h_tag.limbs(),
        );
        Ok(V5Job {
            commitment,
            pow_len,
            h_puzzle,
            h_len,
            h_tag,
            kernel,
        })
    }

    /// Precomputes a job from pool job parameters, refusing versions other than 5.
    pub fn from_params(params: &JobParams) -> Result<V5Job, PowError> {
        if params.version != VERSION {
            return Err(PowError::UnsupportedVersion {
                version: params.version,
                supported: VERSION,
            });
        }
        V5Job::new(params.commitment, params.pow_len)
    }

    /// The block commitment.
    pub fn commitment(&self) -> &Digest {
        &self.commitment
    }

    /// The puzzle length.
    pub fn pow_len(&self) -> u64 {
        self.pow_len
    }

    /// `H(%puzzle)`.
    pub fn h_puzzle(&self) -> &Digest {
        &self.h_puzzle
    }

    /// `H(pow_len)`.
    pub fn h_pow_len(&self) -> &Digest {
        &self.h_len
    }

    /// `H(%zkpow-v5)`.
    pub fn h_tag(&self) -> &Digest {
        &self.h_tag
    }

    /// The mining digest of one nonce.
    pub fn digest(&self, nonce: &Nonce) -> Digest {
        self.digest_with(kernel::current(), nonce)
    }

    /// [`V5Job::digest`] with a given kernel (the portable one if this CPU cannot run it).
    pub fn digest_with(&self, kernel: Kernel, nonce: &Nonce) -> Digest {
        let mut scratch = Vec::new();
        digest_from_canonical(v5_kernel::digest_one_with(
            kernel,
            &self.kernel,
            nonce.limbs(),
            &mut scratch,
        ))
    }

    /// The mining digests of many nonces, in order (several nonces per SIMD batch where the CPU
    /// allows).
    pub fn digest_many(&self, nonces: &[Nonce]) -> Vec<Digest> {
        let limbs: Vec<[u64; 5]> = nonces.iter().map(|n| n.to_limbs()).collect();
        let mut out = Vec::new();
        self.digest_limbs_into(&limbs, &mut out);
        out.into_iter().map(digest_from_canonical).collect()
    }

    /// The per-job constants in the kernels' (Montgomery) form.
    pub(crate) fn kernel_consts(&self) -> &KernelConsts {
        &self.kernel
    }

    /// Digests of canonical nonce limbs into `out` (cleared first); the allocation-free core
    /// of [`V5Job::digest_many`].
    pub(crate) fn digest_limbs_into(&self, nonces: &[[u64; 5]], out: &mut Vec<[u64; 5]>) {
        self.digest_limbs_into_with(kernel::current(), nonces, out)
    }

    /// [`V5Job::digest_limbs_into`] with a given kernel.
    pub(crate) fn digest_limbs_into_with(
        &self,
        kernel: Kernel,
        nonces: &[[u64; 5]],
        out: &mut Vec<[u64; 5]>,
    ) {
        v5_kernel::digest_many_with(kernel, &self.kernel, nonces, out);
    }

    /// Every intermediate value of one nonce's digest, computed step by step from the spec.
    pub fn trace(&self, nonce: &Nonce) -> V5Trace {
        let mut seed = [Belt::ZERO; 10];
        for (slot, &v) in seed
            .iter_mut()
            .zip(self.commitment.limbs().iter().chain(nonce.limbs().iter()))
        {
            *slot = Belt::from_reduced(v);
        }
        let mut sponge = Sponge::new();
        sponge.absorb(&seed);
        let mut product = sponge.into_tog().belts(self.pow_len as usize);
        product.reverse();
        let product_hash = hash_belt_list(&product);
        let nonce_digest = digest_from_canonical(nonce.to_limbs());
        let object0_hash = hash_ten(
            &self.h_puzzle,
            &hash_ten(
                &self.commitment,
                &hash_ten(&nonce_digest, &hash_ten(&self.h_len, &product_hash)),
            ),
        );
        let proof_digest = {
            let mut s = Sponge::new();
            s.absorb_canonical(object0_hash.limbs().iter().copied());
            s.digest()
        };
        let pow_digest = hash_ten(&self.h_tag, &proof_digest);
        V5Trace {
            product,
            product_hash,
            object0_hash,
            proof_digest,
            pow_digest,
        }
    }
}

fn panic_bad_input(function: &str, err: PowError) -> ! {
    panic!("nockpool_pow::v5::{function}: {err}")
}

/// The version-5 mining digest of `nonce` for block commitment `commitment` and puzzle length
/// `pow_len`, as canonical limbs.
///
/// # Panics
/// If any limb of `commitment` or `nonce` is `>= p`, or `pow_len` is not a power of two from 1
/// to 65,536; see [`try_digest`].
pub fn digest(commitment: &[u64; 5], nonce: &[u64; 5], pow_len: u64) -> [u64; 5] {
    match try_digest(commitment, nonce, pow_len) {
        Ok(d) => d.to_limbs(),
        Err(err) => panic_bad_input("digest", err),
    }
}

/// [`digest`] with a typed result instead of panics.
pub fn try_digest(
    commitment: &[u64; 5],
    nonce: &[u64; 5],
    pow_len: u64,
) -> Result<Digest, PowError> {
    let job = V5Job::new(Digest::new(*commitment)?, pow_len)?;
    let nonce = Nonce::new(*nonce)?;
    Ok(job.digest(&nonce))
}

/// [`digest`] of every nonce, batched internally; the same values in the same order.
///
/// # Panics
/// As [`digest`], for any bad input (then nothing is computed); see [`try_digest_many`].
pub fn digest_many(commitment: &[u64; 5], nonces: &[[u64; 5]], pow_len: u64) -> Vec<[u64; 5]> {
    match try_digest_many(commitment, nonces, pow_len) {
        Ok(ds) => ds.into_iter().map(Digest::to_limbs).collect(),
        Err(err) => panic_bad_input("digest_many", err),
    }
}

/// [`digest_many`] with a typed result. A bad nonce limb reports `index = 5 · nonce + limb`.
pub fn try_digest_many(
    commitment: &[u64; 5],
    nonces: &[[u64; 5]],
    pow_len: u64,
) -> Result<Vec<Digest>, PowError> {
    let job = V5Job::new(Digest::new(*commitment)?, pow_len)?;
    let flat: Vec<u64> = nonces.iter().flatten().copied().collect();
    check_canonical(&flat)?;
    let mut out = Vec::new();
    job.digest_limbs_into(nonces, &mut out);
    Ok(out.into_iter().map(digest_from_canonical).collect())
}

/// The number of Tip5 permutations one nonce costs at `pow_len` (34 for 64), skipping the
/// trailing squeeze permutation whose output is never read.
pub fn permutations_per_nonce(pow_len: u64) -> u64 {
    let len = pow_len;
    let squeezes = len.div_ceil(10);
    let product = 2 + squeezes.saturating_sub(1);
    let product_hash = (1 + len + 1 + 2 * len) / 10 + 1;
    product + product_hash + 4 + 1 + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Kernel;
    use crate::test_vectors::{spec_json, u64_array, u64_vec};
    use crate::tip5::{hash_noun_varlen, BeltNoun};
    use nockpool_core::{Target, U320};

    fn digest(v: &serde_json::Value) -> Digest {
        Digest::new(u64_array(v)).unwrap()
    }

    #[test]
    fn term_atoms() {
        assert_eq!(TERM_PUZZLE, 111516585719152);
        assert_eq!(TERM_ZKPOW_V5, 0x3576_2d77_6f70_6b7a);
    }

    #[test]
    fn pow_v5_vectors() {
        let Some(v) = spec_json("tip5-vectors.json") else {
            return;
        };
        let constants = &v["pow_v5"]["constants"];
        let cases = v["pow_v5"]["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 7);
        for case in cases {
            let commitment = digest(&case["commitment"]);
            let nonce = Nonce::new(u64_array(&case["nonce"])).unwrap();
            let pow_len = case["pow_len"].as_u64().unwrap();
            let job = V5Job::new(commitment, pow_len).unwrap();
            assert_eq!(job.h_puzzle(), &digest(&constants["H_puzzle"]));
            assert_eq!(job.h_tag(), &digest(&constants["H_zkpow_v5"]));
            if pow_len == 64 {
                assert_eq!(job.h_pow_len(), &digest(&constants["H_len_64"]));
            }
            let trace = job.trace(&nonce);
            let product: Vec<u64> = trace.product.iter().map(|b| b.value()).collect();
            assert_eq!(product, u64_vec(&case["product"]));
            assert_eq!(trace.product_hash, digest(&case["product_hash"]));
            assert_eq!(trace.object0_hash, digest(&case["object0_hash"]));
            assert_eq!(trace.proof_digest, digest(&case["proof_digest"]));
            assert_eq!(trace.pow_digest, digest(&case["pow_digest"]));
            assert_eq!(
                trace.pow_digest.to_u320().to_string(),
                case["pow_atom"].as_str().unwrap()
            );
            // Every entry point agrees.
            let expected: [u64; 5] = u64_array(&case["pow_digest"]);
            assert_eq!(
                super::digest(commitment.limbs(), nonce.limbs(), pow_len),
                expected
            );
            assert_eq!(
                digest_many(commitment.limbs(), &[*nonce.limbs(), [0; 5]], pow_len)[0],
                expected
            );
            assert_eq!(job.digest(&nonce).to_limbs(), expected);
            // Every kernel: its single-state path, and a full batch (9 copies: one SIMD group
            // of up to 8 plus the remainder path).
            for kernel in Kernel::ALL {
                if !kernel.is_supported() {
                    eprintln!("NOTICE: the {kernel} kernel cannot run on this CPU; not tested");
                    continue;
                }
                assert_eq!(
                    job.digest_with(kernel, &nonce).to_limbs(),
                    expected,
                    "{kernel}"
                );
                let mut out = Vec::new();
                job.digest_limbs_into_with(kernel, &[*nonce.limbs(); 9], &mut out);
                assert_eq!(out, [expected; 9], "{kernel} batched");
            }
        }
        // The product hash is hash-noun-varlen of the product list.
        let case = &cases[0];
        let product: Vec<Belt> = u64_vec(&case["product"])
            .into_iter()
            .map(|x| Belt::new(x).unwrap())
            .collect();
        assert_eq!(
            hash_noun_varlen(&BeltNoun::list(&product)),
            digest(&case["product_hash"])
        );
    }

    #[test]
    fn fakenet_genesis_fixtures() {
        let Some(v) = spec_json("tip5-vectors.json") else {
            return;
        };
        let constants = &v["pow_v5"]["constants"];
        let cases = v["pow_fixtures_v0_genesis"]["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 3);
        for case in cases {
            let commitment = digest(&case["commitment"]);
            let nonce = Nonce::new(u64_array(&case["nonce"])).unwrap();
            let pow_len = case["pow_len"].as_u64().unwrap();
            let job = V5Job::new(commitment, pow_len).unwrap();
            // The real puzzle product of the genesis page.
            let trace = job.trace(&nonce);
            let product: Vec<u64> = trace.product.iter().map(|b| b.value()).collect();
            assert_eq!(product, u64_vec(&case["product"]));
            assert_eq!(
                trace.pow_digest,
                digest(&case["v5_pow_digest_for_this_commitment_nonce_len"])
            );
            // Target encoding and the v0 test the genesis page passed.
            let target = Target::from_bn_limbs(
                &u64_vec(&case["target_bn_limbs_u32_lsb_first"])
                    .into_iter()
                    .map(|x| u32::try_from(x).unwrap())
                    .collect::<Vec<_>>(),
            )
            .unwrap();
            assert_eq!(target.to_string(), case["target_atom"].as_str().unwrap());
            let prefix = digest(&case["pow_prefix_digest_v0"]);
            assert_eq!(
                prefix.to_u320().to_string(),
                case["pow_atom_v0"].as_str().unwrap()
            );
            assert_eq!(
                prefix.meets(&target),
                case["meets_target"].as_bool().unwrap()
            );
            // The %3 tagging of the same prefix.
            let v3 = hash_ten(&digest(&constants["H_zkpow_v3"]), &prefix);
            assert_eq!(v3, digest(&case["v3_pow_digest_if_this_prefix_were_v3"]));
            assert_eq!(
                hash_atom(Belt::from_reduced(cord(b"zkpow-v3"))),
                digest(&constants["H_zkpow_v3"])
            );
        }
    }

    #[test]
    fn fakenet_genesis_proof_prefix() {
        let Some(v) = spec_json("pow-v0-prefix-fixture.json") else {
            return;
        };
        let objects = v["objects"].as_array().unwrap();
        let object_digests: Vec<Digest> = v["object_digests"]
            .as_array()
            .unwrap()
            .iter()
            .map(digest)
            .collect();
        assert_eq!(object_digests.len(), 7);

        // Object 0, %puzzle [commitment nonce len p]: hashed exactly as the %5 digest does.
        let puzzle = &objects[0];
        let job = V5Job::new(
            digest(&puzzle["commitment"]),
            puzzle["len"].as_u64().unwrap(),
        )
        .unwrap();
        let nonce = Nonce::new(u64_array(&puzzle["nonce"])).unwrap();
        let trace = job.trace(&nonce);
        let product: Vec<u64> = trace.product.iter().map(|b| b.value()).collect();
        assert_eq!(product, u64_vec(&puzzle["p_list"]));
        assert_eq!(trace.object0_hash, object_digests[0]);

        // Objects 2 and 3, %m-root: [leaf %m-root, hash root].
        let h_m_root = hash_atom(Belt::from_reduced(cord(b"m-root")));
        for i in [2, 3] {
            assert_eq!(objects[i]["tag"], "m-root");
            assert_eq!(
                hash_ten(&h_m_root, &digest(&objects[i]["p"])),
                object_digests[i]
            );
        }

        // Object 1, %heights: [leaf %heights, leaf (list @)].
        let heights: Vec<Belt> = u64_vec(&objects[1]["p"])
            .into_iter()
            .map(|x| Belt::new(x).unwrap())
            .collect();
        let h_heights = hash_atom(Belt::from_reduced(cord(b"heights")));
        assert_eq!(
            hash_ten(&h_heights, &hash_belt_list(&heights)),
            object_digests[1]
        );

        // hash-proof of objects 0..6: absorb each digest separately, then tog belts(5).
        let mut sponge = Sponge::new();
        for d in &object_digests {
            sponge.try_absorb(d.limbs()).unwrap();
        }
        let prefix: Vec<u64> = sponge
            .into_tog()
            .belts(5)
            .iter()
            .map(|b| b.value())
            .collect();
        assert_eq!(prefix, u64_vec(&v["prefix_digest"]));
        let prefix = Digest::new(prefix.try_into().unwrap()).unwrap();
        assert_eq!(
            prefix.to_u320().to_string(),
            v["pow_atom"].as_str().unwrap()
        );
        let target: U320 = v["target_atom"].as_str().unwrap().parse().unwrap();
        assert!(prefix.meets(&Target::from_u320(target)));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]

        #[test]
        fn batched_kernel_equals_step_by_step_oracle(
            commitment in proptest::array::uniform5(0..nockpool_core::P),
            nonces in proptest::collection::vec(proptest::array::uniform5(0..nockpool_core::P), 0..19),
            log_len in 0u32..8,
        ) {
            let pow_len = 1u64 << log_len;
            let job = V5Job::new(Digest::new(commitment).unwrap(), pow_len).unwrap();
            let typed: Vec<Nonce> = nonces.iter().map(|n| Nonce::new(*n).unwrap()).collect();
            let batched = job.digest_many(&typed);
            proptest::prop_assert_eq!(batched.len(), typed.len());
            for (nonce, got) in typed.iter().zip(batched.iter()) {
                proptest::prop_assert_eq!(got, &job.trace(nonce).pow_digest);
                proptest::prop_assert_eq!(&job.digest(nonce), got);
            }
            let limbs: Vec<[u64; 5]> = nonces.clone();
            let expected: Vec<[u64; 5]> = batched.iter().map(|d| d.to_limbs()).collect();
            for kernel in Kernel::ALL {
                if !kernel.is_supported() {
                    eprintln!("NOTICE: the {kernel} kernel cannot run on this CPU; not tested");
                    continue;
                }
                let mut out = Vec::new();
                v5_kernel::digest_many_with(kernel, &job.kernel, &limbs, &mut out);
                proptest::prop_assert_eq!(&out, &expected, "{}", kernel);
                let mut scratch = Vec::new();
                for (nonce, want) in limbs.iter().zip(&expected) {
                    let one = v5_kernel::digest_one_with(kernel, &job.kernel, nonce, &mut scratch);
                    proptest::prop_assert_eq!(&one, want, "{} single", kernel);
                }
            }
        }
    }

    #[test]
    fn fakenet_genesis_jam_puzzle_object() {
        // The raw page (jam) from Nockchain's repo: find proof object 0 `[%puzzle c n len p]`
        // and recompute its product and digest from the commitment and nonce alone.
        let path = crate::test_vectors::spec_path("fixtures/fakenet-genesis-pow-64-bex-2.jam");
        let Ok(jam) = std::fs::read(&path) else {
            eprintln!("NOTICE: skipping: {} not readable", path.display());
            return;
        };
        let Some(prefix) = spec_json("pow-v0-prefix-fixture.json") else {
            return;
        };
        let page = nockpool_core::noun::cue(&jam).expect("the fixture jam cues");
        let mut stack = vec![&page];
        let mut puzzle = None;
        while let Some(noun) = stack.pop() {
            if let Some((head, tail)) = noun.as_cell() {
                if head.is_cord("puzzle") {
                    if let Some([c, n, len, p]) = tail.as_tuple::<4>() {
                        if let (Some(c), Some(n), Some(len), Some(p)) =
                            (c.as_belts(), n.as_belts(), len.as_u64(), p.as_list())
                        {
                            puzzle = Some((c, n, len, p));
                            break;
                        }
                    }
                }
                stack.push(tail);
                stack.push(head);
            }
        }
        let (c, n, len, p) = puzzle.expect("the genesis page holds a %puzzle proof object");
        let product: Vec<u64> = p.iter().map(|b| b.as_u64().unwrap()).collect();
        let job = V5Job::new(Digest::new(c).unwrap(), len).unwrap();
        let trace = job.trace(&Nonce::new(n).unwrap());
        let ours: Vec<u64> = trace.product.iter().map(|b| b.value()).collect();
        assert_eq!(len, 64);
        assert_eq!(ours, product);
        assert_eq!(trace.object0_hash, digest(&prefix["object_digests"][0]));
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        assert_eq!(
            try_digest(&[0; 5], &[0; 5], 3),
            Err(PowError::InvalidPowLen(3))
        );
        assert!(matches!(
            try_digest(&[nockpool_core::P, 0, 0, 0, 0], &[0; 5], 64),
            Err(PowError::Core(_))
        ));
        assert!(try_digest_many(&[0; 5], &[[0; 5], [0, 0, 0, 0, u64::MAX]], 64).is_err());
        assert_eq!(permutations_per_nonce(64), 34);
    }

    #[test]
    #[should_panic(expected = "pow_len")]
    fn digest_panics_on_bad_pow_len() {
        super::digest(&[0; 5], &[0; 5], 0);
    }
}
