# Owns what get_unspent_outs needs from monerod besides the store: the fee
# estimate and the current hard fork, fetched together, kept for a few
# seconds and never past a change of monerod's height (as the scanner last
# saw it), one fetch in flight shared by every request that waits for it.
# Errors are never kept: the next request asks monerod again. Must not read
# the store or know HTTP.
"""A short-lived, shared cache of monerod's fee estimate and hard fork."""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec
import trio

from lws.daemon import Daemon, FeeEstimate, HardForkInfo

#: Seconds a fetched fee estimate is served: monerod's estimate moves with
#: blocks (~2 min apart on mainnet); a few seconds bounds how stale it is
#: while sparing monerod two calls per get_unspent_outs.
FEE_TTL_S = 5.0


class FeeInfo(msgspec.Struct, frozen=True):
    """monerod's fee estimate and hard fork, as of one fetch."""

    estimate: FeeEstimate
    fork: HardForkInfo
    #: monerod's height (scanner's view) when fetched; 0 unknown.
    daemon_height: int = 0


class _Fetch:
    __slots__ = ("done", "result", "error")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.result: FeeInfo | None = None
        self.error: Exception | None = None


class FeeCache:
    """``await get()``: the current FeeInfo, from monerod at most every FEE_TTL_S."""

    def __init__(
        self,
        daemon: Daemon,
        daemon_height: Callable[[], int] | None = None,
        *,
        ttl: float = FEE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._daemon = daemon
        self._height = daemon_height
        self._ttl = ttl
        self._clock = clock
        self._value: FeeInfo | None = None
        self._fetched_at = 0.0
        self._inflight: _Fetch | None = None
        self.fetches = 0

    def _fresh(self) -> FeeInfo | None:
        value = self._value
        if value is None or self._clock() - self._fetched_at >= self._ttl:
            return None
        if self._height is not None and self._height() != value.daemon_height:
            return None
        return value

    async def get(self) -> FeeInfo:
        while True:
            value = self._fresh()
            if value is not None:
                return value
            fetch = self._inflight
            if fetch is None:
                return await self._lead()
            await fetch.done.wait()
            if fetch.result is not None:
                return fetch.result
            if fetch.error is not None:
                raise fetch.error
            # the leading request was cancelled: try again (maybe lead)

    async def _lead(self) -> FeeInfo:
        fetch = self._inflight = _Fetch()
        try:
            height = self._height() if self._height is not None else 0
            started = self._clock()
            estimate, fork = await self._both()
            value = FeeInfo(estimate=estimate, fork=fork, daemon_height=height)
            self._value, self._fetched_at = value, started
            fetch.result = value
            return value
        except Exception as exc:
            fetch.error = exc
            raise
        finally:
            self._inflight = None
            fetch.done.set()

    async def _both(self) -> tuple[FeeEstimate, HardForkInfo]:
        self.fetches += 1
        results: dict[str, FeeEstimate | HardForkInfo] = {}

        async def fee() -> None:
            results["fee"] = await self._daemon.get_fee_estimate()

        async def fork() -> None:
            results["fork"] = await self._daemon.hard_fork_info()

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(fee)
                nursery.start_soon(fork)
        except BaseExceptionGroup as group:
            # One daemon failure is what callers expect (503), not a group.
            first = group.exceptions[0]
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            raise first from None
        fee_estimate, fork_info = results["fee"], results["fork"]
        assert isinstance(fee_estimate, FeeEstimate) and isinstance(fork_info, HardForkInfo)
        return fee_estimate, fork_info
