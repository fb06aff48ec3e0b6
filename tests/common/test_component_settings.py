"""Each component reads its own settings keys and leaves the others' alone, whatever else is set."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.router.settings import RouterSettings
from agents.triage.settings import TriageSettings
from common.agents.pipeline import PipelineSettings
from common.components import COMPONENTS, Component
from common.errors import ConfigError
from common.settings import ComponentSettings, SettingsSource
from controlplane.settings import ControlPlaneSettings
from registry.settings import RegistrySettings
from servers.controlplane_mcp.settings import ControlPlaneMcpSettings
from servers.loki_mcp.settings import LokiMcpSettings

#: What a shell that runs `sre scenario run` and `sre up` side by side holds: where the components are.
WHERE_THEY_ARE = {
    "REGISTRY_URL": "http://127.0.0.1:8700",
    "CONTROLPLANE_URL": "http://127.0.0.1:8710",
    "ROUTER_URL": "http://127.0.0.1:8720",
    "TRIAGE_URL": "http://127.0.0.1:8721",
    "CONTROLPLANE_MCP_READ_ONLY": "true",
}


@pytest.mark.parametrize("settings", [RegistrySettings, ControlPlaneSettings, TriageSettings, RouterSettings])
def test_a_component_starts_when_the_others_urls_and_settings_are_set(settings: type[ComponentSettings]) -> None:
    settings.from_source(SettingsSource(WHERE_THEY_ARE))


@pytest.mark.parametrize(("settings", "prefix"), [(TriageSettings, "TRIAGE_"), (RouterSettings, "ROUTER_")])
def test_an_agents_documented_task_settings_are_taken(settings: type[PipelineSettings], prefix: str) -> None:
    loaded = settings.from_source(
        SettingsSource({f"{prefix}MAX_CONCURRENT_TASKS": "3", f"{prefix}CARD_MAX_AGE_SECONDS": "60"})
    )
    assert loaded.agent.max_concurrent_tasks == 3
    assert loaded.agent.card_max_age_seconds == 60


def test_a_misspelt_key_under_a_components_prefix_is_still_refused() -> None:
    with pytest.raises(ConfigError, match="TRIAGE_LOOKBACK_SECOND"):
        TriageSettings.from_source(SettingsSource({"TRIAGE_LOOKBACK_SECOND": "600"}))
    with pytest.raises(ConfigError, match="CONTROLPLANE_EXECUTR"):
        ControlPlaneSettings.from_source(SettingsSource({"CONTROLPLANE_EXECUTR": "kubernetes"}))


def test_the_control_planes_section_leaves_controlplane_mcps_keys_out() -> None:
    section = COMPONENTS["controlplane"].settings_section(
        SettingsSource({"CONTROLPLANE_EXECUTOR": "kubernetes", "CONTROLPLANE_MCP_READ_ONLY": "true"})
    )
    assert section == {"executor": "kubernetes"}


@pytest.mark.parametrize("component", COMPONENTS.values(), ids=lambda component: component.name)
def test_every_component_refuses_a_key_that_names_no_setting_the_same_way(component: Component) -> None:
    with pytest.raises(ConfigError, match=rf"Unknown {component.name} setting\(s\): {component.prefix}COLOUR\."):
        component.load_settings(SettingsSource({f"{component.prefix}COLOUR": "blue"}))


@pytest.mark.parametrize("key", ["REGISTRY_DATA_DIR", "REGISTRY_SERVE", "TRIAGE_AGENT", "PROMETHEUS_MCP_LIMITS"])
def test_a_shared_setting_or_a_group_is_not_a_key_under_a_prefix(key: str) -> None:
    component = next(c for c in COMPONENTS.values() if key.startswith(c.prefix))
    with pytest.raises(ConfigError, match=key):
        component.load_settings(SettingsSource({key: "/elsewhere"}))


def test_shared_serving_keys_and_a_group_of_keys_reach_every_servers_settings(tmp_path: Path) -> None:
    source = SettingsSource(
        {
            "SRE_PORT": "9100",
            "SRE_DATA_DIR": str(tmp_path),
            "LOKI_MCP_MAX_LIMIT": "50",
            "LOKI_MCP_LOCAL_RETENTION_HOURS": "2",
        }
    )
    loki = LokiMcpSettings.from_source(source)
    assert (loki.serve.port, loki.limits.max_limit) == (9100, 50)
    assert (loki.local.path, loki.local.retention_hours) == (tmp_path / "logs.db", 2)
    assert RegistrySettings.from_source(source).data_dir == tmp_path


def test_controlplane_mcps_backend_keeps_its_name() -> None:
    with pytest.raises(ConfigError, match="CONTROLPLANE_MCP_NAME"):
        ControlPlaneMcpSettings.from_source(SettingsSource({"CONTROLPLANE_MCP_NAME": "other"}))
    settings = ControlPlaneMcpSettings.from_source(SettingsSource({"CONTROLPLANE_MCP_BEARER_TOKEN": "t0ken"}))
    assert (settings.backend.name, settings.backend.url) == ("controlplane", "http://127.0.0.1:8710")
