# Owns the JSON of webhooks: the bodies lws POSTs to receivers, field for
# field and in monero-lws's order as its code writes them (src/db/data.cpp:
# amounts and heights as JSON integers, keys and hashes as lowercase hex,
# optional fields omitted), lws's own tx-reorg body, and the admin API's
# webhook params and replies (monero-lws's webhook_add / webhook_list /
# webhook_delete / webhook_delete_uuid, plus lws's delivery list and
# redelivery). Must not compute anything: lws.notify and lws.services fill
# them in.
"""Webhook bodies and the admin API's webhook messages."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from .fields import U32, U64, AddressText

#: monero-lws's webhook type names.
HookTypeName = Literal["tx-confirmation", "new-account", "tx-spend"]
#: Addresses one webhook_delete may name (the admin API's body limit bounds it too).
MAX_WEBHOOK_ADDRESSES = 1_000
#: Event ids one webhook_delete_uuid may name.
MAX_WEBHOOK_EVENT_IDS = 1_000
#: Deliveries one webhook_deliveries reply lists at most.
MAX_LISTED_DELIVERIES = 1_000
#: A hook URL and token at most (the store's own limits).
MAX_URL_LENGTH = 2048
MAX_TOKEN_LENGTH = 1024

#: 32 lowercase hex digits: an event id or a delivery id (monero-lws writes
#: its UUIDs as hex without dashes; either case is read).
Hex16 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-fA-F]{32}$")]


# -- bodies sent to receivers ------------------------------------------------------


class _Body(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Fields are sent in declaration order; a None default is left out (so
    no field that must always be sent has a default)."""


class OutputId(_Body, kw_only=True):
    """A global output id: ``high`` is the amount for pre-RingCT outputs, else 0."""

    high: int
    low: int


class AddressIndex(_Body, kw_only=True):
    maj_i: int
    min_i: int


class TxInfo(_Body, kw_only=True):
    """monero-lws's ``output`` (``id`` and ``block`` left out in the pool)."""

    id: OutputId | None = None
    block: int | None = None
    index: int
    amount: int
    timestamp: int
    tx_hash: str
    tx_prefix_hash: str
    tx_public: str
    rct_mask: str | None = None  # RingCT outputs only
    payment_id: str | None = None  # 16 hex (short, decrypted) or 64 hex (long)
    unlock_time: int
    mixin_count: int
    coinbase: bool
    fee: int
    recipient: AddressIndex
    pub: str


class ConfirmationBody(_Body, kw_only=True):
    event: Literal["tx-confirmation"]
    payment_id: str
    token: str
    confirmations: int
    event_id: str
    tx_info: TxInfo


class ReorgBody(_Body, kw_only=True):
    """lws's own: a reorg dropped a transaction this hook was told about at
    ``height``; ``tx_info`` is as it was sent then."""

    event: Literal["tx-reorg"]
    payment_id: str
    token: str
    event_id: str
    height: int
    tx_info: TxInfo


class SpendInput(_Body, kw_only=True):
    """monero-lws's ``spend``."""

    height: int
    tx_hash: str
    image: str
    source: OutputId
    timestamp: int
    unlock_time: int
    mixin_count: int
    payment_id: str | None = None  # 64 hex, a long unencrypted id only
    sender: AddressIndex


class SpendSource(_Body, kw_only=True):
    """monero-lws's ``spend_meta`` of the spent output (``mixin``, not ``mixin_count``)."""

    id: OutputId
    amount: int
    mixin: int
    index: int
    tx_public: str


class SpendInfo(_Body, kw_only=True):
    input: SpendInput
    source: SpendSource


class SpendBody(_Body, kw_only=True):
    event: Literal["tx-spend"]
    token: str
    event_id: str
    tx_info: SpendInfo


class NewAccountBody(_Body, kw_only=True):
    """monero-lws's code writes no ``event`` key here."""

    event_id: str
    token: str
    address: str


# -- admin API ---------------------------------------------------------------------


class WebhookAddParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    type: HookTypeName
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_URL_LENGTH)]
    token: Annotated[str, msgspec.Meta(max_length=MAX_TOKEN_LENGTH)] = ""
    address: AddressText | None = None
    #: 16 hex digits, or "any"; absent: payments without a payment id.
    payment_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    confirmations: U32 = 1


class WebhookValue(msgspec.Struct, kw_only=True):
    """monero-lws's webhook value, in its order."""

    payment_id: str
    event_id: str
    token: str
    confirmations: int
    url: str


class WebhookAddReply(WebhookValue, kw_only=True):
    """The value plus the signing secret, shown this once."""

    secret: str


class WebhookKey(msgspec.Struct, kw_only=True):
    user: int  # the account id; 4294967295 for new-account hooks
    type: HookTypeName


class WebhookGroup(msgspec.Struct, kw_only=True):
    key: WebhookKey
    value: list[WebhookValue]


class WebhookListReply(msgspec.Struct, kw_only=True):
    webhooks: list[WebhookGroup]


class WebhookDeleteParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    addresses: Annotated[list[AddressText], msgspec.Meta(max_length=MAX_WEBHOOK_ADDRESSES)]


class WebhookDeleteUuidParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    event_ids: Annotated[list[Hex16], msgspec.Meta(max_length=MAX_WEBHOOK_EVENT_IDS)]


class EmptyReply(msgspec.Struct):
    """``{}``, as monero-lws answers webhook_delete and webhook_delete_uuid."""


class WebhookDeliveriesParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: Only the failed deliveries (the ones to look at, and redeliver).
    failed: bool = False
    #: The newest ``limit`` deliveries.
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_LISTED_DELIVERIES)] = 100


class DeliveryInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    delivery_id: str  # the X-Lws-Delivery header
    event_id: str  # the hook's
    event: str  # tx-confirmation, tx-spend, new-account, tx-reorg
    url: str
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    created: int  # unix seconds
    updated: int
    confirmations: int | None = None
    tx_hash: str | None = None
    next_attempt: int | None = None  # unix seconds; pending only
    last_status: int | None = None  # HTTP status of the last attempt
    last_error: str | None = None
    redeliveries: int = 0


class OutboxStats(msgspec.Struct, kw_only=True):
    """The outbox at a glance (the metric of its limit)."""

    hooks: int
    entries: int
    limit: int
    pending: int
    delivered: int
    failed: int
    #: Events not recorded because the outbox was full (since the store began).
    dropped_events: U64


class WebhookDeliveriesReply(msgspec.Struct, kw_only=True):
    deliveries: list[DeliveryInfo]
    outbox: OutboxStats


class WebhookRedeliverParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    delivery_id: Hex16
