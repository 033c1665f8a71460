//! The WGSL source of the version-%5 search, generated for one arithmetic path and one
//! workgroup size.
//!
//! The Tip5 pipeline (permutation, sponge steps, the %5 digest, the target test) is written
//! once against a small set of field helpers (`mul`, `sqr`, `add`, `canon`, `w_make`, …); each
//! [`Arith`] path supplies them, plus the MDS layer, which is generated here fully unrolled with
//! the matrix entries as literals (256 multiply-adds a round, no state indexing at run time).
//!
//! - [`Arith::U64`] (adapters with `SHADER_INT64`): a word is a `u64`; products of 32-bit
//!   halves give the 128-bit product (WGSL has no `mulhi`), Goldilocks-reduced with
//!   `2^64 ≡ 2^32 − 1` and `2^96 ≡ −1`. The MDS accumulates `C·lo32` and `C·hi32` sums in
//!   `u64` (each < 2^53) and folds once per output word.
//! - [`Arith::U32`] (any adapter): a word is a `vec2<u32>` (low, high); 32×32→64 products are
//!   built from 16-bit halves. The MDS splits each word into six 12-bit pieces so that every
//!   column sum fits a `u32` (Σ C = 524,757 and 524,757 · 4095 < 2^32).
//!
//! The state stays in Montgomery form throughout, as on the CPU: the split-and-lookup S-box
//! reads the raw word, `x^7` of the raw word is the raw `x^7` (`R^6 ≡ 1`), and the MDS is
//! linear. Inputs are montified (`·(2^32 − 1)`) and outputs de-montified (`·R^2`, as
//! `R^3 ≡ 1`) with ordinary modular products.
//!
//! Buffers (group 0): `consts` (round constants and the lookup table, uploaded once per
//! device), `job` (per-job constants, uploaded when the job changes), `disp` (per-dispatch
//! values) and `outbuf` (results).

use std::fmt::Write;

use nockpool_pow::tip5::{LOOKUP_TABLE, MDS_FIRST_COLUMN, ROUNDS, ROUND_CONSTANTS_MONT};

/// How the shader represents a 64-bit field word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arith {
    /// Native `u64` (needs the adapter's `SHADER_INT64`).
    U64,
    /// Two `u32` limbs (runs on every adapter).
    U32,
}

impl Arith {
    /// A short name for logs and bench labels.
    pub fn name(self) -> &'static str {
        match self {
            Arith::U64 => "int64",
            Arith::U32 => "32-bit limbs",
        }
    }
}

/// `u32` offsets into the `consts` buffer.
pub(crate) const CONSTS_RC: usize = 0;
pub(crate) const CONSTS_LUT: usize = CONSTS_RC + 2 * ROUNDS * 16;
pub(crate) const CONSTS_WORDS: usize = CONSTS_LUT + 256;

/// `u32` offsets into the `job` buffer (every field element as low, high).
pub(crate) const JOB_COMMITMENT: usize = 0;
pub(crate) const JOB_H_PUZZLE: usize = 10;
pub(crate) const JOB_H_LEN: usize = 20;
pub(crate) const JOB_H_TAG: usize = 30;
pub(crate) const JOB_LEN_PLUS_ONE: usize = 40;
pub(crate) const JOB_POW_LEN: usize = 42;
pub(crate) const JOB_WORDS: usize = 44;

/// `u32` offsets into the `disp` buffer of a search dispatch.
pub(crate) const DISP_COUNTER: usize = 0; // three canonical limbs
pub(crate) const DISP_LANE: usize = 6; // Montgomery form
pub(crate) const DISP_PREFIX: usize = 8; // Montgomery form
pub(crate) const DISP_TARGET: usize = 10; // five canonical base-p digits
pub(crate) const DISP_COUNT: usize = 20;
pub(crate) const DISP_WORDS: usize = 24;

/// The largest `pow_len` the shader's leaf array holds (Nockchain uses 64).
pub const MAX_POW_LEN: u64 = 64;

/// The `consts` buffer contents: round constants (Montgomery form) and the lookup table.
pub(crate) fn consts_words() -> Vec<u32> {
    let mut words = Vec::with_capacity(CONSTS_WORDS);
    for rc in ROUND_CONSTANTS_MONT {
        words.push(rc as u32);
        words.push((rc >> 32) as u32);
    }
    words.extend(LOOKUP_TABLE.iter().map(|&b| u32::from(b)));
    debug_assert_eq!(words.len(), CONSTS_WORDS);
    words
}

/// The complete WGSL module for `arith` with `workgroup_size` invocations per workgroup.
pub(crate) fn source(arith: Arith, workgroup_size: u32) -> String {
    let mut s = String::with_capacity(64 * 1024);
    s.push_str(match arith {
        Arith::U64 => PRELUDE_U64,
        Arith::U32 => PRELUDE_U32,
    });
    s.push_str(&mds(arith));
    s.push_str(
        &COMMON
            .replace("{WG}", &workgroup_size.to_string())
            .replace("{CONSTS_LUT}", &CONSTS_LUT.to_string())
            .replace("{JOB_COMMITMENT}", &JOB_COMMITMENT.to_string())
            .replace("{JOB_H_PUZZLE}", &JOB_H_PUZZLE.to_string())
            .replace("{JOB_H_LEN}", &JOB_H_LEN.to_string())
            .replace("{JOB_H_TAG}", &JOB_H_TAG.to_string())
            .replace("{JOB_LEN_PLUS_ONE}", &JOB_LEN_PLUS_ONE.to_string())
            .replace("{JOB_POW_LEN}", &JOB_POW_LEN.to_string())
            .replace("{DISP_COUNTER}", &DISP_COUNTER.to_string())
            .replace("{DISP_LANE}", &DISP_LANE.to_string())
            .replace("{DISP_PREFIX}", &DISP_PREFIX.to_string())
            .replace("{DISP_TARGET}", &DISP_TARGET.to_string())
            .replace("{DISP_COUNT}", &DISP_COUNT.to_string())
            .replace("{MAX_POW_LEN}", &MAX_POW_LEN.to_string()),
    );
    s
}

/// The MDS layer plus round constants, `mds_rc(s, r)`, unrolled for `arith`.
fn mds(arith: Arith) -> String {
    // Row i of the circulant: t[i] = Σ_j C[(i - j) mod 16] · s[j].
    let coeff = |i: usize, j: usize| MDS_FIRST_COLUMN[(i + 16 - j) % 16];
    let mut out = String::new();
    out.push_str("fn mds_rc(s: array<W, 16>, r: u32) -> array<W, 16> {\n");
    out.push_str("    var t: array<W, 16>;\n");
    match arith {
        Arith::U64 => {
            for j in 0..16 {
                let _ = writeln!(
                    out,
                    "    let l{j} = s[{j}] & M32; let h{j} = s[{j}] >> 32u;"
                );
            }
            for i in 0..16 {
                let _ = writeln!(out, "    {{");
                let _ = writeln!(out, "    let k = rc(16u * r + {i}u);");
                let lo: Vec<String> = (0..16)
                    .map(|j| format!("{}lu * l{j}", coeff(i, j)))
                    .collect();
                let hi: Vec<String> = (0..16)
                    .map(|j| format!("{}lu * h{j}", coeff(i, j)))
                    .collect();
                let _ = writeln!(out, "    let al = (k & M32) + {};", lo.join(" + "));
                let _ = writeln!(out, "    let ah = (k >> 32u) + {};", hi.join(" + "));
                let _ = writeln!(out, "    t[{i}] = fold(al, ah);");
                let _ = writeln!(out, "    }}");
            }
        }
        Arith::U32 => {
            for j in 0..16 {
                let _ = writeln!(
                    out,
                    "    let q{j} = pieces(s[{j}]); let a{j} = q{j}[0]; let b{j} = q{j}[1]; \
                     let c{j} = q{j}[2]; let d{j} = q{j}[3]; let e{j} = q{j}[4]; let f{j} = q{j}[5];"
                );
            }
            for i in 0..16 {
                let _ = writeln!(out, "    {{");
                let _ = writeln!(out, "    let k = pieces(rc(16u * r + {i}u));");
                let mut sums = Vec::new();
                for (p, name) in ["a", "b", "c", "d", "e", "f"].iter().enumerate() {
                    let terms: Vec<String> = (0..16)
                        .map(|j| format!("{}u * {name}{j}", coeff(i, j)))
                        .collect();
                    let _ = writeln!(out, "    let s{p} = k[{p}] + {};", terms.join(" + "));
                    sums.push(format!("s{p}"));
                }
                let _ = writeln!(out, "    t[{i}] = fold6({});", sums.join(", "));
                let _ = writeln!(out, "    }}");
            }
        }
    }
    out.push_str("    return t;\n}\n\n");
    out
}

/// Field helpers on native `u64` words.
const PRELUDE_U64: &str = r#"
alias W = u64;
const P: u64 = 0xFFFFFFFF00000001lu;
const EPS: u64 = 0xFFFFFFFFlu;
const M32: u64 = 0xFFFFFFFFlu;
const R2: u64 = 0xFFFFFFFE00000001lu;

fn w_make(lo: u32, hi: u32) -> W { return (u64(hi) << 32u) | u64(lo); }
fn w_lo(x: W) -> u32 { return u32(x & M32); }
fn w_hi(x: W) -> u32 { return u32(x >> 32u); }
fn w_zero() -> W { return 0lu; }
fn w_eps() -> W { return EPS; }
fn w_lt(a: W, b: W) -> bool { return a < b; }
fn w_eq(a: W, b: W) -> bool { return a == b; }
fn canon(x: W) -> W { return select(x, x - P, x >= P); }

// a + b for canonical a, b: a wrap past 2^64 is worth 2^64 mod p = EPS.
fn add(a: W, b: W) -> W {
    var s = a + b;
    if (s < a) { s = s + EPS; }
    return canon(s);
}

// lo + hi·2^64 reduced (any lo, hi): 2^64 ≡ EPS, 2^96 ≡ -1.
fn reduce128(lo: W, hi: W) -> W {
    let hh = hi >> 32u;
    let hl = hi & M32;
    var t0 = lo - hh;
    if (lo < hh) { t0 = t0 - EPS; }
    let t1 = hl * EPS;
    var r = t0 + t1;
    if (r < t1) { r = r + EPS; }
    return canon(r);
}

fn mul(a: W, b: W) -> W {
    let a0 = a & M32; let a1 = a >> 32u;
    let b0 = b & M32; let b1 = b >> 32u;
    let ll = a0 * b0; let lh = a0 * b1; let hl = a1 * b0; let hh = a1 * b1;
    let mid = lh + hl;
    let mc = select(0lu, 0x100000000lu, mid < lh);
    let lo = ll + (mid << 32u);
    let lc = select(0lu, 1lu, lo < ll);
    return reduce128(lo, hh + (mid >> 32u) + mc + lc);
}

fn sqr(a: W) -> W {
    let a0 = a & M32; let a1 = a >> 32u;
    let ll = a0 * a0; let lh = a0 * a1; let hh = a1 * a1;
    let mid = lh << 1u;
    let mc = (lh >> 63u) << 32u;
    let lo = ll + (mid << 32u);
    let lc = select(0lu, 1lu, lo < ll);
    return reduce128(lo, hh + (mid >> 32u) + mc + lc);
}

// al + ah·2^32 reduced, for al, ah < 2^54 (the MDS sums).
fn fold(al: W, ah: W) -> W {
    let lo = al + (ah << 32u);
    let c = select(0lu, 1lu, lo < al);
    let hi = (ah >> 32u) + c;
    let t = hi * EPS;
    var r = lo + t;
    if (r < t) { r = r + EPS; }
    return canon(r);
}

// i + x for a canonical limb x and a small i: (sum mod p, carry).
fn add_index(x: W, i: u32) -> vec2<u64> {
    let s = x + u64(i);
    if (s < x) { return vec2<u64>(s + EPS, 1lu); }
    if (s >= P) { return vec2<u64>(s - P, 1lu); }
    return vec2<u64>(s, 0lu);
}
fn carry_of(v: vec2<u64>) -> bool { return v.y != 0lu; }
fn value_of(v: vec2<u64>) -> W { return v.x; }
fn inc(x: W) -> W { return canon(x + 1lu); }
"#;

/// Field helpers on `vec2<u32>` words (x = low 32 bits, y = high 32 bits).
const PRELUDE_U32: &str = r#"
alias W = vec2<u32>;
const P = vec2<u32>(1u, 0xFFFFFFFFu);
const EPS = vec2<u32>(0xFFFFFFFFu, 0u);
const R2 = vec2<u32>(1u, 0xFFFFFFFEu);

fn w_make(lo: u32, hi: u32) -> W { return vec2<u32>(lo, hi); }
fn w_lo(x: W) -> u32 { return x.x; }
fn w_hi(x: W) -> u32 { return x.y; }
fn w_zero() -> W { return vec2<u32>(0u, 0u); }
fn w_eps() -> W { return EPS; }
fn w_lt(a: W, b: W) -> bool { return a.y < b.y || (a.y == b.y && a.x < b.x); }
fn w_eq(a: W, b: W) -> bool { return a.x == b.x && a.y == b.y; }

// 64-bit wrapping add / sub, with the carry / borrow out.
fn add64(a: W, b: W) -> vec3<u32> {
    let lo = a.x + b.x;
    let c0 = select(0u, 1u, lo < a.x);
    let h1 = a.y + b.y;
    let c1 = select(0u, 1u, h1 < a.y);
    let hi = h1 + c0;
    let c2 = select(0u, 1u, hi < h1);
    return vec3<u32>(lo, hi, c1 + c2);
}
fn sub64(a: W, b: W) -> vec3<u32> {
    let lo = a.x - b.x;
    let b0 = select(0u, 1u, a.x < b.x);
    let h1 = a.y - b.y;
    let b1 = select(0u, 1u, a.y < b.y);
    let hi = h1 - b0;
    let b2 = select(0u, 1u, h1 < b0);
    return vec3<u32>(lo, hi, b1 + b2);
}
// x - p when x >= p: p = 2^64 - 2^32 + 1, so x - p = x + 2^32 - 1 (mod 2^64).
fn canon(x: W) -> W {
    if (x.y == 0xFFFFFFFFu && x.x >= 1u) { return vec2<u32>(x.x - 1u, 0u); }
    return x;
}

fn add(a: W, b: W) -> W {
    let s = add64(a, b);
    var r = s.xy;
    if (s.z != 0u) { r = add64(r, EPS).xy; }
    return canon(r);
}

// 32×32 → 64 from 16-bit halves.
fn mul32(a: u32, b: u32) -> W {
    let a0 = a & 0xFFFFu; let a1 = a >> 16u;
    let b0 = b & 0xFFFFu; let b1 = b >> 16u;
    let ll = a0 * b0; let lh = a0 * b1; let hl = a1 * b0; let hh = a1 * b1;
    let mid = lh + hl;
    let mc = select(0u, 0x10000u, mid < lh);
    let lo = ll + (mid << 16u);
    let lc = select(0u, 1u, lo < ll);
    return vec2<u32>(lo, hh + (mid >> 16u) + mc + lc);
}

// w0 + w1·2^32 + w2·2^64 + w3·2^96 reduced: 2^64 ≡ EPS, 2^96 ≡ -1.
fn reduce128(w0: u32, w1: u32, w2: u32, w3: u32) -> W {
    let d = sub64(vec2<u32>(w0, w1), vec2<u32>(w3, 0u));
    var t0 = d.xy;
    if (d.z != 0u) { t0 = sub64(t0, EPS).xy; }
    // t1 = w2·(2^32 - 1) = w2·2^32 - w2.
    var t1 = vec2<u32>(0u, 0u);
    if (w2 != 0u) { t1 = vec2<u32>(0u - w2, w2 - 1u); }
    let s = add64(t0, t1);
    var r = s.xy;
    if (s.z != 0u) { r = add64(r, EPS).xy; }
    return canon(r);
}

fn mul(a: W, b: W) -> W {
    let ll = mul32(a.x, b.x); let lh = mul32(a.x, b.y);
    let hl = mul32(a.y, b.x); let hh = mul32(a.y, b.y);
    // Column 1: ll.y + lh.x + hl.x; column 2: lh.y + hl.y + hh.x + carries; column 3: hh.y.
    let m = add64(lh, hl); // the middle product, up to 65 bits
    let w1a = ll.y + m.x;
    let c1 = select(0u, 1u, w1a < ll.y);
    let w2a = hh.x + m.y;
    let c2 = select(0u, 1u, w2a < hh.x);
    let w2 = w2a + c1;
    let c3 = select(0u, 1u, w2 < w2a);
    let w3 = hh.y + m.z + c2 + c3;
    return reduce128(ll.x, w1a, w2, w3);
}

fn sqr(a: W) -> W { return mul(a, a); }

// Six 12-bit pieces of a word (the last one 4 bits).
fn pieces(x: W) -> array<u32, 6> {
    return array<u32, 6>(
        x.x & 0xFFFu,
        (x.x >> 12u) & 0xFFFu,
        (x.x >> 24u) | ((x.y & 0xFu) << 8u),
        (x.y >> 4u) & 0xFFFu,
        (x.y >> 16u) & 0xFFFu,
        x.y >> 28u);
}

// Σ s_k·2^(12k) reduced, each s_k < 2^32 (the MDS column sums): a 92-bit number in three words.
fn fold6(s0: u32, s1: u32, s2: u32, s3: u32, s4: u32, s5: u32) -> W {
    // Bits: s0 at 0, s1 at 12, s2 at 24, s3 at 36, s4 at 48, s5 at 60.
    var v = add64(vec2<u32>(s0, 0u), vec2<u32>(s1 << 12u, s1 >> 20u));
    var hi = v.z;
    v = add64(v.xy, vec2<u32>(s2 << 24u, s2 >> 8u)); hi = hi + v.z;
    v = add64(v.xy, vec2<u32>(0u, s3 << 4u)); hi = hi + v.z + (s3 >> 28u);
    v = add64(v.xy, vec2<u32>(0u, s4 << 16u)); hi = hi + v.z + (s4 >> 16u);
    v = add64(v.xy, vec2<u32>(0u, s5 << 28u)); hi = hi + v.z + (s5 >> 4u);
    return reduce128(v.x, v.y, hi, 0u);
}

// i + x for a canonical limb x and a small i: (sum mod p, carry).
fn add_index(x: W, i: u32) -> vec3<u32> {
    let s = add64(x, vec2<u32>(i, 0u));
    if (s.z != 0u) { return vec3<u32>(add64(s.xy, EPS).xy, 1u); }
    if (!w_lt(s.xy, P)) { return vec3<u32>(sub64(s.xy, P).xy, 1u); }
    return vec3<u32>(s.xy, 0u);
}
fn carry_of(v: vec3<u32>) -> bool { return v.z != 0u; }
fn value_of(v: vec3<u32>) -> W { return v.xy; }
fn inc(x: W) -> W { return canon(add64(x, vec2<u32>(1u, 0u)).xy); }
"#;

/// The Tip5 pipeline and entry points, written against the helpers above.
const COMMON: &str = r#"
@group(0) @binding(0) var<storage, read> consts: array<u32>;
@group(0) @binding(1) var<storage, read> job: array<u32>;
@group(0) @binding(2) var<storage, read> disp: array<u32>;
@group(0) @binding(3) var<storage, read_write> outbuf: array<atomic<u32>>;

var<workgroup> lut: array<u32, 256>;

fn rc(i: u32) -> W { return w_make(consts[2u * i], consts[2u * i + 1u]); }
fn job_w(i: u32) -> W { return w_make(job[i], job[i + 1u]); }
fn disp_w(i: u32) -> W { return w_make(disp[i], disp[i + 1u]); }
fn job_digest(at: u32) -> array<W, 5> {
    return array<W, 5>(job_w(at), job_w(at + 2u), job_w(at + 4u), job_w(at + 6u), job_w(at + 8u));
}

fn lut4(v: u32) -> u32 {
    return lut[v & 0xFFu]
        | (lut[(v >> 8u) & 0xFFu] << 8u)
        | (lut[(v >> 16u) & 0xFFu] << 16u)
        | (lut[v >> 24u] << 24u);
}
fn lookup(x: W) -> W { return w_make(lut4(w_lo(x)), lut4(w_hi(x))); }
fn pow7(x: W) -> W {
    let x2 = sqr(x);
    let x3 = mul(x2, x);
    let x4 = sqr(x2);
    return mul(x3, x4);
}

fn permute(s_in: array<W, 16>) -> array<W, 16> {
    var s = s_in;
    for (var r = 0u; r < 7u; r = r + 1u) {
        s[0] = lookup(s[0]); s[1] = lookup(s[1]); s[2] = lookup(s[2]); s[3] = lookup(s[3]);
        s[4] = pow7(s[4]); s[5] = pow7(s[5]); s[6] = pow7(s[6]); s[7] = pow7(s[7]);
        s[8] = pow7(s[8]); s[9] = pow7(s[9]); s[10] = pow7(s[10]); s[11] = pow7(s[11]);
        s[12] = pow7(s[12]); s[13] = pow7(s[13]); s[14] = pow7(s[14]); s[15] = pow7(s[15]);
        s = mds_rc(s, r);
    }
    return s;
}

// hash_10(l ++ r): capacity montify(1), one permutation.
fn ten(l: array<W, 5>, r: array<W, 5>) -> array<W, 5> {
    var s: array<W, 16>;
    for (var k = 0u; k < 5u; k = k + 1u) { s[k] = l[k]; s[k + 5u] = r[k]; }
    for (var k = 10u; k < 16u; k = k + 1u) { s[k] = w_eps(); }
    s = permute(s);
    return array<W, 5>(s[0], s[1], s[2], s[3], s[4]);
}

// The raw (Montgomery) version-5 digest of a raw nonce (nockchain-pow.md §4.1).
fn v5_digest(nonce: array<W, 5>) -> array<W, 5> {
    let c = job_digest({JOB_COMMITMENT}u);
    let len = job[{JOB_POW_LEN}u];

    // Puzzle sponge: absorb(c ++ n) = the block [c n], then the pad block [1 0 …].
    var s: array<W, 16>;
    for (var k = 0u; k < 5u; k = k + 1u) { s[k] = c[k]; s[k + 5u] = nonce[k]; }
    for (var k = 10u; k < 16u; k = k + 1u) { s[k] = w_zero(); }
    s = permute(s);
    s[0] = w_eps();
    for (var k = 1u; k < 10u; k = k + 1u) { s[k] = w_zero(); }
    s = permute(s);

    // tog.belts(len), skipping the permutation after the last squeeze.
    var leaves: array<W, {MAX_POW_LEN}>;
    var produced = 0u;
    loop {
        let take = min(len - produced, 10u);
        for (var k = 0u; k < take; k = k + 1u) { leaves[produced + k] = s[k]; }
        produced = produced + take;
        if (produced >= len) { break; }
        s = permute(s);
    }

    // Hp = hash_varlen([len+1] ++ reverse(leaves) ++ [0] ++ [0,1]·len), padded 1 then 0s.
    let total = 3u * len + 2u;
    let blocks = total / 10u + 1u;
    var h: array<W, 16>;
    for (var k = 0u; k < 16u; k = k + 1u) { h[k] = w_zero(); }
    var i = 0u;
    for (var b = 0u; b < blocks; b = b + 1u) {
        for (var k = 0u; k < 10u; k = k + 1u) {
            var w = w_zero();
            if (i == 0u) {
                w = job_w({JOB_LEN_PLUS_ONE}u);
            } else if (i <= len) {
                w = leaves[len - i];
            } else if (i > len + 1u && i < total) {
                if (((i - len - 2u) & 1u) == 1u) { w = w_eps(); }
            } else if (i == total) {
                w = w_eps();
            }
            h[k] = w;
            i = i + 1u;
        }
        h = permute(h);
    }
    let hp = array<W, 5>(h[0], h[1], h[2], h[3], h[4]);

    // o = ten(H(%puzzle), ten(c, ten(n, ten(H(len), Hp)))).
    let r1 = ten(job_digest({JOB_H_LEN}u), hp);
    let r2 = ten(nonce, r1);
    let r3 = ten(c, r2);
    let o = ten(job_digest({JOB_H_PUZZLE}u), r3);

    // d = hash_varlen(o): one block [o, 1, 0, 0, 0, 0] with zero capacity.
    var t: array<W, 16>;
    for (var k = 0u; k < 16u; k = k + 1u) { t[k] = w_zero(); }
    for (var k = 0u; k < 5u; k = k + 1u) { t[k] = o[k]; }
    t[5] = w_eps();
    t = permute(t);
    let d = array<W, 5>(t[0], t[1], t[2], t[3], t[4]);

    // pow = ten(H(%zkpow-v5), d).
    return ten(job_digest({JOB_H_TAG}u), d);
}

fn montify(x: W) -> W { return mul(x, EPS); }
fn demont(x: W) -> W { return mul(x, R2); }

// digest <= target, both canonical base-p digits, most significant first.
fn meets(d: array<W, 5>, t: array<W, 5>) -> bool {
    for (var k = 0; k < 5; k = k + 1) {
        let j = 4 - k;
        if (!w_eq(d[j], t[j])) { return w_lt(d[j], t[j]); }
    }
    return true;
}

fn load_lut(lid: u32) {
    for (var k = lid; k < 256u; k = k + {WG}u) { lut[k] = consts[{CONSTS_LUT}u + k]; }
    workgroupBarrier();
}

fn invocation(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * {WG}u;
}

// Nonce i of the dispatch: counter base + i in limbs 0-2 (base p), lane, prefix. Every digest
// <= target appends i to outbuf[1..] (outbuf[0] counts them).
@compute @workgroup_size({WG})
fn search(@builtin(global_invocation_id) gid: vec3<u32>,
          @builtin(local_invocation_index) lid: u32,
          @builtin(num_workgroups) nwg: vec3<u32>) {
    load_lut(lid);
    let i = invocation(gid, nwg);
    if (i >= disp[{DISP_COUNT}u]) { return; }
    let a0 = add_index(disp_w({DISP_COUNTER}u), i);
    var l1 = disp_w({DISP_COUNTER}u + 2u);
    var l2 = disp_w({DISP_COUNTER}u + 4u);
    if (carry_of(a0)) {
        l1 = inc(l1);
        if (w_eq(l1, w_zero())) { l2 = inc(l2); }
    }
    let nonce = array<W, 5>(montify(value_of(a0)), montify(l1), montify(l2),
                            disp_w({DISP_LANE}u), disp_w({DISP_PREFIX}u));
    let raw = v5_digest(nonce);
    let d = array<W, 5>(demont(raw[0]), demont(raw[1]), demont(raw[2]), demont(raw[3]), demont(raw[4]));
    let t = array<W, 5>(disp_w({DISP_TARGET}u), disp_w({DISP_TARGET}u + 2u), disp_w({DISP_TARGET}u + 4u),
                        disp_w({DISP_TARGET}u + 6u), disp_w({DISP_TARGET}u + 8u));
    if (meets(d, t)) {
        let slot = atomicAdd(&outbuf[0], 1u);
        atomicStore(&outbuf[1u + slot], i);
    }
}

// disp = [count, nonces as canonical (low, high) × 5 …]; outbuf = digests, canonical, same layout.
@compute @workgroup_size({WG})
fn digests(@builtin(global_invocation_id) gid: vec3<u32>,
           @builtin(local_invocation_index) lid: u32,
           @builtin(num_workgroups) nwg: vec3<u32>) {
    load_lut(lid);
    let i = invocation(gid, nwg);
    if (i >= disp[0]) { return; }
    let at = 1u + 10u * i;
    let nonce = array<W, 5>(montify(disp_w(at)), montify(disp_w(at + 2u)), montify(disp_w(at + 4u)),
                            montify(disp_w(at + 6u)), montify(disp_w(at + 8u)));
    let raw = v5_digest(nonce);
    for (var k = 0u; k < 5u; k = k + 1u) {
        let d = demont(raw[k]);
        atomicStore(&outbuf[10u * i + 2u * k], w_lo(d));
        atomicStore(&outbuf[10u * i + 2u * k + 1u], w_hi(d));
    }
}

// disp = [count, raw states (low, high) × 16 …]; outbuf = the permuted raw states.
@compute @workgroup_size({WG})
fn permutations(@builtin(global_invocation_id) gid: vec3<u32>,
                @builtin(local_invocation_index) lid: u32,
                @builtin(num_workgroups) nwg: vec3<u32>) {
    load_lut(lid);
    let i = invocation(gid, nwg);
    if (i >= disp[0]) { return; }
    var s: array<W, 16>;
    for (var k = 0u; k < 16u; k = k + 1u) { s[k] = disp_w(1u + 32u * i + 2u * k); }
    s = permute(s);
    for (var k = 0u; k < 16u; k = k + 1u) {
        atomicStore(&outbuf[32u * i + 2u * k], w_lo(s[k]));
        atomicStore(&outbuf[32u * i + 2u * k + 1u], w_hi(s[k]));
    }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_paths_parse_and_validate() {
        // naga is what wgpu runs on the source: a module that fails here fails on every GPU.
        for arith in [Arith::U64, Arith::U32] {
            let src = source(arith, 64);
            let module = match naga::front::wgsl::parse_str(&src) {
                Ok(m) => m,
                Err(e) => panic!("{arith:?}: {}", e.emit_to_string(&src)),
            };
            let caps = match arith {
                Arith::U64 => naga::valid::Capabilities::SHADER_INT64,
                Arith::U32 => naga::valid::Capabilities::empty(),
            };
            let mut validator =
                naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps);
            if let Err(e) = validator.validate(&module) {
                panic!("{arith:?}: {}", e.emit_to_string(&src));
            }
        }
    }

    #[test]
    fn consts_layout() {
        let words = consts_words();
        assert_eq!(words.len(), CONSTS_WORDS);
        assert_eq!(words[CONSTS_LUT + 1], 7); // LOOKUP[1] = (2^3 - 1) mod 257
        assert_eq!(
            u64::from(words[0]) | (u64::from(words[1]) << 32),
            ROUND_CONSTANTS_MONT[0]
        );
    }
}
