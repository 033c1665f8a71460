//! A block's id, computed the way the node computes it from the block's proof
//! (`nockchain-pow.md` §2, §4; `nockchain-tip5.md` §5.5), so the pool can tell whether a
//! `%liar-block-id` effect names *its* block or a peer's.
//!
//! `block-id = hash-hashable([[leaf+~ hash+P] block-commitment-hashable])`; the commitment
//! part hashes to the candidate's commitment `C`, so `id = ten(ten(H(0), P), C)`, where `P`
//! is the proof's hash:
//! - proof versions %0–%2: `P = hash-proof(proof)` — Tip5 over the digests of **all** proof
//!   objects. Checked against the real fakenet genesis pages (their ids are in the pages).
//! - %3 / %5: `P = hash-hashable([leaf %zkblk-v3|%zkblk-v5, leaf version, hash D, list hashes,
//!   leaf read-index])` (`hash-proof-for-block`, `four.hoon` @ 22de1f1a, a 2026 draft). **The
//!   final form is unconfirmed**: that draft hashes all objects into `D`, while the later
//!   017-anthropos text says the block id binds "the version and the object-0 mining
//!   projection", i.e. `D` over object 0 only (the objects the PoW digest covers). So
//!   [`possible_block_ids`] returns every candidate; an id that matches none of them is not
//!   taken as ours, and the pool waits for the real outcome (the page at the block's height).
//!   A false match would need a Tip5 collision.

use nockpool_core::noun::Noun;
use nockpool_core::Digest;
use nockpool_pow::field::Belt;
use nockpool_pow::tip5::{hash_atom, hash_ten, try_hash_varlen, Sponge};

/// Proof objects the PoW digest covers before version %5 (`pow-items` in `four.hoon`).
const POW_ITEMS_BEFORE_V5: usize = 7;

/// The ids the node may give a block with this proof (`[version objects hashes read-index]`)
/// and block commitment, most likely first (see the module docs): for proof versions %0–%2 the
/// one known rule; for %3 / %5 the 2026 draft's rule (all objects), the object-0 ("mining
/// projection") variant, and the untagged form. Empty when the proof is not one the node could
/// hash (an object it does not know, an atom that is not a field element).
///
/// ```
/// use nockpool_core::noun::Noun;
/// use nockpool_core::Digest;
/// use nockpool_nockchain::possible_block_ids;
///
/// let puzzle = Noun::tuple([
///     Noun::cord("puzzle"),
///     Noun::belts(&[1, 2, 3, 4, 5]),
///     Noun::belts(&[6, 7, 8, 9, 10]),
///     Noun::atom(2),
///     Noun::list([Noun::atom(11), Noun::atom(12)]),
/// ]);
/// let proof = Noun::tuple([Noun::atom(5), Noun::list([puzzle]), Noun::ZERO, Noun::ZERO]);
/// let ids = possible_block_ids(&proof, &Digest::new([1, 2, 3, 4, 5]).unwrap());
/// // A one-object proof: "all objects" and "object 0" agree, so two distinct candidates.
/// assert_eq!(ids.len(), 2);
/// assert!(possible_block_ids(&Noun::atom(7), &Digest::default()).is_empty());
/// ```
pub fn possible_block_ids(proof: &Noun, commitment: &Digest) -> Vec<Digest> {
    let Ok(proof) = ProofParts::read(proof) else {
        return Vec::new();
    };
    let Ok(all) = hash_proof(&proof.objects) else {
        return Vec::new();
    };
    let mut hashes = Vec::new();
    match proof.version {
        0..=2 => hashes.push(all),
        3 | 5 => {
            let tagged = |digest: Digest| proof.tagged(digest);
            hashes.extend(tagged(all));
            let projection = if proof.version == 5 {
                1
            } else {
                POW_ITEMS_BEFORE_V5
            };
            let count = projection.min(proof.objects.len());
            if let Ok(projected) = hash_proof(&proof.objects[..count]) {
                hashes.extend(tagged(projected));
            }
            hashes.push(all);
        }
        _ => return Vec::new(),
    }
    let mut ids: Vec<Digest> = Vec::new();
    for p in hashes {
        let id = block_id(&p, commitment);
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// `ten(ten(H(0), proof_hash), commitment)`: the id of a page whose proof hashes to
/// `proof_hash` (`++hashable-digest`).
fn block_id(proof_hash: &Digest, commitment: &Digest) -> Digest {
    hash_ten(&hash_ten(&hash_atom(Belt::ZERO), proof_hash), commitment)
}

/// A proof `[version objects hashes read-index]`, taken apart.
struct ProofParts<'a> {
    version: u64,
    objects: Vec<&'a Noun>,
    hashes: &'a Noun,
    read_index: u64,
}

impl<'a> ProofParts<'a> {
    fn read(proof: &'a Noun) -> Result<ProofParts<'a>, String> {
        let [version, objects, hashes, read_index] = proof
            .as_tuple()
            .ok_or("proof is not [version objects hashes read-index]")?;
        Ok(ProofParts {
            version: version
                .as_u64()
                .ok_or("proof version is not a small atom")?,
            objects: objects.as_list().ok_or("proof objects are not a list")?,
            hashes,
            read_index: read_index
                .as_u64()
                .ok_or("read-index is not a small atom")?,
        })
    }

    /// `hash-proof-for-block` of %3 / %5 given the objects' `hash-proof` digest.
    fn tagged(&self, proof_digest: Digest) -> Option<Digest> {
        let domain = if self.version == 3 {
            "zkblk-v3"
        } else {
            "zkblk-v5"
        };
        let hashes = hash_noun(self.hashes).ok()?;
        let rest = hash_ten(
            &term(domain).ok()?,
            &hash_ten(
                &leaf(self.version).ok()?,
                &hash_ten(
                    &proof_digest,
                    &hash_ten(&hashes, &leaf(self.read_index).ok()?),
                ),
            ),
        );
        Some(rest)
    }
}

/// `hash-proof`: a fresh sponge absorbs each object's digest separately, then `tog` gives 5
/// belts.
pub(crate) fn hash_proof(objects: &[&Noun]) -> Result<Digest, String> {
    let mut sponge = Sponge::new();
    for object in objects {
        let digest = hash_object(object)?;
        sponge
            .try_absorb(digest.limbs())
            .map_err(|e| e.to_string())?;
    }
    let belts = sponge.into_tog().belts(5);
    let limbs: [u64; 5] = std::array::from_fn(|i| belts[i].value());
    Digest::new(limbs).map_err(|e| e.to_string())
}

/// `hash-hashable(hashable-proof-data(object))` (`four.hoon`).
fn hash_object(object: &Noun) -> Result<Digest, String> {
    let (tag, p) = object.as_cell().ok_or("proof object is an atom")?;
    let name = tag.as_cord().ok_or("proof object tag is not a term")?;
    let digest = |noun: &Noun| {
        noun.as_digest()
            .ok_or_else(|| format!("%{name}: not a 5-belt digest: {noun}"))
    };
    let with_tag = |label: &str, rest: Digest| Ok(hash_ten(&term(label)?, &rest));
    match name.as_str() {
        "m-root" => with_tag("m-root", digest(p)?),
        "puzzle" => {
            let [commitment, nonce, len, product] = p
                .as_tuple()
                .ok_or("%puzzle is not [commitment nonce len p]")?;
            let rest = hash_ten(
                &digest(commitment)?,
                &hash_ten(
                    &digest(nonce)?,
                    &hash_ten(&hash_noun(len)?, &hash_noun(product)?),
                ),
            );
            with_tag("puzzle", rest)
        }
        "comp-m" => {
            let [root, num] = p.as_tuple().ok_or("%comp-m is not [root num]")?;
            with_tag("comp-m", hash_ten(&digest(root)?, &hash_noun(num)?))
        }
        "heights" => with_tag("heights", hash_noun(p)?),
        "codeword" | "evals" => with_tag(&name, hash_mary(3, p)?),
        "terms" | "poly" => with_tag(&name, hash_mary(1, p)?),
        // The node hashes %m-path under the term %m-mpath (`hashable-proof-data`).
        "m-path" | "m-pathbf" => {
            let (poly, path) = p.as_cell().ok_or("merkle path is not [leaf path]")?;
            let step = if name == "m-path" { 3 } else { 1 };
            let label = if name == "m-path" {
                "m-mpath"
            } else {
                "m-pathbf"
            };
            with_tag(label, hash_ten(&hash_mary(step, poly)?, &hash_noun(path)?))
        }
        other => Err(format!("unknown proof object %{other}")),
    }
}

/// `hash-hashable` of `[%mary step [len dat]]`: `ten(H(step), ten(H(len), hash_varlen(belts)))`
/// where the belts are the `len·step` 64-bit words of `dat` (whose top bit marks the end).
fn hash_mary(step: u64, array: &Noun) -> Result<Digest, String> {
    let [len, data] = array.as_tuple().ok_or("array is not [len dat]")?;
    let len = len.as_u64().ok_or("array length is not a small atom")?;
    let words = len
        .checked_mul(step)
        .and_then(|w| usize::try_from(w).ok())
        .ok_or("array too long")?;
    let bytes = data.to_le_bytes().ok_or("array data is a cell")?;
    if bytes.len() > (words + 1) * 8 {
        return Err("array data is longer than its length says".into());
    }
    let belts: Vec<u64> = (0..words)
        .map(|i| {
            let mut word = [0u8; 8];
            let start = (i * 8).min(bytes.len());
            let end = (start + 8).min(bytes.len());
            word[..end - start].copy_from_slice(&bytes[start..end]);
            u64::from_le_bytes(word)
        })
        .collect();
    let data_hash = try_hash_varlen(&belts).map_err(|e| e.to_string())?;
    Ok(hash_ten(&leaf(step)?, &hash_ten(&leaf(len)?, &data_hash)))
}

/// `H(x)` of a small atom.
fn leaf(value: u64) -> Result<Digest, String> {
    Belt::new(value)
        .map(hash_atom)
        .map_err(|_| format!("{value} is not a field element"))
}

/// `H(%term)`.
fn term(text: &str) -> Result<Digest, String> {
    Noun::cord(text)
        .as_u64()
        .ok_or_else(|| format!("%{text} is wider than a belt"))
        .and_then(leaf)
}

/// `hash-noun-varlen`: `hash_varlen([len(leaves)] ++ leaves ++ dyck)`; every atom must be a
/// field element. Iterative (proof lists are long).
fn hash_noun(noun: &Noun) -> Result<Digest, String> {
    enum Step<'a> {
        Visit(&'a Noun),
        Between,
    }
    let mut leaves = Vec::new();
    let mut dyck = Vec::new();
    let mut stack = vec![Step::Visit(noun)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Between => dyck.push(1),
            Step::Visit(n) => match n.as_cell() {
                Some((head, tail)) => {
                    dyck.push(0);
                    stack.push(Step::Visit(tail));
                    stack.push(Step::Between);
                    stack.push(Step::Visit(head));
                }
                None => leaves.push(n.as_u64().ok_or("an atom wider than 64 bits")?),
            },
        }
    }
    let mut input = Vec::with_capacity(1 + leaves.len() + dyck.len());
    input.push(leaves.len() as u64);
    input.extend(leaves);
    input.extend(dyck);
    try_hash_varlen(&input).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nockpool_core::noun::cue;
    use std::path::PathBuf;

    /// A file of `../shared/spec` (absent outside the full checkout layout: the test then says
    /// so and passes, as nockpool-pow's fixture tests do).
    fn spec_file(name: &str) -> Option<Vec<u8>> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/spec")
            .join(name);
        match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(_) => {
                eprintln!("NOTICE: skipping: {} not readable", path.display());
                None
            }
        }
    }

    /// The proof `[version objects hashes read-index]` of a page noun (v0 or v1).
    fn proof_of(page: &Noun) -> Noun {
        let body = match page.as_cell() {
            Some((tag, rest)) if tag.as_u64() == Some(1) => rest,
            _ => page,
        };
        let pow = body
            .tail()
            .and_then(Noun::head)
            .expect("page is [digest pow …]");
        pow.tail().expect("pow is [~ proof]").clone()
    }

    /// Recomputes a real page's id from its own proof and compares it with the id it carries.
    fn check_page(page: &Noun) -> Noun {
        let id = crate::nouns::summarize_page(page).expect("a page").block_id;
        let proof = proof_of(page);
        let objects = proof.as_tuple::<4>().unwrap()[1].as_list().unwrap();
        // Object 0 carries the block commitment (`check-pow-puzzle` enforces it).
        let commitment = objects[0].as_tuple::<5>().unwrap()[1].as_digest().unwrap();
        assert_eq!(proof.head().and_then(Noun::as_u64), Some(0), "a %0 proof");
        assert_eq!(possible_block_ids(&proof, &commitment), vec![id]);
        proof
    }

    fn vector_digest(value: &serde_json::Value) -> Digest {
        let limbs: Vec<u64> = value
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        Digest::new(limbs.try_into().unwrap()).unwrap()
    }

    #[test]
    fn genesis_page_id_recomputed_from_its_proof() {
        let Some(jam) = spec_file("fixtures/fakenet-genesis-pow-64-bex-2.jam") else {
            return;
        };
        let proof = check_page(&cue(&jam).unwrap());
        // The Python reference's `full_proof_digest` and `block_id` of the same page
        // (`tip5-vectors.json`, nockchain-tip5.md §7).
        let Some(text) = spec_file("tip5-vectors.json") else {
            return;
        };
        let vectors: serde_json::Value = serde_json::from_slice(&text).unwrap();
        let case = vectors["pow_fixtures_v0_genesis"]["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["fixture"].as_str().unwrap().ends_with("64-bex-2.jam"))
            .unwrap();
        let objects = proof.as_tuple::<4>().unwrap()[1].as_list().unwrap();
        assert_eq!(
            hash_proof(&objects).unwrap(),
            vector_digest(&case["full_proof_digest"])
        );
        assert_eq!(
            possible_block_ids(&proof, &vector_digest(&case["block_commitment"])),
            vec![vector_digest(&case["block_id"])]
        );
    }

    #[test]
    fn heavy_n_peek_pages_ids_recomputed_from_their_proofs() {
        for name in [
            "prover-fixtures/fakenet-v0-len64-h1.peek.jam",
            "prover-fixtures/fakenet-v0-len2-h5.peek.jam",
        ] {
            let Some(jam) = spec_file(name) else {
                return;
            };
            let answer = crate::nouns::unwrap_peek(cue(&jam).unwrap()).unwrap();
            check_page(&answer.into_value().expect("a page"));
        }
    }

    #[test]
    fn unknown_objects_wide_atoms_and_other_versions_give_no_ids() {
        let proof = |version: u64, object: Noun| {
            Noun::tuple([
                Noun::atom(version),
                Noun::list([object]),
                Noun::ZERO,
                Noun::ZERO,
            ])
        };
        let c = Digest::new([1, 2, 3, 4, 5]).unwrap();
        let unknown = Noun::tuple([Noun::cord("nope"), Noun::ZERO]);
        assert!(possible_block_ids(&proof(5, unknown), &c).is_empty());
        let wide = Noun::tuple([
            Noun::cord("heights"),
            Noun::list([Noun::from_le_bytes(&[0xff; 9])]),
        ]);
        assert!(possible_block_ids(&proof(5, wide), &c).is_empty());
        let root = Noun::tuple([Noun::cord("m-root"), Noun::belts(&[1, 2, 3, 4, 5])]);
        // %4 (an AI block) and unknown versions are never a block of ours.
        assert!(possible_block_ids(&proof(4, root.clone()), &c).is_empty());
        assert!(possible_block_ids(&proof(6, root.clone()), &c).is_empty());
        // %5: tagged (all objects = object 0 here) and untagged; %2: one rule.
        let v5 = possible_block_ids(&proof(5, root.clone()), &c);
        assert_eq!(v5.len(), 2);
        let v2 = possible_block_ids(&proof(2, root), &c);
        assert_eq!(v2.len(), 1);
        assert_eq!(v2[0], v5[1], "the untagged %5 candidate is the legacy rule");
        // Another commitment gives other ids.
        let other = Digest::new([1, 2, 3, 4, 6]).unwrap();
        assert!(
            possible_block_ids(
                &proof(
                    2,
                    Noun::tuple([Noun::cord("m-root"), Noun::belts(&[1, 2, 3, 4, 5])])
                ),
                &other
            )[0] != v2[0]
        );
    }
}
