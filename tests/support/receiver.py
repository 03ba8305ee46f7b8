# Owns the webhook receiver of the tests and tools: a real HTTP/1.1 server on
# loopback (the standard library's threading server) that records every POST
# (path, headers, raw body, arrival time) and answers as the test says:
# a status, after a delay (longer than lws's timeout: a hanging receiver),
# or not at all while it is "down" (the port closed). Verifies nothing
# itself; tests check signatures with `signature_ok`.
"""A real webhook receiver on loopback."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support.regtest import free_port


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic()

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def delivery(self) -> str:
        return self.headers["x-lws-delivery"]


#: What to answer: (HTTP status, seconds to wait first).
Answer = Callable[[Received], tuple[int, float]]


def always(status: int = 200, delay: float = 0.0) -> Answer:
    return lambda _: (status, delay)


def signature_ok(secret: str, got: Received) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), got.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, got.headers.get("x-lws-signature", ""))


class Receiver:
    """``with Receiver() as r: r.url("/hook")``; ``r.received`` lists the POSTs."""

    def __init__(self, answer: Answer | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.answer: Answer = answer or always()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: list[socket.socket] = []

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The head and the body go in two writes: without this, Nagle's
            # algorithm holds the body until the client's delayed ACK (40 ms).
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                length = int(self.headers.get("Content-Length", "0"))
                got = Received(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                    at=time.monotonic(),
                )
                with receiver._lock:
                    receiver.received.append(got)
                status, delay = receiver.answer(got)
                if delay:
                    time.sleep(delay)
                reply = b'{"ok": true}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass  # the client gave up (timed out) meanwhile

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

            def get_request(self) -> tuple[socket.socket, Any]:
                conn, peer = super().get_request()
                with receiver._lock:
                    receiver._connections.append(conn)
                return conn, peer

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port: the receiver is down (connections are refused)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:  # kept-alive connections die with it
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def wait_for(
        self, count: int, timeout: float = 30.0, where: Callable[[Received], bool] | None = None
    ) -> list[Received]:
        """Block until ``count`` POSTs (matching ``where``) arrived; return them."""
        deadline = time.monotonic() + timeout
        while True:
            got = [r for r in self.snapshot() if where is None or where(r)]
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(got)} of {count} webhook POSTs arrived in {timeout} s")
            time.sleep(0.02)
