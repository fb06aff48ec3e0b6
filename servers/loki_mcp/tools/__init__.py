"""loki-mcp's tools, one module per tool group (what `LOKI_MCP_DISABLED_GROUPS` names).

Tools are thin: check and bound the arguments (`servers.loki_mcp.guardrails`, `common.mcp.bounds`),
call the backend's `LokiClient`, and shape the answer; the template analysis lives in `analysis/`.
Every log line leaves through `shown`, which redacts secrets and cuts it to the line limit.
"""
