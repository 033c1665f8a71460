//! The version-5 digest on lanes: several nonces at once, the whole pipeline kept in Montgomery
//! form (tog outputs are fed back into the product hash without leaving it, since
//! `montify(demont(x)) = x`). The step-by-step oracle is `V5Job::trace`.

use crate::field::{mont_reduce, montify, EPSILON};
use crate::tip5::lanes::{self, Lanes};

/// Per-job constants in Montgomery form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KernelConsts {
    pub(crate) pow_len: usize,
    pub(crate) commitment: [u64; 5],
    pub(crate) h_puzzle: [u64; 5],
    pub(crate) h_len: [u64; 5],
    pub(crate) h_tag: [u64; 5],
    /// `montify(pow_len + 1)`, the first word of the product hash.
    pub(crate) len_plus_one: u64,
}

impl KernelConsts {
    /// From canonical digests.
    pub(crate) fn new(
        pow_len: u64,
        commitment: &[u64; 5],
        h_puzzle: &[u64; 5],
        h_len: &[u64; 5],
        h_tag: &[u64; 5],
    ) -> KernelConsts {
        KernelConsts {
            pow_len: pow_len as usize,
            commitment: commitment.map(montify),
            h_puzzle: h_puzzle.map(montify),
            h_len: h_len.map(montify),
            h_tag: h_tag.map(montify),
            len_plus_one: montify(pow_len + 1),
        }
    }
}

/// `hash_10(left ++ right)` on raw lanes: capacity `montify(1)`, one permutation; raw output.
#[inline(always)]
fn ten<V: Lanes>(left: [V; 5], right: [V; 5]) -> [V; 5] {
    let mut s = [V::splat(EPSILON); 16];
    s[..5].copy_from_slice(&left);
    s[5..10].copy_from_slice(&right);
    lanes::permute(&mut s);
    [s[0], s[1], s[2], s[3], s[4]]
}

#[inline(always)]
fn splat5<V: Lanes>(x: &[u64; 5]) -> [V; 5] {
    [
        V::splat(x[0]),
        V::splat(x[1]),
        V::splat(x[2]),
        V::splat(x[3]),
        V::splat(x[4]),
    ]
}

/// The raw (Montgomery) mining digest of the nonces in `nonce` (raw, one nonce per lane).
/// `leaves` is scratch space of at least `pow_len` entries.
#[inline(always)]
pub(crate) fn digest_lanes<V: Lanes>(k: &KernelConsts, nonce: [V; 5], leaves: &mut [V]) -> [V; 5] {
    let len = k.pow_len;
    let zero = V::splat(0);
    let one = V::splat(EPSILON); // montify(1)

    // 1. Puzzle sponge: absorb(c ++ n) = two blocks ([c n], then the pad block [1 0 …]).
    let mut s = [zero; 16];
    s[..5].copy_from_slice(&splat5::<V>(&k.commitment));
    s[5..10].copy_from_slice(&nonce);
    lanes::permute(&mut s);
    s[0] = one;
    for w in s.iter_mut().take(10).skip(1) {
        *w = zero;
    }
    lanes::permute(&mut s);

    // 2. tog.belts(len): the rate words of successive states, permuting between squeezes (the
    //    permutation after the last needed squeeze is skipped: its output is never read).
    let mut produced = 0;
    while produced < len {
        let take = (len - produced).min(10);
        leaves[produced..produced + take].copy_from_slice(&s[..take]);
        produced += take;
        if produced < len {
            lanes::permute(&mut s);
        }
    }

    // 3. Hp = hash_varlen([len+1] ++ reverse(leaves) ++ [0] ++ [0,1]·len), padded 1 then 0s.
    let total = 3 * len + 2;
    let blocks = total / 10 + 1;
    let mut h = [zero; 16];
    let mut i = 0;
    for _ in 0..blocks {
        for w in h.iter_mut().take(10) {
            *w = if i == 0 {
                V::splat(k.len_plus_one)
            } else if i <= len {
                leaves[len - i]
            } else if i == len + 1 {
                zero
            } else if i < total {
                if (i - len - 2) % 2 == 1 {
                    one
                } else {
                    zero
                }
            } else if i == total {
                one
            } else {
                zero
            };
            i += 1;
        }
        lanes::permute(&mut h);
    }
    let hp = [h[0], h[1], h[2], h[3], h[4]];

    // 4. o = ten(H(%puzzle), ten(c, ten(n, ten(H(len), Hp)))).
    let r1 = ten(splat5(&k.h_len), hp);
    let r2 = ten(nonce, r1);
    let r3 = ten(splat5(&k.commitment), r2);
    let o = ten(splat5(&k.h_puzzle), r3);

    // 5. d = hash_varlen(o): one block [o, 1, 0, 0, 0, 0], zero capacity.
    let mut s = [zero; 16];
    s[..5].copy_from_slice(&o);
    s[5] = one;
    lanes::permute(&mut s);
    let d = [s[0], s[1], s[2], s[3], s[4]];

    // 6. pow = ten(H(%zkpow-v5), d).
    ten(splat5(&k.h_tag), d)
}

/// One nonce on the portable path: canonical limbs in, canonical digest out.
pub(crate) fn digest_one(k: &KernelConsts, nonce: &[u64; 5], leaves: &mut Vec<u64>) -> [u64; 5] {
    leaves.resize(k.pow_len.max(1), 0);
    let raw = digest_lanes::<u64>(k, nonce.map(montify), leaves);
    raw.map(|w| mont_reduce(w as u128))
}

/// Many nonces: AVX-512 in groups of 8 where available, the portable path for the rest.
pub(crate) fn digest_many(k: &KernelConsts, nonces: &[[u64; 5]], out: &mut Vec<[u64; 5]>) {
    out.clear();
    out.reserve(nonces.len());
    let mut rest = nonces;
    #[cfg(target_arch = "x86_64")]
    if crate::tip5::avx512::available() {
        use crate::tip5::avx512::{self, WIDTH};
        let mut leaves = vec![avx512::V8::splat(0); k.pow_len.max(1)];
        let mut chunks = nonces.chunks_exact(WIDTH);
        for chunk in &mut chunks {
            let group: &[[u64; 5]; WIDTH] = chunk.try_into().expect("chunk of WIDTH nonces");
            // SAFETY: the CPU features were checked just above.
            let digests = unsafe { avx512_digest8(k, group, &mut leaves) };
            out.extend_from_slice(&digests);
        }
        rest = chunks.remainder();
    }
    let mut leaves = Vec::new();
    for nonce in rest {
        out.push(digest_one(k, nonce, &mut leaves));
    }
}

/// # Safety
/// The CPU must support the features `avx512::available` checks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vbmi")]
unsafe fn avx512_digest8(
    k: &KernelConsts,
    nonces: &[[u64; 5]; 8],
    leaves: &mut [crate::tip5::avx512::V8],
) -> [[u64; 5]; 8] {
    use crate::tip5::avx512::{from_array, to_array};
    let mut nonce = [from_array([0; 8]); 5];
    for (limb, slot) in nonce.iter_mut().enumerate() {
        let mut words = [0u64; 8];
        for (lane, word) in words.iter_mut().enumerate() {
            *word = montify(nonces[lane][limb]);
        }
        *slot = from_array(words);
    }
    let raw = digest_lanes(k, nonce, leaves);
    let mut out = [[0u64; 5]; 8];
    for (limb, v) in raw.iter().enumerate() {
        let words = to_array(*v);
        for (lane, digest) in out.iter_mut().enumerate() {
            digest[limb] = mont_reduce(words[lane] as u128);
        }
    }
    out
}
