# Owns the tests of lws.gc_tuning: what it changes in the collector, and that
# reference cycles are still collected afterwards.
from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from lws.gc_tuning import OLDER_THRESHOLD, YOUNG_THRESHOLD, tune_for_long_running


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.mark.usefixtures("restored_gc")
def test_start_up_objects_are_frozen_and_collections_spaced_out() -> None:
    alive_at_start = _Node()
    assert any(obj is alive_at_start for obj in gc.get_objects())
    tune_for_long_running()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)
    assert gc.isenabled()
    # Frozen: in the permanent generation, which no collection walks.
    assert not any(obj is alive_at_start for obj in gc.get_objects())
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("restored_gc")
def test_cycles_made_after_tuning_are_still_collected() -> None:
    tune_for_long_running()
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    gone = weakref.ref(first)
    del first, second
    gc.collect()
    assert gone() is None
