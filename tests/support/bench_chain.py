# Owns the cached benchmark chain: its deterministic plan (who sends what to
# whom), building it on a real regtest monerod with real monero-wallet-rpc
# processes (through tests.support.regtest only), the on-disk cache with its manifest,
# reopening it for benchmarks, and timing wallet-rpc's own view-only refresh
# as a yardstick. Developer tooling: never imported by lws/, and must not
# touch lws's store, scanner or API (the chain must not depend on them).
"""A reproducible regtest chain for benchmarks, built once and cached on disk.

Layout of ``${LWS_CACHE:-~/.cache/lws}/bench-chain-v1/``::

    manifest.json      what was built (see :func:`build_chain`); written last
    monerod/chain/     monerod --data-dir (the LMDB lives in chain/fake/lmdb)

A build happens in a sibling ``bench-chain-v1.building-<pid>`` folder that
is renamed into place only once the chain is complete and has been reopened
with ``--keep-fakechain``; an interrupted build never looks complete.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import random
import shutil
import statistics
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from nacl import bindings as _sodium

from lws.monero.address import Network, make_address
from lws.monero.ed25519 import base_mul, hash_to_scalar
from tests.support.regtest import (
    COINBASE_UNLOCK_BLOCKS,
    SPENDABLE_AGE_BLOCKS,
    Monerod,
    RpcError,
    WalletKeys,
    WalletRpc,
    which,
)

ATOMIC = 10**12  # one XMR in atomic units

#: Bump when the plan below changes: a new name means a new cache folder.
CHAIN_NAME = "bench-chain-v1"
FORMAT_VERSION = 1
#: Seed of the plan's random.Random: same seed, same shape of chain.
PLAN_SEED = 20261122

#: Transactions to recipients (not counting the senders' own split txs).
TX_COUNT = 2000
#: Sender wallets; each runs in its own monero-wallet-rpc process.
SENDERS = 4
#: Recipients a benchmark scans for: "bench-0" .. "bench-99".
BENCH_WALLETS = 100
#: Recipients nobody scans for, so most outputs on the chain are foreign.
SINK_WALLETS = 20
#: Transfers each sender makes before the next block is mined.
TXS_PER_SENDER_PER_BLOCK = 10
#: Destinations per transfer are 1..MAX_DESTINATIONS, plus a change output:
#: 16 outputs is the most a bulletproof+ transaction may have.
MAX_DESTINATIONS = 15
#: Each destination gets 1..MAX_AMOUNT_UNITS * AMOUNT_UNIT atomic units
#: (at most 0.005 XMR), so one funding output pays for many transfers.
AMOUNT_UNIT = 10**5
MAX_AMOUNT_UNITS = 50_000
#: Chance that one destination is bench-0 (aim: several hundred outputs).
P_BENCH0 = 0.03
#: Chance that one destination is one of bench-1 .. bench-99 (~20 each).
P_BENCH_OTHER = 0.12
#: Chance that a destination to a wallet with subaddresses uses one of them.
P_SUBADDRESS = 0.3
#: Every n-th transfer pays one integrated address and nothing else
#: (wallet2 encrypts the payment id only when a tx has one destination).
INTEGRATED_EVERY = 40
#: Subaddresses that receive outputs, all inside wallet2's default
#: lookahead (50 accounts x 200 addresses) so a fresh restore finds them.
SUBADDRESSES: dict[str, tuple[tuple[int, int], ...]] = {
    "bench-0": ((0, 1), (0, 2), (0, 3), (0, 4), (1, 0), (1, 1), (1, 2), (3, 7)),
    **{f"bench-{i}": ((0, 1), (1, 0)) for i in range(1, 10)},
}
#: Integrated addresses (standard address + fixed 8-byte payment id).
INTEGRATED: dict[str, str] = {"bench-0": "0123456789abcdef", "bench-1": "fedcba9876543210"}
#: Funding: coinbase blocks mined to each sender before the unlock window,
#: and split transfers (MAX_DESTINATIONS x SPLIT_AMOUNT to itself) each
#: sender makes so it holds enough outputs while its change is locked.
COINBASE_PER_SENDER = 12
SPLITS_PER_SENDER = 10
SPLIT_AMOUNT = ATOMIC
#: Blocks mined after each round: one holds the round's txs, the rest are
#: empty, so the 10 newest blocks (which wallet2 never picks decoys from)
#: hold one round's outputs. Once the chain has 10,000 outputs wallet2 and
#: monerod refuse a tx whose ring members' median index is below 60% of
#: all outputs ("Transaction sanity check failed"); with one dense block per
#: round the locked newest blocks held a third of all outputs and most
#: transfers failed that check.
BLOCKS_PER_ROUND = SPENDABLE_AGE_BLOCKS
#: Decoy picks are random: a transfer refused by the sanity check is retried.
SANITY_RETRIES = 10
#: Extra blocks a sender may have mined for it when a transfer finds no
#: unlocked money (should not happen with the funding above; recorded).
MAX_RESCUE_BLOCKS = 12

MINER_LABEL = "miner"


def sender_label(index: int) -> str:
    return f"sender-{index}"


def bench_label(index: int) -> str:
    return f"bench-{index}"


def sink_label(index: int) -> str:
    return f"sink-{index}"


def cache_root() -> Path:
    """``$LWS_CACHE`` or ``~/.cache/lws`` (tools read the environment, lws/ does not)."""
    configured = os.environ.get("LWS_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "lws"


def default_chain_dir() -> Path:
    return cache_root() / CHAIN_NAME


Log = Callable[[str], None]


def _quiet(_message: str) -> None:
    pass


# -- the plan ---------------------------------------------------------------


@dataclass(frozen=True)
class Destination:
    """One output of a planned transfer, symbolically: resolved to an address later."""

    label: str
    #: "primary", "subaddress" or "integrated"
    kind: str
    index: tuple[int, int]
    amount: int


@dataclass(frozen=True)
class PlannedTx:
    number: int
    sender: int
    round: int
    destinations: tuple[Destination, ...]


def make_plan(tx_count: int = TX_COUNT, seed: int = PLAN_SEED) -> list[PlannedTx]:
    """The transfers, in order; the same arguments always give the same plan."""
    rng = random.Random(seed)
    per_round = SENDERS * TXS_PER_SENDER_PER_BLOCK
    plan: list[PlannedTx] = []
    for number in range(tx_count):
        count = 1 + rng.randrange(MAX_DESTINATIONS)
        if number % INTEGRATED_EVERY == INTEGRATED_EVERY - 1:
            # wallet2 encrypts a payment id only for a tx with one destination address.
            count = 1
        destinations: list[Destination] = []
        integrated_used = False
        for slot in range(count):
            roll = rng.random()
            if roll < P_BENCH0:
                label = bench_label(0)
            elif roll < P_BENCH0 + P_BENCH_OTHER:
                label = bench_label(1 + rng.randrange(BENCH_WALLETS - 1))
            else:
                label = sink_label(rng.randrange(SINK_WALLETS))
            amount = (1 + rng.randrange(MAX_AMOUNT_UNITS)) * AMOUNT_UNIT
            kind, index = "primary", (0, 0)
            if slot == 0 and number % INTEGRATED_EVERY == INTEGRATED_EVERY - 1:
                label = sorted(INTEGRATED)[(number // INTEGRATED_EVERY) % len(INTEGRATED)]
                kind = "integrated"
                integrated_used = True
            elif label in SUBADDRESSES and rng.random() < P_SUBADDRESS:
                kind = "subaddress"
                index = rng.choice(SUBADDRESSES[label])
            destinations.append(Destination(label, kind, index, amount))
        assert integrated_used or all(d.kind != "integrated" for d in destinations)
        plan.append(
            PlannedTx(
                number=number,
                sender=number % SENDERS,
                round=number // per_round,
                destinations=tuple(destinations),
            )
        )
    return plan


@dataclass
class Receipts:
    """What the plan pays one recipient wallet."""

    outputs: int = 0
    amount: int = 0
    txs: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def plan_receipts(plan: list[PlannedTx]) -> dict[str, Receipts]:
    receipts: dict[str, Receipts] = {}
    for tx in plan:
        seen: set[str] = set()
        for dest in tx.destinations:
            entry = receipts.setdefault(dest.label, Receipts())
            entry.outputs += 1
            entry.amount += dest.amount
            entry.by_kind[dest.kind] = entry.by_kind.get(dest.kind, 0) + 1
            if dest.label not in seen:
                entry.txs += 1
                seen.add(dest.label)
    return receipts


# -- addresses --------------------------------------------------------------


@dataclass
class AddressBook:
    primary: dict[str, str] = field(default_factory=dict)
    subaddresses: dict[str, dict[tuple[int, int], str]] = field(default_factory=dict)
    integrated: dict[str, str] = field(default_factory=dict)

    def resolve(self, dest: Destination) -> str:
        if dest.kind == "subaddress":
            return self.subaddresses[dest.label][dest.index]
        if dest.kind == "integrated":
            return self.integrated[dest.label]
        return self.primary[dest.label]


def all_labels() -> list[str]:
    return (
        [sender_label(i) for i in range(SENDERS)]
        + [bench_label(i) for i in range(BENCH_WALLETS)]
        + [sink_label(i) for i in range(SINK_WALLETS)]
        + [MINER_LABEL]
    )


def subaddress(label: str, major: int, minor: int) -> str:
    """wallet2's subaddress (major, minor) of ``label``'s keys:
    m = Hs("SubAddr\\0" || a || major || minor), D = B + m G, C = a D."""
    keys = WalletKeys(label)
    m = hash_to_scalar(b"SubAddr\x00" + keys.view_secret + struct.pack("<II", major, minor))
    spend = _sodium.crypto_core_ed25519_add(keys.spend_public, base_mul(m))
    view = _sodium.crypto_scalarmult_ed25519_noclamp(keys.view_secret, spend)
    return make_address(Network.MAINNET, spend, view, subaddress=True)


def integrated_address(label: str, payment_id_hex: str) -> str:
    keys = WalletKeys(label)
    return make_address(
        Network.MAINNET,
        keys.spend_public,
        keys.view_public,
        payment_id=bytes.fromhex(payment_id_hex),
    )


def derive_addresses() -> AddressBook:
    """Every address the plan pays, computed from the deterministic keys."""
    book = AddressBook(primary={label: WalletKeys(label).address() for label in all_labels()})
    for label, indexes in SUBADDRESSES.items():
        book.subaddresses[label] = {(m, n): subaddress(label, m, n) for m, n in indexes}
    for label, payment_id in INTEGRATED.items():
        book.integrated[label] = integrated_address(label, payment_id)
    return book


def check_addresses(wallet: WalletRpc, book: AddressBook, label: str) -> None:
    """Compare ``label``'s computed addresses with what monero-wallet-rpc makes."""
    wallet.create_from_keys(f"check-{label}", WalletKeys(label), view_only=True)
    wanted = book.subaddresses.get(label, {})
    for major in sorted({m for m, _ in wanted}):
        while len(wallet.rpc("get_accounts")["subaddress_accounts"]) <= major:
            wallet.rpc("create_account")
        minors = sorted(n for m, n in wanted if m == major)
        have = len(wallet.rpc("get_address", account_index=major)["addresses"])
        if have <= minors[-1]:
            wallet.rpc("create_address", account_index=major, count=minors[-1] + 1 - have)
        got = wallet.rpc("get_address", account_index=major, address_index=minors)
        for entry in got["addresses"]:
            index = (major, int(entry["address_index"]))
            if entry["address"] != wanted[index]:
                raise AssertionError(f"{label} subaddress {index}: wallet-rpc {entry['address']}")
    if label in INTEGRATED:
        made = wallet.rpc(
            "make_integrated_address",
            standard_address=book.primary[label],
            payment_id=INTEGRATED[label],
        )
        if made["integrated_address"] != book.integrated[label]:
            raise AssertionError(f"{label} integrated address: wallet-rpc {made}")
    wallet.close()


# -- building ---------------------------------------------------------------


class Sender:
    """One sender wallet in its own monero-wallet-rpc process."""

    def __init__(self, index: int, wallet: WalletRpc) -> None:
        self.index = index
        self.label = sender_label(index)
        self.wallet = wallet
        self.address = wallet.create_from_keys(self.label, WalletKeys(self.label))
        self.txids: list[str] = []

    def transfer(self, addresses: list[tuple[str, int]]) -> str:
        result = self.wallet.rpc(
            "transfer",
            destinations=[{"address": a, "amount": amount} for a, amount in addresses],
            get_tx_key=False,
        )
        txid = str(result["tx_hash"])
        self.txids.append(txid)
        return txid


def _is_out_of_money(error: RpcError) -> bool:
    text = str(error).lower()
    return "not enough" in text or "unlocked" in text


class Builder:
    def __init__(self, workdir: Path, *, tx_count: int, jobs: int, log: Log) -> None:
        self.workdir = workdir
        self.tx_count = tx_count
        self.jobs = jobs
        self.log = log
        self.rescue_blocks = 0
        self.sanity_retries = 0
        self.timings: dict[str, float] = {}

    def _timed(self, name: str, started: float) -> None:
        self.timings[name] = round(time.monotonic() - started, 2)
        self.log(f"{name}: {self.timings[name]:.1f}s")

    def _mine(self, daemon: Monerod, blocks: int, address: str) -> None:
        daemon.mine(blocks, address)
        # A block template holds at most the median weight; mine on until the pool is empty.
        for _ in range(20):
            if not daemon.pool_hashes():
                return
            daemon.mine(1, address)
        raise RuntimeError(f"pool still holds {len(daemon.pool_hashes())} txs after 20 blocks")

    def _send(self, sender: Sender, daemon: Monerod, addresses: list[tuple[str, int]]) -> str:
        for _ in range(SANITY_RETRIES):
            try:
                return sender.transfer(addresses)
            except RpcError as error:
                if "sanity check" in str(error).lower():
                    self.sanity_retries += 1
                    continue
                if not _is_out_of_money(error):
                    raise
                break
        else:
            raise RuntimeError(
                f"{sender.label}: {SANITY_RETRIES} transfers failed the sanity check"
            )
        # Should not happen with the funding constants; never silently: counted in the manifest.
        for _ in range(MAX_RESCUE_BLOCKS):
            self.log(f"{sender.label}: no unlocked money, mining a rescue block")
            self.rescue_blocks += 1
            daemon.mine(1, WalletKeys(MINER_LABEL).address())
            sender.wallet.refresh()
            try:
                return sender.transfer(addresses)
            except RpcError as error:
                if not _is_out_of_money(error):
                    raise
        raise RuntimeError(f"{sender.label} stays out of unlocked money")

    def _parallel(self, senders: list[Sender], work: Callable[[Sender], None]) -> None:
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            for future in [pool.submit(work, sender) for sender in senders]:
                future.result()

    def build(self) -> dict[str, Any]:
        started = time.monotonic()
        plan = make_plan(self.tx_count)
        receipts = plan_receipts(plan)
        missing = [bench_label(i) for i in range(BENCH_WALLETS) if bench_label(i) not in receipts]
        if missing and self.tx_count == TX_COUNT:
            raise AssertionError(f"plan leaves bench wallets empty: {missing}")
        miner = WalletKeys(MINER_LABEL).address()
        with contextlib.ExitStack() as stack:
            daemon = Monerod(self.workdir / "monerod")
            stack.callback(daemon.stop)
            step = time.monotonic()
            book = derive_addresses()
            senders: list[Sender] = []

            def start_sender(index: int) -> None:
                # wallet-rpc spends seconds on a new wallet's subaddress lookahead table.
                wallet = WalletRpc(self.workdir / f"wallet-{index}", daemon)
                stack.callback(wallet.stop)
                if index == 0:
                    check_addresses(wallet, book, bench_label(0))
                senders.append(Sender(index, wallet))

            with ThreadPoolExecutor(max_workers=self.jobs) as pool:
                for future in [pool.submit(start_sender, i) for i in range(SENDERS)]:
                    future.result()
            senders.sort(key=lambda sender: sender.index)
            wallets = [sender.wallet for sender in senders]
            self._timed("wallets", step)

            # Funding: coinbase to the senders, then the unlock window (to the miner).
            step = time.monotonic()
            for sender in senders:
                daemon.mine(COINBASE_PER_SENDER, sender.address)
            self._mine(daemon, COINBASE_UNLOCK_BLOCKS, miner)
            self._timed("premine", step)

            step = time.monotonic()
            split_txids: list[str] = []

            def split(sender: Sender) -> None:
                sender.wallet.refresh()
                for _ in range(SPLITS_PER_SENDER):
                    to_self = [(sender.address, SPLIT_AMOUNT)] * MAX_DESTINATIONS
                    split_txids.append(self._send(sender, daemon, to_self))

            self._parallel(senders, split)
            self._mine(daemon, 1 + SPENDABLE_AGE_BLOCKS, miner)
            self._timed("split", step)

            # The transfers: one block per round, each sender's share in parallel.
            step = time.monotonic()
            rounds = max(tx.round for tx in plan) + 1 if plan else 0
            by_round: dict[tuple[int, int], list[PlannedTx]] = {}
            for tx in plan:
                by_round.setdefault((tx.round, tx.sender), []).append(tx)
            txids: dict[int, str] = {}
            for number in range(rounds):

                def send_round(sender: Sender, number: int = number) -> None:
                    sender.wallet.refresh()
                    for tx in by_round.get((number, sender.index), []):
                        addresses = [(book.resolve(d), d.amount) for d in tx.destinations]
                        txids[tx.number] = self._send(sender, daemon, addresses)

                self._parallel(senders, send_round)
                self._mine(daemon, BLOCKS_PER_ROUND, miner)
                if number % 10 == 9 or number == rounds - 1:
                    elapsed = time.monotonic() - step
                    self.log(
                        f"round {number + 1}/{rounds}: {len(txids)} txs, height {daemon.height()},"
                        f" {len(txids) / elapsed:.1f} tx/s"
                    )
            self._timed("transfers", step)
            # The last round's blocks leave every received output spendable.

            stats = chain_stats(daemon)
            for wallet in wallets:
                wallet.close()

        # Reopen on the same data dir the way benchmarks will, and compare.
        step = time.monotonic()
        reopened = Monerod(self.workdir / "monerod", keep_chain=True)
        try:
            again = _tip(reopened)
        finally:
            reopened.stop()
        if again != (stats["height"], stats["top_hash"]):
            raise RuntimeError(f"reopened chain differs: {again} != {stats['height']}")
        self._timed("reopen check", step)

        wallets_out: dict[str, Any] = {}
        for label in all_labels():
            role = label.split("-")[0]
            entry: dict[str, Any] = {"role": role, "address": book.primary[label]}
            if label in book.subaddresses:
                entry["subaddresses"] = {
                    f"{m},{n}": address
                    for (m, n), address in sorted(book.subaddresses[label].items())
                }
            if label in book.integrated:
                entry["integrated"] = {
                    "address": book.integrated[label],
                    "payment_id": INTEGRATED[label],
                }
            got = receipts.get(label)
            if got is not None:
                entry.update(
                    outputs=got.outputs, amount=got.amount, txs=got.txs, outputs_by_kind=got.by_kind
                )
            wallets_out[label] = entry
        return {
            "name": CHAIN_NAME,
            "version": FORMAT_VERSION,
            "complete": True,
            "built_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "build_seconds": round(time.monotonic() - started, 1),
            "build_steps_seconds": self.timings,
            "jobs": self.jobs,
            "monerod_version": monerod_version(),
            "plan": {
                "seed": PLAN_SEED,
                "transfers": self.tx_count,
                "senders": SENDERS,
                "txs_per_sender_per_block": TXS_PER_SENDER_PER_BLOCK,
                "splits_per_sender": SPLITS_PER_SENDER,
                "coinbase_per_sender": COINBASE_PER_SENDER,
                "blocks_per_round": BLOCKS_PER_ROUND,
                "rescue_blocks": self.rescue_blocks,
                "sanity_retries": self.sanity_retries,
            },
            **stats,
            "transfer_txs": len(txids),
            "split_txs": len(split_txids),
            "planned_outputs": sum(len(tx.destinations) + 1 for tx in plan)
            + len(split_txids) * (MAX_DESTINATIONS + 1),
            "bench_labels": [bench_label(i) for i in range(BENCH_WALLETS)],
            "wallets": wallets_out,
        }


def _tip(daemon: Monerod) -> tuple[int, str]:
    header = daemon.rpc("get_last_block_header")["block_header"]
    return int(header["height"]) + 1, str(header["hash"])


def chain_stats(daemon: Monerod) -> dict[str, Any]:
    """Counted by monerod itself: height, tip, txs and outputs on the chain."""
    height, top_hash = _tip(daemon)
    info = daemon.call("get_info")
    txs_per_block: list[int] = []
    for start in range(0, height, 1000):
        end = min(height, start + 1000) - 1
        headers = daemon.rpc("get_block_headers_range", start_height=start, end_height=end)
        txs_per_block.extend(int(h["num_txes"]) for h in headers["headers"])
    dist = daemon.rpc(
        "get_output_distribution", amounts=[0], from_height=0, cumulative=True, binary=False
    )
    total_outputs = int(dist["distributions"][0]["distribution"][-1])
    return {
        "height": height,
        "top_hash": top_hash,
        "tx_count": int(info["tx_count"]),
        "blocks_with_txs": sum(1 for n in txs_per_block if n),
        "max_txs_per_block": max(txs_per_block, default=0),
        "rct_outputs": total_outputs,
        "tx_outputs": total_outputs - (height - 1),
    }


def monerod_version() -> str:
    out = subprocess.run(
        [which("monerod"), "--version"], capture_output=True, text=True, check=False
    ).stdout
    return out.strip()


# -- the cache --------------------------------------------------------------


def read_manifest(chain_dir: Path) -> dict[str, Any] | None:
    """The manifest if ``chain_dir`` holds a complete chain of this version, else None."""
    try:
        manifest: dict[str, Any] = json.loads((chain_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    complete = (
        manifest.get("complete") is True
        and manifest.get("version") == FORMAT_VERSION
        and (chain_dir / "monerod" / "chain").is_dir()
    )
    return manifest if complete else None


@contextlib.contextmanager
def _build_lock(chain_dir: Path) -> Iterator[None]:
    chain_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(chain_dir.parent / f"{chain_dir.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_chain(
    chain_dir: Path | None = None,
    *,
    rebuild: bool = False,
    tx_count: int = TX_COUNT,
    jobs: int = 2,
    log: Log = _quiet,
) -> dict[str, Any]:
    """Build the chain into ``chain_dir`` unless a complete one is there; its manifest."""
    chain_dir = chain_dir or default_chain_dir()
    with _build_lock(chain_dir):
        manifest = read_manifest(chain_dir)
        if manifest is not None and not rebuild:
            return manifest
        building = chain_dir.parent / f"{chain_dir.name}.building-{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        log(f"building {chain_dir} in {building} ({tx_count} transfers, {jobs} jobs)")
        try:
            manifest = Builder(building, tx_count=tx_count, jobs=jobs, log=log).build()
            for leftover in [building / f"wallet-{i}" for i in range(SENDERS)] + [
                building / "monerod" / "monerod.log",
                building / "monerod" / "monerod.console",
            ]:
                if leftover.is_dir():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink(missing_ok=True)
            (building / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
            if chain_dir.exists():
                old = chain_dir.parent / f"{chain_dir.name}.old-{os.getpid()}"
                chain_dir.rename(old)
                shutil.rmtree(old)
            building.rename(chain_dir)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        return manifest


def copy_chain(source: Path, target: Path) -> None:
    """Copy a monerod data dir, keeping LMDB's sparse holes sparse."""
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-r", "--sparse=always", str(source), str(target)], check=True)


@contextlib.contextmanager
def open_bench_chain(
    chain_dir: Path | None = None, *, copy: bool = True, log: Log = _quiet
) -> Iterator[tuple[Monerod, dict[str, Any]]]:
    """A monerod serving the benchmark chain (built first if need be), and its manifest.

    With ``copy`` (the default) monerod runs on a throwaway copy of the
    cached data dir, so a benchmark may mine or pop blocks freely; without
    it, monerod opens the cache itself (read-mostly use, one at a time).
    """
    chain_dir = chain_dir or default_chain_dir()
    manifest = ensure_chain(chain_dir, log=log)
    with contextlib.ExitStack() as stack:
        if copy:
            workdir = Path(tempfile.mkdtemp(prefix="lws-bench-chain-"))
            stack.callback(shutil.rmtree, workdir, True)
            copy_chain(chain_dir / "monerod" / "chain", workdir / "chain")
        else:
            workdir = chain_dir / "monerod"
        daemon = Monerod(workdir, keep_chain=True)
        stack.callback(daemon.stop)
        got = _tip(daemon)
        if got != (manifest["height"], manifest["top_hash"]):
            raise RuntimeError(f"cached chain at {got}, manifest says {manifest['height']}")
        yield daemon, manifest


# -- wallet-rpc as a yardstick ---------------------------------------------


class RefreshTiming(NamedTuple):
    #: Wall-clock seconds wallet-rpc takes to scan a view-only wallet from block 0 to the tip.
    seconds: float
    #: Outputs the wallet found (incoming_transfers over all accounts).
    outputs: int


def time_wallet_rpc_refresh(
    daemon: Monerod,
    label: str,
    *,
    workdir: Path | None = None,
    log: Log = _quiet,
    repeats: int = 1,
    between: Callable[[], None] | None = None,
) -> RefreshTiming:
    """Restore a view-only wallet for ``label`` (restore height 0) in a fresh
    monero-wallet-rpc and time its refresh from the genesis block to the tip.

    monero-wallet-rpc 0.18 already syncs inside ``generate_from_keys`` (and
    ``open_wallet``), after seconds spent building its subaddress lookahead
    table, so ``refresh`` afterwards has nothing left to do. The timed call
    is therefore ``rescan_blockchain`` (soft): it forgets every block and
    output and refreshes from the restore height, which is exactly the scan
    a new view-only wallet does, without the one-off table build.

    ``between``, when given, runs after each rescan (wallet-rpc idle): a
    benchmark interleaves its own runs with wallet-rpc's, so a drift in this
    VM's speed hits both figures alike.
    """
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="lws-wallet-rpc-"))
            stack.callback(shutil.rmtree, workdir, True)
        wallet = WalletRpc(workdir, daemon)
        stack.callback(wallet.stop)
        tip = daemon.height()
        started = time.perf_counter()
        wallet.create_from_keys(label, WalletKeys(label), view_only=True)
        wallet.rpc("auto_refresh", enable=False)
        wallet.rpc("refresh")
        restore = time.perf_counter() - started
        runs = []
        for _ in range(max(1, repeats)):  # the median of several: this VM's speed wanders
            started = time.perf_counter()
            wallet.rpc("rescan_blockchain", hard=False)
            runs.append(time.perf_counter() - started)
            if between is not None:
                between()
        seconds = statistics.median(runs)
        height = int(wallet.rpc("get_height")["height"])
        if height != tip:
            raise RuntimeError(f"wallet-rpc rescanned to {height}, daemon is at {tip}")
        outputs = len(wallet.incoming_transfers())
        log(
            f"wallet-rpc {label}: restore+sync {restore:.2f}s (mostly the lookahead table),"
            f" rescan from 0 {seconds:.2f}s (median of {len(runs)}:"
            f" {', '.join(f'{run:.2f}' for run in runs)}), {outputs} outputs"
        )
        wallet.close()
    return RefreshTiming(seconds, outputs)
