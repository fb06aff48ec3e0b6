"""`sre up`, what `make up` runs: every component starts, they trust each other, the demo's alert
ends in a printed report, `sre scenario run` works against it, and Ctrl-C stops them all."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from backends import free_port
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from cli.demo import DEFAULT_DEMO
from cli.up import PORTS, alertmanager_config

ROOT = Path(__file__).resolve().parents[2]
#: From `sre up` to the demo's report: start-up, the rule's `for: 1m`, Alertmanager's group_wait, triage.
REPORT_DEADLINE = 240.0
_OWN_SETTINGS = ("PROMETHEUS", "SRE_", "REGISTRY", "CONTROLPLANE", "ROUTER", "TRIAGE", "LOKI", "ALERTMANAGER")


def test_alertmanager_config_passes_amtool_and_sends_every_alert_to_the_router_with_a_token(tmp_path: Path) -> None:
    if shutil.which("amtool") is None:
        pytest.skip("amtool is not installed: apt-get install prometheus-alertmanager")
    secret = tmp_path / "alertmanager.secret"
    secret.write_text("s3cret")
    config = alertmanager_config("http://127.0.0.1:8720", "http://127.0.0.1:8700", secret)
    path = tmp_path / "alertmanager.yml"
    path.write_text(json.dumps(config))
    checked = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert config["route"]["group_by"] == ["service", "namespace"]
    (receiver,) = config["receivers"]
    (webhook,) = receiver["webhook_configs"]
    assert webhook["url"] == "http://127.0.0.1:8720/webhooks/alertmanager"
    assert webhook["http_config"]["oauth2"] == {
        "client_id": "alertmanager",
        "client_secret_file": str(secret),
        "token_url": "http://127.0.0.1:8700/oauth/token",
        "scopes": ["agents:invoke"],
        "endpoint_params": {"resource": "http://127.0.0.1:8720"},
    }


class _Up:
    """`sre up` running on free ports in a data directory of its own, its stdout and stderr kept apart."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.ports = {name: free_port() for name in PORTS}
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(_OWN_SETTINGS)},
            "SRE_DATA_DIR": str(tmp_path / "data"),
            **{f"SRE_UP_{name.upper().replace('-', '_')}_PORT": str(port) for name, port in self.ports.items()},
        }
        self.stdout = tmp_path / "up.out"
        self.stderr = tmp_path / "up.err"
        self.started = time.monotonic()
        with self.stdout.open("w") as out, self.stderr.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "up", *args], cwd=ROOT, env=self.env, stdout=out, stderr=err
            )

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def output(self) -> str:
        return f"--- stdout\n{self.stdout.read_text()}\n--- stderr\n{self.stderr.read_text()}"

    def wait_for(self, text: str, *, stdout: bool = False, deadline: float = 90.0) -> None:
        until = self.started + deadline
        while text not in (self.stdout if stdout else self.stderr).read_text():
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < until, f"{text!r} not seen within {deadline:g} s\n{self.output()}"
            time.sleep(0.2)

    def sre(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A `sre` command pointed at this federation, as a user next to `sre up` runs it."""
        federation = {
            "REGISTRY_URL": self.url("registry"),
            "CONTROLPLANE_URL": self.url("controlplane"),
            "PROMETHEUS_URL": self.url("prometheus"),
            "ROUTER_URL": self.url("router"),
        }
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            cwd=ROOT,
            env={**self.env, **federation},
            capture_output=True,
            text=True,
            check=False,
        )
        assert not check or done.returncode == 0, done.stdout + done.stderr
        return done

    def token_for(self, audience: str) -> str:
        return self.sre("auth", "token", "--audience", audience).stdout.strip()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        self.process.wait(60)


@contextmanager
def _running_up(tmp_path: Path, *args: str) -> Iterator[_Up]:
    up = _Up(tmp_path, *args)
    try:
        yield up
    finally:
        up.stop()
    output = up.output()
    assert up.process.returncode == 0, output
    assert "sre up: stopped." in output
    for port in up.ports.values():
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)


async def _call(url: str, bearer: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {bearer}"}) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        result = await client.call_tool(tool, arguments)
    assert result.structured_content is not None, result.content
    return result.structured_content


def _poll(what: str, check: Any, deadline: float) -> Any:
    until = time.monotonic() + deadline
    while not (found := check()):
        assert time.monotonic() < until, f"{what} not seen within {deadline:g} s"
        time.sleep(1.0)
    return found


@pytest.mark.integration
def test_up_plays_the_demo_from_a_real_alert_to_the_printed_report_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    with _running_up(tmp_path) as up:
        up.wait_for("SRE Federation is up", deadline=300.0)
        mcp_url = f"{up.url('prometheus-mcp')}/mcp"
        loki_url = up.url("loki-mcp")
        controlplane_url = up.url("controlplane")
        controlplane_mcp_url = f"{up.url('controlplane-mcp')}/mcp"

        # The agents serve their cards and registered themselves, so tokens can be issued for them.
        for agent in ("triage", "router"):
            card = httpx.get(f"{up.url(agent)}/.well-known/agent-card.json").json()
            assert card["name"] == agent
            assert card["supportedInterfaces"][0]["url"] == up.url(agent)
            assert up.token_for(up.url(agent))
        registry_token = up.token_for(up.url("registry"))
        agents = httpx.get(f"{up.url('registry')}/agents", headers={"Authorization": f"Bearer {registry_token}"})
        registered = {agent["name"]: agent["url"] for agent in agents.json()["agents"]}
        assert registered == {"triage": up.url("triage"), "router": up.url("router")}
        # Alertmanager sends to the router's webhook with a token of its own client.
        status = httpx.get(f"{up.url('alertmanager')}/api/v2/status").json()
        config = status["config"]["original"]
        assert f"{up.url('router')}/webhooks/alertmanager" in config
        assert "client_id: alertmanager" in config
        assert "alertmanager.secret" in config

        token = up.token_for(mcp_url)
        loki_token = up.token_for(f"{loki_url}/mcp")
        assert httpx.post(mcp_url, json={}).status_code == 401
        answer = anyio.run(_call, mcp_url, token, "prometheus_query", {"query": "vector(42)"})
        assert float(answer["samples"][0]["value"]) == 42.0

        # The embedded log store takes a push with the same token (the cli client has logs:write).
        pushed = httpx.post(
            f"{loki_url}/loki/api/v1/push",
            json={"streams": [{"stream": {"service": "up-test"}, "values": [[str(time.time_ns()), "hello from up"]]}]},
            headers={"Authorization": f"Bearer {loki_token}"},
        )
        assert pushed.status_code == 204, pushed.text
        logs = anyio.run(_call, f"{loki_url}/mcp", loki_token, "loki_query_logs", {"query": '{service="up-test"}'})
        assert [line["line"] for line in logs["lines"]] == ["hello from up"]

        # The approval loop: the cli client asks through controlplane-mcp, the approver decides.
        controlplane_token = up.token_for(controlplane_url)
        incident = httpx.post(
            f"{controlplane_url}/api/v1/incidents",
            json={"title": "up test"},
            headers={"Authorization": f"Bearer {controlplane_token}"},
        ).json()
        cp_token = up.token_for(controlplane_mcp_url)
        ack = {"incident_id": incident["id"]}
        pending = anyio.run(_call, controlplane_mcp_url, cp_token, "controlplane_acknowledge_incident", ack)
        approval_id = pending["approval"]["id"]
        assert approval_id in up.sre("controlplane", "approvals").stdout
        assert "approved" in up.sre("controlplane", "approve", approval_id, "--reason", "test").stdout
        done = anyio.run(
            _call,
            controlplane_mcp_url,
            cp_token,
            "controlplane_acknowledge_incident",
            {**ack, "approval_id": approval_id},
        )
        assert done["incident"]["status"] == "acknowledged"

        # The demo: its alert fires in Prometheus (the bundled rules), reaches Alertmanager, which
        # posts it to the router; triage's report is printed on stdout with its URL.
        def firing_in_prometheus() -> bool:
            alerts = httpx.get(f"{up.url('prometheus')}/api/v1/alerts").json()["data"]["alerts"]
            return any(
                a["labels"]["alertname"] == "HighErrorRate"
                and a["labels"].get("service") == "checkout"
                and re.fullmatch(r"prod-[0-9a-f]{6}", a["labels"].get("namespace", ""))
                and a["state"] == "firing"
                for a in alerts
            )

        _poll("HighErrorRate firing in Prometheus", firing_in_prometheus, REPORT_DEADLINE)

        def in_alertmanager() -> bool:
            alerts = httpx.get(f"{up.url('alertmanager')}/api/v2/alerts").json()
            return any(
                a["labels"]["alertname"] == "HighErrorRate" and [r["name"] for r in a["receivers"]] == ["router"]
                for a in alerts
            )

        _poll("HighErrorRate in Alertmanager", in_alertmanager, 30.0)
        up.wait_for("\nReport: ", stdout=True, deadline=REPORT_DEADLINE)
        took = time.monotonic() - up.started
        printed = up.stdout.read_text()
        # In namespaces of its own (prod-<run id>): a second `sre up` on the same data must not mix with it.
        loaded_line = rf"^{DEFAULT_DEMO}-([0-9a-f]{{6}}): loaded into prometheus, loki, controlplane"
        loaded = re.search(loaded_line, printed, re.MULTILINE)
        assert loaded is not None, printed
        match = re.search(r"^Report: (http://\S+/api/v1/analyses/(\S+))$", printed, re.MULTILINE)
        assert match is not None, printed
        assert match.group(1).startswith(f"{controlplane_url}/api/v1/analyses/")
        analysis = httpx.get(match.group(1), headers={"Authorization": f"Bearer {controlplane_token}"}).json()
        assert analysis["markdown"].strip() in printed
        assert "# Diagnostic report: checkout" in printed
        assert "**Trigger:** HighErrorRate" in printed
        assert "alert(s) firing on checkout: HighErrorRate since" in printed  # Prometheus' own view, as evidence
        report = analysis["report"]
        assert (report["scope"]["service"], report["scope"]["namespace"]) == ("checkout", f"prod-{loaded.group(1)}")
        assert report["trigger"]["kind"] == "alert"
        assert report["hypotheses"], report
        # The live samples keep arriving: the series is fresh (the history alone ends at the load).
        fresh = httpx.get(
            f"{up.url('prometheus')}/api/v1/query",
            params={"query": 'time() - timestamp(http_requests_total{service="checkout",code="500"})'},
        ).json()["data"]["result"]
        assert float(fresh[0]["value"][1]) < 60
        print(f"sre up to the demo's report: {took:.0f} s")
