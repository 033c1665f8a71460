//! Nock nouns and Nockchain's `jam`/`cue` serialization.
//!
//! A [`Noun`] is an atom (an unsigned integer of any size) or a cell (an ordered pair of
//! nouns). Nouns are immutable and shared: cloning one is cheap, and a noun decoded by [`cue`]
//! keeps the sharing its backreferences describe, so a small hostile jam cannot expand into a
//! huge tree in memory.
//!
//! Nothing here recurses on the shape of a noun: encoding, decoding, comparison, printing and
//! dropping all use explicit stacks, so a deep noun cannot overflow the thread's stack.
//!
//! The bit format follows `nockchain-node.md` §4.2; [`jam`] makes the same backreference
//! choices as Nockchain's own jam, so `jam(cue(x)) == x` for every jam Nockchain produced
//! (ignoring trailing zero padding).
//!
//! ```
//! use nockpool_core::noun::{cue, jam, Noun};
//!
//! // [%command %enable-mining %.y]
//! let poke = Noun::tuple([
//!     Noun::cord("command"),
//!     Noun::cord("enable-mining"),
//!     Noun::loobean(true),
//! ]);
//! let bytes = jam(&poke);
//! assert_eq!(cue(&bytes).unwrap(), poke);
//! let [tag, _, rest] = poke.as_tuple().unwrap();
//! assert!(tag.is_cord("command"));
//! assert_eq!(rest.as_loobean(), Some(true));
//! ```

mod codec;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::{Digest, Target, DIGEST_LEN};

pub use codec::{cue, cue_with_limits, jam, CueFailure, CueLimits};

/// A Nock noun: an atom or a cell. Cheap to clone (shared, reference counted).
#[derive(Clone)]
pub struct Noun(Repr);

#[derive(Clone)]
enum Repr {
    /// An atom that fits in 64 bits.
    Small(u64),
    /// An atom of more than 64 bits (its minimal little-endian bytes, longer than 8).
    Big(Arc<BigAtom>),
    Cell(Arc<CellData>),
}

struct BigAtom {
    bytes: Box<[u8]>,
    mug: u64,
}

struct CellData {
    head: Noun,
    tail: Noun,
    mug: u64,
}

/// Frees a deep noun iteratively: a cell whose last reference goes away hands its children to a
/// loop instead of dropping them recursively.
impl Drop for CellData {
    fn drop(&mut self) {
        let mut pending: Vec<Arc<CellData>> = Vec::new();
        for child in [&mut self.head, &mut self.tail] {
            if let Repr::Cell(_) = child.0 {
                if let Repr::Cell(cell) = std::mem::take(child).0 {
                    pending.push(cell);
                }
            }
        }
        while let Some(cell) = pending.pop() {
            if let Some(mut owned) = Arc::into_inner(cell) {
                for child in [&mut owned.head, &mut owned.tail] {
                    if let Repr::Cell(_) = child.0 {
                        if let Repr::Cell(grandchild) = std::mem::take(child).0 {
                            pending.push(grandchild);
                        }
                    }
                }
                // `owned` now holds two atoms; dropping it does not recurse.
            }
        }
    }
}

/// splitmix64's finalizer: a cheap, well-mixed 64-bit hash step.
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const fn small_mug(v: u64) -> u64 {
    mix(v ^ 0x5bd1_e995_a7c3_3f21)
}

fn bytes_mug(bytes: &[u8]) -> u64 {
    let mut h = 0x243f_6a88_85a3_08d3u64 ^ bytes.len() as u64;
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = mix(h ^ u64::from_le_bytes(word));
    }
    h
}

fn cell_mug(head: u64, tail: u64) -> u64 {
    mix(head.rotate_left(23) ^ tail.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x13198a2e03707344)
}

impl Default for Noun {
    /// The atom `0` (`~`, `%.y`).
    fn default() -> Self {
        Noun::ZERO
    }
}

impl Noun {
    /// The atom `0`, which is also `~` (null) and `%.y` (yes).
    pub const ZERO: Noun = Noun(Repr::Small(0));

    /// An atom from a `u64`.
    pub const fn atom(value: u64) -> Noun {
        Noun(Repr::Small(value))
    }

    /// An atom from little-endian bytes (trailing zero bytes are ignored).
    pub fn from_le_bytes(bytes: &[u8]) -> Noun {
        let len = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        let bytes = &bytes[..len];
        if len <= 8 {
            let mut word = [0u8; 8];
            word[..len].copy_from_slice(bytes);
            return Noun(Repr::Small(u64::from_le_bytes(word)));
        }
        Noun(Repr::Big(Arc::new(BigAtom {
            mug: bytes_mug(bytes),
            bytes: bytes.into(),
        })))
    }

    /// The cell `[head tail]`.
    pub fn cell(head: Noun, tail: Noun) -> Noun {
        let mug = cell_mug(head.mug(), tail.mug());
        Noun(Repr::Cell(Arc::new(CellData { head, tail, mug })))
    }

    /// The right-nested tuple `[a b c …]` = `[a [b [c …]]]` (no null terminator).
    ///
    /// One item gives that item itself; no items give `0`.
    pub fn tuple<I>(items: I) -> Noun
    where
        I: IntoIterator<Item = Noun>,
        I::IntoIter: DoubleEndedIterator,
    {
        let mut iter = items.into_iter().rev();
        let Some(last) = iter.next() else {
            return Noun::ZERO;
        };
        iter.fold(last, |tail, head| Noun::cell(head, tail))
    }

    /// The null-terminated list `~[a b c]` = `[a [b [c 0]]]`.
    pub fn list<I>(items: I) -> Noun
    where
        I: IntoIterator<Item = Noun>,
        I::IntoIter: DoubleEndedIterator,
    {
        items
            .into_iter()
            .rev()
            .fold(Noun::ZERO, |tail, head| Noun::cell(head, tail))
    }

    /// A cord or term (`'text'`, `%tag`): the atom whose little-endian bytes are the UTF-8 text.
    pub fn cord(text: &str) -> Noun {
        Noun::from_le_bytes(text.as_bytes())
    }

    /// A loobean: `%.y` (yes) is `0`, `%.n` (no) is `1`.
    pub const fn loobean(yes: bool) -> Noun {
        Noun::atom(if yes { 0 } else { 1 })
    }

    /// A unit: `~` for `None`, `[~ x]` for `Some(x)`.
    pub fn unit(value: Option<Noun>) -> Noun {
        match value {
            None => Noun::ZERO,
            Some(v) => Noun::cell(Noun::ZERO, v),
        }
    }

    /// A bignum `[%bn (list u32)]`: 32-bit limbs, least significant first.
    pub fn bignum(limbs: &[u32]) -> Noun {
        Noun::cell(
            Noun::cord("bn"),
            Noun::list(limbs.iter().map(|&l| Noun::atom(l as u64))),
        )
    }

    /// A target as Nockchain writes it: `[%bn (list u32)]`.
    pub fn target(target: &Target) -> Noun {
        Noun::bignum(&target.to_bn_limbs())
    }

    /// A five-belt tuple `[a b c d e]` (digests, commitments, nonces, pkhs).
    pub fn belts(limbs: &[u64; DIGEST_LEN]) -> Noun {
        Noun::tuple(limbs.iter().map(|&l| Noun::atom(l)))
    }

    /// Whether this noun is an atom.
    pub fn is_atom(&self) -> bool {
        !self.is_cell()
    }

    /// Whether this noun is a cell.
    pub fn is_cell(&self) -> bool {
        matches!(self.0, Repr::Cell(_))
    }

    /// The atom's value, if this is an atom that fits in 64 bits.
    pub fn as_u64(&self) -> Option<u64> {
        match self.0 {
            Repr::Small(v) => Some(v),
            _ => None,
        }
    }

    /// The atom's minimal little-endian bytes (empty for `0`), if this is an atom.
    pub fn to_le_bytes(&self) -> Option<Vec<u8>> {
        match &self.0 {
            Repr::Small(v) => {
                let bytes = v.to_le_bytes();
                let len = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                Some(bytes[..len].to_vec())
            }
            Repr::Big(big) => Some(big.bytes.to_vec()),
            Repr::Cell(_) => None,
        }
    }

    /// The number of significant bits of an atom (`0` for the atom `0`), if this is an atom.
    pub fn bit_len(&self) -> Option<u64> {
        match &self.0 {
            Repr::Small(v) => Some(64 - v.leading_zeros() as u64),
            Repr::Big(big) => Some(big_bit_len(&big.bytes)),
            Repr::Cell(_) => None,
        }
    }

    /// Head and tail, if this is a cell.
    pub fn as_cell(&self) -> Option<(&Noun, &Noun)> {
        match &self.0 {
            Repr::Cell(c) => Some((&c.head, &c.tail)),
            _ => None,
        }
    }

    /// The head, if this is a cell.
    pub fn head(&self) -> Option<&Noun> {
        self.as_cell().map(|(h, _)| h)
    }

    /// The tail, if this is a cell.
    pub fn tail(&self) -> Option<&Noun> {
        self.as_cell().map(|(_, t)| t)
    }

    /// Splits a right-nested tuple into `N` parts: `[a b c]` as `[a, b, c]`; the last part is
    /// whatever remains (`[a b c d]` as three parts gives `[a, b, [c d]]`). `None` if the noun
    /// has fewer than `N` parts. `N = 0` gives `None`.
    pub fn as_tuple<const N: usize>(&self) -> Option<[&Noun; N]> {
        if N == 0 {
            return None;
        }
        let mut parts: [&Noun; N] = [self; N];
        let mut rest = self;
        for slot in parts.iter_mut().take(N - 1) {
            let (h, t) = rest.as_cell()?;
            *slot = h;
            rest = t;
        }
        parts[N - 1] = rest;
        Some(parts)
    }

    /// The items of a null-terminated list `~[a b c]`; `None` if this is not one.
    pub fn as_list(&self) -> Option<Vec<&Noun>> {
        let mut items = Vec::new();
        let mut rest = self;
        loop {
            match &rest.0 {
                Repr::Cell(c) => {
                    items.push(&c.head);
                    rest = &c.tail;
                }
                Repr::Small(0) => return Some(items),
                _ => return None,
            }
        }
    }

    /// The atom's bytes as UTF-8 text (a cord or term), if this is such an atom.
    pub fn as_cord(&self) -> Option<String> {
        String::from_utf8(self.to_le_bytes()?).ok()
    }

    /// Whether this is the atom whose bytes are `text` (e.g. `noun.is_cord("mine-zk")`).
    pub fn is_cord(&self, text: &str) -> bool {
        let bytes = text.as_bytes();
        match &self.0 {
            Repr::Small(v) => {
                bytes.len() <= 8 && {
                    let mut word = [0u8; 8];
                    word[..bytes.len()].copy_from_slice(bytes);
                    *v == u64::from_le_bytes(word) && bytes.last() != Some(&0)
                }
            }
            Repr::Big(big) => &*big.bytes == bytes,
            Repr::Cell(_) => false,
        }
    }

    /// The value of a loobean (`0` is yes, `1` is no).
    pub fn as_loobean(&self) -> Option<bool> {
        match self.0 {
            Repr::Small(0) => Some(true),
            Repr::Small(1) => Some(false),
            _ => None,
        }
    }

    /// The limbs of a bignum `[%bn (list u32)]` (least significant first); `None` if the noun
    /// is not one or a limb does not fit in 32 bits.
    pub fn as_bignum(&self) -> Option<Vec<u32>> {
        let (tag, list) = self.as_cell()?;
        if !tag.is_cord("bn") {
            return None;
        }
        list.as_list()?
            .into_iter()
            .map(|limb| limb.as_u64().and_then(|v| u32::try_from(v).ok()))
            .collect()
    }

    /// A target from a bignum `[%bn (list u32)]` (values above `p⁵ − 1` clamp to the maximum).
    pub fn as_target(&self) -> Option<Target> {
        Target::from_bn_limbs(&self.as_bignum()?).ok()
    }

    /// The five atoms of a five-belt tuple `[a b c d e]`, each fitting in 64 bits (not checked
    /// against p; see [`Noun::as_digest`]).
    pub fn as_belts(&self) -> Option<[u64; DIGEST_LEN]> {
        let parts: [&Noun; DIGEST_LEN] = self.as_tuple()?;
        let mut out = [0u64; DIGEST_LEN];
        for (slot, part) in out.iter_mut().zip(parts) {
            *slot = part.as_u64()?;
        }
        Some(out)
    }

    /// A five-belt tuple as a [`Digest`]; `None` unless every limb is `< p`.
    pub fn as_digest(&self) -> Option<Digest> {
        Digest::new(self.as_belts()?).ok()
    }

    /// The noun's structural hash (equal nouns have equal mugs). Not Urbit's `mug`.
    fn mug(&self) -> u64 {
        match &self.0 {
            Repr::Small(v) => small_mug(*v),
            Repr::Big(big) => big.mug,
            Repr::Cell(c) => c.mug,
        }
    }
}

pub(crate) fn big_bit_len(bytes: &[u8]) -> u64 {
    match bytes.last() {
        None => 0,
        Some(&top) => 8 * (bytes.len() as u64 - 1) + (8 - top.leading_zeros() as u64),
    }
}

impl From<u64> for Noun {
    fn from(value: u64) -> Noun {
        Noun::atom(value)
    }
}

impl From<(Noun, Noun)> for Noun {
    fn from((head, tail): (Noun, Noun)) -> Noun {
        Noun::cell(head, tail)
    }
}

impl PartialEq for Noun {
    /// Structural equality, without recursion; shared subtrees compare in constant time, and
    /// pairs of cells already compared are remembered, so two separately built DAGs compare in
    /// time linear in their number of distinct cells (not in their size as trees).
    fn eq(&self, other: &Noun) -> bool {
        /// Cell pairs compared before the memo is worth allocating.
        const MEMO_AFTER: usize = 64;
        let mut pending: Vec<(&Noun, &Noun)> = vec![(self, other)];
        let mut cells_seen = 0usize;
        let mut memo: Option<std::collections::HashSet<(usize, usize)>> = None;
        while let Some((a, b)) = pending.pop() {
            match (&a.0, &b.0) {
                (Repr::Small(x), Repr::Small(y)) => {
                    if x != y {
                        return false;
                    }
                }
                (Repr::Big(x), Repr::Big(y)) => {
                    if !Arc::ptr_eq(x, y) && (x.mug != y.mug || x.bytes != y.bytes) {
                        return false;
                    }
                }
                (Repr::Cell(x), Repr::Cell(y)) => {
                    if Arc::ptr_eq(x, y) {
                        continue;
                    }
                    if x.mug != y.mug {
                        return false;
                    }
                    cells_seen += 1;
                    if cells_seen > MEMO_AFTER {
                        let key = (Arc::as_ptr(x) as usize, Arc::as_ptr(y) as usize);
                        if !memo.get_or_insert_with(Default::default).insert(key) {
                            continue;
                        }
                    }
                    pending.push((&x.tail, &y.tail));
                    pending.push((&x.head, &y.head));
                }
                _ => return false,
            }
        }
        true
    }
}

impl Eq for Noun {}

impl Hash for Noun {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.mug());
    }
}

/// Longest text [`fmt::Display`] writes for one noun before cutting it off with `…`.
const DISPLAY_LIMIT: usize = 4096;

impl fmt::Display for Noun {
    /// Hoon-like text: atoms in decimal (hex above 64 bits; `%term`/`'cord'` when their bytes
    /// are printable text), `[a b c]` for right-nested cells. Long output is cut off after a
    /// few thousand characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        enum Task<'a> {
            Noun(&'a Noun),
            Tail(&'a Noun),
            Text(&'static str),
        }
        let mut written = 0usize;
        let mut tasks = vec![Task::Noun(self)];
        while let Some(task) = tasks.pop() {
            if written > DISPLAY_LIMIT {
                return f.write_str("…");
            }
            let noun = match task {
                Task::Text(s) => {
                    written += s.len();
                    f.write_str(s)?;
                    continue;
                }
                Task::Noun(n) => {
                    if let Some((h, t)) = n.as_cell() {
                        f.write_str("[")?;
                        tasks.push(Task::Text("]"));
                        tasks.push(Task::Tail(t));
                        tasks.push(Task::Text(" "));
                        tasks.push(Task::Noun(h));
                        written += 1;
                        continue;
                    }
                    n
                }
                Task::Tail(n) => {
                    if let Some((h, t)) = n.as_cell() {
                        tasks.push(Task::Tail(t));
                        tasks.push(Task::Text(" "));
                        tasks.push(Task::Noun(h));
                        continue;
                    }
                    n
                }
            };
            let text = match &noun.0 {
                Repr::Small(v) if *v > 0xff => {
                    match text_like(&noun.to_le_bytes().unwrap_or_default()) {
                        Some(text) => text,
                        None => v.to_string(),
                    }
                }
                Repr::Small(v) => v.to_string(),
                Repr::Big(big) => {
                    let hex: String = big.bytes.iter().rev().map(|b| format!("{b:02x}")).collect();
                    format!("0x{}", hex.trim_start_matches('0'))
                }
                Repr::Cell(_) => String::new(),
            };
            written += text.len();
            f.write_str(&text)?;
        }
        Ok(())
    }
}

/// `%term` or `'cord'` for an atom whose bytes are printable ASCII (for logs; an atom has no
/// type, so a number whose bytes happen to be printable prints as text too).
fn text_like(bytes: &[u8]) -> Option<String> {
    if bytes.len() < 2 || !bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let term = text
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    Some(if term {
        format!("%{text}")
    } else {
        format!("'{text}'")
    })
}

impl fmt::Debug for Noun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_and_matchers() {
        let t = Noun::tuple([Noun::atom(1), Noun::atom(2), Noun::atom(3)]);
        assert_eq!(t.to_string(), "[1 2 3]");
        let [a, b, c] = t.as_tuple().unwrap();
        assert_eq!(
            (a.as_u64(), b.as_u64(), c.as_u64()),
            (Some(1), Some(2), Some(3))
        );
        let [a, rest] = t.as_tuple().unwrap();
        assert_eq!(a.as_u64(), Some(1));
        assert_eq!(rest.to_string(), "[2 3]");
        assert!(t.as_tuple::<4>().is_none());
        assert!(t.as_list().is_none());

        let l = Noun::list([Noun::atom(7), Noun::atom(8)]);
        assert_eq!(l.to_string(), "[7 8 0]");
        let items: Vec<u64> = l
            .as_list()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .collect();
        assert_eq!(items, [7, 8]);
        assert_eq!(Noun::ZERO.as_list().unwrap().len(), 0);

        let term = Noun::cord("mine-zk");
        assert_eq!(term.as_u64(), Some(0x6b7a2d656e696d));
        assert!(term.is_cord("mine-zk"));
        assert!(!term.is_cord("mine"));
        assert_eq!(term.as_cord().as_deref(), Some("mine-zk"));
        let long = Noun::cord("mine-result");
        assert!(long.is_cord("mine-result"));
        assert_eq!(long.bit_len(), Some(8 * 10 + 7));

        let bn = Noun::bignum(&[1, u32::MAX]);
        assert_eq!(bn.as_bignum(), Some(vec![1, u32::MAX]));
        assert!(
            Noun::cell(Noun::cord("bn"), Noun::list([Noun::atom(1 << 32)]))
                .as_bignum()
                .is_none()
        );

        let d = Noun::belts(&[1, 2, 3, 4, 5]);
        assert_eq!(d.as_belts(), Some([1, 2, 3, 4, 5]));
        assert!(Noun::belts(&[1, 2, 3, 4, u64::MAX]).as_digest().is_none());
        assert_eq!(Noun::loobean(true).as_loobean(), Some(true));
        assert_eq!(Noun::loobean(false).as_loobean(), Some(false));
        assert_eq!(Noun::unit(Some(Noun::atom(5))).to_string(), "[0 5]");
        let path = Noun::list([Noun::cord("heavy-n"), Noun::atom(42)]);
        assert_eq!(path.to_string(), "[%heavy-n 42 0]");
        assert_eq!(Noun::cord("NOCK").to_string(), "'NOCK'");
    }

    #[test]
    fn atoms_are_canonical() {
        assert_eq!(Noun::from_le_bytes(&[5, 0, 0]), Noun::atom(5));
        assert_eq!(Noun::from_le_bytes(&[]), Noun::ZERO);
        let big = Noun::from_le_bytes(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 0]);
        assert_eq!(big.to_le_bytes().unwrap(), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(big.as_u64(), None);
        assert_eq!(big.to_string(), "0x90807060504030201");
        assert_ne!(big, Noun::atom(1));
    }

    #[test]
    fn deep_nouns_drop_compare_and_print_without_recursion() {
        let mut a = Noun::ZERO;
        let mut b = Noun::ZERO;
        for i in 0..1_000_000u64 {
            a = Noun::cell(a, Noun::atom(i));
            b = Noun::cell(b, Noun::atom(i));
        }
        assert_eq!(a, b);
        assert!(a.to_string().ends_with('…'));
        drop(a);
        drop(b);
    }
}
