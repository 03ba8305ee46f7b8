import time, tempfile, contextlib, os, trio
from pathlib import Path
from lws.store import writer as wmod
from lws.store.outbox import Outbox
from lws.scan.pool import ScanPool
from lws.store import Store
from lws.store import store as smod
from tests.support.bench_chain import bench_label, open_bench_chain
from tools.bench_scan import LOOKAHEAD, add_accounts, scan_all
from tools.bench_notify import register_hooks
from lws.gc_tuning import tune_for_long_running
def main():
    global orig
    orig = wmod.Writer.add_block_batch
    times = []
    tt = []
    def timed(self, *a, **k):
        t = time.perf_counter(); r = orig(self, *a, **k); times.append((time.perf_counter()-t, self._outbox().written)); return r
    wmod.Writer.add_block_batch = timed
    orig_t = smod.Store.transact
    def transact(self, fn):
        t0 = time.perf_counter(); r = orig_t(self, fn); tt.append(time.perf_counter() - t0); return r
    smod.Store.transact = transact
    ob_orig = Outbox.on_batch
    obt = [0.0]
    def on_batch(self, *a):
        t = time.perf_counter(); r = ob_orig(self, *a); obt[0] += time.perf_counter()-t; return r
    Outbox.on_batch = on_batch
    with open_bench_chain() as (daemon, _), tempfile.TemporaryDirectory() as tmp, contextlib.closing(ScanPool(2)) as pool:
        pool.start()
        h = daemon.height()
        for kind in ("none", "hooks", "none", "hooks"):
            times.clear(); obt[0] = 0; tt.clear()
            with Store.open(Path(tmp) / kind / str(time.time()), network="regtest") as st:
                add_accounts(st, [bench_label(i) for i in range(10)], LOOKAHEAD)
                if kind == "hooks":
                    register_hooks(st, 1000, "http://x/")
                s, _ = trio.run(scan_all, st, daemon.url, h, pool)
            print(kind, f"{s:.2f}", [(f"{a:.3f}", n) for a, n in times], f"on_batch {obt[0]:.3f}", "transacts", [f"{x:.3f}" for x in tt if x > 0.003])

if __name__ == '__main__':
    tune_for_long_running()
    main()
