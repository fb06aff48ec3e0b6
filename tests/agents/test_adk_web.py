"""`adk web agents` (the real ADK CLI) lists every agent and runs triage offline, with no model and no federation."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.backends import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ADK = ROOT / ".venv" / "bin" / "adk"


@pytest.fixture(scope="module")
def adk_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    data = tmp_path_factory.mktemp("adk")
    # No identity and no registry: what someone trying the agents out offline has.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SRE_", "TRIAGE_", "ROUTER_", "REGISTRY"))}
    env |= {"SRE_DATA_DIR": str(data), "REGISTRY_URL": f"http://127.0.0.1:{free_port()}"}
    log = (data / "adk.log").open("w")
    process = subprocess.Popen(
        [str(ADK), "web", "--host", "127.0.0.1", "--port", str(port), "agents"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (data / "adk.log").read_text()
            try:
                if httpx.get(f"{url}/list-apps", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (data / "adk.log").read_text()
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(15)


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

    texts = [part["text"] for event in events for part in event["content"]["parts"] if part.get("text")]
    report = next(json.loads(text) for text in texts if text.startswith("{"))
    assert texts[0].startswith("Scoping")
    assert report["scope"]["service"] == "checkout"
    assert {failure["source"] for failure in report["degraded"]} == {"prometheus-mcp", "loki-mcp", "controlplane-mcp"}
    assert "no OAuth client" in report["degraded"][0]["reason"]
    assert report["hypotheses"][0]["kind"] == "unknown"
    assert any(text.startswith("# Diagnostic report: checkout") for text in texts)
