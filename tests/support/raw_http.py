# Owns a raw HTTP/1.1 client connection for the transport tests: bytes
# exactly as written (no client library fixes a malformed request), replies
# read back by Content-Length, and whether the server closed. Must not know
# lws: any server on a loopback port.
"""A raw HTTP/1.1 connection over a trio socket stream."""

from __future__ import annotations

import trio


class Conn:
    """A raw client connection that reads HTTP/1.1 responses."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    @classmethod
    async def open(cls, port: int) -> Conn:
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def _more(self) -> bytes:
        try:
            data = await self.stream.receive_some(65536)
        except trio.BrokenResourceError:
            data = b""
        self.buffer += data
        return data

    async def response(
        self, timeout: float = 5, *, to_head: bool = False
    ) -> tuple[int, dict[str, str], bytes]:
        """The next response (``to_head``: a reply to HEAD, no body whatever its
        Content-Length); raises EOFError if the server closed before one."""
        with trio.fail_after(timeout):
            while b"\r\n\r\n" not in self.buffer:
                if not await self._more():
                    raise EOFError(bytes(self.buffer))
            head, _, _ = bytes(self.buffer).partition(b"\r\n\r\n")
            del self.buffer[: len(head) + 4]
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = 0 if to_head else int(headers.get("content-length", "0"))
            while len(self.buffer) < length:
                if not await self._more():
                    raise EOFError(bytes(self.buffer))
            body = bytes(self.buffer[:length])
            del self.buffer[:length]
            return status, headers, body

    async def closed(self, timeout: float = 5) -> bool:
        """Whether the server closes the connection (with nothing more to read) in time."""
        with trio.move_on_after(timeout):
            while True:
                if not await self._more():
                    return not self.buffer
        return False

    async def aclose(self) -> None:
        await self.stream.aclose()
