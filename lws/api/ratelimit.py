# Owns the wallet API's rate limits on quart-rate-limiter: the store it
# keeps its budgets in (SharedRateStore, over lws.store's RateTable, one
# small LMDB environment that every API process of `lws serve` opens, so a
# client's budget is one for the whole server, not one per process), the
# client key (the peer address, or the X-Forwarded-For address that a
# trusted proxy reports; IPv6 clients by /64), and which routes are limited
# (decided by the route table's `limited` field). Must not decide which
# request is worth limiting beyond that (the app's skip functions do) or
# answer requests (errors.py writes the 429).
"""Rate limits shared by the API processes."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from quart import request
from quart_rate_limiter import RateLimit
from quart_rate_limiter.store import RateLimiterStoreABC

from lws.store import RateTable

log = logging.getLogger(__name__)

#: The period of `rate_limit` (requests per minute per client and method).
PERIOD = timedelta(minutes=1)
#: IPv6 clients are keyed by their /64: one host usually holds a whole /64
#: and could otherwise take a fresh budget per address.
IPV6_PREFIX = 64

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SharedRateStore(RateLimiterStoreABC):
    """quart-rate-limiter's store over a RateTable in ``path`` (opened when
    serving starts). Each get/set is one short LMDB transaction on the event
    loop: microseconds, shorter than a hop to a worker thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.table: RateTable | None = None
        self._full_logged = False

    async def before_serving(self) -> None:
        if self.table is None:
            self.table = RateTable.open(self.path)

    async def after_serving(self) -> None:
        if self.table is not None:
            self.table.close()
            self.table = None

    async def get(self, key: str, default: datetime) -> datetime:
        assert self.table is not None, "served before before_serving"
        when = self.table.get(key)
        return default if when is None else datetime.fromtimestamp(when, UTC)

    async def set(self, key: str, tat: datetime) -> None:
        assert self.table is not None, "served before before_serving"
        if not self.table.set(key, tat.timestamp()) and not self._full_logged:
            # Fails open: a full table of live budgets is itself a flood.
            log.warning("rate-limit table full: new clients are not limited until it drains")
            self._full_logged = True


def parse_proxies(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(peer: str, forwarded: str | None, proxies: tuple[Network, ...]) -> str:
    """The client of a request from ``peer``: X-Forwarded-For is believed
    only through trusted proxies, right to left (each proxy appends)."""
    if forwarded is None or not _trusted(peer, proxies):
        return peer
    client = peer
    for hop in reversed([part.strip() for part in forwarded.split(",")]):
        if not hop:
            break
        client = hop
        if not _trusted(hop, proxies):
            break
    return client


def client_key(address: str) -> str:
    """The budget key of ``address`` (an IPv6 address by its /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False))
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def key_function(proxies: tuple[Network, ...]) -> Callable[[], Awaitable[str]]:
    """quart-rate-limiter's key function for ``proxies``."""

    async def key() -> str:
        client = request.scope.get("client")
        peer = client[0] if client else "unknown"
        return client_key(client_address(peer, request.headers.get("X-Forwarded-For"), proxies))

    return key


def per_minute(count: int) -> RateLimit:
    return RateLimit(count, PERIOD)


__all__ = [
    "PERIOD",
    "SharedRateStore",
    "client_address",
    "client_key",
    "key_function",
    "parse_proxies",
    "per_minute",
]
