"""A scenario's services may declare their Kubernetes labels and pods' selector; the load puts exactly those
into the control plane, where the workload is then found by them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from support.controlplane_mcp_harness import serve_controlplane
from support.issuer import TestIssuer
from support.served import ServedComponent

from controlplane.models import ResourceCreate
from scenarios.load import Targets, load_scenario_into
from scenarios.records import control_plane_records
from scenarios.spec import Scenario, ScenarioError, parse_scenario

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
ADMIN_SCOPES = ["controlplane:read", "controlplane:admin"]
LABELS = {"app.kubernetes.io/name": "checkout", "app.kubernetes.io/part-of": "shop"}
SELECTOR = {"app": "checkout", "track": "stable"}


@pytest.fixture
def labelled(scenario_data: dict[str, Any]) -> dict[str, Any]:
    """The small scenario, its first service (checkout) labelled as a Kubernetes workload."""
    scenario_data["services"][0] |= {"labels": LABELS, "selector": SELECTOR}
    return scenario_data


def test_a_service_declares_kubernetes_labels_and_a_selector(labelled: dict[str, Any]) -> None:
    scenario = parse_scenario(labelled, source="labelled.yaml")
    checkout, payments, _ = scenario.services
    assert (checkout.labels, checkout.selector) == (LABELS, SELECTOR)
    assert (payments.labels, payments.selector) == ({}, {})


@pytest.mark.parametrize(
    ("field", "labels", "where"),
    [
        ("labels", {"app.kubernetes.io/name": "has space"}, "services[0].labels"),
        ("labels", {"Bad_Prefix.io/name": "x"}, "services[0].labels"),
        ("selector", {"app": "x" * 64}, "services[0].selector"),
        ("selector", {"-app": "x"}, "services[0].selector"),
    ],
)
def test_labels_kubernetes_would_refuse_are_refused_naming_the_field(
    scenario_data: dict[str, Any], field: str, labels: dict[str, str], where: str
) -> None:
    scenario_data["services"][0][field] = labels
    with pytest.raises(ScenarioError) as refused:
        parse_scenario(scenario_data, source="bad.yaml")
    assert any(path.startswith(where) for path, _ in refused.value.problems)


def test_the_records_carry_what_the_scenario_declares_and_nothing_invented(labelled: dict[str, Any]) -> None:
    scenario = parse_scenario(labelled, source="labelled.yaml")
    bodies = [ResourceCreate.model_validate(body) for body in control_plane_records(scenario, NOW).resources]
    checkout, payments, _ = bodies
    assert checkout.labels == {**LABELS, "scenario": "small-checkout"}
    assert checkout.selector == SELECTOR
    # No app.kubernetes.io/name made up for a service that declares none.
    assert (payments.labels, payments.selector) == ({"scenario": "small-checkout"}, {})


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    with TestIssuer() as running:
        yield running


@pytest.fixture(scope="module")
def controlplane(issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedComponent]:
    with serve_controlplane(issuer, tmp_path_factory, approval_ttl=60) as component:
        yield component


@pytest.mark.integration
@pytest.mark.anyio
async def test_a_loaded_workload_is_found_by_its_label_and_by_its_pods_label(
    controlplane: ServedComponent, issuer: TestIssuer, labelled: dict[str, Any]
) -> None:
    scenario: Scenario = parse_scenario(labelled, source="labelled.yaml")
    token = issuer.mint(controlplane.url, ADMIN_SCOPES, claims={"client_id": "scenario"}, lifetime=600)
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
        report = await load_scenario_into(scenario, NOW, Targets(http, controlplane_url=controlplane.url))
        assert report.failed == {}

        async def names(**params: str) -> list[str]:
            answer = await http.get(f"{controlplane.url}/api/v1/resources", params=params)
            assert answer.status_code == 200, answer.text
            return [item["name"] for item in answer.json()["items"]]

        assert await names(label="app.kubernetes.io/name=checkout") == ["checkout"]
        assert await names(selector="app=checkout") == ["checkout"]
        assert await names(selector="app=payments") == []
