"""Suggested actions for the leading hypotheses: proposals only, each needing an approval.

Triage never acts. Each suggestion names the controlplane-mcp write tool that would carry it out
and its arguments; calling that tool without an approval only requests one, and someone other
than the requester must approve it (DESIGN.md, Approvals).

- a deployment: roll the resource back to the version it ran before;
- a config change or flag: revert it (no tool: config lives outside the control plane's actions);
- saturation: scale out; a memory leak (a ramp) is relieved by a restart until it is fixed;
- a traffic surge: scale out.
Dependencies and infrastructure get no automatic proposal: their owners act on them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from common.contracts import controlplane
from common.diagnostic_report import Hypothesis, SuggestedAction, Target
from common.investigation.changes import ChangeRecord
from common.investigation.scope import ResolvedScope

__all__ = ["suggest"]

#: Only hypotheses this confident get a proposal.
MIN_CONFIDENCE = 0.45
SCALE_FACTOR = 1.5
_FROM = re.compile(r"\(from ([^)\s]+)\)")


def suggest(
    hypotheses: Sequence[Hypothesis], scope: ResolvedScope, changes: Sequence[ChangeRecord]
) -> list[SuggestedAction]:
    actions: list[SuggestedAction] = []
    for hypothesis in hypotheses[:2]:
        if hypothesis.confidence < MIN_CONFIDENCE:
            continue
        action = _action(hypothesis, scope, changes)
        if action is not None:
            actions.append(action)
    return actions


def _action(hypothesis: Hypothesis, scope: ResolvedScope, changes: Sequence[ChangeRecord]) -> SuggestedAction | None:
    target = hypothesis.target
    if hypothesis.kind == "deployment":
        previous = _previous_version(target.resource, target.ref, changes)
        rollback: dict[str, object] = {"tool": controlplane.ROLLBACK_DEPLOYMENT.name, "resource": target.resource}
        if previous is not None:
            rollback["to_version"] = previous
        return SuggestedAction(
            action="rollback",
            target=target,
            parameters=rollback,
            rationale=f"undo {target.ref or 'the latest deployment'} of {target.resource}",
        )
    if hypothesis.kind == "config_change":
        return SuggestedAction(
            action="revert_change",
            target=target,
            parameters={"ref": target.ref} if target.ref else {},
            rationale=f"revert the change to {target.ref or target.resource} where it was made",
        )
    if hypothesis.kind in ("resource_saturation", "traffic_surge") and target.resource == scope.primary.name:
        replicas = scope.primary.replicas
        if hypothesis.kind == "resource_saturation" and "memory" in hypothesis.rationale:
            return SuggestedAction(
                action="restart",
                target=target,
                parameters={"tool": controlplane.RESTART_DEPLOYMENT.name, "resource": target.resource},
                rationale="a restart frees the memory until the leak is fixed",
            )
        parameters: dict[str, object] = {"tool": controlplane.SCALE_DEPLOYMENT.name, "resource": target.resource}
        if replicas:
            parameters["replicas"] = max(replicas + 1, round(replicas * SCALE_FACTOR))
        return SuggestedAction(
            action="scale",
            target=Target(resource=target.resource, namespace=target.namespace),
            parameters=parameters,
            rationale="add capacity while the cause is addressed",
        )
    return None


def _previous_version(resource: str, version: str | None, changes: Sequence[ChangeRecord]) -> str | None:
    """The version `resource` ran before `version`: the control plane's summary says "(from vX)"."""
    for change in changes:
        if change.fact.resource == resource and change.fact.ref == version:
            found = _FROM.search(change.summary)
            if found and found.group(1) != "nothing":
                return found.group(1)
    return None
