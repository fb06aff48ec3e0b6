"""The scenarios written in real clusters' shapes page as real rules would page on their own data.

sre up's rules (test_alert_rules.py) keep a `service` label and serve the scenarios written in that
shape. The others' alerts carry the labels kube-prometheus-stack's, the exporters' or a user's rule
gives them (real-alert-rules.yml): on a real Prometheus holding the scenario's data, such a rule's
expression holds at the alert's `starts_at` and its `for` before, with every label the alert carries.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml
from support.backends import PROMTOOL_BINARY, PrometheusProcess
from support.scenario_shapes import in_service_label_shape

from scenarios import BUNDLED_DIR, CANDIDATES_DIR, Scenario, load_scenarios
from scenarios.isolation import isolated
from scenarios.load import Targets, load_scenario_into
from scenarios.spec import parse_duration

REAL_RULES = Path(__file__).with_name("real-alert-rules.yml")
#: Pages no real rule makes, with the reason; such a scenario stays a candidate.
UNREAL = {
    ("node-disk-filling-evictions", "NodeFilesystemSpaceFillingUp"): "node-mixin's rule waits an hour (for: 1h) and "
    "the filesystem begins filling 24 minutes before the page; the scenario needs a longer history",
}


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(REAL_RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _real_shaped() -> list[Scenario]:
    bundled = [s for s in load_scenarios([BUNDLED_DIR]) if not in_service_label_shape(s)]
    return [*bundled, *load_scenarios([CANDIDATES_DIR])]


def test_promtool_accepts_the_real_rules() -> None:
    done = subprocess.run(
        [PROMTOOL_BINARY, "check", "rules", str(REAL_RULES)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_of_a_real_shaped_scenario_has_a_real_rule() -> None:
    names = {rule["alert"] for rule in _rules()}
    for scenario in _real_shaped():
        for alert in scenario.alerts:
            assert alert.alertname in names, (scenario.name, alert.alertname)


@pytest.mark.integration
def test_each_real_shaped_scenario_alert_is_what_a_real_rule_makes_of_its_data(tmp_path: Path) -> None:
    rules: dict[str, list[dict[str, Any]]] = {}
    for rule in _rules():
        rules.setdefault(rule["alert"], []).append(rule)
    scenarios = _real_shaped()
    copies = [isolated(scenario, f"{index:06x}") for index, scenario in enumerate(scenarios)]
    now = datetime.now(UTC).replace(microsecond=0)
    missing: list[str] = []
    with PrometheusProcess(
        tmp_path / "prometheus", None, remote_write_receiver=True, out_of_order_window="12h"
    ) as prometheus:

        async def check() -> None:
            async with httpx.AsyncClient(timeout=120.0) as http:
                targets = Targets(http, prometheus_write_url=f"{prometheus.url}/api/v1/write")
                for copy in copies:
                    report = await load_scenario_into(copy, now, targets)
                    assert not report.failed, (copy.name, report.failed)

                async def holds(expr: str, at: datetime, labels: dict[str, str]) -> bool:
                    answer = await http.get(
                        f"{prometheus.url}/api/v1/query", params={"query": expr, "time": at.timestamp()}
                    )
                    return any(labels.items() <= result["metric"].items() for result in answer.json()["data"]["result"])

                for scenario, copy in zip(scenarios, copies, strict=True):
                    for alert in copy.alerts:
                        if (scenario.name, alert.alertname) in UNREAL:
                            continue
                        labels = {k: v for k, v in alert.labels.items() if k != "severity"}
                        starts = now + timedelta(seconds=alert.starts_at)
                        fired = False
                        for rule in rules[alert.alertname]:
                            pending = starts - timedelta(seconds=parse_duration(rule.get("for", "0s")))
                            if await holds(rule["expr"], pending, labels) and await holds(rule["expr"], starts, labels):
                                fired = True
                                break
                        if not fired:
                            missing.append(f"{copy.name}: {alert.alertname} {labels}")

        anyio.run(check)
    assert missing == []
