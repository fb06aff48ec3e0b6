from __future__ import annotations

from pathlib import Path

from cli.config_docs import component_section, render
from common.components import Component
from common.scopes import AGENTS_INVOKE, METRICS_READ

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_configuration_reference_matches_the_settings_models() -> None:
    assert DOC.read_text() == render(), "docs/configuration.md is stale: run python -m cli.config_docs > it"


def test_every_setting_is_described() -> None:
    rows = [line for line in render().splitlines() if line.startswith("| `")]
    assert rows
    assert all(not line.endswith("|  |") for line in rows)


def test_a_new_agent_is_documented_from_its_record_and_settings_alone() -> None:
    capacity = Component(
        "capacity",
        "agent",
        8724,
        "agents.capacity.__main__",
        "agents.triage.settings:TriageSettings",
        "A2A agent: forecasts when a resource runs out",
        serves=(AGENTS_INVOKE,),
        calls=(METRICS_READ,),
    )
    text = "\n".join(component_section(capacity))
    assert "## capacity\n\n`sre serve capacity` (port 8724): A2A agent: forecasts when a resource runs out." in text
    assert "scopes `registry:write`, `metrics:read`" in text
    assert "| `CAPACITY_LOOKBACK_SECONDS` |" in text
    assert "| `CAPACITY_MAX_CONCURRENT_TASKS` |" in text
