"""controlplane-mcp's curated tools, one module per tool group (what `CONTROLPLANE_MCP_DISABLED_GROUPS` names).

Read tools answer the first questions of an investigation: what is this service and what does
it depend on, and what changed (deployments, config changes, flags, scaling) in a window. Write
tools follow the control plane's write policy (`controlplane.policy`, docs/security.md): those
that change what runs or an incident's status (restart, rollback, scale, acknowledge, resolve)
never act on their own say-so: without an approved approval id they request one and return it
pending (asking the user first through MCP elicitation when the client supports it); with one,
the control plane checks that it was granted for exactly this action, target and arguments, to
this requester, and uses it up. Recording an analysis (a diagnostic report, a postmortem)
changes nothing that runs, so it needs the write scope and no approval.
"""
