# Owns the line protocol between the main process and its API worker
# processes: the lines a worker sends ("ready", "wake"), the longest line
# either side accepts, and a reader of newline-terminated lines. Must not
# start processes (supervisor.py) or serve anything (lws/api_worker.py).
"""Lines on the pipes between the main process and an API worker."""

from __future__ import annotations

import trio

#: Lines a worker writes to the main process.
READY = b"ready\n"
WAKE = b"wake\n"
#: Longest line the main process sends (a config or a status).
MAX_LINE = 64 * 1024


class LineReader:
    """Newline-terminated lines from a stream; b"" at end of stream."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    async def line(self) -> bytes:
        while True:
            end = self.buffer.find(b"\n")
            if end != -1:
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 1]
                return line
            if len(self.buffer) > MAX_LINE:
                raise ValueError("line too long")
            data = await self.stream.receive_some(MAX_LINE)
            if not data:
                return b""
            self.buffer += data
