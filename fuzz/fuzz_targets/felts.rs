//! Field elements, digests, nonces, targets and difficulty from peer bytes and text: every
//! decoder refuses what it cannot represent and round-trips what it accepts.
#![no_main]

use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use nockpool_core::{Difficulty, Digest, MiningShare, Nonce, PubkeyHash, Target, P, U320};

fuzz_target!(|data: &[u8]| {
    let words: Vec<u64> = data
        .chunks(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(w)
        })
        .collect();

    // Five belts, each < p (the wire's digests and nonces).
    match Digest::from_slice(&words) {
        Ok(digest) => {
            assert!(words.len() == 5 && words.iter().all(|&w| w < P));
            assert_eq!(digest.to_u320().to_base_p(), Some(*digest.limbs()));
            assert_eq!(Digest::from_base58(&digest.to_base58()).ok(), Some(digest));
            assert!(digest.meets(&Target::MAX));
        }
        Err(_) => assert!(words.len() != 5 || words.iter().any(|&w| w >= P)),
    }
    if let Ok(nonce) = Nonce::from_slice(&words) {
        assert_eq!(nonce.limbs().as_slice(), words.as_slice());
    }

    // Targets: little-endian bytes (the pool protocol), [%bn] u32 limbs (the node).
    if let Ok(value) = U320::from_le_bytes(data) {
        assert_eq!(U320::from_le_bytes(&value.to_le_bytes()), Ok(value));
        let target = Target::from_u320(value);
        assert!(target <= Target::MAX);
        assert_eq!(Target::from_bn_limbs(&target.to_bn_limbs()), Ok(target));
    }
    let limbs: Vec<u32> = data
        .chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(w)
        })
        .collect();
    if let Ok(value) = U320::from_u32_limbs(&limbs) {
        assert_eq!(U320::from_u32_limbs(&value.to_u32_limbs()), Ok(value));
        let _ = Target::from_bn_limbs(&limbs).map(|t| t.work());
    }
    if let Some(&first) = words.first() {
        if let Ok(difficulty) = Difficulty::new(first) {
            let target = Target::from_difficulty(difficulty);
            assert!(target <= Target::MAX);
            let _ = target.work_f64();
        }
    }

    // Text: base58 digests and addresses, `ADDR[:SHARE]`, decimal numbers.
    let text = String::from_utf8_lossy(data);
    if let Ok(digest) = Digest::from_base58(&text) {
        assert_eq!(Digest::from_base58(&digest.to_base58()), Ok(digest));
    }
    if let Ok(pkh) = PubkeyHash::from_str(&text) {
        assert_eq!(PubkeyHash::from_str(&pkh.to_string()), Ok(pkh));
    }
    if let Ok(share) = MiningShare::from_str(&text) {
        assert_eq!(MiningShare::from_str(&share.to_string()), Ok(share));
    }
    if let Ok(number) = U320::from_str(&text) {
        assert_eq!(U320::from_str(&number.to_string()), Ok(number));
    }
});
