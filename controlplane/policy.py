"""The write policy: for every write of the API, the scope it needs and whether it needs an approval.

This table is the one source of the policy. `controlplane.openapi` takes each write operation's
scope from it and states it in the OpenAPI document (`security`, and `x-approval` saying which
approvals the operation checks itself), so controlplane-mcp offers and gates its tools by the
same rules; docs/security.md shows it (`python -m controlplane.policy` prints the table); the
handlers named in `approvals` enforce it. Reads need `controlplane:read` and no approval.

The rule behind it: a write that changes what runs (restart, rollback, scale) or an incident's
state of record (its status) never runs on a caller's say-so, whoever calls and however: it
needs an approval bound to (action, target, arguments, requester, on_behalf_of), unexpired,
single use, decided by someone else. A write that records something and changes nothing that
runs (a note, an analysis, a new incident, an approval request) needs only its scope. Seeding
the inventory and the history of changes made elsewhere needs the admin scope.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from common.scopes import CONTROLPLANE_ADMIN, CONTROLPLANE_READ, CONTROLPLANE_WRITE

__all__ = [
    "ADMIN_SCOPE",
    "INCIDENT_APPROVALS",
    "READ_SCOPE",
    "WRITE_POLICY",
    "WRITE_SCOPE",
    "WritePolicy",
    "policy_table",
]

READ_SCOPE = CONTROLPLANE_READ
WRITE_SCOPE = CONTROLPLANE_WRITE
ADMIN_SCOPE = CONTROLPLANE_ADMIN

#: The approval action each incident status needs, whichever route sets it.
INCIDENT_APPROVALS: Mapping[str, str] = {
    "acknowledged": "acknowledge_incident",
    "resolved": "resolve_incident",
    "open": "reopen_incident",
}


@dataclass(frozen=True)
class WritePolicy:
    #: What the operation does, as the table shows it.
    operation: str
    scope: str
    #: The approval actions the operation accepts (one of them, for exactly this call); none: scope only.
    approvals: tuple[str, ...]
    why: str


_SEEDING = "Seeding: describes what runs, or records a change made elsewhere (CI, a person); changes nothing that runs."
_RECORD = "A record that changes nothing that runs."
_ACTION = "Changes what runs."
_STATE = "Changes the incident's state of record (paging stops or starts on it)."

WRITE_POLICY: Mapping[str, WritePolicy] = {
    policy.operation: policy
    for policy in (
        WritePolicy("create_resource", ADMIN_SCOPE, (), _SEEDING),
        WritePolicy("update_resource", ADMIN_SCOPE, (), _SEEDING),
        WritePolicy("create_resource_group", ADMIN_SCOPE, (), _SEEDING),
        WritePolicy("create_deployment", ADMIN_SCOPE, (), _SEEDING),
        WritePolicy("create_audit_log", ADMIN_SCOPE, (), _SEEDING),
        WritePolicy(
            "create_alert_rule", ADMIN_SCOPE, (), "Seeding: records a rule; Prometheus is not reconfigured by it."
        ),
        WritePolicy("create_incident", WRITE_SCOPE, (), f"{_RECORD} Opening one must never wait for a person."),
        WritePolicy("acknowledge_incident", WRITE_SCOPE, ("acknowledge_incident",), _STATE),
        WritePolicy("resolve_incident", WRITE_SCOPE, ("resolve_incident",), _STATE),
        WritePolicy(
            "update_incident",
            WRITE_SCOPE,
            tuple(INCIDENT_APPROVALS.values()),
            f"{_STATE} The approval of the status it sets.",
        ),
        WritePolicy("add_incident_timeline_entry", WRITE_SCOPE, (), f"{_RECORD} A note on the timeline."),
        WritePolicy("create_analysis", WRITE_SCOPE, (), f"{_RECORD} How triage records its reports."),
        WritePolicy("request_approval", WRITE_SCOPE, (), "Asks; nothing runs until someone else approves."),
        WritePolicy(
            "approve_approval", ADMIN_SCOPE, (), "The decision itself; never by the requester or the user it acts for."
        ),
        WritePolicy(
            "reject_approval", ADMIN_SCOPE, (), "The decision itself; never by the requester or the user it acts for."
        ),
        WritePolicy(
            "consume_approval",
            WRITE_SCOPE,
            (),
            "Uses up an `operation:` approval, for API operations that do not check approvals themselves.",
        ),
        WritePolicy("restart_action", WRITE_SCOPE, ("restart",), _ACTION),
        WritePolicy("rollback_action", WRITE_SCOPE, ("rollback",), _ACTION),
        WritePolicy("scale_action", WRITE_SCOPE, ("scale",), _ACTION),
    )
}


def policy_table() -> str:
    """The policy as the Markdown table of docs/security.md."""
    lines = ["| operation | scope | approval | why |", "|---|---|---|---|"]
    for policy in WRITE_POLICY.values():
        approval = " or ".join(f"`{action}`" for action in policy.approvals) or "no"
        lines.append(f"| `{policy.operation}` | `{policy.scope}` | {approval} | {policy.why} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(policy_table())
