from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import ConfigError
from common.settings import SettingsSource
from servers.prometheus_mcp.settings import PrometheusMcpSettings


def load(env: dict[str, str]) -> PrometheusMcpSettings:
    return PrometheusMcpSettings.from_source(SettingsSource.load(env))


def test_defaults_need_no_configuration() -> None:
    settings = load({})
    assert [(b.name, b.url) for b in settings.backends] == [("default", "http://127.0.0.1:9090")]
    assert settings.serve.base_url == "http://127.0.0.1:8701"
    assert settings.serve.auth.issuer == "http://127.0.0.1:8700"
    assert settings.limits.max_points_per_series == 11000


def test_toml_sets_keys_flat_or_in_a_prefix_table_and_the_environment_wins(tmp_path: Path) -> None:
    config = tmp_path / "sre.toml"
    config.write_text(
        'PROMETHEUS_URL = "http://prom:9090"\nSRE_PORT = 9999\n[prometheus_mcp]\nmax_series = 7\ntenant = "team-a"\n'
    )
    settings = load({"SRE_CONFIG": str(config), "PROMETHEUS_MCP_MAX_SERIES": "9"})
    assert settings.backends[0].url == "http://prom:9090"
    assert settings.backends[0].tenant == "team-a"
    assert settings.serve.port == 9999
    assert settings.limits.max_series == 9


def test_several_named_backends_from_toml(tmp_path: Path) -> None:
    config = tmp_path / "sre.toml"
    config.write_text(
        "[[prometheus_mcp.backends]]\n"
        'name = "prod"\nurl = "https://mimir.example/prometheus"\ntenant = "prod"\nbearer_token = "s3cret-token"\n'
        "[[prometheus_mcp.backends]]\n"
        'name = "vm"\nurl = "http://vm:8428"\n'
    )
    settings = load({"SRE_CONFIG": str(config)})
    assert [b.name for b in settings.backends] == ["prod", "vm"]
    assert settings.backends[0].bearer_token is not None
    assert settings.backends[0].bearer_token.get_secret_value() == "s3cret-token"


def test_backends_from_json_in_the_environment() -> None:
    settings = load({"PROMETHEUS_MCP_BACKENDS": '[{"name": "a", "url": "http://a:9090/"}]'})
    assert [(b.name, b.url) for b in settings.backends] == [("a", "http://a:9090")]


def test_secrets_are_masked_in_repr() -> None:
    settings = load({"PROMETHEUS_MCP_BEARER_TOKEN": "tok-123456", "PROMETHEUS_MCP_PASSWORD": "pw-123456"})
    text = repr(settings)
    assert "tok-123456" not in text
    assert "pw-123456" not in text
    assert settings.backends[0].bearer_token is not None


def test_an_unknown_key_is_an_error_naming_it() -> None:
    with pytest.raises(ConfigError, match="PROMETHEUS_MCP_MAX_SERIEZ"):
        load({"PROMETHEUS_MCP_MAX_SERIEZ": "5"})


def test_a_malformed_value_is_an_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="PROMETHEUS_MCP_MAX_SERIES"):
        load({"PROMETHEUS_MCP_MAX_SERIES": "lots"})


def test_a_backend_url_must_be_http() -> None:
    with pytest.raises(ConfigError, match="expected an http"):
        load({"PROMETHEUS_URL": "ftp://prom"})


@pytest.mark.parametrize("url", ["http://user@prom:9090", "http://user:secret@prom:9090", "https://:secret@prom"])
def test_a_url_with_credentials_is_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(ConfigError, match="user name or password") as refused:
        load({"PROMETHEUS_URL": url})
    assert "secret" not in str(refused.value)


def test_duplicate_backend_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="unique"):
        load({"PROMETHEUS_MCP_BACKENDS": '[{"url": "http://a"}, {"url": "http://b"}]'})


def test_leeway_above_sixty_seconds_is_refused() -> None:
    with pytest.raises(ConfigError, match="SRE_AUTH_LEEWAY_SECONDS"):
        load({"SRE_AUTH_LEEWAY_SECONDS": "120"})


def test_an_unreadable_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml"):
        SettingsSource.load({"SRE_CONFIG": str(tmp_path / "missing.toml")})
    broken = tmp_path / "broken.toml"
    broken.write_text("x = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        SettingsSource.load({"SRE_CONFIG": str(broken)})


def test_public_url_sets_the_canonical_url() -> None:
    settings = load({"SRE_PUBLIC_URL": "https://mcp.example.com/"})
    assert settings.serve.base_url == "https://mcp.example.com"
