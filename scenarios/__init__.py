"""The scenario engine: incidents described in YAML (SCENARIOS.md), and the data they generate.

`spec` loads and checks a scenario file; `generate` turns a scenario and an instant `now` into
metric samples (and their OpenMetrics text), log streams, control-plane records, Alertmanager
webhook payloads and the ground truth, all deterministic for a given seed and `now`.
`load` (`load_scenario_into`, `stream_live`) writes that data into real backends.
"""

from scenarios.generate import (
    ControlPlaneRecords,
    GroundTruth,
    HistoryRecord,
    SampleSeries,
    alertmanager_payloads,
    control_plane_records,
    expected,
    log_lines,
    openmetrics,
    series_samples,
)
from scenarios.spec import (
    BUNDLED_DIR,
    CANDIDATES_DIR,
    Scenario,
    ScenarioError,
    load_scenario,
    load_scenarios,
    parse_scenario,
)

__all__ = [
    "BUNDLED_DIR",
    "CANDIDATES_DIR",
    "ControlPlaneRecords",
    "GroundTruth",
    "HistoryRecord",
    "SampleSeries",
    "Scenario",
    "ScenarioError",
    "alertmanager_payloads",
    "control_plane_records",
    "expected",
    "load_scenario",
    "load_scenarios",
    "log_lines",
    "openmetrics",
    "parse_scenario",
    "series_samples",
]
