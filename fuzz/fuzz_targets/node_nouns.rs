//! What a Nockchain node sends the pool: the node's gRPC messages (prost), then the jammed
//! effects and peek answers inside them through `cue` and every decoder of node nouns
//! (effects, peek answers, pages, key sets, balances, proofs' block ids).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nockpool_core::Digest;
use nockpool_nockchain::fuzzing::decode_node_bytes;
use nockpool_nockchain::proto::private::v1::{peek_response, EffectMessage, PeekResponse};
use nockpool_nockchain::proto::public::v2::WalletGetBalanceResponse;
use prost::Message;

/// The commitment of the fakenet genesis fixtures (`fixtures/fakenet-genesis-pow-64-bex-2.jam`, in `pow-v0-prefix-fixture.json`), so that
/// seeds made from those pages reach the block-id recomputation.
const COMMITMENT: [u64; 5] = [
    1719088396852664599,
    10533677896651587115,
    15967884491235295106,
    13478381889017836169,
    3690138606051615316,
];

fuzz_target!(|data: &[u8]| {
    let commitment = Digest::new(COMMITMENT).unwrap_or_default();
    // The raw jam, as an effect's or a peek answer's bytes.
    let _ = decode_node_bytes(data, &commitment);
    if let Ok(message) = PeekResponse::decode(data) {
        if let Some(peek_response::Result::Data(bytes)) = message.result {
            let _ = decode_node_bytes(&bytes, &commitment);
        }
    }
    if let Ok(message) = EffectMessage::decode(data) {
        let _ = decode_node_bytes(&message.effect, &commitment);
    }
    let _ = WalletGetBalanceResponse::decode(data);
});
