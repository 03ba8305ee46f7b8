# Owns the tests of tests.support.regtest's wallet-rpc client retry: a call that fails
# with "no connection to daemon" (-38) is tried again, other errors are not.
from __future__ import annotations

import json

import httpx
import pytest

from tests.support import regtest
from tests.support.regtest import RpcError, WalletRpc


def _client_answering(replies: list[dict[str, object]], seen: list[str]) -> WalletRpc:
    """A WalletRpc whose HTTP client answers ``replies`` in turn (no process)."""

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content)["method"])
        return httpx.Response(200, json=replies[len(seen) - 1])

    wallet = WalletRpc.__new__(WalletRpc)
    wallet.port = 1  # never dialled: the mock transport answers
    wallet.client = httpx.Client(transport=httpx.MockTransport(answer))
    return wallet


NO_DAEMON = {"error": {"code": -38, "message": "no connection to daemon"}}


def test_a_lost_daemon_connection_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(regtest.time, "sleep", lambda _seconds: None)
    seen: list[str] = []
    wallet = _client_answering([NO_DAEMON, NO_DAEMON, {"result": {"tx_hash": "ab"}}], seen)
    assert wallet.rpc("transfer", destinations=[]) == {"tx_hash": "ab"}
    assert seen == ["transfer"] * 3


def test_retries_end_and_other_errors_are_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(regtest.time, "sleep", lambda _seconds: None)
    seen: list[str] = []
    wallet = _client_answering([NO_DAEMON] * 5, seen)
    with pytest.raises(RpcError, match="no connection to daemon"):
        wallet.rpc("refresh")
    assert len(seen) == regtest.NO_DAEMON_RETRIES + 1
    seen.clear()
    other = {"error": {"code": -4, "message": "not enough money"}}
    wallet = _client_answering([other, {"result": {}}], seen)
    with pytest.raises(RpcError, match="not enough money"):
        wallet.rpc("transfer", destinations=[])
    assert seen == ["transfer"]
