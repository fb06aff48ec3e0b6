"""Changes: what was done to the resources in scope during the window (controlplane-mcp).

`read_changes` lists the changes of the primary (with its dependencies'), of its suspect
dependents (the callers of a shared resource, `scope.ResolvedScope.suspect_dependents`) and of
the other resources the request named, drops the ones listed twice and cites each as evidence, oldest
first. A failed listing is noted as degrading the report; the changes listed by the other calls
stand. `ChangeRecord.reported` is a change as the report lists it, timed against the onset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from analysis.ranking import ChangeFact
from common.contracts.controlplane import LIST_CHANGES, Change, ChangesResult, ControlplaneMcp
from common.diagnostic_report import Change as ReportedChange
from common.investigation.evidence import EvidenceLog, at
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.sources import for_each, noted
from common.investigation.window import Window
from common.mcp.toolbox import Toolbox
from common.timerange import iso

__all__ = ["ChangeRecord", "read_changes"]


@dataclass(frozen=True)
class ChangeRecord:
    fact: ChangeFact
    actor: str
    summary: str

    def reported(self, onset: float | None) -> ReportedChange:
        """The change as a report lists it, with how long before the `onset` (Unix seconds) it was made."""
        fact = self.fact
        return ReportedChange(
            at=at(fact.at),
            type=fact.type,
            resource=fact.resource,
            actor=self.actor or None,
            summary=self.summary,
            ref=fact.ref,
            minutes_before_onset=None if onset is None else round((onset - fact.at) / 60, 1),
        )


async def read_changes(
    toolbox: Toolbox, scope: ResolvedScope, window: Window, evidence: EvidenceLog
) -> list[ChangeRecord]:
    """Every change to the primary, its dependencies, its suspect dependents and the other alerting resources in
    the window, oldest first."""
    controlplane = ControlplaneMcp(toolbox)
    start, end = iso(window.start), iso(window.end)
    answers: list[tuple[str, ChangesResult]] = []

    async def read(resource: Resource) -> None:
        listed = resource.id or resource.name
        answer = await noted(
            controlplane.list_changes(
                listed,
                # An id names one resource; a name may need its namespace.
                namespace=None if resource.id is not None else resource.namespace or None,
                start=start,
                end=end,
                include_dependencies=resource is scope.primary,
                limit=200,
            ),
            evidence,
            f"changes of {resource.name}",
        )
        if answer is not None:
            answers.append((f"{LIST_CHANGES.name}(resource={listed}, start={start}, end={end})", answer))

    await for_each(
        list({r.name: r for r in [scope.primary, *scope.suspect_dependents, *scope.also_alerting]}.values()), read
    )
    seen: dict[tuple[Any, ...], tuple[str, Change]] = {}
    for query, answer in answers:
        for change in answer.changes:
            seen.setdefault((change.at, change.type, change.resource_id, change.summary), (query, change))
    ordered = sorted(seen.values(), key=lambda item: item[1].at)
    return [_change_record(query, change, evidence) for query, change in ordered]


def _change_record(query: str, change: Change, evidence: EvidenceLog) -> ChangeRecord:
    details = change.details
    name = change.resource.split("/", 1)[-1] if change.resource is not None else None
    ref = details.get("ref") or details.get("version")
    before, after = details.get("from"), details.get("to")
    adds_capacity = (
        change.type == "scale" and isinstance(before, int | float) and isinstance(after, int | float) and after > before
    )
    ts = datetime.fromisoformat(change.at.replace("Z", "+00:00")).timestamp()
    evidence_id = evidence.add(
        "controlplane",
        query,
        f"{change.type} of {change.resource or 'the platform'} by {change.actor} at {change.at}: "
        f"{change.summary}" + (f" [{ref}]" if ref else ""),
        data={"change": change.model_dump(mode="json", exclude={"minutes_ago"})},
    )
    return ChangeRecord(
        ChangeFact(
            evidence_id=evidence_id,
            at=ts,
            type=change.type,
            resource=name,
            ref=None if ref is None else str(ref),
            summary=change.summary,
            adds_capacity=adds_capacity,
        ),
        actor=change.actor,
        summary=change.summary,
    )
