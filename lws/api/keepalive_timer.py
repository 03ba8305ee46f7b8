# Owns lws's workaround for the cost of Hypercorn's keep-alive timer on trio
# (hypercorn 0.18, hypercorn/trio/tcp_server.py): after every reply
# Hypercorn arms a connection's idle timer by cancelling the timer task and
# spawning a new one under a lock (TrioSingleTask.restart: nursery.start),
# and disarms it when the next request arrives by cancelling that task
# again. Two lock checkpoints, a task spawn and a cancelled task's unwinding
# per request cost 15% of the CPU of a small keep-alive request here
# (docs/decisions/quart-hypercorn.md). KeepAliveTimer keeps one timer task
# per connection and moves its deadline instead, with the same behaviour: an
# idle connection is closed keep_alive_timeout after its last reply (or
# after it opened, while its first head arrives), or at once when the
# server shuts down while it is idle; a request in progress is never cut by
# it; a disarmed timer's task ends a second later unless the connection
# goes idle again (so a connection whose client left mid-request is not
# held open by it). `install` puts it in place only when Hypercorn still
# has the shape it was written for. Must not change anything else of
# Hypercorn.
"""One keep-alive timer task per connection, instead of one per request."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from hypercorn.trio import tcp_server, worker_context

log = logging.getLogger(__name__)


#: Seconds a connection's timer task outlives the start of a request (its
#: disarming) before it ends; the next reply starts another. Under load the
#: next reply comes far sooner, so the task lives on; a connection whose
#: client left mid-request (Hypercorn then waits for its tasks before it
#: closes the socket) is held this much longer at most.
DISARMED_GRACE_S = 1.0


class KeepAliveTimer:
    """Stands in for Hypercorn's TrioSingleTask as a TCPServer's idle timer.

    ``restart(task_group, server._idle_timeout)`` arms the timer for
    ``server.config.keep_alive_timeout`` from now (starting the connection's
    timer task if it has none); ``stop()`` disarms it. When the deadline
    passes while armed, or the server is told to terminate while the
    connection is idle, the connection is closed as Hypercorn's own
    ``_idle_timeout`` closes it. A disarmed timer's task ends
    DISARMED_GRACE_S later unless it is armed again first.
    """

    def __init__(self) -> None:
        self._scope: trio.CancelScope | None = None
        self._armed = False

    async def restart(self, task_group: Any, action: Callable[[], Awaitable[None]]) -> None:
        server = action.__self__  # type: ignore[attr-defined]  # the TCPServer
        self._armed = True
        deadline = trio.current_time() + server.config.keep_alive_timeout
        scope = self._scope
        if scope is None or scope.cancel_called:
            # No task, or one whose deadline has passed and is about to end.
            self._scope = trio.CancelScope(deadline=deadline)
            task_group._nursery.start_soon(self._run, server, self._scope)
        else:
            scope.deadline = deadline

    async def stop(self) -> None:
        self._armed = False
        if self._scope is not None and not self._scope.cancel_called:
            self._scope.deadline = trio.current_time() + DISARMED_GRACE_S

    async def _run(self, server: Any, scope: trio.CancelScope) -> None:
        with scope:
            await server.context.terminated.wait()
        if self._scope is not scope:
            return  # armed again after this deadline passed: a newer task took over
        self._scope = None
        # Armed: the keep-alive timeout passed, or the server is terminating
        # while the connection is idle; either closes it. Disarmed: the
        # grace passed (or the server is terminating, and Hypercorn closes
        # the connection after its reply): the task just ends.
        if self._armed:
            with trio.CancelScope(shield=True):
                await server._initiate_server_close()


def install() -> bool:
    """Make Hypercorn's trio TCPServer use KeepAliveTimer; False (and
    Hypercorn's own timer kept) if Hypercorn is not the shape this was
    written for."""
    current = getattr(tcp_server, "TrioSingleTask", None)
    if current is KeepAliveTimer:
        return True
    server = tcp_server.TCPServer
    if current is not worker_context.TrioSingleTask or not all(
        hasattr(server, name) for name in ("_idle_timeout", "_initiate_server_close")
    ):
        log.warning("Hypercorn's keep-alive timer is not the one lws knows: left as it is")
        return False
    tcp_server.TrioSingleTask = KeepAliveTimer  # type: ignore[assignment,attr-defined]
    return True


def uninstall() -> None:
    """Put Hypercorn's own timer back (the tests that show its cost)."""
    tcp_server.TrioSingleTask = worker_context.TrioSingleTask  # type: ignore[attr-defined]
