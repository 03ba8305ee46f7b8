# Owns the tests of lws.metrics: counting in memory, the multiprocess mode
# across real processes (a main process and two that join its directory, as
# API workers do), the state gauges of a sample, the Prometheus text format
# as prometheus-client's own parser reads it, and the daemon client's error
# counter (once per failed call, nested calls included).
"""Prometheus metrics."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lws import metrics
from lws.daemon import Daemon
from lws.errors import DaemonUnavailable
from tests.support.regtest import free_port


def samples(text: bytes | str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    if isinstance(text, bytes):
        text = text.decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: bytes | str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def test_counts_in_memory_show_in_the_exposition() -> None:
    before, _ = metrics.exposition(None)
    metrics.scanned_blocks(7, "tip")
    metrics.scanned_pairs(70, "chain")
    metrics.api_request("wallet", "login", 200, 0.003)
    metrics.api_request("wallet", "login", 403, 0.002)
    after, content_type = metrics.exposition(None)
    assert content_type.startswith("text/plain")
    assert value(after, "lws_scan_blocks_total", **{"pass": "tip"}) == (
        value(before, "lws_scan_blocks_total", **{"pass": "tip"}) + 7
    )
    assert value(after, "lws_scan_pairs_total", source="chain") == (
        value(before, "lws_scan_pairs_total", source="chain") + 70
    )
    for status in ("200", "403"):
        labels = {"api": "wallet", "method": "login", "status": status}
        assert value(after, "lws_api_requests_total", **labels) == (
            value(before, "lws_api_requests_total", **labels) + 1
        )
    bucket = {"api": "wallet", "method": "login", "le": "0.0025"}
    assert value(after, "lws_api_request_seconds_bucket", **bucket) == (
        value(before, "lws_api_request_seconds_bucket", **bucket) + 1
    )
    # Known label values are there at 0 before any count.
    assert ("lws_daemon_errors_total", (("kind", "wrong_network"),)) in samples(after)


def test_openmetrics_when_asked() -> None:
    body, content_type = metrics.exposition(None, "application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")


SAMPLE = metrics.ServerSample(
    scan_height=120,
    daemon_height=125,
    blocks_per_second=3.5,
    scanner_state="ok",
    scanner_states=("starting", "ok", "unavailable"),
    accounts_behind=1,
    accounts={"active": 3, "inactive": 1, "hidden": 0},
    requests_pending={"create": 2, "import": 0},
    store_bytes=1 << 20,
    store_used_bytes=1 << 19,
    store_map_bytes=1 << 26,
    store_map_max_bytes=1 << 40,
    store_readers=3,
    store_max_readers=1024,
    webhooks=metrics.WebhookSample(
        hooks=2, records={"pending": 5, "delivered": 40, "failed": 1}, limit=100, dropped_events=3
    ),
)


def test_sample_gauges() -> None:
    body, _ = metrics.exposition(SAMPLE)
    assert value(body, "lws_scan_height") == 120
    assert value(body, "lws_daemon_height") == 125
    assert value(body, "lws_scan_lag_blocks") == 5
    assert value(body, "lws_accounts", status="active") == 3
    assert value(body, "lws_accounts", status="hidden") == 0
    assert value(body, "lws_requests_pending", type="create") == 2
    assert value(body, "lws_scanner_state", state="ok") == 1
    assert value(body, "lws_scanner_state", state="starting") == 0
    assert value(body, "lws_store_map_used_ratio") == pytest.approx(1 / 128)
    assert value(body, "lws_store_bytes") == 1 << 20
    assert value(body, "lws_webhook_backlog") == 5
    assert value(body, "lws_webhook_outbox_records", state="failed") == 1
    assert value(body, "lws_webhook_outbox_limit") == 100
    assert value(body, "lws_webhook_dropped_events_total") == 3
    assert value(body, "lws_webhooks") == 2
    bare = metrics.exposition(dataclasses.replace(SAMPLE, webhooks=None))[0]
    assert b"lws_webhook_backlog" not in bare


#: A process of `lws serve` in miniature: the main one counts, starts two
#: others that join its directory (as lws/api/supervisor.py starts API
#: workers), and scrapes once they have exited.
_MAIN = """
import subprocess, sys
from lws import metrics
with metrics.multiprocess_files() as directory:
    assert directory is not None
    metrics.api_request("wallet", "login", 200, 0.01)
    metrics.scanned_blocks(5, "tip")
    children = [
        subprocess.run([sys.executable, "-c", CHILD, str(directory), str(n)], check=True)
        for n in (1, 2)
    ]
    body, _ = metrics.exposition(None)
    sys.stdout.write(body.decode())
"""
_CHILD = """
import sys
from lws import metrics
metrics.join_multiprocess(sys.argv[1])
for _ in range(int(sys.argv[2])):
    metrics.api_request("wallet", "login", 200, 0.2)
metrics.daemon_error("unavailable")
"""


def test_multiprocess_counts_of_every_process_are_summed() -> None:
    script = f"CHILD = {_CHILD!r}\n" + textwrap.dedent(_MAIN)
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    labels = {"api": "wallet", "method": "login", "status": "200"}
    assert value(out, "lws_api_requests_total", **labels) == 1 + 1 + 2
    assert value(out, "lws_api_request_seconds_count", api="wallet", method="login") == 4
    assert value(out, "lws_api_request_seconds_sum", api="wallet", method="login") == (
        pytest.approx(0.01 + 3 * 0.2)
    )
    assert value(out, "lws_scan_blocks_total", **{"pass": "tip"}) == 5
    assert value(out, "lws_daemon_errors_total", kind="unavailable") == 2
    # Summed over processes: no per-process label leaks into counters.
    assert "pid=" not in out


async def test_a_failed_daemon_call_counts_once() -> None:
    daemon = Daemon(f"http://127.0.0.1:{free_port()}")
    try:
        before, _ = metrics.exposition(None)
        # check_network -> get_info -> json_rpc -> _post: one failure.
        with pytest.raises(DaemonUnavailable):
            await daemon.check_network("regtest")
        after, _ = metrics.exposition(None)
    finally:
        await daemon.aclose()
    assert value(after, "lws_daemon_errors_total", kind="unavailable") == (
        value(before, "lws_daemon_errors_total", kind="unavailable") + 1
    )
