# Owns the tests of `lws import-request` against servers that misbehave on
# purpose (garbage, a closed connection, empty 500s as monero-lws sends, a
# paying server, TLS with a private CA), which a real lws cannot be made to
# be: small scripted HTTP servers in threads. The tool against a real lws and
# monerod is tests/e2e/test_operators.py. Also: the key checks done before
# anything is sent, the progress display, and Ctrl-C.
from __future__ import annotations

import io
import json
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lws.admin import import_request
from lws.admin.import_request import Progress
from tests.support.regtest import WalletKeys, free_port
from tests.support.tls import self_signed

ALICE, BOB = WalletKeys("alice"), WalletKeys("bob")
KEY = ALICE.view_secret.hex()

Script = Callable[[str, dict[str, Any]], tuple[int, bytes]]


class Stdin(io.StringIO):
    def isatty(self) -> bool:
        return False


def answer(status: int, body: Any) -> tuple[int, bytes]:
    return status, body if isinstance(body, bytes) else json.dumps(body).encode()


def approved(method: str, body: dict[str, Any]) -> tuple[int, bytes]:
    if method == "login":
        return answer(200, {"new_address": False, "generated_locally": False, "start_height": 0})
    if method == "import_wallet_request":
        return answer(
            200,
            {
                "import_fee": "0",
                "payment_id": "",
                "payment_address": "",
                "status": "Approved",
                "new_request": False,
                "request_fulfilled": True,
            },
        )
    return answer(404, {"Error": "no"})


class Handler(BaseHTTPRequestHandler):
    script: Script
    calls: list[tuple[str, dict[str, Any]]]

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        method = self.path.strip("/")
        self.calls.append((method, body))
        status, data = self.script(method, body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class FakeServer:
    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        handler = type("H", (Handler,), {"script": staticmethod(script), "calls": []})
        self.calls: list[tuple[str, dict[str, Any]]] = handler.calls  # type: ignore[attr-defined]
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[..., FakeServer]]:
    servers: list[FakeServer] = []

    def start(script: Script, tls: ssl.SSLContext | None = None) -> FakeServer:
        servers.append(FakeServer(script, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


class Ran:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


def tool(url: str, *argv: str, key: str = KEY, address: str | None = None) -> Ran:
    out, err = io.StringIO(), io.StringIO()
    code = import_request.main(
        ["--url", url, "--address", address or ALICE.address(), *argv],
        stdin=Stdin(key + "\n"),
        stdout=out,
        stderr=err,
    )
    assert KEY not in out.getvalue() + err.getvalue()
    return Ran(code, out.getvalue(), err.getvalue())


def test_approved_pending_and_fee(serve: Callable[..., FakeServer]) -> None:
    server = serve(approved)
    ran = tool(server.url, "--from-height", "7")
    assert (ran.code, ran.out) == (0, "import approved (Approved)\n")
    assert server.calls[0] == (
        "login",
        {
            "address": ALICE.address(),
            "view_key": KEY,
            "create_account": True,
            "generated_locally": False,
        },
    )
    assert server.calls[1][1]["from_height"] == 7
    ran = tool(server.url, "--json")
    assert json.loads(ran.out)["state"] == "approved" and "from_height" not in server.calls[3][1]

    def fee(method: str, body: dict[str, Any]) -> tuple[int, bytes]:
        if method == "import_wallet_request":
            return answer(
                200,
                {
                    "import_fee": "1500000000",
                    "payment_id": "d6eda2a2ea0e6a41",
                    "payment_address": "4payhere",
                    "status": "Payment Required",
                    "new_request": True,
                    "request_fulfilled": False,
                },
            )
        return approved(method, body)

    ran = tool(serve(fee).url)
    assert ran.code == 3
    assert (
        "a fee of 0.001500000000 XMR paid to 4payhere with payment id d6eda2a2ea0e6a41" in ran.out
    )

    def pending_create(method: str, body: dict[str, Any]) -> tuple[int, bytes]:
        return answer(403, {"Error": "Account not found"})

    ran = tool(serve(pending_create).url, "--json")
    assert ran.code == 3 and json.loads(ran.out)["state"] == "create_pending"


def http(status: str, body: bytes, length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    return f"HTTP/1.1 {status}\r\nContent-Length: {size}\r\n\r\n".encode() + body


def raw_server(reply: bytes | None) -> tuple[str, threading.Thread]:
    """A socket that answers every connection with ``reply`` (None: closes at once)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()

    def run() -> None:
        sock.settimeout(10)
        try:
            while True:
                conn, _ = sock.accept()
                with conn:
                    if reply is not None:
                        conn.recv(65536)
                        conn.sendall(reply)
        except OSError:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{sock.getsockname()[1]}", thread


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (None, "broke off its answer to login"),
        (b"this is not http\r\n\r\n", "broke off its answer"),
        (http("200 OK", b"hello"), "not a light-wallet reply"),
        (http("200 OK", b'{"new_address": "yes!"}'), "not a light-wallet reply"),
        (http("200 OK", b"[1, 2]"), "not a light-wallet reply"),
        (http("500 Internal", b""), "(HTTP 500): no reason given"),
        (http("502 Bad", b"<html>x</html>"), "(HTTP 502): <html>x</html>"),
        (http("400 Bad", b'{"Error": "bad thing"}'), "(HTTP 400): bad thing"),
        (http("200 OK", b'{"new', length=100), "broke off its answer"),
    ],
)
def test_garbage_and_closed_connections(reply: bytes | None, reason: str) -> None:
    url, _ = raw_server(reply)
    ran = tool(url)
    assert ran.code == 1 and ran.out == ""
    assert ran.err.startswith("lws import-request: ") and reason in ran.err, ran.err
    assert ran.err.count("\n") == 1


def test_local_checks_before_anything_is_sent(serve: Callable[..., FakeServer]) -> None:
    server = serve(approved)
    cases = [
        ({"key": BOB.view_secret.hex()}, "does not belong to this address"),
        ({"key": "not hex"}, "64 hex digits"),
        ({"address": "4notanaddress"}, "is not a Monero address"),
    ]
    for kwargs, reason in cases:
        ran = tool(server.url, **kwargs)
        assert ran.code == 1 and reason in ran.err, ran.err
    ran = tool("ftp://example", "--json")
    assert ran.code == 1 and "http:// or https://" in ran.err
    ran = tool(f"http://127.0.0.1:{free_port()}")
    assert ran.code == 1 and "cannot reach" in ran.err
    assert server.calls == []
    for argv in (["--from-height", "-3"], ["--interval", "0"], ["--bogus"]):
        assert tool(server.url, *argv).code == 2
    assert import_request.main([], stdin=Stdin(""), stdout=io.StringIO(), stderr=io.StringIO()) == 2


def test_tls_with_a_private_ca(serve: Callable[..., FakeServer], tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "lws test CA")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = serve(approved, context)
    ran = tool(server.url)
    assert ran.code == 1 and "CERTIFICATE_VERIFY_FAILED" in ran.err.upper().replace(" ", "_")
    ran = tool(server.url, "--ca-file", str(cert))
    assert ran.code == 0 and "approved" in ran.out
    ran = tool(server.url, "--ca-file", str(tmp_path / "missing.pem"))
    assert ran.code == 1 and "cannot use the CA file" in ran.err


def test_wait_follows_pending_then_the_scan(serve: Callable[..., FakeServer]) -> None:
    rounds = {"login": 0, "info": 0}

    def script(method: str, body: dict[str, Any]) -> tuple[int, bytes]:
        if method == "login":
            rounds["login"] += 1
            if rounds["login"] <= 2:
                return answer(403, {"Error": "pending"})
        if method == "import_wallet_request" and rounds["login"] <= 3:
            return answer(
                200,
                {
                    "import_fee": "0",
                    "payment_id": "",
                    "payment_address": "",
                    "status": "Accepted, waiting for approval",
                    "new_request": False,
                    "request_fulfilled": False,
                },
            )
        if method == "get_address_info":
            rounds["info"] += 1
            scanned = min(100, 40 * rounds["info"])
            return answer(
                200,
                {
                    "locked_funds": "0",
                    "total_received": "3000000000000",
                    "total_sent": "1000000000000",
                    "scanned_height": scanned,
                    "scanned_block_height": scanned,
                    "start_height": 0,
                    "transaction_height": 100,
                    "blockchain_height": 100,
                    "spent_outputs": [],
                },
            )
        if method == "get_unspent_outs":
            return answer(200, {"outputs": [{}, {}, {}], "amount": "0"})
        return approved(method, body)

    ran = tool(serve(script).url, "--wait", "--interval", "0.05", "--json")
    assert ran.code == 0, ran.err
    summary = json.loads(ran.out)
    assert summary["balance"] == "2000000000000" and summary["balance_xmr"] == "2.000000000000"
    assert summary["unspent_outputs"] == 3 and summary["scanned_block_height"] == 100
    assert "create request" in ran.err and "import request waits" in ran.err
    assert "approved" in ran.err


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_and_in_a_log() -> None:
    tty = Tty()
    progress = Progress(tty, tty=True)
    progress.samples.append((time.monotonic() - 10, 0))
    progress.update(500, 1000, 0)
    progress.end()
    text = tty.getvalue()
    assert text.startswith("\r[###############---------------]  50.0% 500/1000 blocks")
    assert "blocks/s" in text and "left" in text and text.endswith("\n")
    log = io.StringIO()
    lines = Progress(log, tty=False)
    lines.update(10, 100, 0)
    lines.update(20, 100, 0)  # within LINE_EVERY_S: no second line
    assert log.getvalue().count("\n") == 1 and log.getvalue().startswith("scanned 10 of 100")


def test_ctrl_c_stops_waiting_without_a_traceback(
    serve: Callable[..., FakeServer], tmp_path: Path
) -> None:
    server = serve(lambda method, body: answer(403, {"Error": "pending"}))
    key_file = tmp_path / "view.key"
    key_file.write_text(KEY)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lws",
            "import-request",
            "--url",
            server.url,
            "--address",
            ALICE.address(),
            "--wait",
            "--interval",
            "0.1",
            "--view-key-file",
            str(key_file),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while len(server.calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "stopped waiting" in err and out == ""
