# Owns the command line: argv -> config -> trio.run. No logic beyond choosing
# the subcommand; `lws serve` with no daemon configured runs the playground;
# `lws admin` and `lws import-request` are lws/admin's.
"""``lws`` command-line entry point."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import trio

from lws.config import Config, load_config_sources, to_toml
from lws.errors import LwsError
from lws.gc_tuning import tune_for_long_running


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lws", description="Monero light-wallet server")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser(
        "serve", help="run the server (a regtest playground if no daemon is set)"
    )
    serve.add_argument("--config", metavar="FILE", help="TOML configuration file")
    serve.add_argument("--daemon-url", help="monerod RPC URL, e.g. http://127.0.0.1:18081")
    serve.add_argument("--data-dir", help="where the store lives")
    serve.add_argument(
        "--listen", action="append", metavar="HOST:PORT", help="API listener (repeatable)"
    )
    serve.add_argument(
        "--admin-listen",
        action="append",
        metavar="HOST:PORT",
        help="admin API listener (repeatable; none by default; keys: lws admin create-admin-key)",
    )
    serve.add_argument("--network", choices=["mainnet", "testnet", "stagenet", "regtest"])
    serve.add_argument("--auto-accept-creation", action="store_true", default=None)
    serve.add_argument("--auto-accept-import", action="store_true", default=None)
    serve.add_argument("--max-subaddresses", type=int)
    serve.add_argument("--cors-origin", action="append", dest="cors_origins", metavar="ORIGIN")
    serve.add_argument(
        "--rate-limit",
        type=int,
        metavar="N",
        help="requests per minute per client and method for account creation, imports, "
        "relays, decoys and subaddress provisioning (default 60; 0: no limit)",
    )
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        dest="trusted_proxies",
        metavar="CIDR",
        help="a proxy whose X-Forwarded-For names the client (repeatable)",
    )
    serve.add_argument("--tls-certificate", metavar="PEM")
    serve.add_argument("--tls-key", metavar="PEM")
    serve.add_argument(
        "--allow-insecure-public",
        action="store_true",
        default=None,
        help="serve plain HTTP on a non-loopback address (view keys travel in clear)",
    )
    serve.add_argument("--scan-workers", type=int, help="scan processes (0: one per core)")
    serve.add_argument(
        "--scan-cluster",
        metavar="ADDRESS",
        help="send the scan work to a Dask scheduler (tls://HOST:PORT; tcp:// on loopback)",
    )
    serve.add_argument("--scan-cluster-tls-ca", metavar="PEM", help="CA of the scan cluster")
    serve.add_argument(
        "--scan-cluster-tls-cert", metavar="PEM", help="lws's client certificate for it"
    )
    serve.add_argument("--scan-cluster-tls-key", metavar="PEM", help="lws's client key for it")
    serve.add_argument(
        "--api-workers",
        type=int,
        help="processes serving the API (0: one per core, at most 4; 1: the main process only)",
    )
    serve.add_argument("--scan-batch-blocks", type=int, help="blocks per write transaction")
    serve.add_argument("--poll-interval", type=float, help="seconds between polls at the tip")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--metrics-public",
        action="store_true",
        default=None,
        help="serve /metrics on the admin listener without an admin key",
    )
    serve.add_argument(
        "--ready-max-lag-blocks", type=int, help="/ready fails beyond this scanner lag"
    )
    serve.add_argument(
        "--check-config",
        action="store_true",
        help="validate the configuration (file, environment, flags), print it, and exit",
    )
    serve.add_argument("--webhook-timeout", type=float, help="seconds a receiver has to answer")
    serve.add_argument(
        "--webhook-retry-delays",
        type=_delays,
        metavar="S,S,...",
        help="seconds before each retry of a failed delivery (default 10,60,600 x6)",
    )
    serve.add_argument(
        "--webhook-keep-seconds", type=float, help="keep delivered and failed records this long"
    )
    serve.add_argument("--webhook-outbox-limit", type=int, help="outbox records at most")
    serve.add_argument(
        "--webhook-no-verify-tls",
        action="store_false",
        dest="webhook_verify_tls",
        default=None,
        help="accept any certificate from https webhook receivers",
    )
    sub.add_parser(
        "admin", help="operate the store: accounts, requests, admin keys", add_help=False
    )
    sub.add_parser(
        "import-request",
        help="ask a light-wallet server to import a wallet, and follow its scan",
        add_help=False,
    )
    return parser


def _delays(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of seconds: {text}") from None


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    skip = {"command", "config", "check_config"}
    return {k: v for k, v in vars(args).items() if k not in skip and v is not None}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["admin"]:
        from lws.admin.cli import main as admin_main

        return admin_main(argv[1:])
    if argv[:1] == ["import-request"]:
        from lws.admin.import_request import main as import_main

        return import_main(argv[1:])
    args = _parser().parse_args(argv)
    if args.command is None:
        args = _parser().parse_args(["serve", *(argv or [])])
    try:
        config, sources = load_config_sources(args.config, _overrides(args))
    except LwsError as exc:
        print(f"lws: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "check_config", False):
        return _check_config(config, sources, args.config)
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per monerod request is noise at info level.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    if config.daemon_url is None:
        from lws.playground import run_playground as entry
    else:
        from lws.app import run as entry
    tune_for_long_running()  # after the imports: they are frozen with the rest
    try:
        trio.run(entry, config)
    except LwsError as exc:
        print(f"lws: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _check_config(config: Config, sources: dict[str, str], path: str | None) -> int:
    """``lws serve --check-config``: the effective configuration on stdout
    (TOML that loads back to it), a verdict on stderr; starts nothing."""
    from lws.app import preflight

    try:
        preflight(config)
    except LwsError as exc:
        print(f"lws: {exc}", file=sys.stderr)
        return 2
    origin = f"file {path}, then " if path else ""
    print(f"# lws effective configuration ({origin}LWS_* environment, then flags)")
    print(to_toml(config, sources), end="")
    if config.daemon_url is None:
        print("lws: no daemon_url: lws serve would run the regtest playground", file=sys.stderr)
    print("lws: configuration OK", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
