# Owns property-based testing of the live wallet API and admin API against
# their own OpenAPI documents: schemathesis (its CLI, as an operator would
# run it) generates valid and invalid requests for every route of each
# /openapi.json and checks that `lws serve` (Quart-Trio on Hypercorn) never
# answers 5xx and that every reply matches the document.
# Also owns the transport regression schemathesis's coverage phase found
# under Hypercorn: a reply sent before the request body arrived wedged the
# keep-alive connection (worked around by lws/api/framing.py's FramingGuard;
# the reproducer on a minimal app is tests/api/test_framing.py).
# Must not change the chain (no mining; generated data cannot name a real
# account, so nothing is created either).
"""schemathesis against a live lws."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import LwsProcess
from tests.support.regtest import Monerod, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

schemathesis = pytest.importorskip("schemathesis")

#: Generated cases per operation and phase: ~500 requests over the 15
#: operations, about 40 s on two busy cores.
MAX_EXAMPLES = 40
#: A fixed seed: a failure reproduces with the same command line.
SEED = 7
CHECKS = "not_a_server_error,response_schema_conformance"
#: The coverage phase also sends bodies with wrong methods and content types
#: (replies decided before the body is read).
PHASES = "examples,coverage,fuzzing"


def _schemathesis(
    document_url: str, tmp_path: Path, *extra: str
) -> tuple[set[str], int, list[str], float]:
    """Run schemathesis's CLI on ``document_url``: the operations it tested,
    its case count, its failures and the seconds it took."""
    report = tmp_path / "events.ndjson"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        document_url,
        "--checks",
        CHECKS,
        "--phases",
        PHASES,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "2",
        "--request-timeout",
        "15",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        *extra,
    ]
    started = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    elapsed = time.monotonic() - started
    output = run.stdout + run.stderr
    assert run.returncode == 0, (
        f"schemathesis found problems ({' '.join(command)}):\n{output[-8000:]}"
    )

    failures: list[str] = []
    tested: set[str] = set()
    cases = 0
    for line in report.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if finished and finished.get("recorder"):
            recorder = finished["recorder"]
            tested.add(recorder["label"])
            cases += len(recorder.get("cases", {}))
            for case_id, checks in recorder.get("checks", {}).items():
                failures += [
                    f"{recorder['label']} {case_id}: {c['name']}"
                    for c in checks
                    if c["status"] != "success"
                ]
        if "NonFatalError" in event or "FatalError" in event:
            failures.append(json.dumps(event)[:500])
    return tested, cases, failures, elapsed


def test_no_server_error_and_replies_match_schema(lws_server: LwsProcess, tmp_path: Path) -> None:
    tested, cases, failures, elapsed = _schemathesis(f"{lws_server.url}/openapi.json", tmp_path)
    assert failures == [], failures
    # every documented operation was exercised, with a real number of cases
    document = lws_server.client.get("/openapi.json").json()
    operations = {f"{m.upper()} {p}" for p, item in document["paths"].items() for m in item}
    # the document route takes no input: schemathesis has no scenario to report for it
    operations.discard("GET /openapi.json")
    assert operations <= tested, operations - tested
    assert cases >= 4 * len(operations), cases
    print(f"schemathesis: {cases} cases over {len(operations)} operations in {elapsed:.0f} s")


def test_admin_api_no_server_error_and_replies_match_schema(
    monerod: Monerod, tmp_path: Path
) -> None:
    """The admin API's own document, with a valid admin key (generated
    addresses never decode, so nothing is changed; a key-less run would stop
    at the 403 of every call)."""
    admin_port = free_port()
    server = LwsProcess(
        tmp_path / "lws", monerod, "--admin-listen", f"127.0.0.1:{admin_port}", auto_accept=False
    )
    try:
        made = subprocess.run(
            [
                sys.executable,
                "-m",
                "lws",
                "admin",
                "--data-dir",
                str(server.data_dir),
                "--json",
                "create-admin-key",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        key = json.loads(made.stdout)["key"]
        url = f"http://127.0.0.1:{admin_port}"
        tested, cases, failures, elapsed = _schemathesis(
            f"{url}/openapi.json", tmp_path, "--header", f"Authorization: Bearer {key}"
        )
        assert failures == [], failures
        document = httpx.get(f"{url}/openapi.json").json()
        operations = {f"{m.upper()} {p}" for p, item in document["paths"].items() for m in item}
        assert operations <= tested, operations - tested
        assert cases >= 4 * len(operations), cases
        print(
            f"schemathesis (admin): {cases} cases over {len(operations)} operations in {elapsed:.0f} s"
        )
        assert "Traceback" not in server.log_path.read_text()
    finally:
        server.stop()


def _next_request_answered(port: int, head: bytes, body: bytes) -> bool:
    """Send ``head``, let the server reply, then ``body`` and a second request
    on the same connection: is the second one answered (or the connection closed)?"""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 4"), first
        sock.sendall(body)
        sock.sendall(b"GET /get_version HTTP/1.1\r\nHost: lws\r\n\r\n")
        received = b""
        try:
            while b"server_type" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    return True  # closed: the client opens a new connection at once
                received += chunk
        except TimeoutError:
            return False
        return True


@pytest.mark.parametrize(
    "head",
    [
        b"POST /get_version HTTP/1.1\r\nHost: lws\r\n"
        b"Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n",  # 415
        b"POST /no_such_method HTTP/1.1\r\nHost: lws\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n",  # 404
        b"PUT /login HTTP/1.1\r\nHost: lws\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n",  # 405
    ],
)
def test_reply_before_body_keeps_connection_usable(lws_server: LwsProcess, head: bytes) -> None:
    assert _next_request_answered(lws_server.port, head, b"{}")
