"""Every transaction format mainnet's history holds, built byte by byte, is scanned right.

Only mainnet carries v1 transactions with cleartext amounts and RingCT types
1-5 (regtest starts at today's rules), so the scanner never meets them in the
regtest oracle tests.  Here a sender is played by hand: keys and amounts are
chosen, outputs keyed to the receivers' addresses, amounts hidden in
ecdhInfo the way each RingCT type does it (rctSigs.cpp ecdhEncode, both
versions), commitments made ``mask G + amount H``, payment ids written
long or encrypted (short), additional tx keys given to subaddress
destinations, and the transaction serialized by the layout of
cryptonote_basic.h / rctTypes.h.  The truth is what was built; nothing in
it comes from lws (the sender's math runs on libsodium and pysha3 directly).

The scan (lws.monero.tx parse + lws.monero.scan.scan_transactions) must
find exactly the outputs built for each scanned account, with their
amounts, masks, commitments, subaddresses and payment ids, from full and
from pruned blobs (what get_blocks.bin delivers), on every scan path.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import sha3
from nacl import bindings as sodium

from lws.monero.ownership import ViewKey, make_view_key
from lws.monero.scan import ScanTx, scan_transactions
from lws.monero.tx import parse_transaction, transaction_hash

from .scan_paths import scan_path as use_scan_path

# --- the sender's crypto, straight on libsodium and Keccak --------------------------

L = 2**252 + 27742317777372353535851937790883648493
#: rctTypes.h H: the amount generator.
H_POINT = bytes.fromhex("8b655970153799af2aeadc9ff1add0ea6c7251d54154cfa92c173a0dd39c1f94")


def keccak(data: bytes) -> bytes:
    return bytes(sha3.keccak_256(data).digest())


def hs(data: bytes) -> int:
    """hash_to_scalar: keccak, reduced mod l."""
    return int.from_bytes(keccak(data), "little") % L


def sc(value: int) -> bytes:
    return (value % L).to_bytes(32, "little")


def mul_base(value: int) -> bytes:
    return bytes(sodium.crypto_scalarmult_ed25519_base_noclamp(sc(value)))


def mul(value: int, point: bytes) -> bytes:
    return bytes(sodium.crypto_scalarmult_ed25519_noclamp(sc(value), point))


def add(p: bytes, q: bytes) -> bytes:
    return bytes(sodium.crypto_core_ed25519_add(p, q))


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def commit(amount: int, mask: int) -> bytes:
    """rct::commit: mask G + amount H."""
    masked = mul_base(mask)
    return masked if amount == 0 else add(masked, mul(amount, H_POINT))


#: The mask of a cleartext amount's commitment (zeroCommit): 1.
ONE = sc(1)


# --- accounts -----------------------------------------------------------------------


@dataclass
class Wallet:
    name: str
    view_secret: int
    spend_secret: int
    #: (major, minor) -> (spend public D, view public C)
    addresses: dict[tuple[int, int], tuple[bytes, bytes]] = field(default_factory=dict)

    @property
    def view_key(self) -> ViewKey:
        spend = self.addresses[(0, 0)][0]
        return make_view_key(
            sc(self.view_secret),
            spend,
            {d: index for index, (d, _) in self.addresses.items() if index != (0, 0)},
        )


def wallet(name: str, rng: random.Random) -> Wallet:
    a, b = rng.randrange(1, L), rng.randrange(1, L)
    spend = mul_base(b)
    found = Wallet(name, a, b, {(0, 0): (spend, mul_base(a))})
    for major, minor in ((0, 1), (0, 7), (2, 3)):
        m = hs(b"SubAddr\x00" + sc(a) + major.to_bytes(4, "little") + minor.to_bytes(4, "little"))
        sub_spend = add(spend, mul_base(m))
        found.addresses[(major, minor)] = (sub_spend, mul(a, sub_spend))
    return found


RNG = random.Random(18)
ALICE = wallet("alice", RNG)  # receives
BOB = wallet("bob", RNG)  # sends: the change is his
CAROL = wallet("carol", RNG)  # scanned, owns nothing
DAVE = wallet("dave", RNG)  # a stranger: receives, never scanned
SCANNED = (ALICE, BOB, CAROL)


# --- transactions -------------------------------------------------------------------


@dataclass
class Destination:
    to: Wallet
    subaddress: tuple[int, int]
    amount: int
    change: bool = False


@dataclass
class Expected:
    """One output a scanned account must find."""

    tx: int
    output_index: int
    amount: int
    mask: bytes
    commitment: bytes
    subaddress: tuple[int, int]
    tx_pubkey: bytes
    payment_id: bytes
    rct_type: int


@dataclass
class Built:
    blob: bytes
    pruned: bytes
    #: wallet name -> the outputs it owns in this tx (tx index filled in later)
    owned: dict[str, list[Expected]]
    description: str


def key_input(rng: random.Random, amount: int, ring: int) -> bytes:
    offsets = [rng.randrange(1, 5000) for _ in range(ring)]
    return (
        b"\x02"
        + varint(amount)
        + varint(ring)
        + b"".join(varint(o) for o in offsets)
        + mul_base(rng.randrange(1, L))  # a key image (any point)
    )


def build(
    rng: random.Random,
    *,
    version: int,
    rct_type: int | None,
    destinations: list[Destination],
    tagged: bool,
    coinbase: bool = False,
    payment_id: str | None = None,
    n_inputs: int = 2,
) -> Built:
    """A transaction paying ``destinations`` in order, as wallet2 would."""
    n_out = len(destinations)
    r = rng.randrange(1, L)
    subs = [d for d in destinations if d.subaddress != (0, 0) and not d.change]
    stds = [d for d in destinations if d.subaddress == (0, 0) and not d.change]
    # wallet2 (construct_tx_with_tx_key): one subaddress destination and no
    # standard one: R = r D_sub; any mix with a subaddress: additional keys.
    use_additional = bool(subs) and (bool(stds) or len(subs) > 1)
    if len(subs) == 1 and not stds:
        tx_pubkey = mul(r, subs[0].to.addresses[subs[0].subaddress][0])
    else:
        tx_pubkey = mul_base(r)
    additional: list[bytes] = []
    outputs = b""
    ecdh = b""
    out_pk = b""
    owned: dict[str, list[Expected]] = {}
    for index, dest in enumerate(destinations):
        spend, view = dest.to.addresses[dest.subaddress]
        if use_additional:
            r_i = rng.randrange(1, L)
            source = mul(r_i, spend) if dest.subaddress != (0, 0) else mul_base(r_i)
            additional.append(source)
            derivation = mul(8 * r_i, view)
        elif dest.change and tx_pubkey != mul_base(r):
            # change back to the sender's own address when R = r D_sub:
            # wallet2 derives it with the sender's view key, 8 a R.
            source = tx_pubkey
            derivation = mul(8 * dest.to.view_secret, tx_pubkey)
        else:
            source = tx_pubkey
            derivation = mul(8 * r, view)
        shared = hs(derivation + varint(index))  # Hs(D || i)
        key = add(mul_base(shared), spend)
        tag = keccak(b"view_tag" + derivation + varint(index))[0]
        target = (b"\x03" + key + bytes([tag])) if tagged else (b"\x02" + key)
        if rct_type in (None, 0):  # cleartext amount (v1, or a v2 coinbase)
            outputs += varint(dest.amount) + target
            mask, commitment = ONE, (commit(dest.amount, 1) if rct_type == 0 else b"")
        else:
            outputs += varint(0) + target
            if rct_type in (1, 2, 3):  # ecdhEncode v1: both hidden with Hs(s), Hs(Hs(s))
                mask_value = rng.randrange(1, L)
                secret1 = hs(sc(shared))
                secret2 = hs(sc(secret1))
                ecdh += sc(mask_value + secret1) + sc(dest.amount + secret2)
            else:  # ecdhEncode v2: an 8-byte amount; the mask comes from s
                mask_value = hs(b"commitment_mask" + sc(shared))
                pad = keccak(b"amount" + sc(shared))[:8]
                ecdh += bytes(
                    a ^ b for a, b in zip(dest.amount.to_bytes(8, "little"), pad, strict=True)
                )
            mask, commitment = sc(mask_value), commit(dest.amount, mask_value)
            out_pk += commitment
        owned.setdefault(dest.to.name, []).append(
            Expected(
                tx=-1,
                output_index=index,
                amount=dest.amount,
                mask=mask,
                commitment=commitment,
                subaddress=dest.subaddress,
                tx_pubkey=source,
                payment_id=b"",
                rct_type=-1 if version == 1 else (rct_type or 0),
            )
        )
    extra = b"\x01" + tx_pubkey
    if payment_id == "long":
        pid = rng.randbytes(32)
        extra += b"\x02" + varint(33) + b"\x00" + pid
        for found in owned.values():
            for expected in found:
                expected.payment_id = pid
    elif payment_id == "short":
        # To the first destination's standard address (an integrated address):
        # encrypted with 8 r A (HASH_KEY_ENCRYPTED_PAYMENT_ID = 0x8d).
        pid = rng.randbytes(8)
        first = destinations[0].to
        pad = keccak(mul(8 * r, first.addresses[(0, 0)][1]) + b"\x8d")[:8]
        extra += b"\x02" + varint(9) + b"\x01" + bytes(a ^ b for a, b in zip(pid, pad, strict=True))
        for name, found in owned.items():
            # Every account decrypts with its own derivation of R (wallet2):
            # the receiver gets the id, anybody else 8 bytes of noise.
            holder = {w.name: w for w in (ALICE, BOB, CAROL, DAVE)}[name]
            own_pad = keccak(mul(8 * holder.view_secret, tx_pubkey) + b"\x8d")[:8]
            seen = bytes(a ^ b ^ c for a, b, c in zip(pid, pad, own_pad, strict=True))
            for expected in found:
                expected.payment_id = seen if any(seen) else b""
    if additional:
        extra += b"\x04" + varint(len(additional)) + b"".join(additional)

    if coinbase:
        inputs = b"\xff" + varint(rng.randrange(1, 3_000_000))
        n_in, ring = 1, 0
    else:
        ring = 1 if version == 1 and rng.random() < 0.5 else rng.choice([3, 5, 11, 16])
        amount_in = sum(d.amount for d in destinations) + 10**9 if version == 1 else 0
        inputs = b"".join(key_input(rng, amount_in, ring) for _ in range(n_inputs))
        n_in = n_inputs
    prefix = (
        varint(version)
        + varint(0)  # unlock_time
        + varint(n_in)
        + inputs
        + varint(n_out)
        + outputs
        + varint(len(extra))
        + extra
    )
    if version == 1:
        signatures = rng.randbytes(64 * ring * n_in) if not coinbase else b""
        blob = prefix + signatures
        pruned = prefix
    elif rct_type == 0:
        blob = pruned = prefix + b"\x00"
    else:
        assert rct_type is not None
        base = bytes([rct_type]) + varint(rng.randrange(10**7, 10**10))  # type, txnFee
        if rct_type == 2:  # RCTTypeSimple: pseudoOuts in the base
            base += b"".join(mul_base(rng.randrange(1, L)) for _ in range(n_in))
        base += ecdh + out_pk
        # The prunable part (range proofs, MLSAG/CLSAG, pseudoOuts): hashed
        # into the txid, never read by a scanner; its content is irrelevant.
        prunable = rng.randbytes(rng.randrange(200, 2000))
        blob = prefix + base + prunable
        pruned = prefix + base
    description = (
        f"v{version} type {rct_type} {'tagged' if tagged else 'untagged'}"
        f"{' coinbase' if coinbase else ''}{' additional' if additional else ''}"
        f" pid={payment_id}"
    )
    return Built(blob, pruned, owned, description)


def chain() -> list[Built]:
    """Every historical format, each with the destinations it has been seen with."""
    rng = random.Random(2014)
    xmr = 10**12
    txs: list[Built] = []

    def amount() -> int:
        return rng.randrange(1, 50 * xmr)

    # v1 (2014-2017): cleartext, denominated amounts; coinbase and transfers.
    txs.append(
        build(
            rng,
            version=1,
            rct_type=None,
            tagged=False,
            coinbase=True,
            destinations=[
                Destination(ALICE, (0, 0), 7 * xmr),
                Destination(ALICE, (0, 0), 3 * 10**11),
                Destination(ALICE, (0, 0), 2 * 10**9),
            ],
        )
    )
    for pid in (None, "long", "short"):
        txs.append(
            build(
                rng,
                version=1,
                rct_type=None,
                tagged=False,
                payment_id=pid,
                destinations=[
                    Destination(ALICE, (0, 0), 5 * xmr),
                    Destination(BOB, (0, 0), 10**11, change=True),
                    Destination(DAVE, (0, 0), 4 * 10**10),
                    Destination(ALICE, (0, 0), 6 * 10**9),
                ],
            )
        )
    # v2 coinbase (RCT type 0): cleartext amounts, tagged since v15.
    for tagged in (False, True):
        txs.append(
            build(
                rng,
                version=2,
                rct_type=0,
                tagged=tagged,
                coinbase=True,
                destinations=[Destination(ALICE, (0, 0), amount())],
            )
        )
    # RingCT transfers: types 1-6 (Full, Simple, Bulletproof, Bulletproof2,
    # CLSAG, BulletproofPlus); view tags arrived with type 6 (v15), and all
    # types are also built the other way round (the parser and the scan must
    # not care).  Destinations: standard address + change, a subaddress +
    # change (R = r D_sub), mixed (additional keys), payment ids.
    shapes: list[tuple[str, list[Destination], str | None]] = [
        (
            "standard",
            [
                Destination(ALICE, (0, 0), amount()),
                Destination(BOB, (0, 0), amount(), change=True),
            ],
            "short",
        ),
        (
            "subaddress",
            [
                Destination(BOB, (0, 0), amount(), change=True),
                Destination(ALICE, (0, 7), amount()),
            ],
            None,
        ),
        (
            "mixed",
            [
                Destination(ALICE, (2, 3), amount()),
                Destination(DAVE, (0, 0), amount()),
                Destination(ALICE, (0, 0), amount()),
                Destination(BOB, (0, 0), amount(), change=True),
                Destination(ALICE, (0, 1), amount()),
            ],
            "long",
        ),
    ]
    for rct_type, tagged, (_, destinations, pid) in itertools.product(
        range(1, 7), (False, True), shapes
    ):
        txs.append(
            build(
                rng,
                version=2,
                rct_type=rct_type,
                tagged=tagged,
                payment_id=pid,
                destinations=[
                    Destination(d.to, d.subaddress, amount(), d.change) for d in destinations
                ],
            )
        )
    # Nothing for the scanned accounts: a tx between strangers.
    txs.append(
        build(
            rng,
            version=2,
            rct_type=5,
            tagged=False,
            destinations=[Destination(DAVE, (0, 0), amount()), Destination(DAVE, (0, 1), 1)],
        )
    )
    return txs


CHAIN = chain()


# --- scan paths ---------------------------------------------------------------------


#: The C extension (ladders 8 at a time or one by one), or none (X25519 ladders).
PATHS = ["native-vector", "native-portable", "x25519-sodium"]


@pytest.fixture(params=PATHS)
def scan_path(request: pytest.FixtureRequest) -> Iterator[str]:
    with use_scan_path(request.param):
        yield request.param


# --- the proof ----------------------------------------------------------------------


def expected_by_account() -> dict[str, list[Expected]]:
    found: dict[str, list[Expected]] = {w.name: [] for w in SCANNED}
    for tx_index, built in enumerate(CHAIN):
        for name, outputs in built.owned.items():
            if name in found:
                for output in outputs:
                    output.tx = tx_index
                    found[name].append(output)
    return found


def scan(blobs: list[bytes], accounts: list[ViewKey]) -> dict[int, list[Expected]]:
    items = []
    for position, blob in enumerate(blobs):
        tx = parse_transaction(blob)
        tx_hash = transaction_hash(tx, bytes(32)) if tx.pruned and tx.version == 2 else b""
        if not tx.pruned:
            tx_hash = transaction_hash(tx)
        indexes = tuple(1000 * position + i for i in range(len(tx.outputs)))
        items.append(ScanTx(tx=tx, tx_hash=tx_hash, global_indexes=indexes))
    results = scan_transactions(items, accounts, {})
    found: dict[int, list[Expected]] = {p: [] for p in range(len(accounts))}
    for tx_index, row in enumerate(results):
        for position, result in enumerate(row):
            if result is None:
                continue
            for out in result.received:
                assert out.global_index == 1000 * tx_index + out.output_index
                found[position].append(
                    Expected(
                        tx=tx_index,
                        output_index=out.output_index,
                        amount=out.amount,
                        mask=out.mask,
                        commitment=out.commitment,
                        subaddress=out.subaddress,
                        tx_pubkey=out.tx_pubkey,
                        payment_id=out.payment_id,
                        rct_type=out.rct_type,
                    )
                )
    return found


def test_the_chain_covers_every_format() -> None:
    described = {built.description for built in CHAIN}
    for rct_type in range(1, 7):
        for tagged in ("tagged", "untagged"):
            assert any(f"v2 type {rct_type} {tagged}" in d for d in described)
    assert any(d.startswith("v1 type None untagged coinbase") for d in described)
    assert any("v2 type 0 tagged coinbase" in d for d in described)
    assert any("additional" in d for d in described)
    for pid in ("long", "short"):
        assert any(d.startswith("v1") and f"pid={pid}" in d for d in described)
        assert any(d.startswith("v2") and f"pid={pid}" in d for d in described)
    expected = expected_by_account()
    assert expected["carol"] == []
    assert len(expected["alice"]) > 60 and len(expected["bob"]) > 30


@pytest.mark.parametrize("form", ["full", "pruned"])
def test_scan_finds_exactly_what_was_built(scan_path: str, form: str) -> None:
    expected = expected_by_account()
    blobs = [built.blob if form == "full" else built.pruned for built in CHAIN]
    found = scan(blobs, [w.view_key for w in SCANNED])
    for position, wallet_ in enumerate(SCANNED):
        assert found[position] == expected[wallet_.name], wallet_.name


def test_scan_with_many_accounts(scan_path: str) -> None:
    """The same with the accounts among 20 others (the C comb path and full
    8-lane blocks), in another order."""
    rng = random.Random(7)
    others = [wallet(f"other{i}", rng) for i in range(20)]
    accounts = [*others[:9], BOB, *others[9:], CAROL, ALICE]
    expected = expected_by_account()
    found = scan([built.pruned for built in CHAIN], [w.view_key for w in accounts])
    for position, wallet_ in enumerate(accounts):
        assert found[position] == expected.get(wallet_.name, []), wallet_.name


def test_each_account_alone(scan_path: str) -> None:
    expected = expected_by_account()
    for wallet_ in SCANNED:
        found = scan([built.pruned for built in CHAIN], [wallet_.view_key])
        assert found[0] == expected[wallet_.name], wallet_.name
