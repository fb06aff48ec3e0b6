"""A bundled scenario loaded into a real Prometheus, a served loki-mcp and a served control plane."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from support.backends import PrometheusProcess, VictoriaMetricsProcess, free_port
from support.issuer import TestIssuer
from support.served import ServedComponent

from cli.main import main
from common.settings import Upstream
from scenarios import BUNDLED_DIR, Scenario, load_scenario, log_lines, parse_scenario, series_samples
from scenarios.isolation import isolated, new_run_id
from scenarios.live import LiveScenarios
from scenarios.load import LoadReport, Targets, carried_on, load_scenario_into, stream_live
from servers.loki_mcp.client import LokiClient

pytestmark = pytest.mark.integration

SCENARIO = "checkout-bad-deploy-errors"
ADMIN_SCOPES = ["controlplane:read", "controlplane:admin"]


@dataclass
class Federation:
    issuer: TestIssuer
    prometheus: PrometheusProcess
    loki: ServedComponent
    controlplane: ServedComponent

    def token(self, audience: str, scopes: list[str]) -> str:
        return str(self.issuer.mint(audience, scopes, claims={"client_id": "scenario"}, lifetime=600))

    def controlplane_get(self, path: str, **params: Any) -> Any:
        token = self.token(self.controlplane.url, ADMIN_SCOPES)
        response = httpx.get(
            f"{self.controlplane.url}/api/v1{path}",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def load(self, scenario: Scenario, now: datetime, *, controlplane_only: bool = False) -> LoadReport:
        loki_token = self.token(self.loki.mcp_url, ["logs:write"])
        loki = LokiClient(Upstream(url=self.loki.url, bearer_token=loki_token), timeout=30)
        cp_headers = {"Authorization": f"Bearer {self.token(self.controlplane.url, ADMIN_SCOPES)}"}
        try:
            async with (
                httpx.AsyncClient(timeout=30) as http,
                httpx.AsyncClient(timeout=30, headers=cp_headers) as controlplane_http,
            ):
                targets = Targets(
                    http,
                    prometheus_write_url=None if controlplane_only else f"{self.prometheus.url}/api/v1/write",
                    loki=None if controlplane_only else loki,
                    controlplane_url=self.controlplane.url,
                    controlplane_http=controlplane_http,
                )
                return await load_scenario_into(scenario, now, targets)
        finally:
            await loki.aclose()


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with TestIssuer() as issuer:
        auth = {"SRE_AUTH_ISSUER": issuer.issuer, "SRE_AUTH_JWKS_URL": issuer.jwks_url}
        loki_env = {"LOKI_URL": "", "SRE_DATA_DIR": str(tmp_path_factory.mktemp("loki-data")), **auth}
        cp_env = {"SRE_DATA_DIR": str(tmp_path_factory.mktemp("controlplane")), **auth}
        served = tmp_path_factory.mktemp("served")
        with (
            PrometheusProcess(
                tmp_path_factory.mktemp("prometheus"), None, remote_write_receiver=True, out_of_order_window="12h"
            ) as prometheus,
            ServedComponent("loki-mcp", loki_env, served) as loki,
            ServedComponent("controlplane", cp_env, served) as controlplane,
        ):
            yield Federation(issuer, prometheus, loki, controlplane)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario(BUNDLED_DIR / f"{SCENARIO}.yaml")


@pytest.fixture(scope="module")
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def loaded(federation: Federation, scenario: Scenario, now: datetime) -> LoadReport:
    return anyio.run(federation.load, scenario, now)


def prometheus_value(federation: Federation, query: str, at: datetime) -> float:
    response = httpx.get(
        f"{federation.prometheus.url}/api/v1/query", params={"query": query, "time": at.timestamp()}, timeout=10
    )
    result = response.json()["data"]["result"]
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def test_load_reports_counts_skips_alerts_and_ground_truth(loaded: LoadReport, now: datetime) -> None:
    assert loaded.failed == {}
    assert loaded.skipped == {"victoriametrics": "not configured"}
    assert loaded.counts["prometheus"]["samples"] > 50_000
    assert loaded.counts["prometheus"]["requests"] >= loaded.counts["prometheus"]["samples"] / 5000
    assert loaded.counts["loki"]["lines"] > 0
    assert loaded.counts["controlplane"]["resources"] == 10
    assert loaded.counts["controlplane"]["deployments"] == 2
    assert [p["groupLabels"]["alertname"] for p in loaded.alerts] == ["HighErrorRate"]
    assert loaded.expected is not None
    assert loaded.expected.onset == now - timedelta(minutes=32)


def test_checkout_error_rate_rises_after_the_onset(federation: Federation, loaded: LoadReport, now: datetime) -> None:
    query = 'sum(rate(http_requests_total{service="checkout",code=~"5.."}[5m]))'
    before = prometheus_value(federation, query, now - timedelta(minutes=60))
    after = prometheus_value(federation, query, now - timedelta(minutes=5))
    assert 0.05 < before < 0.2  # baseline 0.105/s
    assert after > 10 * before  # the step to 40 times the baseline


def test_loki_api_returns_the_error_lines(
    federation: Federation, loaded: LoadReport, scenario: Scenario, now: datetime
) -> None:
    query = '{service="checkout"} |= "NullPointerException"'
    generated = [
        entry
        for stream in log_lines(scenario, now)
        if stream.labels.get("service") == "checkout"
        for entry in stream.entries
        if "NullPointerException" in entry.line
    ]
    token = federation.token(federation.loki.mcp_url, ["logs:read"])
    response = httpx.get(
        f"{federation.loki.url}/loki/api/v1/query_range",
        params={
            "query": query,
            "start": str(int((now - timedelta(hours=1)).timestamp() * 1e9)),
            "end": str(int(now.timestamp() * 1e9) + 1),
            "limit": "5000",
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    lines = [value[1] for stream in response.json()["data"]["result"] for value in stream["values"]]
    assert len(generated) > 1000
    assert len(lines) == len(generated)
    assert all("level=error" in line for line in lines)


def test_control_plane_lists_services_dependencies_and_the_deployment(
    federation: Federation, loaded: LoadReport, now: datetime
) -> None:
    resources = federation.controlplane_get("/resources", label="scenario=" + SCENARIO, limit=100)["items"]
    by_name = {r["name"]: r for r in resources}
    assert len(by_name) == 10
    assert by_name["checkout"]["dependencies"] == ["payments", "cart", "orders"]
    assert by_name["payments"]["dependencies"] == ["payments-db", "external/stripe"]
    assert by_name["checkout"]["version"] == "v2.4.0"  # the deployment moved it on
    deployments = federation.controlplane_get("/deployments", resource_id=by_name["checkout"]["id"])["items"]
    assert [(d["version"], d["previous_version"]) for d in deployments] == [("v2.4.0", "v2.3.9")]
    started = datetime.fromisoformat(deployments[0]["started_at"])
    assert started == now - timedelta(minutes=33)


def test_loading_again_adds_no_control_plane_rows(
    federation: Federation, loaded: LoadReport, scenario: Scenario, scenario_data: dict[str, Any], now: datetime
) -> None:
    def rows() -> tuple[int, int]:
        deployments = federation.controlplane_get("/deployments", limit=500)["items"]
        audit = federation.controlplane_get("/audit-logs", limit=500)["items"]
        return len(deployments), len(audit)

    # The small scenario adds audit entries (a config change) to the bundled one's deployments.
    scenario_data.update(name="small-with-audit")
    for service in scenario_data["services"]:
        service["namespace"] = "small"
    small = parse_scenario(scenario_data, "small.yaml")
    first_small = anyio.run(partial(federation.load, controlplane_only=True), small, now)
    first = rows()
    again = anyio.run(federation.load, scenario, now)
    again_small = anyio.run(partial(federation.load, controlplane_only=True), small, now)
    assert again.failed == again_small.failed == {}
    assert again.counts["controlplane"] == {
        "resources": 0,
        "resources_existing": 10,
        "deployments": 0,
        "deployments_existing": 2,
        "audit_entries": 0,
        "audit_existing": 0,
    }
    assert first_small.counts["controlplane"]["audit_entries"] == 1
    assert again_small.counts["controlplane"] == {
        "resources": 0,
        "resources_existing": 3,
        "deployments": 0,
        "deployments_existing": 3,
        "audit_entries": 0,
        "audit_existing": 1,
    }
    assert rows() == first


def test_missing_and_unreachable_backends_are_skipped(scenario: Scenario, now: datetime) -> None:
    async def load() -> LoadReport:
        async with httpx.AsyncClient(timeout=5) as http:
            unreachable = f"http://127.0.0.1:{free_port()}/api/v1/write"
            return await load_scenario_into(scenario, now, Targets(http, prometheus_write_url=unreachable))

    report = anyio.run(load)
    assert report.failed == {}
    assert "is Prometheus running?" in report.skipped["prometheus"]
    assert report.skipped["loki"] == report.skipped["controlplane"] == "not configured"
    assert report.counts == {}
    assert report.alerts  # still computed


def test_stream_live_writes_fresh_samples(federation: Federation, scenario_data: dict[str, Any]) -> None:
    data = scenario_data
    data.update(name="live-checkout", step="1s", duration="2m")
    data["series"] = [copy.deepcopy(data["series"][0])]
    data["series"][0]["metric"] = "live_requests_total"
    scenario = parse_scenario(data, "live.yaml")
    start = datetime.now(UTC)

    async def run() -> int:
        stop = anyio.Event()
        async with httpx.AsyncClient(timeout=10) as http:
            targets = Targets(http, prometheus_write_url=f"{federation.prometheus.url}/api/v1/write")

            async def stop_later() -> None:
                await anyio.sleep(3)
                stop.set()

            async with anyio.create_task_group() as group:
                group.start_soon(stop_later)
                written = await stream_live(scenario, start, targets, interval=0.5, stop_event=stop)
        return written

    written = anyio.run(run)
    assert written >= 2
    newest = httpx.get(
        f"{federation.prometheus.url}/api/v1/query",
        params={"query": "timestamp(live_requests_total)", "time": datetime.now(UTC).timestamp()},
        timeout=10,
    ).json()["data"]["result"]
    assert len(newest) == 1
    assert float(newest[0]["value"][1]) > start.timestamp()


def test_a_scenario_carried_on_keeps_its_history_and_goes_on_past_now(scenario: Scenario, now: datetime) -> None:
    history, later = carried_on(scenario, now, now + timedelta(minutes=10))

    assert history.samples == series_samples(scenario, now)
    assert history.lines == log_lines(scenario, now)
    now_ms = round(now.timestamp() * 1000)
    assert {series.name for series in later.samples} == {series.name for series in history.samples}
    assert all(now_ms < t <= now_ms + 600_000 for series in later.samples for t, _ in series.points)
    # The request counters keep counting at the rate they had (the error step holds): no restart at `now`.
    last = {(s.name, tuple(s.labels.items())): s.points[-1][1] for s in history.samples}
    for series in later.samples:
        if series.name == "http_requests_total":
            assert series.points[0][1] > last[(series.name, tuple(series.labels.items()))]
    # The error lines that run to `now` go on after it.
    assert any("NullPointerException" in entry.line for stream in later.lines for entry in stream.entries)


def test_a_live_scenario_loaded_minutes_before_its_page_is_caught_up_to_the_second(
    federation: Federation, scenario_data: dict[str, Any]
) -> None:
    """As in a drill whose loads took six minutes: past Prometheus' 5-minute look-back the scenario reads as no
    data at all until it is caught up; then its samples and log lines reach this second. Generated only a
    minute ahead at its load, it is generated again, further, to get there."""
    scenario = isolated(parse_scenario(scenario_data, "small.yaml"), new_run_id())
    namespace = scenario.services[0].namespace
    loaded_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=6)
    selector = f'http_requests_total{{namespace="{namespace}",code="500"}}'

    def newest_sample() -> list[Any]:
        at = datetime.now(UTC).timestamp()
        response = httpx.get(
            f"{federation.prometheus.url}/api/v1/query", params={"query": f"timestamp({selector})", "time": at}
        )
        return [float(r["value"][1]) for r in response.json()["data"]["result"]]

    async def load_then_catch_up() -> tuple[LoadReport, list[Any]]:
        loki = LokiClient(
            Upstream(url=federation.loki.url, bearer_token=federation.token(federation.loki.mcp_url, ["logs:write"])),
            timeout=30,
        )
        try:
            async with httpx.AsyncClient(timeout=30) as http:
                targets = Targets(http, prometheus_write_url=f"{federation.prometheus.url}/api/v1/write", loki=loki)
                report = await load_scenario_into(scenario, loaded_at, targets, ahead=timedelta(minutes=1))
                stale = newest_sample()
                live = LiveScenarios(targets)
                live.add("run", scenario, report)
                await live.catch_up("run")
        finally:
            await loki.aclose()
        return report, stale

    report, stale = anyio.run(load_then_catch_up)
    caught_up = datetime.now(UTC)

    assert report.failed == {}
    assert stale == []  # its last sample six minutes old: nothing to read at `now`
    [newest] = newest_sample()
    assert newest > caught_up.timestamp() - 60  # the scenario's step is a minute
    token = federation.token(federation.loki.mcp_url, ["logs:read"])
    response = httpx.get(
        f"{federation.loki.url}/loki/api/v1/query_range",
        params={
            "query": f'{{namespace="{namespace}"}}',
            "start": str(int(loaded_at.timestamp() * 1e9) + 1),
            "end": str(int(caught_up.timestamp() * 1e9)),
            "limit": "5000",
            "direction": "forward",
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    pushed = [(int(value[0]), value[1]) for stream in response.json()["data"]["result"] for value in stream["values"]]
    generated = [
        (entry.timestamp_ns, entry.line)
        for stream in log_lines(scenario, loaded_at, until=caught_up)
        for entry in stream.entries
        if entry.timestamp_ns > loaded_at.timestamp() * 1e9
    ]
    assert len(pushed) > 100  # six minutes at half a line a second
    assert sorted(pushed) == sorted(generated)[: len(pushed)]


def test_a_live_scenario_whose_writes_fail_is_warned_of_once_and_the_drill_goes_on(
    scenario_data: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    scenario = parse_scenario(scenario_data, "small.yaml")
    nowhere = f"http://127.0.0.1:{free_port()}/api/v1/write"
    loaded_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)

    async def catch_up_twice() -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            report = await load_scenario_into(scenario, loaded_at, Targets(http), ahead=timedelta(minutes=10))
            live = LiveScenarios(Targets(http, prometheus_write_url=nowhere))
            live.add("run", scenario, report)
            await live.catch_up("run")
            await live.catch_up("run")

    anyio.run(catch_up_twice)
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith(f"Scenario small-checkout's data after {loaded_at.isoformat()} could not be written")
    assert "is Prometheus running?" in warning


def test_cli_load_of_a_bad_file_exits_2_naming_the_field(
    write_scenario: Callable[..., Path], scenario_data: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    data = scenario_data
    data["series"][0]["type"] = "exemplar"
    path = write_scenario(data)
    assert main(["scenario", "load", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert "series[0].type" in err


def test_victoriametrics_imports_the_history(tmp_path: Path, scenario_data: dict[str, Any], now: datetime) -> None:
    scenario = parse_scenario(scenario_data, "small.yaml")

    async def load(url: str) -> LoadReport:
        async with httpx.AsyncClient(timeout=10) as http:
            return await load_scenario_into(scenario, now, Targets(http, victoriametrics_url=url))

    with VictoriaMetricsProcess(tmp_path, None) as victoria:
        report = anyio.run(load, victoria.url)
        httpx.get(f"{victoria.url}/internal/force_flush", timeout=10).raise_for_status()
        answer = httpx.get(
            f"{victoria.url}/api/v1/query",
            params={"query": 'http_requests_total{code="500"}', "time": now.timestamp()},
            timeout=10,
        ).json()
    assert report.failed == {}
    assert report.counts["victoriametrics"]["series"] == len(series_samples(scenario, now))
    [series] = answer["data"]["result"]
    assert float(series["value"][1]) > 0
