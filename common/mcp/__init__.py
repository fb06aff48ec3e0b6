"""The MCP machinery servers and agents share: tools, schemas, errors, scopes, serving, the toolbox."""
