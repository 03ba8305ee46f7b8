# Owns the one builder of each storage record for tests and tools: every
# field filled with a plain default, overridden by keyword; a candidate
# spend takes its source_* fields from the output it spends. Must not write
# to a store or derive keys: callers pick the values their test needs.
"""OutputRecord and SpendRecord builders with defaults."""

from __future__ import annotations

from typing import Any

from lws.store import IDENTITY_MASK, RCT_TYPE_V1, OutputRecord, SpendRecord, tx_index_of

#: A block timestamp at height 0 of the test chains (regtest-like spacing after it).
GENESIS_TIME = 1_700_000_000
#: Seconds between blocks in test chains (monero's target).
BLOCK_SECONDS = 120


def output_record(**fields: Any) -> OutputRecord:
    """A mined RingCT (type 6) output at ``height`` (default 1), ``position`` 0."""
    height = fields.get("height", 1)
    position = fields.pop("position", 0)
    v1 = fields.get("rct_type", 6) == RCT_TYPE_V1
    values: dict[str, Any] = dict(
        height=height,
        tx_index=tx_index_of(height, position) if height is not None else 0,
        tx_hash=b"\x11" * 32,
        tx_prefix_hash=b"\x22" * 32,
        output_index=0,
        global_index=0,
        amount=1_000,
        mask=IDENTITY_MASK if v1 else b"\x05" + b"\x00" * 31,
        rct_type=6,
        commitment=b"" if v1 else b"\x33" * 32,
        ecdh_amount=b"" if v1 else b"\x44" * 8,
        output_key=b"\x55" * 32,
        tx_pubkey=b"\x66" * 32,
        subaddress=(0, 0),
        unlock_time=0,
        timestamp=GENESIS_TIME + (height or 0) * BLOCK_SECONDS,
        coinbase=False,
        mixin=15,
        payment_id=b"",
        fee=30_000,
    )
    values.update(fields)
    return OutputRecord(**values)


def spend_record(source: OutputRecord, **fields: Any) -> SpendRecord:
    """A candidate spend of ``source`` in a tx at ``height`` (default: the
    block after the source's), ``position`` 0."""
    height = fields.get("height", (source.height or 0) + 1)
    position = fields.pop("position", 0)
    values: dict[str, Any] = dict(
        key_image=b"\x88" * 32,
        height=height,
        tx_index=tx_index_of(height, position) if height is not None else 0,
        tx_hash=b"\x99" * 32,
        timestamp=GENESIS_TIME + (height or 0) * BLOCK_SECONDS,
        unlock_time=0,
        mixin=15,
        fee=40_000,
        payment_id=b"",
        source_tx_index=source.tx_index,
        source_output_index=source.output_index,
        source_global_index=source.global_index,
        source_amount=source.amount,
        source_tx_pubkey=source.tx_pubkey,
    )
    values.update(fields)
    return SpendRecord(**values)
