# Owns the LMDB environment: opening (network and format checks, migrations),
# transactions (read snapshots, re-runnable write functions), map growth and
# closing. Must not know the tables' contents (Reader/Writer do) and must not
# import trio: callers run these synchronous calls in a worker thread.
"""The store: one LMDB environment, shared by threads and processes."""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import lmdb

from . import schema as s
from .errors import FormatError, StoreError, StoreOpenError, WrongNetwork
from .memo import RecordMemos
from .migrations import MIGRATIONS, Migration
from .reader import Reader, Tables
from .records import StoreUsage
from .writer import Writer

T = TypeVar("T")

#: Store files hold view keys: owner-only.
_DIR_MODE = 0o700
_FILE_MODE = 0o600


class Store:
    """One LMDB environment. Open it once per process and path (LMDB's rule)
    and share it between threads; other processes open their own.

    Reads: ``with store.read() as r: ...`` (or ``store.query(fn)``), a
    consistent snapshot. Writes: ``store.transact(fn)`` only, where ``fn``
    gets a Writer; everything ``fn`` does is one transaction, committed when
    it returns and aborted when it raises. ``fn`` is re-run if the map must
    grow, so it must not have side effects outside the Writer.
    """

    def __init__(self, env: lmdb.Environment, tables: Tables, path: Path, readonly: bool) -> None:
        self._env = env
        self._tables = tables
        self._path = path
        self._readonly = readonly
        self._cond = threading.Condition()
        self._active = 0  # transactions open in this process
        self._resizing = False
        self._local = threading.local()  # .depth: transactions open in this thread
        #: Decoded outputs and spends by their stored bytes, shared by every
        #: snapshot of this process (see memo.py).
        self._memos = RecordMemos()

    # -- opening ----------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        network: str | None,
        readonly: bool = False,
        create: bool = True,
        map_size: int = s.INITIAL_MAP_SIZE,
        migrations: Mapping[int, Migration] = MIGRATIONS,
        format_version: int = s.FORMAT_VERSION,
    ) -> Store:
        """Open (or, unless ``readonly`` or not ``create``, create) the store
        in directory ``path``.

        Refuses a store made for another ``network`` (WrongNetwork) or in a
        newer format (FormatError); migrates an older format, one registered
        step per transaction (a read-only open refuses instead). ``network``
        None opens an existing store for whatever network it records (the
        admin CLI's ``--data-dir`` alone); it never creates one.
        ``migrations`` and ``format_version`` exist for tests; leave them.
        """
        where = Path(path)
        if (readonly or not create or network is None) and not (where / "data.mdb").is_file():
            raise StoreOpenError(f"no store at {where}")
        if not readonly:
            try:
                where.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
            except OSError as e:
                raise StoreOpenError(f"cannot create {where}: {e.strerror}") from None
        try:
            env = lmdb.open(
                str(where),
                map_size=map_size,
                subdir=True,
                readonly=readonly,
                mode=_FILE_MODE,
                create=not readonly,
                max_readers=s.MAX_READERS,
                max_dbs=s.MAX_DBS,
                max_spare_txns=0,  # map growth needs no open txn in this process
                lock=True,
            )
        except lmdb.Error as e:
            raise StoreOpenError(f"cannot open store at {where}: {e}") from None
        try:
            tables = _open_tables(env, readonly)
            store = cls(env, tables, where, readonly)
            store._check_meta(network, migrations, format_version)
        except BaseException:
            env.close()
            raise
        return store

    def _check_meta(
        self, network: str | None, migrations: Mapping[int, Migration], format_version: int
    ) -> None:
        if network is not None and (not network or not network.isascii()):
            raise StoreOpenError("network must be a non-empty ascii name")
        with self.read() as r:
            raw_version = r._txn.get(s.META_FORMAT_VERSION, db=r._t.meta)
        if raw_version is None:
            if self._readonly or network is None:
                raise StoreOpenError(f"{self._path} is not an lws store")
            # A new store (no write txn otherwise: opening must not queue
            # behind another process's long batch).
            self.transact(lambda w: _init_meta(w, network, format_version))
        with self.read() as r:
            meta = r.meta
        if network is not None and meta.network != network:
            raise WrongNetwork(f"the store at {self._path} is for {meta.network}, not {network}")
        if meta.format_version > format_version:
            raise FormatError(
                f"the store at {self._path} is in format {meta.format_version}; this lws "
                f"reads format {format_version} at most: upgrade lws"
            )
        if meta.format_version < format_version:
            if self._readonly:
                raise FormatError(
                    f"the store at {self._path} is in format {meta.format_version} and needs "
                    f"a migration to {format_version}: open it once read-write"
                )
            for version in range(meta.format_version, format_version):
                step = migrations.get(version)
                if step is None:
                    raise FormatError(f"no migration from store format {version}")
                self.transact(functools.partial(_migrate, step=step, version=version))

    # -- lifetime ---------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self._path

    @property
    def readonly(self) -> bool:
        return self._readonly

    @property
    def network(self) -> str:
        """The Monero network the store was made for."""
        with self.read() as r:
            return r.meta.network

    @property
    def map_size(self) -> int:
        return self._env.info()["map_size"]

    def usage(self) -> StoreUsage:
        """Sizes and reader slots, from LMDB's own counters (no transaction)."""
        with self._cond:
            info = self._env.info()
            page = self._env.stat()["psize"]
        try:
            file_bytes = (self._path / "data.mdb").stat().st_size
        except OSError:
            file_bytes = 0
        return StoreUsage(
            file_bytes=file_bytes,
            used_bytes=(info["last_pgno"] + 1) * page,
            map_bytes=info["map_size"],
            max_map_bytes=s.MAX_MAP_SIZE,
            readers=info["num_readers"],
            max_readers=info["max_readers"],
        )

    def generation(self) -> int | None:
        """The id of the last committed write transaction (any process's):
        it changes with every commit that changed something. Equal to
        ``Reader.generation`` of a snapshot taken since. Never blocks; None
        while this process grows the map (the caller must treat it as "changed")."""
        with self._cond:
            if self._resizing:
                return None
            last: int = self._env.info()["last_txnid"]
            return last

    def close(self) -> None:
        self._env.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------
    @contextmanager
    def read(self) -> Iterator[Reader]:
        """One read transaction: a consistent snapshot for many calls."""
        txn = self._begin(write=False)
        try:
            yield Reader(txn, self._tables, self._memos)
        finally:
            txn.abort()
            self._leave()

    def query(self, fn: Callable[[Reader], T]) -> T:
        """``fn(reader)`` in one read transaction (handy for to_thread.run_sync).
        ``fn`` must return plain values, not iterators over the reader."""
        with self.read() as reader:
            return fn(reader)

    def transact(self, fn: Callable[[Writer], T]) -> T:
        """THE way to write: ``fn(writer)`` in one write transaction,
        committed if it returns, aborted if it raises. If the map is full,
        the transaction is aborted, the map doubled and ``fn`` run again."""
        if self._readonly:
            raise StoreError("the store is open read-only")
        if getattr(self._local, "writing", False):
            raise StoreError("transact() cannot nest: one write transaction per call")
        self._local.writing = True
        try:
            return self._transact(fn)
        finally:
            self._local.writing = False

    def _transact(self, fn: Callable[[Writer], T]) -> T:
        while True:
            txn = self._begin(write=True)
            seen_size = self._env.info()["map_size"]
            try:
                try:
                    result = fn(Writer(txn, self._tables, self._memos))
                    txn.commit()
                except BaseException:
                    _abort_quietly(txn)
                    raise
            except lmdb.MapFullError:
                pass  # grow below, once this transaction is released
            else:
                return result
            finally:
                self._leave()
            self._grow(seen_size)

    # -- map size coordination ----------------------------------------------------
    def _begin(self, *, write: bool) -> lmdb.Transaction[bytes]:
        while True:
            self._enter()
            try:
                return self._env.begin(write=write)
            except lmdb.MapResizedError:
                self._leave()
                self._resize(None, 0)  # another process grew the map: adopt its size
            except BaseException:
                self._leave()
                raise

    def _enter(self) -> None:
        with self._cond:
            while self._resizing:
                self._cond.wait()
            self._active += 1
        self._local.depth = getattr(self._local, "depth", 0) + 1

    def _leave(self) -> None:
        self._local.depth -= 1
        with self._cond:
            self._active -= 1
            if self._active == 0:
                self._cond.notify_all()

    def _grow(self, seen_size: int) -> None:
        if seen_size >= s.MAX_MAP_SIZE:
            raise StoreError(f"the store is full at its {s.MAX_MAP_SIZE >> 30} GiB limit")
        self._resize(min(seen_size * 2, s.MAX_MAP_SIZE), seen_size)

    def _resize(self, new_size: int | None, seen_size: int) -> None:
        """Set the map size (None: adopt the size another process set) once no
        transaction of this process is open. Skipped if another thread grew
        the map past ``seen_size`` meanwhile."""
        if getattr(self._local, "depth", 0):
            raise StoreError("the map cannot grow while this thread holds a transaction")
        with self._cond:
            while self._resizing:
                self._cond.wait()
            if new_size is not None and self._env.info()["map_size"] > seen_size:
                return
            self._resizing = True
            try:
                deadline = time.monotonic() + s.GROW_WAIT_SECONDS
                while self._active:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise StoreError("map growth timed out waiting for open transactions")
                    self._cond.wait(remaining)
                self._env.set_mapsize(new_size or 0)
            finally:
                self._resizing = False
                self._cond.notify_all()


def _abort_quietly(txn: lmdb.Transaction[bytes]) -> None:
    try:
        txn.abort()
    except lmdb.Error:
        pass  # a failed commit has already ended it


#: Tables added to format 1 without a bump (see schema.FORMAT_VERSION): a
#: store written before them lacks them until a read-write open creates them.
_ADDED_IN_FORMAT_1 = frozenset({s.T_ADMIN_KEYS})


def _open_tables(env: lmdb.Environment, readonly: bool) -> Tables:
    handles: dict[bytes, lmdb._Database] = {}
    try:
        if readonly:
            # py-lmdb keeps handles opened in its own internal read txn only.
            for name in s.TABLES:
                try:
                    handles[name] = env.open_db(name, create=False)
                except lmdb.NotFoundError:
                    if name in _ADDED_IN_FORMAT_1 and handles:
                        raise StoreOpenError(
                            f"{env.path()} was written by an older lws: open it once "
                            "read-write to add its new tables"
                        ) from None
                    raise
        else:
            with env.begin(write=True) as txn:
                for name in s.TABLES:
                    handles[name] = env.open_db(name, txn=txn)
    except lmdb.NotFoundError:
        raise StoreOpenError(f"{env.path()} is not an lws store (missing tables)") from None
    except lmdb.Error as e:
        raise StoreOpenError(f"cannot open the tables of {env.path()}: {e}") from None
    return Tables(
        meta=handles[s.T_META],
        accounts=handles[s.T_ACCOUNTS],
        addresses=handles[s.T_ADDRESSES],
        requests=handles[s.T_REQUESTS],
        outputs=handles[s.T_OUTPUTS],
        spends=handles[s.T_SPENDS],
        global_index=handles[s.T_GLOBAL_INDEX],
        blocks=handles[s.T_BLOCKS],
        pool_outputs=handles[s.T_POOL_OUTPUTS],
        pool_spends=handles[s.T_POOL_SPENDS],
        hooks=handles[s.T_HOOKS],
        trackers=handles[s.T_TRACKERS],
        deliveries=handles[s.T_DELIVERIES],
        requeued=handles[s.T_REQUEUED],
        rewinds=handles[s.T_REWINDS],
        admin_keys=handles[s.T_ADMIN_KEYS],
    )


def _init_meta(writer: Writer, network: str, format_version: int) -> None:
    """Write a new store's meta; leave an existing store's alone."""
    if writer._txn.get(s.META_FORMAT_VERSION, db=writer._t.meta) is not None:
        return
    writer._set_format_version(format_version)
    writer._set_meta(s.META_NETWORK, network.encode("ascii"))
    writer._set_meta(s.META_CREATED, s.u64(int(time.time())))
    writer._set_meta(s.META_NEXT_ACCOUNT_ID, s.u32(1))
    writer._init_outbox_meta()


def _migrate(writer: Writer, step: Migration, version: int) -> None:
    if writer.meta.format_version != version:
        return  # another process migrated this step meanwhile
    step(writer)
    writer._set_format_version(version + 1)
