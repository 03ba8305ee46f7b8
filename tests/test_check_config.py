# Owns the tests of `lws serve --check-config` (run as a real subprocess):
# the effective configuration from file, environment and flags printed as
# TOML that loads back to the same Config with each value's origin, refusals
# that name the option with exit status 2, and nothing started (no store, no
# listener); and of conf/lws.example.toml explaining every option.
"""lws serve --check-config and the example configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec

from lws.config import Config, load_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "conf" / "lws.example.toml"


def check_config(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LWS_")}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "lws", "serve", "--check-config", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
        cwd=ROOT,
    )


def test_prints_the_effective_configuration_with_origins(tmp_path: Path) -> None:
    config_file = tmp_path / "lws.toml"
    config_file.write_text(
        f'network = "stagenet"\ndata_dir = "{tmp_path / "data"}"\nscan_workers = 2\n'
        'listen = ["127.0.0.1:9001"]\n'
    )
    done = check_config(
        "--config",
        str(config_file),
        "--daemon-url",
        "http://127.0.0.1:38081",
        "--scan-workers",
        "3",
        "--metrics-public",
        env={"LWS_POLL_INTERVAL": "0.5", "LWS_ADMIN_LISTEN": "127.0.0.1:9002"},
    )
    assert done.returncode == 0, done.stderr
    assert "configuration OK" in done.stderr
    lines = done.stdout.splitlines()
    assert 'network = "stagenet"  # file' in lines
    assert "scan_workers = 3  # flag" in lines
    assert "poll_interval = 0.5  # environment" in lines
    assert 'admin_listen = ["127.0.0.1:9002"]  # environment' in lines
    assert "metrics_public = true  # flag" in lines
    assert "max_pending_requests = 1000  # default" in lines
    assert "# tls_certificate is not set (default)" in lines
    # What it prints is a configuration file: it loads back to the same values.
    printed = tmp_path / "printed.toml"
    printed.write_text(done.stdout)
    expected = load_config(
        config_file,
        {"daemon_url": "http://127.0.0.1:38081", "scan_workers": 3, "metrics_public": True},
        environ={"LWS_POLL_INTERVAL": "0.5", "LWS_ADMIN_LISTEN": "127.0.0.1:9002"},
    )
    assert load_config(printed, environ={}) == expected
    # Nothing was started: no data folder, no store.
    assert not (tmp_path / "data").exists()


def test_the_example_passes_as_it_is() -> None:
    done = check_config("--config", str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    assert "regtest playground" in done.stderr  # no daemon_url in the example


def test_refusals_name_the_option(tmp_path: Path) -> None:
    cases = [
        (("--listen", "0.0.0.0:8443"), "listen"),
        (("--network", "moonnet"), "network"),
        (("--tls-certificate", str(tmp_path / "missing.pem"), "--tls-key", "k.pem"), "tls_"),
        (("--daemon-url", "ftp://monerod:18081"), "daemon_url"),
        (("--data-dir", str(EXAMPLE)), "data_dir"),
        (("--ready-max-lag-blocks", "-1"), "ready_max_lag_blocks"),
    ]
    for args, option in cases:
        done = check_config(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert option in done.stderr, (args, done.stderr)
        assert done.stdout == ""
    env_case = check_config(env={"LWS_SCAN_WORKERS": "many"})
    assert env_case.returncode == 2 and "scan_workers" in env_case.stderr


def test_example_explains_every_option() -> None:
    """Every option of Config is in the example, at its default, under a comment."""
    lines = EXAMPLE.read_text().splitlines()
    for name in Config.__struct_fields__:
        [at] = [i for i, line in enumerate(lines) if line.startswith((f"{name} =", f"# {name} ="))]
        block = []
        i = at - 1
        while i >= 0 and lines[i].strip():
            block.append(lines[i])
            i -= 1
        prose = [
            line
            for line in block
            if line.startswith("#") and " = " not in line.split("#", 1)[1][:40]
        ]
        assert prose, f"conf/lws.example.toml: no comment explains {name}"
    loaded = load_config(EXAMPLE, environ={})
    assert msgspec.structs.asdict(loaded) == msgspec.structs.asdict(Config())
