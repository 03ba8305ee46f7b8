# Owns `lws admin`: argv -> one operator command of lws.services.admin (or
# lws.services.webhooks: webhook-*) on the store of `lws serve` (same data
# directory; LMDB makes it safe while the server runs, and the server picks
# the change up at once), the store and
# network from --config / --data-dir / --network (a network that disagrees
# with the store is refused), view keys from a file or stdin (never argv),
# the reply as text for people or, with --json, exactly the admin API's
# reply for the same command; exit 0 done, 1 refused (a one-line reason on
# stderr), 2 usage. Must not hold business logic (services do) or print a
# view key; an admin key is printed once, by create-admin-key, and a
# webhook's signing secret once, by webhook-add.
"""``lws admin``: the operator's command line."""

from __future__ import annotations

import argparse
import getpass
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import msgspec
import trio

from lws.config import Config, configured_network, load_config
from lws.daemon import Daemon
from lws.errors import ClientError, LwsError
from lws.monero.address import decode_address
from lws.services import admin, webhooks
from lws.services.admin import CLI
from lws.services.context import Services
from lws.store import NO_ACCOUNT, Store
from lws.wire import admin as wa
from lws.wire import webhooks as wh
from lws.wire.fields import U64_MAX

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2

#: A view key file is one line of 64 hex digits; anything far longer is not one.
MAX_VIEW_KEY_FILE = 4096
#: The daemon client Services needs is never called by an admin command.
UNUSED_DAEMON_URL = "http://127.0.0.1:18081"

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_ENCODE = msgspec.json.Encoder().encode

Run = Callable[[Services, argparse.Namespace, TextIO], Awaitable[Any]]


@dataclass(frozen=True)
class Command:
    """One `lws admin` command: its argv, its service call, its text."""

    name: str
    #: The admin API command whose reply --json prints (None: CLI only).
    api_name: str | None
    help: str
    arguments: Callable[[argparse.ArgumentParser], object]
    run: Run
    show: Callable[[Any], str]
    #: Whether a reply (validate's) reports a refusal: exit 1.
    refused: Callable[[Any], bool] = lambda reply: False


# --- argument types --------------------------------------------------------------------


def _height(text: str) -> int:
    if not text.isdigit() or int(text) > U64_MAX:
        raise argparse.ArgumentTypeError(f"not a block height: {text!r}")
    return int(text)


def _key_id(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) < 1 << 32:
        raise argparse.ArgumentTypeError(f"not an admin key id: {text!r}")
    return int(text)


def _addresses(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("addresses", nargs="+", metavar="ADDRESS")


def _view_key_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--view-key-file",
        metavar="FILE",
        help="read the secret view key from FILE (default: stdin, or a prompt on a terminal)",
    )


def read_view_key(path: str | None, stdin: TextIO) -> str:
    """The secret view key from ``path``, a no-echo prompt (terminal) or a
    line of ``stdin``; ClientError unless it is 64 hex digits. Never argv."""
    if path is not None:
        try:
            with open(path, encoding="ascii", errors="replace") as file:
                text = file.read(MAX_VIEW_KEY_FILE)
        except OSError as exc:
            raise ClientError(f"cannot read the view key file {path}: {exc.strerror}") from None
    elif stdin.isatty():
        text = getpass.getpass("secret view key: ")
    else:
        text = stdin.readline(MAX_VIEW_KEY_FILE)
    key = text.strip()
    if not _HEX64.fullmatch(key):
        raise ClientError("the view key must be 64 hex digits")
    return key.lower()


def _params(kind: type[msgspec.Struct], **fields: Any) -> Any:
    """argv values -> the command's params, with the admin API's own bounds."""
    try:
        return msgspec.convert(fields, kind)
    except msgspec.ValidationError as exc:
        raise ClientError(f"invalid arguments: {exc}") from None


# --- text output -------------------------------------------------------------------------


def _when(unix: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(unix))


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def _show_accounts(reply: wa.ListAccountsReply) -> str:
    rows: list[tuple[str, ...]] = []
    counts = []
    for status in ("active", "inactive", "hidden"):
        entries: list[wa.AccountEntry] = getattr(reply, status) or []
        counts.append(f"{len(entries)} {status}")
        rows += [(status, str(e.scan_height), e.address) for e in entries]
    summary = f"{len(rows)} accounts ({', '.join(counts)})"
    if not rows:
        return summary
    return _table(("STATUS", "SCANNED TO", "ADDRESS"), rows) + "\n" + summary


def _show_requests(reply: wa.ListRequestsReply) -> str:
    rows: list[tuple[str, ...]] = []
    for kind, entries in (("create", reply.create), ("import", reply.import_)):
        rows += [(kind, str(e.start_height), e.address) for e in entries or []]
    summary = f"{len(rows)} pending requests"
    if not rows:
        return summary
    return _table(("TYPE", "FROM HEIGHT", "ADDRESS"), rows) + "\n" + summary


def _show_updated(verb: str) -> Callable[[wa.UpdatedReply], str]:
    def show(reply: wa.UpdatedReply) -> str:
        count = len(reply.updated)
        lines = [f"{verb} {count} {'address' if count == 1 else 'addresses'}"]
        lines += [f"  {address}" for address in reply.updated]
        return "\n".join(lines)

    return show


def _show_validate(reply: wa.ValidateReply) -> str:
    if reply.error is not None:
        return f"invalid: {reply.error.field}: {reply.error.details}"
    return f"valid: the view key belongs to {reply.address}"


def _show_key(reply: wa.AdminKeyCreatedReply) -> str:
    name = f" ({reply.name})" if reply.name else ""
    return (
        f"admin key {reply.id}{name}:\n{reply.key}\n"
        "It is stored only as a hash: keep it now, it cannot be shown again."
    )


def _show_keys(reply: wa.AdminKeysReply) -> str:
    rows = [(str(k.id), _when(k.created), k.name) for k in reply.keys]
    summary = f"{len(rows)} admin keys"
    if not rows:
        return summary
    return _table(("ID", "CREATED (UTC)", "NAME"), rows) + "\n" + summary


def _show_hook_added(reply: wh.WebhookAddReply) -> str:
    return (
        f"webhook {reply.event_id} -> {reply.url} (payment id {reply.payment_id}, "
        f"{reply.confirmations} confirmations)\nsecret: {reply.secret}\n"
        "The secret signs every delivery (X-Lws-Signature): keep it now, it is not shown again."
    )


def _show_hooks(reply: wh.WebhookListReply) -> str:
    rows = [
        (
            value.event_id,
            group.key.type,
            "-" if group.key.user == NO_ACCOUNT else str(group.key.user),
            value.payment_id,
            str(value.confirmations),
            value.url,
        )
        for group in reply.webhooks
        for value in group.value
    ]
    summary = f"{len(rows)} webhooks"
    if not rows:
        return summary
    header = ("EVENT ID", "TYPE", "ACCOUNT", "PAYMENT ID", "CONF", "URL")
    return _table(header, rows) + "\n" + summary


def _show_deliveries(reply: wh.WebhookDeliveriesReply) -> str:
    rows = [
        (
            d.delivery_id,
            d.event + (f" {d.confirmations}" if d.confirmations is not None else ""),
            d.state,
            str(d.attempts),
            _when(d.updated),
            d.last_error or (f"HTTP {d.last_status}" if d.last_status else ""),
            d.url,
        )
        for d in reply.deliveries
    ]
    box = reply.outbox
    summary = (
        f"outbox: {box.entries} of {box.limit} records ({box.pending} pending, "
        f"{box.delivered} delivered, {box.failed} failed), {box.hooks} webhooks, "
        f"{box.dropped_events} events dropped when it was full"
    )
    if not rows:
        return summary
    header = ("DELIVERY ID", "EVENT", "STATE", "TRIES", "UPDATED (UTC)", "LAST", "URL")
    return _table(header, rows) + "\n" + summary


# --- the commands ---------------------------------------------------------------------------


def _requests_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("type", choices=["create", "import"])
    _addresses(parser)


async def _accept(svc: Services, args: argparse.Namespace, stdin: TextIO) -> Any:
    params = _params(wa.RequestsParams, type=args.type, addresses=args.addresses)
    return await admin.accept_requests(svc, params, CLI)


async def _reject(svc: Services, args: argparse.Namespace, stdin: TextIO) -> Any:
    params = _params(wa.RequestsParams, type=args.type, addresses=args.addresses)
    return await admin.reject_requests(svc, params, CLI)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", metavar="ADDRESS")
    parser.add_argument(
        "--from-height",
        type=_height,
        metavar="H",
        help="scan from this height (default: the chain tip lws has seen)",
    )
    _view_key_file(parser)


async def _add(svc: Services, args: argparse.Namespace, stdin: TextIO) -> Any:
    key = read_view_key(args.view_key_file, stdin)
    params = _params(
        wa.AddAccountParams, address=args.address, key=key, from_height=args.from_height
    )
    return await admin.add_account(svc, params, CLI)


def _status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("status", choices=["active", "inactive", "hidden"])
    _addresses(parser)


async def _status(svc: Services, args: argparse.Namespace, stdin: TextIO) -> Any:
    params = _params(wa.ModifyAccountStatusParams, status=args.status, addresses=args.addresses)
    return await admin.modify_account_status(svc, params, CLI)


def _rescan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("height", type=_height, metavar="HEIGHT")
    _addresses(parser)


async def _rescan(svc: Services, args: argparse.Namespace, stdin: TextIO) -> Any:
    params = _params(wa.RescanParams, height=args.height, addresses=args.addresses)
    return await admin.rescan(svc, params, CLI)


async def _rollback(svc: Services, args: argparse.Namespace, stdin: TextIO) -> Any:
    return await admin.rollback(svc, wa.RollbackParams(height=args.height), CLI)


async def _delete(svc: Services, args: argparse.Namespace, stdin: TextIO) -> Any:
    params = _params(wa.AddressesParams, addresses=args.addresses)
    return await admin.delete_accounts(svc, params, CLI)


def _validate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", metavar="ADDRESS")
    _view_key_file(parser)


async def _validate(svc: Services, args: argparse.Namespace, stdin: TextIO) -> Any:
    (address,) = admin.check_addresses(svc, [args.address])
    key = read_view_key(args.view_key_file, stdin)
    decoded = decode_address(address, svc.address_network)
    params = wa.ValidateParams(
        spend_public_hex=decoded.spend_public.hex(),
        view_public_hex=decoded.view_public.hex(),
        view_key_hex=key,
    )
    return await admin.validate(svc, params)


async def _create_key(svc: Services, args: argparse.Namespace, stdin: TextIO) -> Any:
    params = _params(wa.CreateAdminKeyParams, name=args.name)
    return await admin.create_admin_key(svc, params, CLI)


async def _revoke_key(svc: Services, args: argparse.Namespace, stdin: TextIO) -> Any:
    return await admin.revoke_admin_key(svc, wa.RevokeAdminKeyParams(id=args.id), CLI)


def _webhook_add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--type", required=True, choices=sorted(webhooks.TYPES))
    parser.add_argument("--url", required=True, help="http(s) URL the events are POSTed to")
    parser.add_argument("--address", help="the account (tx-confirmation, tx-spend)")
    parser.add_argument("--token", default="", help="echoed in every body")
    parser.add_argument(
        "--payment-id",
        metavar="PID|any",
        help="16 hex digits, or any (default: payments without a payment id)",
    )
    parser.add_argument("--confirmations", type=_height, default=1, metavar="N")


async def _webhook_add(svc: Services, args: argparse.Namespace, stdin: TextIO) -> Any:
    params = _params(
        wh.WebhookAddParams,
        type=args.type,
        url=args.url,
        address=args.address,
        token=args.token,
        payment_id=args.payment_id,
        confirmations=args.confirmations,
    )
    return await webhooks.webhook_add(svc, params, CLI)


async def _webhook_delete(svc: Services, args: argparse.Namespace, stdin: TextIO) -> Any:
    params = _params(wh.WebhookDeleteParams, addresses=args.addresses)
    return await webhooks.webhook_delete(svc, params, CLI)


async def _webhook_delete_uuid(svc: Services, args: argparse.Namespace, stdin: TextIO) -> Any:
    params = _params(wh.WebhookDeleteUuidParams, event_ids=args.event_ids)
    return await webhooks.webhook_delete_uuid(svc, params, CLI)


def _deliveries_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--failed", action="store_true", help="only the failed ones")
    parser.add_argument("--limit", type=int, default=100, metavar="N", help="the newest N")


async def _webhook_deliveries(svc: Services, args: argparse.Namespace, stdin: TextIO) -> Any:
    params = _params(wh.WebhookDeliveriesParams, failed=args.failed, limit=args.limit)
    return await webhooks.webhook_deliveries(svc, params)


async def _webhook_redeliver(svc: Services, args: argparse.Namespace, stdin: TextIO) -> Any:
    params = _params(wh.WebhookRedeliverParams, delivery_id=args.delivery_id)
    return await webhooks.webhook_redeliver(svc, params, CLI)


def _none(parser: argparse.ArgumentParser) -> None:
    pass


COMMANDS: tuple[Command, ...] = (
    Command(
        "list-accounts",
        "list_accounts",
        "accounts by status, with the height each has scanned to",
        _none,
        lambda svc, args, stdin: admin.list_accounts(svc),
        _show_accounts,
    ),
    Command(
        "list-requests",
        "list_requests",
        "pending create and import requests",
        _none,
        lambda svc, args, stdin: admin.list_requests(svc),
        _show_requests,
    ),
    Command(
        "accept-requests",
        "accept_requests",
        "accept pending requests (create: the account starts; import: it rescans)",
        _requests_arguments,
        _accept,
        _show_updated("accepted requests of"),
    ),
    Command(
        "reject-requests",
        "reject_requests",
        "drop pending requests",
        _requests_arguments,
        _reject,
        _show_updated("rejected requests of"),
    ),
    Command(
        "add-account",
        "add_account",
        "add an active account (view key from stdin or --view-key-file)",
        _add_arguments,
        _add,
        _show_updated("added"),
    ),
    Command(
        "modify-account-status",
        "modify_account_status",
        "active: scanned and served; inactive: served only; hidden: neither",
        _status_arguments,
        _status,
        _show_updated("changed the status of"),
    ),
    Command(
        "rescan",
        "rescan",
        "scan accounts again from HEIGHT",
        _rescan_arguments,
        _rescan,
        _show_updated("rescanning"),
    ),
    Command(
        "rollback",
        None,
        "forget the chain from HEIGHT up; the scanner fetches it again",
        lambda parser: parser.add_argument("height", type=_height, metavar="HEIGHT"),
        _rollback,
        lambda reply: f"rolled back: the chain is scanned again from height {reply.new_height}",
    ),
    Command(
        "delete-accounts",
        "delete_accounts",
        "delete accounts and everything stored of them (view keys included)",
        _addresses,
        _delete,
        _show_updated("deleted"),
    ),
    Command(
        "validate",
        "validate",
        "check that a view key (stdin or --view-key-file) belongs to ADDRESS",
        _validate_arguments,
        _validate,
        _show_validate,
        refused=lambda reply: reply.error is not None,
    ),
    Command(
        "create-admin-key",
        None,
        "make an admin API key (shown once, stored as a hash)",
        lambda parser: parser.add_argument("--name", default="", help="a label for people"),
        _create_key,
        _show_key,
    ),
    Command(
        "list-admin-keys",
        None,
        "admin keys: id, creation time, name (never the key)",
        _none,
        lambda svc, args, stdin: admin.list_admin_keys(svc),
        _show_keys,
    ),
    Command(
        "revoke-admin-key",
        None,
        "refuse an admin key from now on",
        lambda parser: parser.add_argument("id", type=_key_id, metavar="ID"),
        _revoke_key,
        lambda reply: f"revoked admin key {reply.revoked}",
    ),
    Command(
        "webhook-add",
        "webhook_add",
        "register a webhook (its signing secret is shown once)",
        _webhook_add_arguments,
        _webhook_add,
        _show_hook_added,
    ),
    Command(
        "webhook-list",
        "webhook_list",
        "registered webhooks (never their secrets)",
        _none,
        lambda svc, args, stdin: webhooks.webhook_list(svc),
        _show_hooks,
    ),
    Command(
        "webhook-delete",
        "webhook_delete",
        "delete every webhook of these accounts, with their pending deliveries",
        _addresses,
        _webhook_delete,
        lambda reply: "deleted the webhooks of the addresses given",
    ),
    Command(
        "webhook-delete-uuid",
        "webhook_delete_uuid",
        "delete webhooks by event id",
        lambda parser: parser.add_argument("event_ids", nargs="+", metavar="ID"),
        _webhook_delete_uuid,
        lambda reply: "deleted the webhooks with these event ids (unknown ids are ignored)",
    ),
    Command(
        "webhook-deliveries",
        "webhook_deliveries",
        "the newest deliveries (--failed: the failed ones) and the outbox's counts",
        _deliveries_arguments,
        _webhook_deliveries,
        _show_deliveries,
    ),
    Command(
        "webhook-redeliver",
        "webhook_redeliver",
        "send a failed (or delivered) delivery again, under the same delivery id",
        lambda parser: parser.add_argument("delivery_id", metavar="DELIVERY_ID"),
        _webhook_redeliver,
        lambda reply: (
            f"delivery {reply.delivery_id} is pending again ({reply.event} to {reply.url})"
        ),
    ),
)
BY_NAME = {command.name: command for command in COMMANDS}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="lws admin",
        description="Operate an lws store (safe while `lws serve` runs on it).",
    )
    top.add_argument("--config", metavar="FILE", help="the TOML file of `lws serve`")
    top.add_argument("--data-dir", metavar="DIR", help="where the store lives")
    top.add_argument(
        "--network",
        choices=["mainnet", "testnet", "stagenet", "regtest"],
        help="refuse a store of another network (default: the store's)",
    )
    top.add_argument(
        "--json", action="store_true", help="print the admin API's JSON reply instead of text"
    )
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.arguments(sub.add_parser(command.name, help=command.help))
    return top


# --- running ----------------------------------------------------------------------------------


def open_store(args: argparse.Namespace) -> tuple[Config, Store]:
    """The store of the configured data directory (never created here) and
    the configuration, whose network is the store's unless one was named."""
    overrides = {"data_dir": args.data_dir, "network": args.network}
    named = configured_network(args.config, overrides)
    config = load_config(args.config, overrides)
    store = Store.open(config.data_path / "store", network=named, create=False)
    try:
        if named is None:
            config = load_config(args.config, {**overrides, "network": store.network})
    except BaseException:
        store.close()
        raise
    return config, store


async def _run(command: Command, args: argparse.Namespace, stdin: TextIO) -> Any:
    config, store = open_store(args)
    daemon = Daemon(config.daemon_url or UNUSED_DAEMON_URL)
    try:
        return await command.run(Services(config, store, daemon), args, stdin)
    finally:
        await daemon.aclose()
        store.close()


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
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse: usage printed, or --help
        return EXIT_OK if exc.code == 0 else EXIT_USAGE
    logging.basicConfig(level=logging.WARNING, format="lws admin: %(message)s", stream=stderr)
    command = BY_NAME[args.command]
    try:
        reply = trio.run(_run, command, args, stdin)
    except LwsError as exc:
        print(f"lws admin: {_one_line(str(exc))}", file=stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        print("lws admin: interrupted", file=stderr)
        return EXIT_REFUSED
    if args.json:
        stdout.write(_ENCODE(reply).decode() + "\n")
    else:
        stdout.write(command.show(reply) + "\n")
    stdout.flush()
    return EXIT_REFUSED if command.refused(reply) else EXIT_OK


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "refused"


__all__ = ["BY_NAME", "COMMANDS", "main", "parser", "read_view_key"]
