from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from common.errors import InputError
from scenarios import BUNDLED_DIR, ScenarioError, load_scenario, load_scenarios
from scenarios.spec import duration_text, parse_duration

REQUIRED_COVERAGE = {
    "deployment": 3,
    "config_change": 1,
    "dependency": 2,
    "traffic_surge": 1,
    "resource_saturation": 2,
    "infrastructure": 1,
    "unknown": 1,
}


def test_every_bundled_scenario_loads_and_the_set_covers_the_incident_kinds() -> None:
    scenarios = load_scenarios([BUNDLED_DIR])

    assert len(scenarios) >= 12
    kinds = [s.expected.root_cause.kind for s in scenarios]
    for kind, count in REQUIRED_COVERAGE.items():
        assert kinds.count(kind) >= count, kind
    for scenario in scenarios:
        assert len(scenario.services) >= 5, scenario.name
        assert scenario.alerts, scenario.name
        assert scenario.logs, scenario.name
        named = {
            service.name
            for service in scenario.services
            if any(_names(s.labels, service.name) for s in scenario.series)
        }
        in_cluster = {service.name for service in scenario.services if service.kind != "external"}
        # An external service (a CDN, a managed store) has no series of its own in the cluster's Prometheus.
        assert len(named) >= 5 or in_cluster <= named, f"{scenario.name} has series for few services"


def _names(labels: dict[str, str], service: str) -> bool:
    """A label set is about the service: a label names it, as a value, a `namespace/name` job or its pods' names."""
    return any(
        value == service or value.endswith(f"/{service}") or (name == "pod" and value.startswith(f"{service}-"))
        for name, value in labels.items()
    )


def test_two_bundled_scenarios_have_a_red_herring_deploy_of_another_service_before_the_cause() -> None:
    herrings = []
    for scenario in load_scenarios([BUNDLED_DIR]):
        cause = scenario.expected.root_cause
        if cause.kind == "deployment" or scenario.expected.onset is None:
            continue
        onset = scenario.expected.onset
        decoys = [
            e
            for e in scenario.events
            if e.type == "deployment" and e.service != cause.service and 0 < onset - e.at <= 10 * 60
        ]
        if decoys:
            herrings.append(scenario.name)
    assert len(herrings) >= 2, herrings


def test_durations_parse_units_and_signs() -> None:
    assert [parse_duration(text) for text in ("15s", "5m", "2h", "1d", "-32m", "0s")] == [
        15,
        300,
        7200,
        86400,
        -1920,
        0,
    ]
    with pytest.raises(ValueError, match="duration"):
        parse_duration("90")


def test_durations_take_prometheus_compound_forms_and_write_back_the_same() -> None:
    assert [parse_duration(text) for text in ("1h30m", "2h50m", "-1h5m", "1d2h", "1w", "5m30s")] == [
        5400,
        10200,
        -3900,
        93600,
        604800,
        330,
    ]
    # Prometheus' order: largest unit first, each unit once; spaces and bare numbers are not durations.
    for text in ("30m1h", "1h1h", "1h 30m", "1.5h", "h", "-", ""):
        with pytest.raises(ValueError, match="units largest first"):
            parse_duration(text)
    for seconds in (5400, -3900, 93600, 60, -15, 0, 7200, 86400 + 61):
        assert parse_duration(duration_text(seconds)) == seconds
    assert [duration_text(s) for s in (5400, -3900, 7200, 0)] == ["1h30m", "-1h5m", "2h", "0s"]


def test_a_scenario_takes_compound_durations_in_every_time_field(
    scenario_data: dict[str, Any], write_scenario: Callable[..., Path]
) -> None:
    scenario_data["duration"] = "1h30m"
    scenario_data["series"][0]["effects"][0]["at"] = "-1h5m"
    scenario_data["alerts"][0]["starts_at"] = "-15m30s"

    scenario = load_scenario(write_scenario(scenario_data))

    assert scenario.duration == 5400
    assert scenario.series[0].effects[0].at == -3900
    assert scenario.alerts[0].starts_at == -930


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting `a.b[2].c` (a missing value deletes the key)."""

    def mutate(data: dict[str, Any]) -> None:
        parts = path.replace("]", "").replace("[", ".").split(".")
        target: Any = data
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last = parts[-1]
        if value is _DELETE:
            del target[last]
        else:
            target[int(last) if last.isdigit() else last] = value

    return mutate


_DELETE = object()


def _summary(**fields: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation making series[1] a summary, with `fields` changed (`_DELETE` removes one)."""
    summary = {"metric": "rpc_seconds", "type": "summary", "baseline": 1, "latency": {"median_ms": 5, "p99_ms": 50}}
    summary.update(fields)
    return _set("series[1]", {key: value for key, value in summary.items() if value is not _DELETE})


CASES = [
    ("unknown top-level field", _set("owner", "me"), "owner", "unknown field"),
    (
        "unknown effect field",
        _set("series[0].effects[0].colour", "red"),
        "series[0].effects[0].colour",
        "unknown field",
    ),
    ("bad name", _set("name", "Checkout_Bad"), "name", "should match pattern"),
    ("bad duration", _set("duration", "3 hours"), "duration", "duration such as 15s"),
    ("duration as a number", _set("step", 15), "step", "duration such as 15s"),
    ("instant after now", _set("series[0].effects[0].at", "20m"), "series[0].effects[0].at", "0 or negative"),
    ("unknown effect kind", _set("series[1].effects[0].kind", "blip"), "series[1].effects[0].kind", "'blip'"),
    (
        "unknown series type",
        _set("series[0].type", "exemplar"),
        "series[0].type",
        "'counter', 'gauge', 'histogram' or 'summary'",
    ),
    ("compound duration out of order", _set("duration", "30m1h"), "duration", "units largest first"),
    ("summary with buckets", _set("series[1].type", "summary"), "series[1].buckets", "only a histogram"),
    ("summary named with its suffix", _summary(metric="rpc_seconds_count"), "series[1].metric", "without the _count"),
    ("summary without a latency", _summary(latency=_DELETE), "series[1].latency", "a summary needs `latency"),
    (
        "quantiles on a histogram",
        _set("series[1].quantiles", [0.5, 0.99]),
        "series[1].quantiles",
        "only a summary",
    ),
    ("quantile out of range", _summary(quantiles=[0.5, 1.5]), "series[1].quantiles[1]", "less than 1"),
    ("unknown service kind", _set("services[1].kind", "lambda"), "services[1].kind", "'lambda'"),
    (
        "unknown placeholder",
        _set("logs[0].lines[0].template", "x {nope:1}"),
        "logs[0].lines[0].template",
        "unknown placeholder {nope:1}",
    ),
    ("bad int range", _set("logs[0].lines[1].template", "{int:9-1}"), "logs[0].lines[1].template", "A <= B"),
    (
        "unknown dependency",
        _set("services[0].depends_on", ["payments", "carts-db"]),
        "services[0].depends_on[1]",
        "'carts-db' is not a service",
    ),
    ("unknown root-cause kind", _set("expected.root_cause.kind", "bad_luck"), "expected.root_cause.kind", "'bad_luck'"),
    (
        "root-cause service unknown",
        _set("expected.root_cause.service", "nope"),
        "expected.root_cause.service",
        "'nope' is not a service",
    ),
    ("missing onset", _set("expected.onset", _DELETE), "expected.onset", "needs the onset"),
    ("missing field", _set("seed", _DELETE), "seed", "is required"),
    ("spike without until", _set("series[2].effects[0].until", _DELETE), "series[2].effects[0].until", "needs `until`"),
    ("ramp with factor", _set("series[2].effects[1].factor", 2), "series[2].effects[1].factor", "to_factor"),
    (
        "latency on a counter",
        _set("series[0].effects[0].latency_factor", 2),
        "series[0].effects[0].latency_factor",
        "only a histogram",
    ),
    (
        "counter with and without _total",
        _set("series[1]", {"metric": "http_requests", "type": "counter", "baseline": 1}),
        "series[1].type",
        "is a counter in series[0]",
    ),
    ("histogram without latency", _set("series[1].latency", _DELETE), "series[1].latency", "needs `latency"),
    ("p99 below median", _set("series[1].latency.p99_ms", 10), "series[1].latency.p99_ms", "greater than"),
    ("buckets not increasing", _set("series[1].buckets", [0.1, 0.05]), "series[1].buckets", "strictly increasing"),
    ("event on unknown service", _set("events[0].service", "checkout2"), "events[0].service", "'checkout2'"),
    ("deployment without version", _set("events[0].version", _DELETE), "events[0].version", "needs the version"),
    ("unknown event type", _set("events[2].type", "reboot"), "events[2].type", "'reboot'"),
    ("until before from", _set("series[3].until", "-55m"), "series[3].until", "after `from`"),
    ("unquoted version", _set("services[1].version", 2.5), "services[1].version", "quote the value"),
    (
        "bad label name",
        _set("series[2].labels", {"bad-name": "x"}),
        "series[2].labels['bad-name'] (the key)",
        "should match pattern",
    ),
]


@pytest.mark.parametrize(("mutate", "field", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_scenarios_are_rejected_naming_file_field_and_reason(
    scenario_data: dict[str, Any],
    write_scenario: Callable[..., Path],
    mutate: Callable[[dict[str, Any]], None],
    field: str,
    reason: str,
) -> None:
    data = scenario_data
    mutate(data)
    path = write_scenario(data)

    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)

    message = str(caught.value)
    assert isinstance(caught.value, InputError)
    assert str(path) in message
    assert any(f == field and reason in r for f, r in caught.value.problems), caught.value.problems
    assert f"{field}: " in message


def test_an_unknown_field_error_lists_the_allowed_fields(
    scenario_data: dict[str, Any], write_scenario: Callable[..., Path]
) -> None:
    data = scenario_data
    data["series"][0]["effects"][0]["factr"] = 2
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write_scenario(data))
    assert (
        "series[0].effects[0].factr",
        "unknown field (allowed: at, until, kind, factor, to_factor, latency_factor)",
    ) in (caught.value.problems)


def test_every_problem_of_a_file_is_reported_at_once(
    scenario_data: dict[str, Any], write_scenario: Callable[..., Path]
) -> None:
    data = scenario_data
    data["seed"] = "seven"
    data["series"][0]["effects"][0]["kind"] = "blip"
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write_scenario(data))
    assert [field for field, _ in caught.value.problems] == ["seed", "series[0].effects[0].kind"]
    assert "(2 problems)" in str(caught.value)


def test_an_event_keeps_fields_beyond_the_modelled_ones_as_details(write_scenario: Callable[..., Path]) -> None:
    scenario = load_scenario(write_scenario())
    assert scenario.events[2].details == {"ref": "db.pool.max", "from": 10, "to": 20}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("name: a\nname: b\n", "duplicate key 'name'"),
        ("name: [unclosed\n", "not valid YAML: line"),
        ("- a list\n", "must be a YAML mapping"),
    ],
)
def test_malformed_yaml_is_rejected_with_the_file_and_position(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=reason) as caught:
        load_scenario(path)
    assert str(path) in str(caught.value)


def test_loading_two_scenarios_with_one_name_is_an_error(write_scenario: Callable[..., Path]) -> None:
    first = write_scenario(name="a.yaml")
    second = write_scenario(name="b.yaml")
    with pytest.raises(ScenarioError, match="already the name of the scenario in") as caught:
        load_scenarios([first, second])
    assert str(second) in str(caught.value)


def test_a_directory_loads_its_yaml_files_in_name_order(
    scenario_data: dict[str, Any], write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    data = scenario_data
    write_scenario(data, name="b.yaml")
    data["name"] = "another"
    write_scenario(data, name="a.yml")
    assert [s.name for s in load_scenarios([tmp_path])] == ["another", "small-checkout"]
