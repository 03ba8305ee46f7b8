# Owns how tests and tools act as an operator on a running lws's webhooks:
# register, list and delete hooks, list and redeliver deliveries, on the
# server's data directory while it runs (as `lws admin` does: LMDB is
# multi-process safe), each answer being the admin API's JSON reply. Also
# the checks every webhook proof shares: per hook, the first arrival of
# each delivery id in outbox order, and every body signed. Must not start
# lws or monerod.
"""The operator side of webhooks, for tests and tools."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import msgspec
import trio

from lws.config import Config
from lws.daemon import Daemon
from lws.services import webhooks
from lws.services.context import Services
from lws.store import Store
from lws.wire.webhooks import (
    WebhookAddParams,
    WebhookDeleteParams,
    WebhookDeleteUuidParams,
    WebhookDeliveriesParams,
    WebhookRedeliverParams,
)
from tests.support.receiver import Received, signature_ok


class HookAdmin:
    """The webhook commands of the admin API against ``data_dir``'s store;
    every method returns the reply as JSON would decode it."""

    def __init__(self, data_dir: Path, network: str = "regtest") -> None:
        self.store = Store.open(data_dir / "store", network=network)
        self.svc = Services(Config(network=network), self.store, Daemon("http://127.0.0.1:1"))  # type: ignore[arg-type]

    def close(self) -> None:
        self.store.close()

    def _call(self, fn: Any, *args: Any) -> Any:
        reply = trio.run(fn, self.svc, *args)
        return msgspec.json.decode(msgspec.json.encode(reply))

    def add(self, **params: Any) -> dict[str, Any]:
        return dict(self._call(webhooks.webhook_add, msgspec.convert(params, WebhookAddParams)))

    def list(self) -> dict[str, Any]:
        return dict(self._call(webhooks.webhook_list))

    def delete(self, *addresses: str) -> dict[str, Any]:
        return dict(
            self._call(webhooks.webhook_delete, WebhookDeleteParams(addresses=list(addresses)))
        )

    def delete_uuid(self, *event_ids: str) -> dict[str, Any]:
        return dict(
            self._call(
                webhooks.webhook_delete_uuid, WebhookDeleteUuidParams(event_ids=list(event_ids))
            )
        )

    def deliveries(self, *, failed: bool = False, limit: int = 1000) -> dict[str, Any]:
        params = WebhookDeliveriesParams(failed=failed, limit=limit)
        return dict(self._call(webhooks.webhook_deliveries, params))

    def redeliver(self, delivery_id: str) -> dict[str, Any]:
        params = WebhookRedeliverParams(delivery_id=delivery_id)
        return dict(self._call(webhooks.webhook_redeliver, params))


def by_hook(received: list[Received]) -> dict[str, list[Received]]:
    """POSTs grouped by the hook's event id (new-account bodies have one too)."""
    groups: dict[str, list[Received]] = defaultdict(list)
    for got in received:
        groups[got.json["event_id"]].append(got)
    return groups


def first_arrivals(received: list[Received]) -> list[Received]:
    """Each delivery id's first POST, in arrival order."""
    seen: set[str] = set()
    first = []
    for got in received:
        if got.delivery not in seen:
            seen.add(got.delivery)
            first.append(got)
    return first


def check_order_and_signatures(received: list[Received], secrets: dict[str, str]) -> None:
    """Per hook, deliveries first arrive in outbox order (delivery ids carry
    the outbox seq in their last 8 bytes); repeats carry the same body; each
    body is signed with its hook's secret."""
    bodies: dict[str, bytes] = {}
    for got in received:
        assert signature_ok(secrets[got.json["event_id"]], got), got.body
        assert bodies.setdefault(got.delivery, got.body) == got.body, "a retry changed the body"
    for event_id, posts in by_hook(received).items():
        seqs = [int(got.delivery[16:], 16) for got in first_arrivals(posts)]
        assert seqs == sorted(seqs), f"hook {event_id}: deliveries out of order: {seqs}"
