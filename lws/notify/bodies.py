# Owns turning an outbox event and its hook into the exact bytes POSTed to
# the receiver (monero-lws's bodies, lws/wire/webhooks.py) and the
# signature over them. Deterministic: the same record and hook give the same
# bytes on every attempt, so a retry carries the same body and signature.
# Must not read the store or send anything.
"""Webhook bodies and their signatures."""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

import msgspec

from lws.store import (
    RCT_TYPE_V1,
    ConfirmationEvent,
    Event,
    HookRecord,
    NewAccountEvent,
    OutputRecord,
    ReorgEvent,
    SpendEvent,
)
from lws.store.records import short_payment_id
from lws.wire.webhooks import (
    AddressIndex,
    ConfirmationBody,
    NewAccountBody,
    OutputId,
    ReorgBody,
    SpendBody,
    SpendInfo,
    SpendInput,
    SpendSource,
    TxInfo,
)

_ENCODER: Final = msgspec.json.Encoder()
#: The signature header's scheme prefix (GitHub's and BTCPay's convention).
SIGNATURE_PREFIX: Final = "sha256="


def payment_id_text(hook: HookRecord, out: OutputRecord) -> str:
    """The body's top-level ``payment_id``: the hook's filter as monero-lws
    sends it (16 zeros for "none"); for an "any" hook, the output's own."""
    if hook.payment_id is not None:
        return hook.payment_id.hex()
    return short_payment_id(out.payment_id).hex()


def tx_info(out: OutputRecord) -> TxInfo:
    mined = out.height is not None
    return TxInfo(
        id=OutputId(high=out.index_amount, low=out.global_index) if mined else None,
        block=out.height,
        index=out.output_index,
        amount=out.amount,
        timestamp=out.timestamp,
        tx_hash=out.tx_hash.hex(),
        tx_prefix_hash=out.tx_prefix_hash.hex(),
        tx_public=out.tx_pubkey.hex(),
        rct_mask=out.mask.hex() if out.rct_type != RCT_TYPE_V1 else None,
        payment_id=out.payment_id.hex() if out.payment_id else None,
        unlock_time=out.unlock_time,
        mixin_count=out.mixin,
        coinbase=out.coinbase,
        fee=out.fee,
        recipient=AddressIndex(maj_i=out.subaddress[0], min_i=out.subaddress[1]),
        pub=out.output_key.hex(),
    )


def body_of(event: Event, hook: HookRecord) -> msgspec.Struct:
    event_id = hook.event_id.hex()
    if isinstance(event, ConfirmationEvent):
        return ConfirmationBody(
            event="tx-confirmation",
            payment_id=payment_id_text(hook, event.output),
            token=hook.token,
            confirmations=event.confirmations,
            event_id=event_id,
            tx_info=tx_info(event.output),
        )
    if isinstance(event, ReorgEvent):
        return ReorgBody(
            event="tx-reorg",
            payment_id=payment_id_text(hook, event.output),
            token=hook.token,
            event_id=event_id,
            height=event.output.height or 0,
            tx_info=tx_info(event.output),
        )
    if isinstance(event, SpendEvent):
        spend = event.spend
        source = OutputId(high=event.source_index_amount, low=spend.source_global_index)
        return SpendBody(
            event="tx-spend",
            token=hook.token,
            event_id=event_id,
            tx_info=SpendInfo(
                input=SpendInput(
                    height=spend.height or 0,
                    tx_hash=spend.tx_hash.hex(),
                    image=spend.key_image.hex(),
                    source=source,
                    timestamp=spend.timestamp,
                    unlock_time=spend.unlock_time,
                    mixin_count=spend.mixin,
                    payment_id=spend.payment_id.hex() if len(spend.payment_id) == 32 else None,
                    sender=AddressIndex(maj_i=event.sender[0], min_i=event.sender[1]),
                ),
                source=SpendSource(
                    id=source,
                    amount=spend.source_amount,
                    mixin=event.source_mixin,
                    index=spend.source_output_index,
                    tx_public=spend.source_tx_pubkey.hex(),
                ),
            ),
        )
    assert isinstance(event, NewAccountEvent)
    return NewAccountBody(event_id=event_id, token=hook.token, address=event.address)


def render(event: Event, hook: HookRecord) -> bytes:
    """The exact body POSTed for ``event`` to ``hook``."""
    return _ENCODER.encode(body_of(event, hook))


def signature(secret: str, body: bytes) -> str:
    """``X-Lws-Signature``: ``sha256=`` + hex HMAC-SHA256 of the raw body,
    keyed with the hook's secret text (UTF-8)."""
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + mac
