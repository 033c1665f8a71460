//! The wallet's parsers of user and peer text: addresses (v0 public keys, v1 hashes), mining
//! shares, public keys in base58 and bytes, extended keys (zprv/zpub), seed phrases. Each
//! refuses with an error or round-trips what it accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nockpool_wallet::{
    parse_mining_address, parse_mining_share, Address, ExtendedPrivateKey, ExtendedPublicKey,
    PublicKey, SeedPhrase,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = PublicKey::from_bytes(data) {
        assert_eq!(PublicKey::from_bytes(&key.to_bytes()).ok(), Some(key));
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(address) = Address::parse(&text) {
        assert_eq!(Address::parse(&address.to_string()).ok(), Some(address));
        assert_eq!(
            parse_mining_address(&address.to_string()).ok(),
            Some(address.pubkey_hash())
        );
    }
    if let Ok(pkh) = parse_mining_address(&text) {
        assert_eq!(parse_mining_address(&pkh.to_string()).ok(), Some(pkh));
    }
    if let Ok(share) = parse_mining_share(&text) {
        assert_eq!(parse_mining_share(&share.to_string()).ok(), Some(share));
    }
    if let Ok(key) = PublicKey::from_base58(&text) {
        assert_eq!(PublicKey::from_base58(&key.to_base58()).ok(), Some(key));
    }
    if let Ok(key) = ExtendedPublicKey::from_zpub(&text) {
        assert_eq!(ExtendedPublicKey::from_zpub(&key.to_zpub()).ok(), Some(key));
    }
    if let Ok(key) = ExtendedPrivateKey::from_zprv(&text) {
        let again = ExtendedPrivateKey::from_zprv(&key.to_zprv()).expect("to_zprv parses");
        assert_eq!(again.to_extended_public(), key.to_extended_public());
    }
    if let Ok(phrase) = SeedPhrase::parse(&text) {
        assert_eq!(SeedPhrase::parse(phrase.as_str()).ok(), Some(phrase));
    }
});
