//! v1 note first-names of a public key hash: how a wallet finds the notes (every coinbase
//! since the v1 cut-over) paid to a v1 address.
//!
//! Read from Nockchain's `hoon/common/tx-engine-1.hoon` (`++first-name` `++v1` `++simple` /
//! `++coinbase`, `++nname` `++first`, `++lock` `++hash`, `++spend-condition`,
//! `++lock-primitive`, `++pkh`, `++tim`) and `tx-engine.hoon` (`++coinbase` `++make-name`),
//! with the `hashable` rules of `nockchain-tip5.md` §5.5:
//!
//! - `first-name = H([leaf+%.y hash+lock-root])` with `%.y = 0`;
//! - a one-spend-condition lock's root is the hash of the spend-condition, an AND-list of lock
//!   primitives hashed as a null-terminated list `[p1 [p2 … leaf+~]]`;
//! - `[%pkh m=1 {pkh}]` hashes as `[leaf+%pkh [leaf+1 [hash+pkh [leaf+~ leaf+~]]]]` (a one-element
//!   z-set is the treap node `[pkh ~ ~]`);
//! - the coinbase timelock `[%tim rel=[min=[~ 100] max=~] abs=[~ ~]]` hashes as
//!   `[leaf+%tim [[[leaf+~ leaf+100] leaf+~] [leaf+~ leaf+~]]]`;
//! - simple lock: `~[pkh-primitive]`; coinbase lock: `~[pkh-primitive tim-primitive]`.
//!
//! **Status: pinned by upstream data.** Nockchain's `crates/nockchain-types/jams/v1/raw-tx.jam`
//! (a real v1 transaction) spends a note whose first-name is `first(root)` of a lock whose
//! spend-condition (`%pkh` 2-of-2, `%tim`, `%hax`) sits at axis 6 under that root. The test
//! `upstream_raw_tx_pins_the_derivation` (numbers copied from that jam) recomputes both the
//! first-name and the lock's Merkle root with the functions below, so `first`, the
//! spend-condition list, the `%pkh` set tree, the timelock units and the `%hax` set are all
//! exact. The coinbase timelock value is the mainnet constant (`tx-engine-0.hoon`
//! `coinbase-timelock-min=100`; fakenets may override it).

use nockpool_core::{Digest, PubkeyHash};
use nockpool_pow::field::Belt;
use nockpool_pow::tip5::{hash_atom, hash_ten};

/// `coinbase-timelock-min` on mainnet: coinbase notes are spendable 100 blocks after their
/// block (`nockchain-node.md` §5.6). Fakenets may use another value.
pub const COINBASE_TIMELOCK_MIN: u64 = 100;

/// The term `%pkh` as an atom.
const PKH_TAG: u64 = 0x0068_6b70;
/// The term `%tim` as an atom.
const TIM_TAG: u64 = 0x006d_6974;
/// The term `%hax` as an atom.
#[cfg(test)]
const HAX_TAG: u64 = 0x0078_6168;

fn leaf(atom: u64) -> Digest {
    hash_atom(Belt::from_reduced(atom))
}

/// The hashable of a z-set node `[n l r]` of hashes: `[hash+n [l r]]`, where `l` and `r` are
/// the hashables of the subtrees (an empty subtree is `leaf+~`).
fn hash_set_node(n: &Digest, left: &Digest, right: &Digest) -> Digest {
    hash_ten(n, &hash_ten(left, right))
}

/// A one-element z-set `[n ~ ~]`.
fn singleton_set(n: &Digest) -> Digest {
    hash_set_node(n, &leaf(0), &leaf(0))
}

/// `[leaf+%pkh [leaf+m <set>]]`
fn pkh_primitive(m: u64, key_hash_set: &Digest) -> Digest {
    hash_ten(&leaf(PKH_TAG), &hash_ten(&leaf(m), key_hash_set))
}

/// A `(unit page-number)`: `~` is `leaf+~`, `[~ x]` is `[leaf+~ leaf+x]`.
fn unit(value: Option<u64>) -> Digest {
    match value {
        None => leaf(0),
        Some(x) => hash_ten(&leaf(0), &leaf(x)),
    }
}

/// `[leaf+%tim [[rel.min rel.max] [abs.min abs.max]]]`
fn tim_primitive(relative: [Option<u64>; 2], absolute: [Option<u64>; 2]) -> Digest {
    let rel = hash_ten(&unit(relative[0]), &unit(relative[1]));
    let abs = hash_ten(&unit(absolute[0]), &unit(absolute[1]));
    hash_ten(&leaf(TIM_TAG), &hash_ten(&rel, &abs))
}

/// Hash of a spend-condition (a null-terminated list of lock-primitive hashes).
fn spend_condition(primitives: &[Digest]) -> Digest {
    primitives
        .iter()
        .rev()
        .fold(leaf(0), |tail, head| hash_ten(head, &tail))
}

fn first_from_lock_root(root: &Digest) -> Digest {
    hash_ten(&leaf(0), root)
}

/// The first-name of notes locked to `pkh` alone (1-of-1 `%pkh`: ordinary payments).
pub fn simple_first_name(pkh: &PubkeyHash) -> Digest {
    first_from_lock_root(&spend_condition(&[pkh_primitive(
        1,
        &singleton_set(pkh.digest()),
    )]))
}

/// The first-name of coinbase notes paid to `pkh` (1-of-1 `%pkh` plus the coinbase timelock
/// of `timelock_min` blocks; [`COINBASE_TIMELOCK_MIN`] on mainnet).
pub fn coinbase_first_name(pkh: &PubkeyHash, timelock_min: u64) -> Digest {
    first_from_lock_root(&spend_condition(&[
        pkh_primitive(1, &singleton_set(pkh.digest())),
        tim_primitive([Some(timelock_min), None], [None, None]),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nockpool_pow::tip5::hash_varlen;

    fn digest(limbs: [u64; 5]) -> Digest {
        Digest::new(limbs).unwrap()
    }

    /// `verify-merk-proof` (`ztd/three.hoon`): walk from `leaf` at `axis` up to the root.
    fn merkle_root(mut node: Digest, mut axis: u64, path: &[Digest]) -> Digest {
        for sibling in path {
            node = if axis.is_multiple_of(2) {
                hash_ten(&node, sibling)
            } else {
                hash_ten(sibling, &node)
            };
            axis /= 2;
        }
        assert_eq!(axis, 1, "the path must end at the root");
        node
    }

    /// Numbers copied from Nockchain's `crates/nockchain-types/jams/v1/raw-tx.jam`
    /// (nockchain/nockchain @ fe4f5870): its one spend's input name, and the lock Merkle proof
    /// of its witness. The spend-condition there is
    /// `~[[%pkh 2 {A B}] [%tim [[~ 3] [~ 10]] [[~ 20] ~]] [%hax {C}]]` with the key set stored
    /// as the treap `[A [B ~ ~] ~]`.
    #[test]
    fn upstream_raw_tx_pins_the_derivation() {
        let name_first = digest([
            3959101660502818671,
            5020433115498837750,
            2607135882991865306,
            7610034479945918379,
            12942109755971480507,
        ]);
        let root = digest([
            12691353346044832584,
            8447289323609887619,
            5173434872708704648,
            4119400627316540623,
            30169165228984468,
        ]);
        let path = [
            digest([
                9745243358509556691,
                8223376617470446824,
                5885270580327057233,
                15028475013790149205,
                15709030580395846423,
            ]),
            digest([
                18231555041488428999,
                5063297683814298723,
                5930591443922689894,
                7724548256996479859,
                11211780738083075004,
            ]),
        ];
        let key_a = digest([
            543149788962390314,
            721078100452639152,
            16585971094341488514,
            15831442877483523809,
            14127503608102816476,
        ]);
        let key_b = digest([
            12696043615878285193,
            16927946419948962234,
            3851260535850437318,
            15300936572322608038,
            3624263391829638464,
        ]);
        let hax_c = digest([
            16785379601631247389,
            2179603895581968552,
            10663218803911448892,
            7358299147384080207,
            8679899688497318522,
        ]);

        // The note's first-name is `first` of its lock root.
        assert_eq!(first_from_lock_root(&root), name_first);

        // The spend-condition's hash, walked up the proof from axis 6, is that root.
        let keys = hash_set_node(&key_a, &singleton_set(&key_b), &leaf(0));
        let condition = spend_condition(&[
            pkh_primitive(2, &keys),
            tim_primitive([Some(3), Some(10)], [Some(20), None]),
            hash_ten(&leaf(HAX_TAG), &singleton_set(&hax_c)),
        ]);
        assert_eq!(merkle_root(condition, 6, &path), root);
        // A wrong timelock breaks it: the check can fail.
        let altered = spend_condition(&[
            pkh_primitive(2, &keys),
            tim_primitive([Some(3), Some(11)], [Some(20), None]),
            hash_ten(&leaf(HAX_TAG), &singleton_set(&hax_c)),
        ]);
        assert_ne!(merkle_root(altered, 6, &path), root);
    }

    #[test]
    fn terms_are_little_endian_cords() {
        assert_eq!(PKH_TAG, u64::from_le_bytes(*b"pkh\0\0\0\0\0"));
        assert_eq!(TIM_TAG, u64::from_le_bytes(*b"tim\0\0\0\0\0"));
        assert_eq!(HAX_TAG, u64::from_le_bytes(*b"hax\0\0\0\0\0"));
    }

    #[test]
    fn leaves_are_one_atom_nouns() {
        // hash-noun-varlen of an atom x = hash_varlen([1, x]) (nockchain-tip5.md §5.5).
        assert_eq!(leaf(7).to_limbs(), hash_varlen(&[1, 7]));
    }

    #[test]
    fn simple_and_coinbase_names_differ_and_depend_on_the_timelock() {
        let pkh: PubkeyHash = "9yPePjfWAdUnzaQKyxcRXKRa5PpUzKKEwtpECBZsUYt9Jd7egSDEWoV"
            .parse()
            .unwrap();
        let simple = simple_first_name(&pkh);
        let coinbase = coinbase_first_name(&pkh, COINBASE_TIMELOCK_MIN);
        assert_ne!(simple, coinbase);
        assert_ne!(coinbase, coinbase_first_name(&pkh, 1));
        // Spelled out once by hand, as the hashable tree of `tx-engine-1.hoon` nests it.
        let l0 = leaf(0);
        let pkh_p = hash_ten(
            &leaf(PKH_TAG),
            &hash_ten(&leaf(1), &hash_ten(pkh.digest(), &hash_ten(&l0, &l0))),
        );
        assert_eq!(simple, hash_ten(&l0, &hash_ten(&pkh_p, &l0)));
    }
}
