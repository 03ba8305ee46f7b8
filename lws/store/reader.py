# Owns every read of the store's tables: Reader, a view over one LMDB
# transaction (a consistent snapshot). Must not write, open or close
# transactions (Store does), or let an lmdb object escape to callers.
"""Domain-level reads over one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import lmdb

from . import schema as s
from .errors import StoreOpenError
from .memo import RecordMemos
from .records import (
    ACCOUNT_DECODER,
    ADMIN_KEY_DECODER,
    DELIVERY_DECODER,
    HOOK_DECODER,
    OUTPUT_DECODER,
    REQUEST_DECODER,
    SPEND_DECODER,
    TRACKER_DECODER,
    AccountRecord,
    AccountStatus,
    AdminKeyRecord,
    DeliveryRecord,
    DeliveryState,
    HookRecord,
    HookType,
    OutboxInfo,
    OutputRecord,
    Owner,
    RequestKind,
    RequestRecord,
    SpendRecord,
    StoreMeta,
    TrackerRecord,
)

#: block_id_history: this many newest hashes go in one by one before the
#: step starts doubling (monero wallet2's get_short_chain_history).
HISTORY_SEQUENTIAL: int = 11


@dataclass(frozen=True, slots=True)
class Tables:
    """The environment's named databases, opened once by Store."""

    meta: lmdb._Database
    accounts: lmdb._Database
    addresses: lmdb._Database
    requests: lmdb._Database
    outputs: lmdb._Database
    spends: lmdb._Database
    global_index: lmdb._Database
    blocks: lmdb._Database
    pool_outputs: lmdb._Database
    pool_spends: lmdb._Database
    hooks: lmdb._Database
    trackers: lmdb._Database
    deliveries: lmdb._Database
    requeued: lmdb._Database
    rewinds: lmdb._Database
    admin_keys: lmdb._Database


def _prefix_items(
    txn: lmdb.Transaction[bytes], db: lmdb._Database, prefix: bytes, start: bytes | None = None
) -> Iterator[tuple[bytes, bytes]]:
    """Items whose key starts with ``prefix``, from ``start`` (default: the prefix)."""
    cursor = txn.cursor(db)
    if not cursor.set_range(start if start is not None else prefix):
        return
    for key, value in cursor:
        if not key.startswith(prefix):
            return
        yield key, value


class Reader:
    """Reads over one transaction. Valid only inside its ``with`` block (or
    ``transact`` call): iterators and methods fail once it has ended."""

    def __init__(
        self, txn: lmdb.Transaction[bytes], tables: Tables, memos: RecordMemos | None = None
    ) -> None:
        """``memos``: the Store's decode memos (a private pair when None)."""
        self._txn = txn
        self._t = tables
        self._memos = memos if memos is not None else RecordMemos()

    @property
    def generation(self) -> int:
        """The id of the write transaction this snapshot shows (see Store.generation)."""
        txn_id: int = self._txn.id()
        return txn_id

    # -- meta ---------------------------------------------------------------
    @property
    def meta(self) -> StoreMeta:
        get = self._txn.get
        db = self._t.meta
        version = get(s.META_FORMAT_VERSION, db=db)
        network = get(s.META_NETWORK, db=db)
        created = get(s.META_CREATED, db=db)
        next_id = get(s.META_NEXT_ACCOUNT_ID, db=db)
        if version is None or network is None or created is None or next_id is None:
            raise StoreOpenError("the store's meta table is incomplete")
        return StoreMeta(
            format_version=s.read_u32(version),
            network=network.decode("ascii"),
            created=s.read_u64(created),
            next_account_id=s.read_u32(next_id),
        )

    @property
    def accounts_version(self) -> int:
        """The counter of account changes (schema.META_ACCOUNTS_VERSION)."""
        raw = self._txn.get(s.META_ACCOUNTS_VERSION, db=self._t.meta)
        return 0 if raw is None else s.read_u64(raw)

    # -- accounts -----------------------------------------------------------
    def account(self, account_id: int) -> AccountRecord | None:
        raw = self._txn.get(s.account_key(account_id), db=self._t.accounts)
        return None if raw is None else ACCOUNT_DECODER.decode(raw)

    def account_id(self, address: str) -> int | None:
        if len(address) > s.MAX_ADDRESS_LENGTH or not address.isascii():
            return None
        raw = self._txn.get(s.address_key(address), db=self._t.addresses)
        return None if raw is None else s.read_u32(raw)

    def account_by_address(self, address: str) -> tuple[int, AccountRecord] | None:
        account_id = self.account_id(address)
        if account_id is None:
            return None
        record = self.account(account_id)
        return None if record is None else (account_id, record)

    def accounts(self, status: AccountStatus | None = None) -> Iterator[tuple[int, AccountRecord]]:
        """Every account (of one status) in id order, decoded lazily."""
        decode = ACCOUNT_DECODER.decode
        for key, value in self._txn.cursor(self._t.accounts):
            record = decode(value)
            if status is None or record.status == status:
                yield s.read_u32(key), record

    def count_accounts(self) -> int:
        return self._txn.stat(self._t.accounts)["entries"]

    def account_counts(self) -> dict[AccountStatus, int]:
        """How many accounts have each status (every status, 0 included)."""
        counts = dict.fromkeys(AccountStatus, 0)
        for _, record in self.accounts():
            counts[record.status] += 1
        return counts

    # -- outputs and spends ---------------------------------------------------
    def outputs(self, account_id: int, from_height: int = 0) -> list[OutputRecord]:
        """The account's mined outputs at or above ``from_height``, in chain
        order. Decoded once per content (the Store's memo): a record that has
        not changed comes back as the same object as in earlier snapshots."""
        return self._memos.outputs.many(self._values(self._t.outputs, account_id, from_height))

    def _values(self, db: lmdb._Database, account_id: int, from_height: int) -> list[bytes]:
        cursor = self._txn.cursor(db)
        prefix = s.account_key(account_id)
        if not cursor.set_range(s.account_from_height(account_id, from_height)):
            return []
        values: list[bytes] = []
        append = values.append
        for key, value in cursor:
            if not key.startswith(prefix):
                break
            append(value)
        return values

    def output(self, account_id: int, tx_index: int, output_index: int) -> OutputRecord | None:
        raw = self._txn.get(s.output_key(account_id, tx_index, output_index), db=self._t.outputs)
        return None if raw is None else OUTPUT_DECODER.decode(raw)

    def spends(self, account_id: int, from_height: int = 0) -> list[SpendRecord]:
        """The account's mined candidate spends at or above ``from_height``,
        in chain order; decoded once per content, as ``outputs``."""
        return self._memos.spends.many(self._values(self._t.spends, account_id, from_height))

    def pool_outputs(self, account_id: int) -> list[OutputRecord]:
        decode = OUTPUT_DECODER.decode
        return [
            decode(v)
            for _, v in _prefix_items(self._txn, self._t.pool_outputs, s.account_key(account_id))
        ]

    def pool_spends(self, account_id: int) -> list[SpendRecord]:
        decode = SPEND_DECODER.decode
        return [
            decode(v)
            for _, v in _prefix_items(self._txn, self._t.pool_spends, s.account_key(account_id))
        ]

    def owned_ringct_indexes(self) -> Iterator[int]:
        """The global index of every stored RingCT-space output (index amount 0)."""
        cursor = self._txn.cursor(self._t.global_index)
        for key in cursor.iternext(keys=True, values=False):
            index_amount, global_index, _ = s.split_gindex_key(key)
            if index_amount != 0:
                return  # keys sort by index amount: the rest are pre-RingCT
            yield global_index

    def owners_of(self, index_amount: int, global_index: int) -> list[Owner]:
        """Accounts that own the output at (``index_amount``, ``global_index``).

        ``index_amount`` is 0 for every RingCT-era ring member. Usually empty
        or one owner; one cursor seek either way.
        """
        owners = []
        for key, value in _prefix_items(
            self._txn, self._t.global_index, s.gindex_prefix(index_amount, global_index)
        ):
            tx_index, output_index = s.read_output_ref(value)
            owners.append(Owner(s.split_gindex_key(key)[2], tx_index, output_index))
        return owners

    # -- requests -------------------------------------------------------------
    def request(self, kind: RequestKind, address: str) -> RequestRecord | None:
        if len(address) > s.MAX_ADDRESS_LENGTH or not address.isascii():
            return None
        raw = self._txn.get(s.request_key(kind, address), db=self._t.requests)
        return None if raw is None else REQUEST_DECODER.decode(raw)

    def requests(self, kind: RequestKind | None = None) -> Iterator[RequestRecord]:
        """Pending requests, by kind then address."""
        decode = REQUEST_DECODER.decode
        if kind is None:
            for _, value in self._txn.cursor(self._t.requests):
                yield decode(value)
        else:
            for _, value in _prefix_items(self._txn, self._t.requests, s.request_prefix(kind)):
                yield decode(value)

    def count_requests(self, kind: RequestKind | None = None) -> int:
        if kind is None:
            return self._txn.stat(self._t.requests)["entries"]
        return sum(1 for _ in _prefix_items(self._txn, self._t.requests, s.request_prefix(kind)))

    # -- admin keys -------------------------------------------------------------
    def admin_keys(self) -> list[tuple[int, AdminKeyRecord]]:
        """Every live admin key (id, record) in id order (at most MAX_ADMIN_KEYS)."""
        decode = ADMIN_KEY_DECODER.decode
        return [
            (s.read_u32(key), decode(value)) for key, value in self._txn.cursor(self._t.admin_keys)
        ]

    def admin_key(self, key_id: int) -> AdminKeyRecord | None:
        if not 0 <= key_id <= s.MAX_ACCOUNT_ID:
            return None
        raw = self._txn.get(s.admin_key_key(key_id), db=self._t.admin_keys)
        return None if raw is None else ADMIN_KEY_DECODER.decode(raw)

    # -- chain ----------------------------------------------------------------
    def chain_top(self) -> tuple[int, bytes] | None:
        """The highest stored block (height, hash), or None if none is stored."""
        cursor = self._txn.cursor(self._t.blocks)
        if not cursor.last():
            return None
        return s.read_u64(cursor.key()), cursor.value()

    def chain_bottom(self) -> int | None:
        """The lowest stored height above genesis (the base of the contiguous
        run of hashes, see Writer.add_block_batch); None if there is none."""
        cursor = self._txn.cursor(self._t.blocks)
        if not cursor.set_range(s.block_key(1)):
            return None
        return s.read_u64(cursor.key())

    def hash_at(self, height: int) -> bytes | None:
        if not 0 <= height <= s.MAX_U64:
            return None
        return self._txn.get(s.block_key(height), db=self._t.blocks)

    def block_id_history(self) -> list[bytes]:
        """Block ids for get_blocks.bin, newest first: the 11 newest, then
        back by 2, 4, 8, ... blocks, then the lowest stored block of the run,
        then genesis (if stored), as monero's wallet2 builds them."""
        top = self.chain_top()
        if top is None:
            return []
        size = top[0] + 1
        bottom = self.chain_bottom() or 0
        if bottom == 1 and self.hash_at(0) is not None:
            bottom = 0  # the run reaches genesis
        ids: list[bytes] = []
        lowest = size
        offset, step, i = 1, 1, 0
        while offset <= size and size - offset >= bottom:
            height = size - offset
            block = self.hash_at(height)
            if block is not None:
                ids.append(block)
                lowest = height
            if i < HISTORY_SEQUENTIAL - 1:
                offset += 1
            else:
                step *= 2
                offset += step
            i += 1
        if lowest > bottom:  # the run's base, as wallet2 adds it
            base = self.hash_at(bottom)
            if base is not None:
                ids.append(base)
                lowest = bottom
        if lowest > 0:
            genesis = self.hash_at(0)
            if genesis is not None:
                ids.append(genesis)
        return ids

    # -- webhooks ---------------------------------------------------------------
    def hooks(
        self, account_id: int | None = None, hook_type: HookType | None = None
    ) -> list[tuple[bytes, HookRecord]]:
        """Registered hooks (of one account, and type), in key order."""
        if account_id is None:
            items: Iterator[tuple[bytes, bytes]] = iter(self._txn.cursor(self._t.hooks))
        else:
            items = _prefix_items(self._txn, self._t.hooks, s.hook_prefix(account_id, hook_type))
        decode = HOOK_DECODER.decode
        return [(key, decode(value)) for key, value in items]

    def hook(self, key: bytes) -> HookRecord | None:
        if len(key) != s.HOOK_KEY_SIZE:
            return None
        raw = self._txn.get(key, db=self._t.hooks)
        return None if raw is None else HOOK_DECODER.decode(raw)

    def count_hooks(self) -> int:
        return self._txn.stat(self._t.hooks)["entries"]

    def trackers(self, account_id: int) -> list[tuple[bytes, TrackerRecord]]:
        decode = TRACKER_DECODER.decode
        return [
            (key, decode(value))
            for key, value in _prefix_items(self._txn, self._t.trackers, s.account_key(account_id))
        ]

    def deliveries(
        self, after: int = 0, state: DeliveryState | None = None
    ) -> Iterator[tuple[int, DeliveryRecord]]:
        """Outbox records with seq > ``after`` (of one state), in seq order."""
        cursor = self._txn.cursor(self._t.deliveries)
        if after >= s.MAX_U64 or not cursor.set_range(s.delivery_key(after + 1)):
            return
        decode = DELIVERY_DECODER.decode
        for key, value in cursor:
            record = decode(value)
            if state is None or record.state == state:
                yield s.read_u64(key), record

    def deliveries_newest_first(
        self, state: DeliveryState | None = None
    ) -> Iterator[tuple[int, DeliveryRecord]]:
        """Outbox records (of one state), newest first."""
        cursor = self._txn.cursor(self._t.deliveries)
        if not cursor.last():
            return
        decode = DELIVERY_DECODER.decode
        while True:
            record = decode(cursor.value())
            if state is None or record.state == state:
                yield s.read_u64(cursor.key()), record
            if not cursor.prev():
                return

    def delivery_values(self) -> Iterator[bytes]:
        """Every outbox record's stored bytes, in seq order (for counts that
        decode only what they need)."""
        yield from self._txn.cursor(self._t.deliveries).iternext(keys=False, values=True)

    def delivery(self, seq: int) -> DeliveryRecord | None:
        if not 0 <= seq <= s.MAX_U64:
            return None
        raw = self._txn.get(s.delivery_key(seq), db=self._t.deliveries)
        return None if raw is None else DELIVERY_DECODER.decode(raw)

    def requeued(self) -> list[int]:
        """Seqs an operator sent back to pending, not yet taken by the engine."""
        return [s.read_u64(key) for key, _ in self._txn.cursor(self._t.requeued)]

    def rewinds(self, after: int = 0) -> list[tuple[int, int, int]]:
        """(seq, account id or NO_ACCOUNT for all, height) of the times scan
        heights went back, with seq > ``after``; see the schema."""
        cursor = self._txn.cursor(self._t.rewinds)
        found: list[tuple[int, int, int]] = []
        if after >= s.MAX_U64 or not cursor.set_range(s.u64(after + 1)):
            return found
        for key, value in cursor:
            account_id, height = s.read_rewind(value)
            found.append((s.read_u64(key), account_id, height))
        return found

    def last_rewind(self) -> int:
        """The seq of the latest rewind (0: none yet)."""
        cursor = self._txn.cursor(self._t.rewinds)
        return s.read_u64(cursor.key()) if cursor.last() else 0

    @property
    def outbox_epoch(self) -> bytes:
        raw = self._txn.get(s.META_OUTBOX_EPOCH, db=self._t.meta)
        if raw is None:
            raise StoreOpenError("the store has no outbox epoch (not migrated)")
        return raw

    @property
    def outbox_limit(self) -> int:
        raw = self._txn.get(s.META_OUTBOX_LIMIT, db=self._t.meta)
        return s.DEFAULT_OUTBOX_LIMIT if raw is None else s.read_u64(raw)

    def delivery_id(self, seq: int) -> bytes:
        """The public id (X-Lws-Delivery) of outbox record ``seq``."""
        return s.delivery_id(self.outbox_epoch, seq)

    def seq_of(self, delivery_id: bytes) -> int | None:
        """The seq of a delivery id of this store (None: not one of ours)."""
        return s.seq_of_delivery_id(self.outbox_epoch, delivery_id)

    def outbox_info(self) -> OutboxInfo:
        """The outbox's size, limit and counters (O(1): no record is read)."""

        def meta(key: bytes) -> int:
            raw = self._txn.get(key, db=self._t.meta)
            return 0 if raw is None else s.read_u64(raw)

        return OutboxInfo(
            entries=self._txn.stat(self._t.deliveries)["entries"],
            limit=self.outbox_limit,
            next_seq=max(1, meta(s.META_NEXT_DELIVERY)),
            dropped_events=meta(s.META_DROPPED_EVENTS),
            hooks=self.count_hooks(),
        )

    # -- validation -------------------------------------------------------------
    def check(self) -> list[str]:
        """Cross-check the tables; return one line per problem (empty: sound).

        Full scan of every table: for ``lws admin validate`` and tests, not
        for hot paths. Problem lines never include secrets.
        """
        problems: list[str] = []
        top = self.chain_top()
        chain_next = 0 if top is None else top[0] + 1
        bottom = self.chain_bottom()
        if top is not None:
            expected = (0 if bottom is None else top[0] - bottom + 1) + (
                1 if self.hash_at(0) is not None else 0
            )
            entries = self._txn.stat(self._t.blocks)["entries"]
            if entries != expected:
                problems.append(f"blocks: {entries} hashes, {expected} expected (gap in the run)")
        referenced = 0
        for account_id, record in self.accounts():
            label = f"account {account_id}"
            if self.account_id(record.address) != account_id:
                problems.append(f"{label}: address index does not point back")
            if record.scan_height > max(chain_next, record.start_height):
                problems.append(f"{label}: scan_height {record.scan_height} beyond chain")
            for out in self.outputs(account_id):
                if out.height is None or out.height >= record.scan_height:
                    problems.append(f"{label}: output at {out.height} not below scan_height")
                elif s.height_of_tx_index(out.tx_index) != out.height:
                    problems.append(f"{label}: output tx_index does not match its height")
                ref = self._txn.get(
                    s.gindex_key(out.index_amount, out.global_index, account_id),
                    db=self._t.global_index,
                )
                if ref is None or s.read_output_ref(ref) != (out.tx_index, out.output_index):
                    problems.append(f"{label}: output {out.global_index} not in the global index")
                referenced += 1
            for spend in self.spends(account_id):
                if spend.height is None or spend.height >= record.scan_height:
                    problems.append(f"{label}: spend at {spend.height} not below scan_height")
                if (
                    self.output(account_id, spend.source_tx_index, spend.source_output_index)
                    is None
                ):
                    problems.append(f"{label}: spend's source output is missing")
        gindex_entries = self._txn.stat(self._t.global_index)["entries"]
        if gindex_entries != referenced:
            problems.append(f"global_index: {gindex_entries} entries for {referenced} outputs")
        if self._txn.stat(self._t.addresses)["entries"] != self.count_accounts():
            problems.append("addresses: index size differs from the account count")
        for table in (self._t.outputs, self._t.spends, self._t.pool_outputs, self._t.pool_spends):
            for key, _ in self._txn.cursor(table):
                if self.account(s.read_u32(key[: s.ACCOUNT_PREFIX_SIZE])) is None:
                    problems.append("a record belongs to no account")
                    break
        problems.extend(self._check_hooks())
        return problems

    def _check_hooks(self) -> list[str]:
        problems: list[str] = []
        hooks = dict(self.hooks())
        for key, hook in hooks.items():
            account_id, hook_type, event_id = s.split_hook_key(key)
            if (account_id, hook_type, event_id) != (hook.account_id, hook.type, hook.event_id):
                problems.append(f"hook {event_id.hex()}: key and record differ")
            if hook.type == HookType.NEW_ACCOUNT:
                if account_id != s.NO_ACCOUNT:
                    problems.append(f"hook {event_id.hex()}: a new-account hook has an account")
            elif self.account(account_id) is None:
                problems.append(f"hook {event_id.hex()}: its account is gone")
        by_event = {(h.account_id, h.event_id) for h in hooks.values()}
        for key, _ in self._txn.cursor(self._t.trackers):
            account_id, tx_index, output_index, event_id = s.split_tracker_key(key)
            if (account_id, event_id) not in by_event:
                problems.append("a tracker belongs to no hook")
                break
        info = self.outbox_info()
        for seq, record in self.deliveries():
            if record.hook not in hooks:
                problems.append(f"delivery {seq} belongs to no hook")
            if seq >= info.next_seq:
                problems.append(f"delivery {seq} is not below the next seq {info.next_seq}")
        return problems
