# Owns `lws import-request`, a client of any light-wallet server (lws or
# monero-lws) for a wallet owner or an operator: check the address and view
# key locally, log in (creating the account where the server allows),
# send import_wallet_request, say what the server answered (approved,
# pending an operator, or the fee a paying server asks for), and with
# --wait keep asking while it is pending, then follow the scan to the tip
# (pushed by the server's /feed websocket when it offers one, trio-websocket
# as the client; else by asking get_address_info again and again; a
# progress bar on a terminal, plain lines otherwise) and sum it up.
# Exit 0 done, 3 pending, 1 refused or unreachable, 2 usage, 130 Ctrl-C.
# Must not touch a store (it speaks HTTP only) or print the view key.
"""``lws import-request``: ask a server to import a wallet, follow its scan."""

from __future__ import annotations

import argparse
import math
import ssl
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TextIO

import httpx
import msgspec
import trio
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

from lws.errors import ClientError
from lws.monero.address import AddressKind, decode_address
from lws.monero.errors import MoneroFormatError
from lws.monero.subaddress import check_view_key
from lws.wire.feed import BLOCKS_PREFIX, ERROR_PREFIX, LOGIN_PREFIX, SUBPROTOCOL
from lws.wire.fields import U64_MAX

from .cli import read_view_key

EXIT_DONE = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_PENDING = 3
EXIT_INTERRUPTED = 130

#: Seconds one HTTP call may take (a server busy scanning still answers fast).
REQUEST_TIMEOUT_S = 30.0
#: Default seconds between looks at the server while waiting.
DEFAULT_INTERVAL_S = 2.0
#: Calls in a row that may fail while waiting (a server restarting) before
#: the tool gives up; the first contact must succeed.
MAX_FAILURES_WHILE_WAITING = 5
#: Seconds of progress the rate (and so the time left) is measured over.
RATE_WINDOW_S = 30.0
#: Seconds between progress lines when stderr is not a terminal.
LINE_EVERY_S = 10.0
#: Characters of the progress bar.
BAR_WIDTH = 30
#: Bytes of a reply the tool reads at most (a get_address_info of a very busy
#: wallet is a few MB; anything past this is not a light-wallet reply).
MAX_REPLY_BYTES = 64 << 20
#: Characters of a server's error text shown.
MAX_ERROR_TEXT = 300
#: Atomic units per XMR.
ATOMIC_PER_XMR = 10**12
#: Seconds the /feed handshake and login answer may take before the tool
#: follows the scan by asking instead.
FEED_CONNECT_TIMEOUT_S = 10.0
#: Seconds without a /feed message before the tool asks get_address_info
#: whether the scan is done (a quiet feed: a server that pushes nothing).
FEED_QUIET_S = 60.0
#: Bytes of one /feed message at most (a blocks message of a catch-up batch
#: lists its transactions).
MAX_FEED_MESSAGE = 16 << 20


class _FeedBlocks(msgspec.Struct):
    scan_end: int
    blockchain_height: int
    scan_start: int = 0


class _FeedError(msgspec.Struct):
    msg: str = ""
    code: int = 0


class Refused(Exception):
    """The server refused, cannot be reached, or does not speak the API."""


class _Reply(msgspec.Struct):
    pass


class LoginReply(_Reply):
    new_address: bool = False
    start_height: int = 0


class ImportReply(_Reply):
    import_fee: str = "0"
    payment_address: str = ""
    payment_id: str = ""
    status: str = ""
    new_request: bool = False
    request_fulfilled: bool = False


class AddressInfo(_Reply):
    total_received: str
    total_sent: str
    scanned_block_height: int
    blockchain_height: int
    locked_funds: str = "0"
    start_height: int = 0


class UnspentOuts(_Reply):
    outputs: list[msgspec.Raw] = []


@dataclass
class Server:
    """One light-wallet server, called with the account's credentials."""

    url: str
    address: str
    view_key: str
    client: httpx.Client

    def call(self, method: str, body: dict[str, Any]) -> tuple[int, bytes]:
        try:
            reply = self.client.post(
                f"{self.url}/{method}",
                json={"address": self.address, "view_key": self.view_key, **body},
            )
        except httpx.TimeoutException:
            raise Refused(f"{self.url} did not answer {method} in time") from None
        except httpx.ConnectError as exc:
            raise Refused(f"cannot reach {self.url}: {_describe(exc)}") from None
        except httpx.HTTPError as exc:
            raise Refused(
                f"{self.url} broke off its answer to {method}: {_describe(exc)}"
            ) from None
        if len(reply.content) > MAX_REPLY_BYTES:
            raise Refused(f"{self.url} sent a reply too large for {method}")
        return reply.status_code, reply.content

    def decode(self, method: str, status: int, body: bytes, kind: type[Any]) -> Any:
        if status != 200:
            raise Refused(f"{self.url} refused {method} (HTTP {status}): {error_text(body)}")
        try:
            return msgspec.json.decode(body, type=kind)
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise Refused(
                f"{self.url} answered {method} with something that is not a light-wallet reply"
            ) from None


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:MAX_ERROR_TEXT]


def error_text(body: bytes) -> str:
    """The server's ``Error`` text, or what little the body says."""
    try:
        decoded = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        decoded = None
    if isinstance(decoded, dict) and isinstance(decoded.get("Error"), str):
        text: str = decoded["Error"]
    elif not body:
        text = "no reason given"
    else:
        text = body[:MAX_ERROR_TEXT].decode("utf-8", "replace")
    return " ".join(text.split())[:MAX_ERROR_TEXT] or "no reason given"


def xmr(atomic: int) -> str:
    """Atomic units as XMR with all 12 decimals."""
    return f"{Decimal(atomic) / ATOMIC_PER_XMR:.12f}"


# --- the states the server can be in ----------------------------------------------------


@dataclass
class Outcome:
    """Where the account stands, as the server said."""

    #: "approved", "create_pending", "import_pending", "fee"
    state: str
    message: str
    login: LoginReply | None = None
    reply: ImportReply | None = None

    @property
    def pending(self) -> bool:
        return self.state != "approved"


def ask(server: Server, from_height: int | None) -> Outcome:
    """One round: login (create if allowed), then import_wallet_request."""
    status, body = server.call("login", {"create_account": True, "generated_locally": False})
    if status == 403:
        return Outcome(
            "create_pending",
            "the account is not approved yet: its create request waits for an operator "
            "(or the server hides this account)",
        )
    login = server.decode("login", status, body, LoginReply)
    request: dict[str, Any] = {} if from_height is None else {"from_height": from_height}
    status, body = server.call("import_wallet_request", request)
    if status == 403:
        return Outcome(
            "create_pending",
            "the server queued the account's create request: it waits for an operator",
            login,
        )
    reply = server.decode("import_wallet_request", status, body, ImportReply)
    if reply.request_fulfilled:
        return Outcome("approved", f"import approved ({reply.status or 'fulfilled'})", login, reply)
    if reply.import_fee not in ("", "0") and reply.payment_address:
        try:
            fee = xmr(int(reply.import_fee)) + " XMR"
        except ValueError:
            fee = reply.import_fee
        pid = f" with payment id {reply.payment_id}" if reply.payment_id else ""
        return Outcome(
            "fee",
            f"the server asks a fee of {fee} paid to {reply.payment_address}{pid}",
            login,
            reply,
        )
    return Outcome(
        "import_pending",
        f"the import request waits for an operator ({reply.status or 'pending'})",
        login,
        reply,
    )


# --- progress ------------------------------------------------------------------------------


@dataclass
class Progress:
    """Blocks per second and time left, over the last RATE_WINDOW_S."""

    out: TextIO
    tty: bool
    samples: deque[tuple[float, int]] = field(default_factory=deque)
    last_line: float = -math.inf
    drawn: bool = False

    def rate(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        (t0, h0), (t1, h1) = self.samples[0], self.samples[-1]
        return (h1 - h0) / (t1 - t0) if t1 > t0 else 0.0

    def update(self, scanned: int, tip: int, start: int) -> None:
        now = time.monotonic()
        self.samples.append((now, scanned))
        while len(self.samples) > 2 and now - self.samples[0][0] > RATE_WINDOW_S:
            self.samples.popleft()
        rate = self.rate()
        left = (tip - scanned) / rate if rate > 0 else math.inf
        span = max(tip - start, 1)
        share = min(max((scanned - start) / span, 0.0), 1.0)
        when = _duration(left) if math.isfinite(left) else "?"
        if self.tty:
            filled = int(share * BAR_WIDTH)
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            self.out.write(
                f"\r[{bar}] {share * 100:5.1f}% {scanned}/{tip} blocks, "
                f"{rate:.1f} blocks/s, {when} left \x1b[K"
            )
            self.out.flush()
            self.drawn = True
        elif now - self.last_line >= LINE_EVERY_S:
            self.out.write(
                f"scanned {scanned} of {tip} blocks ({share * 100:.1f}%), "
                f"{rate:.1f} blocks/s, {when} left\n"
            )
            self.out.flush()
            self.last_line = now

    def end(self) -> None:
        if self.drawn:
            self.out.write("\n")
            self.out.flush()
            self.drawn = False


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# --- the tool ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lws import-request",
        description=(
            "Ask a light-wallet server (lws or monero-lws) to import a wallet from a "
            "height, and optionally follow its scan. The view key is read from "
            "--view-key-file, a prompt (terminal) or stdin, never from the command line."
        ),
    )
    parser.add_argument("--url", required=True, help="the server, e.g. https://lws.example:8443")
    parser.add_argument("--address", required=True, help="the wallet's primary address")
    parser.add_argument("--view-key-file", metavar="FILE", help="file holding the secret view key")
    parser.add_argument(
        "--from-height", type=_height, metavar="H", help="scan from this height (default: 0)"
    )
    parser.add_argument(
        "--wait", action="store_true", help="wait for approval, then follow the scan to the tip"
    )
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    parser.add_argument("--ca-file", metavar="PEM", help="trust this CA for an https URL")
    parser.add_argument(
        "--interval",
        type=_interval,
        default=DEFAULT_INTERVAL_S,
        metavar="SECONDS",
        help=f"seconds between looks at the server while waiting (default {DEFAULT_INTERVAL_S})",
    )
    return parser


def _height(text: str) -> int:
    if not text.isdigit() or int(text) > U64_MAX:
        raise argparse.ArgumentTypeError(f"not a block height: {text!r}")
    return int(text)


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.05 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"not a number of seconds in [0.05, 3600]: {text!r}")
    return value


def _check_keys(address: str, view_key: str) -> None:
    try:
        decoded = decode_address(address)
    except MoneroFormatError as exc:
        raise ClientError(f"{address[:110]!r} is not a Monero address: {exc}") from None
    if decoded.kind is not AddressKind.STANDARD:
        raise ClientError(f"a {decoded.kind.value} address cannot be imported: use the primary one")
    if not check_view_key(decoded, bytes.fromhex(view_key)):
        raise ClientError("the view key does not belong to this address")


def _client(url: str, ca_file: str | None) -> httpx.Client:
    verify: ssl.SSLContext | bool = True
    if ca_file is not None:
        try:
            verify = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ClientError(f"cannot use the CA file {ca_file}: {exc}") from None
    if not url.startswith(("http://", "https://")):
        raise ClientError(f"the URL must start with http:// or https://: {url!r}")
    return httpx.Client(verify=verify, timeout=REQUEST_TIMEOUT_S, follow_redirects=False)


class Tool:
    def __init__(self, args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> None:
        self.args = args
        self.stdout = stdout
        self.stderr = stderr
        self.tty = stderr.isatty()

    def say(self, text: str) -> None:
        """A status line for people (stderr, so stdout holds the result only)."""
        self.stderr.write(text + "\n")
        self.stderr.flush()

    def result(self, document: dict[str, Any], text: str) -> None:
        if self.args.json:
            self.stdout.write(msgspec.json.encode(document).decode() + "\n")
        else:
            self.stdout.write(text + "\n")
        self.stdout.flush()

    def retrying(self, what: Callable[[], Any]) -> Any:
        """``what()``, tried again (MAX_FAILURES_WHILE_WAITING in a row) while waiting."""
        failures = 0
        while True:
            try:
                return what()
            except Refused as exc:
                failures += 1
                if failures >= MAX_FAILURES_WHILE_WAITING:
                    raise
                self.say(f"{exc}; trying again")
                time.sleep(self.args.interval)

    def run(self, server: Server) -> int:
        if not self.args.wait:
            outcome = ask(server, self.args.from_height)
            self.result(_outcome_json(outcome), outcome.message)
            return EXIT_PENDING if outcome.pending else EXIT_DONE
        # Waiting: a server that is starting (503 until it has heard from
        # monerod) or restarting gets a few more tries.
        outcome = self.retrying(lambda: ask(server, self.args.from_height))
        said = ""
        while outcome.pending:
            if outcome.message != said:
                self.say(f"{outcome.message}; waiting (Ctrl-C stops)")
                said = outcome.message
            time.sleep(self.args.interval)
            outcome = self.retrying(lambda: ask(server, self.args.from_height))
        self.say(outcome.message)
        info = self.follow(server)
        return self.summary(server, info)

    def follow(self, server: Server) -> AddressInfo:
        progress = Progress(self.stderr, self.tty)
        try:
            if trio.run(self.follow_feed, server, progress):
                info: AddressInfo = self.retrying(
                    lambda: server.decode(
                        "get_address_info", *server.call("get_address_info", {}), AddressInfo
                    )
                )
                return info
            return self.follow_by_asking(server, progress)
        finally:
            progress.end()

    async def follow_feed(self, server: Server, progress: Progress) -> bool:
        """Follow the scan on the server's /feed websocket until the account
        reaches the tip; False if the server offers no /feed (or it ends
        early), and the scan is followed by asking instead."""
        url = "ws" + server.url[len("http") :] + "/feed"
        context = None
        if url.startswith("wss"):
            try:
                context = ssl.create_default_context(cafile=self.args.ca_file)
            except (OSError, ssl.SSLError):
                return False
        login = (
            LOGIN_PREFIX
            + msgspec.json.encode(
                {
                    "account": {"address": server.address, "view_key": server.view_key},
                    "tx_sync": False,
                }
            ).decode()
        )
        start: int | None = None
        try:
            async with open_websocket_url(
                url,
                context,
                subprotocols=[SUBPROTOCOL],
                connect_timeout=FEED_CONNECT_TIMEOUT_S,
                max_message_size=MAX_FEED_MESSAGE,
            ) as ws:
                await ws.send_message(login)
                while True:
                    with trio.move_on_after(FEED_QUIET_S) as quiet:
                        message = await ws.get_message()
                    if quiet.cancelled_caught:
                        return False  # ask get_address_info
                    text = message if isinstance(message, str) else ""
                    if text.startswith(ERROR_PREFIX):
                        error = msgspec.json.decode(text[len(ERROR_PREFIX) :], type=_FeedError)
                        raise Refused(f"{server.url}/feed refused: {error.msg} (code {error.code})")
                    if not text.startswith(BLOCKS_PREFIX):
                        continue  # mempool, warnings: the scan goes on
                    blocks = msgspec.json.decode(text[len(BLOCKS_PREFIX) :], type=_FeedBlocks)
                    if start is None:
                        start = blocks.scan_end
                    progress.update(blocks.scan_end, blocks.blockchain_height, start)
                    if blocks.blockchain_height > 0 and blocks.scan_end >= blocks.blockchain_height:
                        return True
        except (HandshakeError, ConnectionClosed, OSError, trio.TooSlowError):
            return False
        except (msgspec.DecodeError, UnicodeDecodeError):
            return False

    def follow_by_asking(self, server: Server, progress: Progress) -> AddressInfo:
        start: int | None = None
        while True:
            info: AddressInfo = self.retrying(
                lambda: server.decode(
                    "get_address_info", *server.call("get_address_info", {}), AddressInfo
                )
            )
            if start is None:
                start = info.scanned_block_height
            if info.blockchain_height > 0 and info.scanned_block_height >= info.blockchain_height:
                progress.update(info.scanned_block_height, info.blockchain_height, start)
                return info
            progress.update(info.scanned_block_height, info.blockchain_height, start)
            time.sleep(self.args.interval)

    def summary(self, server: Server, info: AddressInfo) -> int:
        try:
            received, sent = int(info.total_received), int(info.total_sent)
        except ValueError:
            raise Refused(f"{server.url} sent amounts that are not numbers") from None
        balance = received - sent
        unspent: int | None = None
        status, body = server.call(
            "get_unspent_outs",
            {"amount": "0", "mixin": 15, "use_dust": True, "dust_threshold": "0"},
        )
        if status == 200:
            try:
                unspent = len(msgspec.json.decode(body, type=UnspentOuts).outputs)
            except (msgspec.DecodeError, UnicodeDecodeError):
                unspent = None
        document = {
            "state": "scanned",
            "scanned_block_height": info.scanned_block_height,
            "blockchain_height": info.blockchain_height,
            "total_received": str(received),
            "total_sent": str(sent),
            "balance": str(balance),
            "balance_xmr": xmr(balance),
            "locked_funds": info.locked_funds,
            "unspent_outputs": unspent,
        }
        outputs = "unknown" if unspent is None else str(unspent)
        text = "\n".join(
            [
                f"scanned to block {info.scanned_block_height} of {info.blockchain_height}",
                f"balance: {xmr(balance)} XMR (received {xmr(received)}, "
                f"spent {xmr(sent)}; the server's view-key figures)",
                f"spendable outputs found: {outputs}",
            ]
        )
        self.result(document, text)
        return EXIT_DONE


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    document: dict[str, Any] = {"state": outcome.state, "message": outcome.message}
    if outcome.login is not None:
        document["login"] = msgspec.to_builtins(outcome.login)
    if outcome.reply is not None:
        document["import"] = msgspec.to_builtins(outcome.reply)
    return document


def main(
    argv: list[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return EXIT_DONE if exc.code == 0 else EXIT_USAGE
    tool = Tool(args, stdout, stderr)
    try:
        view_key = read_view_key(args.view_key_file, stdin)
        _check_keys(args.address, view_key)
        with _client(args.url, args.ca_file) as client:
            server = Server(args.url.rstrip("/"), args.address, view_key, client)
            return tool.run(server)
    except (Refused, ClientError) as exc:
        print(f"lws import-request: {exc}", file=stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        print("\nlws import-request: stopped waiting (the server goes on)", file=stderr)
        return EXIT_INTERRUPTED


__all__ = ["main"]
