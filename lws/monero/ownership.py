# Owns the batched answer to "which outputs of these transactions belong to
# which of these accounts", with wallet2's semantics and two fast paths:
# every derivation exact from the C extension (_derivations.c), or, where it
# is not built, X25519 ladders with view tags on both sign candidates and an
# exact re-check of every hit.
# Must not decode amounts, parse transactions, or know about storage; the
# exact math it falls back on lives in derivation.py.
"""Find the outputs that belong to a set of accounts, fast and exactly.

:func:`find_owned_outputs` returns what wallet2 (``process_new_transaction``
and ``is_out_to_acc_precomp``) finds; :func:`find_owned_outputs_reference`
is the same thing computed the slow, obvious way from :mod:`.derivation`,
and the two agree on every input.

wallet2's rules, as reproduced here:

* A transaction without a main tx public key yields nothing.
* Output ``i`` tries, in order: the first main key ``R_1``, the additional
  key ``R'_i`` (if ``i < len(additional_pubkeys)``), then ``R_2, R_3, ...``;
  the first source whose derivation matches wins.
* A key that fails to decode (including a key of the wrong length) gets the
  identity encoding as its derivation, exactly like wallet2's fallback;
  a small-order key derives the identity too.
* An output with a view tag is only considered when
  ``derive_view_tag(D, i)`` equals it; then ``P - Hs(D || i) G`` must be
  one of the account's spend keys.

Nothing here raises on hostile bytes: bad keys and outputs are simply not
owned by anybody.

How it is fast, with the C extension (``_derivations``, built by setup.py):
all derivations of the call, (tx key, account) by (tx key, account), come
exact from one C call (a comb table per key when several accounts share it,
a Montgomery ladder with y recovery otherwise; ladders 8 at a time with
AVX-512 IFMA); each output with a view tag then costs one view-tag hash
per account, and only a tag hit looks up the spend key.  An output without
a view tag (v1 and pre-v15 RingCT, most of mainnet's history) needs
``P - Hs(D || i) G`` per account: C computes it for all such outputs of the
call, one account at a time (``subaddress_keys``; each ``P`` decoded once
by ``prepare_outputs``), and Python only looks the result up.  The spend
keys of the identity derivation are then made only for transactions with
a key that derives the identity.

Without it: an X25519 ladder (OpenSSL's or libsodium's, see
:mod:`.x25519`) on ``u(R)`` with the scalar written as ``8a`` (or
``8(l - a)``) in X25519's clamped form gives
``u(8aR)`` even when ``R`` has a torsion component; the Edwards ``y`` of the
derivation is ``(u - 1)/(u + 1)`` (inversions batched over the whole call),
and both sign candidates go through the view tag and, on a tag hit, the
spend-key lookup.  Only a (transaction, account) pair with a lookup hit is
re-scanned with the exact derivation, so the result is exactly the
reference's.  Accounts whose view scalar has no clamped form (a negligible
range) use the exact derivation throughout.

Why the filter never misses: for every (key, account) the candidates
contain monero's derivation (with the C extension, they are it).  On the
X25519 path, a key that decodes and is not of small order gives
``8aR = (x, y)`` with ``y`` computed here and both signs tried; a
small-order key (or a twist point) makes the ladder refuse or return 0, and
that key is derived exactly; a key that does not decode derives the
identity, whose view tags and spend keys are checked per output for all
accounts at once.  The spend-key lookup uses libsodium's subtraction, which
accepts every point monero accepts (and some it rejects: those hits are
weeded out by the exact re-scan).

Not modelled: wallet2's coinbase shortcuts (``RefreshOptimizeCoinbase``
only looks past output 0 of a miner tx when output 0 is owned;
``RefreshNoCoinbase``); those are the caller's policy.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from msgspec import Struct
from nacl import bindings as _sodium
from nacl.exceptions import CryptoError

from .derivation import (
    KEY_SIZE,
    VIEW_TAG_SALT,
    derivation_to_scalar,
    derive_subaddress_public_key,
    derive_view_tag,
    effective_view_scalar,
    generate_key_derivation,
    monero_accepts_encoding,
    mul8_public_key,
    scalarmult_torsion_free,
)
from .ed25519 import IDENTITY, L, P, base_mul, batch_invert, scalar_reduce
from .errors import MoneroFormatError
from .hashing import keccak256, keccak_256
from .varint import encode_varint
from .x25519 import current_backend

#: Exact derivations for many keys and accounts by the C extension built with
#: the package (setup.py), or None where it could not be built.
_native_derivations: Callable[[bytes, bytes], bytes] | None
try:
    from ._derivations import derivations as _native_derivations
    from ._derivations import prepare_outputs as _native_prepare_outputs
    from ._derivations import subaddress_keys as _native_subaddress_keys
except ImportError:  # pragma: no cover - only without a C compiler
    _native_derivations = None

__all__ = [
    "OwnedOutput",
    "SubaddressIndex",
    "TxKeys",
    "ViewKey",
    "find_owned_outputs",
    "find_owned_outputs_reference",
    "make_view_key",
    "uses_x25519_ladders",
    "x25519_view_scalar",
]

#: (major, minor) of a subaddress; (0, 0) is the main address.
SubaddressIndex = tuple[int, int]


class ViewKey(Struct, frozen=True):
    """An account as the scanner sees it.  Build it with :func:`make_view_key`."""

    view_secret: bytes
    spend_public: bytes
    #: Every spend public key the account answers to (main address and
    #: generated subaddresses) -> its (major, minor); includes spend_public.
    spend_keys: Mapping[bytes, SubaddressIndex]
    #: The view scalar, mod l, as monero's ge_scalarmult uses it.
    scalar: int
    #: ``8a`` or ``8(l - a)`` in X25519's clamped form; None when neither fits.
    x25519_scalar: bytes | None


class OwnedOutput(Struct, frozen=True, gc=False):
    output_index: int
    #: The key that derived it: a main tx public key or the additional one.
    tx_pubkey: bytes
    derivation: bytes
    #: Hs(derivation || varint(output_index)).
    scalar: bytes
    subaddress: SubaddressIndex
    output_key: bytes


class TxKeys(Struct, frozen=True, gc=False):
    """What ownership needs from one transaction."""

    #: Main tx public keys in extra order (wallet2 tries each).
    tx_pubkeys: tuple[bytes, ...]
    #: Additional public keys, one per output (may be empty).
    additional_pubkeys: tuple[bytes, ...]
    #: (output public key, view tag or None) per output, in output order.
    outputs: tuple[tuple[bytes, int | None], ...]


def uses_x25519_ladders() -> bool:
    """Whether scans take the X25519 path (the C extension is not built here)."""
    return _native_derivations is None


def x25519_view_scalar(scalar: int) -> bytes | None:
    """``8a`` or ``8(l - a)`` as a clamped X25519 scalar, or None.

    X25519 clamps to ``2**254 + 8m`` with ``m < 2**251``; ``8a`` fits when
    ``2**251 <= a < 2**252``, and ``8(l - a)`` (same u-coordinate result)
    covers most of the rest.  Both are multiples of 8, so the ladder clears
    any torsion of ``R``, as monero's ``ge_mul8`` does.
    """
    scalar %= L
    for candidate in (scalar, (L - scalar) % L):
        if 1 << 251 <= candidate < 1 << 252:
            return (8 * candidate).to_bytes(KEY_SIZE, "little")
    return None


def make_view_key(
    view_secret: bytes,
    spend_public: bytes,
    spend_keys: Mapping[bytes, SubaddressIndex] | None = None,
) -> ViewKey:
    """A :class:`ViewKey` with its precomputed scalars.

    ``spend_keys`` maps subaddress spend public keys to their indexes;
    ``spend_public`` is added as (0, 0) when missing.  Raises
    :class:`MoneroFormatError` for keys that are not 32 bytes.
    """
    view_secret = bytes(view_secret)
    spend_public = bytes(spend_public)
    if len(spend_public) != KEY_SIZE:
        raise MoneroFormatError("spend public key must be 32 bytes")
    keys: dict[bytes, SubaddressIndex] = {}
    for key, index in (spend_keys or {}).items():
        if len(key) != KEY_SIZE:
            raise MoneroFormatError("subaddress spend key must be 32 bytes")
        keys[bytes(key)] = (int(index[0]), int(index[1]))
    keys.setdefault(spend_public, (0, 0))
    scalar = effective_view_scalar(view_secret)
    return ViewKey(
        view_secret=view_secret,
        spend_public=spend_public,
        spend_keys=keys,
        scalar=scalar,
        x25519_scalar=x25519_view_scalar(scalar),
    )


# --- the exact path ---------------------------------------------------------


def _exact_scan(
    tx: TxKeys,
    account: ViewKey,
    derive: Callable[[bytes], bytes],
    may_match: Callable[[bytes, int, bytes, int | None], bool] | None = None,
    subaddress_key: Callable[[bytes, bytes, int], bytes | None] = derive_subaddress_public_key,
) -> list[OwnedOutput]:
    """wallet2's scan of one transaction for one account, given exact derivations.

    ``derive(R)`` must return monero's derivation of ``R`` with wallet2's
    identity fallback for keys that do not decode. ``may_match(R, index,
    output key, view tag)``, when given, must be True whenever ``R`` can
    derive that output; sources it rules out are not derived.
    ``subaddress_key`` must compute what ``derive_subaddress_public_key``
    does (the fast path passes a memo of the filter's own results).
    """
    mains = tx.tx_pubkeys
    if not mains:
        return []
    additional = tx.additional_pubkeys
    spend_keys = account.spend_keys
    found: list[OwnedOutput] = []
    for index, (output_key, view_tag) in enumerate(tx.outputs):
        sources = [mains[0]]
        if index < len(additional):
            sources.append(additional[index])
        sources.extend(mains[1:])
        for source in sources:
            if may_match is not None and not may_match(source, index, output_key, view_tag):
                continue
            derivation = derive(source)
            if view_tag is not None and derive_view_tag(derivation, index) != view_tag:
                continue
            spend_key = subaddress_key(output_key, derivation, index)
            if spend_key is None:
                break  # the output key does not decode: nothing can own it
            subaddress = spend_keys.get(spend_key)
            if subaddress is not None:
                found.append(
                    OwnedOutput(
                        output_index=index,
                        tx_pubkey=source,
                        derivation=derivation,
                        scalar=derivation_to_scalar(derivation, index),
                        subaddress=subaddress,
                        output_key=output_key,
                    )
                )
                break
    return found


def find_owned_outputs_reference(
    txs: Sequence[TxKeys], accounts: Sequence[ViewKey]
) -> list[list[list[OwnedOutput]]]:
    """The slow, obviously-wallet2 version of :func:`find_owned_outputs`."""
    results: list[list[list[OwnedOutput]]] = []
    for tx in txs:
        row: list[list[OwnedOutput]] = []
        for account in accounts:

            def derive(key: bytes, account: ViewKey = account) -> bytes:
                return generate_key_derivation(key, account.view_secret) or IDENTITY

            row.append(_exact_scan(tx, account, derive))
        results.append(row)
    return results


# --- the fast path ----------------------------------------------------------

_MASK_255 = (1 << 255) - 1
_HIGH_BIT = 1 << 255
_P_MINUS_1 = P - 1

#: A key slot, the outputs it may derive (output key, view tag), the
#: varints of their indexes (zip stops at the outputs), and on the C path,
#: when some of these outputs have no view tag, each output's job number in
#: the call's subaddress_keys jobs (-1 for a tagged output), else None.
_Group = tuple[int, Sequence[tuple[bytes, int | None]], Sequence[bytes], Sequence[int] | None]
#: Per tx: its groups, and the spend keys the identity derivation gives.
_Plan = tuple[list[_Group], list[bytes]]


class _Hash(Protocol):
    def digest(self) -> bytes: ...


#: The hot loop calls the C object directly: one Python frame less per hash.
_keccak: Callable[[bytes], _Hash] = keccak_256

#: Output indexes below this get precomputed varints and identity view tags.
_TABLE_SIZE = 256
_VARINTS = tuple(encode_varint(i) for i in range(_TABLE_SIZE))
_IDENTITY_VIEW_TAGS = tuple(derive_view_tag(IDENTITY, i) for i in range(_TABLE_SIZE))


#: A subaddress_keys job: key slot, output index (u32 little-endian each).
_JOB = struct.Struct("<II")


def has_untagged(outputs: Sequence[tuple[bytes, int | None]]) -> bool:
    """Whether any output lacks a view tag (v1 and pre-v15 RingCT outputs)."""
    for _, view_tag in outputs:
        if view_tag is None:
            return True
    return False


def _varint_of(index: int) -> bytes:
    """``varint(index)``, from the table for the usual small indexes."""
    return _VARINTS[index] if index < _TABLE_SIZE else encode_varint(index)


def _spend_key_for(output_key: bytes, derivation: bytes, varint: bytes) -> bytes | None:
    """``P - Hs(D || i) G`` by libsodium, which accepts every point monero does (and more)."""
    scalar = scalar_reduce(keccak256(derivation + varint))
    try:
        return _sodium.crypto_core_ed25519_sub(output_key, base_mul(scalar))
    except CryptoError:
        return None


def find_owned_outputs(
    txs: Sequence[TxKeys], accounts: Sequence[ViewKey]
) -> list[list[list[OwnedOutput]]]:
    """``[tx][account] -> owned outputs`` (by output index); wallet2's answer.

    Equal to :func:`find_owned_outputs_reference` for every input; never
    raises on hostile keys or outputs.  Batch many transactions and accounts
    into one call: field inversions are shared by the whole batch.
    """
    n_accounts = len(accounts)
    results: list[list[list[OwnedOutput]]] = [[[] for _ in range(n_accounts)] for _ in txs]
    if n_accounts == 0:
        return results
    native = _native_derivations

    # 1. Every distinct key that may derive something (a slot).  Per tx, a
    #    plan: which key (slot) is checked against which outputs, and the
    #    spend keys the identity derivation would give (the same for every
    #    account).
    slot_of: dict[bytes, int] = {}
    slot_keys: list[bytes] = []
    plans: list[_Plan | None] = []
    # On the C path, an output without a view tag is checked against every
    # account by subaddress_keys (P - Hs(D || i) G in C, no Python point
    # math): one job per (key slot, such output), its key decoded once.
    job_records: list[bytes] = []
    job_output_keys: list[bytes] = []
    # Per tx with outputs without a view tag, on the C path: its identity
    # spend keys (to complete), key slots, outputs and their varints.
    deferred_identity: list[
        tuple[list[bytes], list[int], Sequence[tuple[bytes, int | None]], Sequence[bytes]]
    ] = []

    def untagged_jobs(
        slot: int, outputs: Sequence[tuple[bytes, int | None]], start: int, end: int
    ) -> list[int]:
        numbers: list[int] = []
        for index in range(start, end):
            output_key, view_tag = outputs[index]
            if view_tag is not None or len(output_key) != KEY_SIZE:
                numbers.append(-1)  # tagged, or nobody owns it
                continue
            numbers.append(len(job_records))
            job_records.append(_JOB.pack(slot, index))
            job_output_keys.append(output_key)
        return numbers

    for tx in txs:
        mains = tx.tx_pubkeys
        outputs = tx.outputs
        n_outputs = len(outputs)
        if not mains or n_outputs == 0:
            plans.append(None)
            continue
        additional = tx.additional_pubkeys
        n_additional = min(len(additional), n_outputs)
        slots: list[int] = []
        for key in (*mains, *additional[:n_additional]):
            slot = slot_of.get(key)
            if slot is None:
                slot = len(slot_keys)
                slot_of[key] = slot
                slot_keys.append(key)
            slots.append(slot)
        if n_outputs <= _TABLE_SIZE:
            varints: Sequence[bytes] = _VARINTS
            identity_tags: Sequence[int] = _IDENTITY_VIEW_TAGS
        else:  # more outputs than any valid tx has; still handled
            varints = [encode_varint(i) for i in range(n_outputs)]
            identity_tags = [derive_view_tag(IDENTITY, i) for i in range(n_outputs)]
        identity_keys: list[bytes] = []
        deferred = False
        for (output_key, view_tag), identity_tag, varint in zip(
            outputs, identity_tags, varints, strict=False
        ):
            if view_tag is None and native is not None:
                # A spend key per output without a view tag costs as much
                # as a derivation: on the C path it is only made when the
                # table shows a key of this tx deriving the identity.
                deferred = True
            elif (view_tag is None or view_tag == identity_tag) and len(output_key) == KEY_SIZE:
                spend_key = _spend_key_for(output_key, IDENTITY, varint)
                if spend_key is not None:
                    identity_keys.append(spend_key)
        if deferred:
            deferred_identity.append((identity_keys, slots, outputs, varints))
        n_mains = len(mains)
        # (slot, first output, end): an additional key checks its own
        # output; a main key, all of them.
        spans = [(slots[n_mains + i], i, i + 1) for i in range(n_additional)]
        spans.extend((slot, 0, n_outputs) for slot in slots[:n_mains])
        groups: list[_Group]
        if n_additional == 0 and n_mains == 1:  # the usual tx
            groups = [(slots[0], outputs, varints, None)]
        else:
            groups = [
                (slot, outputs[start:end], varints[start:end], None) for slot, start, end in spans
            ]
        if native is not None and has_untagged(outputs):
            groups = [
                (group[0], group[1], group[2], untagged_jobs(slot, outputs, start, end))
                for group, (slot, start, end) in zip(groups, spans, strict=True)
            ]
        plans.append((groups, identity_keys))
    # 2-3. Per account and key slot, the candidate derivations: exact ones
    #      from the C extension, or X25519's two sign candidates.
    untagged_keys: Callable[[int], bytes] | None = None
    if native is not None:
        candidates, exact, is_exact, table = _native_candidates(native, slot_keys, accounts)
        if deferred_identity:
            identity_slots = _identity_slots(table, n_accounts)
            for identity_keys, tx_slots, tx_outputs, tx_varints in deferred_identity:
                if identity_slots.isdisjoint(tx_slots):
                    continue
                for (output_key, view_tag), varint in zip(tx_outputs, tx_varints, strict=False):
                    if view_tag is None and len(output_key) == KEY_SIZE:
                        spend_key = _spend_key_for(output_key, IDENTITY, varint)
                        if spend_key is not None:
                            identity_keys.append(spend_key)
        if job_records:
            jobs = b"".join(job_records)
            prepared = _native_prepare_outputs(b"".join(job_output_keys))

            def untagged_keys(position: int) -> bytes:
                return _native_subaddress_keys(table, n_accounts, position, jobs, prepared)

    else:
        candidates, exact, is_exact = _x25519_candidates(slot_keys, accounts)

    # 4. Filter each (tx, account) pair; re-scan exactly the rare pairs
    #    where a candidate passes the view tag and the spend-key lookup.
    #    A spend key (a base multiplication and a subtraction) is computed
    #    once per (output, derivation): the exact re-scan of a hit asks for
    #    the very ones its filter computed.
    spend_key_memo: dict[tuple[bytes, bytes, bytes], bytes | None] = {}

    def spend_key_of(output_key: bytes, derivation: bytes, varint: bytes) -> bytes | None:
        memo_key = (output_key, derivation, varint)
        if memo_key in spend_key_memo:
            return spend_key_memo[memo_key]
        spend_key = spend_key_memo[memo_key] = _spend_key_for(output_key, derivation, varint)
        return spend_key

    def subaddress_key(output_key: bytes, derivation: bytes, index: int) -> bytes | None:
        # derive_subaddress_public_key: monero's decoding rules, then the memo.
        if len(output_key) != KEY_SIZE or not monero_accepts_encoding(output_key):
            return None
        varint = _varint_of(index)
        return spend_key_of(output_key, derivation, varint)

    digest = _keccak
    keys_row = b""
    for position in range(n_accounts):
        row = candidates(position)
        spend_keys = accounts[position].spend_keys
        if untagged_keys is not None:
            keys_row = untagged_keys(position)
        for tx_position, plan in enumerate(plans):
            if plan is None:
                continue
            groups, identity_keys = plan
            suspect = False
            for spend_key in identity_keys:
                if spend_key in spend_keys:
                    suspect = True
            for slot, group_outputs, varints, group_jobs in groups:
                if suspect:
                    break
                pair = row[slot]
                if len(pair) == 2:
                    first, second = pair
                    for (output_key, view_tag), varint in zip(group_outputs, varints, strict=False):
                        if view_tag is None or (
                            digest(first + varint).digest()[0] == view_tag
                            or digest(second + varint).digest()[0] == view_tag
                        ):
                            if _lookup_hit(
                                pair, output_key, view_tag, varint, spend_keys, spend_key_of
                            ):
                                suspect = True
                                break
                elif pair and group_jobs is not None:
                    # C path, some outputs without a view tag: their spend
                    # keys are in keys_row (exactly monero's).
                    (first,) = pair
                    for (output_key, view_tag), varint, job in zip(
                        group_outputs, varints, group_jobs, strict=False
                    ):
                        if job >= 0:
                            start = job * KEY_SIZE
                            if keys_row[start : start + KEY_SIZE] in spend_keys:
                                suspect = True
                                break
                        elif (
                            view_tag is not None and digest(first + varint).digest()[0] == view_tag
                        ):
                            if _lookup_hit(
                                pair, output_key, view_tag, varint, spend_keys, spend_key_of
                            ):
                                suspect = True
                                break
                elif pair:
                    (first,) = pair
                    for (output_key, view_tag), varint in zip(group_outputs, varints, strict=False):
                        if view_tag is None or digest(first + varint).digest()[0] == view_tag:
                            if _lookup_hit(
                                pair, output_key, view_tag, varint, spend_keys, spend_key_of
                            ):
                                suspect = True
                                break
            if suspect:

                def derive(key: bytes, position: int = position) -> bytes:
                    return exact(slot_of[key], position)

                def may_match(
                    key: bytes,
                    index: int,
                    output_key: bytes,
                    view_tag: int | None,
                    row: list[tuple[bytes, ...]] = row,
                    spend_keys: Mapping[bytes, SubaddressIndex] = spend_keys,
                    position: int = position,
                ) -> bool:
                    # monero's derivation is one of the two candidates, or
                    # the identity (wallet2's fallback for a key that does
                    # not decode): if none passes, the exact one cannot, so
                    # the costly exact derivation is only made for hits.
                    slot = slot_of[key]
                    pair = row[slot]
                    if len(pair) != 2 or is_exact(slot, position):
                        return True  # exact already: one view-tag hash decides
                    varint = _varint_of(index)
                    return _lookup_hit(
                        (*pair, _IDENTITY_CANDIDATE),
                        output_key,
                        view_tag,
                        varint,
                        spend_keys,
                        spend_key_of,
                    )

                results[tx_position][position] = _exact_scan(
                    txs[tx_position], accounts[position], derive, may_match, subaddress_key
                )
    return results


#: Per account (by position), per key slot: the candidate derivations, each
#: prefixed with the view-tag salt (one when exact, two sign candidates from
#: X25519, none for the identity, which is checked per output for all
#: accounts at once).
_Candidates = Callable[[int], list[tuple[bytes, ...]]]


#: (candidates, exact(slot, position) -> derivation, whether it is computed already).
_Derived = tuple[_Candidates, Callable[[int, int], bytes], Callable[[int, int], bool]]


def _native_candidates(
    native: Callable[[bytes, bytes], bytes],
    slot_keys: Sequence[bytes],
    accounts: Sequence[ViewKey],
) -> tuple[_Candidates, Callable[[int, int], bytes], Callable[[int, int], bool], bytes]:
    """Every exact derivation by the C extension: one candidate per (account,
    key); and the C table itself (slot-major, 32 bytes per account)."""
    n_accounts = len(accounts)
    table = native(
        b"".join(key if len(key) == KEY_SIZE else IDENTITY for key in slot_keys),
        b"".join(account.scalar.to_bytes(KEY_SIZE, "little") for account in accounts),
    )
    salt = VIEW_TAG_SALT
    identity = IDENTITY
    empty: tuple[bytes, ...] = ()

    def candidates(position: int) -> list[tuple[bytes, ...]]:
        # Built when the account's turn comes, not all at once: with 10,000
        # accounts the rows of a whole chunk would take ~25 MB.
        row: list[tuple[bytes, ...]] = []
        append = row.append
        for start in range(position * KEY_SIZE, len(table), n_accounts * KEY_SIZE):
            derivation = table[start : start + KEY_SIZE]
            append(empty if derivation == identity else (salt + derivation,))
        return row

    def exact(slot: int, position: int) -> bytes:
        start = (slot * n_accounts + position) * KEY_SIZE
        return table[start : start + KEY_SIZE]

    return candidates, exact, lambda slot, position: True, table


def _identity_slots(table: bytes, n_accounts: int) -> set[int]:
    """The key slots whose derivation is the identity for some account
    (keys monero does not decode, small-order keys, a zero view scalar)."""
    found: set[int] = set()
    stride = n_accounts * KEY_SIZE
    start = table.find(IDENTITY)
    while start != -1:
        if start % KEY_SIZE:
            start = table.find(IDENTITY, start + 1)
            continue
        slot = start // stride
        found.add(slot)
        start = table.find(IDENTITY, (slot + 1) * stride)
    return found


def _x25519_candidates(slot_keys: Sequence[bytes], accounts: Sequence[ViewKey]) -> _Derived:
    """Two sign candidates per (account, generic key) from X25519 ladders.

    The generic keys are those with ``y < p`` and not ``+-1`` (whose
    derivation is the identity whatever the account), and go through the
    ladder as ``u(R) = (1 + y)/(1 - y)``; the other keys, and the pairs the
    ladder refuses, get exact derivations, computed here (the slow way) and
    cached for the re-scan of hits.
    """
    n_slots = len(slot_keys)
    generic_slots: list[int] = []
    denominators: list[int] = []
    numerators: list[int] = []
    for slot, key in enumerate(slot_keys):
        if len(key) == KEY_SIZE:
            y = int.from_bytes(key, "little") & _MASK_255
            if y < P and y != 1 and y != _P_MINUS_1:
                generic_slots.append(slot)
                denominators.append((1 - y) % P)
                numerators.append(1 + y)
    u_inverses = batch_invert(denominators)
    u_values = [
        (num * inv % P).to_bytes(KEY_SIZE, "little")
        for num, inv in zip(numerators, u_inverses, strict=True)
    ]

    # Exact derivations, on demand: 8R once per key, then per account.
    cleared: dict[int, bytes | None] = {}
    exact_cache: dict[tuple[int, int], bytes] = {}

    def exact(slot: int, position: int) -> bytes:
        cache_key = (slot, position)
        derivation = exact_cache.get(cache_key)
        if derivation is None:
            derivation = _prime_order_derivation(slot_keys[slot], accounts[position].scalar)
            if derivation is None:  # torsion, small order, or not a point: the slow way
                if slot in cleared:
                    point8 = cleared[slot]
                else:
                    point8 = cleared[slot] = mul8_public_key(slot_keys[slot])
                if point8 is None:
                    derivation = IDENTITY  # wallet2's fallback for a key that does not decode
                else:
                    derivation = scalarmult_torsion_free(accounts[position].scalar, point8)
            exact_cache[cache_key] = derivation
        return derivation

    # Per account, X25519 on every generic key: u(8aR), or 0 where the
    # ladder refuses (small-order R, or a twist point from a key that does
    # not decode), which is then decided exactly.  The backend the host
    # process chose, OpenSSL's or libsodium's (both return 0 where they
    # refuse a small-order point).
    ladders = current_backend()(u_values)
    n_generic = len(generic_slots)
    ladder_u: list[int] = []
    for account in accounts:
        clamped = account.x25519_scalar
        if clamped is None:
            ladder_u.extend([0] * n_generic)
            continue
        ladder_u.extend(u if u != _P_MINUS_1 else 0 for u in ladders(clamped))

    # Candidates stored as "view_tag" || D, ready for the view-tag hash:
    # y = (u - 1)/(u + 1) (one inversion for the batch) with both signs; or
    # the exact derivation.  The identity derivation is left out.
    empty: tuple[bytes, ...] = ()
    inverses = batch_invert([u + 1 if u else 1 for u in ladder_u])
    candidates: list[list[tuple[bytes, ...]]] = []
    salt = VIEW_TAG_SALT
    salt_bits = int.from_bytes(salt, "little")
    high_bit = _HIGH_BIT << 64
    flat = 0
    for position, account in enumerate(accounts):
        row: list[tuple[bytes, ...]] = [empty] * n_slots
        candidates.append(row)
        if account.x25519_scalar is None:
            for slot in range(n_slots):
                derivation = exact(slot, position)
                if derivation != IDENTITY:
                    row[slot] = (salt + derivation,)
            flat += n_generic
            continue
        for slot in generic_slots:
            u_derived = ladder_u[flat]
            if u_derived:
                # "view_tag" || y as one integer: y << 64 | salt, sign at bit 319.
                y = (u_derived - 1) * inverses[flat] % P << 64 | salt_bits
                row[slot] = (y.to_bytes(40, "little"), (y | high_bit).to_bytes(40, "little"))
            else:
                derivation = exact(slot, position)
                if derivation != IDENTITY:
                    row[slot] = (salt + derivation,)
            flat += 1

    return candidates.__getitem__, exact, lambda slot, position: (slot, position) in exact_cache


#: The identity derivation, prefixed like the fast path's candidates.
_IDENTITY_CANDIDATE = VIEW_TAG_SALT + IDENTITY


def _prime_order_derivation(tx_pubkey: bytes, view_scalar: int) -> bytes | None:
    """``8a R`` by one libsodium call when ``R`` is canonical and of prime order.

    libsodium refuses keys with torsion, of small order, or non-canonical
    (None then; the caller takes the slow exact path); for the others
    ``(8a mod l) R`` is exactly monero's ``8 (a R)``.
    """
    scalar = 8 * view_scalar % L
    if scalar == 0 or len(tx_pubkey) != KEY_SIZE:
        return None
    try:
        return _sodium.crypto_scalarmult_ed25519_noclamp(
            scalar.to_bytes(KEY_SIZE, "little"), tx_pubkey
        )
    except CryptoError:
        return None


def _lookup_hit(
    prefixed_candidates: tuple[bytes, ...],
    output_key: bytes,
    view_tag: int | None,
    varint: bytes,
    spend_keys: Mapping[bytes, SubaddressIndex],
    spend_key_of: Callable[[bytes, bytes, bytes], bytes | None] = _spend_key_for,
) -> bool:
    """Whether a candidate passes the view tag and ``P - Hs(D || i) G`` is a spend key."""
    if len(output_key) != KEY_SIZE:
        return False  # cannot decode: nobody owns it
    for prefixed in prefixed_candidates:
        if view_tag is None or _keccak(prefixed + varint).digest()[0] == view_tag:
            spend_key = spend_key_of(output_key, prefixed[8:], varint)
            if spend_key is not None and spend_key in spend_keys:
                return True
    return False
