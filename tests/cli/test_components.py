"""The component records `sre up`, provisioning and the docs are built from."""

from __future__ import annotations

import pytest

from cli.provisioning import CLIENTS
from cli.up import PORTS, start_waves
from common.components import COMPONENTS, Component
from common.errors import ConfigError
from common.scopes import ALL_SCOPES, REGISTRY_WRITE
from common.settings import SettingsSource


def test_sre_up_provisions_exactly_each_components_client_scopes() -> None:
    callers = {name: c for name, c in COMPONENTS.items() if c.client_scopes}
    assert set(callers) == {"prometheus-mcp", "loki-mcp", "controlplane-mcp", "triage", "router"}
    for name, component in callers.items():
        assert set(CLIENTS[name]) == set(component.client_scopes)
    assert "registry" not in CLIENTS
    assert "controlplane" not in CLIENTS
    assert set(CLIENTS["router"]) == {REGISTRY_WRITE, "agents:invoke", "controlplane:read"}


def test_every_scope_served_or_needed_is_a_known_scope() -> None:
    for component in COMPONENTS.values():
        assert set(component.serves) | set(component.client_scopes) <= set(ALL_SCOPES), component.name


def test_each_component_keeps_its_design_port_and_sre_up_moves_each() -> None:
    assert {name: c.port for name, c in COMPONENTS.items()} == {
        "registry": 8700,
        "prometheus-mcp": 8701,
        "loki-mcp": 8702,
        "controlplane-mcp": 8703,
        "controlplane": 8710,
        "router": 8720,
        "triage": 8721,
    }
    assert set(PORTS) == {*COMPONENTS, "prometheus", "alertmanager"}


def test_sre_up_starts_the_registry_first_and_controlplane_mcp_after_the_control_plane() -> None:
    waves = [[c.name for c in wave] for wave in start_waves(COMPONENTS.values())]
    assert waves == [
        ["registry"],
        ["prometheus-mcp", "loki-mcp", "controlplane", "router", "triage"],
        ["controlplane-mcp"],
    ]


def test_components_that_wait_for_each_other_are_refused() -> None:
    a = Component("a", "agent", 1, "a", "a:A", "a", serves=(), after=("b",))
    b = Component("b", "agent", 2, "b", "b:B", "b", serves=(), after=("a",))
    with pytest.raises(ConfigError, match=r"\['a', 'b'\]"):
        start_waves([a, b])


def test_every_entry_point_has_a_serve_function() -> None:
    for component in COMPONENTS.values():
        assert callable(component.serve_function()), component.name


def test_every_component_loads_its_settings_from_an_empty_configuration() -> None:
    for component in COMPONENTS.values():
        settings = component.load_settings(SettingsSource({}))
        serve = settings.agent.serve if component.kind == "agent" else settings.serve
        assert serve.port == component.port, component.name
