"""The `sre` command as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.authorization_server import AuthorizationServer
from support.backends import PrometheusProcess, free_port

ROOT = Path(__file__).resolve().parents[2]


def sre(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS", "LOKI", "CONTROLPLANE", "SRE_"))}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env={**clean, **env},
    )


def test_help_lists_the_commands_and_an_example() -> None:
    result = sre("--help")
    assert result.returncode == 0
    for command in ("serve", "stdio", "doctor", "up"):
        assert command in result.stdout
    assert "sre stdio prometheus-mcp" in result.stdout


def test_serve_help_lists_the_components() -> None:
    result = sre("serve", "--help")
    assert result.returncode == 0
    assert "prometheus-mcp" in result.stdout
    assert "port 8701" in result.stdout


def test_an_unknown_component_is_refused_with_the_choices() -> None:
    result = sre("serve", "nope")
    assert result.returncode == 2
    assert "prometheus-mcp" in result.stderr


@pytest.mark.integration
def test_doctor_reports_a_line_per_check_and_succeeds_when_the_backend_answers(prometheus: PrometheusProcess) -> None:
    result = sre("doctor", PROMETHEUS_URL=prometheus.url, SRE_AUTH_DISABLED="true")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[ok  ] prometheus-mcp configuration: 1 backend(s)" in result.stdout
    assert f"[ok  ] prometheus backend 'default' ({prometheus.url}): answers queries" in result.stdout
    assert "[ok  ] loki-mcp configuration: no LOKI_URL: embedded log store at .sre/logs.db" in result.stdout
    # No control plane runs here: a warning, not a failure.
    assert "[warn] control plane (http://127.0.0.1:8710): " in result.stdout
    for component in ("registry", "controlplane", "triage", "router"):
        assert f"[ok  ] {component} configuration: valid" in result.stdout
    assert "8 of 9 checks passed, 1 warning(s)" in result.stdout


def test_doctor_names_the_component_whose_settings_are_invalid_and_checks_the_rest() -> None:
    result = sre("doctor", TRIAGE_LOOKBACK_SECOND="600", SRE_AUTH_DISABLED="true")
    assert result.returncode == 1
    assert "[FAIL] triage configuration: Unknown triage setting(s): TRIAGE_LOOKBACK_SECOND." in result.stdout
    assert "[ok  ] router configuration: valid" in result.stdout


def test_doctor_fails_naming_the_backend_that_does_not_answer() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = sre("doctor", PROMETHEUS_URL=url)
    assert result.returncode == 1
    assert (
        f"[FAIL] prometheus backend 'default' ({url}): Prometheus backend 'default' at {url} could not be reached"
        in (result.stdout)
    )
    # The issuer is not required yet: it is a warning, not a failure.
    assert "[warn] token issuer JWKS (http://127.0.0.1:8700/jwks.json)" in result.stdout


def test_doctor_names_a_loki_backend_that_does_not_answer() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = sre("doctor", LOKI_URL=url, LOKI_MCP_TENANT="team-a")
    assert result.returncode == 1
    assert "[ok  ] loki-mcp configuration: 1 Loki backend(s)" in result.stdout
    assert f"[FAIL] loki backend 'default' ({url}): Loki backend 'default' at {url} could not be reached" in (
        result.stdout
    )


def test_a_configuration_error_exits_2_with_the_key_named() -> None:
    result = sre("serve", "prometheus-mcp", PROMETHEUS_MCP_MAX_SERIES="lots")
    assert result.returncode == 2
    assert "sre: configuration error:" in result.stderr
    assert "PROMETHEUS_MCP_MAX_SERIES" in result.stderr


@pytest.mark.integration
def test_doctor_checks_that_the_components_client_gets_a_token(prometheus: PrometheusProcess, tmp_path: Path) -> None:
    issuer: list[str] = []

    async def known_resources() -> set[str]:
        return set(issuer)  # the registry itself, as the real one answers

    with AuthorizationServer(tmp_path, known_resources=known_resources) as server:
        issuer.append(server.issuer)
        secret = server.clients.add_client("prometheus-mcp", ["registry:write"])
        env = {"PROMETHEUS_URL": prometheus.url, "REGISTRY_URL": server.issuer, "SRE_CLIENT_ID": "prometheus-mcp"}
        good = sre("doctor", **env, SRE_CLIENT_SECRET=secret)
        bad = sre("doctor", **env, SRE_CLIENT_SECRET="not-the-secret-7f3a")
    assert good.returncode == 0, good.stdout
    assert f"[ok  ] client 'prometheus-mcp' gets a token for the registry ({server.issuer}/oauth/token)" in good.stdout
    assert bad.returncode == 1
    assert "[FAIL] client 'prometheus-mcp' gets a token" in bad.stdout
    assert "invalid_client" in bad.stdout
    assert "not-the-secret-7f3a" not in bad.stdout + bad.stderr
