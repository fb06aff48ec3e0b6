"""ControlPlaneSettings from the environment (and the executor it selects)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from common.errors import ConfigError
from common.settings import SettingsSource
from controlplane.app import create_executor
from controlplane.settings import ControlPlaneSettings


def test_defaults_serve_on_8710_with_sqlite_in_the_data_dir() -> None:
    settings = ControlPlaneSettings.from_source(SettingsSource({"SRE_DATA_DIR": "/tmp/cp"}))
    assert settings.serve.port == 8710
    assert settings.serve.base_url == "http://127.0.0.1:8710"
    assert settings.database == f"sqlite+aiosqlite:///{Path('/tmp/cp') / 'controlplane.db'}"
    assert settings.executor == "recording"
    assert create_executor(settings).name == "recording"


def test_kubernetes_keys_pass_through_and_other_components_keys_are_ignored() -> None:
    source = SettingsSource(
        {
            "CONTROLPLANE_DATABASE_URL": "postgresql+asyncpg://u@h/db",
            "CONTROLPLANE_EXECUTOR": "kubernetes",
            "CONTROLPLANE_KUBERNETES_NAMESPACE": "prod",
            "CONTROLPLANE_KUBERNETES_IN_CLUSTER": "true",
            "CONTROLPLANE_URL": "http://cp:8710",
            "CONTROLPLANE_MCP_TIMEOUT": "5",
        }
    )
    settings = ControlPlaneSettings.from_source(source)
    assert settings.database == "postgresql+asyncpg://u@h/db"
    assert settings.kubernetes == {"namespace": "prod", "in_cluster": "true"}


def test_the_kubernetes_executor_is_built_from_its_keys() -> None:
    source = {"CONTROLPLANE_EXECUTOR": "kubernetes", "CONTROLPLANE_KUBERNETES_API_URL": "http://127.0.0.1:8001/"}
    executor = create_executor(ControlPlaneSettings.from_source(SettingsSource(source)))
    assert executor.name == "kubernetes"
    asyncio.run(executor.aclose())
    with pytest.raises(ConfigError, match="CONTROLPLANE_KUBERNETES_COLOUR"):
        create_executor(
            ControlPlaneSettings.from_source(SettingsSource({**source, "CONTROLPLANE_KUBERNETES_COLOUR": "1"}))
        )


def test_an_unknown_key_is_an_error_naming_it() -> None:
    with pytest.raises(ConfigError, match="CONTROLPLANE_EXECUTR"):
        ControlPlaneSettings.from_source(SettingsSource({"CONTROLPLANE_EXECUTR": "recording"}))
    with pytest.raises(ConfigError, match="CONTROLPLANE_EXECUTOR"):
        ControlPlaneSettings.from_source(SettingsSource({"CONTROLPLANE_EXECUTOR": "ssh"}))
