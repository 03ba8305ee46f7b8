# Owns lws's Prometheus metrics (prometheus-client): the counters and
# histograms that every process adds to through the small calls below (the
# scanner, the daemon client, the API apps, webhook delivery), their
# multiprocess files (prometheus-client's multiprocess mode: each process of
# `lws serve` writes its own values to a file in one directory, and a scrape
# sums them), the state gauges of one scrape (ServerSample, filled by
# lws/services/health.py from the store and the scanner status), and the
# exposition. Label values come from fixed sets (route names, HTTP statuses,
# pass names, outcomes): never an address, key or anything a client sent.
# Must not import any other part of lws: every package may call it.
"""Prometheus metrics of lws."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

#: The environment variable prometheus-client's multiprocess mode reads (in
#: every process: the API worker processes inherit it from the main one).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Request durations: a cached account read answers in ~1 ms, a login that
#: creates an account or a get_random_outs that asks monerod takes up to
#: seconds; beyond 10 s a request is stuck.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: The label a request gets when its path is no route of the app: paths are
#: whatever a client sends, so they never become label values themselves.
OTHER_METHOD = "other"
#: The kinds of failed monerod call (lws_daemon_errors_total's label).
DAEMON_ERROR_KINDS = ("unavailable", "error", "wrong_network")
#: How a webhook delivery attempt ends (lws_webhook_deliveries_total's label).
WEBHOOK_OUTCOMES = ("delivered", "retry", "failed")

_lock = threading.Lock()


class _Metrics:
    """The metric objects of this process, built on first use (after the
    multiprocess mode is chosen: prometheus-client picks a value class per
    metric when it is built)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.scan_blocks = Counter(
            "lws_scan_blocks",
            "Blocks scanned, by pass (tip: new blocks; catch_up: blocks rescanned for "
            "accounts that are behind)",
            ["pass"],
            registry=r,
        )
        self.scan_pairs = Counter(
            "lws_scan_pairs",
            "(transaction, account) pairs scanned, by source (chain blocks or the pool)",
            ["source"],
            registry=r,
        )
        self.daemon_errors = Counter(
            "lws_daemon_errors",
            "Failed monerod calls (unavailable: no answer or a timeout; error: an HTTP, "
            "RPC or format error; wrong_network)",
            ["kind"],
            registry=r,
        )
        self.api_requests = Counter(
            "lws_api_requests",
            "Requests answered, by API, method (route name) and HTTP status",
            ["api", "method", "status"],
            registry=r,
        )
        self.api_seconds = Histogram(
            "lws_api_request_seconds",
            "Seconds from a request's arrival to the end of its reply, by API and method",
            ["api", "method"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "lws_webhook_deliveries",
            "Webhook delivery attempts, by outcome",
            ["outcome"],
            registry=r,
        )
        # Known label values start at 0, so a scrape shows them before the
        # first count (a rate() over a series that appears late misses it).
        for scan_pass in ("tip", "catch_up"):
            self.scan_blocks.labels(scan_pass)
        for source in ("chain", "pool"):
            self.scan_pairs.labels(source)
        for kind in DAEMON_ERROR_KINDS:
            self.daemon_errors.labels(kind)
        for outcome in WEBHOOK_OUTCOMES:
            self.webhook_deliveries.labels(outcome)


_metrics: _Metrics | None = None
_multiproc_dir: Path | None = None


def _m() -> _Metrics:
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = _Metrics()
    return _metrics


# --- the small calls the parts make -----------------------------------------


def scanned_blocks(count: int, scan_pass: str) -> None:
    """``count`` blocks scanned by the ``scan_pass`` ("tip" or "catch_up")."""
    if count:
        _m().scan_blocks.labels(scan_pass).inc(count)


def scanned_pairs(count: int, source: str) -> None:
    """``count`` (transaction, account) pairs scanned from ``source`` ("chain" or "pool")."""
    if count:
        _m().scan_pairs.labels(source).inc(count)


def daemon_error(kind: str) -> None:
    """A monerod call failed: ``kind`` is "unavailable", "error" or "wrong_network"."""
    _m().daemon_errors.labels(kind).inc()


def api_request(api: str, method: str, status: int, seconds: float) -> None:
    """One request of ``api`` ("wallet", "admin", "console") answered."""
    metrics = _m()
    metrics.api_requests.labels(api, method, str(status)).inc()
    metrics.api_seconds.labels(api, method).observe(seconds)


def webhook_delivery(outcome: str) -> None:
    """A webhook delivery attempt ended: "delivered", "retry" (it failed and
    is scheduled again) or "failed" (its last retry failed)."""
    _m().webhook_deliveries.labels(outcome).inc()


# --- multiprocess mode ----------------------------------------------------------


@contextmanager
def multiprocess_files() -> Iterator[Path | None]:
    """For the main process of `lws serve`: from here on, every process
    started inside (API workers inherit the environment) writes its counters
    to files in a fresh directory, and a scrape in any of them sums them all.
    The directory is removed on exit. Yields None (and counts in memory, as
    before) when this process has counted already: an in-process test."""
    global _multiproc_dir
    if _metrics is not None or _multiproc_dir is not None:
        yield None
        return
    directory = Path(tempfile.mkdtemp(prefix="lws-metrics-"))
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    _multiproc_dir = directory
    try:
        yield directory
    finally:
        _reset()
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        shutil.rmtree(directory, ignore_errors=True)


def join_multiprocess(directory: str | os.PathLike[str]) -> None:
    """For a process started by the main one (an API worker): count into
    the main process's directory ``directory``."""
    global _multiproc_dir
    if _metrics is not None:
        raise RuntimeError("join_multiprocess() after a metric was used")
    os.environ[MULTIPROC_ENV] = os.fspath(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    _multiproc_dir = Path(directory)


def multiprocess_dir() -> Path | None:
    """The directory this process counts into (None: in memory)."""
    return _multiproc_dir


def _reset() -> None:
    """Back to in-memory values (the end of multiprocess_files)."""
    global _metrics, _multiproc_dir
    values.close_all_multiprocess_files()  # type: ignore[no-untyped-call]
    values.ValueClass = values.MutexValue
    _metrics = None
    _multiproc_dir = None


# --- one scrape ---------------------------------------------------------------


@dataclass(frozen=True)
class WebhookSample:
    """The webhook outbox at one scrape."""

    hooks: int
    #: Records by state: pending (the backlog), delivered, failed.
    records: Mapping[str, int]
    limit: int
    #: Events not recorded because the outbox was full, since the store began.
    dropped_events: int


@dataclass(frozen=True)
class ServerSample:
    """The state gauges of one scrape (lws/services/health.py fills it)."""

    #: Blocks the store holds: the next height the tip pass scans.
    scan_height: int
    #: monerod's height as the scanner last saw it (0: not yet).
    daemon_height: int
    blocks_per_second: float
    #: The scanner's state (lws.scan.status.ScanState values); one is 1.
    scanner_state: str
    scanner_states: tuple[str, ...]
    accounts_behind: int
    #: Accounts by status name (active, inactive, hidden).
    accounts: Mapping[str, int]
    #: Pending requests by type (create, import).
    requests_pending: Mapping[str, int]
    store_bytes: int
    store_used_bytes: int
    store_map_bytes: int
    store_map_max_bytes: int
    store_readers: int
    store_max_readers: int
    #: The webhook outbox (None: a store without webhooks).
    webhooks: WebhookSample | None = None


class _SampleCollector(Collector):
    def __init__(self, sample: ServerSample) -> None:
        self.sample = sample

    def collect(self) -> Iterator[Metric]:
        s = self.sample
        yield GaugeMetricFamily(
            "lws_scan_height", "Blocks the store holds (the next height scanned)", s.scan_height
        )
        yield GaugeMetricFamily(
            "lws_daemon_height",
            "monerod's chain height as the scanner last saw it",
            s.daemon_height,
        )
        yield GaugeMetricFamily(
            "lws_scan_lag_blocks",
            "Blocks the store is behind monerod (lws_daemon_height - lws_scan_height)",
            max(0, s.daemon_height - s.scan_height) if s.daemon_height else 0,
        )
        yield GaugeMetricFamily(
            "lws_scan_blocks_per_second", "The scanner's recent rate", s.blocks_per_second
        )
        yield GaugeMetricFamily(
            "lws_accounts_behind",
            "Active accounts still catching up below the store's chain top",
            s.accounts_behind,
        )
        state = GaugeMetricFamily(
            "lws_scanner_state", "The scanner's state (1 for the current one)", labels=["state"]
        )
        for name in s.scanner_states:
            state.add_metric([name], 1.0 if name == s.scanner_state else 0.0)
        yield state
        accounts = GaugeMetricFamily("lws_accounts", "Accounts by status", labels=["status"])
        for name, count in s.accounts.items():
            accounts.add_metric([name], count)
        yield accounts
        pending = GaugeMetricFamily(
            "lws_requests_pending", "Account requests waiting for an operator", labels=["type"]
        )
        for name, count in s.requests_pending.items():
            pending.add_metric([name], count)
        yield pending
        yield GaugeMetricFamily(
            "lws_store_bytes", "Size of the store's data file on disk", s.store_bytes
        )
        yield GaugeMetricFamily(
            "lws_store_used_bytes", "Store pages in use (high-water mark)", s.store_used_bytes
        )
        yield GaugeMetricFamily(
            "lws_store_map_bytes",
            "The store's current map size (grows by doubling)",
            s.store_map_bytes,
        )
        yield GaugeMetricFamily(
            "lws_store_map_max_bytes", "The largest map size lws grows to", s.store_map_max_bytes
        )
        yield GaugeMetricFamily(
            "lws_store_map_used_ratio",
            "lws_store_used_bytes / lws_store_map_bytes",
            s.store_used_bytes / s.store_map_bytes if s.store_map_bytes else 0.0,
        )
        yield GaugeMetricFamily(
            "lws_store_readers", "LMDB reader slots in use (every process)", s.store_readers
        )
        yield GaugeMetricFamily(
            "lws_store_max_readers", "LMDB reader slots in all", s.store_max_readers
        )
        if s.webhooks is not None:
            w = s.webhooks
            yield GaugeMetricFamily("lws_webhooks", "Registered webhooks", w.hooks)
            yield GaugeMetricFamily(
                "lws_webhook_backlog",
                "Webhook deliveries not yet made (pending in the outbox)",
                w.records.get("pending", 0),
            )
            records = GaugeMetricFamily(
                "lws_webhook_outbox_records", "Outbox records by state", labels=["state"]
            )
            for record_state, count in w.records.items():
                records.add_metric([record_state], count)
            yield records
            yield GaugeMetricFamily("lws_webhook_outbox_limit", "Outbox records at most", w.limit)
            yield CounterMetricFamily(
                "lws_webhook_dropped_events",
                "Events not recorded because the outbox was full (since the store began)",
                w.dropped_events,
            )


def exposition(sample: ServerSample | None, accept: str = "") -> tuple[bytes, str]:
    """The text of one scrape (its body and Content-Type): every process's
    counters (summed from the multiprocess files, or this process's own)
    and ``sample``'s gauges. ``accept``: the scraper's Accept header
    (OpenMetrics when it asks for it)."""
    registry = CollectorRegistry(auto_describe=False)
    directory = _multiproc_dir
    if directory is not None:
        _m()  # this process's files exist even before its first count
        MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    else:
        registry.register(_OwnCollector())
    if sample is not None:
        registry.register(_SampleCollector(sample))
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


class _OwnCollector(Collector):
    """This process's metrics when they are counted in memory."""

    def collect(self) -> Iterator[Metric]:
        yield from _m().registry.collect()


__all__ = [
    "ServerSample",
    "WebhookSample",
    "api_request",
    "daemon_error",
    "exposition",
    "join_multiprocess",
    "multiprocess_dir",
    "multiprocess_files",
    "scanned_blocks",
    "scanned_pairs",
    "webhook_delivery",
]
