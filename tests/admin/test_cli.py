# Owns the tests of `lws admin` on a real store, in process (argv in, text
# out) and once through `python -m lws`: every command's text and --json
# output, exit statuses (0 done, 1 refused, 2 usage), view keys from stdin
# or a file and never printed, admin keys printed once, the store's network
# adopted or checked, and bad input refused with nothing written.
from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lws.admin import cli
from lws.monero.address import Network, make_address
from lws.store import AccountStatus, RequestKind, RequestRecord, Store
from tests.support.regtest import WalletKeys
from tests.support.wallets import wallet_request

ALICE, BOB, CAROL = WalletKeys("alice"), WalletKeys("bob"), WalletKeys("carol")


class Stdin(io.StringIO):
    def __init__(self, text: str = "", tty: bool = False) -> None:
        super().__init__(text)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


class Ran:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    with Store.open(tmp_path / "data" / "store", network="regtest") as store:
        store.transact(lambda w: w.add_block_hashes(0, [n.to_bytes(32, "big") for n in range(20)]))
    yield tmp_path / "data"


def admin(data_dir: Path | None, *argv: str, stdin: str = "") -> Ran:
    out, err = io.StringIO(), io.StringIO()
    prefix = [] if data_dir is None else ["--data-dir", str(data_dir)]
    code = cli.main([*prefix, *argv], stdin=Stdin(stdin), stdout=out, stderr=err)
    return Ran(code, out.getvalue(), err.getvalue())


def queue(data_dir: Path, *requests: RequestRecord) -> None:
    with Store.open(data_dir / "store", network="regtest") as store:
        for item in requests:
            store.transact(lambda w, item=item: w.create_request(item))


def state(data_dir: Path) -> Any:
    with Store.open(data_dir / "store", network="regtest") as store:
        return store.query(
            lambda r: (
                [(rec.address, rec.status, rec.scan_height) for _, rec in r.accounts()],
                sorted((q.kind, q.address) for q in r.requests()),
                r.chain_top(),
                [i for i, _ in r.admin_keys()],
            )
        ), store.generation()


def test_queue_and_accounts_as_text_and_json(data_dir: Path) -> None:
    queue(
        data_dir,
        wallet_request(ALICE, RequestKind.CREATE, 12),
        wallet_request(BOB, RequestKind.CREATE, 13),
    )
    ran = admin(data_dir, "list-requests")
    assert ran.code == 0 and "2 pending requests" in ran.out and ALICE.address() in ran.out
    ran = admin(data_dir, "--json", "list-requests")
    assert ran.json == {
        "create": sorted(
            [
                {
                    "address": ALICE.address(),
                    "start_height": 12,
                    "lookahead": {"maj_i": 0, "min_i": 0},
                },
                {
                    "address": BOB.address(),
                    "start_height": 13,
                    "lookahead": {"maj_i": 0, "min_i": 0},
                },
            ],
            key=lambda e: e["address"],
        )
    }
    ran = admin(data_dir, "--json", "accept-requests", "create", ALICE.address())
    assert (ran.code, ran.json) == (0, {"updated": [ALICE.address()]})
    ran = admin(data_dir, "reject-requests", "create", BOB.address())
    assert ran.code == 0 and "rejected requests of 1 address" in ran.out
    assert admin(data_dir, "--json", "list-requests").json == {}
    ran = admin(data_dir, "--json", "list-accounts")
    (entry,) = ran.json["active"]
    assert list(ran.json) == ["active"]
    assert (entry["address"], entry["scan_height"]) == (ALICE.address(), 12)
    assert set(entry) == {"address", "scan_height", "access_time"}
    ran = admin(data_dir, "modify-account-status", "inactive", ALICE.address())
    assert ran.code == 0 and "changed the status of 1 address" in ran.out
    ran = admin(data_dir, "list-accounts")
    assert "1 accounts (0 active, 1 inactive, 0 hidden)" in ran.out and "inactive" in ran.out
    ran = admin(data_dir, "--json", "rescan", "5", ALICE.address())
    assert (ran.code, ran.json) == (0, {"updated": [ALICE.address()]})
    assert admin(data_dir, "--json", "list-accounts").json["inactive"][0]["scan_height"] == 5
    ran = admin(data_dir, "--json", "rollback", "3")
    assert (ran.code, ran.json) == (0, {"new_height": 3})
    assert state(data_dir)[0][2] == (2, (2).to_bytes(32, "big"))
    ran = admin(data_dir, "--json", "delete-accounts", ALICE.address())
    assert (ran.code, ran.json) == (0, {"updated": [ALICE.address()]})
    assert admin(data_dir, "--json", "list-accounts").json == {}
    assert "0 accounts" in admin(data_dir, "list-accounts").out


def test_add_account_and_validate_read_the_view_key_never_argv(
    data_dir: Path, tmp_path: Path
) -> None:
    key = ALICE.view_secret.hex()
    ran = admin(data_dir, "--json", "add-account", ALICE.address(), stdin=key + "\n")
    assert (ran.code, ran.json) == (0, {"updated": [ALICE.address()]})
    accounts = state(data_dir)[0][0]
    assert accounts == [(ALICE.address(), AccountStatus.ACTIVE, 20)]  # the stored tip
    key_file = tmp_path / "bob.key"
    key_file.write_text(BOB.view_secret.hex() + "\n")
    ran = admin(
        data_dir,
        "add-account",
        BOB.address(),
        "--from-height",
        "4",
        "--view-key-file",
        str(key_file),
    )
    assert ran.code == 0 and "added 1 address" in ran.out
    assert state(data_dir)[0][0][1] == (BOB.address(), AccountStatus.ACTIVE, 4)
    ran = admin(data_dir, "--json", "validate", ALICE.address(), stdin=key)
    assert (ran.code, ran.json) == (0, {"address": ALICE.address()})
    ran = admin(data_dir, "--json", "validate", ALICE.address(), stdin=BOB.view_secret.hex())
    assert ran.code == 1
    assert ran.json == {
        "error": {"field": "view_key_hex", "details": "view_key and view_public do not match"}
    }
    ran = admin(data_dir, "validate", ALICE.address(), stdin=BOB.view_secret.hex())
    assert ran.code == 1 and ran.out.startswith("invalid: view_key_hex")
    # No command takes a key on the command line.
    ran = admin(data_dir, "add-account", CAROL.address(), CAROL.view_secret.hex())
    assert ran.code == 2
    for secret in (ALICE.view_secret.hex(), BOB.view_secret.hex()):
        for text in (ran.out, ran.err):
            assert secret not in text


def test_admin_keys_are_printed_once(data_dir: Path) -> None:
    ran = admin(data_dir, "--json", "create-admin-key", "--name", "ops")
    created = ran.json
    assert ran.code == 0 and set(created) == {"id", "name", "key"} and created["id"] == 1
    ran = admin(data_dir, "create-admin-key")
    assert ran.code == 0 and "admin key 2:" in ran.out and "cannot be shown again" in ran.out
    ran = admin(data_dir, "--json", "list-admin-keys")
    assert [(k["id"], k["name"]) for k in ran.json["keys"]] == [(1, "ops"), (2, "")]
    assert set(ran.json["keys"][0]) == {"id", "name", "created"}
    text = admin(data_dir, "list-admin-keys")
    assert "2 admin keys" in text.out and created["key"] not in text.out + ran.out
    ran = admin(data_dir, "--json", "revoke-admin-key", "1")
    assert (ran.code, ran.json) == (0, {"revoked": 1})
    ran = admin(data_dir, "revoke-admin-key", "1")
    assert (ran.code, ran.out) == (1, "") and ran.err == "lws admin: No admin key 1\n"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["no-such-command"],
        ["accept-requests", "created", ALICE.address()],
        ["accept-requests", "create"],
        ["modify-account-status", "gone", ALICE.address()],
        ["rescan", "-1", ALICE.address()],
        ["rescan", "x", ALICE.address()],
        ["rescan", str(2**64), ALICE.address()],
        ["rollback"],
        ["revoke-admin-key", "0"],
        ["add-account"],
        ["--network", "moon", "list-accounts"],
    ],
)
def test_usage_errors_exit_2_and_write_nothing(data_dir: Path, argv: list[str]) -> None:
    before = state(data_dir)
    ran = admin(data_dir, *argv)
    assert ran.code == 2 and ran.out == ""
    assert state(data_dir) == before


def test_refusals_exit_1_with_one_line_and_write_nothing(data_dir: Path, tmp_path: Path) -> None:
    queue(data_dir, wallet_request(ALICE, RequestKind.CREATE, 1))
    admin(data_dir, "add-account", BOB.address(), stdin=BOB.view_secret.hex())
    before = state(data_dir)
    stagenet = make_address(Network.STAGENET, CAROL.spend_public, CAROL.view_public)
    too_long = "4" * 200
    cases: list[tuple[list[str], str, str]] = [
        (["accept-requests", "create", ALICE.address(), "4bad"], "", "Invalid address"),
        (["accept-requests", "create", ALICE.address(), stagenet], "", "is for stagenet"),
        (["accept-requests", "create", too_long], "", "invalid arguments"),
        (["accept-requests", "import", ALICE.address()], "", "No pending import request"),
        (["accept-requests", "create", ALICE.address(), CAROL.address()], "", "No pending create"),
        (["reject-requests", "import", ALICE.address()], "", "No pending import"),
        (["modify-account-status", "hidden", BOB.address(), CAROL.address()], "", "No account for"),
        (["rescan", "1", BOB.address(), CAROL.address()], "", "No account for"),
        (["rescan", "21", BOB.address()], "", "above the chain"),
        (["rollback", "21"], "", "above the chain"),
        (["delete-accounts", BOB.address(), CAROL.address()], "", "No account for"),
        (["add-account", BOB.address()], BOB.view_secret.hex(), "exists already"),
        (["add-account", CAROL.address()], BOB.view_secret.hex(), "does not match"),
        (["add-account", CAROL.address()], "not a key", "64 hex digits"),
        (["add-account", CAROL.address()], "", "64 hex digits"),
        (
            ["add-account", CAROL.address(), "--view-key-file", str(tmp_path / "nope")],
            "",
            "cannot read",
        ),
        (["validate", "4bad"], ALICE.view_secret.hex(), "Invalid address"),
        (["validate", ALICE.address()], "zz", "64 hex digits"),
    ]
    for argv, stdin, reason in cases:
        ran = admin(data_dir, *argv, stdin=stdin)
        assert ran.code == 1, (argv, ran.err)
        assert ran.out == "" and reason in ran.err and ran.err.count("\n") == 1, (argv, ran.err)
        assert BOB.view_secret.hex() not in ran.err
    assert state(data_dir) == before


def test_the_store_and_its_network(data_dir: Path, tmp_path: Path) -> None:
    # --data-dir alone: the store's network (regtest: mainnet addresses).
    assert admin(data_dir, "list-accounts").code == 0
    ran = admin(data_dir, "--network", "stagenet", "list-accounts")
    assert ran.code == 1 and "is for regtest, not stagenet" in ran.err
    config = tmp_path / "lws.toml"
    config.write_text(f'data_dir = "{data_dir}"\nnetwork = "testnet"\n')
    ran = admin(None, "--config", str(config), "list-accounts")
    assert ran.code == 1 and "not testnet" in ran.err
    config.write_text(f'data_dir = "{data_dir}"\nnetwork = "regtest"\n')
    assert admin(None, "--config", str(config), "--json", "list-accounts").code == 0
    missing = tmp_path / "nothing-here"
    ran = admin(missing, "list-accounts")
    assert ran.code == 1 and "no store at" in ran.err
    assert not missing.exists()  # never created by an admin command
    ran = admin(None, "--config", str(tmp_path / "absent.toml"), "list-accounts")
    assert ran.code == 1 and "cannot read config file" in ran.err


def test_through_python_m_lws(data_dir: Path) -> None:
    def run(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lws", "admin", "--data-dir", str(data_dir), *argv],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = run("--json", "add-account", ALICE.address(), stdin=ALICE.view_secret.hex())
    assert (done.returncode, json.loads(done.stdout)) == (0, {"updated": [ALICE.address()]})
    refused = run("delete-accounts", BOB.address())
    assert refused.returncode == 1 and refused.stderr.startswith("lws admin: No account for")
    usage = run("rescan")
    assert usage.returncode == 2 and "usage:" in usage.stderr
    assert "Traceback" not in done.stderr + refused.stderr + usage.stderr
