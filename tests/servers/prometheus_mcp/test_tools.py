"""Every prometheus-mcp tool against a real Prometheus and a real VictoriaMetrics, with known data."""

from __future__ import annotations

import math
from typing import Any

import pytest
from mcp import Client
from support.backends import PrometheusProcess, VictoriaMetricsProcess
from support.eventually import eventually_async
from support.mcp_session import call, call_error, prometheus_session
from support.metrics_dataset import ODD_TENANT, Dataset

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

Backend = PrometheusProcess | VictoriaMetricsProcess


async def test_query_returns_the_known_value_at_an_instant(backend: Backend, metrics_dataset: Dataset) -> None:
    async with prometheus_session(backend.url) as client:
        result = await call(client, "prometheus_query", query="queue_depth", time=str(metrics_dataset.end))
    assert result["result_type"] == "vector"
    assert [(s["labels"], s["value"]) for s in result["samples"]] == [
        ({"__name__": "queue_depth", "queue": "orders"}, 180.0)
    ]
    assert (result["returned"], result["total"], result["truncated"]) == (1, 1, False)


async def test_query_computes_counter_rates(backend: Backend, metrics_dataset: Dataset) -> None:
    async with prometheus_session(backend.url) as client:
        result = await call(
            client,
            "prometheus_query",
            query='sum by (code) (rate(http_requests_total{service="checkout"}[5m]))',
            time=str(metrics_dataset.end),
        )
    rates = {s["labels"]["code"]: s["value"] for s in result["samples"]}
    assert rates == {"200": pytest.approx(1.0), "500": pytest.approx(0.5)}


async def test_query_reports_truncation_when_series_exceed_the_limit(
    backend: Backend, metrics_dataset: Dataset
) -> None:
    async with prometheus_session(backend.url, PROMETHEUS_MCP_MAX_SERIES="3") as client:
        limited = await call(
            client, "prometheus_query", query="node_cpu_utilisation", time=str(metrics_dataset.end), limit=2
        )
        clamped = await client.call_tool(
            "prometheus_query", {"query": "node_cpu_utilisation", "time": str(metrics_dataset.end), "limit": 50}
        )
    assert (limited["returned"], limited["total"], limited["truncated"]) == (2, 4, True)
    assert len(limited["samples"]) == 2
    structured = clamped.structured_content or {}
    assert (structured["returned"], structured["total"], structured["truncated"]) == (3, 4, True)
    assert structured["limits_applied"] == ["limit lowered from 50 to the maximum of 3 series"]
    text = clamped.content[0].text  # type: ignore[union-attr]
    assert "Showing 3 of 4. Narrow the query to see the rest." in text
    assert "Limit: limit lowered from 50 to the maximum of 3 series" in text


async def test_query_range_returns_every_point_and_an_exact_summary(backend: Backend, metrics_dataset: Dataset) -> None:
    async with prometheus_session(backend.url) as client:
        result = await call(
            client,
            "prometheus_query_range",
            query="queue_depth",
            start=str(metrics_dataset.start),
            end=str(metrics_dataset.end),
            step="1m",
        )
    assert result["step_seconds"] == 60
    assert result["detail"] == "points"
    [series] = result["series"]
    assert series["points"] == [[float(metrics_dataset.start + 60 * i), float(i)] for i in range(181)]
    summary = series["summary"]
    assert (summary["points"], summary["min"], summary["max"], summary["first"], summary["last"]) == (
        181,
        0,
        180,
        0,
        180,
    )
    assert summary["mean"] == pytest.approx(90.0)
    assert summary["trend_per_second"] == pytest.approx(1 / 60)
    assert result["limits_applied"] == []


async def test_query_range_raises_the_step_so_no_series_exceeds_11000_points(backend: Backend) -> None:
    async with prometheus_session(backend.url) as client:
        result = await call(
            client,
            "prometheus_query_range",
            query="queue_depth",
            start="now-30d",
            end="now",
            step="1s",
            detail="summary",
        )
    assert result["step_seconds"] == pytest.approx(30 * 86400 / 10999, abs=0.001)
    assert math.floor(30 * 86400 / result["step_seconds"]) + 1 <= 11000
    assert any(note.startswith("step raised from 1s to") for note in result["limits_applied"])


async def test_query_range_clamps_a_window_longer_than_allowed(backend: Backend) -> None:
    async with prometheus_session(backend.url, PROMETHEUS_MCP_MAX_RANGE_SECONDS=str(7 * 86400)) as client:
        result = await call(client, "prometheus_query_range", query="queue_depth", start="now-30d", end="now")
    assert any("longer than the 7d allowed" in note for note in result["limits_applied"])


async def test_query_range_averages_points_down_to_the_budget(backend: Backend, metrics_dataset: Dataset) -> None:
    async with prometheus_session(backend.url, PROMETHEUS_MCP_MAX_POINTS_RETURNED="100") as client:
        result = await call(
            client,
            "prometheus_query_range",
            query="node_cpu_utilisation",
            start=str(metrics_dataset.start),
            end=str(metrics_dataset.end),
            step="60s",
        )
    assert result["detail"] == "points"
    assert {len(s["points"]) for s in result["series"]} == {25}
    assert {s["downsampled_from"] for s in result["series"]} == {181}
    assert any("averaged down to 25" in note for note in result["limits_applied"])
    checkout = next(s for s in result["series"] if s["labels"]["service"] == "checkout")
    # Summaries use every point: 150 points at 0.3 and 31 at 0.9.
    assert checkout["summary"]["mean"] == pytest.approx((150 * 0.3 + 31 * 0.9) / 181)


async def test_query_range_sends_summaries_when_points_do_not_fit(backend: Backend, metrics_dataset: Dataset) -> None:
    async with prometheus_session(backend.url, PROMETHEUS_MCP_MAX_POINTS_RETURNED="40") as client:
        result = await call(
            client,
            "prometheus_query_range",
            query="node_cpu_utilisation",
            start=str(metrics_dataset.start),
            end=str(metrics_dataset.end),
        )
    assert result["detail"] == "summary"
    assert all(s["points"] is None for s in result["series"])
    assert {s["labels"]["service"]: s["summary"]["last"] for s in result["series"]} == {
        "checkout": 0.9,
        "cart": 0.4,
        "search": 0.5,
        "payments": 0.45,
    }


async def test_query_rejects_an_overlong_query_with_the_limit_in_the_message(backend: Backend) -> None:
    async with prometheus_session(backend.url) as client:
        message = await call_error(client, "prometheus_query", query="up + " * 1100 + "up")
    assert "the limit is 4096" in message


async def test_list_labels_pages_through_sorted_values(backend: Backend, metrics_dataset: Dataset) -> None:
    window = {"start": str(metrics_dataset.start), "end": str(metrics_dataset.end)}
    async with prometheus_session(backend.url) as client:
        first = await call(
            client, "prometheus_list_labels", label="service", metric="node_cpu_utilisation", limit=3, **window
        )
        second = await call(
            client,
            "prometheus_list_labels",
            label="service",
            metric="node_cpu_utilisation",
            limit=3,
            cursor=first["next_cursor"],
            **window,
        )
        names = await call(client, "prometheus_list_labels", metric="http_requests_total", **window)
    assert (first["values"], first["total"], first["truncated"]) == (["cart", "checkout", "payments"], 4, True)
    assert (second["values"], second["truncated"], second["next_cursor"]) == (["search"], False, None)
    assert names["values"] == ["__name__", "code", "service"]


async def test_find_series_escapes_label_values(backend: Backend, metrics_dataset: Dataset) -> None:
    window = {"start": str(metrics_dataset.start), "end": str(metrics_dataset.end)}
    async with prometheus_session(backend.url) as client:
        result = await call(client, "prometheus_find_series", matchers={"tenant": ODD_TENANT}, **window)
    assert result["series"] == [{"__name__": "tenant_info", "tenant": ODD_TENANT}]
    assert result["selector"] == '{tenant="a\\"}or vector(1)"}'


async def test_find_series_refuses_a_selector_matching_everything(backend: Backend) -> None:
    async with prometheus_session(backend.url) as client:
        message = await call_error(client, "prometheus_find_series", matchers={"service": ""})
    assert "a selector matching every series is refused" in message


async def test_find_anomalous_series_ranks_the_step_change_first(backend: Backend, metrics_dataset: Dataset) -> None:
    async with prometheus_session(backend.url) as client:
        result = await call(
            client,
            "prometheus_find_anomalous_series",
            metric="node_cpu_utilisation",
            start=str(metrics_dataset.start),
            end=str(metrics_dataset.end),
            recent="30m",
            step="1m",
        )
    ranked = [(s["labels"]["service"], s["direction"]) for s in result["series"]]
    assert ranked == [("checkout", "up"), ("payments", "down"), ("search", "down"), ("cart", "flat")]
    checkout, payments = result["series"][0], result["series"][1]
    # Constant baselines: spread is the 1% floor of the baseline median.
    assert checkout["score"] == pytest.approx(0.6 / 0.003)
    assert payments["score"] == pytest.approx(0.15 / 0.006)
    assert (checkout["baseline_median"], checkout["recent_median"]) == (pytest.approx(0.3), pytest.approx(0.9))
    assert result["scanned_series"] == 4
    assert result["skipped_series"] == 0


async def test_find_anomalous_series_scans_counters_as_rates(backend: Backend, metrics_dataset: Dataset) -> None:
    async with prometheus_session(backend.url) as client:
        result = await call(
            client,
            "prometheus_find_anomalous_series",
            metric="http_requests_total",
            matchers={"service": "checkout"},
            start=str(metrics_dataset.start),
            end=str(metrics_dataset.end),
            recent="25m",
            step="1m",
            limit=1,
        )
    assert result["query"] == 'rate(http_requests_total{service="checkout"}[4m])'
    [top] = result["series"]
    assert (top["labels"]["code"], top["direction"], top["recent_median"]) == ("500", "up", pytest.approx(0.5))
    assert (result["returned"], result["total"], result["truncated"]) == (1, 2, True)


async def test_find_anomalous_series_selects_by_a_regex_matcher(backend: Backend, metrics_dataset: Dataset) -> None:
    async with prometheus_session(backend.url) as client:
        result = await call(
            client,
            "prometheus_find_anomalous_series",
            metric="node_cpu_utilisation",
            matchers={"service": "=~(?:check|pay).+"},
            start=str(metrics_dataset.start),
            end=str(metrics_dataset.end),
            recent="30m",
            step="1m",
        )
        refused = await call_error(client, "prometheus_find_anomalous_series", matchers={"service": "=~(a)\\1"})
    assert result["query"] == 'node_cpu_utilisation{service=~"(?:check|pay).+"}'
    assert [s["labels"]["service"] for s in result["series"]] == ["checkout", "payments"]
    assert "regex matcher of service" in refused


async def test_unknown_backend_names_the_configured_ones(backend: Backend) -> None:
    async with prometheus_session(backend.url) as client:
        message = await call_error(client, "prometheus_query", query="up", backend="nope")
    assert "Unknown backend 'nope'; configured backends: default." in message


async def test_a_window_ending_before_it_starts_is_a_clear_error(backend: Backend) -> None:
    async with prometheus_session(backend.url) as client:
        message = await call_error(client, "prometheus_query_range", query="up", start="now", end="now-1h")
    assert "must be before the end" in message


async def test_alerts_rules_and_targets_come_from_prometheus(prometheus: PrometheusProcess) -> None:
    async with prometheus_session(prometheus.url) as client:
        alerts = await _eventually_firing(client)
        rules = await call(client, "prometheus_list_rules")
        recording = await call(client, "prometheus_list_rules", type="recording")
        targets = await call(client, "prometheus_list_targets")
    assert [(a["name"], a["labels"]["severity"], a["annotations"]["summary"]) for a in alerts["alerts"]] == [
        ("PrometheusSelfScrapeUp", "info", "Prometheus scrapes itself")
    ]
    assert sorted((r["name"], r["type"], r["health"]) for r in rules["rules"]) == [
        ("PrometheusSelfScrapeUp", "alerting", "ok"),
        ("job:up:sum", "recording", "ok"),
    ]
    assert [r["name"] for r in recording["rules"]] == ["job:up:sum"]
    assert (targets["up"], targets["down"], targets["targets"][0]["job"]) == (1, 0, "prometheus")


async def _eventually_firing(client: Client) -> dict[str, Any]:
    # Prometheus holds new scrape targets back ~5 s, so the self-scrape alert needs a moment.
    async def firing() -> dict[str, Any] | None:
        alerts = await call(client, "prometheus_list_alerts", state="firing")
        return alerts if alerts["total"] else None

    return await eventually_async(firing, timeout=20, interval=0.2, what="a firing alert")


async def test_metadata_lists_scraped_metric_types(prometheus: PrometheusProcess) -> None:
    async with prometheus_session(prometheus.url) as client:

        async def scraped() -> dict[str, Any] | None:
            result = await call(client, "prometheus_get_metric_metadata", metric="prometheus_build_info")
            return result if result["total"] else None

        result = await eventually_async(scraped, timeout=20, interval=0.2, what="prometheus_build_info's metadata")
    [entry] = result["metadata"]
    assert (entry["metric"], entry["type"]) == ("prometheus_build_info", "gauge")
    assert "build" in entry["help"].lower()


async def test_victoria_metrics_without_rules_gives_empty_results_not_errors(
    victoria_metrics: VictoriaMetricsProcess,
) -> None:
    async with prometheus_session(victoria_metrics.url) as client:
        alerts = await call(client, "prometheus_list_alerts")
        rules = await call(client, "prometheus_list_rules")
        targets = await call(client, "prometheus_list_targets")
        metadata = await call(client, "prometheus_get_metric_metadata")
    assert (alerts["total"], rules["total"], targets["total"], metadata["total"]) == (0, 0, 0, 0)


async def test_one_server_reaches_several_named_backends(
    prometheus: PrometheusProcess, victoria_metrics: VictoriaMetricsProcess, metrics_dataset: Dataset
) -> None:
    backends = f'[{{"name": "prom", "url": "{prometheus.url}"}}, {{"name": "vm", "url": "{victoria_metrics.url}"}}]'
    async with prometheus_session("http://unused", PROMETHEUS_MCP_BACKENDS=backends) as client:
        default = await call(client, "prometheus_query", query="queue_depth", time=str(metrics_dataset.end))
        chosen = await call(
            client, "prometheus_query", query="queue_depth", time=str(metrics_dataset.end), backend="vm"
        )
        vm_rules = await call(client, "prometheus_list_rules", backend="vm")
        prom_rules = await call(client, "prometheus_list_rules")
    assert (default["backend"], chosen["backend"]) == ("prom", "vm")
    assert default["samples"][0]["value"] == chosen["samples"][0]["value"] == 180.0
    assert (prom_rules["total"], vm_rules["total"]) == (2, 0)


async def test_time_arguments_take_unix_seconds_as_json_numbers(backend: Backend, metrics_dataset: Dataset) -> None:
    async with prometheus_session(backend.url) as client:
        instant = await call(client, "prometheus_query", query="queue_depth", time=metrics_dataset.end)
        window = await call(
            client,
            "prometheus_query_range",
            query="queue_depth",
            start=metrics_dataset.end - 600,
            end=float(metrics_dataset.end),
            step=60,
        )
    assert [s["value"] for s in instant["samples"]] == [180.0]
    assert window["step_seconds"] == 60
    assert window["series"]


@pytest.mark.parametrize(
    ("tool", "arguments", "named"),
    [
        ("prometheus_query", {"query": "up", "time": "99999999999"}, "Invalid time"),
        ("prometheus_query", {"query": "up", "time": -1}, "Invalid time"),
        ("prometheus_query_range", {"query": "up", "start": "now-1h", "end": 1e15}, "Invalid end"),
        ("prometheus_query_range", {"query": "up", "start": "1900-01-01T00:00:00Z"}, "Invalid start"),
        ("prometheus_query_range", {"query": "up", "step": "999999999d"}, "Invalid duration"),
        ("prometheus_find_anomalous_series", {"metric": "queue_depth", "end": "now+999999d"}, "Invalid end"),
    ],
)
async def test_times_and_steps_outside_1970_to_2262_are_tool_errors_naming_them(
    backend: Backend, tool: str, arguments: dict[str, Any], named: str
) -> None:
    async with prometheus_session(backend.url) as client:
        message = await call_error(client, tool, **arguments)
    assert named in message
    assert "2262-04-11T23:47:16Z" in message


async def test_a_range_overflowing_a_duration_is_the_backends_clear_refusal(prometheus: PrometheusProcess) -> None:
    # Prometheus refuses it (bad_data); the tool passes the reason on as a tool error, never a crash.
    async with prometheus_session(prometheus.url) as client:
        message = await call_error(client, "prometheus_query", query="count_over_time(queue_depth[999999d])")
    assert "rejected the request (bad_data)" in message
    assert "duration out of range" in message
