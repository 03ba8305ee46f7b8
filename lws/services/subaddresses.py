# Owns the subaddress methods of the light-wallet API: get_subaddrs,
# upsert_subaddrs and provision_subaddrs over the account's registered
# ranges, with the cap (config max_subaddresses) counted over the registered
# ranges plus the scanner's lookahead window. Must not derive keys (the
# scanner builds its tables) or know HTTP.
"""Registered subaddress ranges of an account."""

from __future__ import annotations

from collections.abc import Iterable

from lws.errors import ClientError
from lws.monero.subaddress import lookahead_ranges, merge_ranges
from lws.store import Reader, Writer
from lws.wire.fields import U32_MAX
from lws.wire.requests import AccountRequest, ProvisionSubaddrsRequest, UpsertSubaddrsRequest
from lws.wire.responses import GetSubaddrsResponse, SubaddrRanges, SubaddrsChangeResponse

from . import storeio
from .auth import Keys, check_credentials, visible_account
from .context import Services

Ranges = tuple[tuple[int, int, int], ...]


def to_wire(ranges: Iterable[tuple[int, int, int]]) -> list[SubaddrRanges]:
    """(major, first, last) ranges -> [{key: major, value: [[first, last], ...]}]."""
    by_major: dict[int, list[tuple[int, int]]] = {}
    for major, first, last in ranges:
        by_major.setdefault(major, []).append((first, last))
    return [SubaddrRanges(key=major, value=value) for major, value in sorted(by_major.items())]


def count(ranges: Iterable[tuple[int, int, int]]) -> int:
    return sum(last - first + 1 for _, first, last in ranges)


def _difference(new: Ranges, old: Ranges) -> list[tuple[int, int, int]]:
    """The parts of merged ``new`` not covered by merged ``old``."""
    added: list[tuple[int, int, int]] = []
    for major, first, last in new:
        cursor = first
        for o_major, o_first, o_last in old:
            if o_major != major or o_last < cursor or o_first > last:
                continue
            if o_first > cursor:
                added.append((major, cursor, o_first - 1))
            cursor = o_last + 1
            if cursor > last:
                break
        if cursor <= last:
            added.append((major, cursor, last))
    return added


def _lookahead(major: int, minor: int) -> list[tuple[int, int, int]]:
    return lookahead_ranges(major, minor) if major > 0 and minor > 0 else []


def _change(
    writer: Writer,
    svc: Services,
    req_ranges: list[tuple[int, int, int]],
    get_all: bool,
    keys: Keys,
) -> SubaddrsChangeResponse:
    account_id, record = visible_account(writer, keys)
    old = record.subaddress_ranges
    merged = merge_ranges([*old, *req_ranges])
    limit = svc.config.max_subaddresses
    window = merge_ranges([*merged, *_lookahead(record.lookahead_major, record.lookahead_minor)])
    if merged != old and count(window) > limit:
        raise ClientError(f"Subaddress limit reached: at most {limit} per account")
    if merged != old:
        writer.upsert_subaddress_ranges(account_id, req_ranges)
    return SubaddrsChangeResponse(
        new_subaddrs=to_wire(_difference(merged, old)),
        all_subaddrs=to_wire(merged) if get_all else None,
    )


async def _apply(
    svc: Services, ranges: list[tuple[int, int, int]], get_all: bool, keys: Keys
) -> SubaddrsChangeResponse:
    reply = await storeio.write(
        svc.store, lambda writer: _change(writer, svc, ranges, get_all, keys)
    )
    if reply.new_subaddrs:
        svc.wake()  # scan for the new subaddresses now, not after the poll interval
    return reply


async def get_subaddrs(svc: Services, req: AccountRequest) -> GetSubaddrsResponse:
    keys = check_credentials(req.address, req.view_key, svc.address_network)

    def run(reader: Reader) -> GetSubaddrsResponse:
        _, record = visible_account(reader, keys)
        return GetSubaddrsResponse(all_subaddrs=to_wire(record.subaddress_ranges))

    return await storeio.read(svc.store, run)


async def upsert_subaddrs(svc: Services, req: UpsertSubaddrsRequest) -> SubaddrsChangeResponse:
    keys = check_credentials(req.address, req.view_key, svc.address_network)
    ranges = [(entry.key, first, last) for entry in req.subaddrs for first, last in entry.value]
    return await _apply(svc, ranges, req.get_all, keys)


async def provision_subaddrs(
    svc: Services, req: ProvisionSubaddrsRequest
) -> SubaddrsChangeResponse:
    keys = check_credentials(req.address, req.view_key, svc.address_network)
    if req.maj_i + req.n_maj - 1 > U32_MAX or req.min_i + req.n_min - 1 > U32_MAX:
        raise ClientError("Subaddress indexes past uint32")
    if req.n_maj * req.n_min > svc.config.max_subaddresses:
        raise ClientError(
            f"Subaddress limit reached: at most {svc.config.max_subaddresses} per account"
        )
    ranges = (
        [
            (major, req.min_i, req.min_i + req.n_min - 1)
            for major in range(req.maj_i, req.maj_i + req.n_maj)
        ]
        if req.n_min > 0
        else []
    )
    return await _apply(svc, ranges, req.get_all, keys)
