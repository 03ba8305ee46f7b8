# Owns lws's configuration: one frozen msgspec Struct built from a TOML file,
# then LWS_* environment variables, then command-line flags (each overriding
# the one before). The only module that reads os.environ. Must not start
# anything or touch the store, daemon or network.
"""Configuration: TOML file < environment < flags."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from lws.errors import ConfigError

Network = Literal["mainnet", "testnet", "stagenet", "regtest"]

#: Where state lives unless configured: per-user data folder.
DEFAULT_DATA_DIR = "~/.local/share/lws"
#: The wallet API's default listener (MyMonero clients are configured with its URL).
DEFAULT_LISTEN = "127.0.0.1:8443"
#: Prefix of the environment variables lws reads (LWS_DAEMON_URL, ...).
ENV_PREFIX = "LWS_"
#: API processes at most: each holds its own reply cache (up to 64 MiB) and
#: its own LMDB reader slots (1,024 shared by every process of the store).
MAX_API_WORKERS = 32
#: api_workers = 0 (the default) serves the API from one process per core, at most this many.
AUTO_API_WORKERS_MAX = 4
#: Blocks the scanner may trail monerod and still be ready: it trails by 0-1
#: at the tip (it polls every poll_interval); 10 blocks (~20 minutes of
#: chain) means it is stuck or far behind, and wallets would see stale data.
DEFAULT_READY_LAG_BLOCKS = 10
#: Webhook retries: BTCPay Server's schedule (10 s, 1 min, then 10 min x 6:
#: 9 attempts over ~71 minutes) before a delivery is marked failed.
DEFAULT_WEBHOOK_RETRY_DELAYS = (10.0, 60.0, 600.0, 600.0, 600.0, 600.0, 600.0, 600.0)
#: Retries at most, and the longest delay: a delivery is failed within days.
MAX_WEBHOOK_RETRIES = 100
MAX_WEBHOOK_RETRY_DELAY = 86_400.0
#: Longest webhook timeout: a receiver slower than this is down.
MAX_WEBHOOK_TIMEOUT = 300.0


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    #: The Monero network of the accounts and of monerod ("regtest" uses mainnet
    #: addresses against a fakechain monerod).
    network: Network = "mainnet"
    #: monerod's RPC URL; when unset, `lws serve` starts a local regtest playground.
    daemon_url: str | None = None
    data_dir: str = DEFAULT_DATA_DIR
    #: HOST:PORT listeners of the wallet API.
    listen: tuple[str, ...] = (DEFAULT_LISTEN,)
    #: HOST:PORT listeners of the admin API (none by default).
    admin_listen: tuple[str, ...] = ()
    #: Bind non-loopback addresses over plain HTTP, and reach a non-loopback
    #: scan cluster over plain tcp:// (view keys travel in both).
    allow_insecure_public: bool = False
    tls_certificate: str | None = None
    tls_key: str | None = None
    auto_accept_creation: bool = False
    auto_accept_import: bool = False
    #: Pending account requests beyond this are refused (create-queue cap).
    max_pending_requests: int = 1000
    #: Subaddresses one account may register (upsert/provision + lookahead).
    max_subaddresses: int = 100_000
    #: Origins allowed to call the API from a browser (credentials allowed).
    cors_origins: tuple[str, ...] = ()
    #: Requests per minute per client and method for the methods that write
    #: or cost monerod work (account creation, imports, relays, decoys,
    #: subaddress provisioning); 0 turns limiting off. One budget for the
    #: whole server, whatever api_workers is.
    rate_limit: int = 60
    #: Proxies (CIDR) whose X-Forwarded-For names the client for rate limits.
    trusted_proxies: tuple[str, ...] = ()
    #: Scan worker processes; 0 = one per core.
    scan_workers: int = 0
    #: A Dask distributed scheduler (tls://HOST:PORT, or tcp:// on loopback
    #: unless allow_insecure_public) that takes the scan work instead of
    #: local worker processes; needs the `cluster` extra (distributed).
    scan_cluster: str | None = None
    #: PEM files of the TLS connection to the scan cluster: the CA that signed
    #: the scheduler's certificate, and lws's client certificate and key.
    scan_cluster_tls_ca: str | None = None
    scan_cluster_tls_cert: str | None = None
    scan_cluster_tls_key: str | None = None
    #: Processes serving the wallet API on the same listeners: 0 = one per
    #: core (at most AUTO_API_WORKERS_MAX); 1 = the main process only; N > 1
    #: adds N - 1 API worker processes reading the same store (the main
    #: process alone runs the scanner). See api_processes().
    api_workers: int = 0
    #: Blocks scanned and committed per write transaction (monerod sends up to 1000).
    scan_batch_blocks: int = 1000
    #: Seconds between polls of monerod when at the chain tip.
    poll_interval: float = 2.0
    #: Seconds a webhook receiver has to answer one delivery (2xx = delivered).
    webhook_timeout: float = 10.0
    #: Seconds between a failed attempt and the next; after the last, the
    #: delivery is failed (listed, redeliverable).
    webhook_retry_delays: tuple[float, ...] = DEFAULT_WEBHOOK_RETRY_DELAYS
    #: Delivered and failed records are deleted this many seconds after their
    #: last change (7 days).
    webhook_keep_seconds: float = 7 * 86_400.0
    #: Outbox records at most (pending + delivered + failed); past it, new
    #: events are dropped, counted and logged, never waited for.
    webhook_outbox_limit: int = 100_000
    #: Check the certificates of https webhook receivers (monero-lws's
    #: --webhook-ssl-verification system_ca); false accepts any.
    webhook_verify_tls: bool = True
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: Serve GET /metrics on the admin listener without an admin key (for a
    #: Prometheus server that scrapes it; /health and /ready never need one).
    metrics_public: bool = False
    #: /ready answers 503 when the store's chain is more than this many
    #: blocks below monerod's (DEFAULT_READY_LAG_BLOCKS).
    ready_max_lag_blocks: int = DEFAULT_READY_LAG_BLOCKS

    def api_processes(self) -> int:
        """How many processes serve the API (api_workers with 0 resolved)."""
        if self.api_workers:
            return self.api_workers
        return max(1, min(os.cpu_count() or 1, AUTO_API_WORKERS_MAX))

    def __post_init__(self) -> None:
        if self.max_pending_requests < 0:
            raise ConfigError("max_pending_requests must be >= 0")
        if self.max_subaddresses < 0:
            raise ConfigError("max_subaddresses must be >= 0")
        if self.scan_workers < 0:
            raise ConfigError("scan_workers must be >= 0")
        if not 0 <= self.api_workers <= MAX_API_WORKERS:
            raise ConfigError(f"api_workers must be between 0 (one per core) and {MAX_API_WORKERS}")
        if self.rate_limit < 0:
            raise ConfigError("rate_limit must be >= 0 (0 turns limiting off)")
        for cidr in self.trusted_proxies:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ConfigError(f"trusted_proxies: {cidr!r} is not an address or CIDR") from None
        if self.scan_batch_blocks < 1:
            raise ConfigError("scan_batch_blocks must be >= 1")
        if not self.poll_interval > 0:
            raise ConfigError("poll_interval must be > 0")
        if self.ready_max_lag_blocks < 0:
            raise ConfigError("ready_max_lag_blocks must be >= 0")
        if not 0 < self.webhook_timeout <= MAX_WEBHOOK_TIMEOUT:
            raise ConfigError(f"webhook_timeout must be in (0, {MAX_WEBHOOK_TIMEOUT:g}] seconds")
        if len(self.webhook_retry_delays) > MAX_WEBHOOK_RETRIES or not all(
            0 < delay <= MAX_WEBHOOK_RETRY_DELAY for delay in self.webhook_retry_delays
        ):
            raise ConfigError(
                f"webhook_retry_delays: at most {MAX_WEBHOOK_RETRIES} delays, each in "
                f"(0, {MAX_WEBHOOK_RETRY_DELAY:g}] seconds"
            )
        if not self.webhook_keep_seconds > 0:
            raise ConfigError("webhook_keep_seconds must be > 0")
        if not 1 <= self.webhook_outbox_limit <= 100_000_000:
            raise ConfigError("webhook_outbox_limit must be between 1 and 100000000")
        if (self.tls_certificate is None) != (self.tls_key is None):
            raise ConfigError("tls_certificate and tls_key go together")
        for listen in (*self.listen, *self.admin_listen):
            split_listen(listen)
        self._check_scan_cluster()

    def _check_scan_cluster(self) -> None:
        tls_files = (
            self.scan_cluster_tls_ca,
            self.scan_cluster_tls_cert,
            self.scan_cluster_tls_key,
        )
        if self.scan_cluster is None:
            if any(f is not None for f in tls_files):
                raise ConfigError("scan_cluster_tls_* need scan_cluster (a tls:// address)")
            return
        scheme, host, _ = split_cluster_address(self.scan_cluster)
        if scheme == "tls":
            if any(f is None for f in tls_files):
                raise ConfigError(
                    "scan_cluster: tls:// needs scan_cluster_tls_ca, scan_cluster_tls_cert"
                    " and scan_cluster_tls_key"
                )
            return
        if any(f is not None for f in tls_files):
            raise ConfigError("scan_cluster_tls_*: the scan cluster address is not tls://")
        if not is_loopback(host) and not self.allow_insecure_public:
            raise ConfigError(
                f"scan_cluster: {self.scan_cluster} is plain tcp:// to a non-loopback host"
                " (view keys would travel in clear): use tls://, or allow_insecure_public"
            )

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser()


#: The schemes of a scan cluster address (Dask's comm protocols lws speaks).
CLUSTER_SCHEMES = ("tcp", "tls")


def split_cluster_address(address: str) -> tuple[str, str, int]:
    """``scheme://host:port`` of a Dask scheduler -> (scheme, host, port)."""
    scheme, sep, rest = address.partition("://")
    if not sep or scheme not in CLUSTER_SCHEMES:
        raise ConfigError(
            f"scan_cluster: {address!r} must start with tls:// or tcp:// (a Dask scheduler)"
        )
    try:
        host, port = split_listen(rest)
    except ConfigError:
        raise ConfigError(f"scan_cluster: {address!r} is not {scheme}://HOST:PORT") from None
    return scheme, host, port


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine's loopback (literally: no DNS)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"listen: {listen!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


_LIST_FIELDS = {"listen", "admin_listen", "cors_origins", "trusted_proxies", "webhook_retry_delays"}


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in Config.__struct_fields__:
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is None:
            continue
        values[name] = (
            [item.strip() for item in raw.split(",") if item.strip()]
            if name in _LIST_FIELDS
            else raw
        )
    return values


def _gather(
    path: str | os.PathLike[str] | None,
    overrides: Mapping[str, Any] | None,
    environ: Mapping[str, str] | None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The raw values of the file, then the environment, then ``overrides``;
    and where each came from ("file", "environment" or "flag")."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if path is not None:
        try:
            text = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        try:
            file_values = msgspec.toml.decode(text)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path}: {exc}") from exc
        if not isinstance(file_values, dict):
            raise ConfigError(f"config file {path} is not a table")
        values.update(file_values)
        sources.update(dict.fromkeys(file_values, "file"))
    from_env = _from_env(os.environ if environ is None else environ)
    values.update(from_env)
    sources.update(dict.fromkeys(from_env, "environment"))
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    values.update(flags)
    sources.update(dict.fromkeys(flags, "flag"))
    return values, sources


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the configuration; a ConfigError names the offending key."""
    return load_config_sources(path, overrides, environ)[0]


def load_config_sources(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Config, dict[str, str]]:
    """load_config, and where each option set came from ("file", "environment"
    or "flag"; options left out are at their default)."""
    values, sources = _gather(path, overrides, environ)
    try:
        return msgspec.convert(values, Config, strict=False), sources
    except msgspec.ValidationError as exc:
        raise ConfigError(f"config: {exc}") from exc


def configured_network(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """The network the file, environment or ``overrides`` name; None when
    none does (``lws admin`` then takes the one its store records)."""
    network = _gather(path, overrides, environ)[0].get("network")
    return None if network is None else str(network)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return msgspec.json.encode(value).decode()  # a JSON string is a TOML basic string
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def to_toml(config: Config, sources: Mapping[str, str]) -> str:
    """``config`` as a TOML file that loads back to it, each line saying where
    its value came from (an unset option is a comment)."""
    lines = []
    for name in config.__struct_fields__:
        value = getattr(config, name)
        source = sources.get(name, "default")
        if value is None:
            lines.append(f"# {name} is not set ({source})")
        else:
            lines.append(f"{name} = {_toml_value(value)}  # {source}")
    return "\n".join(lines) + "\n"
