#!/usr/bin/env python3
"""Writes the protocol test vectors of docs/protocol.md.

A second implementation of the byte layouts (Python standard library plus the
`cryptography` package for ed25519 and RSA key encoding) that follows
docs/protocol.md step by step and shares no code with the Rust implementation. It was run once to make the JSON files in
this directory and `card/tests/vectors/card.json`; the Rust tests
(`shared/tests/protocol_vectors.rs`, `card/tests/protocol_vectors.rs`) compare the
code's output against those stored files, so a change in a layout fails them.

Run again only to add vectors: `python3 make_vectors.py` (the RSA key is read back
from coin.json when it exists, so the other values stay the same; ed25519 signatures
are deterministic).
"""

import base64
import datetime
import hashlib
import json
import os
import struct

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "..", ".."))
CARD_OUT = os.path.join(ROOT, "card", "tests", "vectors", "card.json")


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def hx(b):
    return b.hex()


def u32(n):
    return struct.pack(">I", n)


def u64(n):
    return struct.pack(">Q", n)


def i64(n):
    return struct.pack(">q", n)


def seed(byte):
    return bytes([byte]) * 32


def ed_key(s):
    return ed25519.Ed25519PrivateKey.from_private_bytes(s)


def ed_pub(s):
    return ed_key(s).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def unix(rfc3339):
    return int(
        datetime.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ")
        .replace(tzinfo=datetime.timezone.utc)
        .timestamp()
    )


def write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


# ---------------------------------------------------------------- coin signatures

def lp4(b):
    """A field of a coin's spend message: 4-byte big-endian length, then the bytes."""
    return u32(len(b)) + b


def lp8(b):
    """A field of the contract, receipt and op hashes: 8-byte big-endian length."""
    return u64(len(b)) + b


def spend_message(purpose, fields):
    out = lp4(b"ecash/v1/coin-sig") + lp4(purpose.encode())
    for f in fields:
        out += lp4(f)
    return out


def outputs_hash(outputs):
    h = hashlib.sha256()
    h.update(b"ecash/v1/outputs")
    h.update(u64(len(outputs)))
    for keyset_id, blinded in outputs:
        h.update(keyset_id)
        h.update(u64(len(blinded)))
        h.update(blinded)
    return h.digest()


def contract_preimage(c):
    out = lp8(b"ecash/v1/contract")
    for s in [c["order_id"], c["merchant"]]:
        out += lp8(s.encode())
    out += lp8(u64(c["amount"]))
    out += lp8(c["currency"].encode())
    out += lp8(c["summary"].encode())
    out += lp8((c["fulfillment_url"] or "").encode())
    out += lp8((c["allowed_origin"] or "").encode())
    out += lp8(i64(unix(c["created_at"])))
    out += lp8(i64(unix(c["expires_at"])))
    return out


def receipt_bytes(order_id, contract_hash, amount, paid_at):
    return (
        lp8(b"ecash/v1/receipt")
        + lp8(order_id.encode())
        + lp8(contract_hash)
        + lp8(u64(amount))
        + lp8(i64(unix(paid_at)))
    )


# ---------------------------------------------------------------- RSA (RFC 9474)

def mgf1(seed_, length):
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha384(seed_ + u32(counter)).digest()
        counter += 1
    return out[:length]


def emsa_pss_encode(msg, em_bits, salt):
    m_hash = hashlib.sha384(msg).digest()
    em_len = (em_bits + 7) // 8
    h = hashlib.sha384(b"\x00" * 8 + m_hash + salt).digest()
    ps = b"\x00" * (em_len - len(salt) - 48 - 2)
    db = ps + b"\x01" + salt
    mask = mgf1(h, em_len - 48 - 1)
    masked = bytearray(a ^ b for a, b in zip(db, mask))
    masked[0] &= 0xFF >> (8 * em_len - em_bits)
    return bytes(masked) + h + b"\xbc"


def rsa_key():
    path = os.path.join(HERE, "coin.json")
    if os.path.exists(path):
        k = json.load(open(path))["rsa_key"]
        p, q, e = (int(k[x], 16) for x in ("p", "q", "e"))
        n = p * q
        d = int(k["d"], 16)  # as stored (the generator's d is mod lcm(p-1, q-1))
        return rsa.RSAPrivateNumbers(
            p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p),
            rsa.RSAPublicNumbers(e, n),
        ).private_key()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def main():
    out = {}

    # --- The coin: keyset, withdrawal (blind, sign, finalize), the coin on the wire.
    key = rsa_key()
    nums = key.private_numbers()
    n, e, d = nums.public_numbers.n, nums.public_numbers.e, nums.d
    k_len = (n.bit_length() + 7) // 8
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    keyset_id = hashlib.sha256(der).digest()
    coin_seed = seed(0x11)
    coin_pub = ed_pub(coin_seed)
    msg_prefix = bytes(range(0x20, 0x40))
    input_msg = msg_prefix + coin_pub
    salt = bytes(range(0x40, 0x70))  # 48 bytes: the PSS salt (hash length)
    em = int.from_bytes(emsa_pss_encode(input_msg, n.bit_length() - 1, salt), "big")
    r = int.from_bytes(hashlib.sha512(b"ecash protocol vector r").digest() * 4, "big") % n
    inv = pow(r, -1, n)
    blinded = em * pow(r, e, n) % n
    blind_sig = pow(blinded, d, n)
    sig = blind_sig * inv % n
    assert pow(sig, e, n) == em
    to_b = lambda x: x.to_bytes(k_len, "big")
    key.public_key().verify(
        to_b(sig), input_msg,
        padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48), hashes.SHA384(),
    )
    keyset = {
        "id": b64(keyset_id),
        "value": 64,
        "scheme": "RSABSSA-SHA384-PSS-Randomized",
        "public_key": b64(der),
        "withdraw_until": "2027-01-01T00:00:00Z",
        "deposit_until": "2027-04-01T00:00:00Z",
    }
    coin = {
        "keyset_id": b64(keyset_id),
        "coin_pub": b64(coin_pub),
        "msg_prefix": b64(msg_prefix),
        "sig": b64(to_b(sig)),
    }
    write(os.path.join(HERE, "coin.json"), {
        "description": "A coin from withdrawal to the wire: the keyset (RSA-2048), the "
        "coin key, RFC 9474 RSABSSA-SHA384-PSS-Randomized with fixed prefix, salt and r.",
        "rsa_key": {"p": hex(nums.p), "q": hex(nums.q), "e": hex(e), "n": hex(n), "d": hex(d)},
        "keyset": keyset,
        "keyset_id_hex": hx(keyset_id),
        "coin_seed": hx(coin_seed),
        "coin_pub": hx(coin_pub),
        "msg_prefix": hx(msg_prefix),
        "input_msg": hx(input_msg),
        "salt": hx(salt),
        "r": hx(to_b(r)),
        "inv": hx(to_b(inv)),
        "blinded_msg": hx(to_b(blinded)),
        "blind_sig": hx(to_b(blind_sig)),
        "sig": hx(to_b(sig)),
        "coin": coin,
    })

    # --- The contract and its hash.
    contract = {
        "order_id": "ord_9f3a2b",
        "merchant": "Demo Shop",
        "amount": 250,
        "currency": "EUR",
        "summary": "Coffee beans, 250 g",
        "fulfillment_url": "https://shop.example/thanks",
        "allowed_origin": None,
        "created_at": "2026-11-25T12:00:00Z",
        "expires_at": "2026-11-25T13:00:00Z",
    }
    pre = contract_preimage(contract)
    contract_hash = hashlib.sha256(pre).digest()
    contract_wire = dict(contract, contract_hash=b64(contract_hash))
    write(os.path.join(HERE, "contract.json"), {
        "description": "GET /v1/orders/{id}: the contract as JSON, the canonical "
        "pre-image of its hash (8-byte length prefixes) and contract_hash = SHA-256(pre-image).",
        "contract": contract_wire,
        "preimage": hx(pre),
        "contract_hash": hx(contract_hash),
    })

    # --- The outputs hash (swap, refund claim).
    outputs = [
        (keyset_id, bytes([0xA1]) * k_len),
        (keyset_id, bytes([0xB2]) * k_len),
    ]
    oh = outputs_hash(outputs)
    outputs_wire = [{"keyset_id": b64(k), "blinded_msg": b64(m)} for k, m in outputs]
    write(os.path.join(HERE, "outputs_hash.json"), {
        "description": "hash_outputs: SHA-256 over \"ecash/v1/outputs\", the count (u64) "
        "and per output keyset_id (32) || len(blinded_msg) (u64) || blinded_msg.",
        "outputs": outputs_wire,
        "outputs_hash": hx(oh),
    })

    # --- The spend messages (coin signatures), one per purpose.
    sk = ed_key(coin_seed)
    cases = []
    for purpose, fields, named in [
        ("pay", [contract_hash], {"contract_hash": hx(contract_hash)}),
        ("deposit", [b"alice"], {"account": "alice"}),
        ("swap", [oh], {"outputs_hash": hx(oh)}),
        ("refund", [b"ord_9f3a2b", oh], {"order_id": "ord_9f3a2b", "outputs_hash": hx(oh)}),
    ]:
        m = spend_message(purpose, fields)
        cases.append(dict(purpose=purpose, **named, message=hx(m), coin_sig=hx(sk.sign(m))))
    write(os.path.join(HERE, "spend_messages.json"), {
        "description": "The bytes a coin key signs (SpendMessage): 4-byte big-endian length "
        "prefixes; coin_sig is the ed25519 signature with the coin key of coin.json.",
        "coin_seed": hx(coin_seed),
        "coin_pub": hx(coin_pub),
        "cases": cases,
    })

    # --- Request bodies as they go on the wire (pay, swap, deposit, refund claim).
    sig_of = {c["purpose"]: b64(bytes.fromhex(c["coin_sig"])) for c in cases}
    write(os.path.join(HERE, "requests.json"), {
        "description": "Request bodies a client sends, built from the vectors above; "
        "each coin_sig verifies over the SpendMessage the endpoint rebuilds.",
        "account": "alice",
        "order_id": "ord_9f3a2b",
        "pay": {"coins": [{"coin": coin, "coin_sig": sig_of["pay"]}]},
        "deposit": {"coins": [{"coin": coin, "coin_sig": sig_of["deposit"]}]},
        "swap": {"inputs": [{"coin": coin, "coin_sig": sig_of["swap"]}], "outputs": outputs_wire},
        "refund_claim": {"coin_pubs": [b64(coin_pub)], "sigs": [sig_of["refund"]],
                         "outputs": outputs_wire},
    })

    # --- The bank's receipt.
    receipt_seed = seed(0x22)
    rb = receipt_bytes("ord_9f3a2b", contract_hash, 250, "2026-11-25T12:05:00Z")
    bank_sig = ed_key(receipt_seed).sign(rb)
    write(os.path.join(HERE, "receipt.json"), {
        "description": "POST /v1/orders/{id}/pay answer: the receipt, the bytes bank_sig "
        "signs (8-byte length prefixes) and the receipt key (from GET /v1/keys).",
        "receipt_key_seed": hx(receipt_seed),
        "receipt_key": hx(ed_pub(receipt_seed)),
        "receipt": {
            "order_id": "ord_9f3a2b",
            "contract_hash": b64(contract_hash),
            "amount": 250,
            "paid_at": "2026-11-25T12:05:00Z",
            "bank_sig": b64(bank_sig),
        },
        "signed_bytes": hx(rb),
    })

    # --- The send token (wallet-web/src/core/token.rs).
    bank_url = "http://127.0.0.1:8080"
    tok = bytes([1]) + struct.pack(">H", len(bank_url)) + bank_url.encode()
    tok += struct.pack(">H", 1) + keyset_id + coin_seed + msg_prefix
    tok += struct.pack(">H", k_len) + to_b(sig)
    write(os.path.join(HERE, "token.json"), {
        "description": "A send token carrying the coin of coin.json (with its secret).",
        "bank_url": bank_url,
        "bytes": hx(tok),
        "token": "ecash:" + b64(tok),
    })

    card_vectors()


# ---------------------------------------------------------------- cards

DOMAIN = b"ecash/v1/card/"


def signing_input(tag, body):
    return DOMAIN + bytes([len(tag)]) + tag.encode() + body


def card_vectors():
    issuer_seed, payer_seed, payee_seed = seed(0x01), seed(0x02), seed(0x03)
    payer_id, payee_id = bytes.fromhex("0102030405060708"), bytes.fromhex("1112131415161718")
    eur = b"EUR"
    msgs = []

    def add(name, tag, fields, body, signer):
        si = signing_input(tag, body)
        sig = ed_key(signer).sign(si)
        msgs.append({
            "name": name, "tag": tag, "fields": fields, "body": hx(body),
            "signing_input": hx(si), "signer_seed": hx(signer),
            "signature": hx(sig), "signed": hx(body + sig),
        })
        return body + sig

    # Certificate (the payer's): version 1, personal purse.
    cert_body = (bytes([1]) + payer_id + ed_pub(payer_seed) + bytes([1]) + eur
                 + u64(20000) + u64(5000) + u64(10000))
    payer_cert = add("cert", "cert", {
        "card_id": hx(payer_id), "card_pub": hx(ed_pub(payer_seed)), "mode": "personal",
        "currency": "EUR", "balance_cap": 20000, "per_transfer_limit": 5000,
        "daily_limit": 10000}, cert_body, issuer_seed)

    terms_f = {"payer": hx(payer_id), "payee": hx(payee_id), "currency": "EUR",
               "amount": 1234, "payer_seq": 7, "payee_seq": 9, "purpose": "payment"}
    terms = payer_id + payee_id + eur + u64(1234) + u32(7) + u32(9) + bytes([0])
    add("request", "request", terms_f, terms, payee_seed)
    value = add("value", "value", terms_f, terms, payer_seed)
    ack = add("ack", "ack", terms_f, terms, payee_seed)

    add("load", "load", {"card_id": hx(payer_id), "currency": "EUR", "amount": 5000,
                         "load_seq": 1, "kind": "bank", "day": 20417},
        payer_id + eur + u64(5000) + u32(1) + bytes([0]) + u32(20417), issuer_seed)
    add("load-receipt", "load-receipt", {"card_id": hx(payer_id), "currency": "EUR",
                                         "amount": 5000, "load_seq": 1, "balance_after": 5000},
        payer_id + eur + u64(5000) + u32(1) + u64(5000), payer_seed)
    dest = hashlib.sha256(b"ecash/v1/card/unload-destination/alice").digest()
    add("unload", "unload", {"card_id": hx(payer_id), "currency": "EUR", "amount": 1000,
                             "unload_seq": 1, "destination": hx(dest), "account": "alice"},
        payer_id + eur + u64(1000) + u32(1) + dest, payer_seed)
    add("exception", "exception", {"card_id": hx(payer_id), "exception_id": 1,
                                   "kind": "unacked_debit", "terms": terms_f},
        payer_id + u32(1) + bytes([1]) + terms, payer_seed)

    def id_list(ids, cap):
        return bytes([len(ids)]) + b"".join(u32(i) for i in ids) + u32(0) * (cap - len(ids))

    add("clear", "clear", {"card_id": hx(payer_id), "ids": [1, 3]},
        payer_id + id_list([1, 3], 8), issuer_seed)
    add("settle", "settle", {"card_id": hx(payee_id), "settled": [9], "refused": [4]},
        payee_id + id_list([9], 16) + id_list([4], 16), issuer_seed)
    add("unlock", "unlock", {"card_id": hx(payer_id), "unlock_seq": 1, "day": 20418},
        payer_id + u32(1) + u32(20418), issuer_seed)
    add("lock-report", "lock-report", {"card_id": hx(payer_id), "unlock_seq": 1,
                                       "reason": "per_transfer_limit", "day": 20417,
                                       "balance": 3766, "spent_today": 1234},
        payer_id + u32(1) + bytes([1]) + u32(20417) + u64(3766) + u64(1234), payer_seed)

    status = (bytes([2, 1, 0]) + u64(3766) + u32(20417) + u64(1234) + u32(8) + u32(2)
              + u32(2) + u32(1) + bytes([0, 0, 3, 3, 5, 1, 1]) + u64(0))
    write(CARD_OUT, {
        "description": "Card messages (docs/protocol.md, \"Cards\"): body, the signing "
        "input \"ecash/v1/card/\" || len(tag) (1 byte) || tag || body, the ed25519 "
        "signature by the seed's key, and the signed message body || signature. Seeds: "
        "issuer 01…, payer card 02…, payee card 03….",
        "issuer_seed": hx(issuer_seed),
        "issuer_pub": hx(ed_pub(issuer_seed)),
        "payer_seed": hx(payer_seed),
        "payee_seed": hx(payee_seed),
        "messages": msgs,
        "credit": {"value": hx(value), "ack": hx(ack), "bytes": hx(value + ack)},
        "cert_bytes": hx(payer_cert),
        "purse_status": {
            "fields": {"lifecycle": 2, "mode": "personal", "lock": None, "balance": 3766,
                       "day": 20417, "spent_today": 1234, "next_seq": 8, "next_load_seq": 2,
                       "next_unload_seq": 2, "next_unlock_seq": 1, "pending": 0,
                       "exceptions": 0, "log_entries": 3, "pin_tries": 3, "puk_tries": 5,
                       "pin_verified": True, "credits": 1, "unsettled": 0},
            "bytes": hx(status),
        },
    })


if __name__ == "__main__":
    main()
