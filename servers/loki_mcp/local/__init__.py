"""The embedded log store loki-mcp serves under `/loki/api/v1/` when no Loki is configured."""
