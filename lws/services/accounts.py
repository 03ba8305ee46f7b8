# Owns account creation and rescans as clients ask for them: login (probe,
# or create a pending CREATE request / an active account when creation is
# auto-accepted, with its new-account webhook events) and
# import_wallet_request (a pending IMPORT request, or an immediate rescan
# when imports are auto-accepted), with the pending-request cap, and the
# height a new account starts at (the chain tip lws has seen from monerod;
# 503 before it has heard from monerod). Must not know HTTP; approvals by an
# operator are the admin's.
"""login and import_wallet_request."""

from __future__ import annotations

import time

from lws.errors import Forbidden, Unavailable
from lws.store import Reader, Writer
from lws.store.records import (
    FLAG_GENERATED_LOCALLY,
    AccountStatus,
    RequestKind,
    RequestRecord,
)
from lws.wire.requests import ImportRequest, LoginRequest
from lws.wire.responses import ImportResponse, LoginResponse

from . import storeio
from .account_data import cached_reply
from .auth import FORBIDDEN_TEXT, Keys, check_access, check_credentials
from .chainview import chain_height
from .context import Services
from .replycache import CachedReply

#: import_wallet_request status texts (the clients show them).
STATUS_APPROVED = "Approved"
STATUS_PENDING = "Accepted, waiting for approval"

QUEUE_FULL_TEXT = "Too many pending account requests; try again later"
#: Bytes a kept login answer is charged in the reply cache (a small struct).
LOGIN_ENTRY_BYTES = 200
NO_DAEMON_YET_TEXT = (
    "lws has not heard from monerod since it started, so it does not know the chain "
    "tip a new account starts at; try again in a moment"
)


def new_account_height(svc: Services, reader: Reader) -> int:
    """The height a new account starts at: the chain tip lws has seen from
    monerod (the scanner's last look at monerod, or the stored chain if it
    is higher). With a scanner wired in that has not yet heard from monerod
    since the start, Unavailable (503): the stored chain alone may be far
    behind, or empty (height 0 would make the account scan from genesis).
    Without a scanner (the admin CLI, tests), the stored chain."""
    stored = chain_height(reader)
    if svc.scanner_status is None:
        return stored
    seen = svc.scanner_status().daemon_height
    if seen <= 0:
        raise Unavailable(NO_DAEMON_YET_TEXT)
    return max(stored, seen)


def _request(
    kind: RequestKind, keys: Keys, start_height: int, created: int, flags: int
) -> RequestRecord:
    return RequestRecord(
        kind=kind,
        address=keys.address,
        view_secret=keys.view_secret,
        spend_public=keys.address_keys.spend_public,
        view_public=keys.address_keys.view_public,
        start_height=start_height,
        created=created,
        flags=flags,
    )


def _check_queue(writer: Writer, limit: int) -> None:
    if writer.count_requests() >= limit:
        raise Unavailable(QUEUE_FULL_TEXT)


def _login(writer: Writer, keys: Keys, req: LoginRequest, svc: Services) -> LoginResponse:
    found = writer.account_by_address(keys.address)
    if found is not None:
        _, record = found
        check_access(record, keys)
        return LoginResponse(
            new_address=False,
            generated_locally=bool(record.flags & FLAG_GENERATED_LOCALLY),
            start_height=record.start_height,
        )
    if not req.create_account or writer.request(RequestKind.CREATE, keys.address) is not None:
        # Unknown account, or one still waiting for an operator's approval.
        raise Forbidden(FORBIDDEN_TEXT)
    start_height = new_account_height(svc, writer)
    flags = FLAG_GENERATED_LOCALLY if req.generated_locally else 0
    now = int(time.time())
    if svc.config.auto_accept_creation:
        writer.add_account(
            keys.address,
            view_secret=keys.view_secret,
            spend_public=keys.address_keys.spend_public,
            view_public=keys.address_keys.view_public,
            start_height=start_height,
            created=now,
            status=AccountStatus.ACTIVE,
            flags=flags,
        )
    else:
        _check_queue(writer, svc.config.max_pending_requests)
        writer.create_request(_request(RequestKind.CREATE, keys, start_height, now, flags))
    # new-account hooks fire on every create request, auto-accepted or queued
    # (monero-lws queues then accepts), in the same transaction.
    writer.emit_new_account(keys.address)
    return LoginResponse(
        new_address=True, generated_locally=req.generated_locally, start_height=start_height
    )


def _existing_login(reader: Reader, keys: Keys) -> LoginResponse | None:
    """login of an account that exists (no write needed); None if it does not."""
    found = reader.account_by_address(keys.address)
    if found is None:
        return None
    _, record = found
    check_access(record, keys)
    return LoginResponse(
        new_address=False,
        generated_locally=bool(record.flags & FLAG_GENERATED_LOCALLY),
        start_height=record.start_height,
    )


def _login_entry(reader: Reader, keys: Keys, now: float) -> CachedReply:
    reply = _existing_login(reader, keys)
    # An account that does not exist is kept too (extra None): valid only
    # until the next write, as every entry (a creation is a write).
    return CachedReply(
        generation=reader.generation,
        view_secret=keys.view_secret,
        body=b"",
        extra=reply,
        size=LOGIN_ENTRY_BYTES,
    )


async def existing_login(svc: Services, req: LoginRequest) -> LoginResponse | None:
    """login of an account that exists, from the reply cache or one read
    snapshot; None if it does not exist (then only ``login`` can tell what
    happens: a creation or a 403)."""
    entry = await cached_reply(svc, ("login", req.address), req.address, req.view_key, _login_entry)
    reply: LoginResponse | None = entry.extra
    return reply


async def login(svc: Services, req: LoginRequest) -> LoginResponse:
    # Most logins are of existing accounts: a read snapshot, no write transaction.
    existing = await existing_login(svc, req)
    if existing is not None:
        return existing
    keys = check_credentials(req.address, req.view_key, svc.address_network)
    # No scanner wake-up here: a new account starts at the chain tip (nothing
    # to catch up), and clients follow a creation with import_wallet_request,
    # which wakes it. (Waking here made the scanner's pool pass see the account
    # at the tip just before the import's rescan, and its pool memo then kept
    # the account's pool spends out after the catch-up.)
    return await storeio.write(svc.store, lambda writer: _login(writer, keys, req, svc))


def _import(writer: Writer, keys: Keys, req: ImportRequest, svc: Services) -> ImportResponse:
    found = writer.account_by_address(keys.address)
    if found is None:
        raise Forbidden(FORBIDDEN_TEXT)
    account_id, record = found
    check_access(record, keys)

    def reply(status: str, new: bool, fulfilled: bool) -> ImportResponse:
        return ImportResponse(
            import_fee="0",
            payment_id="",
            payment_address="",
            status=status,
            new_request=new,
            request_fulfilled=fulfilled,
        )

    if record.start_height <= req.from_height:
        return reply(STATUS_APPROVED, new=False, fulfilled=True)
    if writer.request(RequestKind.IMPORT, keys.address) is not None:
        return reply(STATUS_PENDING, new=False, fulfilled=False)
    if not svc.config.auto_accept_import:
        _check_queue(writer, svc.config.max_pending_requests)
    writer.create_request(
        _request(RequestKind.IMPORT, keys, req.from_height, int(time.time()), record.flags)
    )
    if svc.config.auto_accept_import:
        writer.accept_request(RequestKind.IMPORT, keys.address)
        return reply(STATUS_APPROVED, new=True, fulfilled=True)
    return reply(STATUS_PENDING, new=True, fulfilled=False)


async def import_wallet_request(svc: Services, req: ImportRequest) -> ImportResponse:
    keys = check_credentials(req.address, req.view_key, svc.address_network)
    reply = await storeio.write(svc.store, lambda writer: _import(writer, keys, req, svc))
    if reply.new_request and reply.request_fulfilled:
        svc.wake()  # rescan now, not after the poll interval
    return reply
