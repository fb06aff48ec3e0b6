"""Triage on the real federation (`make up`'s `sre up`): bundled scenarios loaded, real MCP sessions, real reports.

One `sre up` serves the module, its demo playing meanwhile (its alert fires after a minute or
two, through Alertmanager and the router to triage; the last test checks what it printed). Some
tests run the agent in-process (an ADK runner, as `adk web` runs it) with the `cli` client's
identity, so they can change its settings or give it a scripted model; others call the triage
and router that `sre up` serves, over A2A and HTTP, as anyone would.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import psutil
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.types import GetTaskRequest, TaskState
from google.adk.a2a.converters.part_converter import A2A_DATA_PART_END_TAG, A2A_DATA_PART_START_TAG
from google.adk.agents.remote_a2a_agent import RemoteA2aAgent
from google.adk.events import Event
from google.adk.runners import InMemoryRunner
from google.genai import types as genai
from google.protobuf.json_format import MessageToDict
from support.backends import free_port
from support.chat import Chat, texts
from support.eventually import eventually, eventually_async
from support.federation import ROOT, RunningFederation, running_federation
from support.mcp_session import token_session
from support.scripted_llm import ScriptedLlm, call, function_responses, text

from agents.triage.agent import TriageAgent
from cli.demo import DEFAULT_DEMO
from common.agents import INTERRUPTED_MESSAGE
from common.agents.client import agent_client, data_message, find_agent, text_message
from common.agents.pipeline import LAST_RESULT
from common.auth import TokenSource
from common.http import create_http_client
from common.settings import SettingsSource
from scenarios import BUNDLED_DIR, Scenario, load_scenario, load_scenarios
from scenarios.isolation import isolated, new_run_id
from scenarios.load import LoadReport, load_scenario_into
from scenarios.run import run_scenarios
from scenarios.spec import parse_scenario, scenario_document

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


#: The router's group wait in this module (its default is 5 s): every alert the bundled run posts waits it before its
#: investigation starts, 31 scenarios one after the other. A scenario's pages are posted within milliseconds of each
#: other, so one second still groups them (the bundled run asserts that groups form).
GROUP_WAIT_SECONDS = "1"


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFederation]:
    settings = {"ROUTER_GROUP_WAIT_SECONDS": GROUP_WAIT_SECONDS}
    with running_federation(tmp_path_factory.mktemp("federation"), demo=DEFAULT_DEMO, settings=settings) as running:
        yield running


async def load(federation: RunningFederation, name: str) -> tuple[Scenario, LoadReport]:
    """A bundled scenario, isolated in namespaces of its own, loaded with the `scenario` client."""
    scenario = isolated(load_scenario(BUNDLED_DIR / f"{name}.yaml"), new_run_id())
    async with federation.targets() as targets:
        report = await load_scenario_into(scenario, datetime.now(UTC).replace(microsecond=0), targets)
    assert report.failed == {}
    return scenario, report


def triage_agent(federation: RunningFederation, tmp_path: Path, **settings: str) -> TriageAgent:
    credentials = federation.credentials("cli")
    source = SettingsSource(
        {
            "SRE_DATA_DIR": str(tmp_path),
            "REGISTRY_URL": federation.url("REGISTRY"),
            "SRE_CLIENT_ID": credentials.client_id,
            "SRE_CLIENT_SECRET": credentials.client_secret.get_secret_value(),
            **settings,
        }
    )
    return TriageAgent.from_source(source)


def report_of(events: list[Event]) -> dict[str, Any]:
    """The report the run kept in the session state (its JSON is an artifact, never a chat message)."""
    report: dict[str, Any] = next(
        e.actions.state_delta[LAST_RESULT] for e in events if LAST_RESULT in e.actions.state_delta
    )
    return report


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_an_alert_becomes_a_ranked_evidenced_report_recorded_in_the_control_plane(
    federation: RunningFederation, tmp_path: Path
) -> None:
    _scenario, loaded = await load(federation, "red-herring-deploy-stripe-outage")
    truth = loaded.expected
    assert truth is not None
    assert truth.onset is not None

    events = await Chat(triage_agent(federation, tmp_path)).say(json.dumps(loaded.alerts[0]))

    stages, report = texts(events)[:-1], report_of(events)
    assert texts(events)[-1].startswith("# Diagnostic report: payments")
    assert not any(t.startswith("{") for t in texts(events))
    assert stages[0].startswith("Scoping")
    assert any(s.startswith("Onset") for s in stages)
    assert report["scope"]["service"] == "payments"  # checkout alerted too, and calls payments
    top = report["hypotheses"][0]
    assert (top["kind"], top["target"]["resource"]) == ("dependency", "stripe")
    assert abs(at(report["onset"]["at"]) - truth.onset) <= timedelta(minutes=3)
    # The innocent deployment is listed with its timing, not blamed.
    (deploy,) = [c for c in report["changes"] if c["type"] == "deployment"]
    assert deploy["resource"] == "checkout"
    assert deploy["ref"] == "v2.4.1"
    assert 0 < deploy["minutes_before_onset"] < 6
    assert all(h["kind"] != "deployment" for h in report["hypotheses"][:2])
    # Every cited id is evidence, and every PromQL evidence query runs as written.
    evidence = {item["id"]: item for item in report["evidence"]}
    assert all(e in evidence for h in report["hypotheses"] for e in h["evidence_ids"])
    for item in [evidence[e] for e in top["evidence_ids"] if evidence[e]["source"] == "prometheus"]:
        answer = httpx.get(
            f"{federation.url('PROMETHEUS')}/api/v1/query", params={"query": item["query"]}, timeout=10
        ).json()
        assert answer["status"] == "success", item["query"]
        assert answer["data"]["result"], item["query"]
    assert report["degraded"] == []
    assert {"scope", "signals_and_changes", "anomalies_and_logs", "ranking", "total"} <= set(report["timings"])
    # Recorded in the control plane, where people find it.
    recorded = httpx.get(
        report["analysis_url"],
        headers={"Authorization": f"Bearer {federation.token('cli', federation.url('CONTROLPLANE'))}"},
        timeout=10,
    ).json()
    assert recorded["report"]["id"] == report["id"]
    assert recorded["title"].startswith("payments: dependency on stripe")
    assert recorded["markdown"].startswith("# Diagnostic report: payments")


async def test_a_source_that_fails_degrades_the_report_and_the_rest_stands(
    federation: RunningFederation, tmp_path: Path
) -> None:
    _, loaded = await load(federation, "checkout-bad-deploy-errors")
    nothing = f"http://127.0.0.1:{free_port()}/mcp"
    agent = triage_agent(federation, tmp_path, TRIAGE_LOKI_MCP_URL=nothing, TRIAGE_RECORD_ANALYSES="false")

    report = report_of(await Chat(agent).say(json.dumps(loaded.alerts[0])))

    assert [failure["source"] for failure in report["degraded"]] == ["loki-mcp"]
    assert all(item["source"] != "loki" for item in report["evidence"])
    top = report["hypotheses"][0]
    assert (top["kind"], top["target"]["resource"], top["target"]["ref"]) == ("deployment", "checkout", "v2.4.0")
    assert report["suggested_actions"][0]["action"] == "rollback"
    assert report["suggested_actions"][0]["parameters"]["to_version"] == "v2.3.9"
    assert report["suggested_actions"][0]["requires_approval"] is True
    assert report["analysis_url"] is None


def _as_a_cluster_labels_it(scenario: Scenario) -> Scenario:
    """The scenario without a `service` label anywhere, labelled as kube-prometheus-stack and Alloy label a
    cluster: pods' series by namespace/pod/container, applications' by their `namespace/name` job, log streams
    by `app`, alerts by what their rules keep (a pod, a job)."""
    document = scenario_document(scenario)
    for item in document["series"]:
        labels = item["labels"]
        service = labels.pop("service", None)
        if service is not None and not {"pod", "deployment", "job"} & set(labels):
            labels["job"] = f"{labels.get('namespace', 'default')}/{service}"
    for item in document.get("logs", []):
        if "service" in item["labels"]:
            item["labels"]["app"] = item["labels"].pop("service")
    for item in document.get("alerts", []):
        labels = item["labels"]
        service = labels.pop("service", None)
        if service is not None and "pod" not in labels:
            labels["job"] = f"{labels.get('namespace', 'default')}/{service}"
    return parse_scenario(document, f"{scenario.name} without service labels")


async def test_triage_without_a_service_label_anywhere_still_investigates_and_names_the_workload(
    federation: RunningFederation, tmp_path: Path
) -> None:
    scenario = _as_a_cluster_labels_it(load_scenario(BUNDLED_DIR / "cart-crashloop-oom.yaml"))
    scenario = isolated(scenario, new_run_id())
    async with federation.targets() as targets:
        loaded = await load_scenario_into(scenario, datetime.now(UTC).replace(microsecond=0), targets)
    assert loaded.failed == {}
    crashing = next(p for p in loaded.alerts if p["groupLabels"]["alertname"] == "KubePodCrashLooping")
    assert all("service" not in alert["labels"] for alert in crashing["alerts"])
    agent = triage_agent(federation, tmp_path, TRIAGE_RECORD_ANALYSES="false")

    events = await Chat(agent).say(json.dumps(crashing))

    report = report_of(events)
    # The crashing pod's workload, not its pod: cart-84f6c7d9b-t7hvn is cart.
    assert report["scope"]["service"] == "cart"
    assert texts(events)[-1].startswith("# Diagnostic report: cart")
    assert "t7hvn" not in texts(events)[-1].splitlines()[0]
    assert report["degraded"] == []
    # Investigated: the deployment from the control plane, and evidence read from pods' and apps' series and logs.
    assert any(c["type"] == "deployment" and c["resource"] == "cart" for c in report["changes"])
    # And right: the cause is the one the bundled scenario expects, read from the pods' series.
    assert scenario.expected is not None
    cause = scenario.expected.root_cause
    top = report["hypotheses"][0]
    assert (top["kind"], top["target"]["resource"], top["target"]["ref"]) == (cause.kind, cause.service, cause.ref)
    assert any(e["source"] == "prometheus" and "of cart" in e["summary"] for e in report["evidence"])
    # The pods' series are cited by the exact query selecting every pod of cart's, and the report says with which
    # profiles and labels its signals were read.
    assert any('pod=~"cart-' in e["query"] and e["summary"].startswith("restarts of cart") for e in report["evidence"])
    (note,) = [e for e in report["evidence"] if e["summary"].startswith("Signals of cart read from the profiles")]
    assert "kube-prometheus-stack" in note["data"]["profiles"]


async def test_the_model_stage_narrates_and_answers_follow_ups_with_read_only_tools(
    federation: RunningFederation, tmp_path: Path
) -> None:
    scenario, loaded = await load(federation, "checkout-bad-deploy-errors")
    namespace = next(s.namespace for s in scenario.services if s.name == "checkout")
    query = f'sum(rate(http_requests_total{{service="checkout",namespace="{namespace}",code=~"5.."}}[5m]))'

    def answer_with_the_tool_result(request: Any) -> Any:
        (response,) = function_responses(request)
        value = response.response["structuredContent"]["samples"][0]["value"]  # type: ignore[index]
        return text(f"checkout answers {float(value):.2f} errors per second now.")

    model = ScriptedLlm(
        script=[
            text("checkout has failed since its v2.4.0 deployment [e1]."),
            call("prometheus_query", query=query),
            answer_with_the_tool_result,
        ]
    )
    agent = triage_agent(federation, tmp_path, TRIAGE_RECORD_ANALYSES="false")
    agent.llm = model
    conversation = Chat(agent)

    report = report_of(await conversation.say(json.dumps(loaded.alerts[0])))
    follow_up_events = await conversation.say("How many errors per second is checkout answering now?")
    follow_up = texts(follow_up_events)

    assert report["narrative"] == "checkout has failed since its v2.4.0 deployment [e1]."
    narrator, asked, answered = model.requests
    assert "v2.4.0" in str(narrator.config.system_instruction)
    assert not narrator.config.tools
    offered = {d.name for tool in asked.config.tools or [] for d in tool.function_declarations or []}
    assert {"prometheus_query", "loki_query_logs", "controlplane_list_changes"} <= offered
    assert not {"controlplane_restart_deployment", "controlplane_record_analysis"} & offered
    assert report["id"] in str(asked.config.system_instruction)
    (response,) = function_responses(answered)
    assert float(response.response["structuredContent"]["samples"][0]["value"]) > 1  # type: ignore[index]
    assert follow_up[-1].startswith("checkout answers ")
    assert follow_up[-1].endswith("errors per second now.")


async def test_an_agent_run_beside_sre_up_takes_the_identity_sre_up_provisioned_for_it(
    federation: RunningFederation,
) -> None:
    """What `adk web agents` run from the checkout after `make up` has: SRE_DATA_DIR (here not the default `.sre`),
    no client and no registry URL; sre up's ports are not the defaults either."""
    _, loaded = await load(federation, "checkout-bad-deploy-errors")
    source = SettingsSource({"SRE_DATA_DIR": str(federation.data_dir), "TRIAGE_RECORD_ANALYSES": "false"})

    report = report_of(await Chat(TriageAgent.from_source(source)).say(json.dumps(loaded.alerts[0])))

    assert report["degraded"] == []
    top = report["hypotheses"][0]
    assert (top["kind"], top["target"]["resource"], top["target"]["ref"]) == ("deployment", "checkout", "v2.4.0")


def served_triage_url(federation: RunningFederation) -> str:
    return federation.url("TRIAGE")


async def test_triage_served_over_a2a_streams_its_stages_and_the_report_artifact(
    federation: RunningFederation,
) -> None:
    _, loaded = await load(federation, "payments-config-timeout")
    tokens = TokenSource(federation.credentials("cli"), create_http_client(timeout=10))
    url = await find_agent(
        "triage", tokens=tokens, http=create_http_client(timeout=10), registry_url=federation.url("REGISTRY")
    )

    async with agent_client(url, tokens) as client:
        responses = [response async for response in client.send_message(data_message(loaded.alerts[0]))]

    assert url == served_triage_url(federation)
    stages = [
        part.text
        for response in responses
        if response.HasField("status_update") and response.status_update.status.HasField("message")
        for part in response.status_update.status.message.parts
    ]
    assert stages[0].startswith("Scoping")
    assert stages[-1] == "Recording the report in the control plane."
    final = [r.status_update.status.state for r in responses if r.HasField("status_update")][-1]
    assert final == TaskState.TASK_STATE_COMPLETED
    (artifact,) = [r.artifact_update.artifact for r in responses if r.HasField("artifact_update")]
    data, markdown = artifact.parts
    report = MessageToDict(data.data)
    assert data.media_type == "application/json"
    assert markdown.media_type == "text/markdown"
    assert markdown.text.startswith("# Diagnostic report: payments")
    top = report["hypotheses"][0]
    assert (top["kind"], top["target"]["resource"], top["target"]["ref"]) == (
        "config_change",
        "payments",
        "payments.provider.timeout_ms",
    )
    assert report["analysis_url"].startswith(federation.url("CONTROLPLANE"))


@pytest.mark.filterwarnings("ignore:.*EXPERIMENTAL.*:UserWarning")
async def test_adk_remote_agent_asks_the_served_triage(federation: RunningFederation) -> None:
    _, loaded = await load(federation, "orders-db-down")
    url = served_triage_url(federation)
    token = federation.token("cli", url)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
        remote = RemoteA2aAgent(
            name="triage_remote",
            agent_card=f"{url}/.well-known/agent-card.json",
            a2a_client_factory=ClientFactory(ClientConfig(httpx_client=http, streaming=True)),
        )
        runner = InMemoryRunner(agent=remote, app_name="caller")
        session = await runner.session_service.create_session(app_name="caller", user_id="someone")
        message = genai.Content(role="user", parts=[genai.Part(text=json.dumps(loaded.alerts[0]))])
        events = [e async for e in runner.run_async(user_id="someone", session_id=session.id, new_message=message)]

    # ADK hands a generic A2A data part on as an inline blob between its tags.
    blobs = [
        part.inline_data.data
        for event in events
        if event.content
        for part in event.content.parts or []
        if part.inline_data is not None and part.inline_data.data
    ]
    reports = [
        json.loads(blob.removeprefix(A2A_DATA_PART_START_TAG).removesuffix(A2A_DATA_PART_END_TAG)) for blob in blobs
    ]
    assert reports, texts(events)
    assert texts(events)[-1].startswith("# Diagnostic report: orders-db")
    top = reports[-1]["hypotheses"][0]
    assert (top["kind"], top["target"]["resource"]) == ("dependency", "orders-db")


async def test_a_triage_restarted_mid_task_reports_the_task_failed(
    federation: RunningFederation, tmp_path: Path
) -> None:
    """The task outlives the process: it reads back failed with a reason, never vanishes."""
    with socket.socket() as black_hole:
        # Accepts connections (the kernel's backlog) and never answers: the investigation hangs on it.
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(8)
        hanging = f"http://127.0.0.1:{black_hole.getsockname()[1]}/mcp"
        port = free_port()
        credentials = federation.credentials("triage")
        env = {
            **federation.env,
            "SRE_PORT": str(port),
            "SRE_NAME": f"triage-restart-{port}",
            "REGISTRY_URL": federation.url("REGISTRY"),
            "SRE_CLIENT_ID": credentials.client_id,
            "SRE_CLIENT_SECRET": credentials.client_secret.get_secret_value(),
            "TRIAGE_PROMETHEUS_MCP_URL": hanging,
            "TRIAGE_CONTROLPLANE_MCP_URL": hanging,
            "TRIAGE_LOKI_MCP_URL": hanging,
            "TRIAGE_SOURCE_TIMEOUT_SECONDS": "300",
            "TRIAGE_TASK_STORE_URL": f"sqlite+aiosqlite:///{tmp_path / 'tasks.db'}",
        }
        url = f"http://127.0.0.1:{port}"
        tokens = TokenSource(federation.credentials("cli"), create_http_client(timeout=10))
        with served_process(["serve", "triage"], env, f"{url}/healthz", tmp_path / "first.log") as first:
            await wait_registered(federation, f"triage-restart-{port}")
            async with agent_client(url, tokens) as client:
                stream = client.send_message(text_message('{"question": "why?", "service": "checkout"}'))
                task_id = ""
                async for response in stream:
                    if response.HasField("task"):
                        task_id = response.task.id
                    if response.HasField("status_update") and response.status_update.status.message.parts:
                        break  # the first stage: the investigation is under way
                await stream.aclose()
            first.kill()
            first.wait()
        with served_process(["serve", "triage"], env, f"{url}/healthz", tmp_path / "second.log"):
            async with agent_client(url, tokens, streaming=False) as client:
                task = await client.get_task(GetTaskRequest(id=task_id))

    assert task_id
    assert task.status.state == TaskState.TASK_STATE_FAILED
    assert task.status.message.parts[0].text == INTERRUPTED_MESSAGE


async def wait_registered(federation: RunningFederation, name: str) -> None:
    token = federation.token("cli", federation.url("REGISTRY"))
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=5) as http:

        async def registered() -> bool:
            return (await http.get(f"{federation.url('REGISTRY')}/agents/{name}")).status_code == 200

        await eventually_async(registered, timeout=30, interval=0.2, what=f"{name} registered")


@contextmanager
def served_process(
    args: list[str], env: Mapping[str, str], ready_url: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=dict(env), stdout=output, stderr=output
        )
    try:

        def ready() -> bool:
            assert process.poll() is None, log.read_text()
            return httpx.get(ready_url, timeout=1).status_code == 200

        # As long as `sre up` is given (support.federation): a process importing ADK on two cores shared with other
        # test runs took more than 60 s at a load average of 20.
        eventually(
            ready,
            timeout=120,
            interval=0.2,
            what=lambda: f"{ready_url}:\n{log.read_text()}",
            ignoring=(httpx.TransportError,),
        )
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(15)


async def test_a_failed_deployment_posted_to_the_router_ends_in_a_report(federation: RunningFederation) -> None:
    scenario, _ = await load(federation, "cart-crashloop-oom")
    namespace = next(s.namespace for s in scenario.services if s.name == "cart")
    router = federation.url("ROUTER")
    headers = {"Authorization": f"Bearer {federation.token('cli', router)}"}
    event = {"service": "cart", "namespace": namespace, "version": "v1.9.0", "status": "failed"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        started = await http.post(f"{router}/webhooks/deployment", json=event)
        assert started.status_code == 202, started.text
        (task,) = started.json()["tasks"]
        async with http.stream("GET", f"{task['url']}/stream", timeout=120) as stream:
            events = [line.removeprefix("event: ") async for line in stream.aiter_lines() if line.startswith("event:")]
        view = (await http.get(task["url"])).json()

    assert events[0] == "status"
    assert events[-2:] == ["artifact", "done"] or events[-3:] == ["artifact", "status", "done"]
    assert view["state"] == "completed"
    assert view["trigger"]["kind"] == "deployment"
    top = view["result"]["hypotheses"][0]
    assert (top["kind"], top["target"]["resource"], top["target"]["ref"]) == ("deployment", "cart", "v1.9.0")
    assert view["result"]["suggested_actions"][0]["action"] == "rollback"
    assert view["markdown"].startswith("# Diagnostic report: cart")


def test_sre_scenario_run_over_the_bundled_suite_through_the_router(federation: RunningFederation) -> None:
    """The eval harness as anyone runs it against `sre up --no-demo`: every alert through the router's webhook."""
    loki = federation.url("LOKI_MCP")
    posted_from = time.time()
    done = federation.sre("scenario", "run", "bundled", "--json", "--loki-mcp-url", loki, timeout=900)

    *scenarios, totals = (json.loads(line) for line in done.stdout.splitlines() if line.startswith("{"))
    bundled = len(load_scenarios([BUNDLED_DIR]))
    assert len(scenarios) == bundled
    assert [s["name"] for s in scenarios if s["error"]] == []
    assert totals["scenarios"] == bundled
    assert totals["hit_at_1"] >= 0.9, [(s["name"], s["top"]) for s in scenarios if not s["hit_at_1"]]
    assert totals["hit_at_3"] >= totals["hit_at_1"]
    assert totals["onset_error_minutes_median"] <= 3
    assert totals["change_found"] >= 0.9
    # Grouping held with the short wait: a service paging twice, or a database's caller paging after it, was
    # answered by the investigation already under way, which started.
    with sqlite3.connect(federation.data_dir / "router-tasks.db") as db:
        grouped = db.execute(
            "SELECT lead.delivery FROM router_tasks AS member JOIN router_tasks AS lead"
            " ON lead.id = member.grouped_into WHERE member.delivery = 'grouped' AND member.created_at >= ?",
            (posted_from,),
        ).fetchall()
    assert grouped, "no alert delivery of the bundled run was grouped"
    assert {delivery for (delivery,) in grouped} == {"started"}


def test_sre_scenario_run_of_several_pages_at_once_scores_every_report_with_its_latency(
    federation: RunningFederation,
) -> None:
    """A drill: three incidents loaded first, then paged together (`--concurrency 3`), each report scored."""
    names = ["checkout-bad-deploy-errors", "catalog-bad-deploy-latency", "noisy-baseline"]
    loki = federation.url("LOKI_MCP")
    done = federation.sre("scenario", "run", *names, "--concurrency", "3", "--loki-mcp-url", loki, timeout=600)

    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("SCENARIO"))
    rows = [line for line in lines if line.split(" ")[0] in names]
    total = next(line for line in lines if line.startswith("total:"))
    assert header.split()[-1] == "SECONDS"
    assert sorted(row.split()[0] for row in rows) == sorted(names)
    for row in rows:
        assert float(row.split()[-1]) > 0, row  # the seconds from its first page to its report
    assert total.startswith("total: 3 scenarios, 3 reports; hit@1 "), total
    latency = re.search(r"latency p50 ([\d.]+) s, p95 ([\d.]+) s$", total)
    assert latency is not None, total
    assert 0 < float(latency[1]) <= float(latency[2])
    assert "(3 at a time)" in done.stderr


async def test_a_drill_whose_loads_took_minutes_still_sees_each_incident_going_on(
    federation: RunningFederation,
) -> None:
    """A drill (`--concurrency`) whose loads took seven minutes (the clock they load with is that far behind):
    the scenario stays live to its page, so triage names the client-timeout change. With its data stopping at
    the load, past Prometheus' 5-minute look-back, triage blamed the database instead, its onset 28 minutes off.
    """
    scenario = load_scenario(BUNDLED_DIR / "cart-api-client-timeout.yaml")
    async with federation.targets() as targets, create_http_client(timeout=10) as http:
        summary = await run_scenarios(
            [scenario],
            targets,
            TokenSource(federation.credentials("cli"), http),
            router_url=federation.url("ROUTER"),
            registry_url=federation.url("REGISTRY"),
            concurrency=2,
            clock=lambda: datetime.now(UTC) - timedelta(minutes=7),
        )
    [result] = summary.results
    assert (result.error, result.score.hit_at_1) == (None, True), result.top


def test_sre_scenario_load_fills_the_federation(federation: RunningFederation) -> None:
    scenario = BUNDLED_DIR / "checkout-bad-deploy-errors.yaml"
    loaded = federation.sre("scenario", "load", str(scenario), "--loki-mcp-url", federation.url("LOKI_MCP"))

    assert (
        "checkout-bad-deploy-errors: loaded into prometheus, loki, controlplane, namespaces external, prod ("
        in loaded.stdout
    )
    query = 'sum(rate(http_requests_total{service="checkout",namespace="prod",code=~"5.."}[5m]))'
    errors = httpx.get(f"{federation.url('PROMETHEUS')}/api/v1/query", params={"query": query}, timeout=10)
    assert float(errors.json()["data"]["result"][0]["value"][1]) > 0.5


def _component_pid(up_pid: int, name: str) -> int | None:
    for child in psutil.Process(up_pid).children():
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.cmdline()[-2:] == ["serve", name] and child.status() != psutil.STATUS_ZOMBIE:
                return int(child.pid)
    return None


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


def test_sre_up_restarts_a_component_killed_with_sigkill_and_says_so(federation: RunningFederation) -> None:
    up_pid = federation.process.pid
    killed = _component_pid(up_pid, "loki-mcp")
    assert killed is not None

    os.kill(killed, signal.SIGKILL)
    eventually(lambda: _component_pid(up_pid, "loki-mcp") not in (None, killed), timeout=60, what="a new loki-mcp")
    eventually(lambda: _healthy(federation.url("LOKI_MCP")), timeout=60, what="loki-mcp healthy")
    eventually(lambda: "loki-mcp is back" in federation.log.read_text(), timeout=60, what="sre up saying it is back")

    assert federation.process.poll() is None
    log = federation.log.read_text()
    assert (
        f"sre up: loki-mcp (pid {killed}) was killed by SIGKILL; its log: "
        f"{federation.data_dir.resolve() / 'logs' / 'loki-mcp.log'}. Restarting it in 1s" in log
    )
    assert _healthy(federation.url("ROUTER"))


REPORT_DEADLINE = 300.0


def test_the_demo_goes_from_a_real_alert_to_the_printed_report_and_ctrl_c_stops_everything(
    federation: RunningFederation,
) -> None:
    """Last in the module: `make up`'s demo has played meanwhile; then Ctrl-C stops every component."""
    controlplane = federation.url("CONTROLPLANE")
    # The agents serve their cards and registered themselves, so tokens can be issued for them.
    for agent in ("TRIAGE", "ROUTER"):
        card = httpx.get(f"{federation.url(agent)}/.well-known/agent-card.json").json()
        assert card["name"] == agent.lower()
        assert card["supportedInterfaces"][0]["url"] == federation.url(agent)
    registry_token = federation.token("cli", federation.url("REGISTRY"))
    agents = httpx.get(f"{federation.url('REGISTRY')}/agents", headers={"Authorization": f"Bearer {registry_token}"})
    registered = {agent["name"]: agent["url"] for agent in agents.json()["agents"]}
    assert {"triage": federation.url("TRIAGE"), "router": federation.url("ROUTER")}.items() <= registered.items()
    # Alertmanager sends to the router's webhook with a token of its own client.
    config = httpx.get(f"{federation.url('ALERTMANAGER')}/api/v2/status").json()["config"]["original"]
    assert f"{federation.url('ROUTER')}/webhooks/alertmanager" in config
    assert "client_id: alertmanager" in config

    # make up's MCP servers take your own client's tokens (the cli client), and nothing else.
    mcp, loki = federation.mcp_url("PROMETHEUS_MCP"), federation.url("LOKI_MCP")
    assert httpx.post(mcp, json={}).status_code == 401
    answer = anyio.run(call_tool, mcp, federation.token("cli", mcp), "prometheus_query", {"query": "vector(42)"})
    assert float(answer["samples"][0]["value"]) == 42.0
    loki_token = federation.token("cli", f"{loki}/mcp")
    pushed = httpx.post(
        f"{loki}/loki/api/v1/push",
        json={"streams": [{"stream": {"service": "up-test"}, "values": [[str(time.time_ns()), "hello from up"]]}]},
        headers={"Authorization": f"Bearer {loki_token}"},
    )
    assert pushed.status_code == 204, pushed.text
    logs = anyio.run(call_tool, f"{loki}/mcp", loki_token, "loki_query_logs", {"query": '{service="up-test"}'})
    assert [line["line"] for stream in logs["streams"] for line in stream["lines"]] == ["hello from up"]
    # The approval loop: the cli client asks through controlplane-mcp, the approver decides.
    incident = httpx.post(
        f"{controlplane}/api/v1/incidents",
        json={"title": "up test"},
        headers={"Authorization": f"Bearer {federation.token('cli', controlplane)}"},
    ).json()
    cp_mcp = federation.mcp_url("CONTROLPLANE_MCP")
    cp_token = federation.token("cli", cp_mcp)
    ack = {"incident_id": incident["id"]}
    pending = anyio.run(call_tool, cp_mcp, cp_token, "controlplane_acknowledge_incident", ack)
    approval_id = pending["approval"]["id"]
    assert approval_id in federation.sre("controlplane", "approvals").stdout
    assert "approved" in federation.sre("controlplane", "approve", approval_id, "--reason", "test").stdout
    ack["approval_id"] = approval_id
    done = anyio.run(call_tool, cp_mcp, cp_token, "controlplane_acknowledge_incident", ack)
    assert done["incident"]["status"] == "acknowledged"

    # The demo's alert fired in Prometheus (the bundled rules) and reached Alertmanager for the router.

    def reported() -> bool:
        assert federation.process.poll() is None, federation.log.read_text()
        return "\nReport: " in federation.stdout.read_text()

    eventually(
        reported,
        timeout=federation.started + REPORT_DEADLINE - time.monotonic(),
        interval=0.5,
        what=lambda: f"the demo's report:\n{federation.log.read_text()}",
    )
    took = time.monotonic() - federation.started
    printed = federation.stdout.read_text()
    routed = httpx.get(f"{federation.url('ALERTMANAGER')}/api/v2/alerts").json()
    assert any(
        a["labels"]["alertname"] == "HighErrorRate" and [r["name"] for r in a["receivers"]] == ["router"]
        for a in routed
    )
    # In namespaces of its own (prod-<run id>): a second `sre up` on the same data must not mix with it.
    loaded = re.search(rf"^{DEFAULT_DEMO}-([0-9a-f]{{6}}): loaded into prometheus, loki, controlplane", printed, re.M)
    assert loaded is not None, printed
    match = re.search(r"^Report: (http://\S+/api/v1/analyses/(\S+))$", printed, re.MULTILINE)
    assert match is not None, printed
    assert match.group(1).startswith(f"{controlplane}/api/v1/analyses/")
    token = federation.token("cli", controlplane)
    analysis = httpx.get(match.group(1), headers={"Authorization": f"Bearer {token}"}).json()
    assert analysis["markdown"].strip() in printed
    assert "# Diagnostic report: checkout" in printed
    assert "**Trigger:** HighErrorRate" in printed
    assert "alert(s) firing on checkout: HighErrorRate since" in printed  # Prometheus' own view, as evidence
    report = analysis["report"]
    assert (report["scope"]["service"], report["scope"]["namespace"]) == ("checkout", f"prod-{loaded.group(1)}")
    assert report["trigger"]["kind"] == "alert"
    top = report["hypotheses"][0]
    assert (top["kind"], top["target"]["resource"], top["target"]["ref"]) == ("deployment", "checkout", "v2.4.0")
    # The live samples keep arriving: the series is fresh (the history alone ends at the load).
    demo_errors = f'http_requests_total{{service="checkout",namespace="prod-{loaded.group(1)}",code="500"}}'
    fresh = httpx.get(
        f"{federation.url('PROMETHEUS')}/api/v1/query", params={"query": f"time() - timestamp({demo_errors})"}
    ).json()["data"]["result"]
    assert float(fresh[0]["value"][1]) < 60
    print(f"sre up to the demo's report: {took:.0f} s")

    assert federation.stop() == 0, federation.log.read_text()
    assert "sre up: stopped." in federation.log.read_text()
    for port in federation.ports.values():
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)


async def call_tool(url: str, bearer: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    async with token_session(url, bearer) as client:
        result = await client.call_tool(tool, arguments)
    assert result.structured_content is not None, result.content
    return result.structured_content
