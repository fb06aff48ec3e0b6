"""The router's REST facade: start work without speaking A2A, and follow it.

    POST /execute                 {"user_query", "context"} -> the agent whose skill fits best
    POST /diagnostics/deployment  a deployment event       -> triage
    POST /diagnostics/alerts      {"alerts": [...]} or a whole Alertmanager payload -> triage
    GET  /tasks/{id}              the task, read live from the agent
    GET  /tasks/{id}/stream       its progress as Server-Sent Events (`agents.router.views`)
    GET  /openapi.json            the OpenAPI 3.1 document (public)

Every route but the document needs a bearer token for the router with `agents:invoke`. A task
belongs to the client whose token started it: another client's task is 404, as an unknown one.
Starts answer 202 `{"tasks": [{"id", "url", "agent"}], "duplicate": false}`.

`/diagnostics/*` are queued as the webhooks are (`agents.router.delivery`): recorded and answered
at once, sent to triage in the background; what goes wrong with triage shows on the task (503
only when the router cannot record it). `/execute` waits until the chosen agent has created the
task: a person asked and is waiting, and an agent that cannot be reached is better said now, as
503, one that does not answer in time as 504, one that answers an error or garbage as 502
(`webhooks.peer_failed`), nothing recorded.

`GET /tasks/{id}` of a delivery triage has not taken yet reads `submitted` (the message says it
waits for the agent), of one given up `failed` with the reason; its stream says so, then follows
the agent's own updates once the agent has taken it. A delivery grouped into another reads as
that one's investigation and names it (`grouped_into`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from a2a.types import Artifact, Task, TaskState, TaskStatus
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agents.router.callers import Callers
from agents.router.dispatch import Dispatcher, Trigger
from agents.router.models import AlertsRequest, DeploymentEvent, ExecuteRequest
from agents.router.routing import RouteRequest, SkillChooser, describe_skills
from agents.router.tasks import RouterTask
from agents.router.views import artifact_data, delivery_data, delivery_view, sse, status_data, task_view
from agents.router.webhooks import alert_summary, peer_failed, read_alerts, started
from common.agents.peers import TERMINAL
from common.alertmanager import AlertmanagerWebhook
from common.errors import BackendError
from common.rest import HttpError, field_errors, invalid, parse_body

__all__ = ["FacadeApi"]

#: The receiver name of the webhook payloads the router builds around bare alerts.
RECEIVER = "router"
#: An SSE comment (clients ignore it) sent once the agent streams the task's events live.
LIVE = ": following the task live\n\n"
#: How often a stream reads the record of a delivery its agent has not taken yet.
DELIVERY_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class FacadeApi:
    dispatcher: Dispatcher
    callers: Callers
    chooser: SkillChooser
    max_body_bytes: int
    max_alerts: int
    openapi: dict[str, Any]

    def routes(self) -> list[Route]:
        return [
            Route("/execute", self.execute, methods=["POST"]),
            Route("/diagnostics/deployment", self.diagnose_deployment, methods=["POST"]),
            Route("/diagnostics/alerts", self.diagnose_alerts, methods=["POST"]),
            Route("/tasks/{id}", self.get_task, methods=["GET"]),
            Route("/tasks/{id}/stream", self.stream_task, methods=["GET"]),
            Route("/openapi.json", self.openapi_json, methods=["GET"]),
        ]

    async def execute(self, request: Request) -> Response:
        owner = self.callers.owner(request)
        body = await parse_body(request, ExecuteRequest, self.max_body_bytes)
        payload = body.payload()
        try:
            agents = await self.dispatcher.peers.agents()
            match = await self.chooser.choose(RouteRequest("question", body.user_query, payload), agents)
            if match is None:
                raise HttpError(
                    422,
                    "no_matching_skill",
                    "No registered agent has a skill for this query; ask with words of one of these skills:\n"
                    + describe_skills(agents),
                )
            trigger = Trigger("question", body.user_query[:200])
            task = await self.dispatcher.start(owner, match.agent.name, match.agent.url, payload, trigger)
        except BackendError as exc:
            raise peer_failed(exc) from exc
        return started([task], self.dispatcher)

    async def diagnose_deployment(self, request: Request) -> Response:
        owner = self.callers.owner(request)
        event = await parse_body(request, DeploymentEvent, self.max_body_bytes)
        return await self._triage(owner, event.payload(), Trigger("deployment", event.summary()))

    async def diagnose_alerts(self, request: Request) -> Response:
        owner = self.callers.owner(request)
        raw = await read_alerts(request, self.max_body_bytes, self.max_alerts)
        try:
            # A whole webhook payload says its version; anything else is the bare alerts.
            payload = raw if "version" in raw else AlertsRequest.model_validate(raw).webhook(RECEIVER)
            webhook = AlertmanagerWebhook.model_validate(payload)
        except ValidationError as exc:
            raise invalid(field_errors(exc)) from None
        if not webhook.firing:
            return started([], self.dispatcher, ignored=True)
        return await self._triage(owner, payload, Trigger("alert", alert_summary(webhook)))

    async def get_task(self, request: Request) -> Response:
        record = await self._owned_task(request)
        if not record.taken:
            return JSONResponse(delivery_view(record).model_dump(mode="json"))
        task = await self._read(record)
        return JSONResponse(task_view(record, task).model_dump(mode="json"))

    async def stream_task(self, request: Request) -> Response:
        record = await self._owned_task(request)
        # Read before streaming: an unreachable agent is still a 503.
        task = await self._read(record) if record.taken else None
        return StreamingResponse(
            self._events(record, task),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def openapi_json(self, request: Request) -> Response:
        return JSONResponse(self.openapi)

    async def _triage(self, owner: str, payload: dict[str, Any], trigger: Trigger) -> Response:
        try:
            task = await self.dispatcher.submit(owner, payload, trigger)
        except BackendError as exc:
            raise peer_failed(exc) from exc
        return started([task], self.dispatcher)

    async def _owned_task(self, request: Request) -> RouterTask:
        owner = self.callers.owner(request)
        task_id = request.path_params["id"]
        record = await self.dispatcher.records.get(task_id, owner) if len(task_id) <= 64 else None
        if record is None:
            raise HttpError(404, "not_found", f"No task {task_id[:64]!r} of yours is known to the router.")
        return record

    async def _read(self, record: RouterTask) -> Task:
        try:
            task = await self.dispatcher.peers.task(record.agent, record.agent_url, record.a2a_task_id)
        except BackendError as exc:
            raise peer_failed(exc) from exc
        if task is None:
            raise HttpError(
                404, "not_found", f"The {record.agent} agent no longer knows task {record.id!r} (its store was reset)."
            )
        return task

    async def _events(self, record: RouterTask, task: Task | None) -> AsyncIterator[str]:
        """The stream of `record`: its delivery while its agent has not taken it (`task` None), then the task."""
        peers = self.dispatcher.peers
        emitted = _Emitted()
        if task is None:
            for event in emitted.data(delivery_data(record)):
                yield event
            while not record.taken and not record.failed:
                await asyncio.sleep(DELIVERY_POLL_SECONDS)
                record = await self.dispatcher.records.by_id(record.id) or record
            if record.failed:
                for event in emitted.data(delivery_data(record)):
                    yield event
                yield sse("done", {"state": emitted.state})
                return
            try:
                task = await peers.task(record.agent, record.agent_url, record.a2a_task_id)
            except BackendError as exc:
                yield sse("error", {"message": str(exc)})
                return
            if task is None:
                yield sse("error", {"message": f"The {record.agent} agent no longer knows task {record.id!r}."})
                return
        for event in emitted.task(task):
            yield event
        if task.status.state not in TERMINAL:
            try:
                async for response in peers.subscribe(record.agent, record.agent_url, record.a2a_task_id):
                    if response.HasField("task"):  # the first event of a subscription
                        events = [LIVE, *emitted.task(response.task)]
                    elif response.HasField("status_update"):
                        events = emitted.status(response.status_update.status)
                    elif response.HasField("artifact_update"):
                        events = emitted.artifact(response.artifact_update.artifact)
                    else:
                        continue
                    for event in events:
                        yield event
                # The subscription ends at the last event, or at once if the task finished meanwhile.
                final = await peers.task(record.agent, record.agent_url, record.a2a_task_id)
            except BackendError as exc:
                yield sse("error", {"message": str(exc)})
                return
            if final is not None:
                for event in emitted.task(final):
                    yield event
        yield sse("done", {"state": emitted.state})


class _Emitted:
    """What the stream has sent: a status when it changes, each artifact once."""

    def __init__(self) -> None:
        self.last_status: dict[str, Any] | None = None
        self.artifacts: set[str] = set()

    @property
    def state(self) -> str:
        return str(self.last_status["state"]) if self.last_status else "submitted"

    def task(self, task: Task) -> list[str]:
        return self.status(task.status) + [event for artifact in task.artifacts for event in self.artifact(artifact)]

    def status(self, status: TaskStatus) -> list[str]:
        if status.state == TaskState.TASK_STATE_UNSPECIFIED:
            return []
        return self.data(status_data(status))

    def data(self, data: dict[str, Any]) -> list[str]:
        if data == self.last_status:
            return []
        self.last_status = data
        return [sse("status", data)]

    def artifact(self, artifact: Artifact) -> list[str]:
        key = artifact.artifact_id or artifact.name
        if key in self.artifacts:
            return []
        self.artifacts.add(key)
        return [sse("artifact", artifact_data(artifact))]
