# Owns the /feed websocket of the wallet app (monero-lws's protocol over
# lws.feed.v0.json): the subprotocol check, the login within its timeout
# (credentials checked by services.auth, the account by the store), the
# tx_sync (or blocks) answer, then the hub's messages until the client
# breaks the protocol, the hub drops it (its queue overflowed, the account
# went away) or the server stops. Every error is an `error:` message with
# monero-lws's code, then a close with code 4000 + that code. The origin of a
# browser is not checked (CORS does not apply): nothing but the view key in
# the login gives access. Must not build messages (lws.notify.feed does) or
# read the store beyond the login's snapshot.
"""The /feed websocket route."""

from __future__ import annotations

import logging
from typing import Final

import msgspec
import trio
from quart import Response, websocket
from quart_cors import cors_exempt
from quart_trio import QuartTrio

from lws.errors import ClientError, Forbidden
from lws.notify.feed import FeedHub, Start, error_text, start
from lws.services import storeio
from lws.services.auth import Keys, check_credentials, visible_account
from lws.services.context import Services
from lws.store import Reader
from lws.wire.feed import LOGIN_PREFIX, MAX_LOGIN_BYTES, SUBPROTOCOL, FeedCode, FeedLogin

from .quart_base import JSON

log = logging.getLogger(__name__)

FEED_PATH: Final = "/feed"
#: Seconds a client has to send its login (monero-lws's login_timeout).
LOGIN_TIMEOUT_S: Final = 8.0
#: Seconds the tx_sync answer may take to go out (monero-lws's tx_sync_timeout).
TX_SYNC_TIMEOUT_S: Final = 20.0
#: Seconds the closing error and close frame may take to a client that does
#: not read (a dropped slow client), before the connection is simply left.
CLOSE_TIMEOUT_S: Final = 8.0
#: Close codes: 4000 + monero-lws's feed code of the error sent before.
CLOSE_BASE: Final = 4000

_LOGIN = msgspec.json.Decoder(FeedLogin)


class _Refused(Exception):
    def __init__(self, code: FeedCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _login(data: str | bytes) -> FeedLogin:
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_LOGIN_BYTES:
        raise _Refused(FeedCode.PROTOCOL_ERROR, "The login message is too long")
    if not raw.startswith(LOGIN_PREFIX.encode()):
        raise _Refused(FeedCode.PROTOCOL_ERROR, "Client did not follow protocol: login: expected")
    try:
        return _LOGIN.decode(raw[len(LOGIN_PREFIX) :])
    except msgspec.ValidationError as exc:
        raise _Refused(FeedCode.SCHEMA_ERROR, f"Invalid login: {exc}") from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise _Refused(FeedCode.PARSE_ERROR, "The login is not JSON") from None


def _account(reader: Reader, keys: Keys, tx_sync: bool) -> tuple[int, Start]:
    try:
        account_id, _ = visible_account(reader, keys)  # the wallet API's access rule
    except Forbidden:
        raise _Refused(FeedCode.ACCOUNT_NOT_FOUND, "Account not found") from None
    return account_id, start(reader, account_id, tx_sync=tx_sync)


async def _close(code: FeedCode, message: str) -> None:
    with trio.move_on_after(CLOSE_TIMEOUT_S):
        await websocket.send(error_text(code, message))
        await websocket.close(CLOSE_BASE + int(code), message[:120])


def install(app: QuartTrio, services: Services, hub: FeedHub) -> None:
    """Serve /feed on ``app`` with the messages of ``hub``."""

    @app.websocket(FEED_PATH)
    @cors_exempt  # no ambient credentials: the login's view key is the only authority
    async def feed() -> Response | None:
        if SUBPROTOCOL not in websocket.requested_subprotocols:
            return Response(
                msgspec.json.encode({"Error": f"Sec-WebSocket-Protocol must offer {SUBPROTOCOL}"}),
                400,
                content_type=JSON,
            )
        await websocket.accept(subprotocol=SUBPROTOCOL)
        try:
            with trio.fail_after(LOGIN_TIMEOUT_S):
                login = _login(await websocket.receive())
            try:
                keys = check_credentials(
                    login.account.address, login.account.view_key, services.address_network
                )
            except ClientError as exc:
                raise _Refused(FeedCode.BAD_ADDRESS, str(exc)) from None
            except Forbidden:
                raise _Refused(
                    FeedCode.BAD_VIEW_KEY, "The view key does not match the address"
                ) from None
            account_id, begin = await storeio.read(
                services.store, lambda reader: _account(reader, keys, login.tx_sync)
            )
        except trio.TooSlowError:
            await _close(FeedCode.PROTOCOL_ERROR, "No login within the time allowed")
            return None
        except _Refused as refused:
            await _close(refused.code, refused.message)
            return None
        sub = hub.subscribe(account_id, begin, receives_only=login.receives_only)
        try:
            with trio.move_on_after(TX_SYNC_TIMEOUT_S) as sending:
                await websocket.send(begin.message)
            if sending.cancelled_caught:
                return None
            async with trio.open_nursery() as nursery:

                async def forward() -> None:
                    async for message in sub.receive:
                        await websocket.send(message)
                    nursery.cancel_scope.cancel()  # the hub ended it (or the server stops)

                async def listen() -> None:
                    await websocket.receive()  # the client must send nothing more
                    sub.ended = error_text(
                        FeedCode.PROTOCOL_ERROR, "Client did not follow protocol"
                    )
                    nursery.cancel_scope.cancel()

                async def watch() -> None:
                    await sub.done.wait()  # a full queue ends it while a send is blocked
                    nursery.cancel_scope.cancel()

                nursery.start_soon(forward)
                nursery.start_soon(listen)
                nursery.start_soon(watch)
        finally:
            hub.unsubscribe(sub)
        if sub.ended is not None:
            code = FeedCode(msgspec.json.decode(sub.ended.partition(":")[2])["code"])
            with trio.move_on_after(CLOSE_TIMEOUT_S):
                await websocket.send(sub.ended)
                await websocket.close(CLOSE_BASE + int(code))
        return None


__all__ = ["CLOSE_BASE", "FEED_PATH", "install"]
