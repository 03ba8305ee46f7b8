# Owns a TCP gate in front of a real monerod for the e2e tests: a loopback
# proxy a test can shut (every connection through it cut, new ones closed at
# once: lws sees monerod down) and open again, so what lws does while it
# cannot reach monerod is observed without timing races. Must not look at
# or change what passes through.
"""A TCP proxy a test can shut and open."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

#: Bytes moved per read between the two sides.
CHUNK = 65536


class DaemonGate:
    """``url`` reaches ``target_port`` on 127.0.0.1 while the gate is open."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def shut(self) -> None:
        """Cut every connection; refuse new ones until ``open``."""
        self._open.clear()
        with self._lock:
            live, self._live = self._live, set()
        for sock in live:
            _close(sock)

    def open(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._stopped = True
        self.shut()
        _close(self._listener)
        self._thread.join(timeout=5)

    def __enter__(self) -> DaemonGate:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._open.is_set():
                _close(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._live.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with self._lock:
                    self._live.discard(sock)
                _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
