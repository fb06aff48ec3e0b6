"""`adk web agents` (the real ADK CLI) lists every agent and runs triage offline, with no model and no federation:
the chat shows the stages and the Markdown report, the JSON report is the session's artifact."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx
import pytest
from support.adk_web import adk_web as running_adk_web
from support.adk_web import artifact
from support.backends import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def adk_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("adk")
    # No identity and no registry: what someone trying the agents out offline has.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SRE_", "TRIAGE_", "ROUTER_", "REGISTRY"))}
    env |= {"SRE_DATA_DIR": str(workdir / "data"), "REGISTRY_URL": f"http://127.0.0.1:{free_port()}"}
    with running_adk_web(env, workdir) as url:
        yield url


def test_adk_web_lists_the_agents(adk_web: str) -> None:
    apps = httpx.get(f"{adk_web}/list-apps", timeout=10).json()

    assert {"triage", "router"} <= set(apps)


def test_triage_runs_offline_and_reports_every_source_as_degraded(adk_web: str) -> None:
    session = httpx.post(f"{adk_web}/apps/triage/users/someone/sessions", json={}, timeout=10).json()
    question = {"question": "why is checkout failing?", "service": "checkout", "namespace": "prod"}
    events = httpx.post(
        f"{adk_web}/run",
        json={
            "app_name": "triage",
            "user_id": "someone",
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
    assert texts[0].startswith("Scoping")
    assert texts[-1].startswith("# Diagnostic report: checkout")
    # The chat is for people: the report's JSON is the session's artifact, never a message.
    assert not any(text.lstrip().startswith(("{", "[")) for text in texts)
    mime_type, saved = artifact(adk_web, "triage", "someone", session["id"], "report.json")
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
