"""Deterministic data of a scenario at an instant `now`: same seed and same `now`, same data.

    series_samples(scenario, now)          metric samples (`samples`), openmetrics(samples) their text
    log_lines(scenario, now)               Loki push streams (`logs`)
    control_plane_records(scenario, now)   resources, deployments, audit entries (`records`)
    alertmanager_payloads(scenario, now)   webhook v4 payloads (`alerts`)
    expected(scenario, now)                the ground truth with absolute times (`records`)

`now` is a timezone-aware datetime; the history is the `duration` before it.
"""

from __future__ import annotations

from scenarios.alerts import alertmanager_payloads, fingerprint
from scenarios.logs import log_lines
from scenarios.records import ControlPlaneRecords, GroundTruth, HistoryRecord, control_plane_records, expected
from scenarios.samples import SampleSeries, openmetrics, series_samples

__all__ = [
    "ControlPlaneRecords",
    "GroundTruth",
    "HistoryRecord",
    "SampleSeries",
    "alertmanager_payloads",
    "control_plane_records",
    "expected",
    "fingerprint",
    "log_lines",
    "openmetrics",
    "series_samples",
]
