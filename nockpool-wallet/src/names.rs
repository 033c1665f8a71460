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
//! **Status: DERIVED, not pinned.** No upstream test vector ties a pkh to its first-names,
//! and the derivation has not been checked against a live node. The Tip5 and `hashable`
//! layers it is built from are pinned by the spec's vectors.

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

fn leaf(atom: u64) -> Digest {
    hash_atom(Belt::from_reduced(atom))
}

/// `[leaf+%pkh [leaf+1 [hash+pkh [leaf+~ leaf+~]]]]`
fn pkh_primitive(pkh: &PubkeyHash) -> Digest {
    let set = hash_ten(pkh.digest(), &hash_ten(&leaf(0), &leaf(0)));
    hash_ten(&leaf(PKH_TAG), &hash_ten(&leaf(1), &set))
}

/// `[leaf+%tim [[[leaf+~ leaf+min] leaf+~] [leaf+~ leaf+~]]]`
fn coinbase_tim_primitive(timelock_min: u64) -> Digest {
    let rel = hash_ten(&hash_ten(&leaf(0), &leaf(timelock_min)), &leaf(0));
    let abs = hash_ten(&leaf(0), &leaf(0));
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
    first_from_lock_root(&spend_condition(&[pkh_primitive(pkh)]))
}

/// The first-name of coinbase notes paid to `pkh` (1-of-1 `%pkh` plus the coinbase timelock
/// of `timelock_min` blocks; [`COINBASE_TIMELOCK_MIN`] on mainnet).
pub fn coinbase_first_name(pkh: &PubkeyHash, timelock_min: u64) -> Digest {
    first_from_lock_root(&spend_condition(&[
        pkh_primitive(pkh),
        coinbase_tim_primitive(timelock_min),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nockpool_pow::tip5::hash_varlen;

    #[test]
    fn terms_are_little_endian_cords() {
        assert_eq!(PKH_TAG, u64::from_le_bytes(*b"pkh\0\0\0\0\0"));
        assert_eq!(TIM_TAG, u64::from_le_bytes(*b"tim\0\0\0\0\0"));
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
