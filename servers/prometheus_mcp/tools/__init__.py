"""prometheus-mcp's tools, one module per tool group (what `PROMETHEUS_MCP_DISABLED_GROUPS` names).

Tools are thin: parse and bound the arguments (`common.mcp.bounds`), call the backend's client,
shape its answer (`servers.prometheus_mcp.shaping`).
"""
