# Owns the proof of issue 17 section 1 on a real `lws serve` (main process
# and an API worker process) against a real regtest monerod behind a gate the
# test can shut: GET /health and GET /ready need no key; /ready is 200 at the
# tip and 503 with the reason as JSON while monerod is unreachable, then 200
# again; GET /metrics needs an admin key (403 {"Error"} without, as a Bearer
# token it is 200) unless --metrics-public; the scrape counts every API
# process's requests exactly, the scanned blocks and monerod's errors, shows
# accounts by status and pending requests; and no label value is an address,
# a key or a path a client made up.
"""Health, readiness and metrics of a running lws."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lws.api.admin_routes import ADMIN_ROUTES
from lws.api.routes import ROUTES
from tests.conftest import LwsProcess
from tests.support.gate import DaemonGate
from tests.support.receiver import Receiver, always
from tests.support.regtest import Monerod, WalletKeys, free_port
from tests.support.webhooks import HookAdmin

pytestmark = pytest.mark.e2e

T_S = 60


def wait_for(what: str, check: Callable[[], Any], timeout: float = T_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def value(text: str, name: str, **labels: str) -> float:
    return sum(v for n, found, v in samples(text) if n == name and found == labels)


class Server:
    def __init__(self, workdir: Path, monerod: Monerod, gate: DaemonGate, *extra: str) -> None:
        self.admin_port = free_port()
        self.lws = LwsProcess(
            workdir,
            monerod,
            "--admin-listen",
            f"127.0.0.1:{self.admin_port}",
            "--api-workers",
            "2",
            *extra,
            auto_accept=False,
            daemon_url=gate.url,
        )
        self.url = f"http://127.0.0.1:{self.admin_port}"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "lws",
                "admin",
                "--data-dir",
                str(self.lws.data_dir),
                "--json",
                "create-admin-key",
                "--name",
                "prometheus",
            ],
            capture_output=True,
            text=True,
            timeout=T_S,
            check=True,
        )
        self.key = json.loads(done.stdout)["key"]

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30, **kwargs)

    def scrape(self) -> str:
        reply = self.get("/metrics", headers={"Authorization": f"Bearer {self.key}"})
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"].startswith("text/plain")
        return reply.text


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Monerod, DaemonGate]]:
    workdir = tmp_path_factory.mktemp("observe")
    with Monerod(workdir / "monerod") as daemon:
        gate = DaemonGate(daemon.port)
        try:
            daemon.mine(20, WalletKeys("observe-miner").address())
            yield daemon, gate
        finally:
            gate.close()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, chain: tuple[Monerod, DaemonGate]
) -> Iterator[Server]:
    monerod, gate = chain
    running = Server(tmp_path_factory.mktemp("observe-lws"), monerod, gate)
    try:
        yield running
    finally:
        running.lws.stop()


def test_health_and_ready_need_no_key(server: Server, chain: tuple[Monerod, DaemonGate]) -> None:
    monerod, _ = chain
    health = server.get("/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = wait_for("ready", lambda: (r := server.get("/ready")).status_code == 200 and r)
    body = ready.json()
    assert body["ready"] is True and body["reasons"] == []
    assert body["daemon_height"] == monerod.height()
    assert body["lag_blocks"] <= 1
    assert ready.headers["cache-control"] == "no-store"


def test_not_ready_while_monerod_is_unreachable(
    server: Server, chain: tuple[Monerod, DaemonGate]
) -> None:
    _, gate = chain
    wait_for("ready", lambda: server.get("/ready").status_code == 200)
    before = value(server.scrape(), "lws_daemon_errors_total", kind="unavailable")
    gate.shut()
    try:
        reply = server.get("/ready")
        assert reply.status_code == 503
        body = reply.json()
        assert body["ready"] is False
        assert any(r.startswith("monerod is not answering") for r in body["reasons"])
        assert server.get("/health").status_code == 200  # the process is up all the same
        wait_for(
            "a daemon error counted",
            lambda: value(server.scrape(), "lws_daemon_errors_total", kind="unavailable") > before,
        )
    finally:
        gate.open()
    wait_for("ready again", lambda: server.get("/ready").status_code == 200)


def test_metrics_need_the_admin_key(server: Server) -> None:
    refused = server.get("/metrics")
    assert refused.status_code == 403
    assert "Error" in refused.json()
    wrong = server.get("/metrics", headers={"Authorization": "Bearer " + "00" * 32})
    assert wrong.status_code == 403
    assert "lws_scan_height" in server.scrape()


def test_every_api_process_is_counted(server: Server) -> None:
    labels = {"api": "wallet", "method": "get_version", "status": "200"}
    before = server.scrape()
    requests = 60
    for _ in range(requests):
        # A new connection each time: the kernel hands them to both processes.
        reply = httpx.post(f"{server.lws.url}/get_version", json={}, timeout=30)
        assert reply.status_code == 200
    after = server.scrape()
    assert (
        value(after, "lws_api_requests_total", **labels)
        - value(before, "lws_api_requests_total", **labels)
        == requests
    )
    seconds = {"api": "wallet", "method": "get_version"}
    assert (
        value(after, "lws_api_request_seconds_count", **seconds)
        - value(before, "lws_api_request_seconds_count", **seconds)
        == requests
    )


def test_state_gauges_and_scan_counters(server: Server, chain: tuple[Monerod, DaemonGate]) -> None:
    monerod, _ = chain
    wallets = [WalletKeys(f"observe-{i}") for i in range(3)]
    for keys in wallets:
        server.lws.login(keys)
    text = server.scrape()
    assert value(text, "lws_requests_pending", type="create") == 3
    assert value(text, "lws_accounts", status="active") == 0
    blocks = value(text, "lws_scan_blocks_total", **{"pass": "tip"})
    monerod.mine(4, wallets[0].address())
    tip = monerod.height()

    def at_tip() -> str | None:
        text = server.scrape()
        at = value(text, "lws_scan_height") == value(text, "lws_daemon_height") == tip
        return text if at else None

    text = wait_for("the scanner at the new tip", at_tip)
    assert value(text, "lws_scan_blocks_total", **{"pass": "tip"}) >= blocks + 4
    assert value(text, "lws_scan_lag_blocks") == 0
    assert value(text, "lws_scanner_state", state="ok") == 1
    assert value(text, "lws_store_map_bytes") > 0
    assert 0 < value(text, "lws_store_map_used_ratio") < 1


def test_no_label_carries_an_address_or_key(server: Server) -> None:
    keys = WalletKeys("observe-labels")
    creds = {"address": keys.address(), "view_key": keys.view_secret.hex()}
    server.lws.post("login", {**creds, "create_account": True, "generated_locally": False})
    server.lws.post("get_address_info", creds)
    server.lws.post(keys.address(), creds)  # a path a client made up
    httpx.post(f"{server.url}/{keys.view_secret.hex()}", json={}, timeout=30)
    text = server.scrape()
    assert keys.address() not in text and keys.view_secret.hex() not in text
    methods = {r.path.strip("/") for r in ROUTES} | {"other"}
    admin_methods = {r.path.strip("/") for r in ADMIN_ROUTES} | {
        "other",
        "health",
        "ready",
        "metrics",
        "openapi.json",
        "root",
        "console",
        "console/login",
        "console/logout",
        "console/requests",
        "console/accounts",
        "console/webhooks",
        "webhook_add",
        "webhook_delete",
        "webhook_delete_uuid",
        "webhook_list",
    }
    for name, labels, _ in samples(text):
        for label, found in labels.items():
            assert not re.fullmatch(r"[0-9a-fA-F]{64}", found), (name, label, found)
            assert not re.fullmatch(r"[1-9A-HJ-NP-Za-km-z]{95,106}", found), (name, label, found)
            if label == "method":
                allowed = methods if labels.get("api") == "wallet" else admin_methods
                assert found in allowed, (name, found)


def test_metrics_public(tmp_path: Path, chain: tuple[Monerod, DaemonGate], server: Server) -> None:
    monerod, gate = chain
    public = Server(tmp_path, monerod, gate, "--metrics-public")
    try:
        reply = public.get("/metrics")
        assert reply.status_code == 200
        assert "lws_api_requests_total" in reply.text or "lws_scan_height" in reply.text
    finally:
        public.lws.stop()


def test_webhook_metrics(server: Server) -> None:
    """Deliveries are counted by outcome; the outbox's backlog is a gauge."""
    with Receiver() as good, Receiver(always(500)) as bad:
        hooks = HookAdmin(server.lws.data_dir)
        try:
            before = server.scrape()
            hooks.add(type="new-account", url=good.url())
            hooks.add(type="new-account", url=bad.url())
            keys = WalletKeys("observe-hooked")
            server.lws.login(keys)
            good.wait_for(1)
            bad.wait_for(1)
            text = wait_for(
                "both outcomes counted",
                lambda: (
                    (t := server.scrape())
                    and value(t, "lws_webhook_deliveries_total", outcome="retry")
                    > value(before, "lws_webhook_deliveries_total", outcome="retry")
                    and t
                ),
            )
        finally:
            hooks.close()
    assert (
        value(text, "lws_webhook_deliveries_total", outcome="delivered")
        >= value(before, "lws_webhook_deliveries_total", outcome="delivered") + 1
    )
    assert value(text, "lws_webhooks") >= 2
    # The failing receiver's delivery waits for its next retry (10 s away).
    assert value(text, "lws_webhook_backlog") >= 1
    assert value(text, "lws_webhook_outbox_records", state="pending") >= 1
    assert keys.address() not in text
