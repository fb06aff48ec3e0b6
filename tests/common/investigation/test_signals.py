"""The signal catalogue: loads, renders escaped queries a real Prometheus parses, refuses bad files."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from support.backends import PrometheusProcess

from common.errors import ConfigError
from common.investigation.signals import load_catalogue


def test_the_default_catalogue_covers_every_kind_of_signal() -> None:
    signals = load_catalogue()
    assert {signal.kind for signal in signals} == {"symptom", "traffic", "saturation", "availability"}
    assert {"error_ratio", "latency_p99", "request_rate", "memory", "up"} <= {signal.name for signal in signals}


def test_a_name_cannot_change_the_query() -> None:
    (errors,) = [s for s in load_catalogue() if s.name == "request_rate"]
    hostile = 'x"} or vector(1) or {a="'
    query = errors.render(hostile, "prod")
    assert query == ('sum(rate(http_requests_total{service="x\\"} or vector(1) or {a=\\"",namespace="prod"}[5m]))')
    assert errors.render("checkout", None) == 'sum(rate(http_requests_total{service="checkout"}[5m]))'


@pytest.mark.integration
def test_prometheus_parses_every_default_signal(prometheus: PrometheusProcess) -> None:
    for signal in load_catalogue():
        query = signal.render("checkout", "prod")
        response = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": query}, timeout=10)
        assert response.status_code == 200, (signal.name, response.text)
        assert response.json()["status"] == "success"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[[signal]]\nname = 'x'\nkind = 'symptom'\nquery = 'up{job=\"$job\"}'\n", "unknown placeholder(s) $job"),
        ("[[signal]]\nname = 'x'\nkind = 'mood'\nquery = 'up'\n", "signal.0.kind"),
        ("[[signal]]\nname = 'x'\nkind = 'symptom'\nquery = 'up'\nextra = 1\n", "signal.0.extra"),
        ("signal = [", "not valid TOML"),
        ("", "signal: Field required"),
        (
            "[[signal]]\nname = 'x'\nkind = 'symptom'\nquery = 'up'\n[[signal]]\nname = 'x'\nkind = 'traffic'\n"
            "query = 'up'\n",
            "names x more than once",
        ),
    ],
)
def test_a_bad_catalogue_is_a_configuration_error_naming_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "signals.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_catalogue(path)
    assert problem in str(refused.value)
    assert str(path) in str(refused.value)


def test_a_catalogue_that_cannot_be_read_names_the_setting_that_pointed_at_it(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as refused:
        load_catalogue(missing, setting="POSTMORTEM_SIGNALS_FILE")
    assert f"{missing} (POSTMORTEM_SIGNALS_FILE)" in str(refused.value)
    assert "TRIAGE" not in str(refused.value)
