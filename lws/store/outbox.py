# Owns the webhook side of one write transaction: which hooks an event
# fires, the confirmation trackers, and appending events to the outbox
# (sequence numbers, the outbox limit, the dropped-events counter), so that
# the events of a scanned batch, a pool pass, a rollback or a request are
# written in the same transaction as what caused them. Must not open or commit
# transactions, render bodies (lws.notify does) or know about HTTP.
"""Events into the outbox, inside the transaction that causes them."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

import lmdb

from . import schema as s
from .reader import Tables
from .records import (
    DELIVERY_HEAD_DECODER,
    HOOK_DECODER,
    OUTPUT_DECODER,
    TRACKER_DECODER,
    AccountBatch,
    ConfirmationEvent,
    DeliveryRecord,
    Event,
    HookRecord,
    HookType,
    NewAccountEvent,
    OutputRecord,
    ReorgEvent,
    SpendEvent,
    TrackerRecord,
    encode,
    short_payment_id,
)

Hooks = list[tuple[bytes, HookRecord]]


def outbox_limit(txn: lmdb.Transaction[bytes], tables: Tables) -> int:
    raw = txn.get(s.META_OUTBOX_LIMIT, db=tables.meta)
    return s.DEFAULT_OUTBOX_LIMIT if raw is None else s.read_u64(raw)


def read_meta_u64(txn: lmdb.Transaction[bytes], tables: Tables, key: bytes) -> int:
    raw = txn.get(key, db=tables.meta)
    return 0 if raw is None else s.read_u64(raw)


def prefix_keys(
    txn: lmdb.Transaction[bytes], db: lmdb._Database, prefix: bytes, start: bytes | None = None
) -> list[tuple[bytes, bytes]]:
    """Items whose key starts with ``prefix`` (from ``start``), as a list."""
    cursor = txn.cursor(db)
    found: list[tuple[bytes, bytes]] = []
    if not cursor.set_range(start if start is not None else prefix):
        return found
    for key, value in cursor:
        if not key.startswith(prefix):
            break
        found.append((key, value))
    return found


class Outbox:
    """Events of one write transaction. ``active`` is False when no hook is
    registered at all: then the scanner's writes skip every webhook step."""

    def __init__(self, txn: lmdb.Transaction[bytes], tables: Tables) -> None:
        self._txn = txn
        self._t = tables
        self.active = txn.stat(tables.hooks)["entries"] > 0
        self._hooks: dict[bytes, Hooks] = {}
        self._next_seq: int | None = None
        self._entries = 0
        self._limit = 0
        self._dropped = 0
        self._now = int(time.time())
        #: Events written by this transaction (for the caller's logs and tests).
        self.written = 0

    # -- hooks ------------------------------------------------------------------
    def hooks(self, account_id: int, hook_type: HookType) -> Hooks:
        """The hooks of one account and type (memoized for the transaction)."""
        prefix = s.hook_prefix(account_id, hook_type)
        found = self._hooks.get(prefix)
        if found is None:
            decode = HOOK_DECODER.decode
            found = [(k, decode(v)) for k, v in prefix_keys(self._txn, self._t.hooks, prefix)]
            self._hooks[prefix] = found
        return found

    def forget_hooks(self) -> None:
        """Hooks were added or deleted in this transaction."""
        self._hooks.clear()
        self.active = self._txn.stat(self._t.hooks)["entries"] > 0

    # -- appending ------------------------------------------------------------
    def emit(self, hook_key: bytes, event: Event) -> bool:
        """Append ``event`` for the hook ``hook_key``; False if the outbox is
        full (the event is counted as dropped instead)."""
        if self._next_seq is None:
            self._next_seq = max(1, read_meta_u64(self._txn, self._t, s.META_NEXT_DELIVERY))
            self._entries = self._txn.stat(self._t.deliveries)["entries"]
            self._limit = outbox_limit(self._txn, self._t)
        if self._entries >= self._limit:
            self._dropped += 1
            return False
        record = DeliveryRecord(hook=hook_key, event=event, created=self._now, updated=self._now)
        self._txn.put(
            s.delivery_key(self._next_seq), encode(record), append=True, db=self._t.deliveries
        )
        self._next_seq += 1
        self._entries += 1
        self.written += 1
        return True

    def flush(self) -> None:
        """Write the sequence and drop counters (call at the end of each write
        method that emitted; harmless to repeat)."""
        if self._next_seq is not None:
            self._txn.put(s.META_NEXT_DELIVERY, s.u64(self._next_seq), db=self._t.meta)
        if self._dropped:
            total = read_meta_u64(self._txn, self._t, s.META_DROPPED_EVENTS) + self._dropped
            self._txn.put(s.META_DROPPED_EVENTS, s.u64(total), db=self._t.meta)
            self._dropped = 0

    # -- what fires what -----------------------------------------------------------
    def on_batch(self, account_id: int, batch: AccountBatch) -> None:
        """A scanned batch moved ``account_id`` to ``batch.scan_height``: its new
        outputs start trackers of the matching tx-confirmation hooks, every
        tracker records the confirmations the new blocks add, and each new
        candidate spend fires every tx-spend hook of the account. Call after
        the batch's outputs and spends are written."""
        confirmation = self.hooks(account_id, HookType.TX_CONFIRMATION)
        if confirmation:
            fresh: dict[tuple[int, int], OutputRecord] = {}
            # Hooks by the payment id they match (most merchants register one
            # per order), so an output costs one lookup, not one per hook.
            by_payment_id: dict[bytes, list[HookRecord]] = {}
            every: list[HookRecord] = []
            for _, hook in confirmation:
                if hook.payment_id is None:
                    every.append(hook)
                else:
                    by_payment_id.setdefault(hook.payment_id, []).append(hook)
            get = self._txn.get
            for out in batch.outputs:
                matched = by_payment_id.get(short_payment_id(out.payment_id), ())
                for hook in (*matched, *every):
                    fresh[(out.tx_index, out.output_index)] = out
                    key = s.tracker_key(account_id, out.tx_index, out.output_index, hook.event_id)
                    if get(key, db=self._t.trackers) is None:
                        # monero-lws sends the first block's count even to a
                        # hook that asked for 0 (the pool's event) confirmations.
                        tracker = TrackerRecord(
                            height=out.height or 0, requested=max(1, hook.confirmations), sent=0
                        )
                        self._txn.put(key, encode(tracker), db=self._t.trackers)
            self._advance(account_id, batch.scan_height, confirmation, fresh)
        if batch.spends:
            spending = self.hooks(account_id, HookType.TX_SPEND)
            if spending:
                self._spends(account_id, batch, spending)

    def _advance(
        self,
        account_id: int,
        scan_height: int,
        hooks: Hooks,
        fresh: Mapping[tuple[int, int], OutputRecord],
    ) -> None:
        by_event = {hook.event_id: (key, hook) for key, hook in hooks}
        changes: list[tuple[bytes, bytes | None]] = []
        decode = TRACKER_DECODER.decode
        for key, value in prefix_keys(self._txn, self._t.trackers, s.account_key(account_id)):
            _, tx_index, output_index, event_id = s.split_tracker_key(key)
            found = by_event.get(event_id)
            if found is None:
                changes.append((key, None))  # its hook is gone
                continue
            hook_key, _ = found
            tracker = decode(value)
            depth = scan_height - tracker.height  # blocks scanned from the output's on
            top = min(tracker.requested, depth)
            if top > tracker.sent:
                out = fresh.get((tx_index, output_index)) or self._output(
                    account_id, tx_index, output_index
                )
                if out is None:
                    changes.append((key, None))
                    continue
                for level in range(tracker.sent + 1, top + 1):
                    self.emit(hook_key, ConfirmationEvent(output=out, confirmations=level))
            if depth >= max(tracker.requested, s.REORG_WINDOW_BLOCKS):
                changes.append((key, None))
            elif top > tracker.sent:
                changes.append(
                    (
                        key,
                        encode(
                            TrackerRecord(
                                height=tracker.height, requested=tracker.requested, sent=top
                            )
                        ),
                    )
                )
        for key, new in changes:
            if new is None:
                self._txn.delete(key, db=self._t.trackers)
            else:
                self._txn.put(key, new, db=self._t.trackers)

    def _spends(self, account_id: int, batch: AccountBatch, hooks: Hooks) -> None:
        fresh = {(out.tx_index, out.output_index): out for out in batch.outputs}
        for spend in batch.spends:
            place = (spend.source_tx_index, spend.source_output_index)
            source = fresh.get(place) or self._output(account_id, *place)
            if source is None:
                continue
            event = SpendEvent(
                spend=spend,
                source_index_amount=source.index_amount,
                source_mixin=source.mixin,
                sender=source.subaddress,
            )
            for hook_key, _ in hooks:
                self.emit(hook_key, event)

    def on_pool_outputs(self, account_id: int, outputs: Iterable[OutputRecord]) -> None:
        """Outputs of ``account_id`` that have just entered the pool view:
        the 0-confirmation event of each matching tx-confirmation hook."""
        hooks = self.hooks(account_id, HookType.TX_CONFIRMATION)
        for out in outputs:
            for hook_key, hook in hooks:
                if hook.matches(out.payment_id):
                    self.emit(hook_key, ConfirmationEvent(output=out, confirmations=0))

    def on_rollback(self, account_id: int, height: int) -> None:
        """The account's outputs at or above ``height`` are about to be dropped
        by a reorg: each tracked one becomes a tx-reorg event for its hook,
        and its trackers go (a new block with it starts counting afresh)."""
        hooks = {
            hook.event_id: key for key, hook in self.hooks(account_id, HookType.TX_CONFIRMATION)
        }
        start = s.account_from_height(account_id, min(height, s.MAX_HEIGHT))
        decode = TRACKER_DECODER.decode
        for key, value in prefix_keys(
            self._txn, self._t.trackers, s.account_key(account_id), start
        ):
            _, tx_index, output_index, event_id = s.split_tracker_key(key)
            hook_key = hooks.get(event_id)
            if hook_key is not None and decode(value).sent > 0:
                out = self._output(account_id, tx_index, output_index)
                if out is not None:
                    self.emit(hook_key, ReorgEvent(output=out))
            self._txn.delete(key, db=self._t.trackers)

    def on_new_account(self, address: str) -> None:
        for hook_key, _ in self.hooks(s.NO_ACCOUNT, HookType.NEW_ACCOUNT):
            self.emit(hook_key, NewAccountEvent(address=address))

    # -- removal --------------------------------------------------------------------
    def delete_hooks(self, keys: Sequence[bytes]) -> int:
        """Delete hooks with their trackers and their outbox records; return how
        many hooks were deleted."""
        gone = {key for key in keys if self._txn.delete(key, db=self._t.hooks)}
        if not gone:
            return 0
        for key in gone:
            account_id, hook_type, event_id = s.split_hook_key(key)
            if hook_type == HookType.TX_CONFIRMATION:
                for tkey, _ in prefix_keys(self._txn, self._t.trackers, s.account_key(account_id)):
                    if tkey.endswith(event_id):
                        self._txn.delete(tkey, db=self._t.trackers)
        head = DELIVERY_HEAD_DECODER.decode
        doomed = [
            key for key, value in self._txn.cursor(self._t.deliveries) if head(value).hook in gone
        ]
        for key in doomed:
            self._txn.delete(key, db=self._t.deliveries)
            self._txn.delete(key, db=self._t.requeued)
        self.forget_hooks()
        return len(gone)

    def _output(self, account_id: int, tx_index: int, output_index: int) -> OutputRecord | None:
        raw = self._txn.get(s.output_key(account_id, tx_index, output_index), db=self._t.outputs)
        return None if raw is None else OUTPUT_DECODER.decode(raw)
