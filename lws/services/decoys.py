# Owns decoy selection for get_random_outs: wallet2's gamma picker over the
# RingCT output distribution (amount 0), the triangular picker for cleartext
# (pre-RingCT) amounts, and a cache of monerod's per-block output counts.
# Keys and commitments come from monerod's get_outs; only unlocked outputs
# are handed out. Must not touch the store, the HTTP layer or wire types.
"""Decoys (ring members) the way monero's wallet picks them."""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence

import msgspec
import trio

from lws.daemon import Daemon, OutEntry

#: wallet2's gamma distribution of log(output age in seconds) (GAMMA_SHAPE, GAMMA_SCALE).
GAMMA_SHAPE = 19.28
GAMMA_SCALE = 1 / 1.61
#: Seconds per block since v2 (DIFFICULTY_TARGET_V2).
BLOCK_TIME_S = 120
#: Blocks before an ordinary output can be spent (CRYPTONOTE_DEFAULT_TX_SPENDABLE_AGE):
#: the picker never looks at the newest ones.
SPENDABLE_AGE_BLOCKS = 10
#: wallet2's DEFAULT_UNLOCK_TIME: a picked age is shifted back by the unlock time.
DEFAULT_UNLOCK_TIME_S = SPENDABLE_AGE_BLOCKS * BLOCK_TIME_S
#: wallet2's RECENT_SPEND_WINDOW: an age below the unlock time is redrawn uniformly in it.
RECENT_SPEND_WINDOW_S = 15 * BLOCK_TIME_S
#: wallet2 estimates the output rate over at most the last year of blocks.
BLOCKS_IN_A_YEAR = 86400 * 365 // BLOCK_TIME_S
#: Re-read this many newest blocks of the distribution on every refresh, so a
#: reorg shallower than this never leaves stale counts behind.
DISTRIBUTION_REFETCH_BLOCKS = 100
#: Rounds of (draw a batch, ask monerod which are unlocked) before the
#: fallback for chains too small for the gamma picker (regtest) kicks in.
MAX_PICK_ROUNDS = 4
#: Draws per round per wanted decoy: on mainnet nearly all draws land; on a
#: tiny chain most fall past the oldest output and are thrown away.
DRAWS_PER_DECOY = 50
#: The uniform fallback only runs on chains this small (it lists every output);
#: on a real chain the gamma picker always fills the ring in its rounds.
FALLBACK_MAX_OUTPUTS = 100_000


class Decoy(msgspec.Struct, frozen=True):
    global_index: int
    #: Output public key and commitment (``mask`` in get_outs), 32 bytes each.
    public_key: bytes
    commitment: bytes


class NotEnoughOutputs(Exception):
    """The chain has no RingCT outputs old enough to pick from."""


class GammaPicker:
    """wallet2's ``gamma_picker`` over a cumulative RingCT output distribution.

    ``cumulative[h]`` is the number of RingCT outputs created in blocks
    ``0..h`` (as monerod's cumulative ``get_output_distribution`` from
    height 0). Blocks younger than the spendable age are never picked.
    """

    def __init__(self, cumulative: Sequence[int], rng: random.Random) -> None:
        if len(cumulative) <= SPENDABLE_AGE_BLOCKS:
            raise NotEnoughOutputs("the chain is shorter than the spendable age")
        self._offsets = cumulative
        self._rng = rng
        blocks_to_consider = min(len(cumulative), BLOCKS_IN_A_YEAR)
        before = (
            cumulative[len(cumulative) - blocks_to_consider - 1]
            if blocks_to_consider < len(cumulative)
            else 0
        )
        outputs_to_consider = cumulative[-1] - before
        # One past the last block that may be picked: current wallet2 stops
        # SPENDABLE_AGE - 1 blocks short of the top (an output in block h is
        # spendable in block h + 10, the next one to be mined is len(cumulative)).
        self._end = len(cumulative) - (SPENDABLE_AGE_BLOCKS - 1)
        self.num_outputs = cumulative[self._end - 1]
        if self.num_outputs == 0 or outputs_to_consider == 0:
            raise NotEnoughOutputs("no RingCT outputs are old enough")
        self.average_output_time = BLOCK_TIME_S * blocks_to_consider / outputs_to_consider

    def pick_age(self) -> float:
        """An output age in seconds, as wallet2 draws it (unlock time removed)."""
        x = math.exp(self._rng.gammavariate(GAMMA_SHAPE, GAMMA_SCALE))
        if x > DEFAULT_UNLOCK_TIME_S:
            return x - DEFAULT_UNLOCK_TIME_S
        return float(self._rng.randrange(RECENT_SPEND_WINDOW_S))

    def pick(self) -> int | None:
        """A global index, or None for a draw that fell outside the chain (redraw)."""
        offset = int(self.pick_age() / self.average_output_time)
        if offset >= self.num_outputs:
            return None
        target = self.num_outputs - 1 - offset
        # wallet2 takes std::lower_bound: the first block whose cumulative count
        # reaches ``target``; mirrored exactly so our rings look like wallet2's.
        block = bisect.bisect_left(self._offsets, target, 0, self._end)
        first = self._offsets[block - 1] if block > 0 else 0
        count = self._offsets[block] - first
        if count == 0:
            return None
        return first + self._rng.randrange(count)


def triangular_pick(total: int, rng: random.Random) -> int:
    """The spec's picker for cleartext amounts: recent outputs favoured."""
    return min(total - 1, int(total * math.sqrt(rng.random())))


class DistributionCache:
    """monerod's per-block RingCT output counts, kept and refreshed at the tail."""

    def __init__(self) -> None:
        self._counts: list[int] = []
        self._lock = trio.Lock()

    async def cumulative(self, daemon: Daemon) -> list[int]:
        async with self._lock:
            start = max(0, len(self._counts) - DISTRIBUTION_REFETCH_BLOCKS)
            dist = await daemon.get_output_distribution(0, from_height=start)
            # monerod may start earlier than asked; never later than what we hold.
            begin = min(dist.start_height, len(self._counts))
            self._counts[begin:] = dist.counts[begin - dist.start_height :]
            total = 0
            out: list[int] = []
            for n in self._counts:
                total += n
                out.append(total)
            return out


class DecoyPicker:
    """Picks ``count`` distinct unlocked decoys per requested amount."""

    def __init__(self, daemon: Daemon, rng: random.Random | None = None) -> None:
        self._daemon = daemon
        self._rng = rng if rng is not None else random.SystemRandom()
        self._distribution = DistributionCache()

    async def pick_rings(self, amounts: Sequence[int], count: int) -> list[list[Decoy]]:
        """One ring of ``count`` decoys per entry of ``amounts`` (0 = RingCT)."""
        cumulative: list[int] | None = None
        rings: list[list[Decoy]] = []
        for amount in amounts:
            if amount == 0:
                if cumulative is None:
                    cumulative = await self._distribution.cumulative(self._daemon)
                rings.append(await self.pick_ringct(cumulative, count))
            else:
                rings.append(await self.pick_cleartext(amount, count))
        return rings

    async def pick_ringct(self, cumulative: Sequence[int], count: int) -> list[Decoy]:
        """``count`` distinct unlocked RingCT outputs (fewer only if the chain has fewer)."""
        try:
            picker = GammaPicker(cumulative, self._rng)
        except NotEnoughOutputs:
            return []
        chosen: dict[int, Decoy] = {}
        tried: set[int] = set()
        for _ in range(MAX_PICK_ROUNDS):
            need = count - len(chosen)
            if need <= 0:
                break
            batch: list[int] = []
            for _ in range(need * DRAWS_PER_DECOY):
                index = picker.pick()
                if index is not None and index not in tried:
                    tried.add(index)
                    batch.append(index)
                    if len(batch) >= 2 * need:
                        break
            await self._keep_unlocked(0, batch, chosen, count)
        if len(chosen) < count and picker.num_outputs <= FALLBACK_MAX_OUTPUTS:
            # A chain too young for the gamma picker (regtest): fill uniformly
            # from the outputs it may pick, newest first, until enough are unlocked.
            rest = [i for i in range(picker.num_outputs - 1, -1, -1) if i not in tried]
            self._rng.shuffle(rest)
            await self._keep_unlocked(0, rest, chosen, count)
        return sorted(chosen.values(), key=lambda d: d.global_index)

    async def pick_cleartext(self, amount: int, count: int) -> list[Decoy]:
        """``count`` distinct unlocked outputs of a pre-RingCT ``amount``."""
        histogram = await self._daemon.get_output_histogram([amount])
        total = next((h.total_instances for h in histogram if h.amount == amount), 0)
        if total == 0:
            return []
        chosen: dict[int, Decoy] = {}
        tried: set[int] = set()
        for _ in range(MAX_PICK_ROUNDS):
            need = count - len(chosen)
            if need <= 0 or len(tried) >= total:
                break
            batch: list[int] = []
            for _ in range(need * DRAWS_PER_DECOY):
                index = triangular_pick(total, self._rng)
                if index not in tried:
                    tried.add(index)
                    batch.append(index)
                    if len(batch) >= 2 * need:
                        break
            await self._keep_unlocked(amount, batch, chosen, count)
        return sorted(chosen.values(), key=lambda d: d.global_index)

    async def _keep_unlocked(
        self, amount: int, indexes: list[int], chosen: dict[int, Decoy], count: int
    ) -> None:
        """Ask monerod about ``indexes`` in chunks; keep unlocked ones until ``count``."""
        step = max(2 * (count - len(chosen)), 1)
        for start in range(0, len(indexes), step):
            if len(chosen) >= count:
                return
            chunk = indexes[start : start + step]
            outs = await self._daemon.get_outs([(amount, i) for i in chunk])
            for index, out in zip(chunk, outs, strict=True):
                if len(chosen) < count and out.unlocked and index not in chosen:
                    decoy = _decoy(index, out)
                    if decoy is not None:
                        chosen[index] = decoy


def _decoy(index: int, out: OutEntry) -> Decoy | None:
    try:
        key, mask = bytes.fromhex(out.key), bytes.fromhex(out.mask)
    except ValueError:
        return None
    if len(key) != 32 or len(mask) != 32:
        return None
    return Decoy(global_index=index, public_key=key, commitment=mask)
