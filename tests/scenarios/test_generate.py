from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.promtool import backfilled_blocks

from controlplane.models import AuditEntryCreate, DeploymentCreate, ResourceCreate
from scenarios import (
    BUNDLED_DIR,
    CANDIDATES_DIR,
    SampleSeries,
    alertmanager_payloads,
    control_plane_records,
    expected,
    load_scenario,
    log_lines,
    openmetrics,
    series_samples,
)
from scenarios.generate import fingerprint
from scenarios.spec import Scenario

# The same instant as the fixtures' (tests/scenarios/conftest.py), with milliseconds to keep.
NOW = datetime(2026, 11, 5, 12, 0, 7, 250_000, tzinfo=UTC)
NOW_MS = round(NOW.timestamp() * 1000)


def _load(write_scenario: Callable[..., Path], data: dict[str, Any] | None = None) -> Scenario:
    return load_scenario(write_scenario(data))


def _find(samples: list[SampleSeries], name: str, **labels: str) -> SampleSeries:
    found = [s for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) == 1, (name, labels, len(found))
    return found[0]


def _at(series: SampleSeries, minutes_before_now: int) -> float:
    return dict(series.points)[NOW_MS - minutes_before_now * 60_000]


def test_same_seed_and_now_give_identical_data_and_another_seed_other_noise(
    write_scenario: Callable[..., Path], scenario_data: dict[str, Any]
) -> None:
    scenario = _load(write_scenario)

    first = (openmetrics(series_samples(scenario, NOW)), log_lines(scenario, NOW))
    again = (openmetrics(series_samples(scenario, NOW)), log_lines(scenario, NOW))
    scenario_data["seed"] = 8
    other = _load(write_scenario, scenario_data)

    assert first == again
    assert openmetrics(series_samples(other, NOW)) != first[0]
    assert log_lines(other, NOW) != first[1]


def test_points_are_every_step_over_the_duration_ending_at_now(write_scenario: Callable[..., Path]) -> None:
    samples = series_samples(_load(write_scenario), NOW)
    times = [t for t, _ in _find(samples, "queue_depth").points]
    assert times == [NOW_MS - 60_000 * k for k in range(60, -1, -1)]


def test_a_counter_is_monotonic_and_its_rate_follows_the_step_effect(write_scenario: Callable[..., Path]) -> None:
    counter = _find(series_samples(_load(write_scenario), NOW), "http_requests_total", code="500")
    values = [v for _, v in counter.points]
    assert counter.family == "http_requests"
    assert counter.type == "counter"
    assert all(b >= a for a, b in itertools.pairwise(values))
    before = (_at(counter, 21) - _at(counter, 41)) / 1200
    after = (_at(counter, 0) - _at(counter, 19)) / (19 * 60)
    assert before == pytest.approx(1, rel=0.1)
    assert after == pytest.approx(10, rel=0.1)


def test_gauge_effects_spike_ramp_and_hold_at_the_right_times(write_scenario: Callable[..., Path]) -> None:
    gauge = _find(series_samples(_load(write_scenario), NOW), "queue_depth")
    assert _at(gauge, 41) == pytest.approx(100)
    assert _at(gauge, 40) == pytest.approx(300)  # the spike starts at `at`
    assert _at(gauge, 31) == pytest.approx(300)
    assert _at(gauge, 30) == pytest.approx(100)  # and ends at `until`
    assert _at(gauge, 20) == pytest.approx(100)  # the ramp starts at 1
    assert _at(gauge, 15) == pytest.approx(150)  # half way
    assert _at(gauge, 10) == pytest.approx(200)
    assert _at(gauge, 0) == pytest.approx(200)  # and holds


def test_a_series_exists_only_between_its_from_and_until(write_scenario: Callable[..., Path]) -> None:
    up = _find(series_samples(_load(write_scenario), NOW), "up")
    times = [t for t, _ in up.points]
    assert times[0] == NOW_MS - 50 * 60_000
    assert times[-1] == NOW_MS - 6 * 60_000


def test_histogram_buckets_are_cumulative_consistent_with_count_and_show_the_latency_effect(
    write_scenario: Callable[..., Path],
) -> None:
    samples = [s for s in series_samples(_load(write_scenario), NOW) if s.family == "http_request_duration_seconds"]
    buckets = sorted(
        (s for s in samples if s.name.endswith("_bucket")),
        key=lambda s: math.inf if s.labels["le"] == "+Inf" else float(s.labels["le"]),
    )
    count = _find(samples, "http_request_duration_seconds_count")
    total = _find(samples, "http_request_duration_seconds_sum")
    assert [b.labels["le"] for b in buckets] == ["0.025", "0.05", "0.1", "0.5", "1.0", "+Inf"]
    for index in range(len(count.points)):
        column = [b.points[index][1] for b in buckets]
        assert all(b >= a for a, b in itertools.pairwise(column))
        assert column[-1] == count.points[index][1]
    for series in [*buckets, count, total]:
        values = [v for _, v in series.points]
        assert all(b >= a for a, b in itertools.pairwise(values))

    def fraction_under_50ms(start: int, end: int) -> float:
        under = _at(buckets[1], end) - _at(buckets[1], start)
        return under / (_at(count, end) - _at(count, start))

    assert fraction_under_50ms(40, 21) == pytest.approx(0.5, abs=0.05)  # the median is 50ms
    assert fraction_under_50ms(19, 0) < 0.05  # eight times slower
    mean_before = (_at(total, 21) - _at(total, 40)) / (_at(count, 21) - _at(count, 40))
    assert 0.05 < mean_before < 0.09  # log-normal mean above the median


def test_openmetrics_text_follows_the_format_promtool_reads(write_scenario: Callable[..., Path]) -> None:
    text = openmetrics(series_samples(_load(write_scenario), NOW))
    lines = text.splitlines()
    assert text.endswith("\n# EOF\n")
    assert "# TYPE http_requests counter" in lines
    assert "# TYPE http_request_duration_seconds histogram" in lines
    assert lines.count("# TYPE queue_depth gauge") == 1
    stamp = f"{NOW_MS // 1000}.{NOW_MS % 1000:03d}"
    assert re.search(
        rf'^http_requests_total\{{service="checkout",namespace="prod",code="500"\}} [0-9.e+]+ {stamp}$', text, re.M
    )
    group = [line for line in lines if line.startswith("http_request_duration_seconds") and line.endswith(stamp)]
    assert [line.split(" ")[0].split("{")[0] for line in group][-2:] == [
        "http_request_duration_seconds_count",
        "http_request_duration_seconds_sum",
    ]
    assert 'le="+Inf"' in group[-3]


@pytest.mark.parametrize("source", ["small", "checkout-bad-deploy-errors"])
def test_promtool_creates_blocks_from_the_openmetrics_text(
    write_scenario: Callable[..., Path], tmp_path: Path, source: str
) -> None:
    scenario = _load(write_scenario) if source == "small" else load_scenario(BUNDLED_DIR / f"{source}.yaml")

    meta = backfilled_blocks(openmetrics(series_samples(scenario, NOW)), tmp_path)

    assert meta
    series = max(m["stats"]["numSeries"] for m in meta)
    assert series == len(series_samples(scenario, NOW))
    assert sum(m["stats"]["numSamples"] for m in meta) == sum(len(s.points) for s in series_samples(scenario, NOW))


def test_log_lines_follow_rate_window_placeholders_and_json_format(write_scenario: Callable[..., Path]) -> None:
    (stream,) = log_lines(_load(write_scenario), NOW)
    assert stream.labels == {"service": "checkout", "namespace": "prod"}
    times = [entry.timestamp_ns for entry in stream.entries]
    assert times == sorted(times)
    assert len(set(times)) == len(times)
    assert times[0] >= NOW_MS * 1_000_000 - 3600 * 10**9
    assert times[-1] < NOW_MS * 1_000_000
    objects = [json.loads(entry.line) for entry in stream.entries]
    access = [o for o in objects if o.get("msg") == "GET /cart"]
    errors = [(entry, o) for entry, o in zip(stream.entries, objects, strict=True) if o["level"] == "error"]
    assert len(access) == pytest.approx(0.5 * 3600, rel=0.15)
    assert len(errors) == pytest.approx(0.2 * 600, rel=0.35)
    assert all(o["level"] == "info" and o["status"] == 200 and 5 <= o["duration_ms"] <= 40 for o in access)
    assert all(
        re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", o["id"]) for o in access
    )
    start, end = (NOW_MS - 20 * 60_000) * 1_000_000, (NOW_MS - 10 * 60_000) * 1_000_000
    assert all(start <= entry.timestamp_ns < end for entry, _ in errors)
    pattern = r"ERROR order [0-9a-f]{8} from 10\.\d+\.\d+\.\d+ failed in (a|b) after \d\.\d\ds"
    assert all(re.fullmatch(pattern, o["msg"]) for _, o in errors)


def test_control_plane_records_validate_against_the_api_bodies(write_scenario: Callable[..., Path]) -> None:
    records = control_plane_records(_load(write_scenario), NOW)
    ids = {f"{r['namespace']}/{r['name']}": f"res_{r['name']}" for r in records.resources}

    resources = [ResourceCreate.model_validate(body) for body in records.resources]
    deployments = [DeploymentCreate.model_validate(record.body(ids)) for record in records.deployments]
    audit = [AuditEntryCreate.model_validate(record.body(ids)) for record in records.audit_entries]

    assert resources[0].dependencies == ["payments", "data/cart-db"]
    assert resources[0].version == "v1"
    assert [(d.version, d.previous_version, d.status, d.trigger) for d in deployments] == [
        ("v1.5", "v1", "failed", "ci"),
        ("v2", "v1", "succeeded", "ci"),
        ("v1", "v2", "succeeded", "rollback"),
    ]
    assert deployments[1].resource_id == "res_checkout"
    assert deployments[1].started_at == NOW - timedelta(minutes=21)
    assert audit[0].type == "config_change"
    assert audit[0].details == {"ref": "db.pool.max", "from": 10, "to": 20}
    assert audit[0].summary == "config change of db.pool.max: 10 -> 20"


def test_every_bundled_and_candidate_scenario_yields_valid_control_plane_bodies_and_webhooks() -> None:
    for path in sorted([*BUNDLED_DIR.glob("*.yaml"), *CANDIDATES_DIR.glob("*.yaml")]):
        scenario = load_scenario(path)
        records = control_plane_records(scenario, NOW)
        ids = {f"{r['namespace']}/{r['name']}": "res_1" for r in records.resources}
        for body in records.resources:
            ResourceCreate.model_validate(body)
        for record in records.deployments:
            DeploymentCreate.model_validate(record.body(ids))
        for record in records.audit_entries:
            AuditEntryCreate.model_validate(record.body(ids))
        for payload in alertmanager_payloads(scenario, NOW):
            _assert_webhook_v4(payload)


def _assert_webhook_v4(payload: dict[str, Any]) -> None:
    assert set(payload) == {
        "version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels",
        "commonAnnotations", "externalURL", "alerts",
    }  # fmt: skip
    assert payload["version"] == "4"
    assert payload["status"] in ("firing", "resolved")
    rfc3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"
    for alert in payload["alerts"]:
        assert set(alert) == {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
        assert alert["labels"]["alertname"] == payload["groupLabels"]["alertname"]
        assert payload["commonLabels"].items() <= alert["labels"].items()
        assert re.fullmatch(rfc3339, alert["startsAt"])
        assert re.fullmatch(rfc3339, alert["endsAt"])
        assert re.fullmatch(r"[0-9a-f]{16}", alert["fingerprint"])
        assert "summary" in alert["annotations"]


def test_alertmanager_payloads_group_by_alertname_with_v4_fields(write_scenario: Callable[..., Path]) -> None:
    payloads = alertmanager_payloads(_load(write_scenario), NOW, receiver="sre", external_url="http://am:9093")

    errors, flap = payloads
    for payload in payloads:
        _assert_webhook_v4(payload)
    assert errors["groupKey"] == '{}:{alertname="HighErrorRate"}'
    assert errors["receiver"] == "sre"
    assert errors["externalURL"] == "http://am:9093"
    assert errors["status"] == "firing"
    assert errors["commonLabels"] == {"alertname": "HighErrorRate", "severity": "critical"}
    assert errors["commonAnnotations"] == {}
    first = errors["alerts"][0]
    assert first["startsAt"] == "2026-11-05T11:45:07.250Z"
    assert first["endsAt"] == "0001-01-01T00:00:00Z"
    assert first["labels"] == {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"}
    assert errors["alerts"][1]["annotations"]["runbook_url"] == "https://runbooks/5xx"
    assert flap["status"] == "resolved"
    assert flap["alerts"][0]["endsAt"] == "2026-11-05T11:35:07.250Z"


def test_fingerprint_is_prometheus_fnv1a_of_the_sorted_labels() -> None:
    # Prometheus: model.LabelSet{}.Fingerprint() is the FNV-1a offset basis; labels are order-free.
    assert fingerprint({}) == "cbf29ce484222325"
    assert fingerprint({"a": "1", "b": "2"}) == fingerprint({"b": "2", "a": "1"})
    assert fingerprint({"a": "1"}) != fingerprint({"a": "2"})


def test_expected_gives_the_ground_truth_at_absolute_times(write_scenario: Callable[..., Path]) -> None:
    truth = expected(_load(write_scenario), NOW)
    assert (truth.kind, truth.service, truth.namespace, truth.ref) == ("deployment", "checkout", "prod", "v2")
    assert truth.onset == NOW - timedelta(minutes=20)


def test_the_onset_of_every_bundled_and_candidate_incident_is_visible_in_its_data() -> None:
    """Some series of each incident changes by half or more across the onset, or begins a trend there."""
    for path in sorted([*BUNDLED_DIR.glob("*.yaml"), *CANDIDATES_DIR.glob("*.yaml")]):
        scenario = load_scenario(path)
        if scenario.expected.onset is None:
            continue
        trends = [
            s for s in scenario.series if any(e.kind == "ramp" and e.at == scenario.expected.onset for e in s.effects)
        ]
        if trends:
            continue  # a slow leak: no step, the onset is where its ramps begin
        onset_ms = NOW_MS + scenario.expected.onset * 1000
        window = 10 * 60_000
        changed = []
        for series in series_samples(scenario, NOW):
            if series.type in ("histogram", "summary") and not series.name.endswith("_count"):
                continue
            points = dict(series.points)
            before = [v for t, v in points.items() if onset_ms - window <= t < onset_ms]
            after = [v for t, v in points.items() if onset_ms + 60_000 <= t < onset_ms + window]
            if len(before) < 2 or len(after) < 2:
                continue
            if series.type == "gauge":
                level_before, level_after = sum(before) / len(before), sum(after) / len(after)
            else:
                level_before, level_after = before[-1] - before[0], after[-1] - after[0]
            if abs(level_after - level_before) > 0.5 * max(abs(level_before), 1e-9):
                changed.append(series.name)
        assert changed, scenario.name


def _with_summary(data: dict[str, Any], quantiles: list[float] | None = None) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "metric": "http_server_requests_seconds",
        "type": "summary",
        "labels": {"job": "prod/checkout", "uri": "/cart", "status": "200", "outcome": "SUCCESS"},
        "baseline": 20,
        "latency": {"median_ms": 40, "p99_ms": 160},
        "effects": [{"at": "-20m", "kind": "step", "factor": 0.5, "latency_factor": 3}],
    }
    if quantiles is not None:
        summary["quantiles"] = quantiles
    data["series"].append(summary)
    return data


def test_a_summary_is_sum_and_count_counters_without_total_and_its_quantile_gauges(
    write_scenario: Callable[..., Path], scenario_data: dict[str, Any]
) -> None:
    samples = [
        s
        for s in series_samples(_load(write_scenario, _with_summary(scenario_data, [0.5, 0.99])), NOW)
        if s.family == "http_server_requests_seconds"
    ]
    assert sorted(s.name for s in samples) == [
        "http_server_requests_seconds",
        "http_server_requests_seconds",
        "http_server_requests_seconds_count",
        "http_server_requests_seconds_sum",
    ]
    count = _find(samples, "http_server_requests_seconds_count")
    total = _find(samples, "http_server_requests_seconds_sum")
    assert count.labels == {"job": "prod/checkout", "uri": "/cart", "status": "200", "outcome": "SUCCESS"}
    for series in (count, total):
        values = [v for _, v in series.points]
        assert all(b >= a for a, b in itertools.pairwise(values))
    # 20 requests a second before the step, half after; the mean latency three times longer.
    assert (_at(count, 21) - _at(count, 40)) / (19 * 60) == pytest.approx(20, rel=0.05)
    assert (_at(count, 0) - _at(count, 19)) / (19 * 60) == pytest.approx(10, rel=0.05)

    def mean(start: int, end: int) -> float:
        return (_at(total, end) - _at(total, start)) / (_at(count, end) - _at(count, start))

    assert 0.04 < mean(40, 21) < 0.06  # log-normal mean above the 40 ms median
    assert mean(19, 0) / mean(40, 21) == pytest.approx(3, rel=0.05)
    median = _find(samples, "http_server_requests_seconds", quantile="0.5")
    p99 = _find(samples, "http_server_requests_seconds", quantile="0.99")
    assert median.type == p99.type == "summary"
    assert _at(median, 30) == pytest.approx(0.04, rel=0.01)
    assert _at(p99, 30) == pytest.approx(0.16, rel=0.01)
    assert _at(p99, 10) == pytest.approx(0.48, rel=0.01)


def test_a_summary_without_quantiles_is_only_its_two_counters(
    write_scenario: Callable[..., Path], scenario_data: dict[str, Any]
) -> None:
    samples = series_samples(_load(write_scenario, _with_summary(scenario_data)), NOW)
    names = sorted(s.name for s in samples if s.family == "http_server_requests_seconds")
    assert names == ["http_server_requests_seconds_count", "http_server_requests_seconds_sum"]


def test_promtool_reads_a_summary_with_and_without_quantiles(
    write_scenario: Callable[..., Path], scenario_data: dict[str, Any], tmp_path: Path
) -> None:
    data = _with_summary(scenario_data, [0.5, 0.9, 0.99])
    plain = {**data["series"][-1], "metric": "jvm_gc_pause_seconds"}
    del plain["quantiles"]
    data["series"].append(plain)
    samples = series_samples(_load(write_scenario, data), NOW)
    text = openmetrics(samples)
    assert "# TYPE http_server_requests_seconds summary" in text.splitlines()

    meta = backfilled_blocks(text, tmp_path)

    assert sum(m["stats"]["numSamples"] for m in meta) == sum(len(s.points) for s in samples)


def test_a_counter_named_without_total_counts_and_promtool_backfills_it(
    write_scenario: Callable[..., Path], scenario_data: dict[str, Any], tmp_path: Path
) -> None:
    """ingress-nginx and postgres_exporter name counters without `_total`; they go as OpenMetrics `unknown`."""
    scenario_data["series"].append(
        {
            "metric": "nginx_ingress_controller_requests",
            "type": "counter",
            "labels": {"exported_namespace": "prod", "ingress": "web", "service": "checkout", "status": "502"},
            "baseline": 2,
            "effects": [{"at": "-20m", "kind": "step", "factor": 10}],
        }
    )
    samples = series_samples(_load(write_scenario, scenario_data), NOW)
    (requests,) = [s for s in samples if s.name == "nginx_ingress_controller_requests"]
    values = [v for _, v in requests.points]
    assert values == sorted(values)  # a counter still
    text = openmetrics(samples)
    assert "# TYPE nginx_ingress_controller_requests unknown" in text.splitlines()
    assert "# TYPE http_requests counter" in text.splitlines()

    meta = backfilled_blocks(text, tmp_path)

    assert sum(m["stats"]["numSamples"] for m in meta) == sum(len(s.points) for s in samples)
