//! Known-answer vectors from `nockchain-node.md` §4.3, hostile input, round trips and the real
//! Nockchain fixtures.

use proptest::prelude::*;

use super::*;

mod hex {
    pub(super) fn encode(bytes: impl AsRef<[u8]>) -> String {
        bytes.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(super) fn decode(text: &str) -> Option<Vec<u8>> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
            .collect()
    }
}

fn n(v: u64) -> Noun {
    Noun::atom(v)
}

fn c(h: Noun, t: Noun) -> Noun {
    Noun::cell(h, t)
}

fn t<const K: usize>(items: [Noun; K]) -> Noun {
    Noun::tuple(items)
}

fn cord(s: &str) -> Noun {
    Noun::cord(s)
}

fn big(decimal: u128) -> Noun {
    Noun::from_le_bytes(&decimal.to_le_bytes())
}

/// Every row of the spec's table (§4.3), as (noun, expected jam bytes in hex).
fn spec_vectors() -> Vec<(&'static str, Noun, &'static str)> {
    let abc = || t([n(1), n(2), n(3), n(0)]);
    let trip = || t([n(222), n(444), n(888)]);
    vec![
        ("1: 0", n(0), "02"),
        ("2: 1", n(1), "0c"),
        ("3: 2", n(2), "48"),
        ("4: 19", n(19), "b009"),
        ("5: [0 0]", c(n(0), n(0)), "29"),
        ("6: [1 0]", c(n(1), n(0)), "b1"),
        ("7: [1 1]", c(n(1), n(1)), "3103"),
        ("8: ~[1 2 3]", abc(), "71c8d002"),
        ("9: [42 42]", c(n(42), n(42)), "41d549"),
        (
            "10: [[1 2] [1 2]]",
            c(c(n(1), n(2)), c(n(1), n(2))),
            "c5c849",
        ),
        (
            "11: [[1 2 3] [1 2 3]]",
            c(t([n(1), n(2), n(3)]), t([n(1), n(2), n(3)])),
            "c521d193",
        ),
        ("12: [10.000 10.000]", c(n(10_000), n(10_000)), "8186382701"),
        (
            "13: [999.999.999 999.999.999]",
            c(n(999_999_999), n(999_999_999)),
            "01fd3f59739f04",
        ),
        ("14: [222 444 888]", trip(), "81f00e0c6f507803"),
        (
            "15: [[107 110] [107 110]]",
            c(c(n(107), n(110)), c(n(107), n(110))),
            "055fc3dd93",
        ),
        ("15a: 581.949.002", n(581_949_002), "4057b27e1501"),
        ("15b: [0 19]", c(n(0), n(19)), "099b"),
        (
            "15c: [0 1 2 3 4 5 6 7 8 9 10]",
            Noun::tuple((0..=10).map(n)),
            "19870c1d66b861871f0483244401",
        ),
        (
            "15d: [99 100 101 102 103 104 0]",
            Noun::tuple([99, 100, 101, 102, 103, 104, 0].map(n)),
            "c1c7c1c9c1cbc1cdc1cfc1d102",
        ),
        (
            "15e: [[222 444 888] [222 444 888]]",
            c(trip(), trip()),
            "05c23b30bc41e13d09",
        ),
        (
            "15f: [[0 1] [1 2] [2 3] [3 4] 0]",
            t([
                c(n(0), n(1)),
                c(n(1), n(2)),
                c(n(2), n(3)),
                c(n(3), n(4)),
                n(0),
            ]),
            "2517230b892e34a6",
        ),
        ("16: u64 max", n(u64::MAX), "0081ffffffffffffff7f"),
        ("17: 2^64", big(1u128 << 64), "00030000000000000080"),
        (
            "18: p-1",
            n(18_446_744_069_414_584_320),
            "000100000080ffffff7f",
        ),
        ("19: %mine", cord("mine"), "c06f4b732b03"),
        ("20: %mine-zk", cord("mine-zk"), "80b72dcdadac456f0d"),
        ("21: 'hello'", cord("hello"), "8007ad8c8ded0d"),
        (
            "22: [1 2 3 4 5]",
            Noun::belts(&[1, 2, 3, 4, 5]),
            "71c8d061e202",
        ),
        (
            "23: [%bn ~[1 4.294.967.295]]",
            Noun::bignum(&[1, u32::MAX]),
            "811773c70182ffffff7f01",
        ),
        ("24: [%bn ~]", Noun::bignum(&[]), "8117730b"),
        (
            "25: [%command %born ~]",
            t([cord("command"), cord("born"), n(0)]),
            "01deb1b7b6b6303772c0177b93730b",
        ),
        (
            "26: [%command %enable-mining %.y]",
            t([cord("command"), cord("enable-mining"), Noun::loobean(true)]),
            "01deb1b7b6b630377200cf32b73031b6b296b634b734b7b3",
        ),
        (
            "26b: [%command %enable-mining %.n]",
            t([cord("command"), cord("enable-mining"), Noun::loobean(false)]),
            "01deb1b7b6b630377200cf32b73031b6b296b634b734b73303",
        ),
        (
            "27: [%mine-zk 5 [1 2 3 4 5] [%bn ~[1 2]] 64]",
            t([
                cord("mine-zk"),
                n(5),
                Noun::belts(&[1, 2, 3, 4, 5]),
                Noun::bignum(&[1, 2]),
                n(64),
            ]),
            "01deb634b7b216bd75b8c5214387895be0c5dc7148e140",
        ),
        (
            "28: [%mine 2 [1 2 3 4 5] [%bn ~[1 2]] 64]",
            t([
                cord("mine"),
                n(2),
                Noun::belts(&[1, 2, 3, 4, 5]),
                Noun::bignum(&[1, 2]),
                n(64),
            ]),
            "01bf2dcdad1cb23864e830710bbc983b0e291c08",
        ),
        (
            "29: [~ ~ [7 [1 2 3 4 5]]]",
            t([n(0), n(0), c(n(7), Noun::belts(&[1, 2, 3, 4, 5]))]),
            "99e1c7214387890b",
        ),
        // Peek paths (§3.9).
        ("[%heavy ~]", t([cord("heavy"), n(0)]), "011eb4b230bbbc"),
        (
            "[%heaviest-block ~]",
            t([cord("heaviest-block"), n(0)]),
            "017cd1cac2ecd2cae6e85ac4d8dec6d602",
        ),
        (
            "[%heaviest-chain ~]",
            t([cord("heaviest-chain"), n(0)]),
            "017cd1cac2ecd2cae6e85ac6d0c2d2dc02",
        ),
        (
            "[%heavy-n 42 ~]",
            t([cord("heavy-n"), n(42), n(0)]),
            "015eb4b230bbbc16775055",
        ),
        (
            "[%mining-pubkeys ~]",
            t([cord("mining-pubkeys"), n(0)]),
            "017cdbd2dcd2dcce5ae0eac4d6caf2e602",
        ),
        (
            "[%blockchain-constants ~]",
            t([cord("blockchain-constants"), n(0)]),
            "01f811637b1b5b1b430b4b736b197b739ba30b73a39b0b",
        ),
        // The prover cause (nockchain-prover.md §2.2).
        (
            "cause [5 [1 2 3 4 5] [6 7 8 9 10] [%bn ~[1 2]] 64]",
            t([
                n(5),
                Noun::belts(&[1, 2, 3, 4, 5]),
                Noun::belts(&[6, 7, 8, 9, 10]),
                Noun::bignum(&[1, 2]),
                n(64),
            ]),
            "e116870c1de66461871f048324440bbc983b0e291c08",
        ),
    ]
}

#[test]
fn spec_vectors_jam_and_cue() {
    for (name, noun, expected) in spec_vectors() {
        let bytes = jam(&noun);
        assert_eq!(hex::encode(&bytes), expected, "jam of vector {name}");
        let back = cue(&bytes).unwrap_or_else(|e| panic!("cue of vector {name}: {e}"));
        assert_eq!(back, noun, "cue of vector {name}");
    }
}

#[test]
fn spec_decimal_values() {
    // The "jam (decimal atom)" column: the jam bytes read as a little-endian number.
    let cases: [(Noun, u128); 5] = [
        (c(n(42), n(42)), 4838721),
        (c(c(n(1), n(2)), c(n(1), n(2))), 4835525),
        (c(n(10_000), n(10_000)), 4952983169),
        (t([n(222), n(444), n(888)]), 250038217192960129),
        (
            Noun::tuple((0..=10).map(n)),
            25681224503728653597984370231065,
        ),
    ];
    for (noun, decimal) in &cases {
        let mut bytes = jam(noun);
        bytes.resize(16, 0);
        let value = u128::from_le_bytes(bytes.try_into().unwrap());
        assert_eq!(value, *decimal, "{noun}");
    }
}

#[test]
fn set_mining_key_vectors() {
    let pkh = "9yPePjfWAdUnzaQKyxcRXKRa5PpUzKKEwtpECBZsUYt9Jd7egSDEWoV";
    let v1 = Noun::list([c(n(1), cord(pkh))]);
    let pkh_only = t([
        cord("command"),
        cord("set-mining-key-advanced"),
        n(0),
        v1.clone(),
    ]);
    let bytes = jam(&pkh_only);
    assert_eq!(bytes.len(), 93);
    assert_eq!(
        hex::encode(bytes),
        "01deb1b7b6b630377200dee6cae85adad2dcd2dcce5ad6caf25ac2c8ecc2dcc6cac8590cc0db9c3ca8322835b3ab20b22a37bdb0a8a53cbc3129ac25a9b01a28b82abda5a5a23b3ab8a22121adb9aa2cba1c25b29bb2b329a2a2ab37ab"
    );
    let v0_key = "2cPnE4Z9RevhTv9is9Hmc1amFubEFbUxzCV2Fxb9GxevJstV5VG92oYt6Sai3d3NjLFcsuVXSLx9hikMbD1agv9M267TVw3hV9MCpMfEnGo5LYtjJ7jPyHg8SERPjJRCWTgZ";
    let v0 = Noun::list([t([n(1), n(1), Noun::list([cord(v0_key)])])]);
    let with_v0 = t([cord("command"), cord("set-mining-key-advanced"), v0, v1]);
    let bytes = jam(&with_v0);
    assert_eq!(bytes.len(), 230);
    assert!(hex::encode(&bytes).ends_with("b2e8d4946ed4a0f290ce70a68aa4a0d494a486aea8ceb45a0cc0db9c3ca8322835b3ab20b22a37bdb0a8a53cbc3129ac25a9b01a28b82abda5a5a23b3ab8a22121adb9aa2cba1c25b29bb2b329a2a2ab37ab"));
    assert_eq!(cue(&bytes).unwrap(), with_v0);
}

#[test]
fn cue_negative_and_padding_vectors() {
    let reason = |bytes: &[u8]| match cue(bytes) {
        Err(CoreError::BadJam { reason, .. }) => reason,
        other => panic!("expected an error for {bytes:02x?}, got {other:?}"),
    };
    assert_eq!(reason(&[]), CueFailure::Empty);
    assert_eq!(reason(&[0x03]), CueFailure::Truncated);
    assert_eq!(reason(&[0x0b]), CueFailure::BadBackref);
    assert_eq!(
        cue(&hex::decode("b10000000000").unwrap()).unwrap(),
        c(n(1), n(0))
    );
    // A cell tag with nothing after it, and an atom claiming more bits than there are.
    assert_eq!(reason(&[0x01]), CueFailure::Truncated);
    assert_eq!(reason(&[0x00, 0x01, 0xff]), CueFailure::Truncated);
}

/// Writes a raw bit string (as `jam` would) for hand-built hostile inputs.
fn bits_to_bytes(bits: &[bool]) -> Vec<u8> {
    let mut out = vec![0u8; bits.len().div_ceil(8)];
    for (i, &b) in bits.iter().enumerate() {
        if b {
            out[i / 8] |= 1 << (i % 8);
        }
    }
    out
}

fn push_mat(bits: &mut Vec<bool>, value: u64) {
    let b = 64 - value.leading_zeros();
    if b == 0 {
        bits.push(true);
        return;
    }
    let cl = 32 - b.leading_zeros();
    bits.extend(std::iter::repeat_n(false, cl as usize));
    bits.push(true);
    for i in 0..cl - 1 {
        bits.push((b >> i) & 1 == 1);
    }
    for i in 0..b {
        bits.push((value >> i) & 1 == 1);
    }
}

#[test]
fn cyclic_and_forward_backrefs_are_errors() {
    // [ref->0 ...]: a cell at offset 0 whose head refers to offset 0 (the unfinished cell).
    let mut bits = vec![true, false, true, true];
    push_mat(&mut bits, 0);
    bits.push(false);
    push_mat(&mut bits, 1);
    assert!(matches!(
        cue(&bits_to_bytes(&bits)),
        Err(CoreError::BadJam {
            reason: CueFailure::BadBackref,
            ..
        })
    ));
    // A backreference forward, to an offset past itself.
    let mut bits = vec![true, false, false];
    push_mat(&mut bits, 1);
    bits.extend([true, true]);
    push_mat(&mut bits, 40);
    assert!(matches!(
        cue(&bits_to_bytes(&bits)),
        Err(CoreError::BadJam {
            reason: CueFailure::BadBackref,
            ..
        })
    ));
    // A backreference whose offset has 65 bits.
    let mut bits = vec![true, true];
    bits.extend(std::iter::repeat_n(false, 7));
    bits.push(true);
    for i in 0..6 {
        bits.push((65u32 >> i) & 1 == 1);
    }
    bits.extend(std::iter::repeat_n(true, 65));
    assert!(matches!(
        cue(&bits_to_bytes(&bits)),
        Err(CoreError::BadJam {
            reason: CueFailure::BackrefTooBig,
            ..
        })
    ));
    // A length prefix of more than 64 zero bits.
    assert!(matches!(
        cue(&[0u8; 20]),
        Err(CoreError::BadJam {
            reason: CueFailure::LengthTooBig,
            ..
        })
    ));
}

#[test]
fn deep_nesting_is_bounded() {
    // 200,000 nested cell tags, then nothing: too deep for a small limit, truncated otherwise.
    let bytes = vec![0b0101_0101u8; 50_000];
    let limits = CueLimits {
        max_depth: 1000,
        ..CueLimits::default()
    };
    assert!(matches!(
        cue_with_limits(&bytes, &limits),
        Err(CoreError::BadJam {
            reason: CueFailure::TooDeep,
            ..
        })
    ));
    assert!(matches!(
        cue(&bytes),
        Err(CoreError::BadJam {
            reason: CueFailure::Truncated,
            ..
        })
    ));
    // A genuinely deep (left-nested) noun round-trips without recursion.
    let mut deep = Noun::ZERO;
    for i in 0..300_000u64 {
        deep = c(deep, n(i % 3));
    }
    assert_eq!(cue(&jam(&deep)).unwrap(), deep);
}

#[test]
fn oversized_input_is_refused() {
    let limits = CueLimits {
        max_bytes: 4,
        ..CueLimits::default()
    };
    assert!(matches!(
        cue_with_limits(&[0x02, 0, 0, 0, 0], &limits),
        Err(CoreError::BadJam {
            reason: CueFailure::TooLarge,
            ..
        })
    ));
}

#[test]
fn backrefs_keep_sharing_instead_of_expanding() {
    // x0 = [1 1], x(k+1) = [xk xk]: 2^200 leaves as a tree, 200 cells as a DAG.
    let mut x = c(n(1), n(1));
    for _ in 0..200 {
        x = c(x.clone(), x);
    }
    let bytes = jam(&x);
    assert!(bytes.len() < 4096, "jam is {} bytes", bytes.len());
    let back = cue(&bytes).unwrap();
    assert_eq!(back, x);
    assert_eq!(jam(&back), bytes);
}

fn arb_atom() -> impl Strategy<Value = Noun> {
    prop_oneof![
        (0u64..4).prop_map(Noun::atom),
        any::<u64>().prop_map(Noun::atom),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(|b| Noun::from_le_bytes(&b)),
    ]
}

fn arb_noun() -> impl Strategy<Value = Noun> {
    arb_atom().prop_recursive(6, 64, 4, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(h, t)| Noun::cell(h, t)),
            // Repeated subtrees exercise cell and atom backreferences.
            inner.clone().prop_map(|x| Noun::cell(x.clone(), x)),
            (inner.clone(), inner).prop_map(|(a, b)| Noun::tuple([a.clone(), b, a])),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn jam_cue_round_trip(noun in arb_noun()) {
        let bytes = jam(&noun);
        prop_assert_eq!(bytes.last().copied().map(|b| b != 0), Some(true));
        let back = cue(&bytes).unwrap();
        prop_assert_eq!(&back, &noun);
        prop_assert_eq!(jam(&back), bytes);
    }

    #[test]
    fn cue_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(noun) = cue(&bytes) {
            // Whatever decodes re-encodes and decodes to the same noun.
            prop_assert_eq!(cue(&jam(&noun)).unwrap(), noun);
        }
    }

    #[test]
    fn cue_ignores_trailing_zeros(noun in arb_noun(), pad in 0usize..9) {
        let mut bytes = jam(&noun);
        bytes.extend(std::iter::repeat_n(0u8, pad));
        prop_assert_eq!(cue(&bytes).unwrap(), noun);
    }
}

fn spec_dir() -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "notice: {} is absent; skipping fixture tests",
            dir.display()
        );
        None
    }
}

fn strip_padding(bytes: &[u8]) -> &[u8] {
    let len = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &bytes[..len]
}

#[test]
fn real_fixtures_rejam_byte_for_byte() {
    let Some(dir) = spec_dir() else { return };
    let mut files = Vec::new();
    for sub in ["fixtures", "prover-fixtures"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "jam") {
                files.push(path);
            }
        }
    }
    assert!(
        !files.is_empty(),
        "no .jam fixtures under {}",
        dir.display()
    );
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let noun = cue(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(jam(&noun), strip_padding(&bytes), "{}", path.display());
    }
}

#[test]
fn fakenet_genesis_fixture_fields() {
    let Some(dir) = spec_dir() else { return };
    let Ok(bytes) = std::fs::read(dir.join("fixtures/fakenet-genesis-pow-64-bex-2.jam")) else {
        eprintln!("notice: genesis fixture absent; skipping");
        return;
    };
    assert_eq!(bytes.len(), 116_632);
    let page = cue(&bytes).unwrap();
    // v0 page: [digest pow parent tx-ids coinbase timestamp epoch target work height msg]
    let [digest, pow, _parent, _txs, _coinbase, timestamp, _epoch, target, work, height, msg] =
        page.as_tuple().unwrap();
    assert_eq!(
        digest.as_belts(),
        Some([
            15882992411495078753,
            1903302552763764570,
            16177009232855227392,
            10416865623777749249,
            7308143116616406123
        ])
    );
    assert_eq!(timestamp.as_u64(), Some(9223372092807532800));
    assert_eq!(
        target.as_bignum(),
        Some(vec![
            3221225472, 3221225470, 2147483651, 1073741816, 1073741835, 1073741811, 2147483659,
            3221225464, 3221225475, 1073741822
        ])
    );
    assert_eq!(work.as_bignum(), Some(vec![3]));
    assert_eq!(height.as_u64(), Some(0));
    let msg: Vec<String> = msg
        .as_list()
        .unwrap()
        .iter()
        .map(|m| m.as_cord().unwrap())
        .collect();
    assert_eq!(msg, ["NOCK", "CHAI", "N FA", "KENE", "T"]);
    // pow = [~ [%0 objects ~ 0]], object 0 = [%puzzle commitment nonce len p]
    let [unit_tag, proof] = pow.as_tuple().unwrap();
    assert_eq!(unit_tag.as_u64(), Some(0));
    let [version, objects, hashes, read_index] = proof.as_tuple().unwrap();
    assert_eq!(version.as_u64(), Some(0));
    assert_eq!(hashes.as_u64(), Some(0));
    assert_eq!(read_index.as_u64(), Some(0));
    let objects = objects.as_list().unwrap();
    let [tag, commitment, nonce, len, _product] = objects[0].as_tuple().unwrap();
    assert!(tag.is_cord("puzzle"));
    assert_eq!(
        commitment.as_belts(),
        Some([
            1719088396852664599,
            10533677896651587115,
            15967884491235295106,
            13478381889017836169,
            3690138606051615316
        ])
    );
    assert_eq!(
        nonce.as_belts(),
        Some([
            9188943016450964828,
            16377781950774486056,
            3864809632163890905,
            3031750284227897439,
            10968343203212617449
        ])
    );
    assert_eq!(len.as_u64(), Some(64));
}
