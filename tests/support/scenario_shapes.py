"""Which label shape a scenario is written in, for the tests whose checks hold for one shape only."""

from __future__ import annotations

from scenarios import Scenario

__all__ = ["in_service_label_shape"]


def in_service_label_shape(scenario: Scenario) -> bool:
    """Every series carries a `service` label (SCENARIOS.md's conventions, sre up's alert rules).

    The others are written in the shapes real clusters have (issue 13): cAdvisor's and
    kube-state-metrics' pod series, OpenTelemetry, Micrometer, Istio, exporters, with the labels their
    real alert rules give the alerts.
    """
    return all("service" in series.labels for series in scenario.series)
