"""Investigating a loaded scenario: its alerts to the router (or straight to triage), back its report.

    investigation = Investigation(tokens, router_url=..., direct=False, ...)
    report, seconds = await investigation(http, payloads)    # NoReport says why there is none

Each payload is sent as Alertmanager first notified it (`first_notification`: a group that
flapped and resolved was paged while it fired). Through the router, every payload is posted to
`POST /webhooks/alertmanager` (202 with the tasks it started) and each task read at
`GET /tasks/<id>` every `poll_interval` seconds until it ends; the report is the first
investigated payload's (the primary page), the others are waited for. Straight to triage
(`direct`), the first payload goes as an A2A data message to the agent at `triage_url`, else
where the registry says. Every call carries the caller's own token.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import anyio
import httpx

from common.errors import SreError
from common.scopes import AGENTS_INVOKE
from scenarios.alerts import first_notification

if TYPE_CHECKING:
    from a2a.client import Client
    from a2a.types import Task

    from common.auth import TokenSource

__all__ = ["DEFAULT_ROUTER_URL", "POLL_INTERVAL", "TERMINAL_STATES", "TRIAGE", "Investigation", "NoReport"]

logger = logging.getLogger(__name__)

DEFAULT_ROUTER_URL = "http://127.0.0.1:8720"
#: Seconds between two reads of a task that has not ended.
POLL_INTERVAL = 0.2
#: Task states after which nothing more happens; the last two wait for a person.
TERMINAL_STATES = frozenset({"completed", "failed", "canceled", "rejected", "input-required", "auth-required"})
TRIAGE = "triage"


class NoReport(Exception):
    """The investigation gave no report; the message says why and what to do."""


class Investigation:
    """Sends a scenario's payloads to the router (or triage) and waits for the first one's report."""

    def __init__(
        self,
        tokens: TokenSource,
        *,
        router_url: str,
        direct: bool,
        triage_url: str | None,
        registry_url: str,
        report_timeout: float,
        poll_interval: float,
    ) -> None:
        self.tokens = tokens
        self.router_url = router_url
        self.direct = direct
        self.triage_url = triage_url
        self.registry_url = registry_url
        self.report_timeout = report_timeout
        self.poll_interval = poll_interval

    async def unreachable(self, http: httpx.AsyncClient) -> str | None:
        """Why no scenario can be investigated (nothing listens where the requests go), or None."""
        if not self.direct:
            where, url, fix = "the router", self.router_url, "start the platform with `sre up`, or set ROUTER_URL"
        elif self.triage_url is not None:
            where, url, fix = "the triage agent", self.triage_url, "start it, or correct TRIAGE_URL"
        else:
            where, url, fix = "the registry", self.registry_url, "start the platform with `sre up`, or set REGISTRY_URL"
        try:
            await http.get(f"{url}/healthz", timeout=10.0)
        except httpx.TransportError as exc:
            return f"{where} at {url} could not be reached ({type(exc).__name__}): {fix}."
        return None

    async def __call__(self, http: httpx.AsyncClient, payloads: list[dict[str, Any]]) -> tuple[dict[str, Any], float]:
        """The first payload's report and the seconds it took."""
        notified = [first_notification(payload) for payload in payloads]
        if self.direct:
            return await self._direct(http, notified[0])
        return await self._via_router(http, notified)

    # --- through the router ---

    async def _via_router(
        self, http: httpx.AsyncClient, payloads: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], float]:
        auth = self.tokens.bearer_auth(self.router_url, [AGENTS_INVOKE])
        started = time.perf_counter()
        deadline = started + self.report_timeout
        task_ids: list[str] = []
        declined: list[str] = []
        for payload in payloads:
            task_id, reason = await self._post(http, auth, payload)
            if task_id is not None:
                task_ids.append(task_id)
            else:
                declined.append(f"{payload.get('groupLabels', {}).get('alertname', '?')}: {reason}")
        if not task_ids:
            raise NoReport(
                f"the router started no investigation ({'; '.join(declined)}); "
                "`--direct` hands the alerts to triage whatever the router decides"
            )
        # The primary page: the first group the router investigates (the first, unless it passed it over).
        body = await self._wait(http, auth, task_ids[0], deadline)
        latency = time.perf_counter() - started
        for task_id in task_ids[1:]:
            try:
                await self._wait(http, auth, task_id, deadline)
            except (NoReport, SreError) as exc:
                # Only the primary page is scored; a later group's trouble is worth a line, no more.
                logger.warning("A later alert group's investigation (task %s) did not end well: %s", task_id, exc)
        return self._report(body, task_ids[0]), latency

    async def _post(self, http: httpx.AsyncClient, auth: httpx.Auth, payload: dict[str, Any]) -> tuple[str | None, str]:
        """The id of the task the router started for `payload`, or None and why it started none."""
        url = f"{self.router_url}/webhooks/alertmanager"
        response = await self._send(http, "POST", url, auth, json=payload)
        if response.status_code not in (200, 202):
            raise NoReport(f"the router refused the alert payload: {self._refusal(response)}")
        body = _json(response)
        tasks = body.get("tasks") if isinstance(body, dict) else None
        if not isinstance(tasks, list) or not tasks:
            if isinstance(body, dict) and body.get("duplicate"):
                return None, "taken for a duplicate"
            if isinstance(body, dict) and body.get("ignored"):
                return None, f"ignored, {body['ignored']}"
            return None, f"an answer naming no task: {body!r:.200}"
        ours = [task for task in tasks if isinstance(task, dict) and task.get("agent") == TRIAGE] or tasks
        task_id = ours[0].get("id") if isinstance(ours[0], dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise NoReport(f"the router's answer names a task without an id: {ours[0]!r:.200}")
        return task_id, "started"

    async def _wait(self, http: httpx.AsyncClient, auth: httpx.Auth, task_id: str, deadline: float) -> dict[str, Any]:
        # The task is read from the router we posted to, never from a URL its answer names:
        # the token is for the router alone.
        url = f"{self.router_url}/tasks/{quote(task_id, safe='')}"
        while True:
            response = await self._send(http, "GET", url, auth)
            if response.status_code != 200:
                raise NoReport(f"reading task {task_id} failed: {self._refusal(response)}")
            body = _json(response)
            state = _state(body.get("state")) if isinstance(body, dict) else "unknown"
            if isinstance(body, dict) and state in TERMINAL_STATES:
                return body
            if time.perf_counter() + self.poll_interval > deadline:
                raise NoReport(
                    f"no report within {self.report_timeout:g} s (task {task_id} is still {state}); "
                    "raise --timeout if the investigation is only slow"
                )
            await anyio.sleep(self.poll_interval)

    @staticmethod
    def _report(body: dict[str, Any], task_id: str) -> dict[str, Any]:
        state = _state(body.get("state"))
        result = body.get("result")
        if state == "completed" and isinstance(result, dict):
            return result
        message = body.get("message")
        said = f": {message}" if message else ""
        if state == "completed":
            raise NoReport(f"task {task_id} completed without a report{said}")
        raise NoReport(f"the investigation (task {task_id}) ended {state}{said}")

    async def _send(
        self, http: httpx.AsyncClient, method: str, url: str, auth: httpx.Auth, **options: Any
    ) -> httpx.Response:
        try:
            return await http.request(method, url, auth=auth, **options)
        except httpx.TransportError as exc:
            raise NoReport(
                f"the router at {self.router_url} could not be reached ({type(exc).__name__}): "
                "start the platform with `sre up`, or set ROUTER_URL"
            ) from None

    @staticmethod
    def _refusal(response: httpx.Response) -> str:
        status = response.status_code
        if status == 401:
            return (
                "HTTP 401, the token was refused: check the `cli` client's credentials "
                "(SRE_DATA_DIR/credentials/cli.secret, `sre auth list-clients`) and that the router trusts the issuer"
            )
        if status == 403:
            return "HTTP 403, the token lacks a scope: the `cli` client needs agents:invoke"
        return f"HTTP {status}: {response.text[:300].strip()}"

    # --- straight to triage ---

    async def _direct(self, http: httpx.AsyncClient, payload: dict[str, Any]) -> tuple[dict[str, Any], float]:
        from a2a.utils.errors import A2AError

        from common.agents.client import agent_client, find_agent

        url = self.triage_url or await find_agent(TRIAGE, tokens=self.tokens, http=http, registry_url=self.registry_url)
        try:
            async with agent_client(url, self.tokens, streaming=False) as client:
                started = time.perf_counter()
                task = await self._final_task(client, payload, started + self.report_timeout)
                latency = time.perf_counter() - started
        except httpx.TransportError as exc:
            raise NoReport(f"the triage agent at {url} could not be reached ({type(exc).__name__})") from None
        except (A2AError, httpx.HTTPError) as exc:
            status = getattr(exc, "status_code", None)
            hint = (
                ": check the `cli` client's credentials (SRE_DATA_DIR/credentials/cli.secret)" if status == 401 else ""
            )
            raise NoReport(f"the triage agent at {url} failed: {exc}{hint}") from None
        return self._task_report(task), latency

    async def _final_task(self, client: Client, payload: dict[str, Any], deadline: float) -> Task:
        from a2a.types import GetTaskRequest

        from common.agents.client import data_message

        task: Task | None = None
        with anyio.move_on_after(max(0.0, deadline - time.perf_counter())):
            async for response in client.send_message(data_message(payload)):
                if response.HasField("task"):
                    task = response.task
                elif response.HasField("message"):
                    raise NoReport("the triage agent answered with a message, not a task")
            if task is None:
                raise NoReport("the triage agent's answer holds no task")
            while _task_state(task) not in TERMINAL_STATES:
                await anyio.sleep(self.poll_interval)
                task = await client.get_task(GetTaskRequest(id=task.id))
            return task
        state = _task_state(task) if task is not None else "not started"
        raise NoReport(f"no report within {self.report_timeout:g} s (the triage task is still {state})")

    @staticmethod
    def _task_report(task: Task) -> dict[str, Any]:
        from common.agents.client import result_of

        state = _task_state(task)
        data, _ = result_of(task)
        if state == "completed" and data is not None:
            return data
        if state == "completed":
            raise NoReport(f"the triage task {task.id} completed without a report")
        raise NoReport(f"the triage task {task.id} ended {state}")


def _task_state(task: Task) -> str:
    from a2a.types import TaskState

    return _state(TaskState.Name(task.status.state))


def _state(value: object) -> str:
    """`completed` of `completed`, `TASK_STATE_COMPLETED` or `TaskState.completed`; `input-required` alike."""
    if not isinstance(value, str):
        return "unknown"
    text = value.rpartition(".")[2].lower().removeprefix("task_state_")
    return text.replace("_", "-")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
