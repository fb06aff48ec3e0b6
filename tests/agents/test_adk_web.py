"""`adk web agents` (the real ADK CLI) lists every agent and runs triage offline, with no model and no federation:
the chat shows the stages and the Markdown report, the JSON report is the session's artifact."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.adk_web import adk_web as running_adk_web
from support.adk_web import artifact
from support.backends import free_port
from support.eventually import eventually
from support.otlp_collector import otlp_collector

pytestmark = pytest.mark.integration


def offline_env(workdir: Path) -> dict[str, str]:
    """No identity and no registry: what someone trying the agents out offline has."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SRE_", "TRIAGE_", "ROUTER_", "REGISTRY", "OTEL_"))}
    return env | {"SRE_DATA_DIR": str(workdir / "data"), "REGISTRY_URL": f"http://127.0.0.1:{free_port()}"}


def ask(url: str, user: str, question: dict[str, str]) -> tuple[str, list[str]]:
    """`question` asked of triage in a new session: the session's id and the texts of the chat."""
    session = httpx.post(f"{url}/apps/triage/users/{user}/sessions", json={}, timeout=10).json()
    events = httpx.post(
        f"{url}/run",
        json={
            "app_name": "triage",
            "user_id": user,
            "session_id": session["id"],
            "new_message": {"role": "user", "parts": [{"text": json.dumps(question)}]},
        },
        timeout=60,
    ).json()
    texts = [
        part["text"]
        for event in events
        if event.get("content")
        for part in event["content"]["parts"]
        if part.get("text")
    ]
    return session["id"], texts


@pytest.fixture(scope="module")
def adk_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("adk")
    with running_adk_web(offline_env(workdir), workdir) as url:
        yield url


def test_adk_web_lists_the_agents(adk_web: str) -> None:
    apps = httpx.get(f"{adk_web}/list-apps", timeout=10).json()

    assert {"triage", "router"} <= set(apps)


def test_triage_runs_offline_and_reports_every_source_as_degraded(adk_web: str) -> None:
    question = {"question": "why is checkout failing?", "service": "checkout", "namespace": "prod"}
    session_id, texts = ask(adk_web, "someone", question)

    assert texts[0].startswith("Scoping")
    assert texts[-1].startswith("# Diagnostic report: checkout")
    # The chat is for people: the report's JSON is the session's artifact, never a message.
    assert not any(text.lstrip().startswith(("{", "[")) for text in texts)
    mime_type, saved = artifact(adk_web, "triage", "someone", session_id, "report.json")
    assert mime_type == "application/json"
    report = json.loads(saved)
    assert report["scope"]["service"] == "checkout"
    assert {failure["source"] for failure in report["degraded"]} == {"prometheus-mcp", "loki-mcp", "controlplane-mcp"}
    # Outside `make up`'s data directory, the reason says which variables give triage an identity.
    reason = report["degraded"][0]["reason"]
    assert "no OAuth client" in reason
    assert "SRE_CLIENT_ID" in reason
    assert "SRE_DATA_DIR" in reason
    assert report["hypotheses"][0]["kind"] == "unknown"


def test_with_an_otlp_endpoint_the_investigations_spans_go_to_the_collector(tmp_path: Path) -> None:
    with otlp_collector() as collector:

        def exported() -> bool:
            names = {span.name for _, span in collector.spans()}
            # ADK's invocation, triage's run and stages inside it, and the (failing) tool calls.
            return {"invoke_agent triage", "triage.run", "triage.stage"} <= names and any(
                name.startswith("call_tool ") for name in names
            )

        env = offline_env(tmp_path) | {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url}
        with running_adk_web(env, tmp_path) as url:
            ask(url, "someone", {"service": "checkout", "namespace": "prod"})
            # Spans are exported in batches, every few seconds.
            eventually(
                exported,
                timeout=30,
                what=lambda: (
                    f"triage's spans at the collector, which has {sorted({s.name for _, s in collector.spans()})}"
                ),
            )
