# Owns how tests and tools act as an operator on a running lws's webhooks:
# `lws admin --json webhook-*` run as a subprocess on the server's data
# directory while it runs (LMDB is multi-process safe), each answer being
# the admin API's JSON reply, plus a store handle for the tests' own reads.
# Also the checks every webhook proof shares: per hook, the first arrival of
# each delivery id in outbox order, and every body signed. Must not start
# lws or monerod.
"""The operator side of webhooks, for tests and tools."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from lws.store import DeliveryState, Store
from tests.support.receiver import Received, signature_ok


class AdminRefused(RuntimeError):
    """`lws admin` exited non-zero (its stderr is the message)."""


class HookAdmin:
    """The webhook commands of `lws admin` on ``data_dir``; every method
    returns the --json reply (the admin API's)."""

    def __init__(self, data_dir: Path, network: str = "regtest") -> None:
        self.data_dir = data_dir
        #: For the tests' own reads of the outbox.
        self.store = Store.open(data_dir / "store", network=network)

    def close(self) -> None:
        self.store.close()

    def run(self, *argv: str) -> Any:
        ran = subprocess.run(
            [
                sys.executable,
                "-m",
                "lws",
                "admin",
                "--data-dir",
                str(self.data_dir),
                "--json",
                *argv,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if ran.returncode != 0:
            raise AdminRefused(ran.stderr.strip())
        return json.loads(ran.stdout)

    def add(self, **params: Any) -> dict[str, Any]:
        argv = []
        for name, value in params.items():
            argv += [f"--{name.replace('_', '-')}", str(value)]
        return dict(self.run("webhook-add", *argv))

    def list(self) -> dict[str, Any]:
        return dict(self.run("webhook-list"))

    def delete(self, *addresses: str) -> dict[str, Any]:
        return dict(self.run("webhook-delete", *addresses))

    def delete_uuid(self, *event_ids: str) -> dict[str, Any]:
        return dict(self.run("webhook-delete-uuid", *event_ids))

    def deliveries(self, *, failed: bool = False, limit: int = 1000) -> dict[str, Any]:
        return dict(
            self.run("webhook-deliveries", "--limit", str(limit), *(["--failed"] if failed else []))
        )

    def pending(self) -> int:
        """Outbox records still pending (a direct read: cheap in polling loops)."""
        return int(
            self.store.query(
                lambda r: sum(1 for _, rec in r.deliveries() if rec.state == DeliveryState.PENDING)
            )
        )

    def redeliver(self, delivery_id: str) -> dict[str, Any]:
        return dict(self.run("webhook-redeliver", delivery_id))


def login(lws: Any, keys: Any, timeout: float = 60.0) -> dict[str, Any]:
    """``lws.login(keys)`` (an LwsProcess), once the server has heard from
    monerod: it answers account-creating calls 503 until then."""
    deadline = time.monotonic() + timeout
    while True:
        reply = lws.post(
            "login",
            {
                "address": keys.address(),
                "view_key": keys.view_secret.hex(),
                "create_account": True,
                "generated_locally": False,
            },
        )
        if reply.status_code != 503 or time.monotonic() > deadline:
            reply.raise_for_status()
            return dict(reply.json())
        time.sleep(0.2)


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
