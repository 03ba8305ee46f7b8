# Owns talking to monerod: JSON-RPC, plain JSON and epee .bin calls over httpx
# with timeouts, typed errors and the network check; large replies are
# decoded in a worker thread, off the event loop. Must not retry, sleep,
# store anything or parse blocks beyond the reply envelope: the scanner and
# services decide what to do with failures and data. Each failed call counts
# once in lws_daemon_errors_total (lws.metrics), by kind.
"""The monerod client."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine, Sequence
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

import httpx
import msgspec
import trio

from lws import metrics
from lws.errors import DaemonError, DaemonUnavailable, LwsError
from lws.monero import epee
from lws.monero.errors import MoneroFormatError

from .blocks_reply import BlocksReply, check_status, checked_blocks_reply, fast_blocks_reply

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")

#: Seconds to wait for monerod to accept a connection.
CONNECT_TIMEOUT_S = 5.0
#: Seconds for a whole reply: get_blocks.bin replies reach 100 MB on a busy chain.
READ_TIMEOUT_S = 120.0
#: monerod's restricted RPC caps get_outs at this many outputs per call.
MAX_OUTS_PER_CALL = 5000
#: Replies larger than this are decoded in a worker thread: a get_blocks.bin
#: reply of tens of MB takes a second of pure-Python epee decoding, which must
#: not stall the event loop (and the wallet API it serves).
THREAD_DECODE_BYTES = 256 * 1024
#: The largest reply we accept (monerod caps get_blocks.bin near 100 MB).
MAX_REPLY_BYTES = 256 * 1024 * 1024

#: monerod's `nettype` values per lws network name (regtest runs as fakechain).
NETTYPE_OF_NETWORK = {
    "mainnet": "mainnet",
    "testnet": "testnet",
    "stagenet": "stagenet",
    "regtest": "fakechain",
}


class NetworkMismatch(LwsError):
    """monerod serves another network than lws is configured for."""

    http_status = 503


#: Set while a counted call runs in this task: the calls it makes (get_info
#: inside check_network, json_rpc inside get_info...) do not count again.
_IN_CALL: ContextVar[bool] = ContextVar("lws_daemon_in_call", default=False)


def _counted(call: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Count a failure of ``call`` in lws_daemon_errors_total, once per outermost call."""

    @functools.wraps(call)
    async def counted(*args: P.args, **kwargs: P.kwargs) -> T:
        if _IN_CALL.get():
            return await call(*args, **kwargs)
        token = _IN_CALL.set(True)
        try:
            return await call(*args, **kwargs)
        except NetworkMismatch:
            metrics.daemon_error("wrong_network")
            raise
        except DaemonUnavailable:
            metrics.daemon_error("unavailable")
            raise
        except DaemonError:
            metrics.daemon_error("error")
            raise
        finally:
            _IN_CALL.reset(token)

    return counted


class DaemonInfo(msgspec.Struct, frozen=True):
    height: int
    top_block_hash: str = ""
    nettype: str = ""
    synchronized: bool = False
    busy_syncing: bool = False
    target_height: int = 0
    was_bootstrap_ever_used: bool = False
    bootstrap_daemon_address: str = ""
    untrusted: bool = False
    offline: bool = False
    version: str = ""
    status: str = ""
    outgoing_connections_count: int = 0
    incoming_connections_count: int = 0

    @property
    def bootstrapped(self) -> bool:
        """monerod answers from a bootstrap daemon (untrusted data): not scanned from."""
        return self.untrusted or (
            self.was_bootstrap_ever_used and bool(self.bootstrap_daemon_address)
        )

    @property
    def syncing(self) -> bool:
        """monerod is still fetching its own chain (an offline regtest node never is)."""
        return self.busy_syncing or (
            not self.synchronized and not self.offline and self.target_height > self.height
        )


class Daemon:
    """One monerod endpoint. Create inside a trio task; ``aclose`` when done."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = READ_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport`` replaces the network (tests answer with a mock)."""
        self.url = url.rstrip("/")
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT_S),
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(self, path: str, **kwargs: Any) -> httpx.Response:
        try:
            reply = await self._client.post(f"{self.url}{path}", **kwargs)
        except httpx.TimeoutException as exc:
            raise DaemonUnavailable(f"monerod timed out on {path}") from exc
        except httpx.HTTPError as exc:
            raise DaemonUnavailable(
                f"monerod unreachable at {self.url}: {type(exc).__name__}"
            ) from exc
        if reply.status_code != 200:
            raise DaemonError(f"monerod answered HTTP {reply.status_code} on {path}")
        if len(reply.content) > MAX_REPLY_BYTES:
            raise DaemonError(f"monerod reply on {path} exceeds {MAX_REPLY_BYTES} bytes")
        return reply

    @_counted
    async def json_rpc(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": "0", "method": method, "params": params or {}}
        reply = await self._post("/json_rpc", json=body)
        try:
            data = await _decode(_JSON_DECODE, reply.content)
        except ValueError as exc:
            raise DaemonError(f"monerod sent malformed JSON for {method}") from exc
        if not isinstance(data, dict):
            raise DaemonError(f"monerod sent a non-object for {method}")
        if "error" in data:
            error = data["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise DaemonError(f"monerod {method}: {message}")
        result = data.get("result")
        if not isinstance(result, dict):
            raise DaemonError(f"monerod sent no result for {method}")
        check_status(method, result)
        return result

    @_counted
    async def call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """A plain-JSON endpoint (``/get_transactions``, ``/send_raw_transaction``...)."""
        reply = await self._post(path, json=body or {})
        try:
            data = await _decode(_JSON_DECODE, reply.content)
        except ValueError as exc:
            raise DaemonError(f"monerod sent malformed JSON for {path}") from exc
        if not isinstance(data, dict):
            raise DaemonError(f"monerod sent a non-object for {path}")
        return data

    @_counted
    async def call_bin(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call_bin(path, body, _as_is)

    async def _call_bin(
        self,
        path: str,
        body: dict[str, Any],
        convert: Callable[[dict[str, Any]], T],
        fast: Callable[[bytes], T | None] | None = None,
    ) -> T:
        """An epee call whose reply is decoded, checked and ``convert``-ed in
        one go: in one worker thread when the reply is large. ``fast``, when
        given, decodes the usual layout directly (None: take the generic way)."""
        reply = await self._post(path, content=epee.dumps(body))

        def decode(content: bytes) -> T:
            if fast is not None:
                result = fast(content)
                if result is not None:
                    return result
            try:
                data = epee.loads(content)
            except MoneroFormatError as exc:
                raise DaemonError(f"monerod sent a malformed epee body for {path}: {exc}") from exc
            check_status(path, data)
            return convert(data)

        return await _decode(decode, reply.content)

    # --- typed calls -------------------------------------------------------

    @_counted
    async def get_info(self) -> DaemonInfo:
        result = await self.json_rpc("get_info")
        try:
            return msgspec.convert(result, DaemonInfo, strict=False)
        except msgspec.ValidationError as exc:
            raise DaemonError(f"monerod get_info: {exc}") from exc

    @_counted
    async def check_network(self, network: str) -> DaemonInfo:
        """Refuse a daemon of another network, one that is syncing or bootstrapping."""
        info = await self.get_info()
        expected = NETTYPE_OF_NETWORK[network]
        if info.nettype and info.nettype != expected:
            raise NetworkMismatch(
                f"monerod at {self.url} runs {info.nettype!r} but lws is configured for {network!r}"
                f" (expects nettype {expected!r})"
            )
        return info

    @_counted
    async def get_blocks(self, block_ids: Sequence[bytes], start_height: int = 0) -> BlocksReply:
        """Pruned blocks after the newest of ``block_ids`` that monerod knows.

        ``block_ids`` must end with the genesis hash (monerod scores the
        caller otherwise); with ``start_height`` 0 monerod finds the fork
        point itself.
        """
        return await self._call_bin(
            "/get_blocks.bin",
            {
                "block_ids": b"".join(block_ids),
                "start_height": start_height,
                "prune": True,
                "no_miner_tx": False,
            },
            checked_blocks_reply,
            fast_blocks_reply,
        )

    @_counted
    async def get_height(self) -> tuple[int, str]:
        data = await self.call("/get_height")
        check_status("/get_height", data)
        return int(data["height"]), str(data.get("hash", ""))

    @_counted
    async def get_pool_hashes(self) -> list[bytes]:
        data = await self.call("/get_transaction_pool_hashes")
        check_status("/get_transaction_pool_hashes", data)
        return [bytes.fromhex(h) for h in data.get("tx_hashes", [])]

    @_counted
    async def get_transactions(
        self, hashes: Sequence[bytes], *, prune: bool = True
    ) -> list[dict[str, Any]]:
        """The pool or chain transactions named; missing ones are left out."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(hashes), 100):  # restricted RPC serves 100 per call
            chunk = hashes[start : start + 100]
            data = await self.call(
                "/get_transactions",
                {"txs_hashes": [h.hex() for h in chunk], "decode_as_json": False, "prune": prune},
            )
            check_status("/get_transactions", data)
            found.extend(data.get("txs", []))
        return found

    # --- typed calls for the wallet API: fees, forks, decoys, relay ----------

    @_counted
    async def get_fee_estimate(self) -> FeeEstimate:
        result = await self.json_rpc("get_fee_estimate")
        try:
            return msgspec.convert(result, FeeEstimate, strict=False)
        except msgspec.ValidationError as exc:
            raise DaemonError(f"monerod get_fee_estimate: {exc}") from exc

    @_counted
    async def hard_fork_info(self) -> HardForkInfo:
        result = await self.json_rpc("hard_fork_info")
        try:
            return msgspec.convert(result, HardForkInfo, strict=False)
        except msgspec.ValidationError as exc:
            raise DaemonError(f"monerod hard_fork_info: {exc}") from exc

    @_counted
    async def get_output_distribution(
        self, amount: int = 0, *, from_height: int = 0, to_height: int = 0
    ) -> OutputDistribution:
        """Per-block output counts of ``amount`` from ``from_height`` to ``to_height`` (0: top)."""
        result = await self.json_rpc(
            "get_output_distribution",
            {
                "amounts": [amount],
                "from_height": from_height,
                "to_height": to_height,
                "cumulative": False,
                "binary": False,
                "compress": False,
            },
        )
        try:
            entry = result["distributions"][0]
            return OutputDistribution(
                amount=int(entry["amount"]),
                start_height=int(entry["start_height"]),
                base=int(entry.get("base", 0)),
                counts=[int(n) for n in entry["distribution"]],
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise DaemonError(
                f"monerod get_output_distribution reply is malformed: {exc!r}"
            ) from exc

    @_counted
    async def get_output_histogram(self, amounts: Sequence[int]) -> list[OutputHistogramEntry]:
        """How many outputs of each cleartext (pre-RingCT) amount exist and are unlocked."""
        result = await self.json_rpc(
            "get_output_histogram",
            {
                "amounts": list(amounts),
                "unlocked": False,
                "recent_cutoff": 0,
                "min_count": 0,
                "max_count": 0,
            },
        )
        try:
            return msgspec.convert(
                result.get("histogram", []), list[OutputHistogramEntry], strict=False
            )
        except msgspec.ValidationError as exc:
            raise DaemonError(f"monerod get_output_histogram: {exc}") from exc

    @_counted
    async def get_outs(self, wanted: Sequence[tuple[int, int]]) -> list[OutEntry]:
        """Keys and commitments of ``(amount, global index)`` outputs, in request order."""
        found: list[OutEntry] = []
        for start in range(0, len(wanted), MAX_OUTS_PER_CALL):
            chunk = wanted[start : start + MAX_OUTS_PER_CALL]
            data = await self.call(
                "/get_outs",
                {"outputs": [{"amount": a, "index": i} for a, i in chunk], "get_txid": False},
            )
            check_status("/get_outs", data)
            try:
                outs = msgspec.convert(data.get("outs", []), list[OutEntry], strict=False)
            except msgspec.ValidationError as exc:
                raise DaemonError(f"monerod /get_outs: {exc}") from exc
            if len(outs) != len(chunk):
                raise DaemonError(f"monerod /get_outs answered {len(outs)} of {len(chunk)} outputs")
            found.extend(outs)
        return found

    @_counted
    async def send_raw_transaction(self, tx_hex: str) -> SendResult:
        """Relay a transaction; a refusal is a result (``ok`` false), not an exception."""
        data = await self.call(
            "/send_raw_transaction", {"tx_as_hex": tx_hex, "do_not_relay": False}
        )
        status = data.get("status")
        if status == "OK":
            return SendResult(ok=True)
        if status == "BUSY":
            raise DaemonUnavailable("monerod is busy (/send_raw_transaction)")
        flags = tuple(name for name in SEND_REJECTION_FLAGS if data.get(name) is True)
        reason = data.get("reason")
        return SendResult(ok=False, flags=flags, reason=reason if isinstance(reason, str) else "")


_JSON_DECODE = msgspec.json.Decoder().decode


async def _decode(decode: Callable[[bytes], T], content: bytes) -> T:
    """``decode(content)``, in a worker thread when ``content`` is large."""
    if len(content) > THREAD_DECODE_BYTES:
        return await trio.to_thread.run_sync(decode, content)
    return decode(content)


def _as_is(data: dict[str, Any]) -> dict[str, Any]:
    return data


# --- replies of the wallet API's daemon calls --------------------------------


class FeeEstimate(msgspec.Struct, frozen=True):
    """``get_fee_estimate``: per-byte fees in atomic units."""

    fee: int
    #: Per-byte fees for priorities 1..4 (empty from daemons too old to send them).
    fees: list[int] = []
    quantization_mask: int = 1


class HardForkInfo(msgspec.Struct, frozen=True):
    version: int
    enabled: bool = True
    earliest_height: int = 0


class OutputDistribution(msgspec.Struct, frozen=True):
    """Outputs per block of one amount: ``counts[i]`` at height ``start_height + i``."""

    amount: int
    start_height: int
    #: Outputs of this amount created before ``start_height``.
    base: int
    counts: list[int]


class OutEntry(msgspec.Struct, frozen=True):
    """One ``/get_outs`` entry: an output's key and commitment (``mask``), hex."""

    key: str
    mask: str
    unlocked: bool
    height: int
    txid: str = ""


class OutputHistogramEntry(msgspec.Struct, frozen=True):
    amount: int
    total_instances: int = 0
    unlocked_instances: int = 0
    recent_instances: int = 0


class SendResult(msgspec.Struct, frozen=True):
    """``/send_raw_transaction``: ``ok``, or the reason flags monerod set."""

    ok: bool
    #: Names of the true reason flags (``double_spend``, ``fee_too_low``...).
    flags: tuple[str, ...] = ()
    #: monerod's free-text reason, when it gives one.
    reason: str = ""


#: The boolean fields of a send_raw_transaction reply that explain a refusal.
SEND_REJECTION_FLAGS = (
    "double_spend",
    "fee_too_low",
    "invalid_input",
    "invalid_output",
    "low_mixin",
    "overspend",
    "too_big",
    "too_few_outputs",
    "sanity_check_failed",
    "tx_extra_too_big",
    "nonzero_unlock_time",
    "not_rct",
    "not_relayed",
)
