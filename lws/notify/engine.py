# Owns delivering the outbox: finds pending records (new ones, requeued ones,
# all of them at start), POSTs each to its hook with the X-Lws-* headers,
# retries on the configured schedule, records every result (in batches, one
# short write transaction each), and prunes finished records. Per hook,
# deliveries go one at a time in seq order; per host, a few at a time; hosts
# whose attempts time out share a separate small pool, so a hanging receiver
# holds only its own hooks. Must not write events (the store's writers do)
# or decide what a body says (bodies.py). Each attempt's outcome is counted in
# lws_webhook_deliveries_total (lws.metrics).
"""The webhook delivery engine, a long-running part of `lws serve`."""

from __future__ import annotations

import functools
import heapq
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

import httpx
import msgspec
import trio

from lws import metrics
from lws.store import DeliveryRecord, DeliveryState, HookRecord, OutboxInfo, Reader, Store, Writer

from .bodies import render, signature

log = logging.getLogger(__name__)

#: Concurrent deliveries to hosts in good standing, all hosts together.
FAST_SLOTS: Final = 32
#: Concurrent deliveries to hosts whose recent attempts timed out or were
#: slow (mAPI keeps 20% of its tasks for them): they cannot starve the rest.
SLOW_SLOTS: Final = 8
#: Concurrent deliveries to one host (different hooks; one hook is serial):
#: a receiver is not flooded, and one host cannot take every slot.
HOST_SLOTS: Final = 4
#: A host is slow while one of its last this-many attempts timed out or took
#: more than half the timeout.
SLOW_WINDOW: Final = 5
#: How often the store is checked for new or requeued records (other
#: processes write events too: API workers, `lws admin`).
POLL_SECONDS: Final = 0.25
#: Results written per transaction at most, and how long the first result
#: waits for company: a busy engine commits a few times per second, not once
#: per delivery.
RESULT_BATCH: Final = 512
RESULT_LINGER_SECONDS: Final = 0.02
#: Finished records are pruned this often, this many looked at per transaction.
PRUNE_EVERY_SECONDS: Final = 60.0
PRUNE_BUDGET: Final = 5_000
#: Pruning starts deleting the oldest finished records once the outbox holds
#: this fraction of its limit, so pending events keep room.
PRUNE_KEEP_FRACTION: Final = 0.8
#: The outbox is reported as nearly full from this fraction of its limit.
WARN_FRACTION: Final = 0.9
#: Bytes of a receiver's reply read (to reuse the connection); more is dropped.
MAX_REPLY_BYTES: Final = 64 * 1024
#: Longest error text kept on a record.
MAX_ERROR_TEXT: Final = 200
USER_AGENT: Final = "lws-webhooks/1"


@dataclass(frozen=True)
class DeliverySettings:
    timeout: float = 10.0
    retry_delays: tuple[float, ...] = (10.0, 60.0, 600.0, 600.0, 600.0, 600.0, 600.0, 600.0)
    keep_seconds: float = 7 * 86_400.0
    outbox_limit: int = 100_000
    verify_tls: bool = True
    fast_slots: int = FAST_SLOTS
    slow_slots: int = SLOW_SLOTS
    host_slots: int = HOST_SLOTS
    poll_seconds: float = POLL_SECONDS


class NotifyStatus(msgspec.Struct, kw_only=True):
    """Counters of this run (and the outbox's, read from the store): the
    delivery metrics."""

    attempts: int = 0
    delivered: int = 0
    #: Attempts that failed and were scheduled again.
    retried: int = 0
    #: Deliveries that used up their retries.
    failed: int = 0
    in_flight: int = 0
    queued: int = 0
    slow_hosts: int = 0
    outbox: OutboxInfo | None = None


@dataclass
class _HookQueue:
    key: bytes
    host: str
    #: Pending seqs (a heap: smallest = oldest = next) and when each may go.
    seqs: list[int] = field(default_factory=list)
    due: dict[int, float] = field(default_factory=dict)
    busy: bool = False

    def add(self, seq: int, due: float) -> bool:
        if seq in self.due:
            return False
        heapq.heappush(self.seqs, seq)
        self.due[seq] = due
        return True

    def drop_head(self) -> None:
        seq = heapq.heappop(self.seqs)
        del self.due[seq]


@dataclass
class _Host:
    name: str
    #: Idle hook queues with work: (due, head seq, hook key); stale entries
    #: are skipped when popped.
    ready: list[tuple[float, int, bytes]] = field(default_factory=list)
    #: Set (and replaced) by wake(); a worker waits on the one it saw last.
    changed: trio.Event = field(default_factory=trio.Event)
    marks: deque[bool] = field(default_factory=lambda: deque(maxlen=SLOW_WINDOW))
    #: Hook queues of this host that hold work or are delivering.
    queues: int = 0
    workers: int = 0

    @property
    def slow(self) -> bool:
        return any(self.marks)

    def wake(self) -> None:
        changed, self.changed = self.changed, trio.Event()
        changed.set()


@dataclass(frozen=True)
class _Result:
    seq: int
    redeliveries: int
    record: DeliveryRecord


def host_of(url: str) -> str:
    """The host a URL's deliveries are grouped by: scheme, host and port."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


class DeliveryEngine:
    """Delivers the outbox of ``store``; start it with ``nursery.start(engine.run)``."""

    def __init__(
        self,
        store: Store,
        settings: DeliverySettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self.status = NotifyStatus()
        self._transport = transport
        self._clock = clock
        self._queues: dict[bytes, _HookQueue] = {}
        self._hosts: dict[str, _Host] = {}
        self._hook_hosts: dict[bytes, str] = {}
        self._max_seen = 0
        self._generation: int | None = -1
        self._woken = trio.Event()
        self._fast = trio.CapacityLimiter(settings.fast_slots)
        self._slow = trio.CapacityLimiter(settings.slow_slots)
        self._results_in, self._results_out = trio.open_memory_channel[_Result](math.inf)
        self._nursery: trio.Nursery | None = None
        self._client: httpx.AsyncClient | None = None
        self._dropped_seen: int | None = None
        self._warned_full = False

    # -- public ------------------------------------------------------------------
    def wake(self) -> None:
        """Events were written: look now instead of at the next poll."""
        self._woken.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        limit = self.settings.outbox_limit
        await trio.to_thread.run_sync(self.store.transact, lambda w: w.set_outbox_limit(limit))
        limits = httpx.Limits(
            max_connections=self.settings.fast_slots + self.settings.slow_slots,
            max_keepalive_connections=self.settings.fast_slots + self.settings.slow_slots,
        )
        async with (
            httpx.AsyncClient(
                transport=self._transport,
                limits=limits,
                verify=self.settings.verify_tls,
                follow_redirects=False,
                trust_env=False,
                timeout=self.settings.timeout,
            ) as client,
            trio.open_nursery() as nursery,
        ):
            self._client = client
            self._nursery = nursery
            await self._refresh()
            nursery.start_soon(self._watch)
            nursery.start_soon(self._write_results)
            nursery.start_soon(self._prune_loop)
            task_status.started()

    # -- finding work -----------------------------------------------------------------
    async def _watch(self) -> None:
        while True:
            with trio.move_on_after(self.settings.poll_seconds):
                await self._woken.wait()
            self._woken = trio.Event()
            generation = self.store.generation()
            if generation is None or generation != self._generation:
                self._generation = generation
                await self._refresh()

    async def _refresh(self) -> None:
        """Queue what is new in the outbox and what operators requeued."""
        found = await trio.to_thread.run_sync(self.store.query, self._read_new)
        records, hooks, requeued, info = found
        if requeued:
            taken = await trio.to_thread.run_sync(self.store.transact, self._take_requeued)
            records.extend(taken[0])
            hooks.update(taken[1])
        for key, hook in hooks.items():
            if hook is not None:
                self._hook_hosts[key] = host_of(hook.url)
        for seq, record in records:
            if record.state == DeliveryState.PENDING:
                self._enqueue(seq, record)
        self._observe(info)

    def _read_new(
        self, reader: Reader
    ) -> tuple[
        list[tuple[int, DeliveryRecord]], dict[bytes, HookRecord | None], list[int], OutboxInfo
    ]:
        records = list(reader.deliveries(after=self._max_seen))
        if records:
            self._max_seen = max(self._max_seen, records[-1][0])
        hooks = {
            record.hook: reader.hook(record.hook)
            for _, record in records
            if record.hook not in self._hook_hosts
        }
        return records, hooks, reader.requeued(), reader.outbox_info()

    def _take_requeued(
        self, writer: Writer
    ) -> tuple[list[tuple[int, DeliveryRecord]], dict[bytes, HookRecord | None]]:
        records: list[tuple[int, DeliveryRecord]] = []
        hooks: dict[bytes, HookRecord | None] = {}
        for seq in writer.take_requeued():
            record = writer.delivery(seq)
            if record is not None:
                records.append((seq, record))
                if record.hook not in self._hook_hosts:
                    hooks[record.hook] = writer.hook(record.hook)
        return records, hooks

    def _enqueue(self, seq: int, record: DeliveryRecord) -> None:
        host_name = self._hook_hosts.get(record.hook)
        if host_name is None:
            return  # its hook is gone; so is the record, or it soon will be
        queue = self._queues.get(record.hook)
        if queue is None:
            queue = self._queues[record.hook] = _HookQueue(record.hook, host_name)
            self._host(host_name).queues += 1
        was_head = queue.seqs[0] if queue.seqs else None
        if not queue.add(seq, record.next_attempt):
            return
        self.status.queued += 1
        if not queue.busy and queue.seqs[0] != was_head:
            self._offer(queue)

    def _host(self, name: str) -> _Host:
        host = self._hosts.get(name)
        if host is None:
            host = self._hosts[name] = _Host(name)
        return host

    def _offer(self, queue: _HookQueue) -> None:
        """Queue ``queue`` (idle, not empty) at its host."""
        host = self._host(queue.host)
        head = queue.seqs[0]
        heapq.heappush(host.ready, (queue.due[head], head, queue.key))
        host.wake()
        assert self._nursery is not None
        while host.workers < self.settings.host_slots:
            host.workers += 1
            self._nursery.start_soon(self._host_worker, host)

    def _observe(self, info: OutboxInfo) -> None:
        self.status.outbox = info
        if self._dropped_seen is not None and info.dropped_events > self._dropped_seen:
            log.error(
                "webhook outbox full (%d records, limit %d): %d events dropped "
                "(%d since the store began); deliveries are behind or failing",
                info.entries,
                info.limit,
                info.dropped_events - self._dropped_seen,
                info.dropped_events,
            )
        self._dropped_seen = info.dropped_events
        nearly = info.entries >= WARN_FRACTION * info.limit
        if nearly and not self._warned_full:
            log.warning(
                "webhook outbox at %d of its %d records; new events are dropped at the limit",
                info.entries,
                info.limit,
            )
        self._warned_full = nearly

    # -- delivering -------------------------------------------------------------------
    async def _host_worker(self, host: _Host) -> None:
        """One of a host's HOST_SLOTS workers: takes its host's next ready hook."""
        try:
            while True:
                picked = await self._next_ready(host)
                if picked is None:
                    return
                queue, seq = picked
                limiter = self._slow if host.slow else self._fast
                async with limiter:
                    await self._attempt(host, queue, seq)
        finally:
            host.workers -= 1

    async def _next_ready(self, host: _Host) -> tuple[_HookQueue, int] | None:
        while True:
            changed = host.changed
            now = self._clock()
            while host.ready:
                due, seq, key = host.ready[0]
                queue = self._queues.get(key)
                if queue is None or queue.busy or not queue.seqs or queue.seqs[0] != seq:
                    heapq.heappop(host.ready)  # stale
                    continue
                if queue.due[seq] != due:
                    heapq.heappop(host.ready)
                    continue
                if due > now:
                    break
                heapq.heappop(host.ready)
                queue.busy = True
                return queue, seq
            if not host.ready and host.queues == 0:
                return None  # nothing left for this host: the workers end
            wait = host.ready[0][0] - now if host.ready else math.inf
            with trio.move_on_after(min(wait, 3600.0)):
                await changed.wait()

    async def _attempt(self, host: _Host, queue: _HookQueue, seq: int) -> None:
        self.status.in_flight += 1
        try:
            loaded = await trio.to_thread.run_sync(self.store.query, lambda r: _load(r, seq))
            if loaded is None:
                self._finish(queue, seq)
                return
            record, hook, delivery_id = loaded
            if record.state != DeliveryState.PENDING:
                self._finish(queue, seq)
                return
            body = render(record.event, hook)
            attempt = record.attempts + 1
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Lws-Delivery": delivery_id,
                "X-Lws-Signature": signature(hook.secret, body),
                "X-Lws-Event": record.event.name,
                "X-Lws-Attempt": str(attempt),
            }
            started = time.monotonic()
            status, error, timed_out = await self._post(hook.url, body, headers)
            took = time.monotonic() - started
            host.marks.append(timed_out or took > self.settings.timeout / 2)
            self.status.slow_hosts = sum(1 for h in self._hosts.values() if h.slow)
            self.status.attempts += 1
            now = self._clock()
            if 200 <= status < 300:
                state, next_attempt = DeliveryState.DELIVERED, 0.0
                self.status.delivered += 1
                metrics.webhook_delivery("delivered")
                self._finish(queue, seq)
            elif attempt > len(self.settings.retry_delays):
                state, next_attempt = DeliveryState.FAILED, 0.0
                self.status.failed += 1
                metrics.webhook_delivery("failed")
                log.warning(
                    "webhook delivery %s to %s failed for good after %d attempts: %s",
                    delivery_id,
                    host.name,
                    attempt,
                    error or f"HTTP {status}",
                )
                self._finish(queue, seq)
            else:
                state = DeliveryState.PENDING
                next_attempt = now + self.settings.retry_delays[attempt - 1]
                self.status.retried += 1
                metrics.webhook_delivery("retry")
                queue.due[seq] = next_attempt
                self._release(queue)
            updated = msgspec.structs.replace(
                record,
                state=state,
                attempts=attempt,
                next_attempt=next_attempt,
                updated=int(now),
                last_status=status,
                last_error=error[:MAX_ERROR_TEXT],
            )
            self._results_in.send_nowait(_Result(seq, record.redeliveries, updated))
        except BaseException:
            if queue.busy:
                self._release(queue)
            raise
        finally:
            self.status.in_flight -= 1

    def _finish(self, queue: _HookQueue, seq: int) -> None:
        """``seq`` is done with (delivered, failed or gone): next in its queue."""
        if queue.seqs and queue.seqs[0] == seq:
            queue.drop_head()
            self.status.queued -= 1
        self._release(queue)

    def _release(self, queue: _HookQueue) -> None:
        queue.busy = False
        if queue.seqs:
            self._offer(queue)
        elif self._queues.pop(queue.key, None) is not None:
            host = self._host(queue.host)
            host.queues -= 1
            host.wake()

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bool]:
        """(HTTP status or 0, error text, timed out) of one POST."""
        assert self._client is not None
        try:
            with trio.fail_after(self.settings.timeout):
                async with self._client.stream("POST", url, content=body, headers=headers) as reply:
                    read = 0
                    async for chunk in reply.aiter_raw():
                        read += len(chunk)
                        if read > MAX_REPLY_BYTES:
                            break
                    return reply.status_code, "", False
        except (trio.TooSlowError, httpx.TimeoutException):
            return 0, f"no answer within {self.settings.timeout:g} s", True
        except httpx.HTTPError as exc:
            return 0, f"{type(exc).__name__}: {exc}", False

    # -- recording ----------------------------------------------------------------------
    async def _write_results(self) -> None:
        batch: list[_Result] = []
        try:
            async for first in self._results_out:
                batch = [first]
                await trio.sleep(RESULT_LINGER_SECONDS)
                while len(batch) < RESULT_BATCH:
                    try:
                        batch.append(self._results_out.receive_nowait())
                    except trio.WouldBlock:
                        break
                await self._commit(batch)
                batch = []
        finally:
            # Shutting down: what was delivered is recorded if it can be in
            # a moment; else it is sent again after the restart (same id).
            with trio.move_on_after(2.0) as scope:
                scope.shield = True
                while True:
                    try:
                        batch.append(self._results_out.receive_nowait())
                    except trio.WouldBlock:
                        break
                if batch:
                    await self._commit(batch)

    async def _commit(self, batch: Sequence[_Result]) -> None:
        rows = [(r.seq, r.redeliveries, r.record) for r in batch]
        await trio.to_thread.run_sync(self.store.transact, lambda w: w.record_attempts(rows))

    # -- pruning --------------------------------------------------------------------------
    async def _prune_loop(self) -> None:
        while True:
            await trio.sleep(PRUNE_EVERY_SECONDS)
            await self.prune()

    async def prune(self) -> int:
        """Delete finished records past their keep time, and the oldest finished
        ones while the outbox is over PRUNE_KEEP_FRACTION of its limit."""
        before = int(self._clock() - self.settings.keep_seconds)
        keep = int(self.settings.outbox_limit * PRUNE_KEEP_FRACTION)
        start: int | None = 0
        total = 0
        while start is not None:
            step = functools.partial(
                Writer.prune_deliveries,
                finished_before=before,
                keep=keep,
                start=start,
                budget=PRUNE_BUDGET,
            )
            deleted, start = await trio.to_thread.run_sync(self.store.transact, step)
            total += deleted
        if total:
            log.info("webhook outbox: %d finished deliveries pruned", total)
        return total


def _load(reader: Reader, seq: int) -> tuple[DeliveryRecord, HookRecord, str] | None:
    record = reader.delivery(seq)
    if record is None:
        return None
    hook = reader.hook(record.hook)
    if hook is None:
        return None
    return record, hook, reader.delivery_id(seq).hex()


__all__ = ["DeliveryEngine", "DeliverySettings", "NotifyStatus", "host_of"]
