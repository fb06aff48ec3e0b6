"""loki-mcp's settings: the embedded store by default, Loki backends by URL, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.errors import ConfigError
from common.settings import SettingsSource
from servers.loki_mcp.settings import LokiMcpSettings


def settings(**values: str) -> LokiMcpSettings:
    return LokiMcpSettings.from_source(SettingsSource(values))


def test_without_loki_url_the_embedded_store_lives_in_the_data_dir(tmp_path: Path) -> None:
    loaded = settings(SRE_DATA_DIR=str(tmp_path))
    assert loaded.uses_local_store
    assert loaded.local.path == tmp_path / "logs.db"
    assert loaded.serve.port == 8702
    assert loaded.limits.max_range_seconds == 86400


def test_loki_url_and_flat_keys_make_one_backend() -> None:
    loaded = settings(LOKI_URL="https://loki.example:3100/", LOKI_MCP_TENANT="team-a", LOKI_MCP_MAX_LIMIT="50")
    assert not loaded.uses_local_store
    (backend,) = loaded.backends
    assert (backend.name, backend.url, backend.tenant) == ("default", "https://loki.example:3100", "team-a")
    assert loaded.limits.max_limit == 50


def test_several_named_backends_from_json() -> None:
    backends = [{"name": "eu", "url": "http://loki-eu:3100"}, {"name": "us", "url": "http://loki-us:3100"}]
    loaded = settings(LOKI_MCP_BACKENDS=json.dumps(backends))
    assert [b.name for b in loaded.backends] == ["eu", "us"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"LOKI_MCP_TENANT": "team-a"}, "LOKI_MCP_TENANT configure a backend, but LOKI_URL is not set"),
        ({"LOKI_MCP_MAX_LIMT": "5"}, "Unknown loki-mcp setting(s): LOKI_MCP_MAX_LIMT"),
        ({"LOKI_MCP_MAX_LIMIT": "9000"}, "LOKI_MCP_MAX_LIMIT"),
        ({"LOKI_URL": "loki:3100"}, "expected an http(s) URL"),
        (
            {"LOKI_MCP_BACKENDS": json.dumps([{"url": "http://a:3100"}, {"url": "http://b:3100"}])},
            "backend names must be unique",
        ),
        (
            {"LOKI_MCP_BACKENDS": json.dumps([{"url": "http://a:3100"}]), "LOKI_MCP_TENANT": "x"},
            "cannot be combined with LOKI_MCP_BACKENDS",
        ),
        ({"LOKI_MCP_LOCAL_RETENTION_HOURS": "0"}, "LOKI_MCP_LOCAL_RETENTION_HOURS"),
    ],
)
def test_bad_settings_are_errors_that_name_the_key(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings(**values)
    assert message in str(raised.value)
