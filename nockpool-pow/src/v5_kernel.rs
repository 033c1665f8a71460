//! The version-5 digest on lanes: several nonces at once, the whole pipeline kept in Montgomery
//! form (tog outputs are fed back into the product hash without leaving it, since
//! `montify(demont(x)) = x`). The step-by-step oracle is `V5Job::trace`.

use crate::field::{mont_reduce, montify, EPSILON};
use crate::kernel::Kernel;
use crate::tip5::lanes::Lanes;
#[cfg(target_arch = "x86_64")]
use crate::tip5::{avx2, avx512};

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
fn ten<V: Lanes>(permute: &impl Fn(&mut [V; 16]), left: [V; 5], right: [V; 5]) -> [V; 5] {
    let mut s = [V::splat(EPSILON); 16];
    s[..5].copy_from_slice(&left);
    s[5..10].copy_from_slice(&right);
    permute(&mut s);
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
pub(crate) fn digest_lanes<V: Lanes>(
    k: &KernelConsts,
    nonce: [V; 5],
    leaves: &mut [V],
    permute: &impl Fn(&mut [V; 16]),
) -> [V; 5] {
    let len = k.pow_len;
    let zero = V::splat(0);
    let one = V::splat(EPSILON); // montify(1)

    // 1. Puzzle sponge: absorb(c ++ n) = two blocks ([c n], then the pad block [1 0 …]).
    let mut s = [zero; 16];
    s[..5].copy_from_slice(&splat5::<V>(&k.commitment));
    s[5..10].copy_from_slice(&nonce);
    permute(&mut s);
    s[0] = one;
    for w in s.iter_mut().take(10).skip(1) {
        *w = zero;
    }
    permute(&mut s);

    // 2. tog.belts(len): the rate words of successive states, permuting between squeezes (the
    //    permutation after the last needed squeeze is skipped: its output is never read).
    let mut produced = 0;
    while produced < len {
        let take = (len - produced).min(10);
        leaves[produced..produced + take].copy_from_slice(&s[..take]);
        produced += take;
        if produced < len {
            permute(&mut s);
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
        permute(&mut h);
    }
    let hp = [h[0], h[1], h[2], h[3], h[4]];

    // 4. o = ten(H(%puzzle), ten(c, ten(n, ten(H(len), Hp)))).
    let r1 = ten(permute, splat5(&k.h_len), hp);
    let r2 = ten(permute, nonce, r1);
    let r3 = ten(permute, splat5(&k.commitment), r2);
    let o = ten(permute, splat5(&k.h_puzzle), r3);

    // 5. d = hash_varlen(o): one block [o, 1, 0, 0, 0, 0], zero capacity.
    let mut s = [zero; 16];
    s[..5].copy_from_slice(&o);
    s[5] = one;
    permute(&mut s);
    let d = [s[0], s[1], s[2], s[3], s[4]];

    // 6. pow = ten(H(%zkpow-v5), d).
    ten(permute, splat5(&k.h_tag), d)
}

/// One nonce with `kernel`'s single-state permutation: canonical limbs in, canonical digest
/// out.
pub(crate) fn digest_one_with(
    kernel: Kernel,
    k: &KernelConsts,
    nonce: &[u64; 5],
    leaves: &mut Vec<u64>,
) -> [u64; 5] {
    leaves.resize(k.pow_len.max(1), 0);
    let permute = |s: &mut [u64; 16]| crate::tip5::permute_mont_with(kernel, s);
    let raw = digest_lanes::<u64>(k, nonce.map(montify), leaves, &permute);
    raw.map(|w| mont_reduce(w as u128))
}

/// Many nonces with `kernel` (the portable one if the CPU cannot run it): SIMD batches of its
/// width, the rest one at a time with its single-state path.
pub(crate) fn digest_many_with(
    kernel: Kernel,
    k: &KernelConsts,
    nonces: &[[u64; 5]],
    out: &mut Vec<[u64; 5]>,
) {
    out.clear();
    out.reserve(nonces.len());
    let rest = match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 if avx512::available() => {
            let mut leaves = vec![avx512::V8::splat(0); k.pow_len.max(1)];
            let mut chunks = nonces.chunks_exact(avx512::WIDTH);
            for chunk in &mut chunks {
                // SAFETY: the CPU features were checked by the match guard.
                unsafe { avx512_group(k, chunk, &mut leaves, out) };
            }
            chunks.remainder()
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 if avx2::available() => {
            let mut leaves = vec![avx2::V4::splat(0); k.pow_len.max(1)];
            let mut chunks = nonces.chunks_exact(avx2::WIDTH);
            for chunk in &mut chunks {
                // SAFETY: the CPU features were checked by the match guard.
                unsafe { avx2_group(k, chunk, &mut leaves, out) };
            }
            chunks.remainder()
        }
        // Portable, or a kernel this CPU cannot run: one nonce at a time below.
        _ => nonces,
    };
    let mut leaves = Vec::new();
    for nonce in rest {
        out.push(digest_one_with(kernel, k, nonce, &mut leaves));
    }
}

/// The most lanes a kernel batches.
const MAX_WIDTH: usize = 8;

/// `V::WIDTH` nonces through [`digest_lanes`], appended to `out` in order.
#[inline(always)]
fn group<V: Lanes>(
    k: &KernelConsts,
    nonces: &[[u64; 5]],
    leaves: &mut [V],
    out: &mut Vec<[u64; 5]>,
    permute: &impl Fn(&mut [V; 16]),
) {
    let mut nonce = [V::splat(0); 5];
    let mut words = [0u64; MAX_WIDTH];
    for (limb, slot) in nonce.iter_mut().enumerate() {
        for (lane, n) in nonces.iter().enumerate().take(V::WIDTH) {
            words[lane] = montify(n[limb]);
        }
        *slot = V::load(&words);
    }
    let raw = digest_lanes(k, nonce, leaves, permute);
    let mut digests = [[0u64; 5]; MAX_WIDTH];
    for (limb, v) in raw.iter().enumerate() {
        v.store(&mut words);
        for (lane, digest) in digests.iter_mut().enumerate().take(V::WIDTH) {
            digest[limb] = mont_reduce(words[lane] as u128);
        }
    }
    out.extend_from_slice(&digests[..V::WIDTH]);
}

/// # Safety
/// The CPU must support the features `avx512::available` checks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vbmi")]
unsafe fn avx512_group(
    k: &KernelConsts,
    nonces: &[[u64; 5]],
    leaves: &mut [avx512::V8],
    out: &mut Vec<[u64; 5]>,
) {
    // SAFETY: this function's features are the ones `avx512::permute_lanes` needs.
    group(k, nonces, leaves, out, &|s| unsafe {
        avx512::permute_lanes(s)
    })
}

/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2_group(
    k: &KernelConsts,
    nonces: &[[u64; 5]],
    leaves: &mut [avx2::V4],
    out: &mut Vec<[u64; 5]>,
) {
    // SAFETY: this function's feature is the one `avx2::permute_lanes` needs.
    group(k, nonces, leaves, out, &|s| unsafe {
        avx2::permute_lanes(s)
    })
}
