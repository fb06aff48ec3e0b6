"""The scenarios written in the shapes real clusters have: the candidates (scenarios/candidates) and the
bundled ones promoted from them. Valid, loadable, and in those shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.promtool import backfilled_blocks
from support.scenario_shapes import in_service_label_shape

from cli.scenario import scenario_paths
from scenarios import (
    BUNDLED_DIR,
    CANDIDATES_DIR,
    Scenario,
    load_scenarios,
    log_lines,
    openmetrics,
    series_samples,
)

NOW = datetime(2026, 11, 5, 12, 0, 7, tzinfo=UTC)


@pytest.fixture(scope="module")
def candidates() -> list[Scenario]:
    """The candidates and the bundled scenarios promoted from them (not in the service-label shape)."""
    promoted = [s for s in load_scenarios([BUNDLED_DIR]) if not in_service_label_shape(s)]
    return [*load_scenarios([CANDIDATES_DIR]), *promoted]


def _label_sets(scenario: Scenario) -> list[dict[str, str]]:
    return [
        *(s.labels for s in scenario.series),
        *(s.labels for s in scenario.logs),
        *(a.labels for a in scenario.alerts),
    ]


def test_every_candidate_parses_with_names_of_its_own_and_a_mix_of_incidents(candidates: list[Scenario]) -> None:
    names = [s.name for s in candidates]
    assert len(candidates) >= 19
    assert len(set(names)) == len(names)
    kinds = {s.expected.root_cause.kind for s in candidates}
    assert {"deployment", "config_change", "dependency", "resource_saturation", "infrastructure"} <= kinds
    for scenario in candidates:
        assert scenario.alerts, scenario.name
        assert len(scenario.services) >= 5, scenario.name


def test_every_candidate_generates_series_and_logs(candidates: list[Scenario]) -> None:
    # Control-plane bodies and webhooks: test_generate checks them for bundled and candidate scenarios.
    for scenario in candidates:
        assert series_samples(scenario, NOW), scenario.name
        assert log_lines(scenario, NOW), scenario.name


def test_most_candidates_carry_no_service_label_anywhere(candidates: list[Scenario]) -> None:
    """The others carry one only where real targets put it: a ServiceMonitor's Kubernetes Service (which
    may name kube-state-metrics rather than the workload), ingress-nginx's backend service."""
    without = [s.name for s in candidates if not any("service" in labels for labels in _label_sets(s))]
    assert len(without) >= 2 * len(candidates) / 3, without


def test_candidates_alert_with_the_labels_the_real_rules_carry(candidates: list[Scenario]) -> None:
    """kube-prometheus-stack's and the exporters' alerts keep their own label sets."""
    required = {
        "KubePodCrashLooping": {"namespace", "pod", "container", "job"},
        "KubeDeploymentReplicasMismatch": {"namespace", "deployment", "job"},
        "KubeContainerWaiting": {"namespace", "pod", "container", "reason"},
        "TargetDown": {"job", "namespace", "service"},
        "CPUThrottlingHigh": {"namespace", "pod", "container"},
        "NodeFilesystemSpaceFillingUp": {"instance", "device", "mountpoint", "job"},
        "PostgresqlTooManyConnections": {"instance", "job"},
        "RabbitmqTooManyMessagesInQueue": {"queue", "vhost", "instance", "job"},
        "RedisDown": {"instance", "job"},
    }
    seen = set()
    for scenario in candidates:
        for alert in scenario.alerts:
            if alert.alertname in required:
                seen.add(alert.alertname)
                assert required[alert.alertname] <= alert.labels.keys(), (scenario.name, alert.alertname)
    assert seen == required.keys()


def test_pods_are_replaced_at_a_rollout_so_a_workload_has_series_of_old_and_new_pods(
    candidates: list[Scenario],
) -> None:
    scenario = next(s for s in candidates if s.name == "ledger-api-deploy-5xx")
    cpu = [
        s
        for s in scenario.series
        if s.metric == "container_cpu_usage_seconds_total" and s.labels["pod"].startswith("ledger-api-")
    ]
    assert len({s.labels["pod"] for s in cpu}) == 6  # three pods before v4.12.0, three after
    assert {s.until for s in cpu if s.until is not None} == {-26 * 60}
    assert {s.from_ for s in cpu if s.from_ is not None} == {-27 * 60}


def test_the_word_candidates_and_a_candidates_name_resolve_to_its_files() -> None:
    first = sorted(CANDIDATES_DIR.glob("*.yaml"))[0]
    assert scenario_paths(["candidates", first.stem]) == [CANDIDATES_DIR, first]


def test_promtool_backfills_a_candidate_with_summaries(candidates: list[Scenario], tmp_path: Path) -> None:
    scenario = next(s for s in candidates if s.name == "shipments-queue-slow-consumer")
    assert any(s.type == "summary" for s in scenario.series)
    samples = series_samples(scenario, NOW)

    meta = backfilled_blocks(openmetrics(samples), tmp_path)

    assert sum(m["stats"]["numSamples"] for m in meta) == sum(len(s.points) for s in samples)
