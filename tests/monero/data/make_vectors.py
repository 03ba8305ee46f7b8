# Owns the provenance of tests/monero/data/*.json: it drives a real monerod
# (regtest, offline) and monero-wallet-rpc and records what they say.  It does
# not import lws, so the vectors are independent of the code they test.  Not
# a test; not run by pytest.
"""Regenerate wallet_rpc_addresses.json and regtest_amounts.json.

Run: python3 tests/monero/data/make_vectors.py tests/monero/data
(needs monerod and monero-wallet-rpc on PATH; about a minute).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import httpx
from monero.seed import Seed

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
procs = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rpc(port, method, params=None, timeout=300):
    r = httpx.post(
        f"http://127.0.0.1:{port}/json_rpc",
        json={"jsonrpc": "2.0", "id": "0", "method": method, "params": params or {}},
        timeout=timeout,
    )
    j = r.json()
    if "error" in j:
        raise RuntimeError(f"{method}: {j['error']}")
    return j["result"]


def other(port, path, body):
    return httpx.post(f"http://127.0.0.1:{port}{path}", json=body, timeout=120).json()


def wait(port):
    for _ in range(600):
        try:
            httpx.post(
                f"http://127.0.0.1:{port}/json_rpc",
                json={"jsonrpc": "2.0", "id": "0", "method": "get_version"},
                timeout=2,
            )
            return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError("no start")


def start_wallet(tmp, daemon_port, extra=()):
    wdir = tempfile.mkdtemp(dir=tmp)
    port = free_port()
    p = subprocess.Popen(
        [
            "monero-wallet-rpc",
            "--wallet-dir",
            wdir,
            "--rpc-bind-port",
            str(port),
            "--disable-rpc-login",
            "--daemon-address",
            f"127.0.0.1:{daemon_port}",
            "--non-interactive",
            "--log-file",
            os.path.join(wdir, "w.log"),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    procs.append(p)
    wait(port)
    return port


def restore(port, name, seed_hex):
    words = Seed(seed_hex).phrase
    rpc(
        port,
        "restore_deterministic_wallet",
        {
            "filename": name,
            "password": "",
            "seed": words,
            "restore_height": 0,
            "language": "English",
        },
    )
    keys = {k: rpc(port, "query_key", {"key_type": k})["key"] for k in ("spend_key", "view_key")}
    return words, keys


SEED_A = "0f" * 32
SEED_B = "2b" * 31 + "07"


def addresses_vector(port, network):
    """Subaddresses across majors/minors and integrated addresses for the open wallet."""
    out = {"network": network, "subaddresses": [], "integrated": []}
    for major in range(1, 4):
        rpc(port, "create_account", {"label": f"acct{major}"})
    for major in range(0, 4):
        for _ in range(6):
            rpc(port, "create_address", {"account_index": major, "label": ""})
    for major in range(0, 4):
        res = rpc(port, "get_address", {"account_index": major})
        for a in res["addresses"]:
            out["subaddresses"].append(
                {"major": major, "minor": a["address_index"], "address": a["address"]}
            )
    for pid in ("0000000000000000", "0123456789abcdef", "ffffffffffffffff", "deadbeef00c0ffee"):
        res = rpc(port, "make_integrated_address", {"payment_id": pid})
        out["integrated"].append({"payment_id": pid, "address": res["integrated_address"]})
    return out


def parse_extra(extra):
    b = bytes(extra)
    i = 0
    pubs = []
    adds = []
    nonce = None
    while i < len(b):
        t = b[i]
        i += 1
        if t == 0x01:
            pubs.append(b[i : i + 32].hex())
            i += 32
        elif t == 0x04:
            n = b[i]
            i += 1
            for _ in range(n):
                adds.append(b[i : i + 32].hex())
                i += 32
        elif t == 0x02:
            n = b[i]
            i += 1
            nonce = b[i : i + n]
            i += n
        elif t == 0x00:
            break
        else:
            raise RuntimeError(f"extra tag {t}")
    return pubs, adds, nonce


def main(tmp):
    dport, p2p, zmq = free_port(), free_port(), free_port()
    d = subprocess.Popen(
        [
            "monerod",
            "--regtest",
            "--offline",
            "--fixed-difficulty",
            "1",
            "--disable-rpc-ban",
            "--non-interactive",
            "--data-dir",
            os.path.join(tmp, "d"),
            "--rpc-bind-port",
            str(dport),
            "--p2p-bind-port",
            str(p2p),
            "--zmq-rpc-bind-port",
            str(zmq),
            "--log-file",
            os.path.join(tmp, "d.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    procs.append(d)
    wait(dport)
    wa = start_wallet(tmp, dport)
    wb = start_wallet(tmp, dport)
    words_a, keys_a = restore(wa, "a", SEED_A)
    words_b, keys_b = restore(wb, "b", SEED_B)
    addr_a = rpc(wa, "get_address", {"account_index": 0})["address"]
    addr_b = rpc(wb, "get_address", {"account_index": 0})["address"]

    # --- addresses (mainnet, from the regtest wallet B) ---
    vec = {
        "source": "monero-wallet-rpc v0.18.0.0 (regtest wallets use mainnet addresses); restore_deterministic_wallet from the seed, query_key, create_account/create_address/get_address, make_integrated_address",
        "wallets": [],
    }
    wv = addresses_vector(wb, "mainnet")
    wv.update(
        {
            "seed": words_b,
            "spend_secret": keys_b["spend_key"],
            "view_secret": keys_b["view_key"],
            "primary_address": addr_b,
        }
    )
    vec["wallets"].append(wv)
    # testnet / stagenet wallets (offline: no daemon needed for key math)
    for net in ("testnet", "stagenet"):
        port = start_wallet(tmp, free_port(), extra=(f"--{net}",))
        words, keys = restore(port, "n", SEED_A)
        wv = addresses_vector(port, net)
        wv.update(
            {
                "seed": words,
                "spend_secret": keys["spend_key"],
                "view_secret": keys["view_key"],
                "primary_address": rpc(port, "get_address", {"account_index": 0})["address"],
            }
        )
        vec["wallets"].append(wv)
    with open(os.path.join(OUT, "wallet_rpc_addresses.json"), "w") as f:
        json.dump(vec, f, indent=1)
    print("addresses written")

    # --- chain: mine to A, transfer to B ---
    rpc(dport, "generateblocks", {"amount_of_blocks": 80, "wallet_address": addr_a})
    rpc(wa, "refresh")
    rpc(wb, "refresh")
    bsubs = {(s["major"], s["minor"]): s["address"] for s in vec["wallets"][0]["subaddresses"]}
    integ = vec["wallets"][0]["integrated"][1]
    txids = []
    plans = [
        [{"address": addr_b, "amount": 1234567890123}],
        [{"address": bsubs[(1, 2)], "amount": 987654321}],
        [{"address": integ["address"], "amount": 5555555555}],
        [
            {"address": addr_b, "amount": 1},
            {"address": bsubs[(0, 3)], "amount": 2000000000000},
            {"address": bsubs[(2, 5)], "amount": 77},
        ],
    ]
    for dests in plans:
        r = rpc(wa, "transfer", {"destinations": dests, "ring_size": 16, "get_tx_key": True})
        txids.append(r["tx_hash"])
        rpc(dport, "generateblocks", {"amount_of_blocks": 1, "wallet_address": addr_a})
        rpc(wa, "refresh")
    rpc(wb, "refresh")
    inc = []
    for acct in range(0, 4):
        r = rpc(wb, "incoming_transfers", {"transfer_type": "all", "account_index": acct})
        inc += r.get("transfers", [])
    by_key = {t["pubkey"]: t for t in inc}
    gt = rpc(wb, "get_transfers", {"in": True, "all_accounts": True})
    pays = rpc(wb, "get_payments", {"payment_id": integ["payment_id"]})
    txs = other(dport, "/get_transactions", {"txs_hashes": txids, "decode_as_json": True})
    outputs = []
    pid_vectors = []
    view_b = keys_b["view_key"]
    for tx in txs["txs"]:
        j = json.loads(tx["as_json"])
        pubs, adds, nonce = parse_extra(j["extra"])
        rct = j["rct_signatures"]
        for i, vout in enumerate(j["vout"]):
            tk = vout["target"].get("tagged_key") or vout["target"]
            key = tk["key"]
            entry = {
                "txid": tx["tx_hash"],
                "rct_type": rct["type"],
                "output_index": i,
                "output_key": key,
                "ecdh_amount": rct["ecdhInfo"][i]["amount"],
                "out_pk": rct["outPk"][i],
                "tx_pubkey": pubs[0],
                "additional_pubkeys": adds,
            }
            t = by_key.get(key)
            if t is not None:
                entry["wallet_rpc_amount"] = t["amount"]
                entry["subaddr_index"] = [t["subaddr_index"]["major"], t["subaddr_index"]["minor"]]
                entry["owned_by_view_secret"] = True
            else:
                entry["owned_by_view_secret"] = False
            outputs.append(entry)
        if nonce is not None and nonce[0] == 1:
            pid_vectors.append(
                {
                    "txid": tx["tx_hash"],
                    "tx_pubkey": pubs[0],
                    "encrypted_payment_id": nonce[1:9].hex(),
                }
            )
    pay_list = pays.get("payments", [])
    for v in pid_vectors:
        match = [p for p in pay_list if p["tx_hash"] == v["txid"]]
        if match:
            v["wallet_rpc_payment_id"] = match[0]["payment_id"]
        else:
            v["wallet_rpc_payment_id"] = None
        gts = [t for t in gt.get("in", []) if t["txid"] == v["txid"]]
        v["get_transfers_payment_id"] = gts[0]["payment_id"] if gts else None
    # coinbase zero commitments: the miner tx of block 5, its output's commitment from get_outs
    blk = rpc(dport, "get_block", {"height": 5})
    mj = json.loads(blk["json"])["miner_tx"]
    mtxid = blk["miner_tx_hash"]
    txm = other(dport, "/get_transactions", {"txs_hashes": [mtxid], "decode_as_json": True})["txs"][
        0
    ]
    gidx = txm["output_indices"][0]
    outs = other(dport, "/get_outs", {"outputs": [{"amount": 0, "index": gidx}], "get_txid": True})[
        "outs"
    ]
    coinbase = [
        {
            "txid": mtxid,
            "amount": mj["vout"][0]["amount"],
            "global_index": gidx,
            "commitment": outs[0]["mask"],
            "key": outs[0]["key"],
        }
    ]
    data = {
        "source": "real monerod v0.18.0.0 regtest + monero-wallet-rpc: wallet A mined 80 blocks, sent 4 txs to wallet B; amounts from B's incoming_transfers, payment ids from get_payments/get_transfers, ecdhInfo/outPk from the daemon's /get_transactions decode_as_json, coinbase commitments from /get_outs",
        "recipient": {
            "seed": words_b,
            "spend_secret": keys_b["spend_key"],
            "view_secret": view_b,
            "primary_address": addr_b,
        },
        "outputs": outputs,
        "payment_ids": pid_vectors,
        "coinbase": coinbase,
    }
    with open(os.path.join(OUT, "regtest_amounts.json"), "w") as f:
        json.dump(data, f, indent=1)
    print("amounts written", len(outputs), sum(o["owned_by_view_secret"] for o in outputs))


if __name__ == "__main__":
    workdir = tempfile.mkdtemp(prefix="lws-vectors-")
    try:
        main(workdir)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(workdir, ignore_errors=True)
