"""`sre up`'s demo: one incident played into the running federation, from its alert to its report.

1. The scenario (default the bundled `checkout-bad-deploy-errors`) is loaded as `sre scenario
   load` loads it (client `scenario`), its history ending now, in namespaces of its own
   (`prod-<run id>`, `scenarios.isolation`): a second `sre up` on the same data directory
   loads the incident again at another time, and the two histories must not mix.
2. Its live samples keep arriving by remote write, every step of the scenario, so the symptom
   goes on: Prometheus' bundled alert rules fire, Alertmanager posts the alert to the router's
   webhook, and the router has triage investigate.
3. The control plane's analyses are read every 2 s (client `cli`) until a new diagnostic report
   about one of the scenario's alerted services appears; its Markdown and its URL go to stdout.

Progress goes to stderr, with the alerts' states in Prometheus as they change. Nothing here
stops the federation: a failed load or no report within `REPORT_TIMEOUT` is said, and the
platform keeps running. Live samples stop when the demo is cancelled (Ctrl-C).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx

from cli.scenario import CALLER, CLIENT, Backends, load_and_report, load_targets, scenario_paths, token_sources
from common.errors import BackendError, ConfigError, SreError
from common.settings import SettingsSource
from common.task_groups import task_group

if TYPE_CHECKING:
    # `sre`'s parser reads DEFAULT_DEMO: what only playing needs is imported when playing.
    from common.auth import TokenSource
    from scenarios import Scenario
    from scenarios.load import Targets
    from scenarios.spec import Alert

__all__ = ["DEFAULT_DEMO", "POLL_INTERVAL", "REPORT_TIMEOUT", "Demo"]

logger = logging.getLogger(__name__)

DEFAULT_DEMO = "checkout-bad-deploy-errors"
#: Seconds to wait for the report once the scenario is loaded.
REPORT_TIMEOUT = 600.0
#: Seconds between two reads of the control plane's analyses (and of Prometheus' alerts).
POLL_INTERVAL = 2.0
_HTTP_TIMEOUT = 10.0
#: An alert in Prometheus: its name, service and namespace.
_AlertKey = tuple[str, str | None, str | None]
#: Newest analyses read at each poll; more appear between two polls only under a flood of alerts.
_PAGE = 20


def _firing(scenario: Scenario) -> list[Alert]:
    """The scenario's alerts that have not ended by its `now`: what pages."""
    return [alert for alert in scenario.alerts if alert.ends_at is None]


def _where(labels: Mapping[str, str]) -> str:
    return "/".join(labels[name] for name in ("namespace", "service") if labels.get(name))


def _say(text: str) -> None:
    print(f"sre up: demo: {text}", file=sys.stderr, flush=True)


class Demo:
    """Plays `scenario` into the federation at `urls` (`sre up`'s), `source` naming its URLs and data dir."""

    def __init__(
        self,
        scenario: Scenario,
        source: SettingsSource,
        urls: Mapping[str, str],
        logs: Path,
        *,
        report_timeout: float = REPORT_TIMEOUT,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        from scenarios.isolation import isolated, new_run_id

        self.scenario = isolated(scenario, new_run_id())
        self.source = source
        self.urls = dict(urls)
        self.logs = logs
        self.report_timeout = report_timeout
        self.poll_interval = poll_interval
        #: The (service, namespace) of each alert still firing: whose reports answer this demo.
        self.subjects = {(a.labels.get("service"), a.labels.get("namespace")) for a in _firing(self.scenario)}

    @staticmethod
    def scenario_named(name_or_file: str) -> Scenario:
        """The one scenario `--demo` names (a bundled scenario's name or a file); ConfigError otherwise."""
        from scenarios import load_scenarios

        try:
            scenarios = load_scenarios(scenario_paths([name_or_file]))
        except SreError as exc:
            raise ConfigError(f"--demo {name_or_file}: {exc}") from None
        if len(scenarios) != 1:
            raise ConfigError(f"--demo {name_or_file} holds {len(scenarios)} scenarios; name one.")
        if not _firing(scenarios[0]):
            raise ConfigError(f"--demo {name_or_file}: none of the scenario's alerts still fires; nothing would page.")
        return scenarios[0]

    async def play(self) -> None:
        """Load, stream, wait for the report and print it; then stream on until cancelled."""
        try:
            await self._play()
        except SreError as exc:
            _say(f"{exc} The federation keeps running.")
        except Exception:
            logger.exception("The demo failed")
            _say("the demo failed unexpectedly (the trace is above); the federation keeps running.")

    async def _play(self) -> None:
        backends = Backends.of(self.source, self.urls["loki-mcp"])
        async with (
            token_sources(self.source, CLIENT, CALLER) as (loader, caller),
            load_targets(backends, loader) as targets,
            httpx.AsyncClient(timeout=_HTTP_TIMEOUT) as http,
        ):
            analyses = _Analyses(http, backends.controlplane, caller)
            seen = await analyses.newest_ids()
            now = datetime.now(UTC).replace(microsecond=0)
            namespaces = ", ".join(sorted({service.namespace for service in self.scenario.services}))
            _say(f"loading the scenario {self.scenario.name} ({self.scenario.description}) into {namespaces}")
            if await load_and_report([self.scenario], now, backends, self.source) != 0:
                _say("the scenario did not load (see above); the federation keeps running.")
                return
            loaded = time.monotonic()
            alerts = ", ".join(sorted({f"{a.alertname} ({_where(a.labels)})" for a in _firing(self.scenario)}))
            _say(
                f"live samples now arrive every {self.scenario.step} s; waiting for {alerts} to fire "
                "(a minute or two: the rules' `for:`), reach the router through Alertmanager, and for triage's report"
            )
            async with task_group() as tasks:
                tasks.start_soon(self._stream, now, targets)
                analysis = None
                with anyio.move_on_after(self.report_timeout):
                    analysis = await self._report(http, analyses, seen)
                if analysis is None:
                    _say(self._no_report())
                    return  # the samples keep arriving: the alert may still come
                _say(f"the report came {time.monotonic() - loaded:.0f} s after the scenario was loaded")
                print(str(analysis.get("markdown") or analysis.get("title") or "").rstrip(), flush=True)
                print(f"\nReport: {analyses.url(analysis['id'])}", flush=True)
                _say("the federation keeps running and the scenario's samples keep arriving; Ctrl-C stops both")

    def _no_report(self) -> str:
        return (
            f"no report within {self.report_timeout / 60:g} minutes; the federation keeps running. Look at "
            f"Prometheus' alerts ({self.urls['prometheus']}/alerts), Alertmanager ({self.urls['alertmanager']}) "
            f"and the logs in {self.logs} (alertmanager.log, router.log, triage.log)."
        )

    async def _stream(self, now: datetime, targets: Targets) -> None:
        from scenarios.load import stream_live

        try:
            await stream_live(self.scenario, now, targets, interval=float(self.scenario.step), stop_event=anyio.Event())
        except BackendError as exc:
            _say(f"live samples stopped: {exc}")

    async def _report(self, http: httpx.AsyncClient, analyses: _Analyses, seen: set[str]) -> dict[str, Any]:
        states: dict[_AlertKey, str] = {}
        failed = False
        while True:
            await self._show_alerts(http, states)
            try:
                newest = await analyses.newest()
            except BackendError as exc:
                # The control plane may be busy for a moment; the report can still come.
                if not failed:
                    _say(f"{exc} Trying again every {self.poll_interval:g} s.")
                failed = True
                newest = []
            for analysis in newest:
                if analysis["id"] in seen:
                    continue
                seen.add(analysis["id"])
                if self._answers(analysis):
                    return analysis
            await anyio.sleep(self.poll_interval)

    def _answers(self, analysis: dict[str, Any]) -> bool:
        report = analysis.get("report")
        scope = report.get("scope") if isinstance(report, dict) else None
        if not isinstance(scope, dict):
            return False
        return (scope.get("service"), scope.get("namespace")) in self.subjects

    async def _show_alerts(self, http: httpx.AsyncClient, states: dict[_AlertKey, str]) -> None:
        """Say when one of the scenario's services' alerts changes state in Prometheus."""
        try:
            response = await http.get(f"{self.urls['prometheus']}/api/v1/alerts")
            alerts = response.json()["data"]["alerts"] if response.status_code == 200 else []
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return  # progress only: the report is what counts
        for alert in alerts:
            labels = alert.get("labels", {})
            subject = (labels.get("service"), labels.get("namespace"))
            key = (str(labels.get("alertname")), *subject)
            state = str(alert.get("state"))
            if subject not in self.subjects or states.get(key) == state:
                continue
            states[key] = state
            where = _where(labels)
            then = "; Alertmanager posts it to the router" if state == "firing" else ""
            _say(f"Prometheus: {key[0]} {state} for {where}{then}")


class _Analyses:
    """The control plane's diagnostic reports, newest first, read with the `cli` client's token."""

    def __init__(self, http: httpx.AsyncClient, controlplane_url: str, tokens: TokenSource) -> None:
        self._http = http
        self._base = f"{controlplane_url}/api/v1/analyses"
        self._auth = tokens.bearer_auth(controlplane_url)

    def url(self, analysis_id: str) -> str:
        return f"{self._base}/{analysis_id}"

    async def newest(self) -> list[dict[str, Any]]:
        try:
            response = await self._http.get(self._base, params={"kind": "diagnostic", "limit": _PAGE}, auth=self._auth)
        except httpx.TransportError as exc:
            raise BackendError(
                f"The control plane at {self._base} could not be reached ({type(exc).__name__}).",
                backend="controlplane",
            ) from None
        if response.status_code != 200:
            raise BackendError(
                f"The control plane refused to list analyses (HTTP {response.status_code}): {response.text[:200]}",
                backend="controlplane",
                status_code=response.status_code,
            )
        items = response.json().get("items", [])
        return [item for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)]

    async def newest_ids(self) -> set[str]:
        return {item["id"] for item in await self.newest()}
