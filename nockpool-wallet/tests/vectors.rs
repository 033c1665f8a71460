//! Every vector of `shared/spec/wallet-vectors.json`, read in place. Upstream vectors are
//! pinned by Nockchain's own tests; generated ones come from the spec's reference (see the
//! file's `source` fields).

use nockpool_wallet::{
    Address, ExtendedPrivateKey, ExtendedPublicKey, KeyVersion, MasterKey, PublicKey, SecretKey,
    SeedPhrase, HARDENED,
};
use serde_json::Value;

fn vectors() -> Option<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/spec/wallet-vectors.json"
    );
    match std::fs::read_to_string(path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("wallet-vectors.json parses")),
        Err(_) => {
            eprintln!("NOTICE: {path} not found; skipping the wallet vector tests");
            None
        }
    }
}

fn limbs<const N: usize>(v: &Value) -> [u64; N] {
    let list: Vec<u64> = v
        .as_array()
        .expect("limb array")
        .iter()
        .map(|x| x.as_u64().expect("u64 limb"))
        .collect();
    list.try_into().expect("limb count")
}

fn hex32(v: &Value) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(v.as_str().expect("hex string"), &mut out).expect("32 hex bytes");
    out
}

fn s(v: &Value) -> &str {
    v.as_str().expect("string")
}

const ORDER_HEX: &str = "7af2599b3b3f22d0563fbf0f990a37b5327aa72330157722d443623eaed4accf";

fn order_minus(k: u8) -> [u8; 32] {
    let mut n = [0u8; 32];
    hex::decode_to_slice(ORDER_HEX, &mut n).unwrap();
    // n ends in 0xcf, so subtracting a small k never borrows.
    n[31] -= k;
    n
}

#[test]
fn cheetah_scalar_multiples() {
    let Some(v) = vectors() else { return };
    let mut checked = 0;
    for case in v["curve_and_address"]["cheetah_scalar_mult"]
        .as_array()
        .unwrap()
    {
        let k = match &case["k"] {
            Value::Number(n) => {
                let mut bytes = [0u8; 32];
                bytes[24..].copy_from_slice(&n.as_u64().unwrap().to_be_bytes());
                bytes
            }
            Value::String(t) if t == "n-1" => order_minus(1),
            Value::String(t) if t == "n" => {
                // n·G = O: n is not a private key, and the identity is not a public key.
                assert!(SecretKey::from_bytes(&order_minus(0)).is_err());
                checked += 1;
                continue;
            }
            other => panic!("unexpected k {other}"),
        };
        let public = SecretKey::from_bytes(&k).unwrap().public_key();
        assert_eq!(public.x(), limbs::<6>(&case["x"]), "x of {}", case["k"]);
        assert_eq!(public.y(), limbs::<6>(&case["y"]), "y of {}", case["k"]);
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn pubkeys_round_trip_and_hash_to_their_addresses() {
    let Some(v) = vectors() else { return };
    let cases = v["curve_and_address"]["pubkeys_and_pkh"]
        .as_array()
        .unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let text = s(&case["pubkey_base58"]);
        let key = PublicKey::from_base58(text).unwrap();
        assert_eq!(key.x(), limbs::<6>(&case["x"]));
        assert_eq!(key.y(), limbs::<6>(&case["y"]));
        assert_eq!(hex::encode(key.to_bytes()), s(&case["pubkey_97_bytes_hex"]));
        assert_eq!(key.to_base58(), text);
        assert_eq!(text.len(), nockpool_wallet::PUBLIC_KEY_BASE58_CHARS);
        let from_xy = PublicKey::from_coordinates(key.x(), key.y()).unwrap();
        assert_eq!(from_xy, key);
        let pkh = key.pubkey_hash();
        assert_eq!(pkh.digest().to_limbs(), limbs::<5>(&case["pkh_digest"]));
        assert_eq!(pkh.to_string(), s(&case["pkh_base58"]));
        // The wallet's own address rule and the mining-address conversion agree.
        assert_eq!(Address::parse(text).unwrap(), Address::V0(key));
        assert_eq!(nockpool_wallet::parse_mining_address(text).unwrap(), pkh);
        assert_eq!(
            nockpool_wallet::parse_mining_address(s(&case["pkh_base58"])).unwrap(),
            pkh
        );
    }
}

#[test]
fn upstream_default_mining_pkh() {
    // nockchain's VALID_V0_PUBKEY → VALID_MINING_PKH (config.rs, Makefile, .env_example).
    let pubkey = "2cPnE4Z9RevhTv9is9Hmc1amFubEFbUxzCV2Fxb9GxevJstV5VG92oYt6Sai3d3NjLFcsuVXSLx9hikMbD1agv9M267TVw3hV9MCpMfEnGo5LYtjJ7jPyHg8SERPjJRCWTgZ";
    let pkh = nockpool_wallet::parse_mining_address(pubkey).unwrap();
    assert_eq!(
        pkh.to_string(),
        "9yPePjfWAdUnzaQKyxcRXKRa5PpUzKKEwtpECBZsUYt9Jd7egSDEWoV"
    );
}

#[test]
fn bip39_checks() {
    let Some(v) = vectors() else { return };
    let b = &v["bip39_check"];
    let phrase = SeedPhrase::from_entropy(&[0u8; 32]);
    assert_eq!(phrase.as_str(), s(&b["entropy_zero32_mnemonic"]));
    assert!(phrase.is_bip39());
    assert_eq!(
        hex::encode(&phrase.to_seed_with_passphrase("TREZOR")[..]),
        s(&b["entropy_zero32_seed_passphrase_TREZOR"])
    );
    assert_eq!(
        hex::encode(&phrase.to_seed()[..]),
        s(&b["entropy_zero32_seed_passphrase_empty"])
    );
    let mut list = bip39::Language::English.word_list().join("\n");
    list.push('\n');
    use sha2::Digest as _;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(list.as_bytes())),
        s(&b["english_wordlist_sha256_of_newline_joined_words"])
    );
}

/// Checks one `seed_phrase_to_master`-shaped entry.
fn check_master(case: &Value) {
    let phrase = SeedPhrase::parse(s(&case["seed_phrase"])).unwrap();
    assert_eq!(
        hex::encode(&phrase.to_seed()[..]),
        s(&case["bip39_seed_hex"])
    );

    // The first HMAC output and the number of re-hashes (SLIP-10 master retry rule).
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(b"Nockchain seed").unwrap();
    mac.update(&phrase.to_seed()[..]);
    assert_eq!(
        hex::encode(mac.finalize().into_bytes()),
        s(&case["first_hmac_I_hex"])
    );

    let v1 = MasterKey::from_seed_phrase(phrase.clone(), KeyVersion::V1);
    let key = v1.extended_key();
    assert_eq!(
        hex::encode(&key.secret_key().to_bytes()[..]),
        s(&case["master_private_key_hex"])
    );
    assert_eq!(
        hex::encode(key.chain_code()),
        s(&case["master_chain_code_hex"])
    );
    let public = v1.public_key();
    assert_eq!(public.x(), limbs::<6>(&case["pubkey_x"]));
    assert_eq!(public.y(), limbs::<6>(&case["pubkey_y"]));
    assert_eq!(
        hex::encode(public.to_bytes()),
        s(&case["pubkey_97_bytes_hex"])
    );
    assert_eq!(public.to_base58(), s(&case["pubkey_base58_v0_address"]));
    assert_eq!(
        public.pubkey_hash().digest().to_limbs(),
        limbs::<5>(&case["pkh_digest"])
    );
    assert_eq!(v1.address().to_string(), s(&case["pkh_base58_v1_address"]));
    assert_eq!(
        hex::encode(public.fingerprint()),
        s(&case["fingerprint_hex"])
    );

    assert_eq!(key.to_zprv().as_str(), s(&case["zprv"]));
    assert_eq!(key.to_extended_public().to_zpub(), s(&case["zpub"]));
    let v0 = MasterKey::from_seed_phrase(phrase, KeyVersion::V0);
    assert_eq!(
        v0.address().to_string(),
        s(&case["pubkey_base58_v0_address"])
    );
    assert_eq!(v0.extended_key().to_zprv().as_str(), s(&case["zprv_ver0"]));
    assert_eq!(
        v0.extended_key().to_extended_public().to_zpub(),
        s(&case["zpub_ver0"])
    );

    // Parsing gives back the same keys and versions.
    for (text, version) in [
        (s(&case["zprv"]), KeyVersion::V1),
        (s(&case["zprv_ver0"]), KeyVersion::V0),
    ] {
        let parsed = ExtendedPrivateKey::from_zprv(text).unwrap();
        assert_eq!(parsed.version(), version);
        assert_eq!(parsed.secret_key().to_bytes(), key.secret_key().to_bytes());
        assert_eq!(parsed.chain_code(), key.chain_code());
        assert_eq!(MasterKey::from_zprv(text).unwrap().public_key(), public);
    }
    for (text, version) in [
        (s(&case["zpub"]), KeyVersion::V1),
        (s(&case["zpub_ver0"]), KeyVersion::V0),
    ] {
        let parsed = ExtendedPublicKey::from_zpub(text).unwrap();
        assert_eq!(parsed.version(), version);
        assert_eq!(parsed.public_key(), &public);
        assert_eq!(parsed.chain_code(), key.chain_code());
    }
}

#[test]
fn seed_phrases_to_master_keys() {
    let Some(v) = vectors() else { return };
    let cases = v["seed_phrase_to_master"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    let mut rehash_counts: Vec<u64> = Vec::new();
    for case in cases {
        check_master(case);
        rehash_counts.push(case["master_rehashes"].as_u64().unwrap());
    }
    // The set covers 0, 1 and 3 master re-hashes (2 is covered by the keygen rows).
    for n in [0, 1, 3] {
        assert!(rehash_counts.contains(&n));
    }
}

#[test]
fn children_of_the_abandon_master() {
    let Some(v) = vectors() else { return };
    let master_case = &v["seed_phrase_to_master"][0];
    let phrase = SeedPhrase::parse(s(&master_case["seed_phrase"])).unwrap();
    let master = MasterKey::from_seed_phrase(phrase, KeyVersion::V1);
    let cases = v["child_derivation"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let index = u32::try_from(case["index"].as_u64().unwrap()).unwrap();
        assert_eq!(index >= HARDENED, case["hardened"].as_bool().unwrap());
        let child = master.extended_key().derive_child(index);
        assert_eq!(
            hex::encode(&child.secret_key().to_bytes()[..]),
            s(&case["child_private_key_hex"])
        );
        assert_eq!(
            hex::encode(child.chain_code()),
            s(&case["child_chain_code_hex"])
        );
        let public = child.public_key();
        assert_eq!(public.to_base58(), s(&case["child_pubkey_base58"]));
        assert_eq!(
            public.pubkey_hash().to_string(),
            s(&case["child_pkh_base58"])
        );
        assert_eq!(
            child.to_zprv().as_str(),
            s(&case["bip32_style_zprv_depth1"])
        );
        assert_eq!(
            child.to_extended_public().to_zpub(),
            s(&case["bip32_style_zpub_depth1"])
        );
        let display = child.clone().without_path();
        assert_eq!(
            display.to_zprv().as_str(),
            s(&case["wallet_display_zprv_depth0"])
        );
        assert_eq!(
            display.to_extended_public().to_zpub(),
            s(&case["wallet_display_zpub_depth0"])
        );
        if index < HARDENED {
            let from_public = master
                .extended_key()
                .to_extended_public()
                .derive_child(index)
                .unwrap();
            assert_eq!(from_public, child.to_extended_public());
            assert!(case["public_derivation_matches"].as_bool().unwrap());
        } else {
            assert!(master
                .extended_key()
                .to_extended_public()
                .derive_child(index)
                .is_err());
        }
    }
}

#[test]
fn keygen_rows_from_their_phrases() {
    let Some(v) = vectors() else { return };
    let cases = v["keygen_entropy_salt"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        // Byte-reversed Argon2d tag → BIP39 entropy → phrase (the Argon2d step itself is
        // checked once, in `full_keygen_from_entropy_and_salt`).
        let tag = hex32(&case["argon2d_tag_hex"]);
        let mut entropy = tag;
        entropy.reverse();
        assert_eq!(hex::encode(entropy), s(&case["bip39_entropy_hex"]));
        let phrase = SeedPhrase::from_entropy(&entropy);
        assert_eq!(phrase.as_str(), s(&case["seed_phrase"]));
        check_master(&case["master"]);
    }
}

/// The one test that runs keygen's real Argon2d (768 MiB, t = 6): argon2 is built with
/// opt-level 3 in the dev and test profiles (root Cargo.toml) to keep it near a second.
#[test]
fn full_keygen_from_entropy_and_salt() {
    let Some(v) = vectors() else { return };
    let case = &v["keygen_entropy_salt"][1];
    let mut entropy = [0u8; 32];
    hex::decode_to_slice(s(&case["entropy_hex"]), &mut entropy).unwrap();
    let mut salt = [0u8; 16];
    hex::decode_to_slice(s(&case["salt_hex"]), &mut salt).unwrap();
    let phrase = SeedPhrase::from_keygen_entropy(&entropy, &salt).unwrap();
    assert_eq!(phrase.as_str(), s(&case["seed_phrase"]));
    let master = MasterKey::from_seed_phrase(phrase, KeyVersion::V1);
    assert_eq!(
        master.address().to_string(),
        s(&case["master"]["pkh_base58_v1_address"])
    );
}
