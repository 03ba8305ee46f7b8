# Owns the reads only the operator console needs: the account search (by
# address prefix and status, at most a page of rows, with the count of all
# matches) and whether a signed-in console session's admin key is still
# live, and the registered webhooks with their accounts' addresses.
# Everything that changes something goes through services/admin.py and
# services/webhooks.py (the same commands as the admin API and `lws admin`).
# Must not know HTTP.
"""The console's own reads."""

from __future__ import annotations

import msgspec

from lws.store import NO_ACCOUNT, AccountStatus, Reader
from lws.wire.console import AccountRow, AccountSearch, HookRow

from . import storeio, webhooks
from .access import last_access
from .context import Services
from .health import STATUS_NAMES

#: Rows one search page shows: a table a person reads; past it they narrow
#: the search (the total is shown).
SEARCH_ROWS = 200
#: The longest prefix worth searching with (an address is 95 characters;
#: integrated ones 106).
MAX_PREFIX = 110


async def search_accounts(
    svc: Services, prefix: str, status: AccountStatus | None, limit: int = SEARCH_ROWS
) -> AccountSearch:
    """Accounts whose address starts with ``prefix`` (of ``status``), in id order."""
    prefix = prefix.strip()[:MAX_PREFIX]

    def read(reader: Reader) -> AccountSearch:
        rows: list[AccountRow] = []
        total = 0
        for _, record in reader.accounts(status):
            if not record.address.startswith(prefix):
                continue
            total += 1
            if len(rows) < limit:
                rows.append(
                    AccountRow(
                        address=record.address,
                        status=STATUS_NAMES[record.status],
                        scan_height=record.scan_height,
                        created=record.created,
                    )
                )
        return AccountSearch(total=total, rows=rows)

    found = await storeio.read(svc.store, read)
    accessed = await last_access(svc.config.data_path, (row.address for row in found.rows))
    rows = [
        msgspec.structs.replace(row, last_access=accessed.get(row.address)) for row in found.rows
    ]
    return AccountSearch(total=found.total, rows=rows)


async def key_alive(svc: Services, key_id: int) -> bool:
    """Whether admin key ``key_id`` is still live (a revoked key ends its sessions)."""
    return await storeio.read(svc.store, lambda reader: reader.admin_key(key_id) is not None)


async def hook_rows(svc: Services) -> list[HookRow]:
    """Every registered webhook (webhook_list), with its account's address."""
    listed = await webhooks.webhook_list(svc)
    users = {group.key.user for group in listed.webhooks} - {NO_ACCOUNT}

    def addresses(reader: Reader) -> dict[int, str]:
        found = {}
        for account_id in users:
            record = reader.account(account_id)
            if record is not None:
                found[account_id] = record.address
        return found

    known = await storeio.read(svc.store, addresses)
    return [
        HookRow(
            type=group.key.type,
            address=known.get(group.key.user, ""),
            url=value.url,
            payment_id=value.payment_id,
            confirmations=value.confirmations,
            event_id=value.event_id,
        )
        for group in listed.webhooks
        for value in group.value
    ]
