# Owns every change to the store's tables: Writer, the domain-level writes
# over one write transaction, and the invariants they keep (global index in
# step with outputs, scan_height above every record, a connected chain).
# Must not open, commit or abort transactions (Store.transact does) or hold
# state between calls: a write function may be re-run after a map growth.
"""Domain-level writes over one write transaction."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence

import lmdb
import msgspec

from lws.monero.errors import MoneroFormatError
from lws.monero.subaddress import merge_ranges

from . import schema as s
from .errors import (
    AccountExists,
    ChainMismatch,
    DeliveryPending,
    InvalidRecord,
    StoreError,
    UnknownAccount,
    UnknownDelivery,
    UnknownRequest,
)
from .memo import RecordMemos
from .outbox import Outbox, prefix_keys
from .reader import Reader, Tables
from .records import (
    DELIVERY_DECODER,
    OUTPUT_DECODER,
    AccountBatch,
    AccountPool,
    AccountRecord,
    AccountStatus,
    AdminKeyRecord,
    DeliveryRecord,
    DeliveryState,
    HookRecord,
    HookType,
    OutputRecord,
    RequestKind,
    RequestRecord,
    SpendRecord,
    encode,
)

_PAYMENT_ID_SIZES = (0, 8, 32)
#: A hook's URL and token at most: far above real ones, and each delivery
#: record's render carries them.
MAX_HOOK_URL_LENGTH = 2048
MAX_HOOK_TOKEN_LENGTH = 1024
_COMMITMENT_SIZES = (0, 32)
_ECDH_AMOUNT_SIZES = (0, 8)
_MAX_U32 = (1 << 32) - 1


def _need(condition: bool, what: str) -> None:
    if not condition:
        raise InvalidRecord(what)


def _need_size(value: bytes, size: int, what: str) -> None:
    _need(len(value) == size, f"{what} must be {size} bytes, not {len(value)}")


def _check_address(address: str) -> None:
    _need(
        0 < len(address) <= s.MAX_ADDRESS_LENGTH and address.isascii() and address.isalnum(),
        f"address must be 1 to {s.MAX_ADDRESS_LENGTH} ascii letters and digits",
    )


def _check_keys(view_secret: bytes, spend_public: bytes, view_public: bytes) -> None:
    _need_size(view_secret, s.KEY_SIZE, "view_secret")
    _need_size(spend_public, s.KEY_SIZE, "spend_public")
    _need_size(view_public, s.KEY_SIZE, "view_public")


def _check_output(out: OutputRecord, pool: bool) -> None:
    if pool:
        _need(out.height is None, "a pool output has no height")
    else:
        _need(
            out.height is not None and 0 <= out.height <= s.MAX_HEIGHT,
            f"output height out of range: {out.height}",
        )
        _need(
            s.height_of_tx_index(out.tx_index) == out.height,
            "output tx_index does not encode its height",
        )
    _need(0 <= out.tx_index <= s.MAX_U64, "tx_index out of range")
    _need(0 <= out.output_index <= s.MAX_U16, "output_index out of range")
    _need(0 <= out.global_index <= s.MAX_U64, "global_index out of range")
    _need(0 <= out.amount <= s.MAX_U64, "amount out of range")
    _need(
        0 <= out.fee <= s.MAX_U64 and 0 <= out.unlock_time <= s.MAX_U64, "fee/unlock out of range"
    )
    _need_size(out.tx_hash, s.HASH_SIZE, "tx_hash")
    _need_size(out.tx_prefix_hash, s.HASH_SIZE, "tx_prefix_hash")
    _need_size(out.mask, s.KEY_SIZE, "mask")
    _need_size(out.output_key, s.KEY_SIZE, "output_key")
    _need_size(out.tx_pubkey, s.KEY_SIZE, "tx_pubkey")
    _need(len(out.commitment) in _COMMITMENT_SIZES, "commitment must be 0 or 32 bytes")
    _need(len(out.ecdh_amount) in _ECDH_AMOUNT_SIZES, "ecdh_amount must be 0 or 8 bytes")
    _need(len(out.payment_id) in _PAYMENT_ID_SIZES, "payment_id must be 0, 8 or 32 bytes")
    major, minor = out.subaddress
    _need(0 <= major <= _MAX_U32 and 0 <= minor <= _MAX_U32, "subaddress index out of range")


def _check_spend(spend: SpendRecord, pool: bool) -> None:
    if pool:
        _need(spend.height is None, "a pool spend has no height")
    else:
        _need(
            spend.height is not None and 0 <= spend.height <= s.MAX_HEIGHT,
            f"spend height out of range: {spend.height}",
        )
        _need(
            s.height_of_tx_index(spend.tx_index) == spend.height,
            "spend tx_index does not encode its height",
        )
        _need(spend.source_tx_index < spend.tx_index, "a spend must come after its source")
    _need(0 <= spend.tx_index <= s.MAX_U64, "tx_index out of range")
    _need(0 <= spend.source_tx_index <= s.MAX_U64, "source_tx_index out of range")
    _need(0 <= spend.source_output_index <= s.MAX_U16, "source_output_index out of range")
    _need(0 <= spend.source_global_index <= s.MAX_U64, "source_global_index out of range")
    _need(0 <= spend.source_amount <= s.MAX_U64, "source_amount out of range")
    _need(
        0 <= spend.fee <= s.MAX_U64 and 0 <= spend.unlock_time <= s.MAX_U64,
        "fee/unlock out of range",
    )
    _need_size(spend.key_image, s.KEY_SIZE, "key_image")
    _need_size(spend.tx_hash, s.HASH_SIZE, "tx_hash")
    _need_size(spend.source_tx_pubkey, s.KEY_SIZE, "source_tx_pubkey")
    _need(len(spend.payment_id) in _PAYMENT_ID_SIZES, "payment_id must be 0, 8 or 32 bytes")


class Writer(Reader):
    """All reads plus the writes, over one write transaction.

    Obtained only through ``Store.transact(fn)``; ``fn`` may run more than
    once (after a map growth), so it must not have effects outside the
    Writer that a re-run would repeat.
    """

    def __init__(
        self, txn: lmdb.Transaction[bytes], tables: Tables, memos: RecordMemos | None = None
    ) -> None:
        super().__init__(txn, tables, memos)
        self._events: Outbox | None = None

    def _outbox(self) -> Outbox:
        """The webhook events of this transaction (see outbox.py)."""
        if self._events is None:
            self._events = Outbox(self._txn, self._t)
        return self._events

    # -- helpers ----------------------------------------------------------------
    def _need_account(self, account_id: int) -> AccountRecord:
        record = self.account(account_id)
        if record is None:
            raise UnknownAccount(f"no account {account_id}")
        return record

    def _put_account(self, account_id: int, record: AccountRecord) -> None:
        self._txn.put(s.account_key(account_id), encode(record), db=self._t.accounts)

    def _delete_range(self, db: lmdb._Database, start: bytes, prefix: bytes) -> Iterator[bytes]:
        """Delete every item with key >= ``start`` that starts with ``prefix``;
        yield each deleted value (consume the iterator!)."""
        cursor = self._txn.cursor(db)
        if not cursor.set_range(start):
            return
        while True:
            key = cursor.key()
            if not key or not key.startswith(prefix):
                return
            yield cursor.value()
            if not cursor.delete():
                return

    def _drop_account_data(self, account_id: int, from_height: int) -> None:
        """Delete the account's mined outputs (with their global index entries)
        and spends at or above ``from_height``."""
        prefix = s.account_key(account_id)
        start = s.account_from_height(account_id, min(from_height, s.MAX_HEIGHT))
        for raw in self._delete_range(self._t.outputs, start, prefix):
            out = OUTPUT_DECODER.decode(raw)
            self._txn.delete(
                s.gindex_key(out.index_amount, out.global_index, account_id),
                db=self._t.global_index,
            )
        for _ in self._delete_range(self._t.spends, start, prefix):
            pass

    def _log_rewind(self, account_id: int, height: int) -> None:
        """Scan heights went back to ``height`` (one account, or NO_ACCOUNT: all)."""
        seq = self.last_rewind() + 1
        self._txn.put(s.u64(seq), s.rewind_value(account_id, height), db=self._t.rewinds)
        if seq > s.MAX_REWINDS:
            self._txn.delete(s.u64(seq - s.MAX_REWINDS), db=self._t.rewinds)

    def _set_meta(self, key: bytes, value: bytes) -> None:
        self._txn.put(key, value, db=self._t.meta)

    def _set_format_version(self, version: int) -> None:
        self._set_meta(s.META_FORMAT_VERSION, s.u32(version))

    def _accounts_changed(self) -> None:
        """Bump META_ACCOUNTS_VERSION: the scanner must reload its accounts."""
        self._set_meta(s.META_ACCOUNTS_VERSION, s.u64((self.accounts_version + 1) & s.MAX_U64))

    # -- accounts -----------------------------------------------------------------
    def add_account(
        self,
        address: str,
        *,
        view_secret: bytes,
        spend_public: bytes,
        view_public: bytes,
        start_height: int,
        created: int,
        status: AccountStatus = AccountStatus.ACTIVE,
        flags: int = 0,
        lookahead_major: int = 0,
        lookahead_minor: int = 0,
    ) -> int:
        """Add an account scanning from ``start_height``; return its new id."""
        _check_address(address)
        _check_keys(view_secret, spend_public, view_public)
        _need(0 <= start_height <= s.MAX_HEIGHT, "start_height out of range")
        if self.account_id(address) is not None:
            raise AccountExists(f"an account for {address} exists")
        account_id = self.meta.next_account_id
        if account_id > s.MAX_ACCOUNT_ID:
            raise StoreError("account ids are exhausted")
        record = AccountRecord(
            address=address,
            view_secret=view_secret,
            spend_public=spend_public,
            view_public=view_public,
            status=status,
            start_height=start_height,
            scan_height=start_height,
            created=created,
            flags=flags,
            lookahead_major=lookahead_major,
            lookahead_minor=lookahead_minor,
        )
        self._put_account(account_id, record)
        self._txn.put(s.address_key(address), s.account_key(account_id), db=self._t.addresses)
        self._set_meta(s.META_NEXT_ACCOUNT_ID, s.u32(account_id + 1))
        self._accounts_changed()
        return account_id

    def set_status(self, account_id: int, status: AccountStatus) -> AccountRecord:
        """Make the account active (scanned, served), inactive (served) or
        hidden (neither). Writes nothing if it already has ``status``."""
        current = self._need_account(account_id)
        if current.status == status:
            return current
        record = msgspec.structs.replace(current, status=status)
        self._put_account(account_id, record)
        self._accounts_changed()
        return record

    def set_flags(self, account_id: int, flags: int) -> AccountRecord:
        record = msgspec.structs.replace(self._need_account(account_id), flags=flags)
        self._put_account(account_id, record)
        return record

    def set_lookahead(self, account_id: int, major: int, minor: int) -> AccountRecord:
        _need(0 <= major <= _MAX_U32 and 0 <= minor <= _MAX_U32, "lookahead out of range")
        record = msgspec.structs.replace(
            self._need_account(account_id), lookahead_major=major, lookahead_minor=minor
        )
        self._put_account(account_id, record)
        self._accounts_changed()
        return record

    def set_lookahead_fail(self, account_id: int, height: int) -> AccountRecord:
        """Record the height where the lookahead hit its cap (0 clears it)."""
        record = msgspec.structs.replace(self._need_account(account_id), lookahead_fail=height)
        self._put_account(account_id, record)
        return record

    def upsert_subaddress_ranges(
        self, account_id: int, ranges: Iterable[tuple[int, int, int]]
    ) -> tuple[tuple[int, int, int], ...]:
        """Merge (major, minor_first, minor_last) ranges (inclusive) into the
        account's; return the merged whole. Caps are the caller's business:
        compare ``AccountRecord.subaddress_count`` before calling."""
        record = self._need_account(account_id)
        try:
            merged = merge_ranges([*record.subaddress_ranges, *ranges])
        except MoneroFormatError as exc:
            raise InvalidRecord(str(exc)) from None
        if merged != record.subaddress_ranges:
            self._put_account(account_id, msgspec.structs.replace(record, subaddress_ranges=merged))
            self._accounts_changed()
        return merged

    def rescan_account(self, account_id: int, from_height: int) -> AccountRecord:
        """Forget the account's mined outputs and spends at or above
        ``from_height`` and scan again from there."""
        _need(0 <= from_height <= s.MAX_HEIGHT, "height out of range")
        record = self._need_account(account_id)
        self._drop_account_data(account_id, from_height)
        if from_height < record.scan_height:
            self._log_rewind(account_id, from_height)
        record = msgspec.structs.replace(record, scan_height=from_height)
        self._put_account(account_id, record)
        self._accounts_changed()
        return record

    def rescan_from(self, account_id: int, height: int) -> AccountRecord:
        """The operator's rescan (monero-lws's ``rescan``): scan the account
        again from ``height`` if it has scanned past it. Never moves an
        account forward: scan_height and start_height become at most
        ``height``; outputs and spends at or above it are dropped; a
        lookahead failure at or above it is forgotten."""
        _need(0 <= height <= s.MAX_HEIGHT, "height out of range")
        record = self._need_account(account_id)
        self._drop_account_data(account_id, height)
        if height < record.scan_height:
            self._log_rewind(account_id, height)
        record = msgspec.structs.replace(
            record,
            scan_height=min(record.scan_height, height),
            start_height=min(record.start_height, height),
            lookahead_fail=0 if height <= record.lookahead_fail else record.lookahead_fail,
        )
        self._put_account(account_id, record)
        self._accounts_changed()
        return record

    def delete_account(self, account_id: int) -> AccountRecord:
        """Remove the account and EVERYTHING the store holds of it, in this
        one transaction: its record (view key included), address index,
        mined outputs with their global index entries, candidate spends,
        pool view, pending requests, webhooks (with their trackers and outbox
        records). Returns the removed record. Its id is never reused.

        THE one place of deletion: a table that keeps something per account
        (webhooks, events) adds its removal here, so no front end can leave
        a part behind."""
        record = self._need_account(account_id)
        self._drop_account_data(account_id, 0)
        prefix = s.account_key(account_id)
        for db in (self._t.pool_outputs, self._t.pool_spends):
            for _ in self._delete_range(db, prefix, prefix):
                pass
        self._txn.delete(s.address_key(record.address), db=self._t.addresses)
        self._txn.delete(s.account_key(account_id), db=self._t.accounts)
        for kind in RequestKind:
            self._txn.delete(s.request_key(kind, record.address), db=self._t.requests)
        self.delete_account_hooks(account_id)
        self._accounts_changed()
        return record

    # -- requests ---------------------------------------------------------------------
    def create_request(self, request: RequestRecord) -> bool:
        """Queue a request; False (and nothing changed) if one of that kind is
        already pending for the address."""
        _check_address(request.address)
        _check_keys(request.view_secret, request.spend_public, request.view_public)
        _need(0 <= request.start_height <= s.MAX_HEIGHT, "start_height out of range")
        return self._txn.put(
            s.request_key(request.kind, request.address),
            encode(request),
            overwrite=False,
            db=self._t.requests,
        )

    def accept_request(self, kind: RequestKind, address: str) -> int:
        """Carry a pending request out and remove it; return the account id.

        CREATE adds the account, ACTIVE from the request's start height
        (AccountExists if the address has one already). IMPORT sets the
        existing account's start_height to the request's and rescans it from
        there (UnknownAccount if there is no account).
        """
        request = self.request(kind, address)
        if request is None:
            raise UnknownRequest(f"no pending {kind.name.lower()} request for {address}")
        if kind == RequestKind.CREATE:
            account_id = self.add_account(
                address,
                view_secret=request.view_secret,
                spend_public=request.spend_public,
                view_public=request.view_public,
                start_height=request.start_height,
                created=request.created,
                status=AccountStatus.ACTIVE,
                flags=request.flags,
            )
        else:
            found = self.account_id(address)
            if found is None:
                raise UnknownAccount(f"no account for {address}")
            account_id = found
            record = self.rescan_account(account_id, request.start_height)
            self._put_account(
                account_id, msgspec.structs.replace(record, start_height=request.start_height)
            )
        self._txn.delete(s.request_key(kind, address), db=self._t.requests)
        return account_id

    def reject_request(self, kind: RequestKind, address: str) -> bool:
        """Drop a pending request; False if there was none."""
        if len(address) > s.MAX_ADDRESS_LENGTH or not address.isascii():
            return False
        return self._txn.delete(s.request_key(kind, address), db=self._t.requests)

    # -- admin keys ---------------------------------------------------------------------
    def add_admin_key(self, name: str, key_hash: bytes, created: int) -> int:
        """Keep an admin key's hash under a new id (never reused); return the id."""
        _need(len(name) <= s.MAX_ADMIN_KEY_NAME, f"name longer than {s.MAX_ADMIN_KEY_NAME}")
        _need(name.isprintable(), "name must be printable")
        _need_size(key_hash, s.HASH_SIZE, "key_hash")
        _need(0 <= created <= s.MAX_U64, "created out of range")
        if self._txn.stat(self._t.admin_keys)["entries"] >= s.MAX_ADMIN_KEYS:
            raise StoreError(f"at most {s.MAX_ADMIN_KEYS} admin keys: revoke one first")
        raw = self._txn.get(s.META_NEXT_ADMIN_KEY_ID, db=self._t.meta)
        key_id = 1 if raw is None else s.read_u32(raw)
        if key_id > s.MAX_ACCOUNT_ID:
            raise StoreError("admin key ids are exhausted")
        record = AdminKeyRecord(name=name, key_hash=key_hash, created=created)
        self._txn.put(s.admin_key_key(key_id), encode(record), db=self._t.admin_keys)
        self._set_meta(s.META_NEXT_ADMIN_KEY_ID, s.u32(key_id + 1))
        return key_id

    def revoke_admin_key(self, key_id: int) -> bool:
        """Forget admin key ``key_id``; False if there is no such key."""
        if not 0 <= key_id <= s.MAX_ACCOUNT_ID:
            return False
        return self._txn.delete(s.admin_key_key(key_id), db=self._t.admin_keys)

    # -- scanning -----------------------------------------------------------------------
    def add_block_hashes(self, start_height: int, block_hashes: Sequence[bytes]) -> None:
        """Store the hashes of blocks ``start_height, start_height + 1, ...``.

        The stored chain is the genesis hash (optional) plus ONE contiguous
        run of heights; a batch must overlap or touch that run (any start is
        fine while the run is empty), and a hash already stored at a height
        must be equal: ChainMismatch otherwise (roll back first). To reach
        below the run, extend it downward with batches ending at its bottom.
        """
        if not block_hashes:
            return
        end = start_height + len(block_hashes)
        _need(0 <= start_height and end - 1 <= s.MAX_HEIGHT, "block height out of range")
        for block_hash in block_hashes:
            _need_size(block_hash, s.HASH_SIZE, "block hash")
        bottom = self.chain_bottom()
        top = self.chain_top()
        if end > 1 and bottom is not None and top is not None:
            if max(start_height, 1) > top[0] + 1 or end < bottom:
                raise ChainMismatch(
                    f"blocks {start_height}..{end - 1} do not connect to the stored "
                    f"run {bottom}..{top[0]}"
                )
        put = self._txn.put
        get = self._txn.get
        db = self._t.blocks
        for offset, block_hash in enumerate(block_hashes):
            key = s.block_key(start_height + offset)
            if not put(key, block_hash, overwrite=False, db=db) and get(key, db=db) != block_hash:
                raise ChainMismatch(f"block {start_height + offset} differs from the stored one")

    def add_block_batch(
        self,
        start_height: int,
        block_hashes: Sequence[bytes],
        accounts: Mapping[int, AccountBatch],
    ) -> frozenset[int]:
        """THE scanner's write: the hashes of the scanned blocks plus, per
        account, its new outputs and spends and its new scan_height.

        Returns the ids of accounts whose share was skipped because the
        account is gone, no longer active, or its scan_height is no longer
        ``from_height`` (a deletion, status change, rescan or rollback raced
        the scan); the caller reloads them. Everything else is applied, or
        nothing if an error is raised.
        """
        self.add_block_hashes(start_height, block_hashes)
        top = self.chain_top()
        chain_next = 0 if top is None else top[0] + 1
        skipped: set[int] = set()
        outbox = self._outbox()
        for account_id, batch in accounts.items():
            record = self.account(account_id)
            if (
                record is None
                or record.scan_height != batch.from_height
                or record.status != AccountStatus.ACTIVE
            ):
                skipped.add(account_id)
                continue
            lo, hi = batch.from_height, batch.scan_height
            _need(lo <= hi, f"account {account_id}: scan_height {hi} below {lo}")
            if hi > chain_next:
                # The stored chain is shorter than what was scanned: a rollback
                # (a reorg, or an operator's) ran during the scan.
                raise ChainMismatch(
                    f"account {account_id}: scanned to {hi}, beyond the stored chain "
                    f"({chain_next} blocks): rolled back during the scan"
                )
            for out in batch.outputs:
                _check_output(out, pool=False)
                _need(
                    lo <= (out.height or 0) < hi, f"account {account_id}: output outside {lo}..{hi}"
                )
                self._txn.put(
                    s.output_key(account_id, out.tx_index, out.output_index),
                    encode(out),
                    db=self._t.outputs,
                )
                self._txn.put(
                    s.gindex_key(out.index_amount, out.global_index, account_id),
                    s.output_ref(out.tx_index, out.output_index),
                    db=self._t.global_index,
                )
            for spend in batch.spends:
                _check_spend(spend, pool=False)
                _need(
                    lo <= (spend.height or 0) < hi,
                    f"account {account_id}: spend outside {lo}..{hi}",
                )
                self._txn.put(
                    s.spend_key(
                        account_id, spend.tx_index, spend.key_image, spend.source_global_index
                    ),
                    encode(spend),
                    db=self._t.spends,
                )
            if hi != record.scan_height:
                self._put_account(account_id, msgspec.structs.replace(record, scan_height=hi))
            if outbox.active:
                outbox.on_batch(account_id, batch)
        outbox.flush()
        return frozenset(skipped)

    def rollback_to(self, height: int, *, reorg: bool = True) -> int:
        """Undo a reorg: drop every block hash at or above ``height``, every
        account's mined outputs and spends at or above it, and clamp every
        scan_height to it. Returns how many accounts changed.

        ``reorg``: the chain changed, so each dropped output a tx-confirmation
        hook was told about becomes a tx-reorg event. An operator's rollback
        of an unchanged chain passes False: the trackers stay, and the rescan
        does not repeat the confirmations already sent."""
        _need(0 <= height, "height out of range")
        if height > s.MAX_HEIGHT:
            return 0
        for _ in self._delete_range(self._t.blocks, s.block_key(height), b""):
            pass
        changed = [
            (account_id, record)
            for account_id, record in self.accounts()
            if record.scan_height > height
        ]
        outbox = self._outbox()
        if changed:
            self._log_rewind(s.NO_ACCOUNT, height)
        for account_id, record in changed:
            if outbox.active and reorg:
                outbox.on_rollback(account_id, height)
            self._drop_account_data(account_id, height)
            self._put_account(account_id, msgspec.structs.replace(record, scan_height=height))
        outbox.flush()
        if changed:
            self._accounts_changed()
        return len(changed)

    def replace_pool(self, pool: Mapping[int, AccountPool]) -> frozenset[int]:
        """Replace the whole mempool view with ``pool`` (account id -> its pool
        outputs and spends). Accounts that no longer exist are skipped (a
        deletion may race the pool refresh); their ids are returned.

        Only what differs is written: a view equal to the stored one leaves
        the transaction clean, so the store's generation (and every reply
        cached for it) survives pool churn that concerns no account."""
        outputs: dict[bytes, bytes] = {}
        spends: dict[bytes, bytes] = {}
        skipped: set[int] = set()
        outbox = self._outbox()
        records: dict[bytes, tuple[int, OutputRecord]] = {}
        for account_id, entry in pool.items():
            if self.account(account_id) is None:
                skipped.add(account_id)
                continue
            for out in entry.outputs:
                _check_output(out, pool=True)
                key = s.pool_output_key(account_id, out.tx_hash, out.output_index)
                outputs[key] = encode(out)
                if outbox.active:
                    records[key] = (account_id, out)
            for spend in entry.spends:
                _check_spend(spend, pool=True)
                key = s.pool_spend_key(
                    account_id, spend.tx_hash, spend.key_image, spend.source_global_index
                )
                spends[key] = encode(spend)
        entered = self._make_table_hold(self._t.pool_outputs, outputs)
        self._make_table_hold(self._t.pool_spends, spends)
        if records and entered:
            by_account: dict[int, list[OutputRecord]] = {}
            for key in sorted(entered):
                account_id, out = records[key]
                by_account.setdefault(account_id, []).append(out)
            for account_id, outs in by_account.items():
                outbox.on_pool_outputs(account_id, outs)
            outbox.flush()
        return frozenset(skipped)

    def _make_table_hold(self, db: lmdb._Database, wanted: Mapping[bytes, bytes]) -> set[bytes]:
        """Make ``db`` hold exactly ``wanted``, writing only the differences;
        return the keys that were not there before."""
        stored = dict(self._txn.cursor(db).iternext())
        for key in stored.keys() - wanted.keys():
            self._txn.delete(key, db=db)
        entered: set[bytes] = set()
        for key, value in wanted.items():
            old = stored.get(key)
            if old != value:
                self._txn.put(key, value, db=db)
                if old is None:
                    entered.add(key)
        return entered

    # -- webhooks -----------------------------------------------------------------------
    def _init_outbox_meta(self) -> None:
        """Give the store its outbox epoch and counters (new stores, migration 1)."""
        if self._txn.get(s.META_OUTBOX_EPOCH, db=self._t.meta) is None:
            self._set_meta(s.META_OUTBOX_EPOCH, os.urandom(s.DELIVERY_ID_SIZE // 2))
        for key, value in ((s.META_NEXT_DELIVERY, 1), (s.META_DROPPED_EVENTS, 0)):
            if self._txn.get(key, db=self._t.meta) is None:
                self._set_meta(key, s.u64(value))

    def set_outbox_limit(self, limit: int) -> None:
        """Records the outbox may hold (every process that writes events reads it)."""
        _need(1 <= limit <= s.MAX_U64, "outbox limit out of range")
        if self.outbox_limit != limit:
            self._set_meta(s.META_OUTBOX_LIMIT, s.u64(limit))

    def add_hook(self, hook: HookRecord) -> bytes:
        """Register ``hook``; return its key. tx-confirmation and tx-spend hooks
        need an existing account; new-account hooks belong to NO_ACCOUNT."""
        _need_size(hook.event_id, s.EVENT_ID_SIZE, "event_id")
        if hook.type == HookType.NEW_ACCOUNT:
            _need(hook.account_id == s.NO_ACCOUNT, "a new-account hook has no account")
        elif self.account(hook.account_id) is None:
            raise UnknownAccount(f"no account {hook.account_id}")
        _need(0 < len(hook.url) <= MAX_HOOK_URL_LENGTH, "url length out of range")
        _need(len(hook.token) <= MAX_HOOK_TOKEN_LENGTH, "token too long")
        _need(
            hook.payment_id is None or len(hook.payment_id) == s.SHORT_PAYMENT_ID_SIZE,
            "payment_id must be 8 bytes or None",
        )
        _need(0 <= hook.confirmations <= s.MAX_CONFIRMATIONS, "confirmations out of range")
        _need(len(hook.secret) > 0, "a hook needs a secret")
        if self._txn.stat(self._t.hooks)["entries"] >= s.MAX_HOOKS:
            raise StoreError(f"{s.MAX_HOOKS} webhooks are registered: delete some first")
        # Event ids are random 128-bit values (webhook_add): only a re-used
        # one can collide, and that is caught here, within its account and type.
        key = s.hook_key(hook.account_id, hook.type, hook.event_id)
        if not self._txn.put(key, encode(hook), overwrite=False, db=self._t.hooks):
            raise InvalidRecord("a hook with this event_id exists")
        self._outbox().forget_hooks()
        return key

    def delete_hooks(self, keys: Sequence[bytes]) -> int:
        """Delete hooks by key, with their trackers and outbox records; return
        how many existed."""
        return self._outbox().delete_hooks(keys)

    def delete_account_hooks(self, account_id: int) -> int:
        """Delete every hook of the account (all types)."""
        keys = [k for k, _ in prefix_keys(self._txn, self._t.hooks, s.hook_prefix(account_id))]
        return self.delete_hooks(keys) if keys else 0

    def emit_new_account(self, address: str) -> None:
        """A create request for ``address`` was queued: fire new-account hooks."""
        outbox = self._outbox()
        if outbox.active:
            outbox.on_new_account(address)
            outbox.flush()

    def record_attempts(self, results: Sequence[tuple[int, int, DeliveryRecord]]) -> list[int]:
        """The delivery engine's results: ``(seq, redeliveries, record)`` with
        ``record`` the outbox record as it should now be. A record that was
        deleted, or sent back to pending by an operator since the attempt began
        (its redeliveries count moved), is left alone; return the seqs written."""
        written: list[int] = []
        for seq, redeliveries, record in results:
            key = s.delivery_key(seq)
            raw = self._txn.get(key, db=self._t.deliveries)
            if raw is None:
                continue
            stored = DELIVERY_DECODER.decode(raw)
            if stored.redeliveries != redeliveries or stored.state != DeliveryState.PENDING:
                continue
            self._txn.put(key, encode(record), db=self._t.deliveries)
            written.append(seq)
        return written

    def redeliver(self, seq: int) -> DeliveryRecord:
        """Send a delivered or failed record back to pending, with a fresh
        retry schedule (its delivery id stays)."""
        key = s.delivery_key(seq)
        raw = self._txn.get(key, db=self._t.deliveries)
        if raw is None:
            raise UnknownDelivery(f"no delivery {seq}")
        record = DELIVERY_DECODER.decode(raw)
        if record.state == DeliveryState.PENDING:
            raise DeliveryPending("the delivery is still pending")
        record = msgspec.structs.replace(
            record,
            state=DeliveryState.PENDING,
            attempts=0,
            next_attempt=0.0,
            updated=int(time.time()),
            redeliveries=record.redeliveries + 1,
        )
        self._txn.put(key, encode(record), db=self._t.deliveries)
        self._txn.put(key, b"", db=self._t.requeued)
        return record

    def take_requeued(self) -> list[int]:
        """The seqs operators sent back to pending since the last call (removed)."""
        seqs = [s.read_u64(k) for k, _ in self._txn.cursor(self._t.requeued)]
        for seq in seqs:
            self._txn.delete(s.delivery_key(seq), db=self._t.requeued)
        return seqs

    def prune_deliveries(
        self, finished_before: int, *, keep: int, start: int = 0, budget: int = 5_000
    ) -> tuple[int, int | None]:
        """Delete delivered and failed records last changed before
        ``finished_before`` (unix seconds), and the oldest finished ones while
        more than ``keep`` records remain, looking at ``budget`` records from
        seq ``start`` (keeps each transaction short). Return how many were
        deleted and the seq to continue from (None: the end was reached)."""
        entries = self._txn.stat(self._t.deliveries)["entries"]
        deleted = 0
        cursor = self._txn.cursor(self._t.deliveries)
        if not cursor.set_range(s.delivery_key(start)):
            return 0, None
        for _ in range(budget):
            record = DELIVERY_DECODER.decode(cursor.value())
            finished = record.state != DeliveryState.PENDING
            if finished and (record.updated < finished_before or entries - deleted > keep):
                self._txn.delete(cursor.key(), db=self._t.requeued)
                deleted += 1
                if not cursor.delete() or not cursor.key():
                    return deleted, None
            elif not cursor.next():
                return deleted, None
        return deleted, s.read_u64(cursor.key())
