# Owns the statistical tests of the gamma decoy picker: it follows wallet2's
# distribution of output ages, never picks outputs younger than the spendable
# age, and covers a small chain's fallback. Pure: no daemon.
"""The gamma picker's statistics."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from lws.services.decoys import (
    BLOCK_TIME_S,
    DEFAULT_UNLOCK_TIME_S,
    GAMMA_SCALE,
    GAMMA_SHAPE,
    RECENT_SPEND_WINDOW_S,
    SPENDABLE_AGE_BLOCKS,
    GammaPicker,
    NotEnoughOutputs,
    triangular_pick,
)

#: A mainnet-like chain: 400k blocks, 100 outputs in each (avg output time 1.2 s).
BLOCKS = 400_000
PER_BLOCK = 100
CUMULATIVE = [PER_BLOCK * (h + 1) for h in range(BLOCKS)]
SAMPLES = 20_000


def test_log_ages_follow_wallet2_gamma() -> None:
    picker = GammaPicker(CUMULATIVE, random.Random(1))
    # Undo the unlock-time shift to get wallet2's raw draws back (only for x > unlock time).
    logs = [math.log(picker.pick_age() + DEFAULT_UNLOCK_TIME_S) for _ in range(SAMPLES)]
    logs = [x for x in logs if x > math.log(DEFAULT_UNLOCK_TIME_S) + 1e-9]
    mean, sd = GAMMA_SHAPE * GAMMA_SCALE, math.sqrt(GAMMA_SHAPE) * GAMMA_SCALE
    assert statistics.fmean(logs) == pytest.approx(mean, abs=0.05)
    assert statistics.stdev(logs) == pytest.approx(sd, rel=0.05)


def test_recent_spend_window_share() -> None:
    """Draws below the unlock time (~3.6% for wallet2's gamma) go uniformly into the window."""
    picker = GammaPicker(CUMULATIVE, random.Random(2))
    ages = [picker.pick_age() for _ in range(SAMPLES)]
    # P(exp(X) <= 1200 s) for X ~ Gamma(19.28, 1/1.61)
    share = sum(1 for a in ages if a < RECENT_SPEND_WINDOW_S) / SAMPLES
    assert 0.02 < share < 0.08


def test_picks_are_inside_the_spendable_range() -> None:
    picker = GammaPicker(CUMULATIVE, random.Random(3))
    youngest_allowed = CUMULATIVE[BLOCKS - SPENDABLE_AGE_BLOCKS]  # last 9 blocks never picked
    picks = [picker.pick() for _ in range(SAMPLES)]
    got = [p for p in picks if p is not None]
    assert len(got) > 0.95 * SAMPLES  # a few draws are older than the whole chain
    assert all(0 <= p < youngest_allowed for p in got)


def test_picked_ages_match_the_output_rate() -> None:
    """Median age in blocks ~ exp(median of the gamma) / block time."""
    picker = GammaPicker(CUMULATIVE, random.Random(4))
    top = CUMULATIVE[-1]
    ages_s = sorted(
        (top - p) / PER_BLOCK * BLOCK_TIME_S for p in (picker.pick() for _ in range(SAMPLES)) if p
    )
    median_gamma = GAMMA_SHAPE * GAMMA_SCALE * (1 - 1 / (9 * GAMMA_SHAPE)) ** 3
    expected = math.exp(median_gamma)
    assert statistics.median(ages_s) == pytest.approx(expected, rel=0.1)


def test_empty_blocks_are_never_picked() -> None:
    # Outputs only in even blocks.
    cumulative, total = [], 0
    for height in range(50_000):
        total += 40 if height % 2 == 0 else 0
        cumulative.append(total)
    picker = GammaPicker(cumulative, random.Random(5))
    for _ in range(5000):
        pick = picker.pick()
        if pick is not None:
            block = next(h for h in range(pick // 40 * 2, len(cumulative)) if cumulative[h] > pick)
            assert block % 2 == 0


def test_too_young_chains_are_refused() -> None:
    with pytest.raises(NotEnoughOutputs):
        GammaPicker([0] * SPENDABLE_AGE_BLOCKS, random.Random(0))
    with pytest.raises(NotEnoughOutputs):
        GammaPicker([0] * 100, random.Random(0))


def test_small_chain_mostly_misses_but_stays_in_range() -> None:
    cumulative = [h for h in range(200)]  # one output per block (regtest)
    picker = GammaPicker(cumulative, random.Random(6))
    picks = [picker.pick() for _ in range(5000)]
    got = [p for p in picks if p is not None]
    assert got and all(0 <= p < picker.num_outputs for p in got)


def test_triangular_favours_recent_outputs() -> None:
    rng = random.Random(7)
    total = 1000
    picks = [triangular_pick(total, rng) for _ in range(SAMPLES)]
    assert all(0 <= p < total for p in picks)
    # density 2x/total^2: the upper half holds 3/4 of the picks
    assert sum(1 for p in picks if p >= total // 2) / SAMPLES == pytest.approx(0.75, abs=0.02)
