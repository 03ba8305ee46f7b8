# Owns the tests of lws.config: the example file, precedence, and clear
# errors that name the key.
"""Configuration loading."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest

from lws.config import Config, load_config
from lws.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "conf" / "lws.example.toml"


def test_example_documents_every_option_with_its_default() -> None:
    text = EXAMPLE.read_text()
    for name in Config.__struct_fields__:
        assert f"{name} =" in text, f"conf/lws.example.toml does not document {name}"
    loaded = load_config(EXAMPLE, environ={})
    assert msgspec.structs.asdict(loaded) == msgspec.structs.asdict(Config())


def test_flags_beat_environment_beat_file(tmp_path: Path) -> None:
    path = tmp_path / "lws.toml"
    path.write_text('network = "stagenet"\nscan_workers = 1\npoll_interval = 5.0\n')
    config = load_config(
        path,
        {"scan_workers": 3},
        environ={
            "LWS_SCAN_WORKERS": "2",
            "LWS_POLL_INTERVAL": "0.5",
            "LWS_CORS_ORIGINS": "https://a, https://b",
        },
    )
    assert config.network == "stagenet"
    assert config.scan_workers == 3
    assert config.poll_interval == 0.5
    assert config.cors_origins == ("https://a", "https://b")


def test_api_workers_flag_beats_file(tmp_path: Path) -> None:
    path = tmp_path / "lws.toml"
    path.write_text("api_workers = 3\n")
    assert load_config(path, {}, environ={}).api_workers == 3
    assert load_config(path, {"api_workers": 2}, environ={}).api_workers == 2
    default = load_config(None, {}, environ={})
    assert default.api_workers == 0
    assert default.api_processes() == max(1, min(os.cpu_count() or 1, 4))
    assert load_config(None, {"api_workers": 1}, environ={}).api_processes() == 1


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"scan_workers": "many"}, "scan_workers"),
        ({"network": "moonnet"}, "network"),
        ({"bogus": 1}, "bogus"),
        ({"listen": ["no-port"]}, "listen"),
        ({"tls_certificate": "/x.pem"}, "tls_key"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"api_workers": -1}, "api_workers"),
        ({"api_workers": 33}, "api_workers"),
    ],
)
def test_errors_name_the_key(overrides: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_config(None, overrides, environ={})


def test_unreadable_or_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("network = \n")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_config(bad, environ={})
    bad.write_bytes(b'network = "\x80"\n')  # not UTF-8
    with pytest.raises(ConfigError, match="bad.toml"):
        load_config(bad, environ={})


@pytest.mark.parametrize(
    "address",
    ["tcp://127.0.0.1:8786", "tcp://localhost:8786", "tcp://[::1]:8786", "tcp://127.8.0.1:1"],
)
def test_scan_cluster_plain_tcp_on_loopback(address: str) -> None:
    assert load_config(None, {"scan_cluster": address}, environ={}).scan_cluster == address


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"scan_cluster": "tcp://10.0.0.5:8786"}, "non-loopback"),
        ({"scan_cluster": "tcp://scheduler.example:8786"}, "non-loopback"),
        ({"scan_cluster": "127.0.0.1:8786"}, "tls:// or tcp://"),
        ({"scan_cluster": "ucx://127.0.0.1:8786"}, "tls:// or tcp://"),
        ({"scan_cluster": "tcp://127.0.0.1"}, "HOST:PORT"),
        ({"scan_cluster": "tls://scheduler.example:8786"}, "scan_cluster_tls_ca"),
        (
            {"scan_cluster": "tls://scheduler.example:8786", "scan_cluster_tls_ca": "/ca.pem"},
            "scan_cluster_tls_cert",
        ),
        ({"scan_cluster_tls_ca": "/ca.pem"}, "need scan_cluster"),
        (
            {"scan_cluster": "tcp://127.0.0.1:8786", "scan_cluster_tls_key": "/k.pem"},
            "not tls://",
        ),
    ],
)
def test_scan_cluster_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        load_config(None, overrides, environ={})
    assert "scan_cluster" in str(raised.value)


def test_scan_cluster_over_tls_or_insecure_public() -> None:
    tls = {
        "scan_cluster": "tls://scheduler.example:8786",
        "scan_cluster_tls_ca": "/ca.pem",
        "scan_cluster_tls_cert": "/cert.pem",
        "scan_cluster_tls_key": "/key.pem",
    }
    assert load_config(None, tls, environ={}).scan_cluster_tls_key == "/key.pem"
    public = {"scan_cluster": "tcp://10.0.0.5:8786", "allow_insecure_public": True}
    assert load_config(None, public, environ={}).scan_cluster == "tcp://10.0.0.5:8786"
    environ = {"LWS_SCAN_CLUSTER": "tcp://127.0.0.1:8786"}
    assert load_config(None, {}, environ=environ).scan_cluster == "tcp://127.0.0.1:8786"
