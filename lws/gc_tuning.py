# Owns the garbage collector settings of lws's long-running processes: the
# main process of `lws serve`, its API workers and its scan workers call it
# once, after their imports. Must not be called by library code (it changes
# the whole process), and must not disable the collector: reference cycles
# still get collected, only less often.
"""Fewer, cheaper cyclic garbage collections for long-running processes.

A scan batch or a cached API reply allocates and frees a few hundred
thousand objects, nearly none of them in reference cycles. With CPython's
default thresholds (700, 10, 10) that runs a young collection every few
hundred allocations and, now and then, a full one that walks every tracked
object: the modules, the caches and the batch in flight. In the scanner's
process that came to 10-40 ms per batch of the bench chain, on the batch's
critical path (`tools/bench_scan.py`).

:func:`tune_for_long_running` moves everything alive at start-up (modules,
tables, configuration) into the permanent generation, which collections
skip, and lets 50,000 net allocations pass between young collections.
"""

from __future__ import annotations

import gc

#: Net allocations between young collections (CPython's default: 700).
YOUNG_THRESHOLD = 50_000
#: Young collections per middle one, middle ones per full one (default 10, 10).
OLDER_THRESHOLD = 20


def tune_for_long_running() -> None:
    """Freeze what start-up allocated and space collections out; idempotent."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)
