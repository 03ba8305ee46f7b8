# Owns the tests of the rate limiter's shared table (lws/store/ratelimit.py):
# values round-trip, another process sees a write at once, expired entries
# are pruned, long keys are kept (hashed).
"""The rate-limit table shared by API processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from lws.store import RateTable


def test_round_trip_and_prune(tmp_path: Path) -> None:
    table = RateTable.open(tmp_path / "rl")
    assert table.get("a") is None
    now = time.time()
    assert table.set("a", now + 30)
    assert table.set("b", now - 1)
    assert table.set("x" * 2000, now + 5)  # past LMDB's key limit: hashed
    assert table.get("a") == now + 30 and table.get("x" * 2000) == now + 5
    assert len(table) == 3
    assert table.prune(now) == 1
    assert table.get("b") is None and len(table) == 2
    assert table.prune(now + 100) == 2 and len(table) == 0
    table.close()


def test_another_process_sees_the_same_budget(tmp_path: Path) -> None:
    table = RateTable.open(tmp_path / "rl")
    table.set("client-login", 1234.5)
    code = (
        "import sys; from lws.store import RateTable; t = RateTable.open(sys.argv[1]); "
        "print(t.get('client-login')); t.set('client-login', 99.0)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "rl")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "1234.5"
    assert table.get("client-login") == 99.0
    table.close()
