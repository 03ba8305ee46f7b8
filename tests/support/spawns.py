# Owns counting the trio tasks a piece of code spawns (a trio instrument
# added for a with block), for the tests that show a per-request task is
# gone. Must not change what it counts.
"""Count trio task spawns over a block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import trio


class SpawnCounter(trio.abc.Instrument):
    def __init__(self) -> None:
        self.spawned = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.spawned += 1


@contextmanager
def counting_spawns() -> Iterator[SpawnCounter]:
    """A counter of the tasks spawned (anywhere in this trio run) during the block."""
    counter = SpawnCounter()
    trio.lowlevel.add_instrument(counter)
    try:
        yield counter
    finally:
        trio.lowlevel.remove_instrument(counter)
