//! The nouns a pool exchanges with a Nockchain node (`nockchain-node.md` §3, §5, §6): peek
//! paths and answers, the configuration pokes, the candidate effect, the prover's cause and the
//! submit poke, what a block page says about its proof, and balance peeks.

use nockpool_core::noun::Noun;
use nockpool_core::{Digest, MiningShare, Nonce, Target};

use crate::balance::{Balance, Note, NoteQuery};

/// The v0 "pass-through" coinbase key Nockchain's own mining driver always sends (§3.4): a
/// node built before v1-only key lists shuts down on an empty v0 list, so the pool sends this
/// entry too. It only receives coinbases below the v1 phase, which mainnet passed long ago.
pub(crate) const V0_PASSTHROUGH_KEY: &str = "2cPnE4Z9RevhTv9is9Hmc1amFubEFbUxzCV2Fxb9GxevJstV5VG92oYt6Sai3d3NjLFcsuVXSLx9hikMbD1agv9M267TVw3hV9MCpMfEnGo5LYtjJ7jPyHg8SERPjJRCWTgZ";

/// The most coinbase recipients the node accepts in one key list (more makes it exit).
pub(crate) const MAX_KEYS_PER_LIST: usize = 2;

/// `[%heavy ~]`: the heaviest block id (liveness probe).
pub(crate) fn peek_heavy() -> Noun {
    Noun::list([Noun::cord("heavy")])
}

/// `[%heaviest-chain ~]`: `[page-number block-id]` of the tip.
pub(crate) fn peek_heaviest_chain() -> Noun {
    Noun::list([Noun::cord("heaviest-chain")])
}

/// `[%heavy-n height ~]`: the page at `height` on the heaviest chain.
pub(crate) fn peek_heavy_n(height: u64) -> Noun {
    Noun::list([Noun::cord("heavy-n"), Noun::atom(height)])
}

/// `[%heaviest-block ~]`: the tip's page (with its proof, ≈100 KB).
pub(crate) fn peek_heaviest_block() -> Noun {
    Noun::list([Noun::cord("heaviest-block")])
}

/// `[%heavy-summary ~]`: `[(each (z-set sig) (z-set hash)) (unit page-summary)]`, the node's
/// current coinbase keys (`%|` and the v1 pkh hashes from the v1 phase on) and the tip's
/// summary (`inner.hoon` `++peek`, upstream fe4f5870 and 22de1f1a).
pub(crate) fn peek_heavy_summary() -> Noun {
    Noun::list([Noun::cord("heavy-summary")])
}

/// The block id in a `[%heavy ~]` answer `(unit block-id)`.
pub(crate) fn heavy_block_id(value: &Noun) -> Option<Digest> {
    match value.as_cell() {
        Some((tag, id)) if tag.as_u64() == Some(0) => id.as_digest(),
        _ => None,
    }
}

/// The v1 key set in a `[%heavy-summary ~]` answer: the pkh hashes of `[[%| set] summary]`.
/// `None` for anything else (`%&`: a node below the v1 phase; another shape: another
/// release), which the caller treats as unknown.
pub(crate) fn summary_v1_keys(value: &Noun) -> Option<Vec<Digest>> {
    let (keys, _summary) = value.as_cell()?;
    let (tag, set) = keys.as_cell()?;
    if tag.as_u64() != Some(1) {
        return None;
    }
    // A z-set is a treap: ~ or [n l r]. Walk it without recursion.
    let mut found = Vec::new();
    let mut stack = vec![set];
    while let Some(tree) = stack.pop() {
        if tree.is_atom() {
            if tree.as_u64() != Some(0) {
                return None;
            }
            continue;
        }
        let [node, left, right] = tree.as_tuple()?;
        found.push(node.as_digest()?);
        if found.len() > 64 {
            return None; // the node allows two; anything like this is not a key set
        }
        stack.push(right);
        stack.push(left);
    }
    Some(found)
}

/// What a peek answered: the node's `(unit (unit value))`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeekAnswer {
    /// `~`: the node does not know the path (an older release, or a typo in the path).
    UnknownPath,
    /// `[~ ~]`: the path is known but has no value now (e.g. a node still syncing).
    Empty,
    /// `[~ ~ value]`.
    Value(Noun),
}

impl PeekAnswer {
    /// The value, if there is one.
    pub fn into_value(self) -> Option<Noun> {
        match self {
            PeekAnswer::Value(value) => Some(value),
            PeekAnswer::UnknownPath | PeekAnswer::Empty => None,
        }
    }
}

/// Reads a peek answer `(unit (unit value))`; `Err` for any other shape.
pub(crate) fn unwrap_peek(answer: Noun) -> Result<PeekAnswer, String> {
    if answer.as_u64() == Some(0) {
        return Ok(PeekAnswer::UnknownPath);
    }
    let shape = |what: &str| Err(format!("peek answer is not {what}: {answer}"));
    let Some([outer, inner]) = answer.as_tuple() else {
        return shape("a unit");
    };
    if outer.as_u64() != Some(0) {
        return shape("a unit");
    }
    if inner.as_u64() == Some(0) {
        return Ok(PeekAnswer::Empty);
    }
    match inner.as_tuple() {
        Some([tag, value]) if tag.as_u64() == Some(0) => Ok(PeekAnswer::Value(value.clone())),
        _ => shape("a (unit (unit *))"),
    }
}

/// Validates the farm's coinbase split against every rule that would make the node exit
/// (§3.4, §5.4): one or two entries, positive shares, each address a based Tip5 hash (the
/// `PubkeyHash` type guarantees the last two).
pub(crate) fn validate_shares(shares: &[MiningShare]) -> Result<(), String> {
    if shares.is_empty() {
        return Err("no mining address: give the farm's v1 address with --pubkey".into());
    }
    if shares.len() > MAX_KEYS_PER_LIST {
        return Err(format!(
            "{} mining addresses given; a Nockchain coinbase pays at most {MAX_KEYS_PER_LIST} \
             (the node shuts down on more)",
            shares.len()
        ));
    }
    if let Some(bad) = shares.iter().find(|s| s.share == 0) {
        return Err(format!("share of {} must be at least 1", bad.address));
    }
    for share in shares {
        // Round-trip the text the node will decode, so a display bug cannot kill the node.
        let text = share.address.to_string();
        let parsed: nockpool_core::PubkeyHash = text
            .parse()
            .map_err(|e| format!("address {text} does not re-parse: {e}"))?;
        if parsed != share.address {
            return Err(format!("address {text} does not round-trip"));
        }
    }
    Ok(())
}

/// `[%command %set-mining-key-advanced v0 v1]`; the shares must have passed
/// [`validate_shares`]. `with_v0_passthrough` adds the v0 entry of [`V0_PASSTHROUGH_KEY`].
pub(crate) fn set_mining_key_poke(shares: &[MiningShare], with_v0_passthrough: bool) -> Noun {
    let v0 = if with_v0_passthrough {
        Noun::list([Noun::tuple([
            Noun::atom(1),
            Noun::atom(1),
            Noun::list([Noun::cord(V0_PASSTHROUGH_KEY)]),
        ])])
    } else {
        Noun::ZERO
    };
    let v1 = Noun::list(
        shares
            .iter()
            .map(|s| Noun::cell(Noun::atom(s.share), Noun::cord(&s.address.to_string()))),
    );
    Noun::tuple([
        Noun::cord("command"),
        Noun::cord("set-mining-key-advanced"),
        v0,
        v1,
    ])
}

/// `[%command %enable-mining %.y]`. There is deliberately no way to build `%.n`: mining is
/// node-wide, and turning it off would stop every other miner sharing the node (upstream's own
/// miner stopped sending it for that reason).
pub(crate) fn enable_mining_poke() -> Noun {
    Noun::tuple([
        Noun::cord("command"),
        Noun::cord("enable-mining"),
        Noun::loobean(true),
    ])
}

/// A decoded `[%mine-zk version commit target pow-len]` effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) version: u64,
    pub(crate) commitment: Digest,
    pub(crate) target: Target,
    /// The target noun exactly as the node sent it (limbs verbatim, for the prover's cause).
    pub(crate) target_noun: Noun,
    pub(crate) pow_len: u64,
}

/// What one effect from the node's stream means to the pool.
#[derive(Clone, Debug)]
pub(crate) enum Effect {
    /// A new block candidate.
    Candidate(Candidate),
    /// `[%mine …]`: a candidate in the 2025 format this pool does not mine.
    OldCandidate,
    /// `[%liar-block-id id reason]`: the node refused a block — any block it heard, a peer's
    /// included; `id` says which.
    LiarBlock {
        /// The refused block's id (`None` if it is not a 5-belt hash).
        id: Option<Digest>,
        /// The node's cause term.
        reason: String,
    },
    /// `[%seen %block id [~ height]]`: the node accepted (or had already seen) a block.
    SeenBlock { height: Option<u64> },
    /// Anything else we subscribed to but do not act on.
    Other(String),
}

/// Decodes one effect noun; `Err` explains a malformed effect.
pub(crate) fn parse_effect(effect: &Noun) -> Result<Effect, String> {
    let Some((head, rest)) = effect.as_cell() else {
        return Err(format!("effect is an atom: {effect}"));
    };
    if head.is_cord("mine-zk") {
        return parse_candidate(rest).map(Effect::Candidate);
    }
    if head.is_cord("mine") {
        return Ok(Effect::OldCandidate);
    }
    if head.is_cord("liar-block-id") {
        let (id, reason) = match rest.as_cell() {
            Some((id, reason)) => (
                id.as_digest(),
                reason.as_cord().unwrap_or_else(|| reason.to_string()),
            ),
            None => (None, rest.to_string()),
        };
        return Ok(Effect::LiarBlock { id, reason });
    }
    if head.is_cord("seen") {
        if let Some([kind, _id, height]) = rest.as_tuple() {
            if kind.is_cord("block") {
                let height = height
                    .as_tuple()
                    .filter(|[tag, _]| tag.as_u64() == Some(0))
                    .and_then(|[_, h]| h.as_u64());
                return Ok(Effect::SeenBlock { height });
            }
        }
        return Ok(Effect::Other("seen".into()));
    }
    Ok(Effect::Other(
        head.as_cord().unwrap_or_else(|| head.to_string()),
    ))
}

fn parse_candidate(rest: &Noun) -> Result<Candidate, String> {
    let [version, commit, target, pow_len] = rest
        .as_tuple()
        .ok_or_else(|| format!("%mine-zk effect has fewer than 4 fields: {rest}"))?;
    let version = version
        .as_u64()
        .ok_or_else(|| format!("%mine-zk version is not a small atom: {version}"))?;
    let commitment = commit
        .as_digest()
        .ok_or_else(|| format!("%mine-zk commitment is not 5 based belts: {commit}"))?;
    let limbs = target
        .as_bignum()
        .ok_or_else(|| format!("%mine-zk target is not [%bn (list u32)]: {target}"))?;
    let target_value =
        Target::from_bn_limbs(&limbs).map_err(|e| format!("%mine-zk target: {e}"))?;
    let pow_len = pow_len
        .as_u64()
        .ok_or_else(|| format!("%mine-zk pow-len is not a small atom: {pow_len}"))?;
    nockpool_core::validate_pow_len(pow_len).map_err(|e| format!("%mine-zk: {e}"))?;
    Ok(Candidate {
        version,
        commitment,
        target: target_value,
        target_noun: target.clone(),
        pow_len,
    })
}

/// The prover's cause `[version commit nonce target pow-len]` (`nockchain-prover.md` §2.2).
pub(crate) fn prover_cause(
    version: u64,
    commitment: &Digest,
    nonce: &Nonce,
    target: &Noun,
    pow_len: u64,
) -> Noun {
    Noun::tuple([
        Noun::atom(version),
        Noun::belts(commitment.limbs()),
        Noun::belts(nonce.limbs()),
        target.clone(),
        Noun::atom(pow_len),
    ])
}

/// A digest as the single atom `d0 + d1·p + … + d4·p⁴` (`tip5-hash-atom`).
pub(crate) fn digest_atom(digest: &Digest) -> Noun {
    Noun::from_le_bytes(&digest.to_u320().to_le_bytes())
}

/// The proof and commitment of a submit poke `[%command %pow %dumb-zkpow prf dig commit
/// nonce]` (to recompute the block's id).
pub(crate) fn submit_poke_proof(poke: &Noun) -> Option<(&Noun, Digest)> {
    let [_, _, _, prf, _, commit, _] = poke.as_tuple()?;
    Some((prf, commit.as_digest()?))
}

/// Checks a prover's submit poke `[%command %pow %dumb-zkpow prf dig commit nonce]` against
/// what was asked (`nockchain-prover.md` §2.5): commitment, nonce, digest, proof version and
/// the proof's puzzle object, whose product `p` must be the pool's own (for %5, computed from
/// the commitment and the winning nonce: a prover that evaluated the puzzle with another nonce
/// — such as the superseded %5 draft's zero nonce — is caught here).
pub(crate) fn check_submit_poke(
    poke: &Noun,
    version: u64,
    commitment: &Digest,
    nonce: &Nonce,
    digest: &Digest,
    pow_len: u64,
) -> Result<(), String> {
    let [command, pow, variant, prf, dig, commit, got_nonce] = poke
        .as_tuple()
        .ok_or("not a 7-part [%command %pow %dumb-zkpow prf dig commit nonce]")?;
    if !command.is_cord("command") || !pow.is_cord("pow") || !variant.is_cord("dumb-zkpow") {
        return Err(format!(
            "head is [{command} {pow} {variant}], not [%command %pow %dumb-zkpow]"
        ));
    }
    if commit.as_belts() != Some(*commitment.limbs()) {
        return Err(format!("commitment {commit} is not the job's {commitment}"));
    }
    if got_nonce.as_belts() != Some(*nonce.limbs()) {
        return Err(format!("nonce {got_nonce} is not the found nonce {nonce}"));
    }
    if *dig != digest_atom(digest) {
        return Err(format!(
            "digest atom {dig} is not the pool's digest {digest}"
        ));
    }
    let [prf_version, objects, _hashes, _read_index] = prf
        .as_tuple()
        .ok_or("proof is not [version objects hashes read-index]")?;
    if prf_version.as_u64() != Some(version) {
        return Err(format!("proof version {prf_version} is not %{version}"));
    }
    let first = objects.head().ok_or("proof has no objects")?;
    let [tag, p_commit, p_nonce, p_len, product] = first
        .as_tuple()
        .ok_or("proof object 0 is not [%puzzle commitment nonce len p]")?;
    if !tag.is_cord("puzzle") {
        return Err(format!("proof object 0 is {tag}, not %puzzle"));
    }
    if p_commit.as_belts() != Some(*commitment.limbs())
        || p_nonce.as_belts() != Some(*nonce.limbs())
        || p_len.as_u64() != Some(pow_len)
    {
        return Err("proof object 0 is for another commitment, nonce or pow-len".into());
    }
    if version == nockpool_pow::v5::VERSION {
        let job = nockpool_pow::v5::V5Job::new(*commitment, pow_len)
            .map_err(|e| format!("cannot compute the puzzle product: {e}"))?;
        let ours = job.trace(nonce).product;
        let theirs = product
            .as_list()
            .ok_or("the puzzle product p in proof object 0 is not a list")?;
        let same = theirs.len() == ours.len()
            && theirs
                .iter()
                .zip(&ours)
                .all(|(t, o)| t.as_u64() == Some(o.value()));
        if !same {
            return Err(format!(
                "the puzzle product p in proof object 0 is not the product of this \
                 commitment and nonce ({} belts; expected {}): the prover evaluated the puzzle \
                 with other input (a draft or mismatched prover release?)",
                theirs.len(),
                ours.len()
            ));
        }
    }
    Ok(())
}

/// What a block page says about who mined it: its height, id and the puzzle's commitment and
/// nonce in proof object 0 (v0 and v1 pages, §5.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PageSummary {
    pub(crate) height: u64,
    pub(crate) block_id: Digest,
    pub(crate) commitment: Option<[u64; 5]>,
    pub(crate) nonce: Option<[u64; 5]>,
}

/// Reads a page noun (`[%1 digest pow …]` or v0 `[digest pow …]`).
pub(crate) fn summarize_page(page: &Noun) -> Option<PageSummary> {
    let body = match page.as_cell() {
        Some((tag, rest)) if tag.as_u64() == Some(1) => rest,
        Some(_) => page,
        None => return None,
    };
    let [digest, pow, _parent, _txs, _coinbase, _ts, _epoch, _target, _work, height, _msg] =
        body.as_tuple()?;
    let block_id = digest.as_digest()?;
    let height = height.as_u64()?;
    let object0 = pow
        .as_tuple()
        .filter(|[tag, _]| tag.as_u64() == Some(0))
        .and_then(|[_, proof]| proof.as_tuple::<4>())
        .and_then(|[_, objects, _, _]| objects.head().cloned());
    let (commitment, nonce) = match object0.as_ref().and_then(|o| o.as_tuple::<5>()) {
        Some([tag, c, n, _, _]) if tag.is_cord("puzzle") => (c.as_belts(), n.as_belts()),
        _ => (None, None),
    };
    Some(PageSummary {
        height,
        block_id,
        commitment,
        nonce,
    })
}

/// The peek path for a balance query: `[%balance-by-pubkey '<b58>' ~]` or
/// `[%balance-by-first-name '<b58>' ~]`.
pub(crate) fn balance_peek_path(query: &NoteQuery) -> Noun {
    let (tag, arg) = match query {
        NoteQuery::Pubkey(key) => ("balance-by-pubkey", key.clone()),
        NoteQuery::FirstName(first) => ("balance-by-first-name", first.to_base58()),
    };
    Noun::list([Noun::cord(tag), Noun::cord(&arg)])
}

/// Decodes the answer to a balance peek: `[page-number block-id (z-map nname nnote)]`.
pub(crate) fn decode_balance_peek(answer: PeekAnswer) -> Result<Balance, String> {
    let value = match answer {
        PeekAnswer::Value(value) => value,
        PeekAnswer::UnknownPath => {
            return Err("the node does not know this peek path (too old a node?)".into())
        }
        PeekAnswer::Empty => return Err("the node has no balance yet (still syncing?)".into()),
    };
    let [height, block_id, map] = value
        .as_tuple()
        .ok_or("expected [page-number block-id map]")?;
    let mut balance = Balance {
        notes: Vec::new(),
        height: Some(height.as_u64().ok_or("height is not a number")?),
        block_id: Some(block_id.as_digest().ok_or("block id is not a hash")?),
    };
    // A z-map is a treap: ~ or [n=[key value] l=tree r=tree]. Walk it without recursion.
    let mut stack = vec![map];
    while let Some(tree) = stack.pop() {
        if tree.is_atom() {
            if tree.as_u64() != Some(0) {
                return Err("malformed map".into());
            }
            continue;
        }
        let [node, left, right] = tree.as_tuple().ok_or("malformed map node")?;
        let (name, note) = node.as_cell().ok_or("malformed map entry")?;
        balance
            .notes
            .push(decode_note(name, note).ok_or("malformed note")?);
        stack.push(right);
        stack.push(left);
        if stack.len() > 1_000_000 {
            return Err("map too large".into());
        }
    }
    Ok(balance)
}

/// `nname = [first=hash last=hash ~]`; a v0 note is `[[%0 origin-page timelock] name sig
/// source assets]`, a v1 note `[%1 origin-page name note-data assets]`.
fn decode_note(name: &Noun, note: &Noun) -> Option<Note> {
    let [first, last, _] = name.as_tuple()?;
    let [head, second, _, _, assets] = note.as_tuple()?;
    let (version, origin_page) = if head.is_cell() {
        let [version, origin, _] = head.as_tuple()?;
        (version.as_u64()?, origin.as_u64()?)
    } else {
        (head.as_u64()?, second.as_u64()?)
    };
    Some(Note {
        first_name: first.as_digest()?,
        last_name: last.as_digest()?,
        assets: assets.as_u64()?,
        origin_page,
        version: u8::try_from(version).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nockpool_core::noun::jam;

    const PKH: &str = "9yPePjfWAdUnzaQKyxcRXKRa5PpUzKKEwtpECBZsUYt9Jd7egSDEWoV";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn config_pokes_match_spec_vectors() {
        let shares = [PKH.parse::<MiningShare>().unwrap()];
        validate_shares(&shares).unwrap();
        let pkh_only = jam(&set_mining_key_poke(&shares, false));
        assert_eq!(
            hex(&pkh_only),
            "01deb1b7b6b630377200dee6cae85adad2dcd2dcce5ad6caf25ac2c8ecc2dcc6cac8590cc0db9c3ca8322835b3ab20b22a37bdb0a8a53cbc3129ac25a9b01a28b82abda5a5a23b3ab8a22121adb9aa2cba1c25b29bb2b329a2a2ab37ab"
        );
        let with_v0 = jam(&set_mining_key_poke(&shares, true));
        assert_eq!(with_v0.len(), 230);
        // nockchain-node.md §3.4, verbatim.
        assert_eq!(
            hex(&with_v0),
            "01deb1b7b6b630377200dee6cae85adad2dcd2dcce5ad6caf25ac2c8ecc2dcc6cac815c701c00f64c6a0dc8a68b472a4caecd0a8ec72d2e67290dac662c2da8ceac48a8cc4aaf0f486ac648cf0c4728ef0caec94e6e8ac6aac8e7264deb2e86ca6c2d266c8669cd4988cc6e6eaacb0a698f072d0d2d69ac48862c2ceec729a646c6ea8acee66d0ac729a86e09acc8adc8ede6a98b2e8d4946ed4a0f290ce70a68aa4a0d494a486aea8ceb45a0cc0db9c3ca8322835b3ab20b22a37bdb0a8a53cbc3129ac25a9b01a28b82abda5a5a23b3ab8a22121adb9aa2cba1c25b29bb2b329a2a2ab37ab"
        );
        // `[%command %enable-mining %.y]`, the only enable poke there is.
        assert_eq!(
            hex(&jam(&enable_mining_poke())),
            "01deb1b7b6b630377200cf32b73031b6b296b634b734b7b3"
        );
        assert_eq!(hex(&jam(&peek_heavy())), "011eb4b230bbbc");
        assert_eq!(
            hex(&jam(&peek_heaviest_chain())),
            "017cd1cac2ecd2cae6e85ac6d0c2d2dc02"
        );
        assert_eq!(hex(&jam(&peek_heavy_n(42))), "015eb4b230bbbc16775055");
    }

    #[test]
    fn share_rules() {
        let one = PKH.parse::<MiningShare>().unwrap();
        assert!(validate_shares(&[]).is_err());
        assert!(validate_shares(&[one, one, one]).is_err());
        assert!(validate_shares(&[one, one]).is_ok());
    }

    #[test]
    fn candidate_effect_decodes() {
        let bytes = [
            0x01, 0xde, 0xb6, 0x34, 0xb7, 0xb2, 0x16, 0xbd, 0x75, 0xb8, 0xc5, 0x21, 0x43, 0x87,
            0x89, 0x5b, 0xe0, 0xc5, 0xdc, 0x71, 0x48, 0xe1, 0x40,
        ];
        let noun = nockpool_core::noun::cue(&bytes).unwrap();
        let Effect::Candidate(c) = parse_effect(&noun).unwrap() else {
            panic!("not a candidate")
        };
        assert_eq!(c.version, 5);
        assert_eq!(c.commitment.to_limbs(), [1, 2, 3, 4, 5]);
        assert_eq!(c.target.to_bn_limbs(), [1, 2]);
        assert_eq!(c.pow_len, 64);
        assert!(parse_effect(&Noun::atom(3)).is_err());
        assert!(parse_effect(&Noun::tuple([Noun::cord("mine-zk"), Noun::atom(5)])).is_err());
    }

    #[test]
    fn liar_effect_keeps_the_refused_blocks_id() {
        let id = Noun::belts(&[1, 2, 3, 4, 5]);
        let effect = Noun::tuple([
            Noun::cord("liar-block-id"),
            id,
            Noun::cord("failed-pow-check"),
        ]);
        let Effect::LiarBlock { id, reason } = parse_effect(&effect).unwrap() else {
            panic!("not a liar effect");
        };
        assert_eq!(id.map(|d| d.to_limbs()), Some([1, 2, 3, 4, 5]));
        assert_eq!(reason, "failed-pow-check");
        let no_id = Noun::tuple([Noun::cord("liar-block-id"), Noun::atom(7), Noun::cord("x")]);
        assert!(matches!(
            parse_effect(&no_id).unwrap(),
            Effect::LiarBlock { id: None, .. }
        ));
    }

    #[test]
    fn heavy_summary_key_sets() {
        let a = Digest::new([1, 2, 3, 4, 5]).unwrap();
        let b = Digest::new([6, 7, 8, 9, 10]).unwrap();
        let node = |d: &Digest, l: Noun, r: Noun| Noun::tuple([Noun::belts(d.limbs()), l, r]);
        let set = node(&a, Noun::ZERO, node(&b, Noun::ZERO, Noun::ZERO));
        let answer = |tag: u64, set: Noun| Noun::cell(Noun::cell(Noun::atom(tag), set), Noun::ZERO);
        assert_eq!(summary_v1_keys(&answer(1, set.clone())), Some(vec![a, b]));
        assert_eq!(summary_v1_keys(&answer(1, Noun::ZERO)), Some(vec![]));
        // `%&`: v0 signatures (below the v1 phase) — unknown to the pool.
        assert_eq!(summary_v1_keys(&answer(0, set)), None);
        assert_eq!(summary_v1_keys(&answer(1, Noun::atom(3))), None);
        assert_eq!(summary_v1_keys(&Noun::atom(0)), None);
        assert_eq!(
            heavy_block_id(&Noun::unit(Some(Noun::belts(a.limbs())))),
            Some(a)
        );
        assert_eq!(heavy_block_id(&Noun::ZERO), None);
    }

    #[test]
    fn peek_unwrapping() {
        let v = Noun::atom(9);
        let full = Noun::tuple([Noun::ZERO, Noun::ZERO, v.clone()]);
        assert_eq!(unwrap_peek(full).unwrap(), PeekAnswer::Value(v));
        assert_eq!(unwrap_peek(Noun::ZERO).unwrap(), PeekAnswer::UnknownPath);
        assert_eq!(
            unwrap_peek(Noun::cell(Noun::ZERO, Noun::ZERO)).unwrap(),
            PeekAnswer::Empty
        );
        assert!(unwrap_peek(Noun::atom(4)).is_err());
        assert!(unwrap_peek(Noun::cell(Noun::atom(1), Noun::ZERO)).is_err());
        assert!(decode_balance_peek(PeekAnswer::UnknownPath)
            .unwrap_err()
            .contains("too old"));
        assert!(decode_balance_peek(PeekAnswer::Empty)
            .unwrap_err()
            .contains("syncing"));
    }
}
