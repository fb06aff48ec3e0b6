"""The alert rules `sre up`'s Prometheus loads: valid, short `for:`, and on a real Prometheus every
alert a bundled scenario lists fires on that scenario's data, labelled with its service and namespace.

The rules keep a `service` label, so they serve the bundled scenarios written in that shape; the ones
written in real clusters' shapes page as real rules would (test_real_alert_rules.py)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml
from support.backends import PROMTOOL_BINARY, PrometheusProcess
from support.eventually import eventually
from support.scenario_shapes import in_service_label_shape

from cli.up import ALERT_RULES
from scenarios import BUNDLED_DIR, Scenario, load_scenarios
from scenarios.isolation import isolated
from scenarios.load import Targets, load_scenario_into
from scenarios.spec import parse_duration

#: A scenario's alert that its data puts right at the rule's threshold: it pages, then stops, then
#: pages again. The checkout 5xx ratio in payments-config-timeout moves between 4.9% and 5.3%.
AT_THE_THRESHOLD = {("payments-config-timeout", "HighErrorRate", "checkout")}
_ALERTS_DEADLINE = 30.0


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERT_RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _bundled() -> list[Scenario]:
    return [scenario for scenario in load_scenarios([BUNDLED_DIR]) if in_service_label_shape(scenario)]


def test_promtool_accepts_the_rules() -> None:
    done = subprocess.run(
        [PROMTOOL_BINARY, "check", "rules", str(ALERT_RULES)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_of_the_bundled_scenarios_has_a_rule_paging_within_two_minutes_with_a_summary() -> None:
    rules = {rule["alert"]: rule for rule in _rules() if "alert" in rule}
    used = {alert.alertname for scenario in _bundled() for alert in scenario.alerts}
    assert used <= set(rules), f"no rule for {sorted(used - set(rules))}"
    for name, rule in rules.items():
        assert 60 <= parse_duration(rule["for"]) <= 120, f"{name}: for {rule['for']}"
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["annotations"]["summary"], name
        assert "service" in rule["expr"], f"{name} does not keep the service label"


@pytest.mark.integration
def test_each_bundled_scenario_fires_its_alerts_in_a_real_prometheus(tmp_path: Path) -> None:
    # `for:` is checked above; waiting it out for real would take minutes (`sre up`'s test does, once).
    document = yaml.safe_load(ALERT_RULES.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            rule["for"] = "0s"
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(document))
    # Side by side in one Prometheus, each scenario in namespaces of its own.
    scenarios = {f"{index:06x}": scenario for index, scenario in enumerate(_bundled())}
    private = {run_id: isolated(scenario, run_id) for run_id, scenario in scenarios.items()}
    with PrometheusProcess(
        tmp_path / "prometheus", None, [rules], remote_write_receiver=True, out_of_order_window="12h"
    ) as prometheus:

        async def load() -> None:
            now = datetime.now(UTC).replace(microsecond=0)
            async with httpx.AsyncClient(timeout=60.0) as http:
                targets = Targets(http, prometheus_write_url=f"{prometheus.url}/api/v1/write")
                for scenario in private.values():
                    report = await load_scenario_into(scenario, now, targets)
                    assert report.counts.get("prometheus"), (scenario.name, report.failed, report.skipped)

        anyio.run(load)
        expected = {
            (scenarios[run_id].name, alert.alertname, alert.labels.get("service"), alert.labels.get("namespace"))
            for run_id, scenario in private.items()
            for alert in scenario.alerts
            if alert.ends_at is None
            and (scenarios[run_id].name, alert.alertname, alert.labels.get("service")) not in AT_THE_THRESHOLD
        }
        namespaces = {
            service.namespace: scenarios[run_id].name for run_id, s in private.items() for service in s.services
        }

        def firing_now() -> list[dict[str, Any]]:
            alerts = httpx.get(f"{prometheus.url}/api/v1/alerts").json()["data"]["alerts"]
            return [alert for alert in alerts if alert["state"] == "firing"]

        def fired(firing: list[dict[str, Any]]) -> set[tuple[str, str, str | None, str | None]]:
            return {
                (
                    namespaces.get(a["labels"].get("namespace"), "?"),
                    a["labels"]["alertname"],
                    a["labels"].get("service"),
                    a["labels"].get("namespace"),
                )
                for a in firing
            }

        def baseline(firing: list[dict[str, Any]]) -> list[dict[str, Any]]:
            # The noisy baseline's latency blip ended 40 minutes ago: nothing pages.
            return [a for a in firing if namespaces.get(a["labels"].get("namespace")) == "noisy-baseline"]

        # Loading writes series one after another, so rules see half-written data for a moment: poll.
        firing = eventually(
            lambda: now if expected <= fired(now := firing_now()) and not baseline(now) else None,
            timeout=_ALERTS_DEADLINE,
            interval=0.5,
            what=lambda: f"every expected alert (missing: {expected - fired(firing_now())}) and no noisy-baseline one",
        )
    for alert in firing:
        assert alert["labels"].get("service"), alert
        assert alert["labels"].get("namespace"), alert
        assert alert["annotations"].get("summary"), alert
