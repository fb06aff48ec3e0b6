"""What `GET /tasks/{id}` shows of a delivery grouped into another: the lead's investigation, naming the lead."""

from __future__ import annotations

from a2a.types import Task, TaskState, TaskStatus

from agents.router.tasks import GROUPED, RouterTask
from agents.router.views import delivery_view, task_view

LEAD = "lead-task"


def member(**changes: str) -> RouterTask:
    return RouterTask(
        id="member-task",
        owner="webhook-basic",
        agent="triage",
        agent_url=changes.get("agent_url", ""),
        a2a_task_id=changes.get("a2a_task_id", ""),
        a2a_context_id=changes.get("a2a_context_id", ""),
        trigger_kind="alert",
        trigger_summary="HighErrorRate firing on checkout",
        created_at=1_800_000_000.0,
        delivery=GROUPED,
        grouped_into=LEAD,
    )


def test_a_member_whose_lead_waits_for_triage_reads_submitted_and_names_its_lead() -> None:
    view = delivery_view(member())

    assert view.state == "submitted"
    assert view.grouped_into == LEAD
    assert view.message is not None
    assert f"Grouped into router task {LEAD}" in view.message


def test_a_member_whose_lead_started_shows_the_lead_s_investigation() -> None:
    record = member(agent_url="http://triage.test", a2a_task_id="a2a-lead", a2a_context_id=LEAD)
    assert record.taken

    view = task_view(
        record, Task(id="a2a-lead", context_id=LEAD, status=TaskStatus(state=TaskState.TASK_STATE_WORKING))
    )

    assert (view.id, view.state, view.grouped_into) == ("member-task", "working", LEAD)
