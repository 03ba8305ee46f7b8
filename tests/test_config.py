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
