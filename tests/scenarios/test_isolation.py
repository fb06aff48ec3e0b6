"""Isolated copies of a scenario share nothing a backend would mix up, and keep their ground truth."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from scenarios import (
    BUNDLED_DIR,
    CANDIDATES_DIR,
    Scenario,
    ScenarioError,
    expected,
    load_scenario,
    load_scenarios,
    parse_scenario,
)
from scenarios.isolation import RUN_ID_PATTERN, isolated, isolated_namespace, new_run_id
from scenarios.records import control_plane_records
from scenarios.spec import scenario_document

NOW = datetime(2026, 11, 5, 12, 0, 7, tzinfo=UTC)


def label_sets(scenario: Scenario) -> list[tuple[str, frozenset[tuple[str, str]]]]:
    """Every identity a backend keys data by: series, log streams, alerts, control-plane resources."""
    sets = [(f"series {s.metric}", frozenset(s.labels.items())) for s in scenario.series]
    sets += [("logs", frozenset(s.labels.items())) for s in scenario.logs]
    sets += [(f"alert {a.alertname}", frozenset(a.labels.items())) for a in scenario.alerts]
    sets += [
        ("resource", frozenset({"namespace": r["namespace"], "name": r["name"]}.items()))
        for r in control_plane_records(scenario, NOW).resources
    ]
    return sets


@pytest.mark.parametrize("path", sorted(BUNDLED_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_two_isolated_copies_of_a_bundled_scenario_share_no_label_set(path: Any) -> None:
    scenario = load_scenario(path)
    first, second = isolated(scenario, "0a1b2c"), isolated(scenario, "3d4e5f")
    shared = {labels for _, labels in label_sets(first)} & {labels for _, labels in label_sets(second)}
    assert shared == set()
    for copy, run_id in ((first, "0a1b2c"), (second, "3d4e5f")):
        for where, labels in label_sets(copy):
            assert _carries(dict(labels), run_id), (where, labels)


def _carries(labels: dict[str, str], run_id: str) -> bool:
    """The run's namespace is in a namespace label (`namespace`, `exported_namespace`, `k8s_namespace_name`,
    ...) or in a `namespace/name` job, as real clusters' series and alerts carry it."""
    return any(
        (name == "namespace" or name.endswith(("_namespace", "_namespace_name"))) and value.endswith(f"-{run_id}")
        for name, value in labels.items()
    ) or labels.get("job", "").split("/")[0].endswith(f"-{run_id}")


def test_no_two_bundled_scenarios_isolated_share_a_label_set() -> None:
    seen: dict[frozenset[tuple[str, str]], str] = {}
    for scenario in load_scenarios([BUNDLED_DIR]):
        copy = isolated(scenario, new_run_id())
        for _, labels in label_sets(copy):
            assert labels not in seen or seen[labels] == copy.name
            seen[labels] = copy.name


def test_isolation_suffixes_namespaces_and_the_scenario_name_and_keeps_the_rest(scenario_data: dict[str, Any]) -> None:
    scenario = parse_scenario(scenario_data)
    copy = isolated(scenario, "abc123")

    assert copy.name == "small-checkout-abc123"
    assert [(s.name, s.namespace) for s in copy.services] == [
        ("checkout", "prod-abc123"),
        ("payments", "prod-abc123"),
        ("cart-db", "data-abc123"),
    ]
    # A label set naming a service but no namespace gets the service's namespace.
    assert copy.series[2].labels == {"service": "payments", "namespace": "prod-abc123"}
    assert copy.series[3].labels == {"service": "cart-db", "namespace": "data-abc123"}
    assert copy.logs[0].labels == {"service": "checkout", "namespace": "prod-abc123"}
    assert [a.labels for a in copy.alerts] == [
        {"service": "checkout", "severity": "critical", "namespace": "prod-abc123"},
        {"service": "payments", "severity": "critical", "namespace": "prod-abc123"},
        {"service": "payments", "namespace": "prod-abc123"},
    ]
    # Everything else is as it was: series' shapes, log lines, events, the truth.
    assert [s.metric for s in copy.series] == [s.metric for s in scenario.series]
    assert [s.effects for s in copy.series] == [s.effects for s in scenario.series]
    assert [s.lines for s in copy.logs] == [s.lines for s in scenario.logs]
    assert copy.events == scenario.events
    assert copy.expected == scenario.expected
    assert control_plane_records(copy, NOW).resources[0]["labels"] == {"scenario": "small-checkout-abc123"}


def test_the_ground_truth_keeps_its_service_kind_ref_and_onset_in_the_isolated_namespace() -> None:
    for scenario in load_scenarios([BUNDLED_DIR]):
        truth, copy_truth = expected(scenario, NOW), expected(isolated(scenario, "777aaa"), NOW)
        assert (copy_truth.kind, copy_truth.service, copy_truth.ref, copy_truth.onset) == (
            truth.kind,
            truth.service,
            truth.ref,
            truth.onset,
        )
        assert copy_truth.namespace == (None if truth.namespace is None else f"{truth.namespace}-777aaa")


def test_node_series_and_alerts_without_a_namespace_are_isolated_through_their_service() -> None:
    copy = isolated(load_scenario(BUNDLED_DIR / "node-failure.yaml"), "bead00")
    node = [s for s in copy.series if s.labels.get("service") == "ip-10-0-3-17"]
    assert node
    assert {s.labels["namespace"] for s in node} == {"default-bead00"}
    alert = next(a for a in copy.alerts if a.alertname == "KubeNodeNotReady")
    assert alert.labels["namespace"] == "default-bead00"


def test_node_series_and_alerts_named_by_node_or_instance_are_isolated_through_the_node(
    scenario_data: dict[str, Any],
) -> None:
    """kube-state-metrics' node series and kube-prometheus-stack's node alerts carry no namespace nor service."""
    scenario_data["services"].append({"name": "ip-10-0-1-23", "namespace": "infra", "kind": "node"})
    ready = {"node": "ip-10-0-1-23", "condition": "Ready", "status": "true", "job": "kube-state-metrics"}
    load = {"instance": "ip-10-0-1-23:9100", "job": "node-exporter"}
    other = {"instance": "ip-10-0-9-9:9100", "job": "node-exporter"}  # a node the scenario does not hold
    for metric, labels in (("kube_node_status_condition", ready), ("node_load1", load), ("node_load5", other)):
        scenario_data["series"].append({"metric": metric, "type": "gauge", "labels": labels, "baseline": 1})
    scenario_data["alerts"].append(
        {"alertname": "KubeNodeNotReady", "labels": {"node": "ip-10-0-1-23"}, "starts_at": "-5m", "summary": "x"}
    )

    copy = isolated(parse_scenario(scenario_data), "bead00")

    assert [s.labels.get("namespace") for s in copy.series[-3:]] == ["infra-bead00", "infra-bead00", None]
    assert copy.alerts[-1].labels == {"node": "ip-10-0-1-23", "namespace": "infra-bead00"}


def test_an_isolated_scenario_round_trips_through_parse_scenario(scenario_data: dict[str, Any]) -> None:
    copy = isolated(parse_scenario(scenario_data), "c0ffee")
    document = scenario_document(copy)
    assert document["duration"] == "1h"
    assert document["series"][0]["effects"][0]["at"] == "-20m"
    assert document["events"][2]["from"] == 10  # an event's own field, not a duration
    assert parse_scenario(document) == copy


def test_every_bundled_scenario_round_trips_through_its_document() -> None:
    for scenario in load_scenarios([BUNDLED_DIR]):
        assert parse_scenario(scenario_document(scenario), scenario.name) == scenario


def test_depends_on_with_a_namespace_is_rewritten(scenario_data: dict[str, Any]) -> None:
    scenario_data["services"][0]["depends_on"] = ["payments", "data/cart-db"]
    copy = isolated(parse_scenario(scenario_data), "123abc")
    assert copy.services[0].depends_on == ["payments", "data-123abc/cart-db"]


def test_a_long_namespace_is_shortened_to_stay_a_valid_name(scenario_data: dict[str, Any]) -> None:
    long = "n" * 60
    scenario_data["services"][2]["namespace"] = long
    copy = isolated(parse_scenario(scenario_data), "abcdef")
    assert copy.services[2].namespace == "n" * 56 + "-abcdef"
    assert copy.series[3].labels["namespace"] == "n" * 56 + "-abcdef"
    assert isolated_namespace(long, "abcdef") == copy.services[2].namespace


def test_namespaces_that_clash_once_shortened_are_refused(scenario_data: dict[str, Any]) -> None:
    scenario_data["services"][1]["namespace"] = "n" * 58 + "a"
    scenario_data["services"][2]["namespace"] = "n" * 58 + "b"
    with pytest.raises(ScenarioError, match="share their first 56 characters"):
        isolated(parse_scenario(scenario_data), "abcdef")


def test_a_run_id_is_six_lowercase_hex_digits_and_nothing_else_is_accepted(scenario_data: dict[str, Any]) -> None:
    assert all(RUN_ID_PATTERN.fullmatch(new_run_id()) for _ in range(50))
    with pytest.raises(ValueError, match="6 lowercase hex"):
        isolated(parse_scenario(scenario_data), "ABC123")


def test_namespaces_under_other_label_names_and_in_a_namespace_slash_name_job_are_isolated(
    scenario_data: dict[str, Any],
) -> None:
    scenario_data["series"][2]["labels"] = {
        "destination_workload": "payments",
        "destination_workload_namespace": "prod",
        "source_workload_namespace": "istio-system",
    }
    scenario_data["series"][3]["labels"] = {"job": "data/cart-db", "k8s_namespace_name": "data"}
    scenario_data["alerts"][0]["labels"] = {"job": "prod/checkout", "service_name": "checkout"}

    copy = isolated(parse_scenario(scenario_data), "5eed00")

    assert copy.series[2].labels == {
        "destination_workload": "payments",
        "destination_workload_namespace": "prod-5eed00",
        "source_workload_namespace": "istio-system",  # not a namespace of the scenario
    }
    assert copy.series[3].labels == {"job": "data-5eed00/cart-db", "k8s_namespace_name": "data-5eed00"}
    assert copy.alerts[0].labels == {"job": "prod-5eed00/checkout", "service_name": "checkout"}


def test_every_candidate_scenario_isolates_into_namespaces_of_its_own() -> None:
    for scenario in load_scenarios([CANDIDATES_DIR]):
        copy = isolated(scenario, "0ddba1")
        namespaces = {service.namespace for service in copy.services}
        for labels in [
            *(s.labels for s in copy.series),
            *(s.labels for s in copy.logs),
            *(a.labels for a in copy.alerts),
        ]:
            for name, value in labels.items():
                if name == "namespace" or name.endswith(("_namespace", "_namespace_name")):
                    assert value.endswith("-0ddba1") or value not in {s.namespace for s in scenario.services}, (
                        scenario.name,
                        labels,
                    )
        assert namespaces == {f"{s.namespace}-0ddba1" for s in scenario.services}
