"""A task as the router shows it: its A2A state read from the agent, as JSON and as Server-Sent Events.

`task_view` is `GET /tasks/{id}` of a task its agent took; `delivery_view` of one it has not
(yet): a pending delivery reads as `submitted` saying it waits for the agent, a failed one as
`failed` with the reason (`agents.router.delivery`). A delivery grouped into another shows that
one's investigation once it started, and names it (`grouped_into`). The stream of `GET /tasks/{id}/stream` is made of:

    event: status      data: {"state": "working", "message": "Querying Prometheus"}
    event: artifact    data: {"name": "result", "result": {...}, "markdown": "..."}
    event: done        data: {"state": "completed"}
    event: error       data: {"message": "..."}   (the agent could not be followed to the end)

A status is sent when the state or its text changes, each artifact once, `done` last. The comment
line `: following the task live` says the agent's own event stream is being relayed from then on.
"""

from __future__ import annotations

import json
from typing import Any, cast

from a2a.types import Artifact, Task, TaskState, TaskStatus

from agents.router.models import TaskState as StateName
from agents.router.models import TaskView, TriggerView
from agents.router.tasks import RouterTask
from common.agents.client import result_of
from common.agents.peers import status_text, task_state_name

__all__ = [
    "artifact_data",
    "delivery_data",
    "delivery_view",
    "sse",
    "state_name",
    "status_data",
    "task_view",
]


def state_name(state: TaskState) -> StateName:
    """`TASK_STATE_INPUT_REQUIRED` -> `input-required` (an unspecified state reads as submitted)."""
    return cast(StateName, task_state_name(state))


def task_view(record: RouterTask, task: Task) -> TaskView:
    data, markdown = result_of(task)
    updated = (
        task.status.timestamp.ToDatetime(tzinfo=record.created.tzinfo) if task.status.HasField("timestamp") else None
    )
    return TaskView(
        id=record.id,
        agent=record.agent,
        state=state_name(task.status.state),
        trigger=TriggerView.model_validate({"kind": record.trigger_kind, "summary": record.trigger_summary}),
        message=status_text(task.status),
        result=data,
        markdown=markdown,
        created_at=record.created,
        updated_at=max(updated, record.created) if updated else record.created,
        grouped_into=record.grouped_into,
    )


def delivery_data(record: RouterTask) -> dict[str, Any]:
    """The status of a delivery its agent has not taken: failed with the reason, or submitted and waiting."""
    if record.failed:
        return {"state": "failed", "message": record.failure}
    if record.grouped:
        return {
            "state": "submitted",
            "message": f"Grouped into router task {record.grouped_into}, whose investigation answers this delivery "
            f"too; waiting for the {record.agent} agent to take it.",
        }
    return {
        "state": "submitted",
        "message": f"Waiting for the {record.agent} agent to take the task; it is sent again while the agent "
        "cannot be reached.",
    }


def delivery_view(record: RouterTask) -> TaskView:
    data = delivery_data(record)
    return TaskView(
        id=record.id,
        agent=record.agent,
        state=data["state"],
        trigger=TriggerView.model_validate({"kind": record.trigger_kind, "summary": record.trigger_summary}),
        message=data["message"],
        result=None,
        markdown=None,
        created_at=record.created,
        updated_at=record.created,
        grouped_into=record.grouped_into,
    )


def status_data(status: TaskStatus) -> dict[str, Any]:
    return {"state": state_name(status.state), "message": status_text(status)}


def artifact_data(artifact: Artifact) -> dict[str, Any]:
    data, markdown = result_of(Task(artifacts=[artifact]))
    return {"name": artifact.name, "result": data, "markdown": markdown}


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
