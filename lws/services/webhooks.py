# Owns what an operator does with webhooks, for the admin API and the CLI:
# register a hook (monero-lws's webhook_add params, checked: an http(s) URL,
# an existing account, a payment id or "any", confirmations in range; the
# event id and signing secret made here), list and delete hooks as
# monero-lws does, and list and redeliver deliveries. Each call is one read
# snapshot or one write transaction; a call that changes something writes
# the operator's audit line (services.admin's). Must not know HTTP or argv,
# and never shows or logs a hook's secret after webhook_add returns it.
"""webhook_add, webhook_list, webhook_delete, webhook_delete_uuid,
webhook_deliveries, webhook_redeliver."""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Final
from urllib.parse import urlsplit

import msgspec

from lws.errors import ClientError
from lws.monero.address import AddressKind, decode_address
from lws.monero.errors import MoneroFormatError
from lws.store import (
    NO_ACCOUNT,
    ConfirmationEvent,
    DeliveryRecord,
    DeliveryState,
    HookRecord,
    HookType,
    Reader,
    ReorgEvent,
    SpendEvent,
    UnknownAccount,
    Writer,
)
from lws.store.schema import MAX_CONFIRMATIONS
from lws.wire.webhooks import (
    DeliveryInfo,
    EmptyReply,
    OutboxStats,
    WebhookAddParams,
    WebhookAddReply,
    WebhookDeleteParams,
    WebhookDeleteUuidParams,
    WebhookDeliveriesParams,
    WebhookDeliveriesReply,
    WebhookGroup,
    WebhookKey,
    WebhookListReply,
    WebhookRedeliverParams,
    WebhookValue,
)

from . import storeio
from .admin import Caller
from .admin import _audit as audit  # the one audit line of operator commands
from .context import Services

TYPE_NAMES: Final = {
    HookType.TX_CONFIRMATION: "tx-confirmation",
    HookType.NEW_ACCOUNT: "new-account",
    HookType.TX_SPEND: "tx-spend",
}
TYPES: Final = {name: hook_type for hook_type, name in TYPE_NAMES.items()}
STATE_NAMES: Final = {
    DeliveryState.PENDING: "pending",
    DeliveryState.DELIVERED: "delivered",
    DeliveryState.FAILED: "failed",
}
#: The payment_id param that matches every payment (monero-lws documents an
#: empty one for that, but its code has no wildcard).
ANY_PAYMENT_ID: Final = "any"
#: Bytes of the signing secret (shown as 64 hex digits).
SECRET_BYTES: Final = 32


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a bad port
    except ValueError:
        port = -1
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or port == -1
        or any(c.isspace() for c in url)
    ):
        raise ClientError("url must be an http:// or https:// URL with a host")


def _payment_id(text: str | None) -> bytes | None:
    if text is None:
        return bytes(8)
    if text == ANY_PAYMENT_ID:
        return None
    if len(text) != 16:
        raise ClientError('payment_id must be 16 hex digits or "any"')
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ClientError('payment_id must be 16 hex digits or "any"') from None


def _account_address(svc: Services, address: str) -> str:
    try:
        decoded = decode_address(address, svc.address_network)
    except MoneroFormatError as exc:
        raise ClientError(f"Invalid address: {exc}") from None
    if decoded.kind is not AddressKind.STANDARD:
        raise ClientError(f"Invalid address: a {decoded.kind.value} address is not an account")
    return address


def payment_id_text(payment_id: bytes | None) -> str:
    return ANY_PAYMENT_ID if payment_id is None else payment_id.hex()


def webhook_value(hook: HookRecord) -> WebhookValue:
    return WebhookValue(
        payment_id=payment_id_text(hook.payment_id),
        event_id=hook.event_id.hex(),
        token=hook.token,
        confirmations=hook.confirmations,
        url=hook.url,
    )


async def webhook_add(svc: Services, params: WebhookAddParams, caller: Caller) -> WebhookAddReply:
    hook_type = TYPES[params.type]
    _check_url(params.url)
    payment_id = _payment_id(params.payment_id)
    if not 0 <= params.confirmations <= MAX_CONFIRMATIONS:
        raise ClientError(f"confirmations must be between 0 and {MAX_CONFIRMATIONS}")
    if hook_type == HookType.NEW_ACCOUNT:
        if params.address is not None:
            raise ClientError("a new-account hook takes no address")
        address = None
    else:
        if params.address is None:
            raise ClientError(f"a {params.type} hook needs the address of an account")
        address = _account_address(svc, params.address)
    event_id = uuid.uuid4().bytes
    secret = secrets.token_hex(SECRET_BYTES)

    def add(writer: Writer) -> None:
        account_id = NO_ACCOUNT
        if address is not None:
            found = writer.account_id(address)
            if found is None:
                raise ClientError("unknown address: no account has it")
            account_id = found
        try:
            writer.add_hook(
                HookRecord(
                    type=hook_type,
                    account_id=account_id,
                    event_id=event_id,
                    url=params.url,
                    token=params.token,
                    payment_id=payment_id,
                    confirmations=params.confirmations,
                    secret=secret,
                    created=int(time.time()),
                )
            )
        except UnknownAccount:
            raise ClientError("unknown address: no account has it") from None

    await storeio.write(svc.store, add)
    audit(
        caller,
        "webhook_add",
        f"{params.type} {event_id.hex()} {urlsplit(params.url).hostname}",
        [address] if address is not None else [],
    )
    return WebhookAddReply(
        payment_id=payment_id_text(payment_id),
        event_id=event_id.hex(),
        token=params.token,
        confirmations=params.confirmations,
        url=params.url,
        secret=secret,
    )


async def webhook_list(svc: Services) -> WebhookListReply:
    hooks = await storeio.read(svc.store, lambda reader: reader.hooks())
    groups: list[WebhookGroup] = []
    for _, hook in hooks:
        key = WebhookKey(user=hook.account_id, type=TYPE_NAMES[hook.type])  # type: ignore[arg-type]
        if not groups or groups[-1].key != key:
            groups.append(WebhookGroup(key=key, value=[]))
        groups[-1].value.append(webhook_value(hook))
    return WebhookListReply(webhooks=groups)


async def webhook_delete(svc: Services, params: WebhookDeleteParams, caller: Caller) -> EmptyReply:
    """Every hook (all types) of the accounts; an unknown address refuses all."""
    addresses = [_account_address(svc, address) for address in params.addresses]

    def delete(writer: Writer) -> None:
        ids = []
        for address in addresses:
            found = writer.account_id(address)
            if found is None:
                raise ClientError(f"unknown address: {address}")
            ids.append(found)
        for account_id in ids:
            writer.delete_account_hooks(account_id)

    await storeio.write(svc.store, delete)
    audit(caller, "webhook_delete", "", addresses)
    return EmptyReply()


async def webhook_delete_uuid(
    svc: Services, params: WebhookDeleteUuidParams, caller: Caller
) -> EmptyReply:
    """The hooks with these event ids, of any type; unknown ids are ignored."""
    wanted = {bytes.fromhex(text) for text in params.event_ids}

    def delete(writer: Writer) -> int:
        keys = [key for key, hook in writer.hooks() if hook.event_id in wanted]
        return writer.delete_hooks(keys) if keys else 0

    deleted = await storeio.write(svc.store, delete)
    audit(caller, "webhook_delete_uuid", f"{deleted} of " + " ".join(sorted(params.event_ids)))
    return EmptyReply()


class _StateView(msgspec.Struct, array_like=True, frozen=True):
    """The fields of a DeliveryRecord a count needs (its event left raw)."""

    hook: bytes
    event: msgspec.Raw
    created: int
    state: int


_STATE_DECODER: Final = msgspec.msgpack.Decoder(_StateView)


def _info(
    reader: Reader, seq: int, record: DeliveryRecord, hooks: dict[bytes, HookRecord]
) -> DeliveryInfo:
    hook = hooks.get(record.hook)
    event = record.event
    confirmations = event.confirmations if isinstance(event, ConfirmationEvent) else None
    tx_hash = None
    if isinstance(event, (ConfirmationEvent, ReorgEvent)):
        tx_hash = event.output.tx_hash.hex()
    elif isinstance(event, SpendEvent):
        tx_hash = event.spend.tx_hash.hex()
    pending = record.state == DeliveryState.PENDING
    return DeliveryInfo(
        delivery_id=reader.delivery_id(seq).hex(),
        event_id=hook.event_id.hex() if hook is not None else "",
        event=event.name,
        url=hook.url if hook is not None else "",
        state=STATE_NAMES[record.state],  # type: ignore[arg-type]
        attempts=record.attempts,
        created=record.created,
        updated=record.updated,
        confirmations=confirmations,
        tx_hash=tx_hash,
        next_attempt=int(record.next_attempt) if pending and record.attempts else None,
        last_status=record.last_status or None,
        last_error=record.last_error or None,
        redeliveries=record.redeliveries,
    )


def _deliveries(reader: Reader, params: WebhookDeliveriesParams) -> WebhookDeliveriesReply:
    wanted = DeliveryState.FAILED if params.failed else None
    hooks = dict(reader.hooks())
    newest: list[DeliveryInfo] = []
    for seq, record in reader.deliveries_newest_first(wanted):
        newest.append(_info(reader, seq, record, hooks))
        if len(newest) >= params.limit:
            break
    return WebhookDeliveriesReply(deliveries=newest, outbox=outbox_stats(reader))


def outbox_stats(reader: Reader) -> OutboxStats:
    """The outbox's counts: hooks, records by state, its limit, dropped events."""
    counts = {state: 0 for state in DeliveryState}
    for raw in reader.delivery_values():
        counts[DeliveryState(_STATE_DECODER.decode(raw).state)] += 1
    info = reader.outbox_info()
    return OutboxStats(
        hooks=info.hooks,
        entries=info.entries,
        limit=info.limit,
        pending=counts[DeliveryState.PENDING],
        delivered=counts[DeliveryState.DELIVERED],
        failed=counts[DeliveryState.FAILED],
        dropped_events=info.dropped_events,
    )


async def webhook_deliveries(
    svc: Services, params: WebhookDeliveriesParams
) -> WebhookDeliveriesReply:
    """The newest deliveries (or failed ones), newest first, and the outbox's counts."""
    return await storeio.read(svc.store, lambda reader: _deliveries(reader, params))


async def webhook_redeliver(
    svc: Services, params: WebhookRedeliverParams, caller: Caller
) -> DeliveryInfo:
    """Send a failed (or delivered) delivery again, with the same delivery id."""
    delivery_id = bytes.fromhex(params.delivery_id)

    def redeliver(writer: Writer) -> DeliveryInfo:
        seq = writer.seq_of(delivery_id)
        if seq is None or writer.delivery(seq) is None:
            raise ClientError("unknown delivery id")
        record = writer.redeliver(seq)
        return _info(writer, seq, record, dict(writer.hooks()))

    info = await storeio.write(svc.store, redeliver)
    audit(caller, "webhook_redeliver", params.delivery_id.lower())
    return info
