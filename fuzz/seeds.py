#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora under fuzz/corpus/<target>/ from the spec vectors.

Usage: python3 fuzz/seeds.py [SPEC_DIR]   (default: ../shared/spec beside the checkout)

Nothing here is fetched: every seed is built from our own known-answer vectors
(tip5-vectors.json, wallet-vectors.json, pow-v0-prefix-fixture.json) and the jams in
fixtures/ and prover-fixtures/ (all but the 17 MB constraints table). The corpora are
regenerated on every run and are not committed (fuzz/.gitignore).
"""

import hashlib
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "shared", "spec")
CORPUS = os.path.join(HERE, "corpus")
BIGGEST_JAM = 1 << 20  # seeds above this would slow every run down for little coverage


# ---- nouns and jam (no backreferences: valid jam that cue must accept) ----

def cord(text):
    return int.from_bytes(text.encode(), "little")


def tup(*items):
    """[a b c]: right-nested cells."""
    noun = items[-1]
    for item in reversed(items[:-1]):
        noun = (item, noun)
    return noun


def lst(*items):
    """A null-terminated list."""
    return tup(*items, 0) if items else 0


def bignum(value):
    limbs = []
    while value:
        limbs.append(value & 0xFFFFFFFF)
        value >>= 32
    return (cord("bn"), lst(*limbs))


def belts(limbs):
    return tup(*limbs)


def jam(noun):
    bits = []

    def mat(a):
        if a == 0:
            bits.append(1)
            return
        b = a.bit_length()
        c = b.bit_length()
        bits.extend([0] * c)
        bits.append(1)
        bits.extend((b >> i) & 1 for i in range(c - 1))
        bits.extend((a >> i) & 1 for i in range(b))

    stack = [noun]
    while stack:
        n = stack.pop()
        if isinstance(n, tuple):
            bits.extend([1, 0])
            stack.append(n[1])
            stack.append(n[0])
        else:
            bits.append(0)
            mat(n)
    value = sum(bit << i for i, bit in enumerate(bits))
    return value.to_bytes((len(bits) + 7) // 8, "little")


# ---- protobuf (the few wire types pool.proto and nockapp.proto use) ----

def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def pb_varint(field, n):
    return varint(field << 3) + varint(n) if n else b""


def pb_bytes(field, data):
    return varint(field << 3 | 2) + varint(len(data)) + data if data else b""


def pb_packed(field, values):
    return pb_bytes(field, b"".join(varint(v) for v in values))


def pb_double(field, x):
    import struct
    return varint(field << 3 | 1) + struct.pack("<d", x)


def le_min(n):
    return n.to_bytes((n.bit_length() + 7) // 8, "little")


# ---- the corpora ----

def write(target, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main():
    # Start clean: a fuzz run adds what it finds to its own corpus-run/ folder, never here.
    shutil.rmtree(CORPUS, ignore_errors=True)
    tip5 = json.load(open(os.path.join(SPEC, "tip5-vectors.json")))
    wallet = json.load(open(os.path.join(SPEC, "wallet-vectors.json")))
    prefix = json.load(open(os.path.join(SPEC, "pow-v0-prefix-fixture.json")))

    digests = [c["out"] for c in tip5["hash_varlen"]["cases"]]
    digests += [c["digest"] for c in tip5["digest_encoding"]["cases"]]
    v5 = tip5["pow_v5"]["cases"]
    commitments = [c["commitment"] for c in v5] + [prefix["objects"][0]["commitment"]]
    nonces = [c["nonce"] for c in v5]
    targets = [int(c["target_atom"]) for c in tip5["target_work"]["cases"]]
    targets += [int(prefix["target_atom"])]
    base58s = [c["base58"] for c in tip5["digest_encoding"]["cases"]]

    # pool_messages: Hello, Status, Job (alone and in a WorkOrder), WorkResult, SubmitAck.
    for i, (commitment, nonce) in enumerate(zip(commitments, nonces)):
        target = targets[i % len(targets)]
        job = (pb_bytes(1, b"job-%d" % i) + pb_packed(2, commitment)
               + pb_bytes(3, le_min(target)) + pb_bytes(4, le_min(targets[0]))
               + pb_varint(5, i + 1) + pb_varint(6, 5) + pb_varint(7, 64)
               + pb_varint(8, 1) + pb_varint(9, nonce[4]) + pb_varint(10, 1 << i))
        write("pool_messages", job)
        write("pool_messages", pb_bytes(2, job))  # WorkOrder { job }
        result = (pb_varint(1, i + 1) + pb_bytes(2, b"job-%d" % i) + pb_packed(3, nonce)
                  + pb_packed(4, v5[i]["pow_digest"]) + pb_varint(5, 1000 + i)
                  + pb_packed(6, commitment) + pb_varint(7, 64) + pb_varint(8, i + 1))
        write("pool_messages", result)
    hello = (pb_bytes(1, b"rack3-node17") + pb_bytes(2, b"nockpool-miner/0.1.0")
             + pb_varint(3, 15) + pb_varint(4, 7) + pb_double(5, 1.5e6))
    write("pool_messages", pb_bytes(1, hello))  # MinerStatus { hello }
    status = pb_double(1, 1e6) + pb_double(2, 9e5) + b"".join(pb_varint(f, f * 11) for f in range(3, 8))
    write("pool_messages", pb_bytes(2, status))
    write("pool_messages", pb_bytes(1, pb_varint(1, 42) + pb_varint(2, 7) + pb_bytes(3, b"0.1.0")
                                    + pb_varint(4, 30)))  # WorkOrder { welcome }
    write("pool_messages", pb_varint(1, 1) + pb_varint(4, 1) + pb_varint(5, 1024))  # SubmitAck
    write("pool_messages", pb_varint(2, 3) + pb_bytes(3, b"low difficulty"))

    # felts: five belts as 40 LE bytes, targets as LE bytes, base58 and decimal text.
    for limbs in digests + commitments + nonces:
        write("felts", b"".join(l.to_bytes(8, "little") for l in limbs))
    for target in targets:
        write("felts", le_min(target))
        write("felts", str(target).encode())
    for text in base58s:
        write("felts", text.encode())
    for key in wallet["curve_and_address"]["pubkeys_and_pkh"]:
        write("felts", key["pkh_base58"].encode())
        write("felts", (key["pkh_base58"] + ":3").encode())

    # wallet_parsers: public keys (text and 97 bytes), addresses, extended keys, phrases.
    masters = wallet["seed_phrase_to_master"] + [wallet["keygen_entropy_salt"][0]["master"]]
    for key in wallet["curve_and_address"]["pubkeys_and_pkh"]:
        write("wallet_parsers", key["pubkey_base58"].encode())
        write("wallet_parsers", key["pkh_base58"].encode())
        write("wallet_parsers", bytes.fromhex(key["pubkey_97_bytes_hex"]))
    for master in masters:
        write("wallet_parsers", master["seed_phrase"].encode())
        write("wallet_parsers", master["pubkey_base58_v0_address"].encode())
        write("wallet_parsers", (master["pkh_base58_v1_address"] + ":1").encode())
        write("wallet_parsers", bytes.fromhex(master["pubkey_97_bytes_hex"]))
    for child in wallet["child_derivation"]:
        for field in ("bip32_style_zprv_depth1", "bip32_style_zpub_depth1",
                      "wallet_display_zprv_depth0", "wallet_display_zpub_depth0"):
            if field in child:
                write("wallet_parsers", child[field].encode())

    # cue_jam and node_nouns: the fixture jams, and the shapes the pool decodes.
    jams = []
    for folder in ("fixtures", "prover-fixtures"):
        path = os.path.join(SPEC, folder)
        for name in sorted(os.listdir(path)) if os.path.isdir(path) else []:
            data = open(os.path.join(path, name), "rb").read()
            if name.endswith(".jam") and len(data) <= BIGGEST_JAM:
                jams.append(data)
    nouns = []
    for commitment in commitments:
        for target in targets[:2]:
            nouns.append(tup(cord("mine-zk"), 5, belts(commitment), bignum(target), 64))
    nouns.append(tup(cord("mine"), 0, 0))
    nouns.append(tup(cord("liar-block-id"), belts(digests[0]), cord("bad-pow")))
    nouns.append(tup(cord("seen"), cord("block"), belts(digests[1]), (0, 17)))
    some = lambda value: (0, (0, value))  # a peek answer [~ ~ value]
    nouns.append(some((0, belts(digests[2]))))  # [%heavy ~]
    treap = tup(belts(digests[3]), 0, 0)
    nouns.append(some(((1, treap), 0)))  # [%heavy-summary ~]
    note = tup(1, 3, 0, 0, 65536)
    balance = tup(5, belts(digests[4]), tup((tup(belts(digests[0]), belts(digests[1]), 0), note), 0, 0))
    nouns.append(some(balance))
    nouns += [0, (0, 0)]
    for noun in nouns:
        jams.append(jam(noun))
    for data in jams:
        write("cue_jam", data)
        write("node_nouns", data)
        write("node_nouns", pb_bytes(1, data))  # PeekResponse { data } / EffectMessage

    for target in sorted(os.listdir(CORPUS)):
        print(f"{target}: {len(os.listdir(os.path.join(CORPUS, target)))} seeds")


if __name__ == "__main__":
    main()
