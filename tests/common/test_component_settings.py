"""Each component reads its own settings keys and leaves the others' alone, whatever else is set."""

from __future__ import annotations

import pytest

from agents.router.settings import RouterSettings
from agents.triage.settings import TriageSettings
from common.components import COMPONENTS
from common.errors import ConfigError
from common.settings import SettingsSource
from controlplane.settings import ControlPlaneSettings
from registry.settings import RegistrySettings

#: What a shell that runs `sre scenario run` and `sre up` side by side holds: where the components are.
WHERE_THEY_ARE = {
    "REGISTRY_URL": "http://127.0.0.1:8700",
    "CONTROLPLANE_URL": "http://127.0.0.1:8710",
    "ROUTER_URL": "http://127.0.0.1:8720",
    "TRIAGE_URL": "http://127.0.0.1:8721",
    "CONTROLPLANE_MCP_READ_ONLY": "true",
}


@pytest.mark.parametrize("settings", [RegistrySettings, ControlPlaneSettings, TriageSettings, RouterSettings])
def test_a_component_starts_when_the_others_urls_and_settings_are_set(settings: type) -> None:
    settings.from_source(SettingsSource(WHERE_THEY_ARE))


@pytest.mark.parametrize(("settings", "prefix"), [(TriageSettings, "TRIAGE_"), (RouterSettings, "ROUTER_")])
def test_an_agents_documented_task_settings_are_taken(settings: type, prefix: str) -> None:
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
