"""Registry settings: name reservations from the environment (JSON) or the TOML file (a table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import ConfigError
from common.settings import SettingsSource
from registry.settings import RegistrySettings


def test_reserved_names_are_a_json_object_in_the_environment() -> None:
    source = SettingsSource.load({"REGISTRY_RESERVED_NAMES": '{"triage": "triage-client", "router": "router"}'})
    settings = RegistrySettings.from_source(source)
    assert settings.reserved_names == {"triage": "triage-client", "router": "router"}


def test_reserved_names_are_a_table_in_the_toml_file(tmp_path: Path) -> None:
    config = tmp_path / "sre.toml"
    config.write_text('[registry]\nreserved_names = { triage = "triage" }\n')
    settings = RegistrySettings.from_source(SettingsSource.load({"SRE_CONFIG": str(config)}))
    assert settings.reserved_names == {"triage": "triage"}


@pytest.mark.parametrize("value", ['{"has space": "triage"}', '{"triage": ""}', "triage=triage"])
def test_a_malformed_reservation_is_an_error_naming_the_key(value: str) -> None:
    with pytest.raises(ConfigError, match="REGISTRY_RESERVED_NAMES"):
        RegistrySettings.from_source(SettingsSource.load({"REGISTRY_RESERVED_NAMES": value}))
