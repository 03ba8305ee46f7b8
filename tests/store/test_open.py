# Owns the tests of opening a store: creation, network and format checks,
# migrations, read-only opens, file permissions.
from __future__ import annotations

import stat
from pathlib import Path

import pytest

from lws.errors import LwsError
from lws.store import (
    FORMAT_VERSION,
    FormatError,
    Store,
    StoreError,
    StoreOpenError,
    Writer,
    WrongNetwork,
)
from tests.support.store_data import NETWORK, add_account, address


def test_new_store_has_meta(tmp_path: Path) -> None:
    with Store.open(tmp_path / "db", network=NETWORK) as store:
        with store.read() as r:
            meta = r.meta
            assert r.count_accounts() == 0
            assert r.chain_top() is None
            assert r.block_id_history() == []
    assert meta.format_version == FORMAT_VERSION
    assert meta.network == NETWORK
    assert meta.created > 1_600_000_000
    assert meta.next_account_id == 1


def test_reopen_keeps_data(tmp_path: Path) -> None:
    with Store.open(tmp_path, network=NETWORK) as store:
        account_id = store.transact(lambda w: add_account(w, 7))
    with Store.open(tmp_path, network=NETWORK, readonly=True) as store:
        found = store.query(lambda r: r.account_by_address(address(7)))
    assert found is not None and found[0] == account_id


def test_other_network_is_refused(tmp_path: Path) -> None:
    Store.open(tmp_path, network="stagenet").close()
    with pytest.raises(WrongNetwork, match="is for stagenet, not mainnet"):
        Store.open(tmp_path, network="mainnet")
    with pytest.raises(WrongNetwork):
        Store.open(tmp_path, network="mainnet", readonly=True)
    assert issubclass(WrongNetwork, LwsError)


def test_readonly_open_of_nothing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreOpenError, match="no store"):
        Store.open(tmp_path / "missing", network=NETWORK, readonly=True)
    assert not (tmp_path / "missing").exists()


def test_readonly_store_refuses_writes(tmp_path: Path) -> None:
    Store.open(tmp_path, network=NETWORK).close()
    with Store.open(tmp_path, network=NETWORK, readonly=True) as store:
        with pytest.raises(StoreError, match="read-only"):
            store.transact(lambda w: add_account(w, 1))


def test_files_are_owner_only(tmp_path: Path) -> None:
    Store.open(tmp_path / "db", network=NETWORK).close()
    for name in ("data.mdb", "lock.mdb"):
        mode = stat.S_IMODE((tmp_path / "db" / name).stat().st_mode)
        assert mode & 0o077 == 0, oct(mode)
    assert stat.S_IMODE((tmp_path / "db").stat().st_mode) & 0o077 == 0


def test_newer_format_is_refused(tmp_path: Path) -> None:
    Store.open(tmp_path, network=NETWORK, format_version=FORMAT_VERSION + 1).close()
    with pytest.raises(FormatError, match="upgrade lws"):
        Store.open(tmp_path, network=NETWORK)
    with pytest.raises(FormatError):
        Store.open(tmp_path, network=NETWORK, readonly=True)


def test_older_format_is_migrated(tmp_path: Path) -> None:
    # A store written by "this" lws, then opened by an lws one format ahead
    # whose migration rewrites data.
    with Store.open(tmp_path, network=NETWORK) as store:
        account_id = store.transact(lambda w: add_account(w, 1))
    ran: list[int] = []

    def to_next(w: Writer) -> None:
        ran.append(w.meta.format_version)
        w.set_flags(account_id, 0b100)

    with pytest.raises(FormatError, match="open it once read-write"):
        Store.open(tmp_path, network=NETWORK, readonly=True, format_version=FORMAT_VERSION + 1)
    with pytest.raises(FormatError, match=f"no migration from store format {FORMAT_VERSION}"):
        Store.open(tmp_path, network=NETWORK, format_version=FORMAT_VERSION + 1, migrations={})

    newer = FORMAT_VERSION + 1
    with Store.open(
        tmp_path, network=NETWORK, format_version=newer, migrations={FORMAT_VERSION: to_next}
    ) as store:
        with store.read() as r:
            assert r.meta.format_version == newer
            record = r.account(account_id)
    assert ran == [FORMAT_VERSION]
    assert record is not None and record.flags == 0b100
    # Migrated once: reopening runs nothing, and today's lws now refuses it.
    Store.open(
        tmp_path, network=NETWORK, format_version=newer, migrations={FORMAT_VERSION: to_next}
    ).close()
    assert ran == [FORMAT_VERSION]
    with pytest.raises(FormatError):
        Store.open(tmp_path, network=NETWORK)


def test_failed_migration_leaves_old_format(tmp_path: Path) -> None:
    Store.open(tmp_path, network=NETWORK).close()

    def broken(w: Writer) -> None:
        add_account(w, 1)
        raise RuntimeError("migration bug")

    with pytest.raises(RuntimeError):
        Store.open(
            tmp_path,
            network=NETWORK,
            format_version=FORMAT_VERSION + 1,
            migrations={FORMAT_VERSION: broken},
        )
    with Store.open(tmp_path, network=NETWORK) as store:
        with store.read() as r:
            assert r.meta.format_version == FORMAT_VERSION
            assert r.count_accounts() == 0
