"""Changes: what was done to the resources in scope during the window (controlplane-mcp).

`read_changes` lists the changes of the primary (with its dependencies') and of the other
resources the request named, drops the ones listed twice and cites each as evidence, oldest
first. A failed listing is noted as degrading the report; the changes listed by the other calls
stand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from analysis.ranking import ChangeFact
from common.investigation.evidence import EvidenceLog
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.sources import CONTROLPLANE, call, for_each
from common.investigation.window import Window
from common.mcp.toolbox import Toolbox
from common.timerange import iso

__all__ = ["ChangeRecord", "read_changes"]


@dataclass(frozen=True)
class ChangeRecord:
    fact: ChangeFact
    actor: str
    summary: str


async def read_changes(
    toolbox: Toolbox, scope: ResolvedScope, window: Window, evidence: EvidenceLog
) -> list[ChangeRecord]:
    """Every change to the primary, its dependencies and the other alerting resources in the window, oldest first."""
    answers: list[tuple[dict[str, Any], dict[str, Any]]] = []

    async def read(resource: Resource) -> None:
        arguments: dict[str, Any] = {
            "resource": resource.id or resource.name,
            "start": iso(window.start),
            "end": iso(window.end),
            "include_dependencies": resource is scope.primary,
            "limit": 200,
        }
        if resource.id is None and resource.namespace:
            arguments["namespace"] = resource.namespace
        what = f"changes of {resource.name}"
        answer = await call(toolbox, CONTROLPLANE, "controlplane_list_changes", arguments, evidence, what)
        if answer is not None:
            answers.append((arguments, answer))

    await for_each([scope.primary, *scope.also_alerting], read)
    seen: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, Any]]] = {}
    for arguments, answer in answers:
        for change in answer.get("changes") or []:
            key = (change.get("at"), change.get("type"), change.get("resource_id"), change.get("summary"))
            seen.setdefault(key, (arguments, change))
    ordered = sorted(seen.values(), key=lambda item: str(item[1].get("at")))
    return [_change_record(arguments, change, evidence) for arguments, change in ordered]


def _change_record(arguments: dict[str, Any], change: dict[str, Any], evidence: EvidenceLog) -> ChangeRecord:
    details: dict[str, Any] = change.get("details") or {}
    resource = change.get("resource")
    name = resource.split("/", 1)[-1] if isinstance(resource, str) else None
    ref = details.get("ref") or details.get("version")
    before, after = details.get("from"), details.get("to")
    adds_capacity = (
        change.get("type") == "scale"
        and isinstance(before, int | float)
        and isinstance(after, int | float)
        and after > before
    )
    ts = datetime.fromisoformat(str(change["at"]).replace("Z", "+00:00")).timestamp()
    summary = str(change.get("summary") or "")
    evidence_id = evidence.add(
        "controlplane",
        f"controlplane_list_changes(resource={arguments['resource']}, start={arguments['start']}, "
        f"end={arguments['end']})",
        f"{change.get('type')} of {resource or 'the platform'} by {change.get('actor')} at {change['at']}: "
        f"{summary}" + (f" [{ref}]" if ref else ""),
        data={"change": {k: v for k, v in change.items() if k != "minutes_ago"}},
    )
    return ChangeRecord(
        ChangeFact(
            evidence_id=evidence_id,
            at=ts,
            type=str(change.get("type")),
            resource=name,
            ref=None if ref is None else str(ref),
            summary=summary,
            adds_capacity=adds_capacity,
        ),
        actor=str(change.get("actor") or ""),
        summary=summary,
    )
