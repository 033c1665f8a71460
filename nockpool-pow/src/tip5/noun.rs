//! `hash-noun-varlen` (`nockchain-tip5.md` §5.5) over nouns whose atoms are field elements.

use nockpool_core::Digest;

use super::hash_varlen_canonical;
use crate::field::Belt;

/// A noun whose atoms are all field elements (`< p`), the only nouns Tip5 noun hashing accepts.
///
/// Small trees (points, digests, tuples) are built with [`BeltNoun::cell`],
/// [`BeltNoun::tuple`] and friends; for long lists of belts prefer [`hash_belt_list`], which
/// hashes without building the tree.
///
/// ```
/// use nockpool_pow::{field::Belt, tip5::{self, BeltNoun}};
///
/// let b = |v| Belt::new(v).unwrap();
/// // [2 5 0] = ~[2 5] hashes as hash_varlen([3, 2, 5, 0, 0, 1, 0, 1]).
/// let noun = BeltNoun::list(&[b(2), b(5)]);
/// assert_eq!(tip5::hash_noun_varlen(&noun).to_limbs(), tip5::hash_varlen(&[3, 2, 5, 0, 0, 1, 0, 1]));
/// assert_eq!(tip5::hash_belt_list(&[b(2), b(5)]), tip5::hash_noun_varlen(&noun));
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum BeltNoun {
    /// An atom that is a field element.
    Atom(Belt),
    /// A cell `[head tail]`.
    Cell(Box<BeltNoun>, Box<BeltNoun>),
}

impl BeltNoun {
    /// An atom.
    pub fn atom(value: Belt) -> BeltNoun {
        BeltNoun::Atom(value)
    }

    /// The cell `[head tail]`.
    pub fn cell(head: BeltNoun, tail: BeltNoun) -> BeltNoun {
        BeltNoun::Cell(Box::new(head), Box::new(tail))
    }

    /// A null-terminated list `[a b c … 0]` (`~` for an empty slice is the atom 0).
    pub fn list(items: &[Belt]) -> BeltNoun {
        items
            .iter()
            .rev()
            .fold(BeltNoun::Atom(Belt::ZERO), |tail, &item| {
                BeltNoun::cell(BeltNoun::Atom(item), tail)
            })
    }

    /// A right-nested tuple `[a b … z]` (no terminator); a one-element slice is that atom.
    /// `None` for an empty slice.
    pub fn tuple(items: &[Belt]) -> Option<BeltNoun> {
        let (last, init) = items.split_last()?;
        Some(
            init.iter()
                .rev()
                .fold(BeltNoun::Atom(*last), |tail, &item| {
                    BeltNoun::cell(BeltNoun::Atom(item), tail)
                }),
        )
    }

    /// A digest as the 5-tuple noun `[d0 d1 d2 d3 d4]`.
    pub fn digest(digest: &Digest) -> BeltNoun {
        let limbs = digest.limbs();
        let belts: [Belt; 5] = std::array::from_fn(|i| Belt::from_reduced(limbs[i]));
        Self::tuple(&belts).unwrap_or(BeltNoun::Atom(Belt::ZERO))
    }

    /// Depth-first walk: calls `leaf` for each atom (left to right) and `shape` with the dyck
    /// word (0 on entering a cell, 1 between its head and tail). Iterative, so deep lists do
    /// not exhaust the stack.
    fn walk(&self, mut leaf: impl FnMut(Belt), mut shape: impl FnMut(Belt)) {
        enum Step<'a> {
            Visit(&'a BeltNoun),
            Between,
        }
        let mut stack = vec![Step::Visit(self)];
        while let Some(step) = stack.pop() {
            match step {
                Step::Between => shape(Belt::ONE),
                Step::Visit(BeltNoun::Atom(v)) => leaf(*v),
                Step::Visit(BeltNoun::Cell(head, tail)) => {
                    shape(Belt::ZERO);
                    stack.push(Step::Visit(tail));
                    stack.push(Step::Between);
                    stack.push(Step::Visit(head));
                }
            }
        }
    }
}

impl Drop for BeltNoun {
    /// Iterative drop: a long right-nested list would otherwise recurse once per element.
    fn drop(&mut self) {
        let mut pending = Vec::new();
        if let BeltNoun::Cell(head, tail) = self {
            pending.push(std::mem::replace(&mut **head, BeltNoun::Atom(Belt::ZERO)));
            pending.push(std::mem::replace(&mut **tail, BeltNoun::Atom(Belt::ZERO)));
        }
        while let Some(mut node) = pending.pop() {
            if let BeltNoun::Cell(head, tail) = &mut node {
                pending.push(std::mem::replace(&mut **head, BeltNoun::Atom(Belt::ZERO)));
                pending.push(std::mem::replace(&mut **tail, BeltNoun::Atom(Belt::ZERO)));
            }
        }
    }
}

/// The atoms of `noun` in depth-first, left-to-right order (`leaf-sequence`).
pub fn leaf_sequence(noun: &BeltNoun) -> Vec<Belt> {
    let mut leaves = Vec::new();
    noun.walk(|v| leaves.push(v), |_| {});
    leaves
}

/// The dyck word of `noun`'s shape: for each cell `0`, the head's word, `1`, the tail's word.
pub fn dyck(noun: &BeltNoun) -> Vec<Belt> {
    let mut word = Vec::new();
    noun.walk(|_| {}, |b| word.push(b));
    word
}

/// `hash-noun-varlen`: `hash_varlen([len(leaves)] ++ leaves ++ dyck)`.
pub fn hash_noun_varlen(noun: &BeltNoun) -> Digest {
    let mut leaves = Vec::new();
    let mut word = Vec::new();
    noun.walk(|v| leaves.push(v), |b| word.push(b));
    let len = leaves.len() as u64;
    hash_varlen_canonical(
        std::iter::once(len)
            .chain(leaves.iter().map(|b| b.value()))
            .chain(word.iter().map(|b| b.value())),
    )
}

/// `hash-noun-varlen` of the null-terminated list `[a b c … 0]`, computed without building it:
/// `hash_varlen([n + 1] ++ items ++ [0] ++ [0, 1]·n)`.
pub fn hash_belt_list(items: &[Belt]) -> Digest {
    let n = items.len();
    hash_varlen_canonical(
        std::iter::once(n as u64 + 1)
            .chain(items.iter().map(|b| b.value()))
            .chain(std::iter::once(0))
            .chain((0..2 * n).map(|i| (i % 2) as u64)),
    )
}

/// `hash-noun-varlen` of one atom: `hash_varlen([1, x])` (the spec's `H(x)`, e.g. `H(%puzzle)`
/// with the term read as a little-endian cord).
pub fn hash_atom(value: Belt) -> Digest {
    hash_varlen_canonical([1, value.value()].into_iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: u64) -> Belt {
        Belt::new(v).unwrap()
    }

    #[test]
    fn shapes() {
        let list = BeltNoun::list(&[b(2), b(5)]);
        assert_eq!(leaf_sequence(&list), vec![b(2), b(5), b(0)]);
        assert_eq!(dyck(&list), vec![b(0), b(1), b(0), b(1)]);
        let nested = BeltNoun::cell(
            BeltNoun::cell(BeltNoun::atom(b(1)), BeltNoun::atom(b(2))),
            BeltNoun::atom(b(3)),
        );
        assert_eq!(leaf_sequence(&nested), vec![b(1), b(2), b(3)]);
        assert_eq!(dyck(&nested), vec![b(0), b(0), b(1), b(1)]);
        let tuple = BeltNoun::tuple(&[b(1), b(2), b(3), b(4), b(5)]).unwrap();
        assert_eq!(dyck(&tuple), [0, 1, 0, 1, 0, 1, 0, 1].map(b).to_vec());
        assert_eq!(BeltNoun::tuple(&[]), None);
    }

    #[test]
    fn long_list_walk_is_iterative() {
        let items: Vec<Belt> = (0..50_000).map(b).collect();
        let noun = BeltNoun::list(&items);
        assert_eq!(hash_noun_varlen(&noun), hash_belt_list(&items));
        // Dropping a long right-nested list must not recurse (see the Drop impl).
        drop(noun);
    }
}
