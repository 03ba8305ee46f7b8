# Owns the tests of the webhook bodies: every body field for field and in
# monero-lws's order as its code writes them (src/db/data.cpp write_bytes of
# output, spend, webhook_tx_confirmation, webhook_tx_spend,
# webhook_new_account), the pool form without id and block, pre-RingCT
# outputs without rct_mask, lws's tx-reorg body, determinism, and the
# signature header.
from __future__ import annotations

import hashlib
import hmac
import json

import msgspec

from lws.notify.bodies import render, signature
from lws.store import (
    NO_ACCOUNT,
    ConfirmationEvent,
    HookRecord,
    HookType,
    NewAccountEvent,
    ReorgEvent,
    SpendEvent,
)
from tests.support.store_data import make_output, make_spend


def hook(hook_type: HookType, payment_id: bytes | None = bytes(8)) -> HookRecord:
    return HookRecord(
        type=hook_type,
        account_id=NO_ACCOUNT if hook_type == HookType.NEW_ACCOUNT else 3,
        event_id=bytes.fromhex("fa10a4db485145f1a24dc09c19a79d43"),
        url="http://127.0.0.1/x",
        token="1234",
        payment_id=payment_id,
        confirmations=3,
        secret="s3cret",
        created=1,
    )


def pairs(body: bytes) -> list[tuple[str, object]]:
    """The body's top-level (key, value) pairs in the order sent."""
    return json.loads(body, object_pairs_hook=list)  # type: ignore[no-any-return]


OUT = msgspec.structs.replace(
    make_output(2_192_100, 3, 0, global_index=5_550_229, amount=4_949_570_000, subaddress=(0, 2)),
    payment_id=bytes.fromhex("df034c176eca3296"),
    timestamp=1_678_324_181,
    fee=30_440_000,
)


def expected_tx_info(out=OUT, mined=True):  # type: ignore[no-untyped-def]
    info = []
    if mined:
        info += [
            ("id", [("high", out.index_amount), ("low", out.global_index)]),
            ("block", out.height),
        ]
    info += [
        ("index", out.output_index),
        ("amount", out.amount),
        ("timestamp", out.timestamp),
        ("tx_hash", out.tx_hash.hex()),
        ("tx_prefix_hash", out.tx_prefix_hash.hex()),
        ("tx_public", out.tx_pubkey.hex()),
    ]
    if out.rct_type != -1:
        info.append(("rct_mask", out.mask.hex()))
    if out.payment_id:
        info.append(("payment_id", out.payment_id.hex()))
    info += [
        ("unlock_time", out.unlock_time),
        ("mixin_count", out.mixin),
        ("coinbase", out.coinbase),
        ("fee", out.fee),
        ("recipient", [("maj_i", out.subaddress[0]), ("min_i", out.subaddress[1])]),
        ("pub", out.output_key.hex()),
    ]
    return info


def test_tx_confirmation_body_is_monero_lws_field_for_field() -> None:
    pid = bytes.fromhex("df034c176eca3296")
    body = render(ConfirmationEvent(OUT, 2), hook(HookType.TX_CONFIRMATION, pid))
    assert pairs(body) == [
        ("event", "tx-confirmation"),
        ("payment_id", "df034c176eca3296"),
        ("token", "1234"),
        ("confirmations", 2),
        ("event_id", "fa10a4db485145f1a24dc09c19a79d43"),
        ("tx_info", expected_tx_info()),
    ]


def test_pool_output_has_no_id_or_block_and_v1_no_rct_mask() -> None:
    pool = msgspec.structs.replace(OUT, height=None, global_index=0, payment_id=b"")
    body = pairs(render(ConfirmationEvent(pool, 0), hook(HookType.TX_CONFIRMATION)))
    assert dict(body)["confirmations"] == 0
    assert dict(body)["payment_id"] == "0000000000000000"
    assert dict(body)["tx_info"] == expected_tx_info(pool, mined=False)
    v1 = make_output(10, 0, 1, rct_type=-1, amount=7_000, global_index=44)
    info = dict(pairs(render(ConfirmationEvent(v1, 1), hook(HookType.TX_CONFIRMATION))))
    assert info["tx_info"] == expected_tx_info(v1)
    assert dict(info["tx_info"])["id"] == [("high", 7_000), ("low", 44)]  # type: ignore[call-overload]


def test_any_hook_echoes_the_outputs_payment_id() -> None:
    body = dict(pairs(render(ConfirmationEvent(OUT, 1), hook(HookType.TX_CONFIRMATION, None))))
    assert body["payment_id"] == "df034c176eca3296"
    long = msgspec.structs.replace(OUT, payment_id=b"\xaa" * 32)
    info = dict(pairs(render(ConfirmationEvent(long, 1), hook(HookType.TX_CONFIRMATION, None))))
    assert info["payment_id"] == "aa" * 8
    assert dict(info["tx_info"])["payment_id"] == "aa" * 32  # type: ignore[call-overload]


def test_tx_spend_body_is_monero_lws_field_for_field() -> None:
    source = make_output(100, 1, 0, global_index=6_246_316, amount=10_000_000_000)
    spend = make_spend(200, 2, source)
    event = SpendEvent(spend, source_index_amount=0, source_mixin=15, sender=(1, 7))
    assert pairs(render(event, hook(HookType.TX_SPEND))) == [
        ("event", "tx-spend"),
        ("token", "1234"),
        ("event_id", "fa10a4db485145f1a24dc09c19a79d43"),
        (
            "tx_info",
            [
                (
                    "input",
                    [
                        ("height", 200),
                        ("tx_hash", spend.tx_hash.hex()),
                        ("image", spend.key_image.hex()),
                        ("source", [("high", 0), ("low", 6_246_316)]),
                        ("timestamp", spend.timestamp),
                        ("unlock_time", 0),
                        ("mixin_count", 15),
                        ("sender", [("maj_i", 1), ("min_i", 7)]),
                    ],
                ),
                (
                    "source",
                    [
                        ("id", [("high", 0), ("low", 6_246_316)]),
                        ("amount", 10_000_000_000),
                        ("mixin", 15),
                        ("index", 0),
                        ("tx_public", source.tx_pubkey.hex()),
                    ],
                ),
            ],
        ),
    ]


def test_new_account_body_has_no_event_key() -> None:
    body = render(NewAccountEvent("9zGwAddress"), hook(HookType.NEW_ACCOUNT))
    assert pairs(body) == [
        ("event_id", "fa10a4db485145f1a24dc09c19a79d43"),
        ("token", "1234"),
        ("address", "9zGwAddress"),
    ]


def test_tx_reorg_body() -> None:
    body = render(ReorgEvent(OUT), hook(HookType.TX_CONFIRMATION, None))
    assert pairs(body) == [
        ("event", "tx-reorg"),
        ("payment_id", "df034c176eca3296"),
        ("token", "1234"),
        ("event_id", "fa10a4db485145f1a24dc09c19a79d43"),
        ("height", 2_192_100),
        ("tx_info", expected_tx_info()),
    ]


def test_bodies_are_deterministic_and_signed() -> None:
    event = ConfirmationEvent(OUT, 1)
    first = render(event, hook(HookType.TX_CONFIRMATION))
    assert render(event, hook(HookType.TX_CONFIRMATION)) == first
    mac = hmac.new(b"s3cret", first, hashlib.sha256).hexdigest()
    assert signature("s3cret", first) == "sha256=" + mac
