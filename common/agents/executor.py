"""Runs an ADK agent for A2A requests: `AdkAgentExecutor`, an a2a-sdk `AgentExecutor`.

The agent knows nothing of A2A. Each request runs it through an ADK `Runner`, in the session of
the A2A context (`session_id` = the context id, `user_id` = the calling OAuth client, so a
conversation is never shared between clients), and its events become task updates:

- the event that sets the session state's `last_result` (`LAST_RESULT`, as `PipelineAgent` does
  with its result's JSON, whose Markdown is the event's text) is the **result**: one artifact
  `result` with a data part (`application/json`, that JSON) and a Markdown text part
  (`text/markdown`: the event's text, or the JSON rendered as a code block when it has none);
- any other text event is a **stage**: a `working` status update carrying its text;
- partial (streamed) chunks and thoughts are skipped: the complete event follows them;
- a run that ends without a result (an LLM agent's plain answer) turns its last stage text into
  the Markdown artifact, so every completed task has an artifact;
- an error event with code `INVALID_REQUEST` rejects the task with the event's message, which the
  agent wrote for the caller (what was wrong with the request and what to send instead);
- an error event with code `UPSTREAM_FAILED` fails the task with the event's message, which the
  agent wrote for the caller (which peer or backend failed, and how);
- any other ADK error event or an exception fails the task with a generic message and a trace id
  (the details are logged, never sent).

Runs take turns in the agent's `TaskQueue` (`common.agents.task_queue`): at most
`max_concurrent` at once, a storm of requests creates its tasks at once (submitted), and they
start in arrival order as runs finish, so the agent's sessions, memory and task store are never
asked for more than that. The request's admission `Ticket` (the call context's state
`ADMISSION`, put there by `common.agents.app`) is settled when the executor takes the task.

The executor holds the task's lease (`common.agents.leases`) from the moment it takes the task,
before the task is first stored, until its run ends, waiting included: another replica fails
the task only once the lease has expired (`common.agents.watchdog`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types import Message, Part, Task, TaskState, TaskStatus
from google.adk.events import Event
from google.adk.runners import Runner
from google.genai import types as genai
from google.protobuf.json_format import MessageToDict, ParseDict  # type: ignore[import-untyped]
from google.protobuf.struct_pb2 import Value  # type: ignore[import-untyped]

from common.agents.leases import TaskLeases
from common.agents.task_queue import TaskQueue, Ticket
from common.logging import new_trace_id

__all__ = [
    "ADMISSION",
    "DEFAULT_MAX_CONCURRENT_TASKS",
    "INVALID_REQUEST",
    "LAST_RESULT",
    "RESULT_ARTIFACT",
    "UPSTREAM_FAILED",
    "AdkAgentExecutor",
    "json_value",
    "result_parts",
]

logger = logging.getLogger(__name__)

#: Error code of an agent's event refusing the request; its message is shown to the caller.
INVALID_REQUEST = "INVALID_REQUEST"
#: Error code of an agent's event failing the task because a peer or backend failed; its message is shown.
UPSTREAM_FAILED = "UPSTREAM_FAILED"
#: Name of the artifact holding an agent's result.
RESULT_ARTIFACT = "result"
#: The session state key under which an agent keeps its last result (its JSON); the event that sets it is the result.
LAST_RESULT = "last_result"
ANONYMOUS = "anonymous"
DEFAULT_MAX_CONCURRENT_TASKS = 4
#: The call context's state key holding the request's admission `Ticket`.
ADMISSION = "admission"


def result_parts(data: Any, markdown: str | None) -> list[Part]:
    """The parts of a result artifact: the JSON data, then its Markdown rendering."""
    if markdown is None:
        markdown = "```json\n" + json.dumps(data, indent=2, ensure_ascii=False) + "\n```"
    return [
        Part(data=ParseDict(data, Value()), media_type="application/json"),
        Part(text=markdown, media_type="text/markdown"),
    ]


def json_value(text: str) -> Any | None:
    """The JSON object or array `text` holds (surrounding blanks allowed); None for anything else.

    How an agent reads back a data part of its request, which reaches it as JSON text (`_user_content`)."""
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return value if isinstance(value, dict | list) else None


def _result_of(event: Event, texts: list[str]) -> tuple[Any, str | None] | None:
    """The result's JSON and Markdown if `event` sets `LAST_RESULT` (see the module doc), else None."""
    if LAST_RESULT not in event.actions.state_delta:
        return None
    return event.actions.state_delta[LAST_RESULT], "\n\n".join(texts) or None


def _texts(event: Event) -> list[str]:
    if event.content is None or not event.content.parts:
        return []
    return [part.text for part in event.content.parts if part.text and not part.thought]


def _user_content(message: Message | None) -> genai.Content:
    """The A2A message as ADK input: text as text, data parts as JSON text; files are not accepted."""
    parts: list[genai.Part] = []
    for part in message.parts if message is not None else ():
        kind = part.WhichOneof("content")
        if kind == "text":
            parts.append(genai.Part(text=part.text))
        elif kind == "data":
            parts.append(genai.Part(text=json.dumps(MessageToDict(part.data), ensure_ascii=False)))
    return genai.Content(role="user", parts=parts)


class AdkAgentExecutor(AgentExecutor):
    """Executes A2A requests with `runner`'s agent (see the module doc for the event mapping)."""

    def __init__(self, runner: Runner, *, queue: TaskQueue, leases: TaskLeases) -> None:
        self.runner = runner
        self.queue = queue
        self.leases = leases

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id, context_id = context.task_id, context.context_id
        if task_id is None or context_id is None:
            raise ValueError("The request context has no task or context id.")
        await self.leases.take(task_id)
        try:
            await self._execute(context, task_id, context_id, event_queue)
        finally:
            await self.leases.release(task_id)

    async def _execute(self, context: RequestContext, task_id: str, context_id: str, event_queue: EventQueue) -> None:
        if context.current_task is None:
            # a2a-sdk 1.x: the first event of a new task must be the Task itself.
            history = [context.message] if context.message is not None else []
            task = Task(
                id=task_id,
                context_id=context_id,
                status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED),
                history=history,
            )
            task.status.timestamp.GetCurrentTime()  # the store's `last_updated`, which the watchdog's grace reads
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task_id, context_id)
        ticket = context.call_context.state.get(ADMISSION)
        async with self.queue.turn(ticket if isinstance(ticket, Ticket) else None):
            try:
                await updater.start_work()
                await self._run(context, context_id, updater)
            except Exception:
                trace_id = new_trace_id()
                logger.exception("Agent %s failed on task %s [trace %s]", self.runner.app_name, task_id, trace_id)
                await updater.failed(_text_message(updater, f"The agent failed (trace id {trace_id})."))

    async def _run(self, context: RequestContext, context_id: str, updater: TaskUpdater) -> None:
        user = context.call_context.user
        user_id = user.user_name if user.is_authenticated and user.user_name else ANONYMOUS
        sessions = self.runner.session_service
        app_name = self.runner.app_name
        session = await sessions.get_session(app_name=app_name, user_id=user_id, session_id=context_id)
        if session is None:
            session = await sessions.create_session(app_name=app_name, user_id=user_id, session_id=context_id)
        last_stage: str | None = None
        has_result = False
        async for event in self.runner.run_async(
            user_id=user_id, session_id=session.id, new_message=_user_content(context.message)
        ):
            if event.error_code == INVALID_REQUEST:
                await updater.reject(_text_message(updater, event.error_message or "The request was refused."))
                return
            if event.error_code == UPSTREAM_FAILED:
                await updater.failed(_text_message(updater, event.error_message or "A peer of the agent failed."))
                return
            if event.error_code:
                trace_id = new_trace_id()
                logger.error(
                    "Agent %s reported %s: %s [trace %s]", app_name, event.error_code, event.error_message, trace_id
                )
                await updater.failed(_text_message(updater, f"The agent failed (trace id {trace_id})."))
                return
            if event.partial:
                continue
            texts = _texts(event)
            result = _result_of(event, texts)
            if result is not None:
                await updater.add_artifact(result_parts(*result), name=RESULT_ARTIFACT, last_chunk=True)
                has_result = True
            elif texts:
                last_stage = "\n\n".join(texts)
                await updater.update_status(TaskState.TASK_STATE_WORKING, _text_message(updater, last_stage))
        if not has_result and last_stage is not None:
            await updater.add_artifact(
                [Part(text=last_stage, media_type="text/markdown")], name=RESULT_ARTIFACT, last_chunk=True
            )
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.task_id is None or context.context_id is None:
            return
        await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


def _text_message(updater: TaskUpdater, text: str) -> Message:
    return updater.new_agent_message([Part(text=text)])
