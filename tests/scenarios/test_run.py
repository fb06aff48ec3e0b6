"""The eval harness against a router served on 127.0.0.1 that answers as the real one's contract says.

The router here is a stand-in (the real one is an agent of its own, tested end to end elsewhere):
it takes Alertmanager payloads at `POST /webhooks/alertmanager`, answers 202 with a task per
payload, and serves each task at `GET /tasks/<id>`, working for a few reads, then ended. Tokens
are real: the registry's authorization server issues them to the caller's `cli` client.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from support.asgi_server import ServedApp
from support.authorization_server import AuthorizationServer
from support.backends import PrometheusProcess, free_port
from support.stand_in_agent import stand_in_settings

from common.agents import AgentCardSpec, a2a_app, default_task_store_url
from common.agents.kit import Kit, Progress
from common.agents.pipeline import AgentRequest, AgentResult, PipelineAgent
from common.auth import ClientCredentials, TokenSource
from common.auth.resource import resource_verifier
from common.http import create_http_client
from common.settings import AuthConfig, ServeSettings
from scenarios import Scenario, parse_scenario
from scenarios.load import Targets
from scenarios.run import RunSummary, ScenarioResult, run_scenarios

pytestmark = pytest.mark.anyio


@dataclass
class FakeRouter:
    """What the router's HTTP contract promises, with knobs for what can go wrong."""

    working_reads: int = 2
    final_state: str = "completed"
    post_status: int = 202
    posted: list[dict[str, Any]] = field(default_factory=list)
    claims: list[dict[str, Any]] = field(default_factory=list)
    reads: dict[str, int] = field(default_factory=dict)
    #: When each payload was posted (time.time()), and the namespaces whose tasks have not ended.
    posted_at: list[float] = field(default_factory=list)
    open_tasks: dict[str, str] = field(default_factory=dict)
    most_namespaces_at_once: int = 0

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/healthz", lambda request: JSONResponse({"status": "ok"})),
                Route("/webhooks/alertmanager", self._post, methods=["POST"]),
                Route("/tasks/{task_id}", self._task),
            ]
        )

    async def _post(self, request: Request) -> Response:
        self.claims.append(_claims(request))
        if self.post_status != 202:
            return JSONResponse({"error": "refused"}, status_code=self.post_status)
        payload = await request.json()
        if payload["status"] == "resolved":  # as the router does: nothing to investigate
            return JSONResponse({"tasks": [], "duplicate": False, "ignored": "resolved"}, 202)
        self.posted.append(payload)
        self.posted_at.append(time.time())
        task_id = f"task-{len(self.posted)}"
        self.reads[task_id] = 0
        self.open_tasks[task_id] = payload["alerts"][0]["labels"]["namespace"]
        self.most_namespaces_at_once = max(self.most_namespaces_at_once, len(set(self.open_tasks.values())))
        url = f"{request.base_url}tasks/{task_id}"
        return JSONResponse({"tasks": [{"id": task_id, "url": url, "agent": "triage"}], "duplicate": False}, 202)

    async def _task(self, request: Request) -> Response:
        self.claims.append(_claims(request))
        task_id = request.path_params["task_id"]
        if task_id not in self.reads:
            return JSONResponse({"error": "not found"}, status_code=404)
        self.reads[task_id] += 1
        payload = self.posted[int(task_id.split("-")[1]) - 1]
        if self.reads[task_id] <= self.working_reads:
            return JSONResponse({"id": task_id, "agent": "triage", "state": "working", "result": None})
        self.open_tasks.pop(task_id, None)
        if self.final_state != "completed":
            return JSONResponse({"id": task_id, "agent": "triage", "state": self.final_state, "message": "boom"})
        return JSONResponse(
            {"id": task_id, "agent": "triage", "state": "completed", "result": _report(task_id, payload)}
        )


def _claims(request: Request) -> dict[str, Any]:
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    payload = token.split(".")[1] if token.count(".") == 2 else ""
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) if payload else {}


def _report(task_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A report that names the small scenario's root cause, its onset 5 min before the first alert."""
    alert = payload["alerts"][0]
    onset = datetime.fromisoformat(alert["startsAt"]) - timedelta(minutes=5)
    service, namespace = alert["labels"]["service"], alert["labels"]["namespace"]
    return {
        "id": f"report-{task_id}",
        "onset": {"at": onset.isoformat(), "signal": "error ratio", "evidence_ids": []},
        "hypotheses": [
            {
                "kind": "deployment",
                "target": {"resource": service, "namespace": namespace, "ref": "v2"},
                "confidence": 0.8,
                "evidence_ids": [],
                "rationale": "errors rose after the deploy",
            }
        ],
        "changes": [
            {"at": onset.isoformat(), "type": "deployment", "resource": service, "ref": "v2", "minutes_before_onset": 1}
        ],
    }


@dataclass
class Harness:
    router: FakeRouter
    router_url: str
    authorization: AuthorizationServer
    secret: str

    @asynccontextmanager
    async def tokens(self) -> AsyncIterator[TokenSource]:
        credentials = ClientCredentials.model_validate(
            {"token_url": self.authorization.token_url, "client_id": "cli", "client_secret": self.secret}
        )
        async with httpx.AsyncClient(timeout=10) as http:
            yield TokenSource(credentials, http)

    async def run(self, scenarios: list[Scenario], **options: Any) -> tuple[RunSummary, list[ScenarioResult]]:
        seen: list[ScenarioResult] = []
        async with self.tokens() as tokens, httpx.AsyncClient(timeout=10) as http:
            targets = options.pop("targets", None) or Targets(http)
            summary = await run_scenarios(
                scenarios,
                targets,
                tokens,
                router_url=options.pop("router_url", self.router_url),
                poll_interval=0.05,
                on_result=seen.append,
                **options,
            )
        return summary, seen


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    router = FakeRouter()
    with ServedApp(router.app()) as served, AuthorizationServer(tmp_path, resources=[served.url]) as authorization:
        secret = authorization.clients.add_client("cli", ["agents:invoke"])
        yield Harness(router, served.url, authorization, secret)


@pytest.fixture
def scenario(scenario_data: dict[str, Any]) -> Scenario:
    return parse_scenario(scenario_data)


async def test_the_primary_pages_report_is_scored_against_the_truth_in_namespaces_of_the_runs_own(
    harness: Harness, scenario: Scenario
) -> None:
    summary, seen = await harness.run([scenario])

    assert summary.ok
    [result] = summary.results
    assert seen == [result]
    assert result.error is None
    # Both groups are posted as Alertmanager first notified them (the flap while it fired); the first is scored.
    assert [p["groupLabels"]["alertname"] for p in harness.router.posted] == ["HighErrorRate", "Flap"]
    assert harness.router.reads == {"task-1": 3, "task-2": 3}
    # In namespaces of the run's own.
    namespaces = {a["labels"]["namespace"] for p in harness.router.posted for a in p["alerts"]}
    assert namespaces == {f"prod-{result.run_id}"}
    assert result.expected.namespace == f"prod-{result.run_id}"
    # Scored against the truth: right cause, onset 20 min before the load, the deploy listed.
    assert (result.score.hit_at_1, result.score.hit_at_3) == (True, True)
    assert result.score.onset_error_minutes == pytest.approx(0.0)
    assert result.score.change_found is True
    assert result.report_id == "report-task-1"
    assert result.latency_s is not None
    assert 0 < result.latency_s < summary.wall_time_s
    # Every call carried the caller's own token, for the router, with agents:invoke.
    assert harness.router.claims
    for claims in harness.router.claims:
        assert claims["aud"] in (harness.router_url, [harness.router_url])
        assert "agents:invoke" in claims["scope"].split()
        assert claims["client_id"] == "cli"
    assert summary.totals == {
        "scenarios": 1,
        "hit_at_1": 1.0,
        "hit_at_3": 1.0,
        "onset_error_minutes_median": 0.0,
        "change_found": 1.0,
        "latency_p50_s": round(result.latency_s, 3),
        "latency_p95_s": round(result.latency_s, 3),
        "reports": 1,
    }


async def test_every_alert_group_is_posted_and_each_investigation_waited_for(
    harness: Harness, scenario_data: dict[str, Any]
) -> None:
    scenario_data["alerts"][2].pop("ends_at")  # Flap fires too: two investigations
    summary, _ = await harness.run([parse_scenario(scenario_data)])
    assert [p["groupLabels"]["alertname"] for p in harness.router.posted] == ["HighErrorRate", "Flap"]
    assert harness.router.reads == {"task-1": 3, "task-2": 3}
    assert summary.results[0].report_id == "report-task-1"


async def test_a_flap_that_resolved_is_posted_as_it_was_first_notified(
    harness: Harness, scenario_data: dict[str, Any]
) -> None:
    scenario_data["alerts"] = scenario_data["alerts"][2:]  # only the Flap, resolved since
    summary, _ = await harness.run([parse_scenario(scenario_data)])
    [posted] = harness.router.posted
    assert summary.results[0].error is None
    assert posted["status"] == "firing"
    assert [(a["status"], a["endsAt"]) for a in posted["alerts"]] == [("firing", "0001-01-01T00:00:00Z")]


async def test_a_result_prints_as_the_json_line_of_the_contract(harness: Harness, scenario: Scenario) -> None:
    summary, _ = await harness.run([scenario])
    line = summary.results[0].to_json()
    assert list(line) == [
        "name",
        "run_id",
        "expected",
        "top",
        "hit_at_1",
        "hit_at_3",
        "onset_error_minutes",
        "change_found",
        "latency_s",
        "report_id",
        "error",
    ]
    assert line["name"] == "small-checkout"
    assert line["expected"]["kind"] == "deployment"
    assert line["expected"]["service"] == "checkout"
    assert line["top"] == {
        "kind": "deployment",
        "resource": "checkout",
        "namespace": f"prod-{line['run_id']}",
        "ref": "v2",
        "confidence": 0.8,
    }
    json.dumps(line)  # plain JSON


async def test_the_same_scenario_twice_runs_in_two_sets_of_namespaces(harness: Harness, scenario: Scenario) -> None:
    summary, _ = await harness.run([scenario, scenario])
    first, second = summary.results
    assert first.run_id != second.run_id
    namespaces = [p["alerts"][0]["labels"]["namespace"] for p in harness.router.posted]
    assert namespaces == [f"prod-{first.run_id}"] * 2 + [f"prod-{second.run_id}"] * 2  # two groups each
    assert summary.totals["reports"] == 2


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_a_drill_loads_every_scenario_first_then_investigates_n_at_a_time(
    harness: Harness, scenario: Scenario, concurrency: int, caplog: pytest.LogCaptureFixture
) -> None:
    harness.router.working_reads = 4
    caplog.set_level(logging.INFO, logger="scenarios.run")
    summary, seen = await harness.run([scenario] * 5, concurrency=concurrency)

    assert summary.ok
    assert harness.router.most_namespaces_at_once == concurrency
    run_ids = [result.run_id for result in summary.results]
    assert len(set(run_ids)) == 5
    assert {result.run_id for result in seen} == set(run_ids)
    assert all(result.latency_s is not None and result.latency_s > 0 for result in summary.results)
    assert summary.totals["reports"] == 5
    assert summary.totals["latency_p50_s"] <= summary.totals["latency_p95_s"]
    loaded = [record.created for record in caplog.records if "loaded as run" in record.getMessage()]
    assert len(loaded) == 5
    if concurrency > 1:  # all loaded before the first page; in turn, each before its own
        assert max(loaded) < min(harness.router.posted_at)
    else:
        assert loaded[1] > harness.router.posted_at[0]


async def test_a_drill_pages_each_scenario_with_its_data_written_up_to_the_page(
    harness: Harness, scenario: Scenario, tmp_path: Path
) -> None:
    """As if the loads had taken six minutes (the clock they load with is behind): past Prometheus' 5-minute
    look-back a scenario's data would read as nothing at its page; it is carried on to the page instead."""
    behind = timedelta(minutes=6)
    with PrometheusProcess(tmp_path, None, remote_write_receiver=True, out_of_order_window="12h") as prometheus:
        async with httpx.AsyncClient(timeout=10) as http:
            targets = Targets(http, prometheus_write_url=f"{prometheus.url}/api/v1/write")
            clock = lambda: datetime.now(UTC) - behind  # noqa: E731
            summary, _ = await harness.run([scenario, scenario], concurrency=2, targets=targets, clock=clock)
            for result in summary.results:
                namespace = f"prod-{result.run_id}"
                posted_at = next(
                    at
                    for at, payload in zip(harness.router.posted_at, harness.router.posted, strict=True)
                    if payload["alerts"][0]["labels"]["namespace"] == namespace
                )
                query = f'timestamp(http_requests_total{{namespace="{namespace}",code="500"}})'
                answer = await http.get(f"{prometheus.url}/api/v1/query", params={"query": query, "time": posted_at})
                newest = [float(series["value"][1]) for series in answer.json()["data"]["result"]]
                assert len(newest) == 1, f"{namespace}: no sample within Prometheus' look-back at its page"
                assert posted_at - 60 < newest[0] <= posted_at  # the scenario's step is a minute
    assert summary.ok
    onset = summary.results[0].expected.onset
    assert onset is not None
    assert abs((datetime.now(UTC) - behind - timedelta(minutes=20) - onset).total_seconds()) < 30  # truth unmoved


async def test_a_drill_of_no_concurrency_is_refused(harness: Harness, scenario: Scenario) -> None:
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        await harness.run([scenario], concurrency=0)


async def test_a_refused_token_is_a_result_naming_the_credentials(harness: Harness, scenario: Scenario) -> None:
    harness.router.post_status = 401
    summary, _ = await harness.run([scenario])
    [result] = summary.results
    assert not summary.ok
    assert result.report is None
    assert result.error is not None
    assert result.error.startswith("small-checkout: the router refused the alert payload: HTTP 401")
    assert "credentials" in result.error
    assert (result.score.hit_at_1, result.score.change_found) == (False, False)


async def test_a_failed_investigation_is_a_result_saying_how_it_ended(harness: Harness, scenario: Scenario) -> None:
    harness.router.final_state = "failed"
    summary, _ = await harness.run([scenario])
    assert summary.results[0].error == "small-checkout: the investigation (task task-1) ended failed: boom"
    assert summary.totals["reports"] == 0


async def test_an_investigation_that_does_not_end_in_time_is_reported_and_the_run_goes_on(
    harness: Harness, scenario: Scenario
) -> None:
    harness.router.working_reads = 10_000
    started = time.monotonic()
    summary, seen = await harness.run([scenario, scenario], report_timeout=0.5)
    assert time.monotonic() - started < 10
    assert len(seen) == 2
    for result in summary.results:
        assert result.error is not None
        assert "no report within 0.5 s (task task-" in result.error
        assert "is still working" in result.error


async def test_an_unreachable_router_fails_every_scenario_without_loading_it(
    harness: Harness, scenario: Scenario
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    async with httpx.AsyncClient(timeout=10) as http:
        # A load would fail on this target: the error must be the router's, found before any load.
        targets = Targets(http, prometheus_write_url=f"{nowhere}/api/v1/write")
        summary, _ = await harness.run([scenario, scenario], router_url=nowhere, targets=targets)
    assert [r.error for r in summary.results] == [
        f"small-checkout: the router at {nowhere} could not be reached (ConnectError): "
        "start the platform with `sre up`, or set ROUTER_URL."
    ] * 2
    assert not summary.ok


async def test_a_scenario_that_fails_to_load_is_not_posted_and_the_next_one_runs(
    harness: Harness, scenario: Scenario, scenario_data: dict[str, Any]
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    scenario_data["name"] = "other"
    other = parse_scenario(scenario_data)
    async with httpx.AsyncClient(timeout=10) as http:
        bad = Targets(http, prometheus_write_url=f"{nowhere}/api/v1/write")
        broken, _ = await harness.run([scenario], targets=bad)
    fine, _ = await harness.run([other])
    error = broken.results[0].error
    assert error is not None
    assert error.startswith("small-checkout: loading failed: prometheus: ")
    assert "ConnectError" in error
    posted = {p["alerts"][0]["labels"]["namespace"] for p in harness.router.posted}
    assert posted == {f"prod-{fine.results[0].run_id}"}
    assert fine.ok


class FakeTriage(PipelineAgent):
    """No model, no backends: the report names the first alert's service, as `_report` does."""

    async def handle(self, request: AgentRequest, kit: Kit, progress: Progress) -> AgentResult:
        report = _report("a2a", json.loads(request.text))
        return AgentResult(report, f"# Likely cause\n\nThe deployment of {report['changes'][0]['resource']}.")


async def test_direct_sends_the_first_alert_group_to_triage_over_a2a_and_scores_its_report(
    tmp_path: Path, scenario: Scenario
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with AuthorizationServer(tmp_path / "as", resources=[url]) as authorization:
        serve = ServeSettings(
            port=port,
            registry_url=authorization.issuer,
            auth=AuthConfig(issuer=authorization.issuer, jwks_url=authorization.jwks_url),
        )
        app = a2a_app(
            agent=FakeTriage(name="triage", settings=stand_in_settings(tmp_path)),
            card=AgentCardSpec(name="triage", description="Finds the cause.", version="0.0.1"),
            serve=serve,
            verifier=resource_verifier(serve, serve.base_url, create_http_client(timeout=10.0)),
            task_store_url=default_task_store_url(tmp_path, "triage"),
        )
        with ServedApp(app, port=port):
            secret = authorization.clients.add_client("cli", ["agents:invoke"])
            harness = Harness(FakeRouter(), "http://unused.invalid", authorization, secret)
            summary, _ = await harness.run([scenario], direct=True, triage_url=url)

    [result] = summary.results
    assert result.error is None
    assert summary.ok
    assert result.report_id == "report-a2a"
    assert (result.score.hit_at_1, result.score.onset_error_minutes, result.score.change_found) == (True, 0.0, True)
    assert result.latency_s is not None
    assert result.latency_s > 0
