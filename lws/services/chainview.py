# Owns the chain-derived facts every account reply shares: the chain height
# lws has scanned to, when an output unlocks (monero's rules), and the ISO
# timestamps of the API. Must not read records beyond the chain top or talk to
# monerod.
"""Heights, locks and timestamps."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from lws.store import Reader
from lws.store.records import OutputRecord

#: Blocks before an ordinary output can be spent (CRYPTONOTE_DEFAULT_TX_SPENDABLE_AGE).
SPENDABLE_AGE_BLOCKS = 10
#: Blocks before a coinbase output can be spent (CRYPTONOTE_MINED_MONEY_UNLOCK_WINDOW).
COINBASE_UNLOCK_BLOCKS = 60
#: unlock_time below this is a block height, else a unix time (CRYPTONOTE_MAX_BLOCK_NUMBER).
MAX_BLOCK_NUMBER = 500_000_000
#: monerod accepts a time-locked output this many seconds early
#: (CRYPTONOTE_LOCKED_TX_ALLOWED_DELTA_SECONDS_V2 = one block target).
LOCKED_TX_ALLOWED_DELTA_S = 120


def chain_height(reader: Reader) -> int:
    """Blocks lws knows (top height + 1), as monerod's get_height counts them."""
    top = reader.chain_top()
    return 0 if top is None else top[0] + 1


def is_unlocked(out: OutputRecord, height: int, now: float | None = None) -> bool:
    """Whether ``out`` may be spent in the next block, with ``height`` blocks in the chain."""
    if out.height is None:
        return False
    age = COINBASE_UNLOCK_BLOCKS if out.coinbase else SPENDABLE_AGE_BLOCKS
    if out.height + age > height:
        return False
    if out.unlock_time == 0:
        return True
    if out.unlock_time < MAX_BLOCK_NUMBER:
        return height >= out.unlock_time
    current = time.time() if now is None else now
    return current + LOCKED_TX_ALLOWED_DELTA_S >= out.unlock_time


def time_unlock_at(out: OutputRecord) -> float:
    """When a time lock of ``out`` ends (unix seconds; inf without one): a
    reply that counts ``out`` as locked is stale from then on."""
    if out.unlock_time < MAX_BLOCK_NUMBER:
        return math.inf
    return float(out.unlock_time - LOCKED_TX_ALLOWED_DELTA_S)


#: Distinct timestamps whose ISO text is kept (blocks and pool sightings);
#: past it the memo starts over (bounded memory whatever the chain).
ISO_MEMO_SIZE = 1 << 16
_iso_memo: dict[int, str] = {}


def _format_iso(timestamp: int) -> str:
    try:
        moment = datetime.fromtimestamp(max(0, timestamp), UTC)
    except (OverflowError, ValueError, OSError):
        moment = datetime.fromtimestamp(0, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_time(timestamp: int) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (the clients parse this form), memoized."""
    text = _iso_memo.get(timestamp)
    if text is None:
        if len(_iso_memo) >= ISO_MEMO_SIZE:
            _iso_memo.clear()
        text = _iso_memo[timestamp] = _format_iso(timestamp)
    return text
