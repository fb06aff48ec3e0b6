"""The catalogue an investigation reads: profiles chosen by the metrics Prometheus has (cached), the user's file
alone when set, and each signal read in the first profile's labels that has data for the resource.

The integration tests load a real Prometheus with one workload in each shape: `checkout` instrumented with
OpenTelemetry (`service_name`, `job="shop/checkout"`), `payments` with Micrometer and no histogram buckets,
`search` behind Istio and also carrying the `service` label, `cart` known only by its pods (cAdvisor and
kube-state-metrics), rolled out halfway through the window to a new ReplicaSet.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from support.backends import PrometheusProcess
from support.mcp_session import call, prometheus_session
from support.metrics_dataset import STEP, Dataset, Series

from common.contracts.prometheus import PrometheusMcp
from common.errors import BackendUnavailable
from common.investigation.anomalies import scan_anomalies
from common.investigation.catalogue import CatalogueSource, applicable, load_profiles
from common.investigation.evidence import EvidenceLog
from common.investigation.metrics import read_signals
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.window import Window

pytestmark = pytest.mark.anyio

HOURS = 3
# The pods of `cart`: the old ReplicaSet's until ROLLOUT, the new one's from then on; and another
# workload whose name starts with cart's.
OLD_POD, NEW_POD, OTHER_POD = "cart-7d9f8b6c5-x2x4z", "cart-5c6d7f8b9-q4w5r", "cart-api-7d9f8b6c5-k8m2n"
ROLLOUT = 90


def _shapes(end: int) -> Dataset:
    start = end - HOURS * 3600
    points = HOURS * 3600 // STEP + 1

    def series(name: str, labels: dict[str, str], value: Callable[[int], float], span: range | None = None) -> Series:
        indices = span or range(points)
        return Series(name, labels, "gauge", [(start + STEP * i, float(value(i))) for i in indices])

    def errors_from(i: int) -> float:
        # Counters of 5xx that start rising at point 150 (0.5/s).
        return 30.0 * max(0, i - 150)

    otel = "http_server_request_duration_seconds_count"
    otel_labels = {"service_name": "checkout", "job": "shop/checkout"}
    micrometer = "http_server_requests_seconds"
    spring = {"job": "payments", "namespace": "shop", "uri": "/pay"}
    istio = {"reporter": "destination", "destination_workload": "search", "destination_workload_namespace": "shop"}
    old, new = range(ROLLOUT), range(ROLLOUT, points)
    pod = {"namespace": "shop", "container": "cart"}
    return Dataset(
        start=start,
        end=end,
        series=[
            series(otel, {**otel_labels, "http_response_status_code": "200"}, lambda i: 60.0 * i),
            series(otel, {**otel_labels, "http_response_status_code": "500"}, errors_from),
            series("jvm_threads_live", otel_labels, lambda i: 20.0 if i < 150 else 80.0),
            series(f"{micrometer}_count", {**spring, "status": "200"}, lambda i: 60.0 * i),
            series(f"{micrometer}_count", {**spring, "status": "500"}, errors_from),
            series(f"{micrometer}_sum", {**spring, "status": "200"}, lambda i: 6.0 * i),
            series(f"{micrometer}_sum", {**spring, "status": "500"}, errors_from),
            series("istio_requests_total", {**istio, "response_code": "200"}, lambda i: 60.0 * i),
            series("istio_requests_total", {**istio, "response_code": "503"}, errors_from),
            series(
                "http_requests_total", {"service": "search", "namespace": "shop", "code": "200"}, lambda i: 60.0 * i
            ),
            series("container_cpu_usage_seconds_total", {**pod, "pod": OLD_POD}, lambda i: 30.0 * i, old),
            series("container_cpu_usage_seconds_total", {**pod, "pod": NEW_POD}, lambda i: 30.0 * (i - ROLLOUT), new),
            series("container_cpu_usage_seconds_total", {**pod, "pod": OTHER_POD}, lambda i: 600.0 * i),
            series("kube_pod_container_status_restarts_total", {**pod, "pod": NEW_POD}, lambda i: 0.0, new),
            series("container_memory_working_set_bytes", {**pod, "pod": OLD_POD}, lambda i: 4e8 + 1e6 * (i % 3), old),
            series("container_memory_working_set_bytes", {**pod, "pod": NEW_POD}, lambda i: 4e8 + 1e6 * (i % 3), new),
        ],
    )


@pytest.fixture(scope="module")
def shapes() -> Dataset:
    return _shapes(int(time.time()) // STEP * STEP)


@pytest.fixture(scope="module")
def shaped_prometheus(tmp_path_factory: pytest.TempPathFactory, shapes: Dataset) -> Iterator[PrometheusProcess]:
    with PrometheusProcess(tmp_path_factory.mktemp("shapes"), shapes) as backend:
        yield backend


class _Session:
    """prometheus-mcp's tools over an in-process MCP session, as the readers call them."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.calls: list[tuple[str, Mapping[str, Any]]] = []

    async def call(
        self, server: str, tool: str, arguments: Mapping[str, Any], *, typed: bool = False
    ) -> dict[str, Any]:
        self.calls.append((tool, arguments))
        return await call(self.client, tool, **{k: v for k, v in arguments.items() if v is not None})


@pytest.fixture
async def tools(shaped_prometheus: PrometheusProcess) -> AsyncIterator[_Session]:
    async with prometheus_session(shaped_prometheus.url) as client:
        yield _Session(client)


def _profiles_of(signals: tuple[Any, ...]) -> list[str]:
    by_signal = {s: p.name for p in load_profiles() for s in p.signal}
    return list(dict.fromkeys(by_signal[s] for s in signals))


@pytest.mark.integration
async def test_the_profiles_whose_metrics_prometheus_has_are_chosen(tools: _Session) -> None:
    source = CatalogueSource(None, setting="TRIAGE_SIGNALS_FILE", lookback_seconds=HOURS * 3600)
    chosen = _profiles_of(await source.catalogue(PrometheusMcp(tools)))
    assert chosen == ["service-label", "opentelemetry", "micrometer", "istio", "kube-prometheus-stack"]


@pytest.mark.integration
async def test_each_signal_is_read_from_the_first_profile_with_data_for_the_resource(
    tools: _Session, shapes: Dataset
) -> None:
    source = CatalogueSource(None, setting="TRIAGE_SIGNALS_FILE", lookback_seconds=HOURS * 3600)
    catalogue = await source.catalogue(PrometheusMcp(tools))
    window = Window(start=shapes.start, end=shapes.end, step=STEP)
    resources = {
        "checkout": Resource("checkout", "shop", kind="deployment"),
        "payments": Resource("payments", "shop", kind="deployment"),
        "search": Resource("search", "shop", kind="deployment"),
        "cart": Resource("cart", "shop", kind="deployment"),
    }
    read: dict[str, dict[str, str]] = {}
    for name, resource in resources.items():
        evidence = EvidenceLog()
        series = await read_signals(
            tools, ResolvedScope(resource, primary_series_namespace="shop"), catalogue, window, evidence
        )
        assert evidence.degraded() == []
        read[name] = {s.signal.name: s.signal.labels for s in series}
        if name != "cart":
            (errors,) = [s for s in series if s.signal.name == "error_ratio"]
            assert errors.onset is not None, name
            assert errors.onset.direction == "up", name
            assert errors.points[-1][1] == pytest.approx(0.5 / 1.5, rel=0.05)

    assert read["checkout"] == {"error_ratio": "service_name", "request_rate": "service_name"}
    # No histogram buckets: the latency is the mean, from _sum over _count.
    assert read["payments"] == {"error_ratio": "job", "latency_mean": "job", "request_rate": "job"}
    # The service label's requests come first; Istio's errors where the service label has no 5xx series.
    assert read["search"]["request_rate"] == "service"
    assert read["search"]["error_ratio"] == "destination_workload"
    assert read["cart"] == {"restarts": "pod", "cpu": "pod", "memory": "pod"}


@pytest.mark.integration
async def test_a_workloads_series_is_the_union_of_its_pods_across_a_rollout(tools: _Session, shapes: Dataset) -> None:
    source = CatalogueSource(None, setting="TRIAGE_SIGNALS_FILE", lookback_seconds=HOURS * 3600)
    catalogue = await source.catalogue(PrometheusMcp(tools))
    window = Window(start=shapes.start, end=shapes.end, step=STEP)
    scope = ResolvedScope(Resource("cart", "shop", kind="deployment"), primary_series_namespace="shop")
    (cpu,) = [s for s in await read_signals(tools, scope, catalogue, window, EvidenceLog()) if s.signal.name == "cpu"]
    # 0.5 cores from one pod or the other all along (both for the minutes the old one's rate window still
    # holds it; never cart-api's 10 cores), without a gap, into the last point.
    times = [t for t, _ in cpu.points]
    assert times[-1] == shapes.end
    assert max(b - a for a, b in itertools.pairwise(times)) <= STEP
    settled = [(t, v) for t, v in cpu.points if t >= shapes.start + 300]  # a full rate window from the start
    assert [v for _, v in settled if not 0.35 <= v <= 1.05] == []
    assert cpu.points[-1][1] == pytest.approx(0.5, rel=0.05)


@pytest.mark.integration
async def test_no_pod_scheme_signal_vanishes_or_steps_at_a_rollout(tools: _Session, shapes: Dataset) -> None:
    source = CatalogueSource(None, setting="TRIAGE_SIGNALS_FILE", lookback_seconds=HOURS * 3600)
    catalogue = await source.catalogue(PrometheusMcp(tools))
    window = Window(start=shapes.start, end=shapes.end, step=STEP)
    scope = ResolvedScope(Resource("cart", "shop", kind="deployment"), primary_series_namespace="shop")
    read = {s.signal.name: s for s in await read_signals(tools, scope, catalogue, window, EvidenceLog())}
    assert {"cpu", "memory", "restarts"} <= set(read)
    rolled = shapes.start + ROLLOUT * STEP
    for name in ("cpu", "memory"):
        series = read[name]
        # Into the last point, and level across the replacement: off by at most a fifth, for less than a rate
        # window (a counter's rate extrapolates the new pod's first samples short of the window), no change point.
        assert series.points[-1][0] == shapes.end, name
        level = series.points[-1][1]
        off = [t for t, v in series.points if abs(t - rolled) <= 900 and abs(v / level - 1) > 0.02]
        assert all(abs(v / level - 1) <= 0.2 for t, v in series.points if abs(t - rolled) <= 900), name
        assert not off or max(off) - min(off) < 300, (name, [t - rolled for t in off])
        assert series.onset is None or abs(series.onset.at - rolled) > 900, (name, series.onset)
    assert read["restarts"].points[-1][0] == shapes.end


@pytest.mark.integration
async def test_the_anomaly_scan_finds_a_resources_other_series_by_its_identity(
    tools: _Session, shapes: Dataset
) -> None:
    catalogue = applicable(load_profiles(), None)
    window = Window(start=shapes.start, end=shapes.end, step=STEP)
    scope = ResolvedScope(Resource("checkout", "shop"), primary_series_namespace="shop")
    shifts = await scan_anomalies(tools, scope, catalogue, window, float(shapes.end - 1800), EvidenceLog())
    listed = [a["matchers"] for tool, a in tools.calls if tool == "prometheus_list_labels"]
    assert {"service_name": "checkout", "k8s_namespace_name": "=~shop|"} in listed
    # A scheme the scope has no series in (no mesh here) is asked once for the whole scope, not per resource.
    assert {"destination_workload": "=~(?:checkout)", "destination_workload_namespace": "shop"} in listed
    assert not any(m.get("destination_workload") == "checkout" for m in listed)
    # checkout's threads rose at the split: found by its service_name, no `service` label on them.
    assert [(s.signal, s.resource, s.direction) for s in shifts] == [("jvm_threads_live", "checkout", "up")]


class _Names:
    """prometheus_list_labels of `__name__` as Prometheus answers it: the names matching the `__name__`
    matcher's regex (anchored), in pages of two; counting its calls, failing when told."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.calls = 0
        self.patterns: list[str] = []
        self.down = False

    async def call(
        self, server: str, tool: str, arguments: Mapping[str, Any], *, typed: bool = False
    ) -> dict[str, Any]:
        assert (tool, arguments["label"]) == ("prometheus_list_labels", "__name__")
        self.calls += 1
        if self.down:
            raise BackendUnavailable("prometheus-mcp is down.", backend=server)
        pattern = arguments["matchers"]["__name__"].removeprefix("=~")
        self.patterns.append(pattern)
        matching = [name for name in self.names if re.fullmatch(pattern, name)]
        offset = int(arguments.get("cursor") or 0)
        page = matching[offset : offset + 2]
        more = offset + 2 < len(matching)
        return {
            "backend": "prometheus",
            "label": "__name__",
            "values": page,
            "returned": len(page),
            "total": len(matching),
            "truncated": more,
            "next_cursor": str(offset + 2) if more else None,
        }


async def test_only_the_detection_metrics_are_asked_for_and_a_new_exporter_counts_at_the_next_investigation() -> None:
    prometheus = _Names(["up", "go_goroutines", "istio_requests_total", "pg_up", "kube_pod_owner"])
    source = CatalogueSource(None, setting="TRIAGE_SIGNALS_FILE", lookback_seconds=3600)
    first = await source.catalogue(PrometheusMcp(prometheus))
    assert _profiles_of(first) == ["istio", "postgres-exporter"]
    # One regex of the profiles' detection metrics (within the tool's 512-character bound): the
    # answer never lists the server's other names.
    assert prometheus.calls == 1
    assert len(prometheus.patterns[0]) <= 512
    # A Redis exporter scraped for the first time (its service's first incident) counts at once.
    prometheus.names.append("redis_up")
    assert _profiles_of(await source.catalogue(PrometheusMcp(prometheus))) == [
        "istio",
        "postgres-exporter",
        "redis-exporter",
    ]


async def test_detection_metrics_are_read_page_by_page() -> None:
    detected = [
        "istio_requests_total",
        "pg_up",
        "redis_up",
        "nginx_ingress_controller_requests",
        "node_cpu_seconds_total",
    ]
    prometheus = _Names(detected)
    source = CatalogueSource(None, setting="TRIAGE_SIGNALS_FILE", lookback_seconds=3600)
    assert _profiles_of(await source.catalogue(PrometheusMcp(prometheus))) == [
        "istio",
        "nginx-ingress",
        "node-exporter",
        "postgres-exporter",
        "redis-exporter",
    ]
    assert prometheus.calls == 3


async def test_when_prometheus_cannot_say_every_profile_is_tried_and_asked_again_next_time() -> None:
    prometheus = _Names(["istio_requests_total"])
    prometheus.down = True
    source = CatalogueSource(None, setting="TRIAGE_SIGNALS_FILE", lookback_seconds=3600)
    assert await source.catalogue(PrometheusMcp(prometheus)) == applicable(load_profiles(), None)
    prometheus.down = False
    assert _profiles_of(await source.catalogue(PrometheusMcp(prometheus))) == ["istio"]
    assert prometheus.calls == 2


async def test_the_users_file_is_used_alone_and_prometheus_is_not_asked(tmp_path: Path) -> None:
    path = tmp_path / "signals.toml"
    path.write_text("[[signal]]\nname = 'queue'\nkind = 'saturation'\nquery = 'sum(depth{app=\"$service\"})'\n")
    prometheus = _Names(["istio_requests_total", "http_requests_total"])
    source = CatalogueSource(path, setting="TRIAGE_SIGNALS_FILE", lookback_seconds=3600)
    assert [s.name for s in await source.catalogue(PrometheusMcp(prometheus))] == ["queue"]
    assert prometheus.calls == 0


def test_no_profile_detected_means_every_profile() -> None:
    assert applicable(load_profiles(), {"go_goroutines"}) == applicable(load_profiles(), None)
