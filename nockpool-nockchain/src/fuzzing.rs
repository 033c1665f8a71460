//! Entry points for the coverage-guided fuzz targets in `fuzz/` (feature `fuzzing`). Not a
//! stable API: it exposes the crate-private decoders of what a node sends, so the fuzzer can
//! drive them with the same bytes the pool would receive.

use nockpool_core::noun::{cue, Noun};
use nockpool_core::Digest;

use crate::nouns::{self, Effect};

/// Feeds `noun` to every decoder of node output: an effect, a peek answer (and, inside it, the
/// heavy id, the summary's key set, a page, a balance), a proof's block ids and hash. Returns
/// how many decoders accepted it. Each decoder must refuse malformed input without panicking.
pub fn decode_node_noun(noun: &Noun, commitment: &Digest) -> usize {
    let mut accepted = 0;
    if let Ok(effect) = nouns::parse_effect(noun) {
        accepted += 1;
        if let Effect::Candidate(candidate) = effect {
            // The target noun is kept verbatim for the prover's cause: it must still decode.
            assert!(candidate.target_noun.as_bignum().is_some());
            assert!(nockpool_core::validate_pow_len(candidate.pow_len).is_ok());
        }
    }
    accepted += usize::from(nouns::heavy_block_id(noun).is_some());
    accepted += usize::from(nouns::summary_v1_keys(noun).is_some());
    accepted += usize::from(nouns::summarize_page(noun).is_some());
    accepted += usize::from(!crate::possible_block_ids(noun, commitment).is_empty());
    accepted += usize::from(crate::block_id::hash_proof(&[noun]).is_ok());
    if let Ok(answer) = nouns::unwrap_peek(noun.clone()) {
        accepted += 1;
        accepted += usize::from(nouns::decode_balance_peek(answer.clone()).is_ok());
        if let Some(value) = answer.into_value() {
            accepted += usize::from(nouns::heavy_block_id(&value).is_some());
            accepted += usize::from(nouns::summary_v1_keys(&value).is_some());
            accepted += usize::from(nouns::summarize_page(&value).is_some());
            accepted += usize::from(!crate::possible_block_ids(&value, commitment).is_empty());
        }
    }
    accepted
}

/// What the pool does with the bytes of one effect or peek answer: `cue`, then every decoder
/// ([`decode_node_noun`]). `None` when the bytes are not a jam.
pub fn decode_node_bytes(bytes: &[u8], commitment: &Digest) -> Option<usize> {
    let noun = cue(bytes).ok()?;
    Some(decode_node_noun(&noun, commitment))
}
