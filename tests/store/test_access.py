# Owns the tests of the accounts' last access table (lws/store/access.py): a
# merge keeps the later time, unknown addresses read as absent, deletion,
# one table for every process of a data directory, and refusal of what is
# not an address.
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lws.store.access import AccessTable

A, B = "4" + "A" * 94, "4" + "B" * 94


def test_a_merge_keeps_the_later_time(tmp_path: Path) -> None:
    with AccessTable.open(tmp_path) as table:
        assert table.merge({A: 100, B: 50}) == 2
        assert table.merge({A: 90, B: 70}) == 2
        assert table.get_many([A, B, "4" + "C" * 94]) == {A: 100, B: 70}
        table.delete([A])
        assert table.get_many([A, B]) == {B: 70}
        assert len(table) == 1


def test_every_process_of_a_data_directory_shares_the_table(tmp_path: Path) -> None:
    code = (
        "import sys; from lws.store.access import AccessTable\n"
        "t = AccessTable.open(sys.argv[1]); t.merge({sys.argv[2]: 1234}); t.close()\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path), A], check=True, timeout=60)
    with AccessTable.open(tmp_path) as table:
        assert table.get_many([A]) == {A: 1234}


def test_what_is_not_an_address_is_refused(tmp_path: Path) -> None:
    with AccessTable.open(tmp_path) as table:
        for bad in ("", "x" * 200, "é" * 95):
            with pytest.raises(ValueError):
                table.merge({bad: 1})
        assert len(table) == 0
