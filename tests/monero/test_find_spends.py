# Owns the tests of find_spends' ring matching (lws.monero.scan): on any
# rings, known outputs and outputs received earlier in the batch, its
# candidate spends equal a member-by-member walk of every ring.
from __future__ import annotations

from collections.abc import Mapping, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from lws.monero.scan import ReceivedOutput, ScanTx, find_spends
from lws.monero.tx import GenInput, KeyInput, Transaction

ACCOUNTS = 3
#: Small index ranges, so rings hit owned outputs and repeat members often.
INDEXES = st.integers(min_value=0, max_value=12)


def _received(global_index: int) -> ReceivedOutput:
    return ReceivedOutput(
        output_index=0,
        global_index=global_index,
        amount=1,
        mask=bytes(32),
        subaddress=(0, 0),
        tx_pubkey=bytes(32),
        output_key=bytes(32),
        rct_type=6,
        commitment=bytes(32),
        ecdh_amount=bytes(8),
        payment_id=b"",
    )


def _tx(inputs: Sequence[GenInput | KeyInput]) -> ScanTx:
    tx = Transaction(
        version=2,
        unlock_time=0,
        inputs=tuple(inputs),
        outputs=(),
        extra=b"",
        rct=None,
        prefix_hash=bytes(32),
        base_hash=None,
        prunable_hash=None,
    )
    return ScanTx(tx=tx, tx_hash=bytes(32), global_indexes=())


def _walk(
    txs: Sequence[ScanTx],
    received: Sequence[Mapping[int, tuple[ReceivedOutput, ...]]],
    known: Mapping[tuple[int, int], Sequence[int]],
) -> list[dict[int, list[tuple[int, tuple[int, ...], tuple[int, ...]]]]]:
    """The obvious version: every ring member looked up, in ring order."""
    owned = {key: list(positions) for key, positions in known.items()}
    result = []
    for item, row in zip(txs, received, strict=True):
        by_account: dict[int, list[tuple[int, tuple[int, ...], tuple[int, ...]]]] = {}
        for input_index, txin in enumerate(item.tx.inputs):
            if not isinstance(txin, KeyInput):
                continue
            ring: list[int] = []
            for offset in txin.key_offsets:
                ring.append((ring[-1] if ring else 0) + offset)
            members: dict[int, list[int]] = {}
            for member in ring:
                for position in owned.get((txin.amount, member), ()):
                    members.setdefault(position, [])
                    if member not in members[position]:
                        members[position].append(member)
            for position, owned_members in members.items():
                by_account.setdefault(position, []).append(
                    (input_index, tuple(ring), tuple(owned_members))
                )
        result.append(by_account)
        for position, outputs in row.items():
            for output in outputs:
                owned.setdefault((0, output.global_index), []).append(position)
    return result


key_inputs = st.builds(
    KeyInput,
    amount=st.sampled_from([0, 0, 0, 7]),
    key_offsets=st.lists(INDEXES, min_size=1, max_size=6).map(tuple),
    key_image=st.just(bytes(32)),
)
txs_and_rows = st.lists(
    st.tuples(
        st.lists(st.one_of(key_inputs, st.builds(GenInput, height=st.just(1))), max_size=3),
        st.dictionaries(
            st.integers(min_value=0, max_value=ACCOUNTS - 1),
            st.lists(INDEXES, min_size=1, max_size=2),
            max_size=2,
        ),
    ),
    max_size=6,
)
known_outputs = st.dictionaries(
    st.tuples(st.sampled_from([0, 7]), INDEXES),
    st.lists(st.integers(min_value=0, max_value=ACCOUNTS - 1), min_size=1, max_size=2, unique=True),
    max_size=8,
)


@settings(max_examples=300)
@given(txs_and_rows, known_outputs)
def test_candidate_spends_equal_a_walk_of_every_ring(
    batch: list[tuple[list[GenInput | KeyInput], dict[int, list[int]]]],
    known: dict[tuple[int, int], list[int]],
) -> None:
    txs = [_tx(inputs) for inputs, _ in batch]
    received = [
        {position: tuple(_received(i) for i in indexes) for position, indexes in row.items()}
        for _, row in batch
    ]
    spends = find_spends(txs, received, known)
    got = [
        {
            position: [(s.input_index, s.ring, s.owned_members) for s in found]
            for position, found in row.items()
        }
        for row in spends
    ]
    assert got == _walk(txs, received, known)
