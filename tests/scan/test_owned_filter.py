# Owns the tests of lws.scan.owned_filter: it never says "no" for an output it
# was given, says "no" for nearly all others, and treats pre-RingCT amounts
# as always "maybe".
from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from lws.scan.owned_filter import FILTER_BITS, OwnedFilter


def test_every_added_output_is_maybe_owned() -> None:
    rng = random.Random(7)
    owned = {rng.randrange(0, 200_000_000) for _ in range(5_000)}
    given_at_start = set(list(owned)[:2_500])
    added_later = owned - given_at_start
    bitmap = OwnedFilter(given_at_start)
    for index in added_later:
        bitmap.add(0, index)
    assert all(bitmap.may_own(0, index) for index in owned)
    others = [rng.randrange(0, 200_000_000) for _ in range(20_000)]
    false_maybes = sum(bitmap.may_own(0, i) for i in others if i not in owned)
    # 5,000 bits of 2**24 set: about 0.03% of other indexes pass in vain.
    assert false_maybes < 50


def test_pre_ringct_amounts_and_pool_outputs() -> None:
    bitmap = OwnedFilter()
    assert bitmap.may_own(5_000, 12)  # v1 amounts are not in the bitmap: always looked up
    bitmap.add(5_000, 12)
    assert not bitmap.may_own(0, 12)
    bitmap.add(0, -1)  # a pool output has no global index yet: ignored
    assert not bitmap.may_own(0, FILTER_BITS - 1)


def test_indexes_past_the_bitmap_wrap_and_stay_found() -> None:
    bitmap = OwnedFilter([FILTER_BITS + 5])
    assert bitmap.may_own(0, FILTER_BITS + 5)
    assert bitmap.may_own(0, 5)  # shares the bit: a "maybe", never a miss
    assert not bitmap.may_own(0, 6)


@given(
    st.sets(st.integers(min_value=0, max_value=4 * FILTER_BITS), max_size=50),
    st.lists(st.integers(min_value=0, max_value=4 * FILTER_BITS), max_size=40),
    st.integers(min_value=0, max_value=3),
)
def test_maybe_owned_keeps_exactly_the_members_may_own_says_maybe_to(
    owned: set[int], ring: list[int], amount: int
) -> None:
    """The whole-ring check the candidate-spend search uses agrees with the
    per-index one, member by member and in ring order, in every amount space."""
    bitmap = OwnedFilter(owned)
    expected = [member for member in ring if bitmap.may_own(amount, member)]
    assert bitmap.maybe_owned(amount, ring) == expected
    assert set(owned & set(ring)) <= set(bitmap.maybe_owned(0, ring))
