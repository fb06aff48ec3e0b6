"""What each MCP tool of the project answers, shared by the server that answers and the agent that reads.

One module per server (`prometheus`, `loki`, `controlplane`) holds its tools' result models, the
contract of each tool (its name and result model, `calls.ToolContract`; `TOOLS` lists them all)
and the typed view an agent calls the tools through (`PrometheusMcp(toolbox).query_range(...)`
gives a `RangeQueryResult`); `results` holds the models' bases and the parts they share. The
server publishes each model as its tool's `outputSchema` and validates its answers against it;
the agent reads the answer with the same model, and tests/servers/test_output_schemas.py holds
each server to its contract, so a result changed on one side only fails there, not in an
investigation.

The typed views sit beside the models because a tool's name, arguments and result are one
contract: whoever changes one reads the others on the same page. They call through
`calls.ToolCaller` (which `common.mcp.toolbox.Toolbox` is), so the servers, which import these
models, do not import the MCP client side.
"""
